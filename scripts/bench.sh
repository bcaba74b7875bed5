#!/usr/bin/env bash
# Builds once and runs the whole benchmark (see scripts/bench.py); pass
# --write to record the table in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/bench.py "$@"

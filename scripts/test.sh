#!/usr/bin/env bash
# Every test: the Rust workspace's (unit, integration, doctests, the
# asyncio guide's snippets), then the Python package's pytest suite
# (crates/gather-py/tests) against the page server on 127.0.0.1.
#
# The Python half needs only python3 (3.9 or newer) with venv and pip: it
# makes target/py, installs pytest, pytest-asyncio, maturin, mypy and
# pyright there from PyPI, installs the package as a user would, `pip
# install ./crates/gather-py` (a release build, into the shared target/),
# runs its pytest suite, then checks its types (scripts/typecheck_py.sh).
# Arguments go to `cargo test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-features "$@"

echo "=== the Python package (crates/gather-py): pip install, then pytest"
cargo build --release -q -p gather-pageserver
venv=target/py
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check pytest pytest-asyncio maturin \
  mypy 'pyright[nodejs]' typing_extensions
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./crates/gather-py
GATHER_PAGESERVER="$PWD/target/release/gather-pageserver" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/gather-py/tests

echo "=== the Python package's types (mypy --strict, pyright, stubtest)"
bash scripts/typecheck_py.sh "$venv/bin/python"

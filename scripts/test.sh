#!/usr/bin/env bash
# Every test: the Rust workspace's (unit, integration, doctests, the
# asyncio guide's snippets), then the Python package's, as a user gets it.
#
# The Python half needs only python3 (3.9 or newer) with venv and pip:
# 1. target/py, the build venv (maturin, zig, auditwheel from PyPI),
#    builds the manylinux abi3 wheel and the sdist (scripts/wheel.sh);
# 2. target/py-user, a venv made afresh, installs that wheel with pip and
#    no Rust toolchain on PATH, as a user without Rust would, with pytest,
#    mypy and pyright;
# 3. there, the pytest suite (crates/gather-py/tests) runs against the
#    page server on 127.0.0.1, then the types are checked
#    (scripts/typecheck_py.sh).
# Arguments go to `cargo test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-features "$@"

echo "=== the Python package (crates/gather-py): its wheel"
cargo build --release -q -p gather-pageserver
build=target/py
if [ ! -x "$build/bin/python" ]; then
  python3 -m venv "$build"
fi
wheel=$(bash scripts/wheel.sh "$build/bin/python" | tail -n 1)
echo "$wheel"

echo "=== installed with pip where no Rust toolchain is on PATH"
# PATH without any folder holding cargo or rustc (~/.cargo/bin).
no_rust=$(tr ':' '\n' <<<"$PATH" | while read -r dir; do
  [ -n "$dir" ] && [ ! -e "$dir/cargo" ] && [ ! -e "$dir/rustc" ] && printf '%s:' "$dir"
done)
no_rust=${no_rust%:}
if env PATH="$no_rust" sh -c 'command -v cargo || command -v rustc'; then
  echo "a Rust toolchain is still on PATH" >&2
  exit 1
fi
user=target/py-user
rm -rf "$user"
python3 -m venv "$user"
env PATH="$no_rust" CARGO=/nonexistent RUSTC=/nonexistent \
  "$user/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
  "$wheel" pytest pytest-asyncio cryptography mypy 'pyright[nodejs]' typing_extensions
env PATH="$no_rust" "$user/bin/python" -c 'import gather_fetch, sys; print("gather_fetch", gather_fetch.__version__, "on Python", sys.version.split()[0])'

echo "=== the Python package's tests (pytest)"
env PATH="$no_rust" GATHER_PAGESERVER="$PWD/target/release/gather-pageserver" \
  "$user/bin/python" -m pytest -q -p no:cacheprovider crates/gather-py/tests

echo "=== the Python package's types (mypy --strict, pyright, stubtest)"
bash scripts/typecheck_py.sh "$user/bin/python"

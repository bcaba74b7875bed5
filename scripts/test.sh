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

echo "=== the same wheel on the oldest and newest other CPython found"
# One abi3 wheel is for every CPython from 3.9: its tests run again on the
# oldest and the newest other CPython this machine has (Debian's, in
# /usr/local, or pyenv's), each in a venv of its own with no Rust on PATH.
# A machine with only one CPython says so.
main=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
others=$(for p in /usr/bin/python3.[0-9]* /usr/local/bin/python3.[0-9]* \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3; do
  # An interpreter (not python3.11-config and the like) of 3.9 or newer
  # that can make a venv.
  [[ -x "$p" && "$p" =~ /python3\.[0-9]+$|/bin/python3$ ]] || continue
  v=$("$p" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 9)
print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
  [[ "$v" =~ ^3\.[0-9]+$ ]] || continue
  [ "$v" = "$main" ] || echo "$v $p"
done | sort -t. -k1,1n -k2,2n | awk '!seen[$1]++')
if [ -z "$others" ]; then
  echo "only CPython $main is on this machine: the wheel was tested on it alone"
else
  oldest=$(head -n 1 <<<"$others")
  newest=$(tail -n 1 <<<"$others")
  picks=("$oldest")
  [ "$newest" = "$oldest" ] || picks+=("$newest")
  for pick in "${picks[@]}"; do
    read -r v p <<<"$pick"
    venv="target/py-user-$v"
    rm -rf "$venv"
    "$p" -m venv "$venv"
    env PATH="$no_rust" CARGO=/nonexistent RUSTC=/nonexistent \
      "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
      "$wheel" pytest pytest-asyncio cryptography typing_extensions
    echo "--- CPython $v ($p)"
    env PATH="$no_rust" GATHER_PAGESERVER="$PWD/target/release/gather-pageserver" \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/gather-py/tests
  done
fi

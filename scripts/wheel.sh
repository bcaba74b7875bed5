#!/usr/bin/env bash
# The Python package as PyPI would get it, into target/wheels/:
#
# - an abi3 wheel (one for CPython 3.9 and every later version) tagged
#   manylinux2014 (glibc 2.17 and later: RHEL 7, Debian 9, Ubuntu 18.04 on):
#   built with zig as the linker against glibc 2.17's symbols, since this
#   machine's own glibc is newer, and checked twice: by maturin while it
#   builds, and by auditwheel, which reads the symbols the library needs
#   and says the policy they satisfy;
# - an sdist, with the workspace crates it builds from.
#
# A user installs the wheel with pip and no Rust toolchain
# (scripts/test.sh does so, with none on PATH).
#
# Usage: scripts/wheel.sh [PYTHON]   (a venv's python; default target/py/bin/python)
# Prints the wheel's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-target/py/bin/python}
# Absolute: the build scripts cargo runs (ring's, through zig's compiler
# wrapper) find zig as `python -m ziglang` through PATH from their own
# working directories.
[[ $py = /* ]] || py=$PWD/$py
out=target/wheels
"$py" -m pip install -q --disable-pip-version-check maturin ziglang auditwheel
rm -f "$out"/gather_fetch-*
# maturin finds zig as `python -m ziglang` of the python on PATH.
PATH="$(dirname "$py"):$PATH" "$py" -m maturin build --release --zig \
  --compatibility manylinux2014 -m crates/gather-py/Cargo.toml --out "$out" >&2
"$py" -m maturin sdist -m crates/gather-py/Cargo.toml --out "$out" >&2
wheel=$(ls "$out"/gather_fetch-*-cp39-abi3-manylinux*.whl)
# auditwheel's own verdict: the policy the extension's symbols satisfy.
"$py" -m auditwheel show "$wheel" >&2
"$py" -m auditwheel show "$wheel" 2>&1 | tr '\n' ' ' | grep -q 'manylinux_2_17_x86_64' || {
  echo "auditwheel: $wheel is not manylinux_2_17 (manylinux2014)" >&2
  exit 1
}
# The sdist holds what it builds from: the package and the engine's crates.
sdist=$(ls "$out"/gather_fetch-*.tar.gz)
listed=$(tar -tzf "$sdist")
for needed in pyproject.toml crates/gather-py/src/lib.rs crates/gather-http/src/lib.rs \
              crates/gather/src/lib.rs python/gather_fetch/__init__.py python/gather_fetch/_engine.pyi; do
  grep -qx "gather_fetch-[^/]*/$needed" <<<"$listed" || { echo "sdist $sdist has no $needed" >&2; exit 1; }
done
echo "$wheel"

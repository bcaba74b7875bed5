#!/usr/bin/env bash
# The Python package's types, checked as its users' checkers read the
# installed package (its stubs and py.typed, not the source tree):
#
# - mypy --strict and pyright (strict) on the README's programs and on
#   crates/gather-py/tests/typing/check_calls.py, whose `assert_type`s pin
#   what each call gives and whose `# type: ignore`s mark calls that must
#   be errors (both checkers report an ignore that is not needed, so an
#   option that stops being checked fails here);
# - mypy and pyright on the pytest suite (its bodies checked, untyped);
# - stubtest: the stubs of the native module against the module itself.
#
# Usage: scripts/typecheck_py.sh [PYTHON]   (default target/py/bin/python,
# where scripts/test.sh installed the package, mypy and pyright)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${1:-target/py/bin/python}
[[ $py = /* ]] || py=$root/$py
bin=$(dirname "$py")
out=target/py-typecheck
rm -rf "$out"
mkdir -p "$out"

# Each ```python block of the README that uses gather_fetch, as a file.
"$py" - "$out" <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
readme = pathlib.Path("crates/gather-py/README.md").read_text()
blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "gather_fetch" in b]
assert blocks, "no gather_fetch program in the README"
for n, block in enumerate(blocks):
    (out / f"readme_{n}.py").write_text(block)
print(f"{len(blocks)} README programs")
PY
cp crates/gather-py/tests/typing/check_calls.py "$out/"
cat > "$out/pyrightconfig.json" <<'JSON'
{"typeCheckingMode": "strict", "reportUnnecessaryTypeIgnoreComment": "error"}
JSON

echo "mypy --strict: the README's programs and check_calls.py"
(cd "$out" && "$py" -m mypy --strict --warn-unused-ignores --no-incremental ./*.py)
echo "pyright (strict): the same"
"$bin/pyright" --pythonpath "$py" -p "$out/pyrightconfig.json" "$out"
echo "mypy and pyright: the pytest suite"
(cd "$out" && "$py" -m mypy --check-untyped-defs --warn-unused-ignores --no-incremental \
  "$root/crates/gather-py/tests")
"$bin/pyright" --pythonpath "$py" crates/gather-py/tests
echo "stubtest: gather_fetch._engine against its stubs"
(cd "$out" && "$py" -m mypy.stubtest gather_fetch._engine)

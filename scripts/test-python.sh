#!/usr/bin/env bash
# The Python binding's tests: creates .venv when missing, installs the test tools and the
# package (`pip install ./bindings/python`: maturin, the PEP 517 backend, runs cargo's release
# build and puts the library inside the package), checks its type hints with `mypy --strict`
# (the package and a user's script), runs pytest on bindings/python/tests (no test collected is
# a failure) and the Python quickstart. Standalone and idempotent; needs python3 (with venv),
# cargo, and PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
    echo "creating $VENV"
    python3 -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The build backend too (its requirements, from bindings/python/pyproject.toml), so the package
# builds without an isolated build env (faster, no re-download).
"$PY" -m pip install -q "maturin>=1.9,<2" "cffi>=1.15" pytest aiosqlite mypy
# maturin's build hook runs the `maturin` program from PATH: put the venv's first, as activating
# it would. With -v pip passes on cargo's progress: check that it does (log kept in target/).
PIP_LOG="$ROOT/target/pip-install.log"
mkdir -p "$ROOT/target"
if ! PATH="$VENV/bin:$PATH" "$PY" -m pip install -v --no-build-isolation "$ROOT/bindings/python" >"$PIP_LOG" 2>&1; then
    tail -n 40 "$PIP_LOG" >&2
    exit 1
fi
if ! grep -q 'Finished `release` profile' "$PIP_LOG"; then
    echo "test-python.sh: pip install -v did not show cargo's output (see $PIP_LOG)" >&2
    exit 1
fi
echo "test-python.sh: installed the package; pip -v showed cargo: $(grep -m1 'Finished `release` profile' "$PIP_LOG" | sed 's/^ *//')"

# The package's type hints hold (it ships py.typed).
"$PY" -m mypy --strict --cache-dir "$ROOT/target/mypy_cache" "$ROOT/bindings/python/model_mapping"
# ...and a user's script using Store and the drop-in passes `mypy --strict` against them.
"$PY" -m mypy --strict --cache-dir "$ROOT/target/mypy_cache" \
    "$ROOT/bindings/python/tests/typecheck/user_script.py"

# Test the installed copy, not a stray library: MODEL_MAPPING_LIB would override it.
unset MODEL_MAPPING_LIB
status=0
(cd "$ROOT/bindings/python" && "$PY" -m pytest -q -p no:cacheprovider tests) || status=$?
if [ "$status" -eq 5 ]; then
    echo "test-python.sh: pytest collected no tests" >&2
    exit 1
elif [ "$status" -ne 0 ]; then
    exit "$status"
fi

echo "examples/python/quickstart.py:"
# In its own TMPDIR, which must be empty again afterwards: the quickstart cleans up after itself.
example_tmp="$(mktemp -d)"
TMPDIR="$example_tmp" "$PY" "$ROOT/examples/python/quickstart.py" >/dev/null
if [ -n "$(ls -A "$example_tmp")" ]; then
    echo "examples/python/quickstart.py left files behind in TMPDIR: $(ls -A "$example_tmp")" >&2
    exit 1
fi
rmdir "$example_tmp"
echo "examples/python/quickstart.py ran and left nothing behind"

#!/usr/bin/env bash
# The C ABI's tests (behaviour B17, target R5: docs/behaviour.md), standalone: builds the release cdylib, then
#   1. compiles examples/c/quickstart.c with gcc -Wall -Wextra -Werror and runs it (under
#      valgrind) on the sample storage dir;
#   2. compiles tests/c/test_abi.c the same way and runs it under
#      valgrind --leak-check=full --error-exitcode=1: no leak, no invalid access;
#   3. checks the header compiles as C++ too (cpp_compat), when g++ is installed;
#   4. feeds the header to cffi (ABI mode) and calls the library (tests/c/test_cffi.py), in
#      the repository's .venv, created and given cffi when missing.
# That the committed header is the one cbindgen generates is tests/ffi_header.rs's check.
# Installs what it needs (gcc, valgrind, libsqlite3-dev; cffi from PyPI). Exits non-zero on
# any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The panic test hook's message goes to stderr through the default hook: keep it one line.
export RUST_BACKTRACE=0

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "test-c.sh: installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "test-c.sh: cargo build --release"
cargo build --release --quiet
LIBDIR="$ROOT/target/release"
test -f "$LIBDIR/libmodel_mapping.so"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -O1 -I"$ROOT/include")
LDFLAGS=(-L"$LIBDIR" -lmodel_mapping -Wl,-rpath,"$LIBDIR")
VALGRIND=(valgrind --leak-check=full --error-exitcode=1 --quiet)

echo "test-c.sh: examples/c/quickstart.c"
gcc "${CFLAGS[@]}" examples/c/quickstart.c "${LDFLAGS[@]}" -o "$WORK/quickstart"
"${VALGRIND[@]}" "$WORK/quickstart" "$WORK/quickstart.db" "$ROOT/examples/data/ai_runtime" >"$WORK/quickstart.out"
grep -q '"resolved_model":"grok-3"' "$WORK/quickstart.out"
grep -q '"resolved_model":"llama3:8b","hit":false' "$WORK/quickstart.out"
echo "examples/c/quickstart.c ran ($(wc -l <"$WORK/quickstart.out") lines of output)"

echo "test-c.sh: tests/c/test_abi.c under valgrind"
gcc "${CFLAGS[@]}" -pthread tests/c/test_abi.c "${LDFLAGS[@]}" -o "$WORK/test_abi"
mkdir -p "$WORK/scratch"
"${VALGRIND[@]}" "$WORK/test_abi" "$WORK/scratch"

if command -v g++ >/dev/null 2>&1; then
    echo '#include "model_mapping.h"
int main() { return mm_status_str(MM_OK)[0] == 0; }' >"$WORK/cpp.cpp"
    g++ -Wall -Wextra -Werror -I"$ROOT/include" -fsyntax-only "$WORK/cpp.cpp"
    echo "include/model_mapping.h compiles as C++"
fi

echo "test-c.sh: cffi (ABI mode) on the header"
PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
    python3 -m venv "$ROOT/.venv"
fi
"$PY" -c "import cffi" 2>/dev/null || "$PY" -m pip install -q cffi
"$PY" tests/c/test_cffi.py include/model_mapping.h "$LIBDIR/libmodel_mapping.so"

echo "test-c.sh: all C ABI checks passed"

#!/usr/bin/env bash
# Quick mode of every benchmark, so they cannot rot: criterion's test mode runs each Rust
# benchmark of benches/store.rs once, and the Python benchmark runs every code path with tiny
# counts (N=200). Times nothing that is judged: benchmarks are not tests (BENCHMARKS.md has the
# real runs). Expects scripts/test-python.sh to have created .venv with the package; runs it
# first when .venv/bin/python is missing. Under a minute on a warm build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "bench-quick: cargo test --release --bench store (each benchmark once)"
cargo test --release --quiet --bench store

PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
    echo "bench-quick: $PY missing; running scripts/test-python.sh first"
    bash "$ROOT/scripts/test-python.sh"
fi
echo "bench-quick: bindings/python/benchmarks/bench.py --quick"
# The installed package, as the Python tests use it (MODEL_MAPPING_LIB would override it).
env -u MODEL_MAPPING_LIB "$PY" "$ROOT/bindings/python/benchmarks/bench.py" --quick
echo "bench-quick: done"

#!/usr/bin/env bash
# Runs every test of the repository: Rust (unit, integration with the `cli` feature, doc), a
# no-feature dependent's dependency tree, the C ABI (C test under valgrind, C example, cffi),
# the C install (pkg-config, shared and static), the Python binding (pytest in .venv), the
# Python sdist and wheel (build, audit, fresh-venv install), the examples, and the quick modes
# of the benchmarks and the reliability suite. Installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==== %s\n' "$*"; }

# System packages this repository needs (present on a fresh machine of this kind; installed
# here when not, as root, from Debian's registry).
need=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

# Every feature but `bundled` (which swaps the SQLite the whole build links, so it gets its own
# run below): `cli` builds the operator CLI, which tests/cli.rs runs.
FEATURES=(--features cli)

step "lint: cargo fmt --check, clippy -D warnings, rustdoc"
cargo fmt --all -- --check
cargo clippy --all-targets "${FEATURES[@]}" --quiet -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
# The C ABI is documented by its header, not among the Rust API (it is #[doc(hidden)]).
if grep -q 'mm_' target/doc/model_mapping/all.html; then
    echo "cargo doc lists C ABI items (mm_*) among the Rust API" >&2
    exit 1
fi
# The documentation stands alone: every "behaviour B10" / "target P2" cited in a tracked file
# (and any remaining "SPEC B10") is a section of docs/behaviour.md, and no tracked file points
# outside the repository.
for ref in $(git grep -hoE '(behaviour|target|targets|SPEC) [BPR][0-9]+' -- . ':!docs/behaviour.md' |
    grep -oE '[BPR][0-9]+$' | sort -u); do
    grep -qE "^#+ $ref " docs/behaviour.md || { echo "docs/behaviour.md has no section $ref" >&2; exit 1; }
done
# (The directory's name is split so that this line does not match itself.)
outside='\.\./'"share"'d'
if git grep -n "$outside" -- .; then
    echo "tracked files refer to a directory outside the repository" >&2
    exit 1
fi

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run "${FEATURES[@]}" --no-fail-fast
else
    cargo test "${FEATURES[@]}" --no-fail-fast --lib --bins --tests
fi
cargo test --doc --quiet
# Behaviour B15: the opt-in bundled build refuses to share a process with another SQLite.
cargo test --quiet --features bundled --test bundled_guard

step "scripts/test-lean-dependency.sh: a no-feature dependent gets no clap, no cbindgen"
bash scripts/test-lean-dependency.sh

step "Rust example"
cargo build --release --quiet
# In its own TMPDIR, which must be empty again afterwards: the quickstart cleans up after itself.
example_tmp="$(mktemp -d)"
TMPDIR="$example_tmp" cargo run --release --quiet --example quickstart >/dev/null
if [ -n "$(ls -A "$example_tmp")" ]; then
    echo "examples/quickstart.rs left files behind in TMPDIR: $(ls -A "$example_tmp")" >&2
    exit 1
fi
rmdir "$example_tmp"
echo "examples/quickstart.rs ran and left nothing behind"

for part in scripts/test-c.sh scripts/test-c-install.sh scripts/test-python.sh scripts/test-packaging.sh \
    scripts/bench-quick.sh reliability/run.sh; do
    if [ -f "$part" ]; then
        step "$part"
        if [ "$part" = reliability/run.sh ]; then bash "$part" --quick; else bash "$part"; fi
    fi
done

step "all tests passed"

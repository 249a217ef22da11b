#!/usr/bin/env bash
# A program that depends on model_mapping with no features gets the library and nothing the CLI
# or the header generator needs: a throwaway crate depending on this one by path must not have
# `clap` or `cbindgen` anywhere in its normal or build dependency tree, and must build and run
# (in the repository's target dir, so the library's dependencies are not compiled again) without
# writing into this source tree (build scripts write only to OUT_DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

mkdir -p "$WORK/app/src"
cat >"$WORK/app/Cargo.toml" <<TOML
[package]
name = "lean_dependency_check"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
model_mapping = { path = "$ROOT" }

[workspace]
TOML
cat >"$WORK/app/src/main.rs" <<'RS'
fn main() {
    let store = model_mapping::Store::open(":memory:", model_mapping::StoreOptions::default())
        .expect("open an in-memory store");
    let r = store.resolve_model_key("llama3:8b").expect("resolve");
    println!("{} {:?}", model_mapping::VERSION, r.resolved_model());
}
RS
# The same versions as the repository resolves (cargo drops what this crate does not use).
cp "$ROOT/Cargo.lock" "$WORK/app/Cargo.lock"
cd "$WORK/app"

cargo tree --quiet --edges normal,build --prefix none >"$WORK/tree.txt"
grep -q '^model_mapping v' "$WORK/tree.txt" || { echo "lean-dependency: model_mapping missing from the tree" >&2; exit 1; }
grep -q '^rusqlite v' "$WORK/tree.txt" || { echo "lean-dependency: rusqlite missing from the tree" >&2; exit 1; }
for banned in clap cbindgen; do
    if grep -q "^$banned v" "$WORK/tree.txt"; then
        echo "lean-dependency: a no-feature dependency on model_mapping pulls in $banned:" >&2
        cargo tree --quiet --edges normal,build --invert "$banned" >&2
        exit 1
    fi
done
echo "lean-dependency: cargo tree of a no-feature dependent has $(sort -u "$WORK/tree.txt" | wc -l) crates, no clap, no cbindgen"

before="$(git -C "$ROOT" status --porcelain --untracked-files=all)"
CARGO_TARGET_DIR="$ROOT/target" cargo run --quiet >"$WORK/run.txt"
grep -q '^[0-9.]* Some("llama3:8b")$' "$WORK/run.txt"
after="$(git -C "$ROOT" status --porcelain --untracked-files=all)"
if [ "$before" != "$after" ]; then
    echo "lean-dependency: building model_mapping as a dependency changed the source tree:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi
echo "lean-dependency: it builds and runs as a dependency and writes nothing into the source tree"

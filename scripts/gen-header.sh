#!/usr/bin/env bash
# Regenerates include/model_mapping.h from src/ffi and cbindgen.toml (with the MM_VERSION_*
# macros from Cargo.toml). The generator is tests/ffi_header.rs: without MM_BLESS=1 the same
# test fails when the committed header is stale, so a normal or dependency build never runs
# cbindgen and never writes into the source tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MM_BLESS=1 cargo test --quiet --test ffi_header -- --exact checked_in_header_matches_a_fresh_generation
git diff --stat -- include/model_mapping.h 2>/dev/null || true

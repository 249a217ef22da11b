//! Generates `include/model_mapping.h` from `src/ffi` with cbindgen (SPEC B17).
//!
//! The header is checked in; it is rewritten only when its content changes, so an unchanged
//! build never touches the file. Generation never fails the build: in an environment where it
//! cannot run (a read-only checkout, a vendored copy without `cbindgen.toml`) it prints a
//! cargo warning and the checked-in header stays as it is. `tests/ffi_header.rs` fails when the
//! checked-in header differs from a fresh generation.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/ffi");
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&root);
    match generate(root) {
        Ok(false) => {}
        Ok(true) => println!("cargo:warning=include/model_mapping.h regenerated; commit it"),
        Err(e) => println!("cargo:warning=include/model_mapping.h not regenerated: {e}"),
    }
}

/// Regenerates the header; `Ok(true)` when it changed on disk.
fn generate(root: &Path) -> Result<bool, String> {
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .map_err(|e| e.to_string())?;
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = root.join("include/model_mapping.h");
    if std::fs::read(&path).is_ok_and(|old| old == fresh) {
        return Ok(false);
    }
    std::fs::create_dir_all(root.join("include")).map_err(|e| e.to_string())?;
    std::fs::write(&path, &fresh).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}

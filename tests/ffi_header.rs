//! `include/model_mapping.h` is what cbindgen generates from `src/ffi` right now (behaviour B17,
//! docs/behaviour.md), and it documents every function and every status the Rust side defines.
//!
//! This test is also the header's generator (a dependency's build runs no code generator):
//! `MM_BLESS=1 cargo test --test ffi_header` (or `scripts/gen-header.sh`) rewrites the committed
//! header when it differs from a fresh generation; without `MM_BLESS` a stale header fails.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> std::path::PathBuf {
    root().join("include/model_mapping.h")
}

fn checked_in() -> String {
    std::fs::read_to_string(header_path()).expect("include/model_mapping.h is checked in")
}

/// The version macros, from this package's version in `Cargo.toml`.
fn version_macros() -> String {
    format!(
        "\n/* The version of the library this header comes with (mm_version() gives the loaded one's). */\n\
         #define MM_VERSION_MAJOR {}\n#define MM_VERSION_MINOR {}\n#define MM_VERSION_PATCH {}\n\
         #define MM_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

/// Generates the header from `cbindgen.toml`, `src/ffi` and the package version.
fn fresh() -> String {
    let mut config = cbindgen::Config::from_file(root().join("cbindgen.toml")).unwrap();
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root().join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn checked_in_header_matches_a_fresh_generation() {
    let fresh = fresh();
    let checked_in = std::fs::read_to_string(header_path()).unwrap_or_default();
    if fresh == checked_in {
        return;
    }
    if std::env::var_os("MM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(header_path(), &fresh).expect("write include/model_mapping.h");
        eprintln!("include/model_mapping.h regenerated; commit it");
        return;
    }
    let first = fresh
        .lines()
        .zip(checked_in.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(fresh.lines().count().min(checked_in.lines().count()));
    panic!(
        "include/model_mapping.h is stale (first difference at line {}): run \
         `scripts/gen-header.sh` (MM_BLESS=1 cargo test --test ffi_header) and commit the header",
        first + 1
    );
}

#[test]
fn header_version_macros_match_the_package_version() {
    let header = checked_in();
    let version = model_mapping::VERSION;
    let mut parts = version.split('.');
    for name in ["MAJOR", "MINOR", "PATCH"] {
        let want = format!("#define MM_VERSION_{name} {}", parts.next().unwrap());
        assert!(header.contains(&want), "the header lacks `{want}`");
    }
    assert!(header.contains(&format!("#define MM_VERSION \"{version}\"")));
}

/// The functions the header declares: name, declaration line, the comment block above it.
fn declarations(header: &str) -> Vec<(String, String, String)> {
    let lines: Vec<&str> = header.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(open) = line.find("mm_").filter(|_| line.contains('(')) else {
            continue;
        };
        if line.trim_start().starts_with('*') || line.trim_start().starts_with("/*") {
            continue;
        }
        let name: String = line[open..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let mut doc = Vec::new();
        let mut j = i;
        while j > 0 && lines[j - 1].trim_start().starts_with(['*', '/']) {
            j -= 1;
            doc.push(lines[j]);
            if lines[j].trim_start().starts_with("/*") {
                break;
            }
        }
        doc.reverse();
        out.push((name, line.to_string(), doc.join("\n")));
    }
    out
}

#[test]
fn every_function_is_declared_and_documented() {
    let header = checked_in();
    let decls = declarations(&header);
    let names: Vec<&str> = decls.iter().map(|(n, _, _)| n.as_str()).collect();
    let expected = [
        "mm_last_error_message",
        "mm_status_str",
        "mm_store_open",
        "mm_store_close",
        "mm_store_list",
        "mm_store_get",
        "mm_store_upsert",
        "mm_store_delete",
        "mm_store_activate_default",
        "mm_store_blocked_list",
        "mm_store_blocked_update",
        "mm_store_resolve",
        "mm_store_explain",
        "mm_store_resolve_for_message",
        "mm_store_migrate_legacy",
        "mm_store_last_migration",
        "mm_store_import",
        "mm_store_export",
        "mm_store_plan_snapshot",
        "mm_store_apply_snapshot",
        "mm_store_health",
        "mm_store_quick_check",
        "mm_store_history",
        "mm_store_undo",
        "mm_store_rollback",
        "mm_store_export_legacy",
        "mm_store_merge_legacy",
        "mm_store_detach",
        "mm_actor_set",
        "mm_mappings_resolve",
        "mm_mapping_validate",
        "mm_mapping_id_normalize",
        "mm_scope_type_normalize",
        "mm_mapping_keys",
        "mm_mappings_resolve_for_message",
        "mm_string_free",
        "mm_echo",
        "mm_test_panic",
        "mm_version",
        "mm_sqlite_version",
        "mm_sqlite_source_id",
    ];
    let mut sorted_names = names.clone();
    sorted_names.sort_unstable();
    let mut sorted_expected = expected.to_vec();
    sorted_expected.sort_unstable();
    assert_eq!(sorted_names, sorted_expected);

    for (name, line, doc) in &decls {
        assert!(doc.len() > 80, "{name} has no documentation in the header");
        assert!(
            doc.contains("Thread-safety"),
            "{name}: document thread-safety"
        );
        if doc.contains("- `out_json`") || doc.contains("- `out`: required; receives a copy") {
            assert!(
                doc.contains("mm_string_free"),
                "{name}: document who frees the result"
            );
        }
        if line.starts_with("const char *") {
            assert!(
                doc.contains("never free") || doc.contains("do not free"),
                "{name}: document that the static string is not freed"
            );
        }
        if line.contains('*') {
            assert!(doc.contains("NULL"), "{name}: document NULL behaviour");
        }
    }
    assert!(header.contains("#ifndef MODEL_MAPPING_H"));
    assert!(header.contains("extern \"C\" {"), "cpp_compat");
    assert!(header.contains("do not edit"), "autogen warning");
}

#[test]
fn header_status_constants_match_the_rust_enum() {
    use model_mapping::ffi::MmStatus;
    let header = checked_in();
    let mut constants = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("MM_") {
            let (name, value) = rest.split_once(" = ").expect("MM_NAME = n,");
            let value: i32 = value.trim_end_matches(',').parse().unwrap();
            constants.push((name.to_ascii_lowercase(), value));
        }
    }
    let rust: Vec<(String, i32)> = MmStatus::all()
        .iter()
        .map(|s| (s.code().to_owned(), *s as i32))
        .collect();
    // The constant's name is the status string in capitals (MM_IO_ERROR <-> "io_error").
    assert_eq!(constants, rust);
}

//! target R4 and B1 codes: a database path that is not a usable SQLite file gets a distinct,
//! clear error, and the file is never deleted, renamed or rewritten.

mod common;

use std::path::Path;

use common::{fingerprint, listing};
use model_mapping::{Store, StoreOptions};

fn open_error(path: &Path) -> model_mapping::Error {
    Store::open(path, StoreOptions::default()).expect_err("the open must fail")
}

/// Opens `path` and checks the error code and that the directory and file are untouched.
fn assert_refused_untouched(path: &Path, code: &str) -> String {
    let dir = path.parent().unwrap();
    let names_before = listing(dir);
    let before = path.is_file().then(|| fingerprint(path));
    let err = open_error(path);
    assert_eq!(err.code(), code, "{err}");
    let text = err.to_string();
    assert!(text.starts_with(code), "{text}");
    // Twice: a failed open leaves nothing behind that changes the next attempt.
    assert_eq!(open_error(path).code(), code);
    assert_eq!(
        listing(dir),
        names_before,
        "no file created, renamed or deleted"
    );
    if let Some(before) = before {
        assert_eq!(fingerprint(path), before, "bytes and mtime unchanged");
    }
    text
}

#[test]
fn a_file_that_is_not_sqlite_is_not_a_database_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("notes.db");
    std::fs::write(&small, "hello, this is not a database\n").unwrap();
    let text = assert_refused_untouched(&small, "not_a_database");
    assert!(
        text.contains("notes.db"),
        "the message names the file: {text}"
    );

    let large = dir.path().join("garbage.db");
    let bytes: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&large, bytes).unwrap();
    assert_refused_untouched(&large, "not_a_database");

    let json = dir.path().join("model_mappings.json");
    std::fs::write(&json, r#"{"tenant": {}}"#).unwrap();
    assert_refused_untouched(&json, "not_a_database");
}

#[test]
fn an_empty_file_is_database_empty_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("app.db");
    std::fs::write(&empty, b"").unwrap();
    assert_refused_untouched(&empty, "database_empty");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
}

#[test]
fn a_directory_is_database_cant_open_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("app.db");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("inside"), "keep me").unwrap();
    assert_refused_untouched(&sub, "database_cant_open");
    assert!(sub.is_dir());
    assert_eq!(listing(&sub), ["inside"]);
}

#[test]
fn a_missing_parent_directory_is_database_cant_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("app.db");
    let err = open_error(&path);
    assert_eq!(err.code(), "database_cant_open");
    // The message is about the user's path, not an internal temporary file.
    let msg = err.to_string();
    assert!(msg.contains("no-such-dir does not exist"), "{msg}");
    assert!(!msg.contains("mm-create"), "{msg}");
    assert!(!path.parent().unwrap().exists());
    // A file where the directory should be.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let msg = open_error(&file.join("app.db")).to_string();
    assert!(msg.contains("a-file/app.db"), "{msg}");
    assert!(!msg.contains("mm-create"), "{msg}");
}

#[test]
fn the_three_bad_files_get_three_distinct_codes() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, vec![0xAB; 8192]).unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let directory = dir.path().join("directory");
    std::fs::create_dir(&directory).unwrap();
    let mut codes: Vec<&str> = [garbage, empty, directory]
        .iter()
        .map(|p| open_error(p).code())
        .collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 3, "{codes:?}");
}

#[test]
fn a_good_database_beside_bad_files_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.db"), "junk").unwrap();
    let good = dir.path().join("good.db");
    let store = Store::open(&good, StoreOptions::default()).unwrap();
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
}

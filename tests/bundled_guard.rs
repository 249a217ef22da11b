//! behaviour B15 for a `bundled` build: with another SQLite mapped into the process, opening a
//! database is refused (`multiple_sqlite_copies`); without one it works.
//!
//! Only built with `--features bundled` (`scripts/test-all.sh` runs it that way); the default
//! build links the system SQLite and has nothing to check.
#![cfg(feature = "bundled")]

use model_mapping::{Store, StoreOptions};

#[test]
fn a_bundled_build_refuses_to_open_while_another_sqlite_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    // Nothing else loaded yet: the bundled copy is the only SQLite.
    Store::open(&path, StoreOptions::default()).unwrap().close();

    // Load the system library the way Python's `_sqlite3` would.
    let name = c"libsqlite3.so.0";
    // SAFETY: dlopen of a library name; the handle is kept open for the rest of the process.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(
        !handle.is_null(),
        "the system libsqlite3 is needed for this test"
    );

    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, StoreOptions::default()).unwrap_err();
    assert_eq!(err.code(), "multiple_sqlite_copies", "{err}");
    assert!(err.to_string().contains("libsqlite3"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is left alone"
    );
}

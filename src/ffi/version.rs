//! Library and SQLite versions: static strings, never freed.

use std::ffi::c_char;

/// This crate's version, NUL-terminated.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's version, e.g. `"0.1.0"`.
///
/// Ownership: a static string; never free it. NULL is never returned.
///
/// Thread-safety: any thread, any time.
#[no_mangle]
pub extern "C" fn mm_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The version of the SQLite library this library actually runs (`sqlite3_libversion()`, e.g.
/// `"3.40.1"`). In the default build that is the system `libsqlite3` — the same copy Python's
/// `sqlite3` module uses (behaviour B15).
///
/// Ownership: a static string owned by SQLite; never free it. NULL is never returned.
///
/// Thread-safety: any thread, any time.
#[no_mangle]
pub extern "C" fn mm_sqlite_version() -> *const c_char {
    // SAFETY: sqlite3_libversion has no preconditions and returns a static string.
    unsafe { rusqlite::ffi::sqlite3_libversion() }
}

/// `sqlite3_sourceid()` of the SQLite library this library runs: equal to the value Python's
/// `sqlite3` reports (`SELECT sqlite_source_id()`) exactly when both use one copy (behaviour B15).
///
/// Ownership: a static string owned by SQLite; never free it. NULL is never returned.
///
/// Thread-safety: any thread, any time.
#[no_mangle]
pub extern "C" fn mm_sqlite_source_id() -> *const c_char {
    // SAFETY: sqlite3_sourceid has no preconditions and returns a static string.
    unsafe { rusqlite::ffi::sqlite3_sourceid() }
}

//! behaviour B15: one SQLite per process.
//!
//! The default build links the system `libsqlite3` dynamically, so the library and Python's
//! `sqlite3` module share one copy and nothing needs checking. A `bundled` build carries its
//! own copy; if another SQLite is mapped into the process, two copies would keep separate
//! POSIX-lock bookkeeping for the same file and can corrupt it, so opening is refused.

use crate::error::Result;

/// The version of the SQLite this library actually runs (e.g. `"3.40.1"`).
pub fn sqlite_version() -> &'static str {
    rusqlite::version()
}

/// `sqlite3_sourceid()` of the linked SQLite: equal to Python's when both use one library.
/// Read through SQL (`SELECT sqlite_source_id()`) so no `unsafe` is needed outside the FFI.
pub fn sqlite_source_id() -> String {
    rusqlite::Connection::open_in_memory()
        .and_then(|c| c.query_row("SELECT sqlite_source_id()", [], |r| r.get::<_, String>(0)))
        .unwrap_or_default()
}

#[cfg(not(feature = "bundled"))]
pub(crate) fn check() -> Result<()> {
    Ok(())
}

#[cfg(feature = "bundled")]
pub(crate) fn check() -> Result<()> {
    use crate::error::Error;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    if let Some(line) = maps.lines().find(|l| l.contains("libsqlite3")) {
        let lib = line.split_whitespace().last().unwrap_or("libsqlite3");
        return Err(Error::MultipleSqliteCopies(format!(
            "this build bundles SQLite but {lib} is also loaded; two copies in one process can \
             corrupt the database. Build without the `bundled` feature."
        )));
    }
    Ok(())
}

//! Status codes and the per-thread last-error message.
//!
//! Every status-returning entry point clears the calling thread's message first, then stores a
//! new one when it fails. The message lives in a thread-local `CString`; the pointer
//! [`mm_last_error_message`] hands out stays valid until the next status-returning call on the
//! same thread replaces or clears it.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::ptr;

use crate::ErrorKind;

/// The status every fallible `mm_` function returns, as an `int32_t`.
///
/// Numbers are fixed and never reused: input errors are 1..9, database errors 10..19, ABI
/// errors 20..29. A retired code stays reserved. `mm_status_str` gives each code's stable
/// string (behaviour B1), which is also how every `mm_last_error_message` starts.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)] // the `Mm` prefix makes the C constants `MM_...`
pub enum MmStatus {
    /// Success (`"ok"`).
    MmOk = 0,
    /// An id without `:` or with an empty side (`"invalid_mapping_id"`).
    MmInvalidMappingId = 1,
    /// A scope type that is empty, missing or not `[a-z0-9_-]` (`"invalid_mapping_scope"`).
    MmInvalidMappingScope = 2,
    /// No mapping with that id (`"mapping_not_found"`).
    MmMappingNotFound = 3,
    /// A payload field has the wrong type or breaks a limit; the message names the field
    /// (`"invalid_payload"`).
    MmInvalidPayload = 4,
    /// Text that should be JSON is not (`"invalid_json"`); the message gives line and column.
    MmInvalidJson = 5,
    /// The change log cannot answer: unknown or pruned change, time before the oldest change
    /// kept, or a span with an unrecorded bulk change (`"history_unavailable"`).
    MmHistoryUnavailable = 6,
    /// An undo of a change a later change superseded; force it or undo the later one first
    /// (`"history_conflict"`).
    MmHistoryConflict = 7,
    /// The database stayed locked past `busy_timeout` (`"database_busy"`).
    MmDatabaseBusy = 10,
    /// SQLite reports a corrupt database image (`"database_corrupt"`).
    MmDatabaseCorrupt = 11,
    /// An operating-system I/O failure (`"io_error"`).
    MmIoError = 12,
    /// The file exists but is not an SQLite database (`"not_a_database"`).
    MmNotADatabase = 13,
    /// The file exists but is empty (`"database_empty"`).
    MmDatabaseEmpty = 14,
    /// The database cannot be opened: a directory, missing permissions or parent
    /// (`"database_cant_open"`).
    MmDatabaseCantOpen = 15,
    /// The database or its directory is read-only (`"database_readonly"`).
    MmDatabaseReadonly = 16,
    /// Any other SQLite failure (`"database_error"`).
    MmDatabaseError = 17,
    /// A bundled SQLite found another SQLite loaded in the process (`"multiple_sqlite_copies"`).
    MmMultipleSqliteCopies = 18,
    /// The process may not read (or create) the database file (`"database_permission_denied"`).
    MmDatabasePermissionDenied = 19,
    /// A required pointer argument was NULL; the message names it (`"null_argument"`).
    MmNullArgument = 20,
    /// A string argument is not valid UTF-8; the message names it (`"invalid_utf8"`).
    MmInvalidUtf8 = 21,
    /// The handle was closed, or was never returned by `mm_store_open` (`"store_closed"`).
    MmStoreClosed = 22,
    /// A panic inside the library was caught at the boundary (`"panic"`). The call did not
    /// complete; the store stays usable.
    MmPanic = 23,
    /// A bug in the library, e.g. a value it could not serialise (`"internal_error"`).
    MmInternalError = 24,
}

/// What a status stands for: a core error kind (its code is the kind's) or one of the ABI's
/// own failures (the code written here).
#[derive(Clone, Copy)]
enum Meaning {
    Kind(ErrorKind),
    Abi(&'static CStr),
}

/// Every status with its meaning, in numeric order: the one place a status meets its code.
/// The numbers are the enum's; every other mapping (`all`, `from_kind`, `from_i32`, `code`) is
/// read from here.
const TABLE: [(MmStatus, Meaning); 23] = {
    use ErrorKind as K;
    use Meaning::{Abi, Kind};
    use MmStatus as S;
    [
        (S::MmOk, Abi(c"ok")),
        (S::MmInvalidMappingId, Kind(K::InvalidMappingId)),
        (S::MmInvalidMappingScope, Kind(K::InvalidMappingScope)),
        (S::MmMappingNotFound, Kind(K::MappingNotFound)),
        (S::MmInvalidPayload, Kind(K::InvalidPayload)),
        (S::MmInvalidJson, Kind(K::InvalidJson)),
        (S::MmHistoryUnavailable, Kind(K::HistoryUnavailable)),
        (S::MmHistoryConflict, Kind(K::HistoryConflict)),
        (S::MmDatabaseBusy, Kind(K::DatabaseBusy)),
        (S::MmDatabaseCorrupt, Kind(K::DatabaseCorrupt)),
        (S::MmIoError, Kind(K::IoError)),
        (S::MmNotADatabase, Kind(K::NotADatabase)),
        (S::MmDatabaseEmpty, Kind(K::DatabaseEmpty)),
        (S::MmDatabaseCantOpen, Kind(K::DatabaseCantOpen)),
        (S::MmDatabaseReadonly, Kind(K::DatabaseReadonly)),
        (S::MmDatabaseError, Kind(K::DatabaseError)),
        (S::MmMultipleSqliteCopies, Kind(K::MultipleSqliteCopies)),
        (
            S::MmDatabasePermissionDenied,
            Kind(K::DatabasePermissionDenied),
        ),
        (S::MmNullArgument, Abi(c"null_argument")),
        (S::MmInvalidUtf8, Abi(c"invalid_utf8")),
        (S::MmStoreClosed, Kind(K::StoreClosed)),
        (S::MmPanic, Abi(c"panic")),
        (S::MmInternalError, Abi(c"internal_error")),
    ]
};

const ALL_STATUSES: [MmStatus; TABLE.len()] = {
    let mut all = [MmStatus::MmOk; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        all[i] = TABLE[i].0;
        i += 1;
    }
    all
};

impl MmStatus {
    /// Every status, in numeric order.
    pub fn all() -> &'static [MmStatus] {
        &ALL_STATUSES
    }

    /// The status for a core error kind: the one place that maps errors to codes.
    pub fn from_kind(kind: ErrorKind) -> MmStatus {
        TABLE
            .iter()
            .find(|(_, m)| matches!(m, Meaning::Kind(k) if *k == kind))
            // A kind without a status of its own is a database-level failure (a test checks
            // that every kind has one).
            .map_or(MmStatus::MmDatabaseError, |(s, _)| *s)
    }

    /// The status with this number, if any.
    pub fn from_i32(code: i32) -> Option<MmStatus> {
        ALL_STATUSES.iter().copied().find(|s| *s as i32 == code)
    }

    /// The stable string code (behaviour B1), NUL-terminated for C.
    pub fn code_cstr(self) -> &'static CStr {
        match TABLE.iter().find(|(s, _)| *s == self).map(|(_, m)| *m) {
            Some(Meaning::Kind(k)) => k.code_cstr(),
            Some(Meaning::Abi(c)) => c,
            None => c"unknown_status",
        }
    }

    /// The stable string code (behaviour B1).
    pub fn code(self) -> &'static str {
        self.code_cstr().to_str().unwrap_or("unknown_status")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_in_the_table_once_in_numeric_order_and_every_kind_has_one() {
        for pair in TABLE.windows(2) {
            assert!((pair[0].0 as i32) < (pair[1].0 as i32), "{:?}", pair[1].0);
        }
        for kind in ErrorKind::ALL {
            let status = MmStatus::from_kind(*kind);
            assert_eq!(
                status.code(),
                kind.code(),
                "{kind:?} has no status of its own"
            );
        }
        let mut codes: Vec<&str> = ALL_STATUSES.iter().map(|s| s.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len(), "two statuses share a code");
    }
}

/// A failure at the C boundary: a core error or one of the ABI's own.
#[derive(Debug)]
pub(crate) enum FfiError {
    /// An error from the safe API.
    Core(crate::Error),
    /// A required pointer argument was NULL.
    NullArgument(&'static str),
    /// A string argument is not UTF-8.
    InvalidUtf8 {
        arg: &'static str,
        valid_up_to: usize,
    },
    /// An unknown or closed handle.
    StoreClosed,
    /// A caught panic, with its payload when it was a string.
    Panic(String),
    /// A value could not be serialised.
    Internal(String),
}

impl From<crate::Error> for FfiError {
    fn from(e: crate::Error) -> FfiError {
        FfiError::Core(e)
    }
}

impl FfiError {
    /// The status code of this failure.
    pub(crate) fn status(&self) -> MmStatus {
        match self {
            FfiError::Core(e) => MmStatus::from_kind(e.kind()),
            FfiError::NullArgument(_) => MmStatus::MmNullArgument,
            FfiError::InvalidUtf8 { .. } => MmStatus::MmInvalidUtf8,
            FfiError::StoreClosed => MmStatus::MmStoreClosed,
            FfiError::Panic(_) => MmStatus::MmPanic,
            FfiError::Internal(_) => MmStatus::MmInternalError,
        }
    }

    /// The message, starting with the stable code like the core's messages do.
    pub(crate) fn message(&self) -> String {
        match self {
            FfiError::Core(e) => e.to_string(),
            FfiError::NullArgument(arg) => format!("null_argument: argument `{arg}` is NULL"),
            FfiError::InvalidUtf8 { arg, valid_up_to } => format!(
                "invalid_utf8: argument `{arg}` is not valid UTF-8 (first bad byte at offset \
                 {valid_up_to})"
            ),
            FfiError::StoreClosed => {
                "store_closed: the store handle is closed or was never opened".to_owned()
            }
            FfiError::Panic(msg) => format!("panic: {msg}"),
            FfiError::Internal(msg) => format!("internal_error: {msg}"),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Clears the calling thread's last error.
pub(crate) fn clear_last_error() {
    // `try_with`: during thread teardown the slot may be gone; nothing to clear then.
    let _ = LAST_ERROR.try_with(|e| e.borrow_mut().take());
}

/// Records `err` as the calling thread's last error.
pub(crate) fn set_last_error(err: &FfiError) {
    let msg = super::strings::lossy_cstring(err.message());
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = Some(msg));
}

/// The message of the last failed call on the calling thread, or NULL when the last
/// status-returning call on this thread succeeded (or none was made).
///
/// The message starts with the stable code (`"mapping_not_found: ..."`).
///
/// Ownership: the pointer belongs to the library; do not free it. It stays valid until the next
/// `mm_` call on the same thread (status-returning calls clear or replace it; `mm_string_free`,
/// `mm_store_close`, `mm_status_str`, the version functions and this function leave it alone).
/// Copy it to keep it.
///
/// As libgit2 warns about its own `git_error_last`: the returned status, not this message,
/// says whether a call failed. Only read the message after a call returned a status other
/// than `MM_OK`.
///
/// Thread-safety: per thread; a failure on one thread never shows on another.
#[no_mangle]
pub extern "C" fn mm_last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ref().map_or(ptr::null(), |m| m.as_ptr()))
        .unwrap_or(ptr::null())
}

/// The stable string code (behaviour B1) of a status: `"ok"`, `"mapping_not_found"`,
/// `"null_argument"`, `"invalid_utf8"`, `"store_closed"`, `"panic"`, ...; `"unknown_status"`
/// for a number that is not a status.
///
/// Ownership: a static string; never free it. NULL is never returned.
///
/// Thread-safety: any thread, any time.
#[no_mangle]
pub extern "C" fn mm_status_str(status: i32) -> *const c_char {
    match MmStatus::from_i32(status) {
        Some(s) => s.code_cstr().as_ptr(),
        None => c"unknown_status".as_ptr(),
    }
}

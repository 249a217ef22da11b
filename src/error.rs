//! Typed errors, each mapped onto one stable string code (behaviour B1).
//!
//! The codes are part of the public contract: the C ABI and the Python binding use them
//! verbatim, so a code is never changed once released. New failure kinds get new codes.

use std::ffi::CStr;
use std::fmt;

/// Defines [`ErrorKind`] with each kind's stable code, written once: `code`, `code_cstr` and
/// `ALL` are derived from the same list.
macro_rules! error_kinds {
    ($($(#[$doc:meta])* $kind:ident => $code:literal,)*) => {
        /// The stable kind of an [`Error`]; [`ErrorKind::code`] is the string the C ABI and
        /// Python use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $($(#[$doc])* $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)*];

            /// The stable string code (behaviour B1).
            pub const fn code(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $code,)*
                }
            }

            /// [`ErrorKind::code`], NUL-terminated for C.
            pub const fn code_cstr(self) -> &'static CStr {
                match self {
                    $(ErrorKind::$kind => match CStr::from_bytes_with_nul(
                        concat!($code, "\0").as_bytes(),
                    ) {
                        Ok(c) => c,
                        Err(_) => panic!("a code holds no NUL"),
                    },)*
                }
            }
        }
    };
}

error_kinds! {
    /// An id without `:` or with an empty side.
    InvalidMappingId => "invalid_mapping_id",
    /// A scope type that is empty, missing or not `[a-z0-9_-]`.
    InvalidMappingScope => "invalid_mapping_scope",
    /// No mapping with that id.
    MappingNotFound => "mapping_not_found",
    /// A payload field has the wrong type or breaks a limit.
    InvalidPayload => "invalid_payload",
    /// Text that should be JSON is not, or has the wrong shape at its top level.
    InvalidJson => "invalid_json",
    /// The database stayed locked past `busy_timeout`.
    DatabaseBusy => "database_busy",
    /// SQLite reports a corrupt database image.
    DatabaseCorrupt => "database_corrupt",
    /// An operating-system I/O failure.
    IoError => "io_error",
    /// The file exists but is not an SQLite database.
    NotADatabase => "not_a_database",
    /// The file exists but is empty; the library will not initialise a file it did not create.
    DatabaseEmpty => "database_empty",
    /// The database cannot be opened (a directory, missing permissions, missing parent).
    DatabaseCantOpen => "database_cant_open",
    /// The database or its directory is read-only.
    DatabaseReadonly => "database_readonly",
    /// Any other SQLite failure.
    DatabaseError => "database_error",
    /// The process may not read (or create) the database file.
    DatabasePermissionDenied => "database_permission_denied",
    /// A bundled SQLite found another SQLite library loaded in the process (behaviour B15).
    MultipleSqliteCopies => "multiple_sqlite_copies",
    /// The store was closed.
    StoreClosed => "store_closed",
    /// The change log cannot answer: an unknown or pruned change, a time before the oldest
    /// change kept, or a span holding a change that recorded no rows (behaviour B20).
    HistoryUnavailable => "history_unavailable",
    /// An undo of a change that a later change to the same mapping superseded (behaviour B20).
    HistoryConflict => "history_conflict",
}

/// Everything that can go wrong in this crate. `Display` starts with the stable code, then
/// says what is wrong: `"invalid_payload: candidates: must be a list of strings"`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorKind::InvalidMappingId`].
    InvalidMappingId(String),
    /// See [`ErrorKind::InvalidMappingScope`].
    InvalidMappingScope(String),
    /// See [`ErrorKind::MappingNotFound`].
    MappingNotFound(String),
    /// See [`ErrorKind::InvalidPayload`]; `field` names the offending field.
    InvalidPayload {
        /// The payload field at fault.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// See [`ErrorKind::InvalidJson`]; line and column are 1-based (0 when unknown).
    InvalidJson {
        /// 1-based line of the failure.
        line: usize,
        /// 1-based column of the failure.
        column: usize,
        /// The parser's description.
        detail: String,
    },
    /// See [`ErrorKind::DatabaseBusy`].
    DatabaseBusy(String),
    /// See [`ErrorKind::DatabaseCorrupt`].
    DatabaseCorrupt(String),
    /// See [`ErrorKind::IoError`].
    Io(String),
    /// See [`ErrorKind::NotADatabase`].
    NotADatabase(String),
    /// See [`ErrorKind::DatabaseEmpty`].
    DatabaseEmpty(String),
    /// See [`ErrorKind::DatabaseCantOpen`].
    DatabaseCantOpen(String),
    /// See [`ErrorKind::DatabaseReadonly`].
    DatabaseReadonly(String),
    /// See [`ErrorKind::DatabaseError`].
    Database(String),
    /// See [`ErrorKind::DatabasePermissionDenied`].
    DatabasePermissionDenied(String),
    /// See [`ErrorKind::MultipleSqliteCopies`].
    MultipleSqliteCopies(String),
    /// See [`ErrorKind::StoreClosed`].
    StoreClosed,
    /// See [`ErrorKind::HistoryUnavailable`].
    HistoryUnavailable(String),
    /// See [`ErrorKind::HistoryConflict`].
    HistoryConflict(String),
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidMappingId(_) => ErrorKind::InvalidMappingId,
            Error::InvalidMappingScope(_) => ErrorKind::InvalidMappingScope,
            Error::MappingNotFound(_) => ErrorKind::MappingNotFound,
            Error::InvalidPayload { .. } => ErrorKind::InvalidPayload,
            Error::InvalidJson { .. } => ErrorKind::InvalidJson,
            Error::DatabaseBusy(_) => ErrorKind::DatabaseBusy,
            Error::DatabaseCorrupt(_) => ErrorKind::DatabaseCorrupt,
            Error::Io(_) => ErrorKind::IoError,
            Error::NotADatabase(_) => ErrorKind::NotADatabase,
            Error::DatabaseEmpty(_) => ErrorKind::DatabaseEmpty,
            Error::DatabaseCantOpen(_) => ErrorKind::DatabaseCantOpen,
            Error::DatabaseReadonly(_) => ErrorKind::DatabaseReadonly,
            Error::Database(_) => ErrorKind::DatabaseError,
            Error::DatabasePermissionDenied(_) => ErrorKind::DatabasePermissionDenied,
            Error::MultipleSqliteCopies(_) => ErrorKind::MultipleSqliteCopies,
            Error::StoreClosed => ErrorKind::StoreClosed,
            Error::HistoryUnavailable(_) => ErrorKind::HistoryUnavailable,
            Error::HistoryConflict(_) => ErrorKind::HistoryConflict,
        }
    }

    /// The stable string code (behaviour B1), e.g. `"mapping_not_found"`.
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    pub(crate) fn payload(field: &str, detail: impl Into<String>) -> Error {
        Error::InvalidPayload {
            field: field.to_owned(),
            detail: detail.into(),
        }
    }

    /// `invalid_json` with the parser's line and column.
    pub fn from_json(err: &serde_json::Error) -> Error {
        Error::InvalidJson {
            line: err.line(),
            column: err.column(),
            detail: err.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.code())?;
        match self {
            Error::InvalidPayload { field, detail } => write!(f, "{field}: {detail}"),
            Error::InvalidJson {
                line,
                column,
                detail,
            } => write!(f, "line {line} column {column}: {detail}"),
            Error::StoreClosed => f.write_str("the store was closed"),
            Error::InvalidMappingId(d)
            | Error::InvalidMappingScope(d)
            | Error::MappingNotFound(d)
            | Error::DatabaseBusy(d)
            | Error::DatabaseCorrupt(d)
            | Error::Io(d)
            | Error::NotADatabase(d)
            | Error::DatabaseEmpty(d)
            | Error::DatabaseCantOpen(d)
            | Error::DatabaseReadonly(d)
            | Error::Database(d)
            | Error::DatabasePermissionDenied(d)
            | Error::MultipleSqliteCopies(d)
            | Error::HistoryUnavailable(d)
            | Error::HistoryConflict(d) => f.write_str(d),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        use rusqlite::ffi::ErrorCode as C;
        let message = err.to_string();
        match err.sqlite_error_code() {
            Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => Error::DatabaseBusy(message),
            Some(C::DatabaseCorrupt) => Error::DatabaseCorrupt(message),
            Some(C::NotADatabase) => Error::NotADatabase(message),
            Some(C::CannotOpen) => Error::DatabaseCantOpen(message),
            Some(C::ReadOnly) => Error::DatabaseReadonly(message),
            Some(C::SystemIoFailure) | Some(C::DiskFull) => Error::Io(message),
            _ => Error::Database(message),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::Io(err.to_string())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

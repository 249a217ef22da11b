//! Typed errors, each mapped onto one stable string code (behaviour B1).
//!
//! The codes are part of the public contract: the C ABI and the Python binding use them
//! verbatim, so a code is never changed once released. New failure kinds get new codes.

use std::fmt;

/// The stable kind of an [`Error`]; [`ErrorKind::code`] is the string the C ABI and Python use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An id without `:` or with an empty side.
    InvalidMappingId,
    /// A scope type that is empty, missing or not `[a-z0-9_-]`.
    InvalidMappingScope,
    /// No mapping with that id.
    MappingNotFound,
    /// A payload field has the wrong type or breaks a limit.
    InvalidPayload,
    /// Text that should be JSON is not, or has the wrong shape at its top level.
    InvalidJson,
    /// The database stayed locked past `busy_timeout`.
    DatabaseBusy,
    /// SQLite reports a corrupt database image.
    DatabaseCorrupt,
    /// An operating-system I/O failure.
    IoError,
    /// The file exists but is not an SQLite database.
    NotADatabase,
    /// The file exists but is empty; the library will not initialise a file it did not create.
    DatabaseEmpty,
    /// The database cannot be opened (a directory, missing permissions, missing parent).
    DatabaseCantOpen,
    /// The database or its directory is read-only.
    DatabaseReadonly,
    /// Any other SQLite failure.
    DatabaseError,
    /// The process may not read (or create) the database file.
    DatabasePermissionDenied,
    /// A bundled SQLite found another SQLite library loaded in the process (behaviour B15).
    MultipleSqliteCopies,
    /// The store was closed.
    StoreClosed,
    /// The change log cannot answer: an unknown or pruned change, a time before the oldest
    /// change kept, or a span holding a change that recorded no rows (behaviour B20).
    HistoryUnavailable,
    /// An undo of a change that a later change to the same mapping superseded (behaviour B20).
    HistoryConflict,
}

impl ErrorKind {
    /// The stable string code (behaviour B1).
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidMappingId => "invalid_mapping_id",
            ErrorKind::InvalidMappingScope => "invalid_mapping_scope",
            ErrorKind::MappingNotFound => "mapping_not_found",
            ErrorKind::InvalidPayload => "invalid_payload",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::DatabaseBusy => "database_busy",
            ErrorKind::DatabaseCorrupt => "database_corrupt",
            ErrorKind::IoError => "io_error",
            ErrorKind::NotADatabase => "not_a_database",
            ErrorKind::DatabaseEmpty => "database_empty",
            ErrorKind::DatabaseCantOpen => "database_cant_open",
            ErrorKind::DatabaseReadonly => "database_readonly",
            ErrorKind::DatabaseError => "database_error",
            ErrorKind::DatabasePermissionDenied => "database_permission_denied",
            ErrorKind::MultipleSqliteCopies => "multiple_sqlite_copies",
            ErrorKind::StoreClosed => "store_closed",
            ErrorKind::HistoryUnavailable => "history_unavailable",
            ErrorKind::HistoryConflict => "history_conflict",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Everything that can go wrong in this crate. `Display` starts with the stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorKind::InvalidMappingId`].
    #[error("invalid_mapping_id: {0}")]
    InvalidMappingId(String),
    /// See [`ErrorKind::InvalidMappingScope`].
    #[error("invalid_mapping_scope: {0}")]
    InvalidMappingScope(String),
    /// See [`ErrorKind::MappingNotFound`].
    #[error("mapping_not_found: {0}")]
    MappingNotFound(String),
    /// See [`ErrorKind::InvalidPayload`]; `field` names the offending field.
    #[error("invalid_payload: {field}: {detail}")]
    InvalidPayload {
        /// The payload field at fault.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// See [`ErrorKind::InvalidJson`]; line and column are 1-based (0 when unknown).
    #[error("invalid_json: line {line} column {column}: {detail}")]
    InvalidJson {
        /// 1-based line of the failure.
        line: usize,
        /// 1-based column of the failure.
        column: usize,
        /// The parser's description.
        detail: String,
    },
    /// See [`ErrorKind::DatabaseBusy`].
    #[error("database_busy: {0}")]
    DatabaseBusy(String),
    /// See [`ErrorKind::DatabaseCorrupt`].
    #[error("database_corrupt: {0}")]
    DatabaseCorrupt(String),
    /// See [`ErrorKind::IoError`].
    #[error("io_error: {0}")]
    Io(String),
    /// See [`ErrorKind::NotADatabase`].
    #[error("not_a_database: {0}")]
    NotADatabase(String),
    /// See [`ErrorKind::DatabaseEmpty`].
    #[error("database_empty: {0}")]
    DatabaseEmpty(String),
    /// See [`ErrorKind::DatabaseCantOpen`].
    #[error("database_cant_open: {0}")]
    DatabaseCantOpen(String),
    /// See [`ErrorKind::DatabaseReadonly`].
    #[error("database_readonly: {0}")]
    DatabaseReadonly(String),
    /// See [`ErrorKind::DatabaseError`].
    #[error("database_error: {0}")]
    Database(String),
    /// See [`ErrorKind::DatabasePermissionDenied`].
    #[error("database_permission_denied: {0}")]
    DatabasePermissionDenied(String),
    /// See [`ErrorKind::MultipleSqliteCopies`].
    #[error("multiple_sqlite_copies: {0}")]
    MultipleSqliteCopies(String),
    /// See [`ErrorKind::StoreClosed`].
    #[error("store_closed: the store was closed")]
    StoreClosed,
    /// See [`ErrorKind::HistoryUnavailable`].
    #[error("history_unavailable: {0}")]
    HistoryUnavailable(String),
    /// See [`ErrorKind::HistoryConflict`].
    #[error("history_conflict: {0}")]
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

//! Failures of one command: a stable code (behaviour B1 where one fits), a detail, an exit code.

use std::fmt;
use std::path::Path;

use model_mapping::{Error, ErrorKind};

/// Process exit codes. One rule: the exit code follows from the error code alone, whichever
/// command or file it concerns (docs/CLI.md lists every code).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The request was understood but the data says no: a mapping or change not found
    /// (`mapping_not_found`, `history_unavailable`), an undo superseded (`history_conflict`), a
    /// check that failed (health, migration, skipped import items), or `cancelled` at the
    /// prompt.
    pub const NOT_FOUND: u8 = 1;
    /// Bad usage or invalid input (id, JSON, payload, storage dir, output path,
    /// `confirmation_required`); clap uses 2 as well.
    pub const USAGE: u8 = 2;
    /// A database or I/O error: the database, an input or output file, a backup.
    pub const DATABASE: u8 = 3;
}

/// A failed command.
#[derive(Debug)]
pub struct CliError {
    /// Stable code, e.g. `mapping_not_found`, `invalid_json`, `database_corrupt`.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub detail: String,
    /// The process exit code.
    pub exit: u8,
}

impl CliError {
    pub fn new(code: &'static str, detail: impl Into<String>, exit: u8) -> CliError {
        CliError {
            code,
            detail: detail.into(),
            exit,
        }
    }

    pub fn not_found(id: &str) -> CliError {
        CliError::new(
            "mapping_not_found",
            format!("no mapping {id}"),
            exit::NOT_FOUND,
        )
    }

    pub fn usage(code: &'static str, detail: impl Into<String>) -> CliError {
        CliError::new(code, detail, exit::USAGE)
    }

    /// A library error that concerns the named input file: the detail names it (the exit
    /// code stays the code's).
    pub fn in_input(err: Error, file: &Path) -> CliError {
        let mut e = CliError::from(err);
        e.detail = format!("{}: {}", display_input(file), e.detail);
        e
    }

    /// An I/O failure on a file other than the database.
    pub fn io(detail: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::IoError.code(), detail, exit::DATABASE)
    }
}

/// `-` is stdin.
pub fn display_input(file: &Path) -> String {
    if file.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        file.display().to_string()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl From<Error> for CliError {
    fn from(err: Error) -> CliError {
        let code = err.code();
        let exit = match err.kind() {
            ErrorKind::MappingNotFound
            | ErrorKind::HistoryUnavailable
            | ErrorKind::HistoryConflict => exit::NOT_FOUND,
            ErrorKind::InvalidMappingId
            | ErrorKind::InvalidMappingScope
            | ErrorKind::InvalidPayload
            | ErrorKind::InvalidJson => exit::USAGE,
            _ => exit::DATABASE,
        };
        // The library's message already starts with the code: keep only the detail.
        let message = err.to_string();
        let detail = message
            .strip_prefix(code)
            .and_then(|rest| rest.strip_prefix(": "))
            .map_or_else(|| message.clone(), str::to_owned);
        CliError { code, detail, exit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_exit_codes_and_keep_their_code() {
        let e = CliError::from(Error::MappingNotFound("mapping:x".into()));
        assert_eq!((e.code, e.exit), ("mapping_not_found", exit::NOT_FOUND));
        assert_eq!(e.to_string(), "mapping_not_found: mapping:x");
        let e = CliError::from(Error::InvalidMappingId("x".into()));
        assert_eq!(e.exit, exit::USAGE);
        let e = CliError::from(Error::NotADatabase("file is not a database".into()));
        assert_eq!((e.code, e.exit), ("not_a_database", exit::DATABASE));
        let e = CliError::in_input(Error::Io("gone".into()), Path::new("-"));
        assert_eq!(
            e.exit,
            exit::DATABASE,
            "io_error is 3 whichever file it concerns"
        );
        assert_eq!(e.detail, "<stdin>: gone");
    }
}

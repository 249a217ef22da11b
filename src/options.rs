//! Store options (behaviour B12, B13): storage dir, busy timeout, durability, journal, staleness.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// `PRAGMA synchronous` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// No syncs: fast, not durable across power loss.
    Off,
    /// Sync at checkpoints only (durable against crashes of the process, not of the OS).
    Normal,
    /// Sync every commit (the default: an acknowledged write survives power loss).
    Full,
    /// Like `Full`, plus the directory after unlinking a journal.
    Extra,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

/// `PRAGMA journal_mode` values the store accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalMode {
    /// Write-ahead log: readers never block the writer (the backend's mode; the default).
    Wal,
    /// Rollback journal, deleted after each transaction.
    Delete,
    /// Rollback journal, truncated.
    Truncate,
    /// Rollback journal, header zeroed.
    Persist,
}

impl JournalMode {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            JournalMode::Wal => "WAL",
            JournalMode::Delete => "DELETE",
            JournalMode::Truncate => "TRUNCATE",
            JournalMode::Persist => "PERSIST",
        }
    }
}

/// How to open a [`crate::Store`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// The backend's `$AI_RUNTIME_STORAGE_DIR`: when set, the one-time legacy migration runs
    /// at open (behaviour B10).
    pub storage_dir: Option<PathBuf>,
    /// How long a write waits for a locked database before `database_busy` (default 5 s, at
    /// most [`MAX_MILLIS`] ms).
    pub busy_timeout: Duration,
    /// Durability (default `Full`).
    pub synchronous: Synchronous,
    /// Journal mode (default WAL).
    pub journal_mode: JournalMode,
    /// How stale a read may be: 0 (the default) checks the database on every read (the change
    /// feed's counter, or `PRAGMA data_version` without the feed; at most [`MAX_MILLIS`] ms).
    pub max_staleness: Duration,
}

/// The largest `busy_timeout` and `max_staleness`, in milliseconds: SQLite takes the busy
/// timeout as a C `int` of milliseconds, and both time options share one range.
pub const MAX_MILLIS: u64 = i32::MAX as u64;

/// Checks that `d` is at most [`MAX_MILLIS`] ms; the error names the option `name`.
fn check_millis(name: &str, d: Duration) -> Result<()> {
    if d.as_millis() > u128::from(MAX_MILLIS) {
        return Err(Error::payload(
            name,
            format!("must be at most {MAX_MILLIS} ms"),
        ));
    }
    Ok(())
}

/// A milliseconds option from JSON: an integer within `0..=MAX_MILLIS` (`null`: the default).
fn millis_from_json(name: &str, v: Option<serde_json::Value>) -> Result<Option<Duration>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some_and(|ms| ms <= MAX_MILLIS) => {
            Ok(n.as_u64().map(Duration::from_millis))
        }
        Some(other) => Err(Error::payload(
            name,
            format!("must be an integer from 0 to {MAX_MILLIS}, not {other}"),
        )),
    }
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            storage_dir: None,
            busy_timeout: Duration::from_millis(5000),
            synchronous: Synchronous::Full,
            journal_mode: JournalMode::Wal,
            max_staleness: Duration::ZERO,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOptions {
    storage_dir: Option<PathBuf>,
    // Any JSON, not u64: a negative, fractional, huge or non-number value gets an error
    // naming the option.
    busy_timeout_ms: Option<serde_json::Value>,
    synchronous: Option<Synchronous>,
    journal_mode: Option<JournalMode>,
    max_staleness_ms: Option<serde_json::Value>,
}

impl StoreOptions {
    /// Options with a storage dir for the legacy migration.
    pub fn with_storage_dir(dir: impl Into<PathBuf>) -> StoreOptions {
        StoreOptions {
            storage_dir: Some(dir.into()),
            ..StoreOptions::default()
        }
    }

    /// Parses `{"storage_dir", "busy_timeout_ms", "synchronous", "journal_mode",
    /// "max_staleness_ms"}` (all optional; empty text or `null` means defaults). Unknown keys
    /// are an error, so a typo never silently falls back to a default.
    pub fn from_json(text: &str) -> Result<StoreOptions> {
        let text = text.trim();
        if text.is_empty() || text == "null" {
            return Ok(StoreOptions::default());
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::from_json(&e))?;
        if !value.is_object() {
            return Err(Error::payload("options", "must be a JSON object"));
        }
        let o: JsonOptions =
            serde_json::from_value(value).map_err(|e| Error::payload("options", e.to_string()))?;
        let d = StoreOptions::default();
        let options = StoreOptions {
            storage_dir: o.storage_dir.filter(|p| !p.as_os_str().is_empty()),
            busy_timeout: millis_from_json("busy_timeout_ms", o.busy_timeout_ms)?
                .unwrap_or(d.busy_timeout),
            synchronous: o.synchronous.unwrap_or(d.synchronous),
            journal_mode: o.journal_mode.unwrap_or(d.journal_mode),
            max_staleness: millis_from_json("max_staleness_ms", o.max_staleness_ms)?
                .unwrap_or(d.max_staleness),
        };
        options.validate()?;
        Ok(options)
    }

    /// Checks every option's range: `invalid_payload` naming the first one out of range.
    /// Opening a store checks too, so options built in Rust are held to the same rules.
    pub fn validate(&self) -> Result<()> {
        check_millis("busy_timeout", self.busy_timeout)?;
        check_millis("max_staleness", self.max_staleness)?;
        if let Some(dir) = &self.storage_dir {
            if dir.as_os_str().as_encoded_bytes().contains(&0) {
                return Err(Error::payload("storage_dir", "must not contain a NUL byte"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_from_json_with_defaults() {
        let o = StoreOptions::from_json(r#"{"busy_timeout_ms": 250, "synchronous": "normal"}"#)
            .unwrap();
        assert_eq!(o.busy_timeout, Duration::from_millis(250));
        assert_eq!(o.synchronous, Synchronous::Normal);
        assert_eq!(o.journal_mode, JournalMode::Wal);
        assert_eq!(
            StoreOptions::from_json("").unwrap(),
            StoreOptions::default()
        );
    }

    #[test]
    fn unknown_option_keys_are_rejected() {
        let err = StoreOptions::from_json(r#"{"busy_timeout": 5}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_payload");
        assert_eq!(
            StoreOptions::from_json("[1]").unwrap_err().code(),
            "invalid_payload"
        );
        assert_eq!(
            StoreOptions::from_json("{").unwrap_err().code(),
            "invalid_json"
        );
    }
}

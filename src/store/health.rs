//! What the store reports about itself (behaviour B13): refreshes by kind, the failure it is living
//! with, counters.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::timestamp;

/// A failure the store is living with (reads serve the last good snapshot meanwhile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthError {
    /// Stable code (behaviour B1).
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// When this failure started (consecutive failures keep the first time).
    pub since: String,
}

/// How the snapshot was last brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshKind {
    /// Only the rows the change feed named were read again.
    Incremental,
    /// The whole table was read again.
    Full,
}

/// What [`crate::Store::health`] reports (behaviour B13).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// No refresh failure outstanding.
    pub ok: bool,
    /// The database path.
    pub path: String,
    /// The SQLite actually linked.
    pub sqlite_version: String,
    /// `PRAGMA journal_mode` of the connection, when it could be read.
    pub journal_mode: Option<String>,
    /// The library's schema version in `mm_meta`.
    pub schema_version: i64,
    /// `PRAGMA data_version` on the read connection (`None` when it could not be read).
    pub data_version: Option<i64>,
    /// The change-feed counter the snapshot reflects (the `seq` of the last change applied).
    pub change_counter: i64,
    /// The change feed's triggers were all in place at the last refresh. Without them every
    /// commit to the file costs a full reload until a write or an open re-creates them.
    pub triggers: bool,
    /// Mappings in the snapshot.
    pub mappings: usize,
    /// Blocked models in the snapshot.
    pub blocked: usize,
    /// When the snapshot was last brought up to date from the database.
    pub last_refresh_at: Option<String>,
    /// Whether that was incremental or full.
    pub last_refresh_kind: Option<RefreshKind>,
    /// The outstanding refresh failure, if any.
    pub last_error: Option<HealthError>,
    /// Refreshes after others wrote (incremental and full).
    pub refreshes: u64,
    /// Of those, the ones that applied only the changed rows.
    pub incremental_refreshes: u64,
    /// Of those, the ones that read the whole table.
    pub full_reloads: u64,
    /// `resolve_model_key` calls (explain included).
    pub resolves: u64,
    /// Keys and ids that arrived in the legacy `tenant:` form (to know when to retire it).
    pub legacy_tenant_keys: u64,
    /// Configured staleness bound.
    pub max_staleness_ms: u64,
    /// Connections reopened after a `fork()` closed them (in this process).
    pub reopened_after_fork: u64,
    /// The database's records of the one-time imports.
    pub migration: Value,
}

#[derive(Default)]
struct State {
    last_refresh_at: Option<String>,
    last_refresh_kind: Option<RefreshKind>,
    last_error: Option<HealthError>,
    incremental: u64,
    full: u64,
}

/// The store's bookkeeping, touched only when something happens (a refresh, a failure).
#[derive(Default)]
pub(crate) struct Tracker {
    /// A failure is outstanding (mirrors `state.last_error` without its lock).
    failing: AtomicBool,
    state: Mutex<State>,
}

/// The part of [`Health`] the tracker knows.
pub(crate) struct Tracked {
    pub last_refresh_at: Option<String>,
    pub last_refresh_kind: Option<RefreshKind>,
    pub last_error: Option<HealthError>,
    pub incremental: u64,
    pub full: u64,
}

impl Tracker {
    pub(crate) fn opened() -> Tracker {
        let t = Tracker::default();
        t.state.lock().last_refresh_at = Some(timestamp::now());
        t
    }

    pub(crate) fn failed(&self, err: &Error) {
        self.failing.store(true, Relaxed);
        let mut s = self.state.lock();
        let since = match &s.last_error {
            Some(prev) if prev.code == err.code() => prev.since.clone(),
            _ => timestamp::now(),
        };
        s.last_error = Some(HealthError {
            code: err.code(),
            message: err.to_string(),
            since,
        });
    }

    /// A look at the database succeeded.
    pub(crate) fn succeeded(&self) {
        // Only touch the mutex when there is a failure to clear.
        if self.failing.swap(false, Relaxed) {
            self.state.lock().last_error = None;
        }
    }

    pub(crate) fn refreshed(&self, kind: RefreshKind) {
        self.failing.store(false, Relaxed);
        let mut s = self.state.lock();
        s.last_error = None;
        s.last_refresh_at = Some(timestamp::now());
        s.last_refresh_kind = Some(kind);
        match kind {
            RefreshKind::Incremental => s.incremental += 1,
            RefreshKind::Full => s.full += 1,
        }
    }

    pub(crate) fn get(&self) -> Tracked {
        let s = self.state.lock();
        Tracked {
            last_refresh_at: s.last_refresh_at.clone(),
            last_refresh_kind: s.last_refresh_kind,
            last_error: s.last_error.clone(),
            incremental: s.incremental,
            full: s.full,
        }
    }
}

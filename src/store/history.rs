//! History, undo, rollback and the backend's roll back and forward (behaviour B20), as the store
//! runs them: plans are made inside the transaction that applies them.

use std::path::Path;

use rusqlite::Connection;

use super::write::Tx;
use super::Store;
use crate::error::{Error, Result};
use crate::feed;
use crate::history::{self, Change, RestorePlan, RollbackTarget};
use crate::legacy::export::{self, ExportReport};
use crate::legacy::merge::{self, ExportRecord, MergePlan};
use crate::legacy::{self, Parsed};
use crate::normalize::MappingId;
use crate::schema;
use crate::snapshot::Snapshot;
use crate::timestamp;

/// The `mm_meta` key of the last export's record.
const EXPORT_RECORD: &str = "legacy_export";

/// Writes a plan's deletions, then its mappings, then its blocked-list changes in `tx`.
fn apply(
    tx: &mut Tx<'_>,
    delete: &[String],
    write: impl IntoIterator<Item = Result<crate::model::Mapping>>,
    block: &[String],
    unblock: &[String],
) -> Result<()> {
    for id in delete {
        tx.remove(&MappingId::parse(id)?)?;
    }
    for m in write {
        tx.put(&m?)?;
    }
    let blocked: Vec<(String, bool)> = block
        .iter()
        .map(|m| (m.clone(), true))
        .chain(unblock.iter().map(|m| (m.clone(), false)))
        .collect();
    if !blocked.is_empty() {
        tx.set_blocked(&blocked)?;
    }
    Ok(())
}

/// Writes a restore plan: the restored mappings as new writes.
fn restore(tx: &mut Tx<'_>, plan: &RestorePlan) -> Result<()> {
    let rewritten = plan.restore.iter().map(history::rewritten);
    apply(tx, &plan.delete, rewritten, &plan.block, &plan.unblock)
}

impl Store {
    /// Runs `f` in a read transaction on the read connection, with the snapshot of what that
    /// transaction sees.
    fn read_tx<T>(&self, f: impl FnOnce(&Connection, &Snapshot) -> Result<T>) -> Result<T> {
        self.conns.read(|conn, _| {
            let tx = crate::db::CachedTx::deferred(conn)?;
            let current = self.snapshot.load_full();
            let out = match feed::catch_up(conn, &current)? {
                feed::Refresh::Unchanged => f(conn, &current),
                feed::Refresh::Incremental(s) | feed::Refresh::Full(s) => f(conn, &s),
            };
            tx.commit()?;
            out
        })
    }

    /// Recorded changes, newest first (behaviour B20): those after `since_seq`, touching the
    /// mapping `id` (normalised; any spelling it was stored under) when given, at most `limit`.
    ///
    /// # Errors
    /// `invalid_mapping_id` for a malformed id; database errors.
    pub fn history(
        &self,
        id: Option<&str>,
        since_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Change>> {
        let id = id.map(|i| MappingId::parse(i.trim())).transpose()?;
        self.read_tx(|conn, _| history::history(conn, id.as_ref(), since_seq, limit))
    }

    /// Writes back what change `seq` replaced, as a new change (itself recorded).
    ///
    /// # Errors
    /// `history_unavailable` for an unknown or pruned change, or one that recorded no rows;
    /// `history_conflict`, naming it, when a later change touched the same mapping or model
    /// (unless `force`).
    pub fn undo(&self, seq: i64, force: bool) -> Result<RestorePlan> {
        self.write(|tx| {
            let mut plan = history::plan_undo(tx.conn(), seq, force)?;
            restore(tx, &plan)?;
            plan.dry_run = false;
            Ok(plan)
        })
    }

    /// What [`Store::undo`] of change `seq` would write, without writing (it reads only, so
    /// a read-only store can answer); fails as `undo` would.
    pub fn plan_undo(&self, seq: i64, force: bool) -> Result<RestorePlan> {
        self.read_tx(|conn, _| history::plan_undo(conn, seq, force))
    }

    /// Restores every mapping and the blocked list as they were right after a change (or at a
    /// time), in one transaction; with `dry_run`, only says what it would write.
    ///
    /// # Errors
    /// `history_unavailable` when the log no longer holds every change since then (pruned,
    /// deleted), when one of them recorded no rows (a bulk import), or for a time before the
    /// oldest change kept; `invalid_payload` for a time that is not RFC 3339.
    pub fn rollback_to(&self, target: &RollbackTarget, dry_run: bool) -> Result<RestorePlan> {
        if dry_run {
            return self.read_tx(|conn, snap| {
                let seq = history::resolve_target(conn, target)?;
                history::plan_rollback(conn, snap, seq)
            });
        }
        self.write(|tx| {
            let seq = history::resolve_target(tx.conn(), target)?;
            let mut plan = history::plan_rollback(tx.conn(), tx.snapshot(), seq)?;
            restore(tx, &plan)?;
            plan.dry_run = false;
            Ok(plan)
        })
    }

    /// Drops the change feed's triggers and nothing else, for a clean downgrade to a backend
    /// that does not use this library. The next open, or write, of a store re-creates them.
    pub fn detach(&self) -> Result<()> {
        self.conns.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            feed::drop_triggers(&tx)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Writes the mappings and blocked list as the pre-SQLite backend's files in
    /// `storage_dir` (see [`crate::legacy::ExportReport`]), keeping the files it replaces as
    /// timestamped backups, and records what it wrote for a later
    /// [`Store::merge_legacy`]. With `dry_run`, writes nothing.
    ///
    /// # Errors
    /// `io_error` when the directory is missing or not writable, or a file there is not a
    /// regular file; nothing is then written and the existing files stay as they were.
    pub fn export_legacy(&self, storage_dir: &Path, dry_run: bool) -> Result<ExportReport> {
        if !dry_run {
            // The files are written before the record: refuse before either.
            self.conns.check_writable()?;
        }
        let snap = self.snapshot()?;
        let mappings = snap.list(None, None);
        let report = export::write(storage_dir, &mappings, snap.blocked(), dry_run)?;
        if !dry_run {
            let record = ExportRecord {
                at: timestamp::now(),
                dir: storage_dir.display().to_string(),
                ids: mappings.iter().map(|m| m.id.clone()).collect(),
                blocked: snap.blocked().to_vec(),
            };
            let text = serde_json::to_string(&record).expect("records serialise");
            self.conns.write(|conn| {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                schema::meta_set(&tx, EXPORT_RECORD, &text)?;
                tx.commit()?;
                Ok(())
            })?;
        }
        Ok(report)
    }

    /// Merges the legacy files of `storage_dir` into the table (rolling forward after a
    /// period on the backend's JSON version; see [`crate::legacy::MergePlan`]), in one
    /// transaction; with `dry_run`, only says what it would write.
    ///
    /// # Errors
    /// `invalid_json` (with the file, line and column) or `io_error` when a file cannot be
    /// read; nothing is then written.
    pub fn merge_legacy(&self, storage_dir: &Path, dry_run: bool) -> Result<MergePlan> {
        let file = match legacy::read_mappings(storage_dir) {
            Parsed::Ready(plan) => plan,
            Parsed::Missing => legacy::MappingsPlan {
                mappings: Vec::new(),
                errors: Vec::new(),
                warnings: Vec::new(),
            },
            Parsed::Failed(e) => return Err(file_error(e)),
        };
        let blocked = match legacy::read_blocked(storage_dir) {
            Parsed::Ready(b) => Some(b),
            Parsed::Missing => None,
            Parsed::Failed(e) => return Err(file_error(e)),
        };
        let make = |conn: &Connection, snap: &Snapshot| -> Result<MergePlan> {
            let record = schema::meta_get(conn, EXPORT_RECORD)?
                .and_then(|t| serde_json::from_str::<ExportRecord>(&t).ok());
            let mut plan = merge::plan(
                file.mappings.clone(),
                blocked.clone(),
                &snap.list(None, None),
                snap.blocked(),
                record.as_ref(),
            );
            plan.errors = file.errors.clone();
            Ok(plan)
        };
        if dry_run {
            return self.read_tx(make);
        }
        self.write(|tx| {
            let mut plan = make(tx.conn(), tx.snapshot())?;
            // The file's mappings keep the file's time (last writer wins on it).
            let write = plan.write.iter().cloned().map(Ok);
            apply(tx, &plan.delete, write, &plan.block, &plan.unblock)?;
            plan.dry_run = false;
            Ok(plan)
        })
    }
}

/// A legacy file that could not be read, as the error of a merge.
fn file_error(e: legacy::ReportError) -> Error {
    Error::Io(format!("{}: {}", e.key, e.reason))
}

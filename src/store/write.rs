//! The write path (behaviour B2, B5–B7, B14): every write runs in one `BEGIN IMMEDIATE` transaction
//! on the write connection, on a snapshot brought up to date inside that transaction, and each
//! change it makes is applied to that snapshot from the change feed before the next one, so
//! every step of a batch sees the steps before it, whatever rows others wrote.

use std::sync::Arc;

use rusqlite::Connection;

use crate::db::{self, RowRef};
use crate::error::Result;
use crate::feed;
use crate::model::Mapping;
use crate::normalize::MappingId;
use crate::snapshot::Snapshot;

/// A write transaction and the snapshot of what it sees.
pub(crate) struct Tx<'c> {
    conn: &'c Connection,
    snap: Arc<Snapshot>,
    /// How the snapshot was brought up to date when the transaction began.
    pub caught_up: Option<crate::store::RefreshKind>,
}

impl<'c> Tx<'c> {
    /// Brings `snap` up to what `conn`'s (write) transaction sees.
    pub(crate) fn begin(conn: &'c Connection, snap: Arc<Snapshot>) -> Result<Tx<'c>> {
        let mut tx = Tx {
            conn,
            snap,
            caught_up: None,
        };
        tx.caught_up = tx.sync()?;
        Ok(tx)
    }

    pub(crate) fn conn(&self) -> &Connection {
        self.conn
    }

    /// The table as this transaction sees it.
    pub(crate) fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    pub(crate) fn into_snapshot(self) -> Arc<Snapshot> {
        self.snap
    }

    /// Applies what changed since the snapshot (this transaction's own changes, or everyone's
    /// when it began).
    pub(crate) fn sync(&mut self) -> Result<Option<crate::store::RefreshKind>> {
        Ok(
            super::refreshed(feed::catch_up(self.conn, &self.snap)?).map(|(s, kind)| {
                self.snap = Arc::new(s);
                kind
            }),
        )
    }

    /// Where the rows of one id live: every row that normalises to it, in whatever spelling
    /// others wrote it (`Tenant`, an untrimmed key), so writes and deletes reach all the rows
    /// reads show (behaviour B1, B11).
    fn rows_of(&self, scope_type: &str, scope_key: &str) -> Vec<RowRef> {
        self.snap
            .slot(scope_type, scope_key)
            .map(|slot| slot.rows().map(|e| e.row).collect())
            .unwrap_or_default()
    }

    /// Writes `m` over every stored row of its id; returns it as the table now holds it.
    pub(crate) fn put(&mut self, m: &Mapping) -> Result<Arc<Mapping>> {
        let rows = self.rows_of(&m.scope_type, &m.scope_key);
        db::write_mapping(self.conn, m, &rows)?;
        self.sync()?;
        Ok(self
            .snap
            .get(&m.scope_type, &m.scope_key)
            .cloned()
            .unwrap_or_else(|| Arc::new(m.clone())))
    }

    /// Deletes every stored row of an id; how many there were.
    pub(crate) fn remove(&mut self, id: &MappingId) -> Result<usize> {
        let rows = self.rows_of(&id.scope_type, &id.scope_key);
        let n = db::delete_rows(self.conn, &rows)?;
        if n > 0 {
            self.sync()?;
        }
        Ok(n)
    }

    /// Blocks (`true`) or unblocks (`false`) models (names already normalised).
    pub(crate) fn set_blocked(&mut self, changes: &[(String, bool)]) -> Result<()> {
        db::set_blocked(self.conn, changes, &crate::timestamp::now())?;
        self.sync()?;
        Ok(())
    }
}

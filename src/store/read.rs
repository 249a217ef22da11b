//! The read path's coherence check (behaviour B13): `PRAGMA data_version` unchanged → nothing to
//! do; moved → bring the snapshot up to date from the change feed, which reads the counter
//! and, only when it moved, the changed rows. It runs on the read connection alone, so it
//! never waits for a write, its fsync, or SQLite's write lock.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::{RefreshKind, Store};
use crate::db;
use crate::error::{Error, Result};
use crate::feed::{self, Refresh};

impl Store {
    fn now_ns(&self) -> u64 {
        coarsetime::Instant::now()
            .duration_since(self.epoch)
            .as_nanos()
    }

    /// The coherence check every read makes first. A failed refresh is recorded for
    /// `health()` and the last good snapshot is served.
    pub(super) fn check(&self) -> Result<()> {
        if self.conns.is_closed() {
            return Err(Error::StoreClosed);
        }
        let staleness = self.options().max_staleness.as_nanos() as u64;
        if staleness > 0
            && self
                .now_ns()
                .saturating_sub(self.last_check_ns.load(Relaxed))
                < staleness
        {
            return Ok(());
        }
        match self.conns.read(|conn, seen| self.refresh(conn, seen)) {
            Ok(()) => self.tracker.succeeded(),
            Err(Error::StoreClosed) => return Err(Error::StoreClosed),
            Err(e) => self.tracker.failed(&e),
        }
        if staleness > 0 {
            self.last_check_ns.store(self.now_ns().max(1), Relaxed);
        }
        Ok(())
    }

    fn refresh(&self, conn: &rusqlite::Connection, seen: &mut Option<i64>) -> Result<()> {
        // data_version is frozen inside a transaction, so read it first: a commit landing in
        // between only makes the next check look once more.
        let version = db::data_version(conn)?;
        if *seen == Some(version) {
            return Ok(());
        }
        let current = self.snapshot.load_full();
        // Cached BEGIN and COMMIT: this runs after every commit of the host's, most of them
        // to other tables, which the feed's counter tells in two cached queries.
        let tx = db::CachedTx::deferred(conn)?;
        let refresh = feed::catch_up(conn, &current)?;
        tx.commit()?;
        match refresh {
            Refresh::Unchanged => {}
            Refresh::Incremental(s) => {
                self.install(Arc::new(s));
                self.tracker.refreshed(RefreshKind::Incremental);
            }
            Refresh::Full(s) => {
                self.install(Arc::new(s));
                self.tracker.refreshed(RefreshKind::Full);
            }
        }
        *seen = Some(version);
        Ok(())
    }
}

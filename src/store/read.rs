//! The read path's coherence check (behaviour B13): the feed's counter and the schema unchanged
//! → nothing to do; moved → bring the snapshot up to date from the change feed, applying only
//! the changed rows. Without the feed, a moved `PRAGMA data_version` reloads. It runs on the
//! read connection alone, so it never waits for a write, its fsync, or SQLite's write lock.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::Store;
use crate::db;
use crate::error::{Error, Result};
use crate::feed;
use crate::snapshot::Snapshot;

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

    fn refresh(&self, conn: &rusqlite::Connection, seen: &mut Seen) -> Result<()> {
        let current = self.snapshot.load_full();
        let was = current.position();
        let mut version = None;
        if was.triggers {
            // The feed is on: its counter alone says whether a mapping changed, in one
            // statement, whatever the host commits to its other tables.
            if let Ok(p) = feed::probe(conn) {
                if !p.schema_moved && seen.schema == Some(was.schema) && p.seq == was.seq {
                    return Ok(());
                }
            }
        } else {
            // No feed: any commit to the file may have changed a mapping, and two snapshots at
            // one position may differ (unlogged changes), so the one this connection checked
            // must still be the one served. data_version is frozen inside a transaction, so
            // read it first: a commit landing in between only makes the next check look again.
            let v = db::data_version(conn)?;
            let same = seen
                .checked
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &current));
            if seen.data_version == Some(v) && same {
                return Ok(());
            }
            version = Some(v);
        }
        // Forget what was seen until this look succeeds: a look that fails (the probe's
        // "schema moved" is spent) must not let the next check skip.
        *seen = Seen::default();
        // Cached BEGIN and COMMIT: the position, the log and the rows from one state.
        let tx = db::CachedTx::deferred(conn)?;
        let refresh = feed::catch_up(conn, &current)?;
        tx.commit()?;
        let schema = match super::refreshed(refresh) {
            None => was.schema,
            Some((s, kind)) => {
                let schema = s.position().schema;
                self.install(Arc::new(s));
                self.tracker.refreshed(kind);
                schema
            }
        };
        *seen = Seen {
            data_version: version,
            schema: Some(schema),
            // Held (not just its address) so that a later snapshot can never pass for it.
            checked: version.map(|_| self.snapshot.load_full()),
        };
        // The last reference to what was replaced may be this one.
        super::retire(current);
        Ok(())
    }
}

/// What the read connection last learnt of the database, for its next check to compare with.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// `PRAGMA data_version`, compared while the feed is off.
    data_version: Option<i64>,
    /// `PRAGMA schema_version` as of the last precise look.
    schema: Option<i64>,
    /// The snapshot served after that look, kept while the feed is off.
    checked: Option<Arc<Snapshot>>,
}

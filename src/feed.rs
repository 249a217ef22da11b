//! The change feed (behaviour B12, B13): a counter and a log of every change to the mapping table
//! and the blocked list, kept by triggers in the writer's own transaction, whoever the writer
//! is. A snapshot remembers its [`Position`] in the feed; [`catch_up`] brings it to what a
//! transaction sees by applying only the changed rows, or reloads everything when the feed
//! cannot say what changed (schema changed, triggers missing, log pruned or tampered with, a
//! bulk import).

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};

use crate::db::{self, ROW_COLUMNS};
use crate::error::Result;
use crate::normalize;
use crate::snapshot::{Position, Snapshot};

const TRIGGERS_SQL: &str = include_str!("sql/feed_triggers.sql");

/// The feed's triggers, as named in `sql/feed_triggers.sql`, with the table each belongs on.
pub(crate) const TRIGGERS: [(&str, &str); 8] = [
    ("mm_feed_mappings_bi", "llm_model_mappings"),
    ("mm_feed_mappings_ai", "llm_model_mappings"),
    ("mm_feed_mappings_bu", "llm_model_mappings"),
    ("mm_feed_mappings_au", "llm_model_mappings"),
    ("mm_feed_mappings_ad", "llm_model_mappings"),
    ("mm_feed_blocked_ai", "mm_blocked_models"),
    ("mm_feed_blocked_au", "mm_blocked_models"),
    ("mm_feed_blocked_ad", "mm_blocked_models"),
];

/// The columns of `llm_model_mappings` the triggers copy: without one of them a trigger would
/// make the host's own writes fail, so the feed stays off instead.
const COPIED_COLUMNS: [&str; 9] = [
    "id",
    "scope_type",
    "scope_key",
    "name",
    "default_model",
    "candidates_json",
    "is_active",
    "updated_at",
    "metadata_json",
];

/// More changes than this since a snapshot: a full reload is as quick as applying them.
const MAX_INCREMENTAL: i64 = 512;

/// Reads the feed's counter (one row of `sqlite_sequence`, kept by `mm_changes`'s AUTOINCREMENT).
const COUNTER_SQL: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'mm_changes'";

/// The feed's counter: the `seq` of the last change ever logged (deleting entries does not
/// lower it; 0 when the counter row is missing).
pub(crate) fn counter(conn: &Connection) -> Result<i64> {
    let mut stmt = match conn.prepare_cached(COUNTER_SQL) {
        Ok(stmt) => stmt,
        // A database the library never wrote to (read by a read-only store) may have no
        // AUTOINCREMENT table at all, hence no `sqlite_sequence`: no change was ever logged.
        Err(_) if !db::table_exists(conn, "sqlite_sequence")? => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    read_counter(&mut stmt)
}

fn read_counter(stmt: &mut rusqlite::Statement<'_>) -> Result<i64> {
    Ok(stmt
        .query_row([], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0))
}

/// What [`probe`] saw.
pub(crate) struct Probe {
    /// The feed's counter.
    pub seq: i64,
    /// The schema may have changed since this connection last ran the probe.
    pub schema_moved: bool,
}

/// The read path's whole check while the feed is on: the counter, read by one statement in a
/// read transaction of its own (any other table's commits leave it alone), and whether the
/// schema moved since the statement last ran — SQLite compiles a statement again whenever the
/// schema changed under it, and counts that. A statement that never ran (new, or dropped from
/// the cache) cannot tell, so it says "moved": the caller then looks precisely.
///
/// It does not read the entry under the counter (that would double its cost on every read):
/// a log emptied together with its counter row and filled again to exactly a snapshot's
/// number before that store reads again goes unseen until the next change.
pub(crate) fn probe(conn: &Connection) -> Result<Probe> {
    use rusqlite::StatementStatus::{RePrepare, Run};
    let mut stmt = conn.prepare_cached(COUNTER_SQL)?;
    let fresh = stmt.get_status(Run) == 0;
    let seq = read_counter(&mut stmt)?;
    let recompiled = stmt.reset_status(RePrepare) > 0;
    Ok(Probe {
        seq,
        schema_moved: fresh || recompiled,
    })
}

/// `PRAGMA schema_version`: moves with every schema change by anyone.
pub(crate) fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("PRAGMA schema_version")?
        .query_row([], |r| r.get(0))?)
}

/// How many of the feed's triggers are in place: named as ours and on the table they belong
/// on (a renamed table takes its triggers along, and `CREATE TRIGGER IF NOT EXISTS` would then
/// leave its replacement without any).
fn triggers_present(conn: &Connection) -> Result<usize> {
    let placed: Vec<String> = TRIGGERS
        .iter()
        .map(|(name, table)| format!("(name = '{name}' AND lower(tbl_name) = '{table}')"))
        .collect();
    let sql = format!(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND ({})",
        placed.join(" OR ")
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([], |r| r.get::<_, i64>(0))? as usize)
}

/// Where the database stands now, as `conn`'s transaction sees it. Whether the triggers are
/// in place is looked up only when the schema moved since `known` (or they were missing):
/// nothing else can remove them.
pub(crate) fn position(conn: &Connection, known: Position) -> Result<Position> {
    let schema = schema_version(conn)?;
    let triggers = if schema == known.schema && known.triggers {
        true
    } else {
        triggers_present(conn)? == TRIGGERS.len()
    };
    let seq = counter(conn)?;
    Ok(Position {
        seq,
        schema,
        triggers,
        tip: entry_fingerprint(conn, seq)?.unwrap_or(0),
        restarts: known.restarts,
    })
}

/// A fingerprint of log entry `seq` (when and what it logged), or `None` when there
/// is no such entry. Read on the precise path only, so it can afford the row images' small
/// columns: two entries under one number differ here unless the same change was logged in the
/// same second.
fn entry_fingerprint(conn: &Connection, seq: i64) -> Result<Option<u64>> {
    use rusqlite::types::ValueRef;
    use std::hash::{BuildHasher, Hash, Hasher};
    if seq == 0 {
        // Nothing logged yet (or no log at all, on a database a read-only store looks at).
        return Ok(None);
    }
    // Not `source` and `actor`: the library's own write marks its entries after logging them.
    const COLUMNS: usize = 8;
    Ok(conn
        .prepare_cached(
            "SELECT at, op, old_rowid, new_rowid, o_updated_at, n_updated_at, \
             n_default_model, n_is_active FROM mm_changes WHERE seq = ?1",
        )?
        .query_row([seq], |r| {
            let mut h = foldhash::fast::FixedState::with_seed(0x6d6d_5f74_6970).build_hasher();
            for i in 0..COLUMNS {
                match r.get_ref(i)? {
                    ValueRef::Null => 0u8.hash(&mut h),
                    ValueRef::Integer(v) => (1u8, v).hash(&mut h),
                    ValueRef::Real(v) => (2u8, v.to_bits()).hash(&mut h),
                    ValueRef::Text(v) => (3u8, v).hash(&mut h),
                    ValueRef::Blob(v) => (4u8, v).hash(&mut h),
                }
            }
            // 0 stands for "no entry".
            Ok(h.finish().max(1))
        })
        .optional()?)
}

/// Whether the host's table has every column the triggers copy.
fn table_fits(conn: &Connection) -> Result<bool> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('llm_model_mappings')")?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(COPIED_COLUMNS
        .iter()
        .all(|c| names.iter().any(|n| n.eq_ignore_ascii_case(c))))
}

/// What [`ensure_triggers`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Triggers {
    /// All in place already.
    Present,
    /// Some were missing and have been created (a `resync` entry tells every reader to
    /// reload fully: changes made meanwhile were not logged).
    Recreated,
    /// The host's table lacks a column the triggers copy: none installed, the feed is off.
    Unfit,
}

/// Whether all the feed's triggers are in place.
pub(crate) fn triggers_in_place(conn: &Connection) -> Result<bool> {
    Ok(triggers_present(conn)? == TRIGGERS.len())
}

/// Creates the feed's missing triggers. Call inside a write transaction.
pub(crate) fn ensure_triggers(conn: &Connection) -> Result<Triggers> {
    if triggers_in_place(conn)? {
        return Ok(Triggers::Present);
    }
    if !table_fits(conn)? {
        return Ok(Triggers::Unfit);
    }
    // Ours by name but on another table (renamed away) must go before they can be re-created.
    drop_triggers(conn)?;
    conn.execute_batch(TRIGGERS_SQL)?;
    log_own(conn, "resync", None)?;
    Ok(Triggers::Recreated)
}

/// Installs the feed's triggers when some are missing, in a write transaction of its own
/// (taken only then).
pub(crate) fn install_if_missing(conn: &mut Connection) -> Result<Triggers> {
    if triggers_in_place(conn)? {
        return Ok(Triggers::Present);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let done = ensure_triggers(&tx)?;
    tx.commit()?;
    Ok(done)
}

/// Drops the feed's triggers (and nothing else). Call inside a write transaction.
pub(crate) fn drop_triggers(conn: &Connection) -> Result<()> {
    for (t, _) in TRIGGERS {
        conn.execute_batch(&format!("DROP TRIGGER IF EXISTS {t}"))?;
    }
    Ok(())
}

/// Logs an entry of the library's own (`bulk`: rows changed without an entry each, so
/// readers reload fully).
pub(crate) fn log_own(conn: &Connection, op: &str, actor: Option<&str>) -> Result<()> {
    conn.prepare_cached("INSERT INTO mm_changes (op, source, actor) VALUES (?1, 'library', ?2)")?
        .execute((op, actor))?;
    Ok(())
}

/// Marks the entries after `after` (this transaction's own) as the library's.
pub(crate) fn mark_own(conn: &Connection, after: i64, actor: Option<&str>) -> Result<()> {
    conn.prepare_cached("UPDATE mm_changes SET source = 'library', actor = ?2 WHERE seq > ?1")?
        .execute((after, actor))?;
    Ok(())
}

/// Changes kept at least, and days they are kept at least, when the log is pruned.
const KEEP_CHANGES: i64 = 10_000;
const KEEP_DAYS: i64 = 90;
/// The log is pruned by the write that takes the counter past a multiple of this: often
/// enough to stay near its bound, rarely enough to cost writes nothing measurable.
const PRUNE_EVERY: i64 = 256;

/// Deletes log entries beyond retention (the last [`KEEP_CHANGES`] and at least [`KEEP_DAYS`]
/// days are kept) when this write's changes `(from, to]` crossed a multiple of
/// [`PRUNE_EVERY`]. A store still standing before a pruned entry sees the gap and reloads fully.
pub(crate) fn prune(conn: &Connection, from: i64, to: i64) -> Result<()> {
    if to / PRUNE_EVERY == from / PRUNE_EVERY {
        return Ok(());
    }
    conn.prepare_cached(
        "DELETE FROM mm_changes WHERE seq <= ?1 \
         AND at < strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', ?2)",
    )?
    .execute((to - KEEP_CHANGES, format!("-{KEEP_DAYS} days")))?;
    Ok(())
}

/// How a snapshot was brought up to date.
pub(crate) enum Refresh {
    /// Nothing changed.
    Unchanged,
    /// Only the changed rows were applied.
    Incremental(Snapshot),
    /// Everything was read again.
    Full(Snapshot),
}

/// Reads the whole table and blocked set, standing at `pos`. Call inside a transaction.
///
/// On a read-only connection a table that does not exist reads as empty: a read-only store may
/// look at a database the library never set up (the host's `llm_model_mappings` alone, or
/// nothing at all).
pub(crate) fn load(conn: &Connection, pos: Position) -> Result<Snapshot> {
    // Only a read-only store may find a table missing; a store that set the tables up treats
    // a vanished one as the failure it is (an empty blocked list would unblock every model).
    let absent = |table: &str| -> Result<bool> {
        Ok(conn.is_readonly(rusqlite::MAIN_DB)? && !db::table_exists(conn, table)?)
    };
    let blocked = match db::read_blocked(conn) {
        Ok(blocked) => blocked,
        Err(_) if absent("mm_blocked_models")? => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut snap = Snapshot::from_rows([], blocked);
    match db::for_each_row(conn, |r| snap.add_row(r.row, r.mapping)) {
        Ok(()) => {}
        Err(_) if absent("llm_model_mappings")? => {}
        Err(e) => return Err(e),
    }
    Ok(snap.at(pos))
}

/// Reads the whole table and blocked set in a read transaction of its own.
pub(crate) fn load_now(conn: &Connection) -> Result<Snapshot> {
    let tx = db::CachedTx::deferred(conn)?;
    let snap = load(conn, position(conn, Position::default())?)?;
    tx.commit()?;
    Ok(snap)
}

/// One logged change, as far as a refresh needs it.
struct Change {
    seq: i64,
    op: String,
    old_rowid: Option<i64>,
    old_scope: Option<(String, String)>,
    new_rowid: Option<i64>,
}

/// Brings `snap` up to date with what `conn`'s transaction sees. Call inside a transaction
/// (a read one on the read path, the write one on the write path), so the position, the log
/// and the rows are read from one state of the database.
pub(crate) fn catch_up(conn: &Connection, snap: &Snapshot) -> Result<Refresh> {
    let was = snap.position();
    let mut pos = position(conn, was)?;
    if pos == was && pos.triggers {
        return Ok(Refresh::Unchanged);
    }
    // The log started over (emptied with its counter, or an older copy of the file restored):
    // the counter is below the snapshot's, or another entry stands under the snapshot's number.
    let entry_now = if pos.seq == was.seq {
        Some(pos.tip).filter(|t| *t != 0)
    } else if pos.seq > was.seq {
        entry_fingerprint(conn, was.seq)?
    } else {
        None
    };
    let restarted =
        pos.seq < was.seq || matches!(entry_now, Some(t) if was.tip != 0 && t != was.tip);
    if restarted {
        pos.restarts = was.restarts + 1;
        return Ok(Refresh::Full(load(conn, pos)?));
    }
    // Same counter but not the same position: the schema moved, the triggers changed, or the
    // snapshot's own entry is gone; none of these says which rows changed.
    if !pos.triggers || !was.triggers || pos.schema != was.schema || pos.seq == was.seq {
        return Ok(Refresh::Full(load(conn, pos)?));
    }
    let changes = match changes_since(conn, was.seq, pos.seq)? {
        Some(c) => c,
        None => return Ok(Refresh::Full(load(conn, pos)?)),
    };
    Ok(Refresh::Incremental(apply(conn, snap, &changes, pos)?))
}

/// The log entries after `from` up to `to`, or `None` when they cannot be applied one by one:
/// too many, a gap (pruned or deleted entries), or an entry that changed rows without saying
/// which (`bulk`, `resync`, or an operation this version does not know).
fn changes_since(conn: &Connection, from: i64, to: i64) -> Result<Option<Vec<Change>>> {
    if to - from > MAX_INCREMENTAL {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT seq, op, old_rowid, o_scope_type, o_scope_key, new_rowid \
         FROM mm_changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let text = |v: rusqlite::types::ValueRef<'_>| match v {
        rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_owned),
        _ => None,
    };
    let rows = stmt.query_map((from, to), |r| {
        Ok(Change {
            seq: r.get(0)?,
            op: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            old_rowid: r.get(2)?,
            old_scope: text(r.get_ref(3)?).zip(text(r.get_ref(4)?)),
            new_rowid: r.get(5)?,
        })
    })?;
    let mut out = Vec::new();
    let mut expect = from + 1;
    for c in rows {
        let c = c?;
        let known = matches!(
            c.op.as_str(),
            "insert" | "update" | "delete" | "block" | "unblock" | "reblock"
        );
        if c.seq != expect || !known {
            return Ok(None);
        }
        expect += 1;
        out.push(c);
    }
    Ok((expect == to + 1).then_some(out))
}

/// `snap` with the changes applied: each row a change touched leaves the slot the log says it
/// was in (where `snap`, standing just before the change, holds it) and, when it still
/// exists, is read again as the table holds it now.
fn apply(
    conn: &Connection,
    snap: &Snapshot,
    changes: &[Change],
    pos: Position,
) -> Result<Snapshot> {
    let mut gone = Vec::new();
    let mut rowids = Vec::new();
    let mut blocked_moved = false;
    for c in changes {
        match c.op.as_str() {
            "block" | "unblock" | "reblock" => blocked_moved = true,
            _ => {
                if let (Some(rowid), Some((ty, key))) = (c.old_rowid, &c.old_scope) {
                    if let (Ok(ty), Ok(key)) =
                        (normalize::scope_type(ty), normalize::scope_key(key))
                    {
                        gone.push((ty, key.to_owned(), rowid));
                    }
                }
                rowids.extend(c.old_rowid);
                rowids.extend(c.new_rowid);
            }
        }
    }
    rowids.sort_unstable();
    rowids.dedup();
    let mut now = Vec::with_capacity(rowids.len());
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM llm_model_mappings WHERE rowid = ?1"
    ))?;
    for rowid in rowids {
        if let Some(Some(r)) = stmt.query_row([rowid], db::read_row).optional()? {
            now.push((Arc::new(r.mapping), r.row));
        }
    }
    let next = snap.with_rows(&gone, now, pos);
    Ok(if blocked_moved {
        next.with_blocked(db::read_blocked(conn)?)
    } else {
        next
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two connections to one WAL file holding the feed's tables: the reader and the host.
    fn pair() -> (tempfile::TempDir, Connection, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.db");
        let host = Connection::open(&path).unwrap();
        host.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE other (id INTEGER PRIMARY KEY, n);",
        )
        .unwrap();
        host.execute_batch(include_str!("sql/v2.sql")).unwrap();
        let reader = Connection::open(&path).unwrap();
        (dir, reader, host)
    }

    #[test]
    fn a_probe_that_never_ran_says_the_schema_may_have_moved() {
        let (_dir, reader, _host) = pair();
        assert!(probe(&reader).unwrap().schema_moved);
        assert!(!probe(&reader).unwrap().schema_moved);
    }

    #[test]
    fn another_tables_commit_moves_neither_the_counter_nor_the_schema() {
        let (_dir, reader, host) = pair();
        let first = probe(&reader).unwrap();
        host.execute("INSERT INTO other (n) VALUES (1)", [])
            .unwrap();
        let next = probe(&reader).unwrap();
        assert_eq!((next.seq, next.schema_moved), (first.seq, false));
    }

    #[test]
    fn a_logged_change_moves_the_counter() {
        let (_dir, reader, host) = pair();
        let first = probe(&reader).unwrap();
        log_own(&host, "resync", None).unwrap();
        assert_eq!(probe(&reader).unwrap().seq, first.seq + 1);
    }

    #[test]
    fn any_schema_change_by_another_connection_is_seen_once() {
        let (_dir, reader, host) = pair();
        probe(&reader).unwrap();
        for ddl in [
            "CREATE TABLE t (x)",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
            "DROP TRIGGER tr",
            "CREATE INDEX i ON other (n)",
            "DROP TABLE t",
            "VACUUM",
        ] {
            host.execute_batch(ddl).unwrap();
            assert!(probe(&reader).unwrap().schema_moved, "{ddl}");
            assert!(!probe(&reader).unwrap().schema_moved, "{ddl}, twice");
        }
    }

    #[test]
    fn a_probe_compiled_again_after_the_cache_dropped_it_says_the_schema_may_have_moved() {
        let (_dir, reader, host) = pair();
        probe(&reader).unwrap();
        host.execute_batch("DROP TABLE other").unwrap();
        reader.flush_prepared_statement_cache();
        assert!(probe(&reader).unwrap().schema_moved);
    }
}

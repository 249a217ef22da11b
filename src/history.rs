//! History, undo and point-in-time rollback (behaviour B20), read from the change feed's log
//! (`crate::feed`): every change to a mapping or to the blocked list, whoever made it, with
//! the row before and after it.
//!
//! A past state is the table as it is now with the logged changes after that point undone,
//! newest first, row by row (by rowid, with the images the triggers kept); it is then read
//! with the same rules as the table itself (behaviour B11). Restoring writes the mappings that
//! differ as new changes: a restored row carries the time of the restore, so last-writer-wins
//! merges and pulls treat it as the newest edit.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::db::{self, RowRef};
use crate::error::{Error, Result};
use crate::feed;
use crate::model::{Mapping, MappingInput};
use crate::normalize::MappingId;
use crate::snapshot::Snapshot;
use crate::timestamp;

/// One recorded change (behaviour B20).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Its place in the log; larger is later.
    pub seq: i64,
    /// When it was committed (UTC, `2026-01-08T02:07:59+00:00`).
    pub at: String,
    /// `insert`, `update`, `delete` (a mapping), `block`, `unblock`, `reblock` (the blocked
    /// list), `bulk` or `resync` (rows changed without an entry each: a legacy import, or
    /// triggers re-created after they were missing), `init` (the log began).
    pub op: String,
    /// The mapping's normalised id (the one after the change, else before), or the model for
    /// a blocked-list change.
    pub id: Option<String>,
    /// The mapping before the change (behaviour B3 shape), when there was one.
    pub before: Option<Mapping>,
    /// The mapping after the change, when there is one.
    pub after: Option<Mapping>,
    /// `library` for this library's own writes, `external` for anyone else's.
    pub source: String,
    /// Who the library's caller said made the change (a dashboard user), if anyone.
    pub actor: Option<String>,
}

/// A state to go back to: right after a change, or as it was at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// Right after the change with this `seq`.
    Seq(i64),
    /// As it was at this instant (RFC 3339; `Z` or an offset).
    Time(String),
}

impl RollbackTarget {
    /// A change's `seq` (digits) or a time (anything else, checked when used): the form the
    /// C ABI, the binding and the CLI take.
    pub fn parse(text: &str) -> RollbackTarget {
        let t = text.trim();
        match t.parse::<i64>() {
            Ok(seq) => RollbackTarget::Seq(seq),
            Err(_) => RollbackTarget::Time(t.to_owned()),
        }
    }
}

/// What an undo or a rollback writes (or, with `dry_run`, would write).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePlan {
    /// The change undone, or the last change the restored state includes.
    pub seq: i64,
    /// Mappings written back, as they were.
    pub restore: Vec<Mapping>,
    /// Ids deleted (they did not exist then).
    pub delete: Vec<String>,
    /// Models blocked again.
    pub block: Vec<String>,
    /// Models unblocked.
    pub unblock: Vec<String>,
    /// Nothing was written.
    pub dry_run: bool,
}

impl RestorePlan {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.restore.is_empty()
            && self.delete.is_empty()
            && self.block.is_empty()
            && self.unblock.is_empty()
    }
}

type Image = [Value; 9];

/// A log row as stored.
struct Logged {
    seq: i64,
    at: String,
    op: String,
    source: String,
    actor: Option<String>,
    old_rowid: Option<i64>,
    old: Option<Image>,
    new_rowid: Option<i64>,
    new: Option<Image>,
}

const LOG_COLUMNS: &str =
    "seq, at, op, source, actor, old_rowid, o_id, o_scope_type, o_scope_key, \
    o_name, o_default_model, o_candidates_json, o_is_active, o_updated_at, o_metadata_json, \
    new_rowid, n_id, n_scope_type, n_scope_key, n_name, n_default_model, n_candidates_json, \
    n_is_active, n_updated_at, n_metadata_json";

/// Nine columns from `from` on.
fn image_at(r: &rusqlite::Row<'_>, from: usize) -> rusqlite::Result<Image> {
    let mut out: Image = std::array::from_fn(|_| Value::Null);
    for (i, v) in out.iter_mut().enumerate() {
        *v = r.get(from + i)?;
    }
    Ok(out)
}

fn read_logged(r: &rusqlite::Row<'_>) -> rusqlite::Result<Logged> {
    let image = |from: usize| -> rusqlite::Result<Option<Image>> {
        let values = image_at(r, from)?;
        Ok((!values.iter().all(|v| *v == Value::Null)).then_some(values))
    };
    Ok(Logged {
        seq: r.get(0)?,
        at: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        op: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        source: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        actor: r.get(4)?,
        old_rowid: r.get(5)?,
        old: image(6)?,
        new_rowid: r.get(15)?,
        new: image(16)?,
    })
}

/// The log entries with `seq` in `(after, upto]`, newest first.
fn log_between(conn: &Connection, after: i64, upto: i64) -> Result<Vec<Logged>> {
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM mm_changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq DESC"
    );
    let mut stmt = match conn.prepare_cached(&sql) {
        Ok(stmt) => stmt,
        Err(_) if !db::table_exists(conn, "mm_changes")? => {
            return Err(Error::HistoryUnavailable(
                "this database has no change log (the library never set it up)".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let rows = stmt.query_map((after, upto), read_logged)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn refs(image: &Image) -> [ValueRef<'_>; 9] {
    std::array::from_fn(|i| ValueRef::from(&image[i]))
}

fn mapping_of(image: &Option<Image>) -> Option<Mapping> {
    image
        .as_ref()
        .and_then(|i| db::read_columns(refs(i)))
        .map(|(m, _)| m)
}

/// The first column of an image as text (a blocked-list entry logs the model there).
fn model_of(image: &Option<Image>) -> Option<String> {
    match image.as_ref().map(|i| &i[0]) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

impl Logged {
    fn is_blocked_list(&self) -> bool {
        matches!(self.op.as_str(), "block" | "unblock" | "reblock")
    }

    fn change(&self) -> Change {
        let (before, after) = if self.is_blocked_list() {
            (None, None)
        } else {
            (mapping_of(&self.old), mapping_of(&self.new))
        };
        let id = if self.is_blocked_list() {
            model_of(&self.new).or_else(|| model_of(&self.old))
        } else {
            after.as_ref().or(before.as_ref()).map(|m| m.id.clone())
        };
        Change {
            seq: self.seq,
            at: self.at.clone(),
            op: self.op.clone(),
            id,
            before,
            after,
            source: self.source.clone(),
            actor: self.actor.clone(),
        }
    }

    /// The mapping ids (normalised) or models this change touched.
    fn touches(&self) -> BTreeSet<String> {
        if self.is_blocked_list() {
            return [model_of(&self.old), model_of(&self.new)]
                .into_iter()
                .flatten()
                .collect();
        }
        [mapping_of(&self.old), mapping_of(&self.new)]
            .into_iter()
            .flatten()
            .map(|m| m.id)
            .collect()
    }
}

/// Recorded changes, newest first: those after `since_seq`, touching `id` when given (in any
/// spelling it was stored), at most `limit`.
pub(crate) fn history(
    conn: &Connection,
    id: Option<&MappingId>,
    since_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<Change>> {
    if !db::table_exists(conn, "mm_changes")? {
        // A database the library never set up (read by a read-only store): nothing recorded.
        return Ok(Vec::new());
    }
    let want = id.map(MappingId::id);
    let mut out = Vec::new();
    for logged in log_between(conn, since_seq.unwrap_or(0), i64::MAX)? {
        if out.len() >= limit {
            break;
        }
        if logged.op == "init" {
            continue;
        }
        if let Some(want) = &want {
            if logged.is_blocked_list() || !logged.touches().contains(want) {
                continue;
            }
        }
        out.push(logged.change());
    }
    Ok(out)
}

/// The oldest entry kept, if any.
fn oldest(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .prepare_cached("SELECT seq, at FROM mm_changes ORDER BY seq LIMIT 1")?
        .query_row([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })
        .optional()?)
}

/// The `seq` a target names: itself, or the last change at or before the time.
pub(crate) fn resolve_target(conn: &Connection, target: &RollbackTarget) -> Result<i64> {
    match target {
        RollbackTarget::Seq(seq) => Ok(*seq),
        RollbackTarget::Time(text) => {
            let at = timestamp::parse(text)
                .map(timestamp::format)
                .ok_or_else(|| Error::payload("at", format!("not an RFC 3339 time: {text:?}")))?;
            let seq: Option<i64> = conn
                .prepare_cached("SELECT max(seq) FROM mm_changes WHERE at <= ?1")?
                .query_row([&at], |r| r.get(0))?;
            match (seq, oldest(conn)?) {
                // The log begins with the library itself: a time before it is a time before
                // any change the library could know of.
                (Some(seq), _) => Ok(seq),
                (None, Some((_, first_at))) => Err(Error::HistoryUnavailable(format!(
                    "{at} is before the oldest change kept ({first_at})"
                ))),
                (None, None) => Err(Error::HistoryUnavailable("the change log is empty".into())),
            }
        }
    }
}

/// The log after `seq` up to now, checked complete: every entry present (none pruned or
/// deleted) and each one describing its rows.
fn complete_log_after(conn: &Connection, seq: i64) -> Result<Vec<Logged>> {
    let counter = feed::counter(conn)?;
    if seq < 0 || seq > counter {
        return Err(Error::HistoryUnavailable(format!(
            "no change {seq} in the log (the last is {counter})"
        )));
    }
    let log = log_between(conn, seq, counter)?;
    let expected = (counter - seq) as usize;
    if log.len() != expected {
        let kept = oldest(conn)?.map_or(0, |(s, _)| s);
        return Err(Error::HistoryUnavailable(format!(
            "changes after {seq} are no longer all kept (the log keeps {kept} to {counter})"
        )));
    }
    if let Some(bulk) = log
        .iter()
        .find(|l| matches!(l.op.as_str(), "bulk" | "resync"))
    {
        return Err(Error::HistoryUnavailable(format!(
            "change {} ({}) replaced rows without recording each one; the state before it \
             cannot be rebuilt",
            bulk.seq, bulk.op
        )));
    }
    Ok(log)
}

/// The table and blocked list as they were right after change `seq`, read with the table's
/// rules.
fn state_at(conn: &Connection, seq: i64) -> Result<(Snapshot, BTreeSet<String>)> {
    let log = complete_log_after(conn, seq)?;
    let mut rows: BTreeMap<i64, Image> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM llm_model_mappings",
            db::ROW_COLUMNS
        ))?;
        let found = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, image_at(r, 1)?)))?;
        for row in found {
            let (rowid, image) = row?;
            rows.insert(rowid, image);
        }
    }
    let mut blocked: BTreeSet<String> = db::read_blocked(conn)?.into_iter().collect();
    for l in &log {
        match l.op.as_str() {
            "block" => {
                if let Some(m) = model_of(&l.new) {
                    blocked.remove(&m);
                }
            }
            "unblock" => blocked.extend(model_of(&l.old)),
            "reblock" => {
                if let Some(m) = model_of(&l.new) {
                    blocked.remove(&m);
                }
                blocked.extend(model_of(&l.old));
            }
            _ => {
                if let Some(rowid) = l.new_rowid {
                    rows.remove(&rowid);
                }
                if let (Some(rowid), Some(image)) = (l.old_rowid, &l.old) {
                    rows.insert(rowid, image.clone());
                }
            }
        }
    }
    let mappings = rows.iter().filter_map(|(rowid, image)| {
        db::read_columns(refs(image)).map(|(m, normal)| {
            (
                Arc::new(m),
                RowRef {
                    rowid: *rowid,
                    normal,
                },
            )
        })
    });
    Ok((Snapshot::from_rows(mappings, Vec::<String>::new()), blocked))
}

/// `m` as a new write: the same content, written now.
pub(crate) fn rewritten(m: &Mapping) -> Result<Mapping> {
    MappingInput {
        scope_type: m.scope_type.clone(),
        scope_key: m.scope_key.clone(),
        name: m.name.clone(),
        default_model: m.default_model.clone(),
        candidates: m.candidates.clone(),
        is_active: m.is_active,
        metadata: m.metadata.clone(),
        updated_at: None,
    }
    .into_mapping(false)
}

/// What restoring the state right after change `seq` changes in `current` (the table as the
/// same transaction sees it).
pub(crate) fn plan_rollback(
    conn: &Connection,
    current: &Snapshot,
    seq: i64,
) -> Result<RestorePlan> {
    let (then, blocked_then) = state_at(conn, seq)?;
    let now: BTreeMap<String, Arc<Mapping>> = current
        .list(None, None)
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    let past: BTreeMap<String, Arc<Mapping>> = then
        .list(None, None)
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    let restore = past
        .iter()
        .filter(|(id, m)| now.get(*id).is_none_or(|n| !n.same_content(m)))
        .map(|(_, m)| (**m).clone())
        .collect();
    let delete = now
        .keys()
        .filter(|id| !past.contains_key(*id))
        .cloned()
        .collect();
    let blocked_now: BTreeSet<String> = current.blocked().iter().cloned().collect();
    Ok(RestorePlan {
        seq,
        restore,
        delete,
        block: blocked_then.difference(&blocked_now).cloned().collect(),
        unblock: blocked_now.difference(&blocked_then).cloned().collect(),
        dry_run: true,
    })
}

/// What undoing change `seq` writes: the mapping (or blocked entry) as it was before it.
/// Fails when a later change touched the same id or model, naming it, unless `force`.
pub(crate) fn plan_undo(conn: &Connection, seq: i64, force: bool) -> Result<RestorePlan> {
    let counter = feed::counter(conn)?;
    let entry = log_between(conn, seq - 1, seq)?.pop().ok_or_else(|| {
        Error::HistoryUnavailable(format!(
            "no change {seq} in the log (the last is {counter}; older ones may be pruned)"
        ))
    })?;
    if matches!(entry.op.as_str(), "bulk" | "resync" | "init") {
        return Err(Error::HistoryUnavailable(format!(
            "change {seq} ({}) recorded no rows to put back",
            entry.op
        )));
    }
    let touched = entry.touches();
    if !force {
        if let Some(later) = log_between(conn, seq, counter)?
            .into_iter()
            .rev()
            .find(|l| {
                !l.touches().is_disjoint(&touched) || matches!(l.op.as_str(), "bulk" | "resync")
            })
        {
            let what = later.change();
            return Err(Error::HistoryConflict(format!(
                "change {} ({} {} at {}) came after {seq}; undo it first or force",
                later.seq,
                what.op,
                what.id.unwrap_or_default(),
                what.at
            )));
        }
    }
    let mut plan = RestorePlan {
        seq,
        restore: Vec::new(),
        delete: Vec::new(),
        block: Vec::new(),
        unblock: Vec::new(),
        dry_run: true,
    };
    if entry.is_blocked_list() {
        plan.unblock.extend(model_of(&entry.new));
        plan.block.extend(model_of(&entry.old));
        return Ok(plan);
    }
    let (before, after) = (mapping_of(&entry.old), mapping_of(&entry.new));
    if let Some(a) = &after {
        if before.as_ref().is_none_or(|b| b.id != a.id) {
            plan.delete.push(a.id.clone());
        }
    }
    plan.restore.extend(before);
    Ok(plan)
}

//! The one-time import of the backend's JSON files (behaviour B10).
//!
//! Parsing and planning are pure; `run` reads and plans the files with no lock held, then
//! applies the plan and its "done" record in one `BEGIN IMMEDIATE` transaction, so with several
//! workers starting at once exactly one imports and a crash leaves all or nothing. The legacy
//! files are only ever read, and only when they are regular files.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod doc;
pub(crate) mod export;
pub(crate) mod merge;

pub use export::ExportReport;
pub use merge::MergePlan;

use crate::db;
use crate::error::{Error, Result};
use crate::feed;
use crate::model::{IsActive, Mapping};
use crate::normalize;
use crate::snapshot::{Position, Snapshot};
use crate::timestamp;

/// The legacy mappings file in the storage dir.
pub const MAPPINGS_FILE: &str = "model_mappings.json";
/// The legacy blocked-models file in the storage dir.
pub const BLOCKED_FILE: &str = "blocked_models.json";
/// The marker older hosts write (and read) once their own migration ran.
pub const MARKER_FILE: &str = ".model_mappings_sqlite_import_done";

const MAPPINGS_RECORD: &str = "legacy_mappings_import";
const BLOCKED_RECORD: &str = "legacy_blocked_import";

/// What happened to one of the two imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationStatus {
    /// The file was imported now.
    Imported,
    /// The database already records this import.
    AlreadyDone,
    /// The marker file says an older host migrated; recorded and skipped.
    SkippedMarker,
    /// `llm_model_mappings` already has rows; recorded and skipped so deleted rows stay deleted.
    SkippedNonempty,
    /// There is no legacy file; recorded and skipped.
    SkippedNoFile,
    /// The file could not be read or parsed: nothing imported, nothing recorded, retried later.
    Failed,
}

/// One entry that was not imported, or a file that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportError {
    /// The entry (`tenant:xai`) or file (`model_mappings.json`) concerned.
    pub key: String,
    /// Why, starting with a stable code (`legacy_invalid_json: line 3 column 7: ...`).
    pub reason: String,
}

/// The migration report (behaviour B10). `blocked_status` tells the separate blocked-models import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationReport {
    /// The mappings import.
    pub status: MigrationStatus,
    /// Mappings written.
    pub imported_count: usize,
    /// Entries not written (malformed, or losing a tenant/mapping collision).
    pub skipped_count: usize,
    /// Blocked models added by this run.
    pub blocked_imported: usize,
    /// The blocked-models import.
    pub blocked_status: MigrationStatus,
    /// Every skipped entry and failed file, with the reason.
    pub errors: Vec<ReportError>,
    /// Entries imported with a correction (e.g. an unreadable `updated_at` replaced by the
    /// import time), so nothing changes silently.
    pub warnings: Vec<ReportError>,
    /// True when this report is a plan and nothing was written.
    pub dry_run: bool,
}

/// The mappings a legacy file holds, after normalisation and collision handling.
#[derive(Debug, Default)]
pub struct MappingsPlan {
    /// Validated mappings, one per id.
    pub mappings: Vec<Mapping>,
    /// Entries skipped, with reasons.
    pub errors: Vec<ReportError>,
    /// Entries imported with a correction worth knowing (an unreadable `updated_at`).
    pub warnings: Vec<ReportError>,
}

fn invalid_json(file: &str, err: &Error) -> ReportError {
    let reason = match err {
        Error::InvalidJson {
            line,
            column,
            detail,
        } => {
            format!("legacy_invalid_json: line {line} column {column}: {detail}")
        }
        other => format!("legacy_invalid_json: {other}"),
    };
    ReportError {
        key: file.to_owned(),
        reason,
    }
}

/// Parses legacy JSON bytes: a UTF-8 BOM is accepted, anything not UTF-8 is `invalid_json`.
pub fn parse_json(bytes: &[u8]) -> Result<Value> {
    serde_json::from_str(utf8_text(bytes)?).map_err(|e| Error::from_json(&e))
}

/// The text of legacy JSON bytes, without a UTF-8 BOM; anything not UTF-8 is `invalid_json`.
fn utf8_text(bytes: &[u8]) -> Result<&str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.len()
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        Error::InvalidJson {
            line,
            column,
            detail: format!("not valid UTF-8 at byte {}", e.valid_up_to()),
        }
    })
}

/// The entry that holds an id so far, while planning.
struct Seen {
    /// Index in `MappingsPlan::mappings`.
    idx: usize,
    /// `raw_type:raw_key` as the file spells it.
    label: String,
    /// The raw scope type was already normal (`mapping`, not `tenant`): it wins ties.
    normal_form: bool,
    /// The instant the entry carried, if readable.
    carried: Option<DateTime<Utc>>,
}

/// Plans the import of a parsed `model_mappings.json`. Errors only when the top level is
/// not an object.
pub fn plan_mappings(doc: &Value) -> Result<MappingsPlan> {
    plan(doc::Doc::deserialize(doc).map_err(|e| Error::from_json(&e))?)
}

/// Parses and plans `model_mappings.json` in one pass (the import's way: no JSON tree of the
/// whole file is built, copied from and freed).
fn plan_file(bytes: &[u8]) -> Result<MappingsPlan> {
    plan(serde_json::from_str(utf8_text(bytes)?).map_err(|e| Error::from_json(&e))?)
}

fn plan(doc: doc::Doc) -> Result<MappingsPlan> {
    let top = doc.object().ok_or_else(|| Error::InvalidJson {
        line: 1,
        column: 1,
        detail: "the top level must be an object of scope types".into(),
    })?;
    let mut plan = MappingsPlan::default();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let skip = |plan: &mut MappingsPlan, key: String, reason: String| {
        plan.errors.push(ReportError { key, reason })
    };
    for (raw_type, entries) in top.0 {
        let Some(entries) = entries.object() else {
            skip(
                &mut plan,
                raw_type,
                "not_an_object: a scope type must map keys to entries".into(),
            );
            continue;
        };
        let scope_type = match normalize::scope_type(&raw_type) {
            Ok(t) => t,
            Err(e) => {
                for (raw_key, _) in &entries.0 {
                    skip(
                        &mut plan,
                        normalize::joined(&raw_type, ":", raw_key),
                        e.to_string(),
                    );
                }
                continue;
            }
        };
        let normal_form = raw_type.trim() == scope_type;
        for (raw_key, entry) in entries.0 {
            let label = normalize::joined(&raw_type, ":", &raw_key);
            let Some(entry) = entry.object() else {
                skip(&mut plan, label, "entry_not_object".into());
                continue;
            };
            let Some(mapping) = entry.mapping else {
                skip(
                    &mut plan,
                    label,
                    "missing_mapping: the entry has no \"mapping\" object".into(),
                );
                continue;
            };
            let scope_key = match normalize::scope_key(&raw_key) {
                Ok(k) => k,
                Err(e) => {
                    skip(&mut plan, label, format!("empty_scope_key: {e}"));
                    continue;
                }
            };
            let gave_updated_at = !matches!(mapping.updated_at, None | Some(Value::Null));
            // The old code read these files with Python's truthiness; so does the import,
            // rather than skip (and lose) an entry whose `is_active` is `"false"` or `0`.
            let built = mapping
                .into_input(IsActive::PythonTruthy)
                .and_then(|mut input| {
                    input.scope_type = scope_type.clone();
                    input.scope_key = scope_key;
                    // The entry's own `name` wins over the mapping's.
                    if let Some(name) = entry.name {
                        input.name = match name {
                            Value::String(s) => Some(s),
                            Value::Null => None,
                            _ => return Err(Error::payload("name", "must be a string or null")),
                        };
                    }
                    // A missing or unreadable timestamp is stamped with the import time, which
                    // must not make the entry win a collision.
                    input.into_carried_mapping()
                });
            let (carried, m) = match built {
                Ok(built) => built,
                Err(e) => {
                    skip(&mut plan, label, e.to_string());
                    continue;
                }
            };
            if gave_updated_at && carried.is_none() {
                plan.warnings.push(ReportError {
                    key: label.clone(),
                    reason: "invalid_updated_at: not an RFC 3339 timestamp; imported with the import time".into(),
                });
            }
            let mine = |idx, label| Seen {
                idx,
                label,
                normal_form,
                carried,
            };
            match seen.get(&m.id) {
                None => {
                    seen.insert(m.id.clone(), mine(plan.mappings.len(), label));
                    plan.mappings.push(m);
                }
                Some(other) => {
                    let mine_wins = carried > other.carried
                        || (carried == other.carried && normal_form && !other.normal_form);
                    let (idx, other_label) = (other.idx, other.label.clone());
                    if mine_wins {
                        plan.errors.push(ReportError {
                            key: other_label,
                            reason: format!("collision_lost: {label} is newer"),
                        });
                        seen.insert(m.id.clone(), mine(idx, label));
                        plan.mappings[idx] = m;
                    } else {
                        plan.errors.push(ReportError {
                            key: label,
                            reason: format!("collision_lost: {other_label} is newer"),
                        });
                    }
                }
            }
        }
    }
    Ok(plan)
}

/// The models a parsed `blocked_models.json` lists (`{"blocked": [...]}` or a bare list).
pub fn plan_blocked(doc: &Value) -> Result<Vec<String>> {
    let list = match doc {
        Value::Array(items) => items,
        Value::Object(obj) => match obj.get("blocked") {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(_) => return Err(Error::payload("blocked", "must be a list of model names")),
        },
        _ => {
            return Err(Error::InvalidJson {
                line: 1,
                column: 1,
                detail: "the top level must be an object with a \"blocked\" list".into(),
            })
        }
    };
    let mut out: Vec<String> = list
        .iter()
        .filter_map(Value::as_str)
        .filter_map(normalize::model_name)
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// A legacy file as read from disk.
enum FileState {
    Missing,
    Bytes(Vec<u8>),
    /// Not read: the report's reason, starting with its code.
    Refused(String),
}

/// What a file type is, for a report saying why it was not read.
fn file_kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

/// Reads `storage_dir/name` when it is a regular file (a symlink to one is fine). Anything
/// else is refused without being opened: opening a FIFO waits for a writer that may never
/// come, and a device may act on being opened.
fn read_file(storage_dir: &Path, name: &str) -> FileState {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = storage_dir.join(name);
    let refused = |ft| {
        FileState::Refused(format!(
            "legacy_not_a_regular_file: {name} is {}; only a regular file is read",
            file_kind(ft)
        ))
    };
    let io_error = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => FileState::Missing,
        _ => FileState::Refused(format!("io_error: {name}: {e}")),
    };
    match std::fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => return refused(meta.file_type()),
        Ok(_) => {}
        Err(e) => return io_error(e),
    }
    // The path may be swapped for a FIFO or a device after the check: O_NONBLOCK makes
    // opening a FIFO return at once, O_NOCTTY keeps a terminal from becoming ours, and what
    // was opened is checked again before a byte is read.
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => return io_error(e),
    };
    match file.metadata() {
        Ok(meta) if !meta.is_file() => return refused(meta.file_type()),
        Ok(_) => {}
        Err(e) => return io_error(e),
    }
    let mut bytes = Vec::new();
    match file.read_to_end(&mut bytes) {
        Ok(_) => FileState::Bytes(bytes),
        Err(e) => io_error(e),
    }
}

/// A legacy file read and parsed, before any lock is taken.
pub(crate) enum Parsed<T> {
    Missing,
    /// Nothing to import; the report's error for the file.
    Failed(ReportError),
    Ready(T),
}

fn parsed<T>(storage_dir: &Path, name: &str, parse: impl FnOnce(&[u8]) -> Result<T>) -> Parsed<T> {
    match read_file(storage_dir, name) {
        FileState::Missing => Parsed::Missing,
        FileState::Refused(reason) => Parsed::Failed(ReportError {
            key: name.to_owned(),
            reason,
        }),
        FileState::Bytes(bytes) => match parse(&bytes) {
            Ok(t) => Parsed::Ready(t),
            Err(e) => Parsed::Failed(invalid_json(name, &e)),
        },
    }
}

pub(crate) fn read_mappings(storage_dir: &Path) -> Parsed<MappingsPlan> {
    parsed(storage_dir, MAPPINGS_FILE, plan_file)
}

pub(crate) fn read_blocked(storage_dir: &Path) -> Parsed<Vec<String>> {
    parsed(storage_dir, BLOCKED_FILE, |bytes| {
        parse_json(bytes).and_then(|doc| plan_blocked(&doc))
    })
}

/// What the mappings import has to do, as the database and the storage dir say now.
enum MappingsStep {
    /// The database records it.
    Done,
    /// Recorded as skipped without reading the file.
    Skip(MigrationStatus),
    /// Due, from the file.
    FromFile,
}

fn mappings_step(conn: &Connection, storage_dir: &Path) -> Result<MappingsStep> {
    if crate::schema::meta_get(conn, MAPPINGS_RECORD)?.is_some() {
        return Ok(MappingsStep::Done);
    }
    let nonempty: bool =
        conn.query_row("SELECT EXISTS(SELECT 1 FROM llm_model_mappings)", [], |r| {
            r.get(0)
        })?;
    Ok(if storage_dir.join(MARKER_FILE).exists() {
        MappingsStep::Skip(MigrationStatus::SkippedMarker)
    } else if nonempty {
        MappingsStep::Skip(MigrationStatus::SkippedNonempty)
    } else {
        MappingsStep::FromFile
    })
}

fn blocked_due(conn: &Connection) -> Result<bool> {
    Ok(crate::schema::meta_get(conn, BLOCKED_RECORD)?.is_none())
}

fn record(status: MigrationStatus, imported: usize, skipped: usize) -> String {
    json!({"status": status, "at": timestamp::now(), "imported_count": imported, "skipped_count": skipped})
        .to_string()
}

/// The table as an import that filled it from empty left it, with the cache built from the
/// imported mappings themselves instead of reading 10,000 rows back.
pub(crate) struct FilledTable {
    /// Standing at the change feed's position inside the import's transaction.
    snapshot: Snapshot,
}

impl FilledTable {
    /// The snapshot of the table.
    pub(crate) fn into_snapshot(self) -> Snapshot {
        self.snapshot
    }
}

/// Inserts the imported mappings and commits the import's transaction. Meanwhile another
/// thread builds the cache on the rowids the rows will get; the insert checks each batch's
/// rowids, so a mismatch fails (and rolls back) the import instead of caching a wrong row.
fn insert_and_commit(tx: Transaction<'_>, mappings: Vec<Mapping>) -> Result<FilledTable> {
    let mut sorted: Vec<Arc<Mapping>> = mappings.into_iter().map(Arc::new).collect();
    sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let sorted: Arc<[Arc<Mapping>]> = sorted.into();
    let blocked = db::read_blocked(&tx)?;
    // A plain thread, not a scoped one: a scope registers the calling thread with Rust's
    // runtime, which a C host's thread never releases (valgrind: "possibly lost").
    let builder = {
        let (sorted, blocked) = (Arc::clone(&sorted), blocked.clone());
        std::thread::Builder::new()
            .name("mm-import-cache".into())
            .spawn(move || imported_snapshot(&sorted, blocked))
    };
    // One `resync` entry instead of one per row: the triggers are off while the rows go in
    // (other connections never see them off), and every reader reloads fully after.
    let committed = feed::drop_triggers(&tx)
        .and_then(|()| db::insert_sorted(&tx, &sorted))
        .and_then(|()| feed::ensure_triggers(&tx))
        .and_then(|_| feed::position(&tx, Position::default()))
        .and_then(|pos| Ok(tx.commit().map(|()| pos)?));
    // Joined whatever happened: no thread of ours outlives the call.
    let snapshot = match builder {
        Ok(handle) => handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        // No thread to be had: the work is the same on this one.
        Err(_) => imported_snapshot(&sorted, blocked),
    };
    Ok(FilledTable {
        snapshot: snapshot.at(committed?),
    })
}

/// The cache of a table an import filled from empty with `sorted`: row `k` has rowid `k + 1`.
fn imported_snapshot(sorted: &[Arc<Mapping>], blocked: Vec<String>) -> Snapshot {
    let rows = sorted.iter().zip(1..).map(|(m, rowid)| {
        let row = db::RowRef {
            rowid,
            normal: true,
        };
        (Arc::clone(m), row)
    });
    Snapshot::from_rows(rows, blocked)
}

/// Runs (or, with `dry_run`, plans) both one-time imports for `storage_dir`. When the mappings
/// were imported, also returns the table as the import left it.
///
/// The files are read and parsed before the write lock is taken, so a slow or stuck file never
/// holds up the database's other writers; under the lock the database is asked again what is
/// due, since another process may have imported meanwhile.
pub(crate) fn run(
    conn: &mut Connection,
    storage_dir: &Path,
    dry_run: bool,
) -> Result<(MigrationReport, Option<FilledTable>)> {
    let mut mappings: Option<Parsed<MappingsPlan>> = None;
    let mut blocked: Option<Parsed<Vec<String>>> = None;
    let mut read_all = false;
    loop {
        if mappings.is_none()
            && (read_all || matches!(mappings_step(conn, storage_dir)?, MappingsStep::FromFile))
        {
            mappings = Some(read_mappings(storage_dir));
        }
        if blocked.is_none() && (read_all || blocked_due(conn)?) {
            blocked = Some(read_blocked(storage_dir));
        }
        let tx = conn.transaction_with_behavior(if dry_run {
            TransactionBehavior::Deferred
        } else {
            TransactionBehavior::Immediate
        })?;
        let step = mappings_step(&tx, storage_dir)?;
        let blocked_due = blocked_due(&tx)?;
        if (matches!(step, MappingsStep::FromFile) && mappings.is_none())
            || (blocked_due && blocked.is_none())
        {
            // The database changed between the look and the lock (a record removed, the
            // table emptied): let go of the lock, read both files, and look again. That look
            // finds every file it can need already read.
            drop(tx);
            read_all = true;
            continue;
        }
        let mappings = match step {
            MappingsStep::Done => None,
            MappingsStep::Skip(status) => Some(Err(status)),
            MappingsStep::FromFile => mappings.map(Ok),
        };
        let blocked = if blocked_due { blocked } else { None };
        return apply(tx, storage_dir, dry_run, mappings, blocked);
    }
}

/// Applies both imports under the transaction `tx`: `mappings` is the skip to record or the
/// file to import (`None`: already done), `blocked` the file to import (`None`: already done).
fn apply(
    tx: Transaction<'_>,
    storage_dir: &Path,
    dry_run: bool,
    mappings: Option<std::result::Result<Parsed<MappingsPlan>, MigrationStatus>>,
    blocked: Option<Parsed<Vec<String>>>,
) -> Result<(MigrationReport, Option<FilledTable>)> {
    let mut report = MigrationReport {
        status: MigrationStatus::AlreadyDone,
        imported_count: 0,
        skipped_count: 0,
        blocked_imported: 0,
        blocked_status: MigrationStatus::AlreadyDone,
        errors: Vec::new(),
        warnings: Vec::new(),
        dry_run,
    };

    // Mappings.
    let mut pending = None;
    if let Some(mappings) = mappings {
        let status = match mappings {
            Err(skipped) => skipped,
            Ok(Parsed::Missing) => MigrationStatus::SkippedNoFile,
            Ok(Parsed::Failed(error)) => {
                report.errors.push(error);
                MigrationStatus::Failed
            }
            Ok(Parsed::Ready(plan)) => {
                report.imported_count = plan.mappings.len();
                if !dry_run {
                    // The table was found empty under this write lock; the rows go in at
                    // the end, as the cache is built beside them.
                    pending = Some(plan.mappings);
                }
                report.skipped_count = plan.errors.len();
                report.errors.extend(plan.errors);
                report.warnings.extend(plan.warnings);
                MigrationStatus::Imported
            }
        };
        if status != MigrationStatus::Failed && !dry_run {
            crate::schema::meta_set(
                &tx,
                MAPPINGS_RECORD,
                &record(status, report.imported_count, report.skipped_count),
            )?;
        }
        report.status = status;
    }

    // Blocked models: their own record, imported even when the mappings were skipped.
    if let Some(blocked) = blocked {
        let status = match blocked {
            Parsed::Missing => MigrationStatus::SkippedNoFile,
            Parsed::Failed(error) => {
                report.errors.push(error);
                MigrationStatus::Failed
            }
            Parsed::Ready(models) => {
                let now = timestamp::now();
                for m in &models {
                    let added = if dry_run {
                        let present: bool = tx.query_row(
                            "SELECT EXISTS(SELECT 1 FROM mm_blocked_models WHERE model = ?1)",
                            [m],
                            |r| r.get(0),
                        )?;
                        usize::from(!present)
                    } else {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO mm_blocked_models (model, blocked_at) VALUES (?1, ?2)",
                        )?
                        .execute([m, &now])?
                    };
                    report.blocked_imported += added;
                }
                MigrationStatus::Imported
            }
        };
        if status != MigrationStatus::Failed && !dry_run {
            crate::schema::meta_set(
                &tx,
                BLOCKED_RECORD,
                &record(status, report.blocked_imported, 0),
            )?;
        }
        report.blocked_status = status;
    }

    if dry_run {
        tx.rollback()?;
        return Ok((report, None));
    }
    let filled = match pending {
        Some(mappings) => Some(insert_and_commit(tx, mappings)?),
        None => {
            tx.commit()?;
            None
        }
    };
    if report.status == MigrationStatus::Imported {
        if let Err(e) = write_marker(&storage_dir.join(MARKER_FILE), report.imported_count) {
            report.errors.push(ReportError {
                key: MARKER_FILE.into(),
                reason: format!("marker_not_written: {e}"),
            });
        }
    }
    Ok((report, filled))
}

/// The database's records of both imports, for `health()`.
pub(crate) fn records(conn: &Connection) -> Result<Value> {
    let get = |k| -> Result<Value> {
        Ok(crate::schema::meta_get(conn, k)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null))
    };
    Ok(json!({"mappings": get(MAPPINGS_RECORD)?, "blocked": get(BLOCKED_RECORD)?}))
}

/// Writes the marker for older hosts; never overwrites one that exists.
fn write_marker(path: &Path, count: usize) -> std::io::Result<()> {
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    };
    let body = json!({"imported_at": timestamp::now(), "count": count, "by": "model_mapping"});
    f.write_all(body.to_string().as_bytes())?;
    f.sync_all()
}

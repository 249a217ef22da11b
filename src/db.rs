//! Opening the database file safely (behaviour B12, R4) and reading rows tolerantly (behaviour B11).

use std::borrow::Cow;
use std::fs::OpenOptions;
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Row};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{self, Mapping, Metadata};
use crate::normalize;
use crate::options::StoreOptions;
use crate::timestamp;

/// Checks the file at `path` without opening it: `Ok(false)` when there is none; an error of
/// its own for a directory, an empty file, or missing permissions (reading, and with `write`
/// writing). Opening and closing a descriptor of the file would drop every POSIX lock this
/// process holds on it (SQLite's, the host's connections' too): the kernel is asked by path.
fn check_file(path: &Path, write: bool) -> Result<bool> {
    let display = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            Err(Error::DatabaseCantOpen(format!("{display} is a directory")))
        }
        Ok(meta) if meta.len() == 0 => Err(Error::DatabaseEmpty(if write {
            format!("{display} is an empty file; refusing to initialise a file this library did not create")
        } else {
            format!("{display} is an empty file, not a database")
        })),
        // Tell the permission problems apart before SQLite folds them into "unable to open".
        Ok(_) => match crate::ffi::os::may_access(path, write) {
            Ok(()) => Ok(true),
            Err(e) if write && e.kind() == IoKind::PermissionDenied => {
                Err(match crate::ffi::os::may_access(path, false) {
                    Ok(()) => Error::DatabaseReadonly(format!("{display} is not writable: {e}")),
                    Err(_) => Error::DatabasePermissionDenied(format!(
                        "{display}: no permission to read it: {e}"
                    )),
                })
            }
            Err(e) if e.kind() == IoKind::PermissionDenied || !write => {
                Err(Error::DatabasePermissionDenied(format!(
                    "{display}: no permission to read it: {e}"
                )))
            }
            Err(e) => Err(Error::DatabaseCantOpen(format!("{display}: {e}"))),
        },
        Err(e) if e.kind() == IoKind::NotFound => Ok(false),
        Err(e) if e.kind() == IoKind::PermissionDenied => {
            Err(Error::DatabasePermissionDenied(format!("{display}: {e}")))
        }
        Err(e) => Err(Error::DatabaseCantOpen(format!("{display}: {e}"))),
    }
}

/// A private in-memory database: no file to check, no other connection to be coherent with,
/// and no WAL (SQLite keeps the journal in memory).
fn open_memory(options: &StoreOptions) -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.busy_timeout(options.busy_timeout)?;
    Ok(conn)
}

/// Opens (creating with mode 0600 when missing) and configures a connection.
///
/// The file is never deleted, renamed or rewritten here: a path that is a directory, an
/// empty file we did not create, or a file that is not SQLite gets its own error.
pub(crate) fn open(path: &Path, options: &StoreOptions) -> Result<Connection> {
    // Before anything is created: an out-of-range option is the caller's error, not SQLite's.
    options.validate()?;
    crate::sqlite_guard::check()?;
    if is_memory(path) {
        return open_memory(options);
    }
    if !check_file(path, true)? {
        create_initialised(path)?;
    }
    // No SQLITE_OPEN_URI: the argument is a filesystem path, so the checks above and SQLite
    // agree on which file it names (`file:x?mode=ro` is a file of that name, not a URI).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| with_path(e.into(), path))?;
    configure(&conn, options).map_err(|e| with_path(e, path))?;
    Ok(conn)
}

/// Opens a read-only connection that changes nothing on disk: no file, schema, journal mode,
/// trigger or row is created or rewritten, and no `-wal`/`-shm` is left behind.
///
/// SQLite opened read-only on a WAL database that no connection has open creates the `-wal`
/// and `-shm` files it reads through (and leaves them). So when none of `-wal`, `-shm` and
/// `-journal` exists beside the file — no connection has it open in WAL mode and no write is
/// under way — it is opened `immutable`: no lock, no file created, the file read as it stands
/// (changes others make afterwards are not seen). Otherwise it is opened `mode=ro` with the
/// usual shared locks, through the sidecar files that are already there.
pub(crate) fn open_read_only(path: &Path, options: &StoreOptions) -> Result<Connection> {
    options.validate()?;
    crate::sqlite_guard::check()?;
    if is_memory(path) {
        return open_memory(options);
    }
    if !check_file(path, false)? {
        return Err(Error::DatabaseCantOpen(format!(
            "{} does not exist (a read-only open never creates it)",
            path.display()
        )));
    }
    let idle = ["-wal", "-shm", "-journal"]
        .iter()
        .all(|suffix| !sidecar(path, suffix).exists());
    let query = if idle {
        "mode=ro&immutable=1"
    } else {
        "mode=ro"
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(file_uri(path, query), flags)
        .map_err(|e| with_path(e.into(), path))?;
    conn.busy_timeout(options.busy_timeout)?;
    // Reading the header turns a garbage file into NOTADB here.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| with_path(e.into(), path))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The file SQLite keeps beside `path` with this suffix (`-wal`, `-shm`, `-journal`).
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// A `file:` URI naming exactly `path` (RFC 3986 percent-encoding of everything but
/// unreserved characters and `/`), so a path that looks like a URI stays a path.
fn file_uri(path: &Path, query: &str) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    if !path.is_absolute() {
        // A relative path in a URI is relative to the working directory, as for a path.
        uri.push_str("./");
    }
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}

/// Whether `table` exists in the main schema.
pub(crate) fn table_exists(conn: &Connection, table: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        )?
        .query_row([table], |r| r.get(0))?)
}

/// `:memory:` names a private in-memory database, as in SQLite.
pub(crate) fn is_memory(path: &Path) -> bool {
    path.as_os_str() == ":memory:"
}

/// Creates a missing database complete — mode 0600, SQLite header and schema in place — under a
/// temporary name, then hard-links it into place. An empty file is refused as
/// `database_empty`, so another worker process opening the same new path at the same moment
/// must never see it empty; and a crash mid-creation leaves no empty file at `path`.
fn create_initialised(path: &Path) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    // Said here, about the user's path: creating the temporary file below would otherwise fail
    // naming that internal file.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            let what = if dir.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            return Err(Error::DatabaseCantOpen(format!(
                "{}: cannot create the database: the directory {} {what}",
                path.display(),
                dir.display()
            )));
        }
    }
    let name = path
        .file_name()
        .map_or_else(|| "db".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{name}.mm-create-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    create_private(&tmp)?;
    let built = (|| -> Result<()> {
        let mut conn = Connection::open_with_flags(
            &tmp,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A rollback journal keeps everything in the file itself: no WAL to carry along.
        conn.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0))?;
        crate::schema::init(&mut conn)?;
        conn.close().map_err(|(_, e)| Error::from(e))
    })();
    let linked = built.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == IoKind::AlreadyExists => Ok(()),
        // No hard links here (some filesystems): create it in place as before.
        Err(_) => create_private(path),
    });
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| with_path(e, path))
}

/// Creates the database file with mode 0600: it will hold the backend's endpoint API keys too.
fn create_private(path: &Path) -> Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Another process created it between our stat and open: use theirs.
        Err(e) if e.kind() == IoKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == IoKind::PermissionDenied => Err(Error::DatabaseReadonly(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
        Err(e) => Err(Error::DatabaseCantOpen(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

fn with_path(err: Error, path: &Path) -> Error {
    let p = path.display();
    match err {
        Error::NotADatabase(m) => Error::NotADatabase(format!("{p}: {m}")),
        Error::DatabaseCorrupt(m) => Error::DatabaseCorrupt(format!("{p}: {m}")),
        Error::DatabaseCantOpen(m) => Error::DatabaseCantOpen(format!("{p}: {m}")),
        Error::DatabaseReadonly(m) => Error::DatabaseReadonly(format!("{p}: {m}")),
        other => other,
    }
}

fn configure(conn: &Connection, options: &StoreOptions) -> Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    // Reading the header first turns a garbage file into NOTADB before any pragma writes.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    let mode: String = conn.query_row(
        &format!("PRAGMA journal_mode={}", options.journal_mode.pragma()),
        [],
        |r| r.get(0),
    )?;
    if !mode.eq_ignore_ascii_case(options.journal_mode.pragma()) {
        return Err(Error::DatabaseReadonly(format!(
            "journal_mode {} could not be set (got {mode})",
            options.journal_mode.pragma()
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous={};",
        options.synchronous.pragma()
    ))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// The columns every row read selects, in order. `rowid` addresses a row whatever its `id`
/// holds (NULL, a BLOB, a duplicate spelling).
pub(crate) const ROW_COLUMNS: &str = "rowid, id, scope_type, scope_key, name, default_model, \
    candidates_json, is_active, updated_at, metadata_json";

/// Where a mapping's row lives in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowRef {
    pub rowid: i64,
    /// Its `id`, `scope_type` and `scope_key` columns hold the mapping's normal spellings as
    /// TEXT: `id = ?` finds it, and a write of the same id only changes the other columns.
    pub normal: bool,
}

/// A row as stored, read tolerantly, with where it lives in the table.
pub(crate) struct StoredRow {
    pub row: RowRef,
    pub mapping: Mapping,
}

/// A column as text, borrowed when it is UTF-8 (the usual case), so reading a row copies only
/// what the mapping keeps.
fn text_ref(v: ValueRef<'_>) -> Option<Cow<'_, str>> {
    match v {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(match std::str::from_utf8(t) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(t),
        }),
        ValueRef::Integer(i) => Some(Cow::Owned(i.to_string())),
        ValueRef::Real(f) => Some(Cow::Owned(f.to_string())),
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    text_ref(v).map(Cow::into_owned)
}

/// `candidates_json` as the backend reads it: a JSON array, each item stringified; anything
/// else is no candidates. A plain array of strings without escapes is read without copies.
fn read_candidates(json: &str, default_model: Option<&str>) -> Vec<String> {
    if let Ok(items) = serde_json::from_str::<Vec<&str>>(json) {
        return normalize::candidates(items, default_model);
    }
    let raw: Vec<String> = match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items
            .iter()
            .filter_map(model::stringify_candidate)
            .collect(),
        _ => Vec::new(),
    };
    normalize::candidates(raw.iter().map(String::as_str), default_model)
}

/// Reads one row the way behaviour B11 asks: normalised scope type, junk JSON → empty, NULL
/// `is_active` → true. `None` when the row cannot name a mapping (bad scope type, empty key).
pub(crate) fn read_row(row: &Row<'_>) -> rusqlite::Result<Option<StoredRow>> {
    let rowid: i64 = row.get(0)?;
    let mut cols = [ValueRef::Null; 9];
    for (i, c) in cols.iter_mut().enumerate() {
        *c = row.get_ref(i + 1)?;
    }
    Ok(read_columns(cols).map(|(mapping, normal)| StoredRow {
        row: RowRef { rowid, normal },
        mapping,
    }))
}

/// A mapping from the nine stored columns (`id`, `scope_type`, `scope_key`, `name`,
/// `default_model`, `candidates_json`, `is_active`, `updated_at`, `metadata_json`, in this
/// order), read with the rules of [`read_row`], and whether the row spells its id and scope
/// normally. The same rules read a row of the table and a row image in the change log.
pub(crate) fn read_columns(cols: [ValueRef<'_>; 9]) -> Option<(Mapping, bool)> {
    let raw_type = text_ref(cols[1]).unwrap_or_default();
    let raw_key = text_ref(cols[2]).unwrap_or_default();
    let (Ok(scope_type), Ok(scope_key)) = (
        normalize::scope_type(&raw_type),
        normalize::scope_key(&raw_key),
    ) else {
        return None;
    };
    let name = text(cols[3]);
    let default_model = text_ref(cols[4])
        .as_deref()
        .and_then(normalize::model_name)
        .map(str::to_owned);
    let candidates = text_ref(cols[5])
        .map(|t| read_candidates(&t, default_model.as_deref()))
        .unwrap_or_else(|| normalize::candidates([], default_model.as_deref()));
    let is_active = match cols[6] {
        ValueRef::Null => true,
        ValueRef::Integer(i) => i != 0,
        ValueRef::Real(f) => f != 0.0,
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let t = String::from_utf8_lossy(t);
            !matches!(t.trim().to_ascii_lowercase().as_str(), "0" | "false" | "")
        }
    };
    let updated_at =
        text_ref(cols[7]).map(|t| timestamp::normalize(&t).unwrap_or_else(|| t.into_owned()));
    // A non-object (or junk) is no metadata.
    let metadata: Metadata = text_ref(cols[8])
        .and_then(|t| serde_json::from_str::<Metadata>(&t).ok())
        .unwrap_or_default();
    let id = normalize::joined(&scope_type, ":", &scope_key);
    let is_text =
        |v: ValueRef<'_>, want: &str| matches!(v, ValueRef::Text(t) if t == want.as_bytes());
    let normal =
        is_text(cols[0], &id) && is_text(cols[1], &scope_type) && is_text(cols[2], &scope_key);
    Some((
        Mapping {
            id,
            scope_type,
            scope_key,
            name,
            default_model,
            candidates,
            is_active,
            updated_at,
            metadata,
        },
        normal,
    ))
}

/// Hands every readable row of `llm_model_mappings` to `f` as it is read, so a full load
/// builds its snapshot without first collecting every row.
pub(crate) fn for_each_row(conn: &Connection, mut f: impl FnMut(StoredRow)) -> Result<()> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM llm_model_mappings"))?;
    let rows = stmt.query_map([], read_row)?;
    for r in rows {
        if let Some(r) = r? {
            f(r);
        }
    }
    Ok(())
}

/// The blocked set.
pub(crate) fn read_blocked(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT model FROM mm_blocked_models ORDER BY model")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Writes one validated mapping over the rows that hold its id now (`rows`): the row whose
/// `id` is already the normal one is updated in place (the host's `created_at` survives), the
/// others (`tenant:` or other spellings) are deleted.
pub(crate) fn write_mapping(conn: &Connection, m: &Mapping, rows: &[RowRef]) -> Result<()> {
    use rusqlite::OptionalExtension;
    // The usual case: one row, already spelled normally. Update its other columns by rowid,
    // which leaves the primary-key and scope index entries alone.
    if let [only] = rows {
        if only.normal {
            return update_row(conn, only.rowid, m);
        }
    }
    // The row the upsert will update, if any (it may be one the caller files under another
    // id: others wrote an `id` that disagrees with its scope columns).
    let existing: Option<i64> = conn
        .prepare_cached("SELECT rowid FROM llm_model_mappings WHERE id = ?1")?
        .query_row([&m.id], |r| r.get(0))
        .optional()?;
    // Every other row of the id goes: `id` is unique, so none of them is named `m.id`.
    let others: Vec<RowRef> = rows
        .iter()
        .copied()
        .filter(|r| Some(r.rowid) != existing)
        .collect();
    delete_rows(conn, &others)?;
    upsert_row(conn, m)
}

/// Blocks (`true`) or unblocks (`false`) models.
pub(crate) fn set_blocked(conn: &Connection, changes: &[(String, bool)], now: &str) -> Result<()> {
    for (model, blocked) in changes {
        if *blocked {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO mm_blocked_models (model, blocked_at) VALUES (?1, ?2)",
            )?
            .execute([model, now])?;
        } else {
            conn.prepare_cached("DELETE FROM mm_blocked_models WHERE model = ?1")?
                .execute([model])?;
        }
    }
    Ok(())
}

/// The columns a row is inserted with, in the order of [`bind_row`] (a macro, so that
/// `concat!` can build statements from it).
macro_rules! insert_columns {
    () => {
        "id, scope_type, scope_key, name, default_model, candidates_json, is_active, \
         updated_at, metadata_json"
    };
}

/// Binds the insert columns of `m` to parameters `at + 1 ..= at + 9` (`enc` is
/// [`Encoded::of`] `m`). Each value with its own type: no `dyn ToSql`.
fn bind_row(
    stmt: &mut rusqlite::Statement<'_>,
    at: usize,
    m: &Mapping,
    enc: &Encoded,
) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(at + 1, &m.id)?;
    stmt.raw_bind_parameter(at + 2, &m.scope_type)?;
    stmt.raw_bind_parameter(at + 3, &m.scope_key)?;
    stmt.raw_bind_parameter(at + 4, &m.name)?;
    stmt.raw_bind_parameter(at + 5, &m.default_model)?;
    stmt.raw_bind_parameter(at + 6, &enc.candidates)?;
    stmt.raw_bind_parameter(at + 7, enc.is_active)?;
    stmt.raw_bind_parameter(at + 8, &m.updated_at)?;
    stmt.raw_bind_parameter(at + 9, &enc.metadata)
}

const UPSERT_ROW: &str = concat!(
    "INSERT INTO llm_model_mappings (",
    insert_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
    ON CONFLICT(id) DO UPDATE SET scope_type = excluded.scope_type, scope_key = excluded.scope_key, \
    name = excluded.name, default_model = excluded.default_model, \
    candidates_json = excluded.candidates_json, is_active = excluded.is_active, \
    updated_at = excluded.updated_at, metadata_json = excluded.metadata_json"
);

/// Rewrites every column but `id`, `scope_type` and `scope_key` of one row.
fn update_row(conn: &Connection, rowid: i64, m: &Mapping) -> Result<()> {
    let enc = Encoded::of(m);
    conn.prepare_cached(
        "UPDATE llm_model_mappings SET name = ?1, default_model = ?2, candidates_json = ?3, \
         is_active = ?4, updated_at = ?5, metadata_json = ?6 WHERE rowid = ?7",
    )?
    .execute((
        &m.name,
        &m.default_model,
        &enc.candidates,
        enc.is_active,
        &m.updated_at,
        &enc.metadata,
        rowid,
    ))?;
    Ok(())
}

/// Inserts or replaces the row of `m.id` alone.
pub(crate) fn upsert_row(conn: &Connection, m: &Mapping) -> Result<()> {
    let mut stmt = conn.prepare_cached(UPSERT_ROW)?;
    bind_row(&mut stmt, 0, m, &Encoded::of(m))?;
    stmt.raw_execute()?;
    Ok(())
}

/// Rows per `INSERT` of a legacy import. One statement per row costs SQLite a statement start,
/// savepoint and halt each (about 40% of the import's inserts); 64 rows × 9 parameters stays
/// under the 999 variables older SQLite builds allow.
const INSERT_CHUNK: usize = 64;

/// Inserts the mappings of a legacy import (one per id, sorted by id, so each index grows at
/// its end) into the table it has just found empty under the same write lock,
/// `INSERT_CHUNK` rows to a statement. Row `k` of `sorted` gets rowid `k + 1`: into an empty
/// table each row gets the largest rowid so far plus one. That is checked after every batch,
/// so a caller that built its cache on those rowids never keeps a wrong one.
pub(crate) fn insert_sorted(conn: &Connection, sorted: &[Arc<Mapping>]) -> Result<()> {
    let sql = |rows: usize| {
        format!(
            concat!(
                "INSERT INTO llm_model_mappings (",
                insert_columns!(),
                ") VALUES {}"
            ),
            vec!["(?,?,?,?,?,?,?,?,?)"; rows].join(",")
        )
    };
    let mut full = conn.prepare(&sql(INSERT_CHUNK))?;
    let mut inserted = 0i64;
    for chunk in sorted.chunks(INSERT_CHUNK) {
        let mut partial;
        let stmt = if chunk.len() == INSERT_CHUNK {
            &mut full
        } else {
            partial = conn.prepare(&sql(chunk.len()))?;
            &mut partial
        };
        for (i, m) in chunk.iter().enumerate() {
            bind_row(stmt, i * 9, m, &Encoded::of(m))?;
        }
        stmt.raw_execute()?;
        inserted += chunk.len() as i64;
        if conn.last_insert_rowid() != inserted {
            return Err(Error::Database(format!(
                "legacy import: expected rowid {inserted} for the last row of a batch, got {}",
                conn.last_insert_rowid()
            )));
        }
    }
    Ok(())
}

/// A transaction through cached statements: compiling `BEGIN` and `COMMIT` for each one costs
/// about as much as a small write's `UPDATE`, and more than the two queries of the read path's
/// check (which opens one each time another connection's commit moved `data_version`: for the
/// host, on every chat request). Rolled back when dropped without [`CachedTx::commit`], on an
/// error or a panic.
pub(crate) struct CachedTx<'c> {
    conn: &'c Connection,
    done: bool,
}

impl<'c> CachedTx<'c> {
    /// `BEGIN IMMEDIATE`: a write, which takes the write lock now (waiting up to
    /// `busy_timeout`) so that it never fails with `SQLITE_BUSY_SNAPSHOT` later.
    pub(crate) fn immediate(conn: &'c Connection) -> Result<CachedTx<'c>> {
        CachedTx::begin(conn, "BEGIN IMMEDIATE")
    }

    /// `BEGIN`: a read, whose statements all see one state of the database.
    pub(crate) fn deferred(conn: &'c Connection) -> Result<CachedTx<'c>> {
        CachedTx::begin(conn, "BEGIN")
    }

    fn begin(conn: &'c Connection, sql: &str) -> Result<CachedTx<'c>> {
        conn.prepare_cached(sql)?.execute([])?;
        Ok(CachedTx { conn, done: false })
    }

    /// Commits (for a read, only releases its snapshot).
    pub(crate) fn commit(mut self) -> Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.done = true;
        Ok(())
    }
}

impl Drop for CachedTx<'_> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_autocommit() {
            // Nothing to report from a destructor: a failed rollback leaves SQLite to roll
            // back when the connection next starts a transaction or closes.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// `PRAGMA data_version`: moves when another connection commits (frozen inside a transaction
/// at the version that transaction reads).
pub(crate) fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

/// The columns of a mapping that are stored in another form than its fields: the two JSON
/// texts and `is_active` as the integer the backend writes.
struct Encoded {
    candidates: String,
    metadata: String,
    is_active: i64,
}

impl Encoded {
    fn of(m: &Mapping) -> Encoded {
        Encoded {
            candidates: serde_json::to_string(&m.candidates).unwrap_or_else(|_| "[]".into()),
            metadata: serde_json::to_string(&m.metadata).unwrap_or_else(|_| "{}".into()),
            is_active: i64::from(m.is_active),
        }
    }
}

/// Deletes rows; how many there were.
pub(crate) fn delete_rows(conn: &Connection, rows: &[RowRef]) -> Result<usize> {
    let mut n = 0;
    for r in rows {
        n += conn
            .prepare_cached("DELETE FROM llm_model_mappings WHERE rowid = ?1")?
            .execute([r.rowid])?;
    }
    Ok(n)
}

//! The cached store: one SQLite connection behind a mutex, an immutable snapshot behind an
//! `Arc` that reads share, and coherence through `PRAGMA data_version` (SPEC B13, B16).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

use crate::counter::Counter;
use crate::db::{self, RowRef};
use crate::error::{Error, Result};
use crate::ffi::fork::fork_generation;
use crate::legacy::{self, MigrationReport};
use crate::model::{Mapping, MappingInput, Payload};
use crate::normalize::{self, MappingId};
use crate::options::StoreOptions;
use crate::resolve::{self, Explanation, MessageRequest, MessageSelection, Resolution};
use crate::schema;
use crate::snapshot::Snapshot;
use crate::sync::{self, ImportReport, PullReport, SnapshotPlan};
use crate::timestamp;

struct Conn {
    conn: Connection,
    /// The fork generation that opened it: after `fork()` the child opens its own (SPEC B16).
    generation: u64,
    /// `PRAGMA data_version` the snapshot reflects; own writes do not move it.
    data_version: i64,
}

#[derive(Default)]
struct HealthState {
    last_refresh_at: Option<String>,
    last_error: Option<HealthError>,
    refreshes: u64,
    reopened_after_fork: u64,
}

/// A failure the store is living with (reads serve the last good snapshot meanwhile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthError {
    /// Stable code (SPEC B1).
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// When this failure started (consecutive failures keep the first time).
    pub since: String,
}

/// What [`Store::health`] reports (SPEC B13).
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
    /// `PRAGMA data_version` the snapshot reflects.
    pub data_version: i64,
    /// Mappings in the snapshot.
    pub mappings: usize,
    /// Blocked models in the snapshot.
    pub blocked: usize,
    /// When the snapshot was last (re)loaded from the database.
    pub last_refresh_at: Option<String>,
    /// The outstanding refresh failure, if any.
    pub last_error: Option<HealthError>,
    /// Reloads after another connection wrote.
    pub refreshes: u64,
    /// `resolve_model_key` calls (explain included).
    pub resolves: u64,
    /// Keys and ids that arrived in the legacy `tenant:` form (to know when to retire it).
    pub legacy_tenant_keys: u64,
    /// Configured staleness bound.
    pub max_staleness_ms: u64,
    /// Times a connection was reopened because the process forked.
    pub reopened_after_fork: u64,
    /// The database's records of the one-time imports.
    pub migration: Value,
}

/// A thread-safe, process-safe, cached store of model mappings over one SQLite file.
///
/// Reads are served from an immutable in-memory snapshot, checked against the database before
/// each read (or at most once per `max_staleness`); writes go straight to SQLite in
/// `BEGIN IMMEDIATE` transactions and update the snapshot.
///
/// ```
/// use model_mapping::{MappingInput, Store, StoreOptions};
///
/// # fn main() -> model_mapping::Result<()> {
/// let store = Store::open(":memory:", StoreOptions::default())?;
/// store.upsert(&MappingInput::new("mapping:xai", Some("grok-4"))?)?;
/// assert_eq!(store.resolve_model_key("xai")?.resolved_model(), Some("grok-4"));
/// # Ok(()) }
/// ```
pub struct Store {
    path: PathBuf,
    options: StoreOptions,
    conn: Mutex<Option<Conn>>,
    snapshot: ArcSwap<Snapshot>,
    closed: AtomicBool,
    /// A refresh failure is outstanding (mirrors `health.last_error` without its lock).
    failing: AtomicBool,
    /// Coarse monotonic clock (a few ns to read, ~1-4 ms resolution) for the staleness bound.
    epoch: coarsetime::Instant,
    last_check_ns: AtomicU64,
    resolves: Counter,
    legacy_keys: Counter,
    schema_version: i64,
    health: Mutex<HealthState>,
    last_migration: Mutex<Option<MigrationReport>>,
}

/// Reads the whole table and blocked set in one read transaction.
fn load(conn: &Connection) -> Result<(i64, Snapshot)> {
    // data_version is frozen inside a transaction, so read it first: a write landing in
    // between only makes the next check reload once more.
    let version = db::data_version(conn)?;
    let tx = conn.unchecked_transaction()?;
    let snap = load_in(&tx)?;
    tx.finish()?;
    Ok((version, snap))
}

/// Reads the whole table and blocked set inside the caller's transaction.
fn load_in(conn: &Connection) -> Result<Snapshot> {
    let mut snap = Snapshot::from_rows([], db::read_blocked(conn)?);
    db::for_each_row(conn, |r| snap.add_row(r.row, r.mapping))?;
    Ok(snap)
}

/// Counts an id or model key that arrived as `tenant:...` (a bare key `tenant` is a business
/// key of that name). Decided by the first bytes: it runs on every resolve.
fn count_legacy_id(counter: &Counter, raw: &str) {
    if normalize::has_legacy_tenant_prefix(raw) {
        counter.bump();
    }
}

/// Counts a scope type given as `tenant`.
fn count_legacy_type(counter: &Counter, raw: &str) {
    if normalize::is_legacy_tenant(raw) {
        counter.bump();
    }
}

/// Where the rows of one id live. A write runs on the snapshot of its own transaction's view
/// (see `Store::write`), which holds every row that normalises to the id in whatever spelling
/// others wrote it (`Tenant`, an untrimmed key), so writes and deletes reach all the rows reads
/// show (SPEC B1, B11) without reading the table again.
fn row_refs(snap: &Snapshot, id: &MappingId) -> Vec<RowRef> {
    snap.slot(&id.scope_type, &id.scope_key)
        .map(|slot| slot.rows().map(|e| e.row).collect())
        .unwrap_or_default()
}

/// Every mapping (the row reads show for each id), by id: what a remote snapshot is planned
/// against.
fn local_mappings(snap: &Snapshot) -> std::collections::HashMap<String, Mapping> {
    snap.list(None, None)
        .into_iter()
        .map(|m| (m.id.clone(), (*m).clone()))
        .collect()
}

/// Writes `m` over every stored row of its id.
fn replace_rows(tx: &Connection, snap: &Snapshot, m: &Mapping) -> Result<db::Written> {
    let id = MappingId {
        scope_type: m.scope_type.clone(),
        scope_key: m.scope_key.clone(),
    };
    db::write_mapping(tx, m, &row_refs(snap, &id))
}

/// The snapshot after a write: `snap` with the written mappings and removed ids, or, when a
/// write took over a row the snapshot filed under another mapping, the table as this
/// transaction now sees it.
fn after_write(
    tx: &Connection,
    snap: &Snapshot,
    written: Vec<(Arc<Mapping>, db::Written)>,
    removals: &[MappingId],
) -> Result<Snapshot> {
    if written.iter().any(|(_, w)| w.took_foreign_row) {
        return load_in(tx);
    }
    Ok(snap.with_changes(
        written.into_iter().map(|(m, w)| {
            // The write bound the normal id and scope as TEXT (or found them so).
            let row = RowRef {
                rowid: w.rowid,
                normal: true,
            };
            (m, row)
        }),
        removals,
    ))
}

/// Deletes every stored row of an id; how many there were.
fn delete_rows(tx: &Connection, snap: &Snapshot, id: &MappingId) -> Result<usize> {
    db::delete_rows(tx, &row_refs(snap, id))
}

impl Store {
    /// Opens (creating when missing, mode 0600) the database at `path`, brings the schema up to
    /// date, rewrites legacy `tenant` rows, runs the one-time legacy migration when
    /// `options.storage_dir` is set, and loads the cache.
    ///
    /// A migration whose file is broken does not fail the open: see [`Store::last_migration`].
    /// A migration that imports builds the cache on one helper thread while it inserts the rows,
    /// joined before this returns (on the calling thread when none can be started).
    ///
    /// # Errors
    ///
    /// A distinct kind per unusable file (behaviour B12, target R4): `NotADatabase`,
    /// `DatabaseEmpty`, `DatabaseCantOpen` (for example a directory), `DatabasePermissionDenied`,
    /// `DatabaseReadonly`, `DatabaseCorrupt`; `DatabaseBusy` when another connection holds the
    /// lock past `busy_timeout`; `MultipleSqliteCopies` in a `bundled` build that finds another
    /// SQLite in the process (behaviour B15).
    ///
    /// ```
    /// use model_mapping::{Store, StoreOptions};
    ///
    /// # fn main() -> model_mapping::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open(dir.path().join("app.db"), StoreOptions::default())?;
    /// assert!(store.list(None, None)?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let mut conn = db::open(&path, &options)?;
        let schema_version = schema::init(&mut conn)?;
        schema::normalize_scope_rows(&mut conn)?;
        let (migration, filled) = match &options.storage_dir {
            Some(dir) => {
                let (report, filled) = run_migration(&mut conn, dir, false)?;
                (Some(report), filled)
            }
            None => (None, None),
        };
        let (version, snapshot) = match filled {
            Some(t) => t.into_snapshot(),
            None => load(&conn)?,
        };
        Ok(Store {
            path,
            conn: Mutex::new(Some(Conn {
                conn,
                generation: fork_generation(),
                data_version: version,
            })),
            snapshot: ArcSwap::from_pointee(snapshot),
            closed: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            epoch: coarsetime::Instant::now(),
            last_check_ns: AtomicU64::new(0),
            resolves: Counter::default(),
            legacy_keys: Counter::default(),
            schema_version,
            health: Mutex::new(HealthState {
                last_refresh_at: Some(timestamp::now()),
                ..HealthState::default()
            }),
            last_migration: Mutex::new(migration),
            options,
        })
    }

    /// Opens with default options.
    pub fn open_default(path: impl AsRef<Path>) -> Result<Store> {
        Store::open(path, StoreOptions::default())
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Closes the connection; later calls fail with `store_closed`. Closing twice is fine.
    pub fn close(&self) {
        self.closed.store(true, Relaxed);
        let mut guard = self.conn.lock();
        if let Some(c) = guard.take() {
            if c.generation == fork_generation() {
                drop(c.conn);
            } else {
                // Inherited across fork(): closing it here could disturb the parent's locks.
                std::mem::forget(c.conn);
            }
        }
    }

    fn now_ns(&self) -> u64 {
        coarsetime::Instant::now()
            .duration_since(self.epoch)
            .as_nanos()
    }

    fn record_failure(&self, err: &Error) {
        self.failing.store(true, Relaxed);
        let mut h = self.health.lock();
        let since = match &h.last_error {
            Some(prev) if prev.code == err.code() => prev.since.clone(),
            _ => timestamp::now(),
        };
        h.last_error = Some(HealthError {
            code: err.code(),
            message: err.to_string(),
            since,
        });
    }

    /// After `fork()` the inherited connection belongs to the parent: leave it, open our own.
    fn ensure_own_connection(&self, c: &mut Conn) -> Result<()> {
        let generation = fork_generation();
        if c.generation == generation {
            return Ok(());
        }
        if db::is_memory(&self.path) {
            // A private in-memory database has no file and no locks: the child's copy is its
            // own, and a fresh connection would be an empty database.
            c.generation = generation;
            return Ok(());
        }
        let fresh = db::open(&self.path, &self.options)?;
        let inherited = std::mem::replace(&mut c.conn, fresh);
        std::mem::forget(inherited);
        c.generation = generation;
        c.data_version = i64::MIN; // force a reload on the new connection
        self.health.lock().reopened_after_fork += 1;
        Ok(())
    }

    /// Reloads the snapshot when another connection committed since the last look. A failure
    /// is recorded for `health()` (and the last good snapshot kept); a success clears it.
    fn refresh(&self, c: &mut Conn) -> Result<()> {
        match self.reload_if_changed(c) {
            Ok(()) => {
                // Only touch the health mutex when there is a failure to clear.
                if self.failing.swap(false, Relaxed) {
                    self.health.lock().last_error = None;
                }
                Ok(())
            }
            Err(e) => {
                self.record_failure(&e);
                Err(e)
            }
        }
    }

    fn reload_if_changed(&self, c: &mut Conn) -> Result<()> {
        self.ensure_own_connection(c)?;
        let version = db::data_version(&c.conn)?;
        if version == c.data_version {
            return Ok(());
        }
        let (version, snap) = load(&c.conn)?;
        self.snapshot.store(Arc::new(snap));
        c.data_version = version;
        self.note_reload();
        Ok(())
    }

    /// The current snapshot, checked for coherence first (or within `max_staleness`).
    ///
    /// When the check fails the last good snapshot is served and `health()` reports why.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        self.check()?;
        Ok(self.snapshot.load_full())
    }

    /// Runs a pure function over the current snapshot without cloning its `Arc` (hot path).
    fn read<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> Result<T> {
        self.check()?;
        Ok(f(&self.snapshot.load()))
    }

    /// The coherence check of SPEC B13: reload when `PRAGMA data_version` moved.
    fn check(&self) -> Result<()> {
        if self.closed.load(Relaxed) {
            return Err(Error::StoreClosed);
        }
        let staleness = self.options.max_staleness.as_nanos() as u64;
        if staleness > 0
            && self
                .now_ns()
                .saturating_sub(self.last_check_ns.load(Relaxed))
                < staleness
        {
            return Ok(());
        }
        let mut guard = self.conn.lock();
        let c = guard.as_mut().ok_or(Error::StoreClosed)?;
        // A failed refresh is recorded in health(); the read serves the last good snapshot.
        let _ = self.refresh(c);
        if staleness > 0 {
            self.last_check_ns.store(self.now_ns().max(1), Relaxed);
        }
        Ok(())
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the snapshot of that transaction's own
    /// view, then installs the snapshot it returns (that one with this write's changes). A busy
    /// database is waited for up to `busy_timeout`.
    ///
    /// Under the write lock `PRAGMA data_version` is the version this transaction reads: when
    /// another connection committed since the snapshot was loaded, the snapshot is reloaded
    /// here, inside the transaction, so `f` sees exactly the rows it replaces or deletes. Own
    /// commits do not move the version, so after the commit the snapshot stays current.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection, &Snapshot) -> Result<(T, Snapshot)>,
    ) -> Result<T> {
        let mut guard = self.conn.lock();
        let c = guard.as_mut().ok_or(Error::StoreClosed)?;
        self.ensure_own_connection(c)?;
        let known = c.data_version;
        let tx = db::WriteTx::begin(&c.conn)?;
        let version = db::data_version(&c.conn)?;
        let reloaded = version != known;
        let current = if reloaded {
            Arc::new(load_in(&c.conn)?)
        } else {
            self.snapshot.load_full()
        };
        let (out, next) = f(&c.conn, &current)?;
        tx.commit()?;
        self.snapshot.store(Arc::new(next));
        c.data_version = version;
        if reloaded {
            self.note_reload();
        }
        Ok(out)
    }

    /// Health bookkeeping after the snapshot was reloaded from the database.
    fn note_reload(&self) {
        self.failing.store(false, Relaxed);
        let mut h = self.health.lock();
        h.last_error = None;
        h.refreshes += 1;
        h.last_refresh_at = Some(timestamp::now());
    }

    // ---- reads (SPEC B4, B7, B8, B9) ----

    /// Mappings, optionally filtered by scope type (normalised: `tenant` finds `mapping` rows)
    /// and exact scope key, newest first (SPEC B4).
    ///
    /// # Errors
    ///
    /// `InvalidMappingScope` for a malformed scope type filter; a database error when the
    /// coherence check fails and there is no snapshot to serve.
    pub fn list(
        &self,
        scope_type: Option<&str>,
        scope_key: Option<&str>,
    ) -> Result<Vec<Arc<Mapping>>> {
        let ty = match scope_type.filter(|t| !t.trim().is_empty()) {
            Some(t) => {
                count_legacy_type(&self.legacy_keys, t);
                Some(normalize::scope_type(t)?)
            }
            None => None,
        };
        let key = scope_key.map(str::trim).filter(|k| !k.is_empty());
        Ok(self.snapshot()?.list(ty.as_deref(), key))
    }

    /// One mapping by id (normalised), or `None`.
    ///
    /// # Errors
    ///
    /// `InvalidMappingId` or `InvalidMappingScope` for a malformed id; a database error when the
    /// coherence check fails and there is no snapshot to serve.
    pub fn get(&self, id: &str) -> Result<Option<Arc<Mapping>>> {
        count_legacy_id(&self.legacy_keys, id);
        let id = MappingId::parse(id.trim())?;
        Ok(self.snapshot()?.get(&id.scope_type, &id.scope_key).cloned())
    }

    /// Blocked models, sorted and unique (SPEC B7).
    pub fn blocked_models(&self) -> Result<Vec<String>> {
        Ok(self.snapshot()?.blocked().to_vec())
    }

    /// Resolves a client's model key (SPEC B8). Never fails on a strange key.
    ///
    /// # Errors
    ///
    /// Only `StoreClosed`, or a database error when the coherence check fails and there is no
    /// snapshot to serve; a key that cannot be an id passes through instead.
    ///
    /// ```
    /// # use model_mapping::{MappingInput, Store, StoreOptions};
    /// # fn main() -> model_mapping::Result<()> {
    /// # let store = Store::open(":memory:", StoreOptions::default())?;
    /// let mut xai = MappingInput::new("mapping:xai", Some("grok-4"))?;
    /// xai.candidates = vec!["grok-3".into()];
    /// store.upsert(&xai)?;
    /// store.update_blocked(&[("grok-4".into(), true)])?;
    ///
    /// let r = store.resolve_model_key("tenant:xai")?; // the legacy alias names the same row
    /// assert!(r.hit());
    /// assert_eq!(r.resolved_model(), Some("grok-3")); // the blocked default is skipped
    /// assert_eq!(store.resolve_model_key("openai/gpt-4o:free")?.resolved_model(), Some("openai/gpt-4o:free"));
    /// # Ok(()) }
    /// ```
    pub fn resolve_model_key<'k>(&self, key: &'k str) -> Result<Resolution<'k>> {
        self.resolves.bump();
        count_legacy_id(&self.legacy_keys, key);
        self.read(|snap| resolve::resolve_model_key(snap, key))
    }

    /// Resolves and explains every mapping considered and each candidate's fate (SPEC B8).
    pub fn explain(&self, key: &str) -> Result<Explanation> {
        self.resolves.bump();
        count_legacy_id(&self.legacy_keys, key);
        self.read(|snap| resolve::explain(snap, key))
    }

    /// The model for one chat request (SPEC B9).
    ///
    /// # Errors
    ///
    /// `StoreClosed`, or a database error when the coherence check fails and there is no
    /// snapshot to serve. Nothing found is not an error: see [`MessageSelection::reason`].
    ///
    /// ```
    /// # use model_mapping::{MappingInput, MessageRequest, Store, StoreOptions};
    /// # fn main() -> model_mapping::Result<()> {
    /// # let store = Store::open(":memory:", StoreOptions::default())?;
    /// store.upsert(&MappingInput::new("global:global", Some("gpt-4o"))?)?;
    /// let pick = store.resolve_for_message(&MessageRequest {
    ///     user_id: Some("42"),
    ///     ..Default::default()
    /// })?;
    /// assert_eq!(pick.model.as_deref(), Some("gpt-4o")); // no user:42 mapping: the global one
    /// # Ok(()) }
    /// ```
    pub fn resolve_for_message(&self, req: &MessageRequest<'_>) -> Result<MessageSelection> {
        if let Some(k) = req.mapping_key {
            count_legacy_id(&self.legacy_keys, k);
        }
        self.read(|snap| resolve::resolve_for_message(snap, req))
    }

    // ---- writes (SPEC B2, B5, B6, B7) ----

    /// Creates or replaces a mapping (SPEC B2); returns it as stored.
    ///
    /// # Errors
    ///
    /// `InvalidMappingScope` or `InvalidPayload` (naming the field) when the input breaks a rule
    /// of behaviour B1/B2; `DatabaseBusy` when the write lock is not had within `busy_timeout`;
    /// another database error when the write fails (nothing is then changed).
    ///
    /// ```
    /// # use model_mapping::{MappingInput, Store, StoreOptions};
    /// # fn main() -> model_mapping::Result<()> {
    /// # let store = Store::open(":memory:", StoreOptions::default())?;
    /// let mut input = MappingInput::new("Tenant:deepseek", Some("deepseek-chat"))?;
    /// input.candidates = vec!["deepseek-reasoner".into()];
    /// let stored = store.upsert(&input)?;
    /// assert_eq!(stored.id, "mapping:deepseek");
    /// assert_eq!(stored.candidates, ["deepseek-reasoner", "deepseek-chat"]); // the default is appended
    /// # Ok(()) }
    /// ```
    pub fn upsert(&self, input: &MappingInput) -> Result<Arc<Mapping>> {
        count_legacy_type(&self.legacy_keys, &input.scope_type);
        self.store_mapping(input.validate(false)?)
    }

    /// Parses a loose JSON payload (`id` or scope fields) and upserts it.
    pub fn upsert_json(&self, payload: &Value) -> Result<Arc<Mapping>> {
        self.upsert_payload(Payload::of(payload)?)
    }

    /// [`Store::upsert_json`] of JSON text, read straight into the members it uses (the C ABI's
    /// way: no JSON tree of the payload to build and copy out of).
    pub(crate) fn upsert_json_text(&self, text: &str) -> Result<Arc<Mapping>> {
        self.upsert_payload(Payload::parse(text)?)
    }

    fn upsert_payload(&self, payload: Payload) -> Result<Arc<Mapping>> {
        match (&payload.scope_type, &payload.id) {
            (Some(Value::String(t)), _) => count_legacy_type(&self.legacy_keys, t.as_str()),
            (_, Some(Value::String(id))) => count_legacy_id(&self.legacy_keys, id.as_str()),
            _ => {}
        }
        self.store_mapping(payload.into_input()?.into_mapping(false)?)
    }

    fn store_mapping(&self, m: Mapping) -> Result<Arc<Mapping>> {
        // One allocation serves the cache and the caller.
        let m = Arc::new(m);
        self.write(|tx, snap| {
            let w = replace_rows(tx, snap, &m)?;
            let next = after_write(tx, snap, vec![(Arc::clone(&m), w)], &[])?;
            Ok((m, next))
        })
    }

    /// Deletes a mapping by id (SPEC B5); whether a row was deleted.
    ///
    /// # Errors
    ///
    /// `InvalidMappingId` or `InvalidMappingScope` for a malformed id; `DatabaseBusy` or another
    /// database error when the write fails.
    pub fn delete(&self, id: &str) -> Result<bool> {
        count_legacy_id(&self.legacy_keys, id);
        let id = MappingId::parse(id.trim())?;
        self.write(|tx, snap| {
            let n = delete_rows(tx, snap, &id)?;
            Ok((n > 0, snap.with_changes([], std::slice::from_ref(&id))))
        })
    }

    /// Makes `model` the default of an existing mapping and activates it (SPEC B6).
    ///
    /// # Errors
    ///
    /// `MappingNotFound` when there is no such mapping; `InvalidMappingId` for a malformed id;
    /// `InvalidPayload` for an empty model; `DatabaseBusy` or another database error when the
    /// write fails.
    pub fn activate_default(&self, id: &str, model: &str) -> Result<Arc<Mapping>> {
        count_legacy_id(&self.legacy_keys, id);
        let id = MappingId::parse(id.trim())?;
        let model = normalize::model_name(model)
            .ok_or_else(|| Error::payload("model", "must be a non-empty model name"))?
            .to_owned();
        self.write(|tx, snap| {
            let row_ids = row_refs(snap, &id);
            // Several rows can name one id only when others wrote them; take the newest.
            let current = snap
                .slot(&id.scope_type, &id.scope_key)
                .and_then(|slot| slot.rows().max_by_key(|e| e.updated))
                .map(|e| Arc::clone(&e.mapping))
                .ok_or_else(|| Error::MappingNotFound(id.id()))?;
            let mut candidates = current.candidates.clone();
            candidates.push(model.clone());
            let input = MappingInput {
                scope_type: current.scope_type.clone(),
                scope_key: current.scope_key.clone(),
                name: current.name.clone(),
                default_model: Some(model.clone()),
                candidates,
                is_active: true,
                metadata: current.metadata.clone(),
                updated_at: None,
            };
            let m = Arc::new(input.into_mapping(false)?);
            let w = db::write_mapping(tx, &m, &row_ids)?;
            let next = after_write(tx, snap, vec![(Arc::clone(&m), w)], &[])?;
            Ok((m, next))
        })
    }

    /// Blocks (`true`) or unblocks (`false`) models; returns the new sorted list (SPEC B7).
    pub fn update_blocked(&self, changes: &[(String, bool)]) -> Result<Vec<String>> {
        let changes: Vec<(String, bool)> = changes
            .iter()
            .filter_map(|(m, b)| normalize::model_name(m).map(|m| (m.to_owned(), *b)))
            .collect();
        self.write(|tx, snap| {
            let now = timestamp::now();
            for (model, blocked) in &changes {
                if *blocked {
                    tx.prepare_cached("INSERT OR IGNORE INTO mm_blocked_models (model, blocked_at) VALUES (?1, ?2)")?
                        .execute([model, &now])?;
                } else {
                    tx.prepare_cached("DELETE FROM mm_blocked_models WHERE model = ?1")?.execute([model])?;
                }
            }
            let blocked = db::read_blocked(tx)?;
            let next = snap.with_blocked(blocked.iter().cloned());
            Ok((blocked, next))
        })
    }

    /// The backend's payload: a list of `{model, blocked}`; `blocked` defaults to true,
    /// non-objects and empty names are ignored.
    pub fn update_blocked_json(&self, items: &Value) -> Result<Vec<String>> {
        let items = items
            .as_array()
            .ok_or_else(|| Error::payload("items", "must be a list of {model, blocked}"))?;
        let changes: Vec<(String, bool)> = items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|o| {
                let model = o.get("model")?.as_str()?;
                Some((
                    model.to_owned(),
                    o.get("blocked").is_none_or(crate::model::python_truthy),
                ))
            })
            .collect();
        self.update_blocked(&changes)
    }

    // ---- migration, import, export, sync (SPEC B10, B14) ----

    /// Runs the one-time legacy migration for `storage_dir` (a no-op report `already_done`
    /// when the database records it). With `dry_run`, reports what it would do, writing
    /// nothing.
    pub fn migrate_legacy(&self, storage_dir: &Path, dry_run: bool) -> Result<MigrationReport> {
        let mut guard = self.conn.lock();
        let c = guard.as_mut().ok_or(Error::StoreClosed)?;
        self.ensure_own_connection(c)?;
        let (report, filled) = run_migration(&mut c.conn, storage_dir, dry_run)?;
        if !dry_run {
            let (version, snap) = match filled {
                Some(t) => t.into_snapshot(),
                None => load(&c.conn)?,
            };
            self.snapshot.store(Arc::new(snap));
            c.data_version = version;
            *self.last_migration.lock() = Some(report.clone());
        }
        Ok(report)
    }

    /// The report of the migration run at open (or the last explicit one).
    pub fn last_migration(&self) -> Option<MigrationReport> {
        self.last_migration.lock().clone()
    }

    /// Upserts each valid loose item, keeping carried timestamps; one bad item never blocks
    /// the rest (SPEC B14). Valid items commit together.
    pub fn import_items(&self, items: &[Value]) -> Result<ImportReport> {
        let (valid, errors) = sync::plan_import(items);
        let imported = valid.len();
        if !valid.is_empty() {
            self.write(|tx, snap| {
                let mut written = Vec::with_capacity(valid.len());
                for p in valid {
                    let w = replace_rows(tx, snap, &p.mapping)?;
                    written.push((Arc::new(p.mapping), w));
                }
                let next = after_write(tx, snap, written, &[])?;
                Ok(((), next))
            })?;
        }
        Ok(ImportReport {
            imported_count: imported,
            skipped_count: errors.len(),
            errors,
        })
    }

    /// `{"exported_at", "mappings": [...]}` (SPEC B14).
    pub fn export(&self) -> Result<Value> {
        Ok(sync::export(&self.snapshot()?.list(None, None)))
    }

    /// What applying a remote snapshot would change, without writing.
    pub fn plan_snapshot(
        &self,
        remote: &[Value],
        overwrite: bool,
        delete_missing: bool,
    ) -> Result<SnapshotPlan> {
        let local = local_mappings(&*self.snapshot()?);
        Ok(sync::plan_snapshot(
            remote,
            &local,
            overwrite,
            delete_missing,
        ))
    }

    /// Applies a remote snapshot in one transaction (SPEC B14): prompt scope skipped, local
    /// rows not older than the remote kept unless `overwrite`, local non-prompt rows absent
    /// from it deleted with `delete_missing`.
    pub fn apply_snapshot(
        &self,
        remote: &[Value],
        overwrite: bool,
        delete_missing: bool,
    ) -> Result<PullReport> {
        self.write(|tx, snap| {
            // The snapshot a write runs on is the table as this transaction sees it.
            let local = local_mappings(snap);
            let plan = sync::plan_snapshot(remote, &local, overwrite, delete_missing);
            let mut written = Vec::with_capacity(plan.writes.len());
            for m in &plan.writes {
                written.push((Arc::new(m.clone()), replace_rows(tx, snap, m)?));
            }
            let deleted = plan
                .deleted
                .iter()
                .map(|id| MappingId::parse(id))
                .collect::<Result<Vec<_>>>()?;
            for id in &deleted {
                delete_rows(tx, snap, id)?;
            }
            let next = after_write(tx, snap, written, &deleted)?;
            Ok((plan.report(), next))
        })
    }

    // ---- health (SPEC B13) ----

    /// Data version, last refresh, last error, counters and migration records.
    pub fn health(&self) -> Result<Health> {
        let snap = self.snapshot()?;
        let guard = self.conn.lock();
        let c = guard.as_ref().ok_or(Error::StoreClosed)?;
        let own = c.generation == fork_generation();
        let journal_mode = own
            .then(|| {
                c.conn
                    .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                    .ok()
            })
            .flatten();
        let migration = own
            .then(|| legacy::records(&c.conn).ok())
            .flatten()
            .unwrap_or(Value::Null);
        let h = self.health.lock();
        Ok(Health {
            ok: h.last_error.is_none(),
            path: self.path.display().to_string(),
            sqlite_version: crate::sqlite_version().to_owned(),
            journal_mode,
            schema_version: self.schema_version,
            data_version: c.data_version,
            mappings: snap.len(),
            blocked: snap.blocked().len(),
            last_refresh_at: h.last_refresh_at.clone(),
            last_error: h.last_error.clone(),
            refreshes: h.refreshes,
            resolves: self.resolves.get(),
            legacy_tenant_keys: self.legacy_keys.get(),
            max_staleness_ms: self.options.max_staleness.as_millis() as u64,
            reopened_after_fork: h.reopened_after_fork,
            migration,
        })
    }

    /// `PRAGMA quick_check`: `["ok"]` on a healthy database, else the problems found.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let mut guard = self.conn.lock();
        let c = guard.as_mut().ok_or(Error::StoreClosed)?;
        self.ensure_own_connection(c)?;
        let mut stmt = c.conn.prepare("PRAGMA quick_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn run_migration(
    conn: &mut Connection,
    dir: &Path,
    dry_run: bool,
) -> Result<(MigrationReport, Option<legacy::FilledTable>)> {
    if !dir.is_dir() {
        // A missing storage dir is more likely a misconfiguration than "no legacy data":
        // report it and record nothing, so a later open with the right dir still imports.
        let report = MigrationReport {
            status: legacy::MigrationStatus::SkippedNoFile,
            imported_count: 0,
            skipped_count: 0,
            blocked_imported: 0,
            blocked_status: legacy::MigrationStatus::SkippedNoFile,
            errors: vec![legacy::ReportError {
                key: dir.display().to_string(),
                reason: "storage_dir_missing: nothing recorded".into(),
            }],
            warnings: Vec::new(),
            dry_run,
        };
        return Ok((report, None));
    }
    legacy::run(conn, dir, dry_run)
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_path_opens_a_private_in_memory_store() {
        let store = Store::open(":memory:", StoreOptions::default()).unwrap();
        store
            .upsert(&MappingInput::new("mapping:xai", Some("grok-4")).unwrap())
            .unwrap();
        let r = store.resolve_model_key("xai").unwrap();
        assert_eq!(r.resolved_model(), Some("grok-4"));
        assert!(!Path::new(":memory:").exists());
    }

    #[test]
    fn uri_looking_path_is_a_literal_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file:x.db?mode=memory");
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        store
            .upsert(&MappingInput::new("mapping:xai", Some("grok-4")).unwrap())
            .unwrap();
        drop(store);
        assert!(
            path.is_file(),
            "the database lives in the file the path names"
        );
    }
}

//! The cached store (behaviour B13, B16): an immutable snapshot behind an `Arc` that reads share,
//! kept coherent through the change feed (`crate::feed`), over a read connection and a write
//! connection (`conns`) so that reads never wait for writes.
//!
//! - `read`: the coherence check every read makes (or one per `max_staleness`);
//! - `write`: the write transaction and its snapshot;
//! - `health`: what the store reports about itself;
//! - `migrate`: the legacy migration as the store runs it.

mod actor;
mod conns;
mod health;
mod history;
mod migrate;
mod read;
mod write;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde_json::Value;

use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::feed;
use crate::legacy::{self, MigrationReport};
use crate::model::{Mapping, MappingInput, Payload};
use crate::normalize::{self, MappingId};
use crate::options::StoreOptions;
use crate::resolve::{self, Explanation, MessageRequest, MessageSelection, Resolution};
use crate::schema;
use crate::scope_rows;
use crate::snapshot::Snapshot;
use crate::sync::{self, ImportReport, PullReport, SnapshotPlan};

pub(crate) use actor::set as set_actor;
pub use actor::with_actor;
use conns::Conns;
use health::Tracker;
pub use health::{Health, HealthError, RefreshKind};
use write::Tx;

/// A thread-safe, process-safe, cached store of model mappings over one SQLite file.
///
/// Reads are served from an immutable in-memory snapshot, checked against the database before
/// each read (or at most once per `max_staleness`) and brought up to date from the change feed;
/// writes go straight to SQLite in `BEGIN IMMEDIATE` transactions and install the snapshot they
/// produced before returning.
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
    conns: Arc<Conns>,
    snapshot: ArcSwap<Snapshot>,
    /// Coarse monotonic clock (a few ns to read, ~1-4 ms resolution) for the staleness bound.
    epoch: coarsetime::Instant,
    last_check_ns: AtomicU64,
    resolves: Counter,
    legacy_keys: Counter,
    schema_version: i64,
    tracker: Tracker,
    last_migration: Mutex<Option<MigrationReport>>,
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

/// Every mapping (the row reads show for each id), by id: what a remote snapshot is planned
/// against.
fn local_mappings(snap: &Snapshot) -> std::collections::HashMap<String, Mapping> {
    snap.list(None, None)
        .into_iter()
        .map(|m| (m.id.clone(), (*m).clone()))
        .collect()
}

impl Store {
    /// Opens (creating when missing, mode 0600) the database at `path`, brings the schema up to
    /// date, installs the change feed's triggers when missing, rewrites legacy `tenant` rows,
    /// runs the one-time legacy migration when `options.storage_dir` is set, and loads the
    /// cache.
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
        let conns = Arc::new(Conns::open(path.as_ref(), &options)?);
        let (schema_version, migration, snapshot) = conns.write(|conn| {
            let version = schema::init(conn)?;
            feed::install_if_missing(conn)?;
            scope_rows::normalize_scope_rows(conn)?;
            let (migration, filled) = match &options.storage_dir {
                Some(dir) => {
                    let (report, filled) = migrate::run(conn, dir, false)?;
                    (Some(report), filled)
                }
                None => (None, None),
            };
            let snapshot = match filled {
                Some(s) => s,
                None => feed::load_now(conn)?,
            };
            Ok((version, migration, snapshot))
        })?;
        Ok(Store::assemble(conns, snapshot, schema_version, migration))
    }

    /// Opens the database at `path` for reading only: nothing on disk is created or changed
    /// (no schema, no journal-mode switch, no triggers, no rewrite of `tenant` rows, no
    /// migration even when `options.storage_dir` is set, no `-wal`/`-shm` left behind), and
    /// every write fails with `database_readonly`.
    ///
    /// The table is read with the same rules as by [`Store::open`] (behaviour B11). On a database
    /// the library never set up, `llm_model_mappings` is read if the host has it (else there
    /// are no mappings), the blocked list is empty, [`Health::schema_version`] is 0 and the
    /// history is empty.
    ///
    /// When neither `-wal`, `-shm` nor `-journal` exists beside the file (no connection has it
    /// open in WAL mode, no write is under way), SQLite would create the `-wal` and `-shm` it
    /// reads through; the file is then read as immutable instead, as it stands at open:
    /// changes others make afterwards are not seen (open again to see them). Otherwise the
    /// store reads through the files already there and stays coherent like any store.
    ///
    /// # Errors
    /// `database_cant_open` for a missing file (it is never created) or a directory, and the
    /// other errors of [`Store::open`] for a file that is not a readable database.
    pub fn open_read_only(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let conns = Arc::new(Conns::open_read_only(path.as_ref(), &options)?);
        let (schema_version, snapshot) =
            conns.read(|conn, _| Ok((schema::version_found(conn)?, feed::load_now(conn)?)))?;
        Ok(Store::assemble(conns, snapshot, schema_version, None))
    }

    fn assemble(
        conns: Arc<Conns>,
        snapshot: Snapshot,
        schema_version: i64,
        migration: Option<MigrationReport>,
    ) -> Store {
        let weak: std::sync::Weak<dyn crate::fork::CloseOnFork> =
            Arc::downgrade(&conns) as std::sync::Weak<Conns> as _;
        {
            let _call = crate::fork::enter();
            crate::fork::register(weak);
        }
        Store {
            conns,
            snapshot: ArcSwap::from_pointee(snapshot),
            epoch: coarsetime::Instant::now(),
            last_check_ns: AtomicU64::new(0),
            resolves: Counter::default(),
            legacy_keys: Counter::default(),
            schema_version,
            tracker: Tracker::opened(),
            last_migration: Mutex::new(migration),
        }
    }

    /// Whether the store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.conns.is_read_only()
    }

    /// Opens with default options.
    pub fn open_default(path: impl AsRef<Path>) -> Result<Store> {
        Store::open(path, StoreOptions::default())
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        self.conns.path()
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        self.conns.options()
    }

    /// Closes the connections; later calls fail with `store_closed`. Closing twice is fine.
    pub fn close(&self) {
        self.conns.close();
    }

    /// Installs `next` unless the snapshot already reflects a later state (a write and a read
    /// may both bring it up to date; the later state wins whichever installs last).
    fn install(&self, next: Arc<Snapshot>) {
        let mut current = self.snapshot.load_full();
        loop {
            if current.position().supersedes(&next.position()) {
                return;
            }
            let prev = self.snapshot.compare_and_swap(&current, Arc::clone(&next));
            if Arc::ptr_eq(&prev, &current) {
                drop(prev);
                retire(current);
                return;
            }
            current = arc_swap::Guard::into_inner(prev);
        }
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

    // ---- reads (behaviour B4, B7, B8, B9) ----

    /// Mappings, optionally filtered by scope type (normalised: `tenant` finds `mapping` rows)
    /// and exact scope key, newest first (behaviour B4).
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

    /// Blocked models, sorted and unique (behaviour B7).
    pub fn blocked_models(&self) -> Result<Vec<String>> {
        Ok(self.snapshot()?.blocked().to_vec())
    }

    /// Resolves a client's model key (behaviour B8). Never fails on a strange key.
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

    /// Resolves and explains every mapping considered and each candidate's fate (behaviour B8).
    pub fn explain(&self, key: &str) -> Result<Explanation> {
        self.resolves.bump();
        count_legacy_id(&self.legacy_keys, key);
        self.read(|snap| resolve::explain(snap, key))
    }

    /// The model for one chat request (behaviour B9).
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

    // ---- writes (behaviour B2, B5, B6, B7) ----

    /// Runs `f` in a write transaction (see `write`) and installs the snapshot it leaves.
    fn write<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let (out, next, caught_up) = self.conns.write(|conn| {
            let begun = crate::db::CachedTx::immediate(conn)?;
            let mut tx = Tx::begin(conn, self.snapshot.load_full())?;
            if !tx.snapshot().position().triggers
                && feed::ensure_triggers(conn)? == feed::Triggers::Recreated
            {
                tx.sync()?;
            }
            let caught_up = tx.caught_up;
            let start = tx.snapshot().position().seq;
            let out = f(&mut tx)?;
            let end = tx.snapshot().position().seq;
            if end > start {
                feed::mark_own(conn, start, actor::current().as_deref())?;
                feed::prune(conn, start, end)?;
            }
            begun.commit()?;
            Ok((out, tx.into_snapshot(), caught_up))
        })?;
        self.install(next);
        if let Some(kind) = caught_up {
            self.tracker.refreshed(kind);
        }
        Ok(out)
    }

    /// Creates or replaces a mapping (behaviour B2); returns it as stored.
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
        let m = input.validate(false)?;
        self.write(|tx| tx.put(&m))
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
        let m = payload.into_input()?.into_mapping(false)?;
        self.write(|tx| tx.put(&m))
    }

    /// Deletes a mapping by id (behaviour B5); whether a row was deleted.
    ///
    /// # Errors
    ///
    /// `InvalidMappingId` or `InvalidMappingScope` for a malformed id; `DatabaseBusy` or another
    /// database error when the write fails.
    pub fn delete(&self, id: &str) -> Result<bool> {
        count_legacy_id(&self.legacy_keys, id);
        let id = MappingId::parse(id.trim())?;
        self.write(|tx| Ok(tx.remove(&id)? > 0))
    }

    /// Makes `model` the default of an existing mapping and activates it (behaviour B6).
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
        self.write(|tx| {
            // Several rows can name one id only when others wrote them; take the newest.
            let current = tx
                .snapshot()
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
            tx.put(&input.into_mapping(false)?)
        })
    }

    /// Blocks (`true`) or unblocks (`false`) models; returns the new sorted list (behaviour B7).
    pub fn update_blocked(&self, changes: &[(String, bool)]) -> Result<Vec<String>> {
        let changes: Vec<(String, bool)> = changes
            .iter()
            .filter_map(|(m, b)| normalize::model_name(m).map(|m| (m.to_owned(), *b)))
            .collect();
        self.write(|tx| {
            tx.set_blocked(&changes)?;
            Ok(tx.snapshot().blocked().to_vec())
        })
    }

    /// `[{"model": name, "blocked": true|false}]` (`blocked` defaults to true), read strictly:
    /// any other shape is `invalid_payload` naming the item, and nothing changes. (The
    /// backend's leniency — non-objects and empty names ignored — is the Python drop-in's.)
    pub fn update_blocked_json(&self, items: &Value) -> Result<Vec<String>> {
        self.update_blocked(&crate::model::blocked_updates(items)?)
    }

    // ---- migration, import, export, sync (behaviour B10, B14) ----

    /// Runs the one-time legacy migration for `storage_dir` (a no-op report `already_done`
    /// when the database records it). With `dry_run`, reports what it would do, writing
    /// nothing.
    pub fn migrate_legacy(&self, storage_dir: &Path, dry_run: bool) -> Result<MigrationReport> {
        let (report, filled) = self
            .conns
            .write(|conn| migrate::run(conn, storage_dir, dry_run))?;
        if !dry_run {
            if let Some(snap) = filled {
                // The import's snapshot comes after whatever restarts of the log this store saw.
                let restarts = self.snapshot.load().position().restarts;
                let pos = crate::snapshot::Position {
                    restarts,
                    ..snap.position()
                };
                self.install(Arc::new(snap.at(pos)));
            }
            *self.last_migration.lock() = Some(report.clone());
        }
        Ok(report)
    }

    /// The report of the migration run at open (or the last explicit one).
    pub fn last_migration(&self) -> Option<MigrationReport> {
        self.last_migration.lock().clone()
    }

    /// Upserts each valid loose item, keeping carried timestamps; one bad item never blocks
    /// the rest (behaviour B14). Valid items commit together, each written over what the ones
    /// before it left.
    pub fn import_items(&self, items: &[Value]) -> Result<ImportReport> {
        let (valid, errors) = sync::plan_import(items);
        let imported = valid.len();
        if !valid.is_empty() {
            self.write(|tx| {
                for p in &valid {
                    tx.put(&p.mapping)?;
                }
                Ok(())
            })?;
        }
        Ok(ImportReport {
            imported_count: imported,
            skipped_count: errors.len(),
            errors,
        })
    }

    /// What [`Store::import_changes`] of these items would write, without writing.
    pub fn plan_import(&self, items: &[Value]) -> Result<sync::ImportPlan> {
        let local = local_mappings(&*self.snapshot()?);
        Ok(sync::plan_import_changes(items, &local))
    }

    /// A bulk import that reports what it changed: each valid item upserted (carried
    /// timestamps kept) unless its id already holds what it says, one bad item never
    /// blocking the rest, all in one transaction, planned against the table as that
    /// transaction sees it.
    pub fn import_changes(&self, items: &[Value]) -> Result<sync::ImportPlan> {
        self.write(|tx| {
            let mut plan = sync::plan_import_changes(items, &local_mappings(tx.snapshot()));
            for m in &plan.writes {
                tx.put(m)?;
            }
            plan.dry_run = false;
            Ok(plan)
        })
    }

    /// `{"exported_at", "mappings": [...]}` (behaviour B14).
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

    /// Applies a remote snapshot in one transaction (behaviour B14): prompt scope skipped, local
    /// rows not older than the remote kept unless `overwrite`, local non-prompt rows absent
    /// from it deleted with `delete_missing`.
    pub fn apply_snapshot(
        &self,
        remote: &[Value],
        overwrite: bool,
        delete_missing: bool,
    ) -> Result<PullReport> {
        self.write(|tx| {
            // Planned against the table as this transaction sees it.
            let local = local_mappings(tx.snapshot());
            let plan = sync::plan_snapshot(remote, &local, overwrite, delete_missing);
            for m in &plan.writes {
                tx.put(m)?;
            }
            for id in &plan.deleted {
                tx.remove(&MappingId::parse(id)?)?;
            }
            Ok(plan.report())
        })
    }

    // ---- health (behaviour B13) ----

    /// Data version, change counter, refreshes by kind, last error, counters and migration
    /// records.
    pub fn health(&self) -> Result<Health> {
        let snap = self.snapshot()?;
        let (journal_mode, migration, data_version) = self.conns.read(|conn, _| {
            let journal_mode = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                .ok();
            let migration = legacy::records(conn).unwrap_or(Value::Null);
            Ok((journal_mode, migration, crate::db::data_version(conn).ok()))
        })?;
        let t = self.tracker.get();
        Ok(Health {
            ok: t.last_error.is_none(),
            path: self.path().display().to_string(),
            sqlite_version: crate::sqlite_version().to_owned(),
            journal_mode,
            schema_version: self.schema_version,
            data_version,
            change_counter: snap.position().seq,
            triggers: snap.position().triggers,
            mappings: snap.len(),
            blocked: snap.blocked().len(),
            last_refresh_at: t.last_refresh_at,
            last_refresh_kind: t.last_refresh_kind,
            last_error: t.last_error,
            refreshes: t.incremental + t.full,
            incremental_refreshes: t.incremental,
            full_reloads: t.full,
            resolves: self.resolves.get(),
            legacy_tenant_keys: self.legacy_keys.get(),
            max_staleness_ms: self.options().max_staleness.as_millis() as u64,
            reopened_after_fork: self.conns.reopened(),
            migration,
        })
    }

    /// `PRAGMA quick_check`: `["ok"]` on a healthy database, else the problems found.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        self.conns.read(|conn, _| {
            let mut stmt = conn.prepare("PRAGMA quick_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

/// The snapshot a refresh produced and what kind of refresh it was (`None`: nothing changed).
fn refreshed(refresh: feed::Refresh) -> Option<(Snapshot, RefreshKind)> {
    match refresh {
        feed::Refresh::Unchanged => None,
        feed::Refresh::Incremental(s) => Some((s, RefreshKind::Incremental)),
        feed::Refresh::Full(s) => Some((s, RefreshKind::Full)),
    }
}

/// Lets go of a snapshot the store no longer serves; when this was the last reference, frees
/// it and makes the allocator settle now. glibc keeps small freed blocks aside and coalesces
/// them all at the next allocation of a few KiB, whoever makes it: after a whole snapshot
/// (hundreds of thousands of small blocks) is freed that takes milliseconds, and would land on
/// the next call — a resolve, or the host's own code. One such allocation here charges it to
/// the call that replaced the snapshot (see BENCHMARKS.md, P7).
fn retire(old: Arc<Snapshot>) {
    if let Some(snapshot) = Arc::into_inner(old) {
        drop(snapshot);
        drop(std::hint::black_box(Vec::<u8>::with_capacity(4096)));
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

//! Helpers shared by the integration tests: temporary databases, the backend's DDL, raw SQL
//! rows, file fingerprints and child processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use model_mapping::{Mapping, MappingInput, Store, StoreOptions};
use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;

/// The library's change-feed triggers, as a host that re-creates them would run them.
pub const FEED_TRIGGERS_SQL: &str = include_str!("../../src/sql/feed_triggers.sql");

/// The names of the change feed's triggers.
pub const FEED_TRIGGERS: [&str; 8] = [
    "mm_feed_mappings_bi",
    "mm_feed_mappings_ai",
    "mm_feed_mappings_bu",
    "mm_feed_mappings_au",
    "mm_feed_mappings_ad",
    "mm_feed_blocked_ai",
    "mm_feed_blocked_au",
    "mm_feed_blocked_ad",
];

/// The SQL that drops every feed trigger there is.
pub fn drop_feed_triggers_sql() -> String {
    FEED_TRIGGERS
        .iter()
        .map(|t| format!("DROP TRIGGER IF EXISTS {t};"))
        .collect()
}

/// A host emptying the change log together with its counter row, in one commit.
pub const RESET_LOG: &str = "BEGIN; DELETE FROM mm_changes; \
     DELETE FROM sqlite_sequence WHERE name = 'mm_changes'; COMMIT;";

/// The change feed's counter as plain SQL reads it (0 without a counter row).
pub fn feed_counter(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'mm_changes'), 0)",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// The backend's own DDL for `llm_model_mappings`, exactly as behaviour B12 gives it.
pub const BACKEND_DDL: &str = "\
CREATE TABLE IF NOT EXISTS llm_model_mappings (id TEXT PRIMARY KEY, scope_type TEXT NOT NULL, \
scope_key TEXT NOT NULL, name TEXT, default_model TEXT, candidates_json TEXT, \
is_active INTEGER DEFAULT 1, updated_at TEXT, metadata_json TEXT, \
created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX IF NOT EXISTS idx_llm_model_mappings_scope ON llm_model_mappings (scope_type, scope_key);
CREATE INDEX IF NOT EXISTS idx_llm_model_mappings_updated_at ON llm_model_mappings (updated_at DESC);";

/// A temporary directory holding `app.db` and a storage dir `ai_runtime/`.
pub struct Db {
    pub dir: TempDir,
    pub path: PathBuf,
}

pub fn fresh() -> Db {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    Db { dir, path }
}

impl Db {
    /// Opens a store with default options (no legacy migration).
    pub fn open(&self) -> Store {
        Store::open(&self.path, StoreOptions::default()).expect("open store")
    }

    /// Opens a store with options adjusted by `f`.
    pub fn open_with(&self, f: impl FnOnce(&mut StoreOptions)) -> Store {
        let mut o = StoreOptions::default();
        f(&mut o);
        Store::open(&self.path, o).expect("open store")
    }

    /// Opens a store that runs the legacy migration from [`Db::storage`].
    pub fn open_migrating(&self) -> Store {
        self.open_with(|o| o.storage_dir = Some(self.storage()))
    }

    /// The legacy storage dir (created).
    pub fn storage(&self) -> PathBuf {
        let s = self.dir.path().join("ai_runtime");
        std::fs::create_dir_all(&s).unwrap();
        s
    }

    /// A plain SQLite connection standing in for the backend's Python one.
    pub fn sql(&self) -> Connection {
        let c = Connection::open(&self.path).expect("sql connection");
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c
    }

    /// Creates the database the way the backend does, before the library ever sees it.
    pub fn create_like_backend(&self) -> Connection {
        let c = self.sql();
        c.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        c.execute_batch(BACKEND_DDL).unwrap();
        c
    }

    pub fn row_count(&self) -> i64 {
        self.sql()
            .query_row("SELECT count(*) FROM llm_model_mappings", [], |r| r.get(0))
            .unwrap()
    }
}

/// One row as the backend (or its tests) would insert it with SQL.
#[derive(Clone, Debug)]
pub struct RawRow<'a> {
    pub id: &'a str,
    pub scope_type: &'a str,
    pub scope_key: &'a str,
    pub name: Option<&'a str>,
    pub default_model: Option<&'a str>,
    pub candidates_json: Option<&'a str>,
    pub is_active: Option<i64>,
    pub updated_at: Option<&'a str>,
    pub metadata_json: Option<&'a str>,
}

impl<'a> RawRow<'a> {
    pub fn new(id: &'a str, scope_type: &'a str, scope_key: &'a str) -> RawRow<'a> {
        RawRow {
            id,
            scope_type,
            scope_key,
            name: None,
            default_model: None,
            candidates_json: Some("[]"),
            is_active: Some(1),
            updated_at: None,
            metadata_json: Some("{}"),
        }
    }

    pub fn default_model(mut self, m: &'a str) -> Self {
        self.default_model = Some(m);
        self
    }

    pub fn candidates(mut self, json: &'a str) -> Self {
        self.candidates_json = Some(json);
        self
    }

    pub fn active(mut self, a: Option<i64>) -> Self {
        self.is_active = a;
        self
    }

    pub fn updated(mut self, at: &'a str) -> Self {
        self.updated_at = Some(at);
        self
    }

    pub fn metadata(mut self, json: &'a str) -> Self {
        self.metadata_json = Some(json);
        self
    }

    pub fn name(mut self, n: &'a str) -> Self {
        self.name = Some(n);
        self
    }

    pub fn insert(&self, conn: &Connection) {
        conn.execute(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key, name, default_model, \
             candidates_json, is_active, updated_at, metadata_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                self.id,
                self.scope_type,
                self.scope_key,
                self.name,
                self.default_model,
                self.candidates_json,
                self.is_active,
                self.updated_at,
                self.metadata_json
            ],
        )
        .expect("insert raw row");
    }
}

/// An active mapping input for `id` with a default model and candidates.
pub fn input(id: &str, default_model: Option<&str>, candidates: &[&str]) -> MappingInput {
    let mut i = MappingInput::new(id, default_model).expect("valid id");
    i.candidates = candidates.iter().map(|c| c.to_string()).collect();
    i
}

/// Upserts a loose JSON payload.
pub fn put(store: &Store, payload: Value) -> Arc<Mapping> {
    store.upsert_json(&payload).expect("upsert")
}

/// Writes items with carried timestamps (the only way to control `updated_at` via the API).
pub fn put_at(store: &Store, items: Vec<Value>) {
    let report = store.import_items(&items).expect("import");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

/// True for `2026-01-08T02:07:59+00:00`: RFC 3339, UTC, whole seconds, `+00:00`.
pub fn is_utc_seconds(ts: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(ts).is_ok_and(|t| {
        t.offset().local_minus_utc() == 0
            && t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false) == ts
    })
}

/// Bytes and modification time of a file, to prove it was left alone.
pub fn fingerprint(path: &Path) -> (Vec<u8>, SystemTime) {
    let bytes = std::fs::read(path).expect("read file");
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    (bytes, mtime)
}

/// Names in a directory, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---- child processes ----
//
// A test binary re-executes itself to get a second process: the parent runs one named test of
// the same binary with `MM_CHILD_MODE` set; that test does the child's work and prints
// `MM_CHILD_RESULT:<text>` lines. Without the variable the entry test returns at once. This
// works the same under `cargo test` and `cargo nextest`.

const MODE_VAR: &str = "MM_CHILD_MODE";
const RESULT_PREFIX: &str = "MM_CHILD_RESULT:";

/// The mode this process was started in, when it is a child.
pub fn child_mode() -> Option<String> {
    std::env::var(MODE_VAR).ok()
}

/// A value the parent passed to the child.
pub fn child_arg(name: &str) -> String {
    std::env::var(format!("MM_CHILD_{name}")).unwrap_or_else(|_| panic!("child arg {name}"))
}

/// Reports a result line to the parent.
pub fn child_report(text: &str) {
    println!("{RESULT_PREFIX}{text}");
}

/// Starts this test binary again, running only `entry_test` in `mode` with `args`
/// (read back with [`child_arg`]).
pub fn spawn_child(entry_test: &str, mode: &str, args: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args([entry_test, "--exact", "--nocapture", "--test-threads=1"])
        .env(MODE_VAR, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in args {
        cmd.env(format!("MM_CHILD_{k}"), v);
    }
    cmd.spawn().expect("spawn child test process")
}

/// Waits for a child (killing it after a generous hang guard), asserts it succeeded, and
/// returns its result lines.
pub fn finish_child(mut child: Child) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child hung; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out: Output = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<String> = stdout
        .lines()
        // libtest may print "test name ... " on the same line first.
        .filter_map(|l| l.find(RESULT_PREFIX).map(|i| &l[i + RESULT_PREFIX.len()..]))
        .map(str::to_owned)
        .collect();
    assert!(
        !results.is_empty(),
        "child reported nothing (was the entry test name right?):\n{stdout}"
    );
    results
}

/// Spins until `path` exists (a start line for children racing each other).
pub fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "start file never appeared");
        std::thread::sleep(Duration::from_millis(1));
    }
}

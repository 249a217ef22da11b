//! The `model-mapping` operator CLI, run as a process on temporary databases: every command,
//! the JSON and table outputs, the exit codes (0 ok, 1 not found or check failed, 2 usage or
//! invalid input, 3 database error) and every error path.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_model-mapping");

/// The subcommands, for the `--help` sweep.
const COMMANDS: [&str; 15] = [
    "migrate",
    "list",
    "get",
    "upsert",
    "delete",
    "activate",
    "resolve",
    "resolve-message",
    "block",
    "unblock",
    "blocked",
    "export",
    "import",
    "apply",
    "health",
];

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts the exit code and that stderr names the error code.
    fn fails(&self, code: i32, error: &str) -> &Out {
        assert_eq!(self.code, code, "exit code; stderr: {}", self.stderr);
        assert!(
            self.stderr.contains(error),
            "stderr should name {error}: {}",
            self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        self
    }
}

/// A temporary directory with a database path (not created) and a legacy storage dir.
struct Env {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        Env { dir, db }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Runs the binary with `--db <db>` first.
    fn run(&self, args: &[&str]) -> Out {
        let mut all = vec!["--db", self.db.to_str().unwrap()];
        all.extend_from_slice(args);
        run_raw(&all, None, &[])
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        let mut all = vec!["--db", self.db.to_str().unwrap()];
        all.extend_from_slice(args);
        run_raw(&all, Some(stdin), &[])
    }

    fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?} failed: {}", out.stderr);
        out
    }

    fn ok_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.ok(&all).json()
    }

    fn upsert(&self, payload: Value) -> Value {
        self.run_stdin(&["--json", "upsert", "-"], &payload.to_string())
            .json()
    }

    /// A legacy storage dir with two mappings (one in the `tenant` spelling), one broken
    /// entry and a blocked list.
    fn legacy_dir(&self) -> PathBuf {
        let dir = self.path("storage");
        std::fs::create_dir_all(&dir).unwrap();
        let mappings = json!({
            "tenant": {
                "xai": {"name": "xAI", "mapping": {
                    "default_model": "grok-4", "candidates": ["grok-3"],
                    "is_active": true, "updated_at": "2026-01-08T02:07:59Z",
                    "metadata": {"preferred_endpoint_id": 7}}},
                "broken": "not an object"
            },
            "global": {
                "global": {"name": "App Default", "mapping": {
                    "default_model": "gpt-4o-mini", "candidates": [],
                    "updated_at": "2026-01-01T00:00:00+00:00", "metadata": {}}}
            }
        });
        std::fs::write(dir.join("model_mappings.json"), mappings.to_string()).unwrap();
        std::fs::write(
            dir.join("blocked_models.json"),
            r#"{"updated_at": "2026-01-01T00:00:00Z", "blocked": ["grok-4"]}"#,
        )
        .unwrap();
        dir
    }
}

fn run_raw(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("MODEL_MAPPING_DB")
        .env_remove("AI_RUNTIME_STORAGE_DIR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run model-mapping");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The files of a directory with their contents (to prove nothing was written).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A database as the backend creates it before this library is deployed: its own table, in
/// rollback-journal mode, with a `tenant` row written by SQL.
fn host_database(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE llm_model_mappings (id TEXT PRIMARY KEY, scope_type TEXT NOT NULL,
           scope_key TEXT NOT NULL, name TEXT, default_model TEXT, candidates_json TEXT,
           is_active INTEGER DEFAULT 1, updated_at TEXT, metadata_json TEXT,
           created_at TEXT DEFAULT CURRENT_TIMESTAMP);
         CREATE TABLE endpoints (id INTEGER PRIMARY KEY, api_key TEXT);
         INSERT INTO endpoints (api_key) VALUES ('secret');
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, candidates_json,
           updated_at, metadata_json)
         VALUES ('tenant:xai', 'tenant', 'xai', 'grok-4', '[\"grok-4\"]',
           '2026-01-02T00:00:00+00:00', '{}');",
    )
    .unwrap();
}

// ---- usage, help, exit code 2 ----

#[test]
fn every_command_has_help() {
    let top = run_raw(&["--help"], None, &[]);
    assert_eq!(top.code, 0);
    for c in COMMANDS {
        assert!(top.stdout.contains(c), "top-level help lists {c}");
        let out = run_raw(&[c, "--help"], None, &[]);
        assert_eq!(out.code, 0, "{c} --help: {}", out.stderr);
        assert!(out.stdout.contains("Usage: model-mapping"), "{c}");
        assert!(
            out.stdout.contains("--db"),
            "{c} help shows the global --db"
        );
        let out = run_raw(&["help", c], None, &[]);
        assert_eq!(out.code, 0, "help {c}");
    }
    let v = run_raw(&["--version"], None, &[]);
    assert_eq!(v.code, 0);
    assert!(v.stdout.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    for args in [
        &[][..],
        &["frobnicate"],
        &["list", "--bogus"],
        &["get"],
        &["activate", "mapping:xai"],
        &["resolve-message"],
        &["block"],
        &["migrate"],
        &["apply"],
    ] {
        let out = env.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    // No database at all: neither --db nor MODEL_MAPPING_DB.
    let out = run_raw(&["list"], None, &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("MODEL_MAPPING_DB"), "{}", out.stderr);
    assert!(!env.db.exists(), "usage errors never create the database");
}

#[test]
fn the_database_comes_from_model_mapping_db_too() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4"}));
    let db = env.db.to_str().unwrap();
    let out = run_raw(&["--json", "list"], None, &[("MODEL_MAPPING_DB", db)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(names(&out.json()), ["mapping:xai"]);
    // --db wins over the environment.
    let other = env.path("other.db");
    let out = run_raw(
        &["--db", other.to_str().unwrap(), "list"],
        None,
        &[("MODEL_MAPPING_DB", db)],
    );
    out.fails(3, "database_cant_open");
}

// ---- migrate ----

#[test]
fn migrate_dry_run_on_a_missing_database_creates_nothing() {
    let env = Env::new();
    let storage = env.legacy_dir();
    let legacy_before = tree(&storage);
    let out = env.ok(&[
        "--json",
        "migrate",
        "--storage-dir",
        storage.to_str().unwrap(),
        "--dry-run",
    ]);
    let r = out.json();
    assert_eq!(r["status"], "imported");
    assert_eq!(r["imported_count"], 2);
    assert_eq!(r["skipped_count"], 1);
    assert_eq!(r["blocked_imported"], 1);
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["database_exists"], false);
    assert_eq!(r["errors"][0]["key"], "tenant:broken");
    assert!(!env.db.exists(), "a dry run never creates the database");
    assert_eq!(
        tree(&storage),
        legacy_before,
        "legacy files and marker untouched"
    );
    assert_eq!(
        tree(env.dir.path()),
        vec![],
        "nothing written beside the database"
    );

    let text = env.ok(&[
        "migrate",
        "--storage-dir",
        storage.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(text.stdout.contains("would import 2 mappings, 1 skipped"));
    assert!(text.stdout.contains("does not exist yet"));
    assert!(text.stdout.contains("tenant:broken"));
}

#[test]
fn migrate_dry_run_never_writes_to_an_existing_database() {
    let env = Env::new();
    host_database(&env.db);
    let storage = env.legacy_dir();
    let before = tree(env.dir.path());
    let r = env.ok_json(&[
        "migrate",
        "--storage-dir",
        storage.to_str().unwrap(),
        "--dry-run",
    ]);
    // The host table has a row: a real run would record and skip, and still import blocked.
    assert_eq!(r["status"], "skipped_nonempty");
    assert_eq!(r["blocked_status"], "imported");
    assert_eq!(r["blocked_imported"], 1);
    assert_eq!(r["database_exists"], true);
    assert_eq!(
        tree(env.dir.path()),
        before,
        "no schema, no tenant rewrite, no journal change, no sidecar file"
    );

    // Same for a WAL database this library wrote and closed.
    let env = Env::new();
    env.upsert(json!({"id": "mapping:a", "default_model": "m"}));
    let before = tree(env.dir.path());
    let r = env.ok_json(&[
        "migrate",
        "--storage-dir",
        storage.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(r["status"], "skipped_nonempty");
    assert_eq!(tree(env.dir.path()), before);
}

#[test]
fn migrate_imports_once_and_reports_already_done() {
    let env = Env::new();
    let storage = env.legacy_dir();
    let s = storage.to_str().unwrap();
    let out = env.run(&["migrate", "--storage-dir", s]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("imported 2 mappings, 1 skipped"));
    assert!(out.stderr.contains("created a new database"));
    assert!(storage.join(".model_mappings_sqlite_import_done").exists());
    assert_eq!(
        names(&env.ok_json(&["list"])),
        ["mapping:xai", "global:global"]
    );
    assert_eq!(env.ok_json(&["blocked"]), json!(["grok-4"]));

    let r = env.ok_json(&["migrate", "--storage-dir", s]);
    assert_eq!(r["status"], "already_done");
    assert_eq!(r["blocked_status"], "already_done");
    let r = env.ok_json(&["migrate", "--storage-dir", s, "--dry-run"]);
    assert_eq!(r["status"], "already_done");
}

#[test]
fn migrate_with_a_broken_legacy_file_fails_visibly_and_leaves_it() {
    let env = Env::new();
    let storage = env.legacy_dir();
    let broken = "{\"tenant\": {\"xai\": ";
    std::fs::write(storage.join("model_mappings.json"), broken).unwrap();
    let s = storage.to_str().unwrap();
    for dry in [true, false] {
        let mut args = vec!["--json", "migrate", "--storage-dir", s];
        if dry {
            args.push("--dry-run");
        }
        let out = env.run(&args);
        assert_eq!(out.code, 1, "a failed migration is a failed check");
        let r = out.json();
        assert_eq!(r["status"], "failed");
        let reason = r["errors"][0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("legacy_invalid_json: line 1"),
            "{reason}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(storage.join("model_mappings.json")).unwrap(),
        broken
    );
    assert!(!storage.join(".model_mappings_sqlite_import_done").exists());
    let text = env.run(&["migrate", "--storage-dir", s]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("FAILED"), "{}", text.stdout);
}

#[test]
fn migrate_needs_an_existing_storage_dir() {
    let env = Env::new();
    let missing = env.path("nope");
    env.run(&["migrate", "--storage-dir", missing.to_str().unwrap()])
        .fails(2, "storage_dir_missing");
    env.run(&[
        "migrate",
        "--storage-dir",
        missing.to_str().unwrap(),
        "--dry-run",
    ])
    .fails(2, "storage_dir_missing");
    assert!(!env.db.exists());
    // The storage dir can come from the backend's own variable.
    let storage = env.legacy_dir();
    let out = run_raw(
        &[
            "--db",
            env.db.to_str().unwrap(),
            "--json",
            "migrate",
            "--dry-run",
        ],
        None,
        &[("AI_RUNTIME_STORAGE_DIR", storage.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["imported_count"], 2);
}

// ---- list, get, upsert, delete, activate ----

#[test]
fn list_filters_and_prints_tables_or_json() {
    let env = Env::new();
    env.upsert(
        json!({"id": "tenant:xai", "name": "xAI", "default_model": "grok-4",
                      "candidates": ["grok-3"]}),
    );
    env.upsert(json!({"scope_type": "global", "scope_key": "global",
                      "default_model": "gpt-4o-mini"}));
    env.upsert(json!({"id": "user:42", "default_model": "claude", "is_active": false}));

    let all = env.ok_json(&["list"]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let keys: Vec<&str> = all[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "scope_type",
            "scope_key",
            "name",
            "default_model",
            "candidates",
            "is_active",
            "updated_at",
            "source",
            "metadata"
        ]
    );
    assert_eq!(
        names(&env.ok_json(&["list", "--scope-type", "Tenant"])),
        ["mapping:xai"]
    );
    assert_eq!(
        names(&env.ok_json(&["list", "--scope-key", "42"])),
        ["user:42"]
    );
    assert_eq!(env.ok_json(&["list", "--scope-type", "prompt"]), json!([]));

    let table = env.ok(&["list"]).stdout;
    let header = table.lines().next().unwrap();
    for col in [
        "ID",
        "NAME",
        "DEFAULT",
        "CANDIDATES",
        "ACTIVE",
        "UPDATED AT",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(table.contains("mapping:xai"));
    assert!(table.contains("grok-3, grok-4"), "{table}");
    let empty = env.ok(&["list", "--scope-type", "prompt"]).stdout;
    assert_eq!(empty, "no mappings\n");

    env.run(&["list", "--scope-type", "bad type!"])
        .fails(2, "invalid_mapping_scope");
}

#[test]
fn get_finds_by_any_spelling_and_reports_missing_and_bad_ids() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4",
                      "metadata": {"temperature": 0.5}}));
    for id in ["mapping:xai", "tenant:xai", " Tenant:xai "] {
        let m = env.ok_json(&["get", id]);
        assert_eq!(m["id"], "mapping:xai");
        assert_eq!(m["source"], "sqlite");
    }
    let text = env.ok(&["get", "tenant:xai"]).stdout;
    assert!(text.contains("default_model"));
    assert!(text.contains("{\"temperature\":0.5}"));

    env.run(&["get", "mapping:nope"])
        .fails(1, "mapping_not_found");
    env.run(&["get", "no-colon"]).fails(2, "invalid_mapping_id");
    env.run(&["get", "mapping:"]).fails(2, "invalid_mapping_id");
    env.run(&["get", "bad type!:x"])
        .fails(2, "invalid_mapping_scope");
    // --json errors are JSON on stderr.
    let out = env.run(&["--json", "get", "mapping:nope"]);
    assert_eq!(out.code, 1);
    let err: Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(err["error"], "mapping_not_found");
    assert!(err["message"].as_str().unwrap().contains("mapping:nope"));
}

#[test]
fn upsert_reads_a_file_or_stdin_and_replaces_the_row() {
    let env = Env::new();
    let file = env.write(
        "xai.json",
        r#"{"id": "tenant:xai", "name": "xAI", "default_model": " grok-4 ",
            "candidates": ["grok-3", "grok-3", ""], "metadata": {"endpoint_id": "7"}}"#,
    );
    let out = env.run(&["upsert", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("upserted mapping:xai\n"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("created a new database"));
    // The issue's spelling: `upsert --json FILE` (JSON output).
    let m = env.ok_json(&["upsert", file.to_str().unwrap()]);
    assert_eq!(m["id"], "mapping:xai");
    assert_eq!(m["candidates"], json!(["grok-3", "grok-4"]));
    assert_eq!(m["default_model"], "grok-4");

    let replaced = env.upsert(json!({"id": "mapping:xai", "default_model": "grok-5"}));
    assert_eq!(
        replaced["name"],
        Value::Null,
        "an upsert replaces, it does not patch"
    );
    assert_eq!(replaced["metadata"], json!({}));
    assert_eq!(
        env.ok_json(&["get", "mapping:xai"])["default_model"],
        "grok-5"
    );
}

#[test]
fn upsert_rejects_bad_input_before_touching_the_database() {
    let env = Env::new();
    let missing = env.path("missing.json");
    env.run(&["upsert", missing.to_str().unwrap()])
        .fails(2, "io_error");
    let bad = env.write("bad.json", "{\n  \"id\": \"mapping:x\",\n  oops\n}");
    let out = env.run(&["upsert", bad.to_str().unwrap()]);
    out.fails(2, "invalid_json");
    assert!(out.stderr.contains("bad.json"), "{}", out.stderr);
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);
    let not_utf8 = env.path("latin1.json");
    std::fs::write(&not_utf8, b"{\"id\": \"mapping:\xe9\"}").unwrap();
    env.run(&["upsert", not_utf8.to_str().unwrap()])
        .fails(2, "invalid_json");
    env.run_stdin(&["upsert", "-"], "[1, 2]")
        .fails(2, "invalid_payload");
    assert!(!env.db.exists(), "bad input never creates the database");

    env.run_stdin(&["upsert", "-"], r#"{"name": "no scope"}"#)
        .fails(2, "invalid_mapping_scope");
    env.run_stdin(
        &["upsert", "-"],
        r#"{"id": "mapping:x", "candidates": "gpt-4o"}"#,
    )
    .fails(2, "invalid_payload");
    let long = "m".repeat(300);
    let out = env.run_stdin(
        &["upsert", "-"],
        &json!({"id": "mapping:x", "default_model": long}).to_string(),
    );
    out.fails(2, "invalid_payload");
    assert!(out.stderr.contains("default_model"), "{}", out.stderr);
    env.run_stdin(&["upsert", "-"], r#"{"id": "nocolon"}"#)
        .fails(2, "invalid_mapping_id");
    assert_eq!(env.ok_json(&["list"]), json!([]));
}

#[test]
fn delete_removes_once_then_reports_not_found() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4"}));
    let out = env.ok(&["delete", "tenant:xai"]);
    assert_eq!(out.stdout, "deleted mapping:xai\n");
    env.run(&["delete", "mapping:xai"])
        .fails(1, "mapping_not_found");
    env.run(&["delete", "xai"]).fails(2, "invalid_mapping_id");
    let r = {
        env.upsert(json!({"id": "global:global", "default_model": "m"}));
        env.ok_json(&["delete", "global:global"])
    };
    assert_eq!(r, json!({"deleted": true, "id": "global:global"}));
}

#[test]
fn activate_sets_the_default_and_reports_missing_mappings() {
    let env = Env::new();
    env.upsert(
        json!({"id": "mapping:xai", "name": "xAI", "default_model": "grok-4",
                      "is_active": false, "metadata": {"a": 1}}),
    );
    let m = env.ok_json(&["activate", "tenant:xai", "grok-3"]);
    assert_eq!(m["default_model"], "grok-3");
    assert_eq!(m["is_active"], true);
    assert_eq!(m["candidates"], json!(["grok-4", "grok-3"]));
    assert_eq!(m["name"], "xAI");
    assert_eq!(m["metadata"], json!({"a": 1}));
    let text = env.ok(&["activate", "mapping:xai", "grok-4"]).stdout;
    assert!(text.starts_with("grok-4 is now the default of mapping:xai"));

    env.run(&["activate", "mapping:nope", "m"])
        .fails(1, "mapping_not_found");
    env.run(&["activate", "mapping:xai", "  "])
        .fails(2, "invalid_payload");
    env.run(&["activate", "xai", "m"])
        .fails(2, "invalid_mapping_id");
}

// ---- resolve ----

#[test]
fn resolve_hits_passes_through_and_skips_blocked_models() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4",
                      "candidates": ["grok-3"], "metadata": {"preferred_endpoint_id": 7}}));
    env.ok(&["block", "grok-4"]);
    let r = env.ok_json(&["resolve", "xai"]);
    assert_eq!(
        r,
        json!({"resolved_model": "grok-3", "hit": true, "mapping_id": "mapping:xai",
               "scope_type": "mapping", "scope_key": "xai",
               "metadata": {"preferred_endpoint_id": 7}, "preferred_endpoint_id": 7})
    );
    let miss = env.ok_json(&["resolve", "llama3:8b"]);
    assert_eq!(miss, json!({"resolved_model": "llama3:8b", "hit": false}));
    let blank = env.ok_json(&["resolve", "  "]);
    assert_eq!(blank, json!({"resolved_model": null, "hit": false}));

    let text = env.ok(&["resolve", "tenant:xai"]).stdout;
    assert!(text.contains("resolved_model         grok-3"), "{text}");
    assert!(text.contains("preferred_endpoint_id  7"), "{text}");
    let text = env.ok(&["resolve", "gpt-4o"]).stdout;
    assert!(text.contains("passes through"), "{text}");

    env.ok(&["block", "grok-3"]);
    let all_blocked = env.ok_json(&["resolve", "xai"]);
    assert_eq!(all_blocked["resolved_model"], Value::Null);
    assert_eq!(all_blocked["hit"], true);
    assert!(env
        .ok(&["resolve", "xai"])
        .stdout
        .contains("every model is blocked"));
}

#[test]
fn resolve_explain_shows_every_mapping_considered_and_each_fate() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4",
                      "candidates": ["grok-3", "grok-3-mini"]}));
    env.upsert(json!({"id": "global:xai", "default_model": "gpt-4o"}));
    env.ok(&["block", "grok-4"]);
    let e = env.ok_json(&["resolve", "xai", "--explain"]);
    assert_eq!(e["resolved_model"], "grok-3");
    assert_eq!(e["mapping_id"], "mapping:xai");
    let considered: Vec<(String, String)> = e["considered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["mapping_id"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        considered,
        [
            ("mapping:xai".to_owned(), "chosen".to_owned()),
            ("global:xai".to_owned(), "lower_priority_scope".to_owned())
        ]
    );
    assert_eq!(
        e["candidates"],
        json!([{"model": "grok-4", "fate": "blocked"},
               {"model": "grok-3", "fate": "chosen"},
               {"model": "grok-3-mini", "fate": "not_reached"}])
    );
    let text = env.ok(&["resolve", "xai", "--explain"]).stdout;
    for needle in [
        "mappings considered:",
        "lower_priority_scope",
        "grok-4       blocked",
        "grok-3       chosen",
        "grok-3-mini  not_reached",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }

    // An inactive mapping is considered and loses; the global one then decides.
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-3", "is_active": false}));
    let e = env.ok_json(&["resolve", "xai", "--explain"]);
    assert_eq!(e["mapping_id"], "global:xai");
    let outcomes: Vec<&str> = e["considered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"inactive"), "{outcomes:?}");
    assert!(outcomes.contains(&"chosen"), "{outcomes:?}");

    let none = env.ok(&["resolve", "nothing-here", "--explain"]).stdout;
    assert!(none.contains("none matched the key"), "{none}");
}

#[test]
fn resolve_message_walks_the_chain() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4",
                      "metadata": {"temperature": 0.2}}));
    env.upsert(json!({"id": "global:global", "default_model": "gpt-4o-mini"}));
    let s = env.ok_json(&[
        "resolve-message",
        "--user",
        "u1",
        "--mapping",
        "tenant:xai",
        "--prompt-id",
        "9",
    ]);
    assert_eq!(s["model"], "grok-4");
    assert_eq!(s["temperature"], 0.2);
    assert_eq!(s["reason"], Value::Null);
    assert_eq!(
        s["hit"],
        json!({"scope_type": "mapping", "scope_key": "xai", "source": "fallback",
               "picked_from": "default_model"})
    );
    let chain: Vec<&str> = s["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["scope_type"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["prompt", "user", "mapping"]);

    let s = env.ok_json(&["resolve-message", "--user", "u1"]);
    assert_eq!(s["model"], "gpt-4o-mini");
    let text = env
        .ok(&["resolve-message", "--user", "u1", "--mapping", "xai"])
        .stdout;
    assert!(
        text.contains("decided by   mapping:xai (fallback, default_model)"),
        "{text}"
    );
    assert!(text.contains("user:u1"), "{text}");

    env.ok(&["delete", "global:global"]);
    let s = env.ok_json(&["resolve-message", "--user", "u1"]);
    assert_eq!(s["reason"], "mapping_not_found");
    assert_eq!(s["hit"], Value::Null);
}

#[test]
fn reading_commands_never_create_a_database() {
    let env = Env::new();
    for args in [
        &["list"][..],
        &["get", "mapping:x"],
        &["delete", "mapping:x"],
        &["activate", "mapping:x", "m"],
        &["resolve", "x"],
        &["resolve-message", "--user", "u"],
        &["unblock", "m"],
        &["blocked"],
        &["export"],
        &["health"],
    ] {
        env.run(args).fails(3, "database_cant_open");
        assert!(!env.db.exists(), "{args:?} created the database");
    }
}

// ---- blocked models ----

#[test]
fn block_unblock_and_list_blocked_models() {
    let env = Env::new();
    assert_eq!(
        env.ok_json(&["block", "gpt-4", " grok-4 ", "gpt-4"]),
        json!(["gpt-4", "grok-4"])
    );
    let text = env.ok(&["block", "grok-4", "o1"]).stdout;
    assert!(text.contains("blocked: o1"), "{text}");
    assert!(text.contains("already blocked: grok-4"), "{text}");
    assert_eq!(env.ok_json(&["blocked"]), json!(["gpt-4", "grok-4", "o1"]));
    assert_eq!(
        env.ok_json(&["unblock", "gpt-4", "never-blocked"]),
        json!(["grok-4", "o1"])
    );
    let text = env.ok(&["unblock", "o1", "grok-4"]).stdout;
    assert!(text.contains("unblocked: o1, grok-4"), "{text}");
    assert_eq!(env.ok(&["blocked"]).stdout, "no blocked models\n");
    env.run(&["block", "ok", " "]).fails(2, "invalid_payload");
}

// ---- export, import, apply ----

#[test]
fn export_to_stdout_or_a_private_file_and_import_it_back() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4"}));
    env.upsert(json!({"id": "user:1", "default_model": "m"}));
    let doc: Value = serde_json::from_str(&env.ok(&["export"]).stdout).unwrap();
    assert!(doc["exported_at"].is_string());
    assert_eq!(names(&doc["mappings"]).len(), 2);

    let file = env.path("export.json");
    let out = env.ok(&["export", "-o", file.to_str().unwrap()]);
    assert!(out.stdout.contains("exported 2 mappings"), "{}", out.stdout);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let r = env.ok_json(&["export", "--output", file.to_str().unwrap()]);
    assert_eq!(r["count"], 2);

    let other = Env::new();
    let r = other.ok_json(&["import", file.to_str().unwrap()]);
    assert_eq!(
        r,
        json!({"imported_count": 2, "skipped_count": 0, "errors": []})
    );
    let a = env.ok_json(&["list"]);
    let b = other.ok_json(&["list"]);
    assert_eq!(a, b, "timestamps and fields survive the round trip");

    let no_dir = env.path("no/such/dir/out.json");
    env.run(&["export", "-o", no_dir.to_str().unwrap()])
        .fails(3, "io_error");
}

#[test]
fn import_reports_bad_items_and_rejects_bad_files() {
    let env = Env::new();
    let items = json!([
        {"id": "tenant:a", "default_model": "m1"},
        "not an object",
        {"name": "no scope"},
        {"id": "mapping:b", "candidates": "nope"},
        {"scope_type": "global", "scope_key": "global", "default_model": "m2"}
    ]);
    let out = env.run_stdin(&["--json", "import", "-"], &items.to_string());
    assert_eq!(out.code, 1, "skipped items make the import a failed check");
    let r = out.json();
    assert_eq!(r["imported_count"], 2);
    assert_eq!(r["skipped_count"], 3);
    assert_eq!(
        r["errors"][0],
        json!({"index": 1, "reason": "invalid_item"})
    );
    assert_eq!(r["errors"][1]["reason"], "missing_scope");
    assert_eq!(r["errors"][2]["id"], "mapping:b");
    assert_eq!(
        names(&env.ok_json(&["list"])).len(),
        2,
        "one bad item never blocks the rest"
    );
    let text = env.run_stdin(&["import", "-"], &items.to_string());
    assert!(text.stdout.contains("INDEX"), "{}", text.stdout);
    assert!(text.stdout.contains("missing_scope"), "{}", text.stdout);

    let fresh = Env::new();
    fresh
        .run(&["import", fresh.path("nope.json").to_str().unwrap()])
        .fails(2, "io_error");
    let bad = fresh.write("bad.json", "[{]");
    fresh
        .run(&["import", bad.to_str().unwrap()])
        .fails(2, "invalid_json");
    let shape = fresh.write("shape.json", r#"{"items": []}"#);
    fresh
        .run(&["import", shape.to_str().unwrap()])
        .fails(2, "invalid_payload");
    assert!(!fresh.db.exists());
}

#[test]
fn apply_dry_run_prints_the_plan_and_writes_nothing() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:keep", "default_model": "local"}));
    env.upsert(json!({"id": "mapping:gone", "default_model": "local"}));
    env.upsert(json!({"id": "mapping:old", "default_model": "local"}));
    // Make mapping:old older than the snapshot's copy.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute(
        "UPDATE llm_model_mappings SET updated_at = '2020-01-01T00:00:00+00:00' WHERE id = 'mapping:old'",
        [],
    )
    .unwrap();
    drop(conn);
    let snapshot = json!({"mappings": [
        {"id": "mapping:keep", "default_model": "remote", "updated_at": "2021-01-01T00:00:00Z"},
        {"id": "mapping:old", "default_model": "remote", "updated_at": "2021-01-01T00:00:00Z"},
        {"id": "mapping:new", "default_model": "remote", "updated_at": "2021-01-01T00:00:00Z"},
        {"id": "prompt:1", "default_model": "remote"}
    ]});
    let file = env.write("remote.json", &snapshot.to_string());
    let f = file.to_str().unwrap();
    let before = tree(env.dir.path());
    let plan = env.ok_json(&["apply", f, "--delete-missing", "--dry-run"]);
    assert_eq!(plan["added"], json!(["mapping:new"]));
    assert_eq!(plan["changed"], json!(["mapping:old"]));
    assert_eq!(plan["kept"], json!(["mapping:keep"]));
    assert_eq!(plan["deleted"], json!(["mapping:gone"]));
    assert_eq!(plan["skipped"], 1);
    assert_eq!(plan["remote_total"], 4);
    assert_eq!(plan["dry_run"], true);
    let text = env.ok(&["apply", f, "--dry-run"]).stdout;
    assert!(text.contains("added: 1\n  mapping:new"), "{text}");
    assert!(text.contains("deleted: 0"), "{text}");
    let overwrite = env.ok_json(&["apply", f, "--overwrite", "--dry-run"]);
    assert_eq!(overwrite["changed"], json!(["mapping:keep", "mapping:old"]));
    assert_eq!(tree(env.dir.path()), before, "dry runs write nothing");

    let r = env.ok_json(&["apply", f, "--delete-missing"]);
    assert_eq!(
        r,
        json!({"status": "pulled", "pulled_count": 2, "skipped_count": 1,
               "ignored_count": 1, "deleted_count": 1, "remote_total": 4})
    );
    assert_eq!(
        names(&env.ok_json(&["list"])),
        ["mapping:keep", "mapping:new", "mapping:old"]
    );
    assert!(env.ok(&["apply", f]).stdout.starts_with("pulled: wrote 0"));

    // A dry run against a database that does not exist plans against an empty one.
    let fresh = Env::new();
    let plan = fresh.ok_json(&["apply", f, "--dry-run"]);
    assert_eq!(
        plan["added"],
        json!(["mapping:keep", "mapping:new", "mapping:old"])
    );
    assert_eq!(plan["database_exists"], false);
    assert!(!fresh.db.exists());
    fresh
        .run(&["apply", fresh.path("none.json").to_str().unwrap()])
        .fails(2, "io_error");
    let bad = fresh.write("bad.json", "{\"mappings\": [");
    fresh
        .run(&["apply", bad.to_str().unwrap(), "--dry-run"])
        .fails(2, "invalid_json");
}

// ---- health and broken databases ----

#[test]
fn health_reports_versions_counts_records_and_quick_check() {
    let env = Env::new();
    let storage = env.legacy_dir();
    env.ok(&["migrate", "--storage-dir", storage.to_str().unwrap()]);
    let h = env.ok_json(&["health"]);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["quick_check"], json!(["ok"]));
    assert_eq!(h["journal_mode"], "wal");
    assert!(h["sqlite_version"].as_str().unwrap().starts_with("3."));
    assert!(h["data_version"].is_i64());
    assert_eq!(h["mappings"], 2);
    assert_eq!(h["blocked"], 1);
    assert_eq!(
        h["rows"],
        json!({"llm_model_mappings": 2, "mm_blocked_models": 1})
    );
    assert_eq!(h["migration"]["mappings"]["status"], "imported");
    assert_eq!(h["migration"]["blocked"]["status"], "imported");
    let text = env.ok(&["health"]).stdout;
    for needle in [
        "sqlite",
        "journal mode         wal",
        "data version",
        "2 rows (2 mappings)",
        "migration: mappings  imported at",
        "quick_check          ok",
        "status               ok",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
}

#[test]
fn a_corrupt_database_fails_health_or_opening_without_being_rewritten() {
    let env = Env::new();
    let items: Vec<Value> = (0..300)
        .map(|i| json!({"id": format!("mapping:k{i}"), "default_model": "m".repeat(200)}))
        .collect();
    let out = env.run_stdin(&["import", "-"], &Value::Array(items).to_string());
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Damage pages in the middle of the file (not the header).
    let mut bytes = std::fs::read(&env.db).unwrap();
    assert!(bytes.len() > 16 * 4096, "{}", bytes.len());
    for b in &mut bytes[8 * 4096..12 * 4096] {
        *b = 0x5a;
    }
    std::fs::write(&env.db, &bytes).unwrap();
    let out = env.run(&["--json", "health"]);
    match out.code {
        1 => assert_eq!(out.json()["status"], "failed"),
        3 => assert!(out.stderr.contains("database_corrupt"), "{}", out.stderr),
        other => panic!("exit {other}: {} {}", out.stdout, out.stderr),
    }
    assert_eq!(std::fs::read(&env.db).unwrap(), bytes, "never rewritten");
}

#[test]
fn files_that_are_not_databases_are_distinct_errors_and_left_alone() {
    let env = Env::new();
    let text = b"this is not a database, just some text that is long enough to be a header...";
    std::fs::write(&env.db, text).unwrap();
    let storage = env.legacy_dir();
    let s = storage.to_str().unwrap();
    for args in [
        &["list"][..],
        &["health"],
        &["block", "m"],
        &["migrate", "--storage-dir", s],
        &["migrate", "--storage-dir", s, "--dry-run"],
    ] {
        env.run(args).fails(3, "not_a_database");
    }
    let snapshot = env.write("s.json", "[]");
    env.run(&["apply", snapshot.to_str().unwrap(), "--dry-run"])
        .fails(3, "not_a_database");
    assert_eq!(std::fs::read(&env.db).unwrap(), text);

    std::fs::write(&env.db, b"").unwrap();
    env.run(&["list"]).fails(3, "database_empty");
    env.run(&["migrate", "--storage-dir", s, "--dry-run"])
        .fails(3, "database_empty");
    assert_eq!(std::fs::read(&env.db).unwrap(), b"");

    let dir_db = env.path("a-directory.db");
    std::fs::create_dir(&dir_db).unwrap();
    let d = dir_db.to_str().unwrap();
    run_raw(&["--db", d, "list"], None, &[]).fails(3, "database_cant_open");
    run_raw(&["--db", d, "upsert", "-"], Some(r#"{"id":"a:b"}"#), &[])
        .fails(3, "database_cant_open");
    run_raw(
        &["--db", d, "migrate", "--storage-dir", s, "--dry-run"],
        None,
        &[],
    )
    .fails(3, "database_cant_open");
}

#[test]
fn dry_runs_see_a_live_writers_wal_and_leave_the_database_file_alone() {
    let env = Env::new();
    env.upsert(json!({"id": "mapping:a", "default_model": "m"}));
    // The backend is running: its connection keeps a WAL with a commit not yet checkpointed.
    let host = rusqlite::Connection::open(&env.db).unwrap();
    host.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, candidates_json,
           updated_at, metadata_json)
         VALUES ('mapping:b', 'mapping', 'b', 'x', '[\"x\"]', '2020-01-01T00:00:00+00:00', '{}');",
    )
    .unwrap();
    let wal = env.path("app.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let main_file = std::fs::read(&env.db).unwrap();
    let snapshot = env.write(
        "s.json",
        r#"[{"id": "mapping:b", "default_model": "y", "updated_at": "2021-01-01T00:00:00Z"}]"#,
    );
    let plan = env.ok_json(&[
        "apply",
        snapshot.to_str().unwrap(),
        "--delete-missing",
        "--dry-run",
    ]);
    assert_eq!(
        plan["changed"],
        json!(["mapping:b"]),
        "the WAL commit is seen"
    );
    assert_eq!(plan["deleted"], json!(["mapping:a"]));
    let storage = env.legacy_dir();
    let r = env.ok_json(&[
        "migrate",
        "--storage-dir",
        storage.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(r["status"], "skipped_nonempty");
    assert_eq!(std::fs::read(&env.db).unwrap(), main_file);
    let n: i64 = host
        .query_row("SELECT count(*) FROM llm_model_mappings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2, "the host's data is intact");
}

#[test]
fn export_refuses_to_write_over_the_database_or_its_files_by_any_path() {
    use std::os::unix::fs::symlink;
    let env = Env::new();
    env.upsert(json!({"id": "mapping:xai", "default_model": "grok-4"}));
    // The host's own table, which an export would lose.
    rusqlite::Connection::open(&env.db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE endpoints (api_key TEXT); INSERT INTO endpoints VALUES ('sk');",
        )
        .unwrap();
    // A connection kept open: the -wal and -shm files exist while it lives.
    let holder = rusqlite::Connection::open(&env.db).unwrap();
    holder
        .query_row("SELECT count(*) FROM endpoints", [], |r| r.get::<_, i64>(0))
        .unwrap();
    let wal = env.path("app.db-wal");
    assert!(wal.exists());

    std::fs::create_dir(env.path("sub")).unwrap();
    symlink(&env.db, env.path("link.db")).unwrap();
    symlink(env.dir.path(), env.path("dirlink")).unwrap();
    std::fs::hard_link(&env.db, env.path("hard.db")).unwrap();
    std::fs::hard_link(&wal, env.path("hard-wal")).unwrap();
    let targets = [
        env.db.clone(),
        wal.clone(),
        env.path("app.db-shm"),
        env.path("app.db-journal"), // absent: caught by its path
        env.path("sub/../app.db"),
        env.path("./app.db-wal"),
        env.path("link.db"),
        env.path("dirlink/app.db"),
        env.path("dirlink/app.db-journal"),
        env.path("hard.db"),
        env.path("hard-wal"),
    ];
    let before = std::fs::read(&env.db).unwrap();
    for target in &targets {
        let out = env.run(&["export", "-o", target.to_str().unwrap()]);
        out.fails(2, "output_is_database");
        assert!(
            out.stderr.contains(target.to_str().unwrap()),
            "{}",
            out.stderr
        );
        assert_eq!(std::fs::read(&env.db).unwrap(), before, "{target:?}");
    }
    // Through a symlinked --db too.
    let out = run_raw(
        &[
            "--db",
            env.path("link.db").to_str().unwrap(),
            "export",
            "-o",
            env.db.to_str().unwrap(),
        ],
        None,
        &[],
    );
    out.fails(2, "output_is_database");
    drop(holder);
    let key: String = rusqlite::Connection::open(&env.db)
        .unwrap()
        .query_row("SELECT api_key FROM endpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(key, "sk");
    assert_eq!(env.ok_json(&["list"]).as_array().unwrap().len(), 1);
    // A file next to it is fine.
    env.ok(&["export", "-o", env.path("app.db.json").to_str().unwrap()]);
}

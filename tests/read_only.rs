//! `Store::open_read_only`: reading a database without changing anything on disk (no schema,
//! no journal-mode switch, no triggers, no rewrite of host rows, no `-wal`/`-shm` left behind),
//! refusing writes, reading the host's table with the usual rules; and the read-only plans of
//! undo and import (`plan_undo`, `plan_import`) next to what the writes then do.

use std::path::{Path, PathBuf};

use model_mapping::{ErrorKind, MappingInput, Store, StoreOptions};
use rusqlite::Connection;
use serde_json::json;

/// The file's bytes and which of SQLite's files exist beside it.
fn state(path: &Path) -> (Vec<u8>, Vec<&'static str>) {
    let side = ["-wal", "-shm", "-journal"]
        .into_iter()
        .filter(|s| sidecar(path, s).exists())
        .collect();
    (std::fs::read(path).unwrap(), side)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// The backend's database before the library: its own table, a `tenant` row, journal `mode`.
fn host_database(path: &Path, mode: &str) {
    let conn = Connection::open(path).unwrap();
    conn.query_row(&format!("PRAGMA journal_mode={mode}"), [], |r| {
        r.get::<_, String>(0)
    })
    .unwrap();
    conn.execute_batch(
        "CREATE TABLE llm_model_mappings (id TEXT PRIMARY KEY, scope_type TEXT NOT NULL,
           scope_key TEXT NOT NULL, name TEXT, default_model TEXT, candidates_json TEXT,
           is_active INTEGER DEFAULT 1, updated_at TEXT, metadata_json TEXT);
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model,
           candidates_json, is_active, updated_at, metadata_json)
         VALUES ('tenant:xai', 'Tenant', ' xai ', 'grok-4', 'junk', NULL,
           '2026-01-02T00:00:00Z', '{}');",
    )
    .unwrap();
}

fn objects(path: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(
        format!("file:{}?mode=ro&immutable=1", path.display()),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master ORDER BY name")
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.collect::<rusqlite::Result<_>>().unwrap()
}

fn read_everything(store: &Store) {
    let all = store.list(None, None).unwrap();
    assert_eq!(all.len(), 1);
    // Read with the table's rules (behaviour B11): `tenant` is `mapping`, NULL is active, junk
    // candidates are none but the default.
    assert_eq!(all[0].id, "mapping:xai");
    assert!(all[0].is_active);
    assert_eq!(all[0].candidates, vec!["grok-4".to_owned()]);
    assert_eq!(
        store.resolve_model_key("xai").unwrap().resolved_model(),
        Some("grok-4")
    );
    assert!(store.blocked_models().unwrap().is_empty());
    assert!(store.history(None, None, 10).unwrap().is_empty());
    let h = store.health().unwrap();
    assert_eq!(h.schema_version, 0, "no library tables");
    assert!(h.ok, "{:?}", h.last_error);
    assert_eq!(store.quick_check().unwrap(), vec!["ok".to_owned()]);
}

fn refuses_writes(store: &Store) {
    let input = MappingInput::new("mapping:new", Some("m")).unwrap();
    let e = store.upsert(&input).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DatabaseReadonly, "{e}");
    assert!(e.to_string().contains("read-only"), "{e}");
    for e in [
        store.delete("mapping:xai").unwrap_err(),
        store.update_blocked(&[("m".into(), true)]).unwrap_err(),
        store.detach().unwrap_err(),
        store
            .import_changes(&[json!({"id": "mapping:a"})])
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::DatabaseReadonly, "{e}");
    }
}

#[test]
fn a_rollback_journal_database_is_read_and_left_byte_for_byte_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("host.db");
    host_database(&db, "delete");
    let before = state(&db);
    let tables = objects(&db);
    {
        let store = Store::open_read_only(&db, StoreOptions::default()).unwrap();
        assert!(store.is_read_only());
        read_everything(&store);
        refuses_writes(&store);
        assert_eq!(
            state(&db).1,
            Vec::<&str>::new(),
            "nothing beside it while open"
        );
    }
    assert_eq!(state(&db), before, "same bytes, no -wal/-shm/-journal");
    assert_eq!(objects(&db), tables, "no table, index or trigger added");
}

#[test]
fn a_wal_database_nobody_has_open_is_read_without_leaving_wal_or_shm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("host.db");
    host_database(&db, "wal");
    let before = state(&db);
    assert!(before.1.is_empty(), "closed cleanly: {:?}", before.1);
    // What a plain read-only SQLite connection does here, for contrast: it creates both.
    {
        let scratch = dir.path().join("scratch.db");
        std::fs::copy(&db, &scratch).unwrap();
        let conn =
            Connection::open_with_flags(&scratch, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.query_row("SELECT count(*) FROM llm_model_mappings", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
        drop(conn);
        assert_eq!(state(&scratch).1, vec!["-wal", "-shm"]);
    }
    {
        let store = Store::open_read_only(&db, StoreOptions::default()).unwrap();
        read_everything(&store);
        refuses_writes(&store);
    }
    assert_eq!(state(&db), before);
}

#[test]
fn a_wal_database_in_use_is_read_through_its_files_and_stays_coherent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let writer = Store::open_default(&db).unwrap();
    writer
        .upsert(&MappingInput::new("mapping:xai", Some("grok-4")).unwrap())
        .unwrap();
    let reader = Store::open_read_only(&db, StoreOptions::default()).unwrap();
    assert_eq!(reader.list(None, None).unwrap().len(), 1);
    writer
        .upsert(&MappingInput::new("mapping:b", Some("m")).unwrap())
        .unwrap();
    writer.update_blocked(&[("m".into(), true)]).unwrap();
    assert_eq!(
        reader.list(None, None).unwrap().len(),
        2,
        "sees later commits"
    );
    assert_eq!(reader.blocked_models().unwrap(), vec!["m".to_owned()]);
    let ops: Vec<String> = reader
        .history(None, None, 3)
        .unwrap()
        .into_iter()
        .map(|c| c.op)
        .collect();
    assert_eq!(ops, ["block", "insert", "insert"]);
    assert!(reader.health().unwrap().schema_version > 0);
}

#[test]
fn a_missing_file_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let e = Store::open_read_only(&db, StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DatabaseCantOpen);
    assert!(!db.exists());
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let e = Store::open_read_only(&empty, StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DatabaseEmpty);
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let e = Store::open_read_only(&junk, StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotADatabase);
    assert_eq!(std::fs::read(&junk).unwrap(), vec![b'x'; 4096]);
}

#[test]
fn a_database_without_any_mapping_table_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let before = state(&db);
    let store = Store::open_read_only(&db, StoreOptions::default()).unwrap();
    assert!(store.list(None, None).unwrap().is_empty());
    assert!(store.history(None, None, 10).unwrap().is_empty());
    let e = store.plan_undo(1, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::HistoryUnavailable, "{e}");
    drop(store);
    assert_eq!(state(&db), before);
}

#[test]
fn plan_undo_says_what_undo_then_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let store = Store::open_default(&db).unwrap();
    store
        .upsert(&MappingInput::new("mapping:xai", Some("grok-4")).unwrap())
        .unwrap();
    store
        .upsert(&MappingInput::new("mapping:xai", Some("grok-3")).unwrap())
        .unwrap();
    let last = store.history(None, None, 1).unwrap()[0].seq;
    let ro = Store::open_read_only(&db, StoreOptions::default()).unwrap();
    let plan = ro.plan_undo(last, false).unwrap();
    assert!(plan.dry_run);
    assert_eq!(plan.restore.len(), 1);
    assert_eq!(plan.restore[0].default_model.as_deref(), Some("grok-4"));
    let done = store.undo(last, false).unwrap();
    assert_eq!(done.restore, plan.restore);
    assert!(!done.dry_run);
    // Superseded now: both refuse the same way.
    assert_eq!(
        ro.plan_undo(last, false).unwrap_err().kind(),
        ErrorKind::HistoryConflict
    );
}

#[test]
fn import_changes_reports_created_updated_and_unchanged_and_writes_only_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_default(dir.path().join("app.db")).unwrap();
    let items = vec![
        json!({"id": "mapping:a", "default_model": "m1", "updated_at": "2026-01-01T00:00:00Z"}),
        json!({"id": "mapping:b", "default_model": "m2", "updated_at": "2026-01-01T00:00:00Z"}),
        json!("not an object"),
    ];
    let first = store.import_changes(&items).unwrap();
    assert_eq!(first.created, vec!["mapping:a", "mapping:b"]);
    assert_eq!(first.skipped_count, 1);
    let seq = store.history(None, None, 1).unwrap()[0].seq;
    let again = store.plan_import(&items).unwrap();
    assert!(again.dry_run);
    assert_eq!(again.unchanged, vec!["mapping:a", "mapping:b"]);
    let second = store.import_changes(&items).unwrap();
    assert_eq!(second.unchanged.len(), 2);
    assert!(second.created.is_empty() && second.updated.is_empty());
    assert_eq!(
        store.history(None, None, 1).unwrap()[0].seq,
        seq,
        "nothing written"
    );
    let changed = vec![
        json!({"id": "mapping:a", "default_model": "other", "updated_at": "2026-01-01T00:00:00Z"}),
        json!({"id": "mapping:b", "default_model": "m2", "updated_at": "2026-02-01T00:00:00Z"}),
    ];
    let third = store.import_changes(&changed).unwrap();
    assert_eq!(third.updated, vec!["mapping:a", "mapping:b"]);
    assert_eq!(
        store
            .get("mapping:b")
            .unwrap()
            .unwrap()
            .updated_at
            .as_deref(),
        Some("2026-02-01T00:00:00+00:00")
    );
}

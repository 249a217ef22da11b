//! behaviour B11, B12: a database the backend created and filled with plain SQL, and the schema
//! and settings the library uses.

mod common;

use std::os::unix::fs::PermissionsExt;

use std::time::Duration;

use common::{fresh, RawRow};
use model_mapping::{JournalMode, Store, StoreOptions, Synchronous};
use serde_json::json;

fn table_sql(conn: &rusqlite::Connection, name: &str) -> String {
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_database_created_with_the_backend_ddl_and_filled_by_sql_is_read_and_migrated() {
    let db = fresh();
    let sql = db.create_like_backend();
    sql.execute_batch(
        "CREATE TABLE endpoints (id INTEGER PRIMARY KEY, api_key TEXT);
         INSERT INTO endpoints (api_key) VALUES ('sk-secret');
         PRAGMA user_version = 7;",
    )
    .unwrap();
    RawRow::new("tenant:xai", "tenant", "xai")
        .name("xAI")
        .default_model("grok-4")
        .candidates(r#"["grok-4", "grok-3"]"#)
        .updated("2026-01-08T02:07:59.123456")
        .metadata(r#"{"preferred_endpoint_id": "7"}"#)
        .insert(&sql);
    RawRow::new("Tenant:claude", "Tenant", "claude")
        .default_model("claude-3")
        .insert(&sql);
    RawRow::new("mapping:broken", "mapping", "broken")
        .default_model("d")
        .candidates("not json at all")
        .metadata("{not json")
        .active(None)
        .insert(&sql);
    RawRow::new("mapping:odd", "mapping", "odd")
        .candidates(r#"[1, 2.5, " a ", null, true, "", "a"]"#)
        .metadata(r#"["not", "an", "object"]"#)
        .insert(&sql);
    RawRow::new("mapping:nocands", "mapping", "nocands")
        .default_model("only")
        .candidates(r#"{"not": "a list"}"#)
        .insert(&sql);
    // A collision: the tenant row is newer and must win.
    RawRow::new("mapping:dup", "mapping", "dup")
        .default_model("mapping-older")
        .updated("2026-01-01T00:00:00+00:00")
        .insert(&sql);
    RawRow::new("tenant:dup", "tenant", "dup")
        .default_model("tenant-newer")
        .updated("2026-01-02T00:00:00Z")
        .insert(&sql);
    // The other way round: the mapping row is newer and stays.
    RawRow::new("mapping:dup2", "mapping", "dup2")
        .default_model("mapping-newer")
        .updated("2026-01-03T00:00:00Z")
        .insert(&sql);
    RawRow::new("tenant:dup2", "tenant", "dup2")
        .default_model("tenant-older")
        .updated("2026-01-02T00:00:00Z")
        .insert(&sql);
    let ddl_before = table_sql(&sql, "llm_model_mappings");
    drop(sql);

    let store = db.open();
    let get = |id: &str| store.get(id).unwrap().unwrap_or_else(|| panic!("{id}"));

    let xai = get("mapping:xai");
    assert_eq!(xai.name.as_deref(), Some("xAI"));
    assert_eq!(xai.candidates, ["grok-4", "grok-3"]);
    assert_eq!(
        xai.updated_at.as_deref(),
        Some("2026-01-08T02:07:59.123456+00:00"),
        "a naive timestamp is UTC"
    );
    let r = store.resolve_model_key("xai").unwrap();
    assert_eq!(r.resolved_model(), Some("grok-4"));
    assert_eq!(r.preferred_endpoint_id(), Some(7));

    assert_eq!(
        get("tenant:claude").default_model.as_deref(),
        Some("claude-3")
    );
    assert_eq!(get("mapping:claude").candidates, ["claude-3"]);

    let broken = get("mapping:broken");
    assert_eq!(
        broken.candidates,
        ["d"],
        "invalid candidates_json reads as []"
    );
    assert!(
        broken.metadata.is_empty(),
        "invalid metadata_json reads as {{}}"
    );
    assert!(broken.is_active, "NULL is_active reads as true");
    assert!(store.resolve_model_key("broken").unwrap().hit());

    let odd = get("mapping:odd");
    assert_eq!(odd.candidates, ["1", "2.5", "a", "True"]);
    assert!(odd.metadata.is_empty());
    assert_eq!(get("mapping:nocands").candidates, ["only"]);

    assert_eq!(
        get("mapping:dup").default_model.as_deref(),
        Some("tenant-newer")
    );
    assert_eq!(
        get("mapping:dup2").default_model.as_deref(),
        Some("mapping-newer")
    );

    // On disk: every tenant row was rewritten to mapping, collisions resolved.
    let sql = db.sql();
    let mut rows: Vec<(String, String, String)> = sql
        .prepare("SELECT id, scope_type, scope_key FROM llm_model_mappings ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "mapping:broken",
            "mapping:claude",
            "mapping:dup",
            "mapping:dup2",
            "mapping:nocands",
            "mapping:odd",
            "mapping:xai"
        ]
    );
    assert!(rows.iter().all(|r| r.1 == "mapping"));

    // The host's table definition, its other tables and its user_version are left alone.
    assert_eq!(table_sql(&sql, "llm_model_mappings"), ddl_before);
    let key: String = sql
        .query_row("SELECT api_key FROM endpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(key, "sk-secret");
    let uv: i64 = sql
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uv, 7);
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
}

#[test]
fn a_tie_on_open_keeps_the_row_already_named_mapping() {
    let db = fresh();
    let sql = db.create_like_backend();
    RawRow::new("tenant:x", "tenant", "x")
        .default_model("from-tenant")
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    RawRow::new("mapping:x", "mapping", "x")
        .default_model("from-mapping")
        .updated("2026-01-01T00:00:00+00:00")
        .insert(&sql);
    drop(sql);
    let store = db.open();
    assert_eq!(
        store
            .get("mapping:x")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("from-mapping")
    );
    assert_eq!(db.row_count(), 1);
}

#[test]
fn odd_rows_written_by_others_never_stop_the_store_from_opening() {
    let db = fresh();
    let sql = db.create_like_backend();
    // Values typed unusually by a dynamically typed writer.
    sql.execute_batch(
        "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, candidates_json, is_active, updated_at, metadata_json)
           VALUES ('tenant:5', 'tenant', 5, 'numeric-key', '[]', 1, '2026-01-01T00:00:00Z', '{}');
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, candidates_json, is_active, updated_at, metadata_json)
           VALUES ('Tenant:t', 'Tenant', 't', 'ts-number', '[]', 1, 20260101, '{}');
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, candidates_json, is_active, updated_at, metadata_json)
           VALUES ('open ai:x', 'open ai', 'x', 'unnameable', '[]', 1, NULL, '{}');
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, is_active)
           VALUES ('mapping:texty', 'mapping', 'texty', 'm', 'false');
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, is_active)
           VALUES (X'74656e616e743a626c6f62', 'tenant', X'626c6f62', 'from-blob', 1);",
    )
    .unwrap();
    drop(sql);
    let store = db.open();
    assert_eq!(
        store
            .get("mapping:5")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("numeric-key")
    );
    assert!(store.get("mapping:t").unwrap().is_some());
    assert!(!store.get("mapping:texty").unwrap().unwrap().is_active);
    assert_eq!(
        store
            .get("mapping:blob")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("from-blob")
    );
    // A row that cannot name a mapping is read around, never touched.
    let n: i64 = db
        .sql()
        .query_row(
            "SELECT count(*) FROM llm_model_mappings WHERE id = 'open ai:x'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_new_database_gets_the_backend_table_exactly_and_prefixed_tables_of_its_own() {
    let reference = fresh();
    let sql = reference.create_like_backend();
    let columns = |c: &rusqlite::Connection| -> Vec<(String, String, i64, Option<String>, i64)> {
        c.prepare("PRAGMA table_info(llm_model_mappings)")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let indexes = |c: &rusqlite::Connection| -> Vec<(String, String)> {
        c.prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
             AND tbl_name = 'llm_model_mappings' AND sql IS NOT NULL ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let db = fresh();
    let store = db.open();
    let ours = db.sql();
    assert_eq!(columns(&ours), columns(&sql));
    let names: Vec<String> = indexes(&ours).into_iter().map(|i| i.0).collect();
    assert_eq!(
        names,
        [
            "idx_llm_model_mappings_scope",
            "idx_llm_model_mappings_updated_at"
        ]
    );
    assert_eq!(indexes(&ours), indexes(&sql));

    let tables: Vec<String> = ours
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "llm_model_mappings"));
    assert!(tables
        .iter()
        .all(|t| t == "llm_model_mappings" || t.starts_with("mm_")));
    let uv: i64 = ours
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uv, 0, "PRAGMA user_version belongs to the host");

    let h = store.health().unwrap();
    assert_eq!(h.journal_mode.as_deref(), Some("wal"));
    assert_eq!(h.schema_version, model_mapping::SCHEMA_VERSION);
    let mode = std::fs::metadata(&db.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the file holds the backend's API keys");
    store
        .upsert_json(&json!({"id": "mapping:x", "default_model": "m"}))
        .unwrap();
    for side in ["app.db-wal", "app.db-shm"] {
        let mode = std::fs::metadata(db.dir.path().join(side))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{side}");
    }
    assert_eq!(
        common::listing(db.dir.path())
            .iter()
            .filter(|n| n.contains("mm-create"))
            .count(),
        0
    );
}

#[test]
fn the_library_uses_a_table_the_host_created_as_it_is() {
    let db = fresh();
    let sql = db.sql();
    // The host's table without its indexes, in rollback-journal mode.
    sql.execute_batch(
        "CREATE TABLE llm_model_mappings (id TEXT PRIMARY KEY, scope_type TEXT NOT NULL, \
         scope_key TEXT NOT NULL, name TEXT, default_model TEXT, candidates_json TEXT, \
         is_active INTEGER DEFAULT 1, updated_at TEXT, metadata_json TEXT, \
         created_at TEXT DEFAULT CURRENT_TIMESTAMP);",
    )
    .unwrap();
    let before = table_sql(&sql, "llm_model_mappings");
    drop(sql);
    let store = db.open();
    store
        .upsert_json(&json!({"id": "mapping:x", "default_model": "m"}))
        .unwrap();
    let sql = db.sql();
    assert_eq!(table_sql(&sql, "llm_model_mappings"), before);
    let created_at: Option<String> = sql
        .query_row("SELECT created_at FROM llm_model_mappings", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        created_at.is_some(),
        "the host's column default still applies"
    );
}

#[test]
fn defaults_are_wal_a_5_s_busy_timeout_and_synchronous_full_and_each_is_configurable() {
    let d = StoreOptions::default();
    assert_eq!(d.journal_mode, JournalMode::Wal);
    assert_eq!(d.busy_timeout, Duration::from_secs(5));
    assert_eq!(d.synchronous, Synchronous::Full);
    assert_eq!(d.max_staleness, Duration::ZERO);
    let parsed = StoreOptions::from_json(
        r#"{"journal_mode": "delete", "busy_timeout_ms": 250, "synchronous": "normal"}"#,
    )
    .unwrap();
    assert_eq!(parsed.journal_mode, JournalMode::Delete);
    assert_eq!(parsed.busy_timeout, Duration::from_millis(250));
    assert_eq!(parsed.synchronous, Synchronous::Normal);

    let db = fresh();
    let store = Store::open(&db.path, parsed).unwrap();
    assert_eq!(
        store.health().unwrap().journal_mode.as_deref(),
        Some("delete")
    );
    drop(store);
    assert_eq!(
        db.open().health().unwrap().journal_mode.as_deref(),
        Some("wal")
    );
}

#[test]
fn writes_replace_and_delete_rows_the_host_writes_after_open_in_any_spelling() {
    let db = fresh();
    let store = db.open();
    let sql = db.sql();
    RawRow::new("tenant:a", "tenant", "a")
        .default_model("host")
        .insert(&sql);
    RawRow::new("Tenant:b", "Tenant", "b")
        .default_model("host")
        .name("keep-me")
        .insert(&sql);
    RawRow::new("tenant:c", " TENANT ", " c ")
        .default_model("host")
        .insert(&sql);
    RawRow::new("USER:d", "USER", "d")
        .default_model("host")
        .insert(&sql);

    // Every spelling is visible under its normal id...
    for id in ["mapping:a", "mapping:b", "mapping:c", "user:d"] {
        assert!(store.get(id).unwrap().is_some(), "{id}");
    }
    // ...and every write path reaches it.
    store
        .upsert(&common::input("mapping:a", Some("lib"), &[]))
        .unwrap();
    let b = store.activate_default("mapping:b", "lib").unwrap();
    assert_eq!(b.name.as_deref(), Some("keep-me"));
    assert!(store.delete("mapping:c").unwrap());
    assert!(store.delete("user:d").unwrap());

    let rows: Vec<(String, String)> = db
        .sql()
        .prepare("SELECT id, default_model FROM llm_model_mappings ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("mapping:a".to_owned(), "lib".to_owned()),
            ("mapping:b".to_owned(), "lib".to_owned())
        ]
    );
    // A second store (another worker) agrees.
    let other = db.open();
    assert!(other.get("mapping:c").unwrap().is_none());
    assert_eq!(other.list(None, None).unwrap().len(), 2);
}

#[test]
fn rows_with_a_blob_or_null_id_are_replaced_and_deleted_like_any_other() {
    let db = fresh();
    let store = db.open();
    db.sql()
        .execute_batch(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, is_active)
               VALUES (X'6d617070696e673a626c6f62', 'mapping', 'blob', 'from-blob', 1);
             INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, is_active)
               VALUES (NULL, 'mapping', 'nul', 'from-null', 1);",
        )
        .unwrap();
    assert!(store.get("mapping:blob").unwrap().is_some());
    assert!(store.get("mapping:nul").unwrap().is_some());
    store
        .upsert(&common::input("mapping:blob", Some("lib"), &[]))
        .unwrap();
    assert!(store.delete("mapping:nul").unwrap());
    let rows: Vec<(String, String)> = db
        .sql()
        .prepare(
            "SELECT typeof(id) || ':' || CAST(id AS TEXT), default_model FROM llm_model_mappings",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [("text:mapping:blob".to_owned(), "lib".to_owned())]);
    assert!(db.open().get("mapping:nul").unwrap().is_none());
}

#[test]
fn an_upsert_updates_the_row_in_place_so_the_hosts_created_at_survives() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&common::input("mapping:x", Some("a"), &[]))
        .unwrap();
    db.sql()
        .execute(
            "UPDATE llm_model_mappings SET created_at = '2020-01-01 00:00:00' WHERE id = 'mapping:x'",
            [],
        )
        .unwrap();
    store
        .upsert(&common::input("mapping:x", Some("b"), &[]))
        .unwrap();
    let (created, model): (String, String) = db
        .sql()
        .query_row(
            "SELECT created_at, default_model FROM llm_model_mappings WHERE id = 'mapping:x'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (created.as_str(), model.as_str()),
        ("2020-01-01 00:00:00", "b")
    );
}

#[test]
fn an_upsert_whose_id_a_host_row_of_another_mapping_holds_leaves_the_cache_equal_to_the_table() {
    let db = fresh();
    let store = db.open();
    // Its id says mapping:x, its scope columns say global:y: reads file it under global:y.
    RawRow::new("mapping:x", "global", "y")
        .default_model("host")
        .insert(&db.sql());
    assert!(store.get("global:y").unwrap().is_some());
    store
        .upsert(&common::input("mapping:x", Some("lib"), &[]))
        .unwrap();
    let ids = |s: &model_mapping::Store| -> Vec<String> {
        let mut v: Vec<String> = s
            .list(None, None)
            .unwrap()
            .iter()
            .map(|m| m.id.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&store), ids(&db.open()));
    assert_eq!(ids(&store), ["mapping:x"]);
    assert_eq!(
        store.resolve_model_key("y").unwrap().resolved_model(),
        Some("y")
    );
}

/// Every column of every row, sorted by id: what "nothing else changed" is checked against.
type FullRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn full_rows(db: &common::Db) -> Vec<FullRow> {
    db.sql()
        .prepare(
            "SELECT id, scope_type, scope_key, name, default_model, candidates_json, is_active, \
             updated_at, metadata_json, created_at FROM llm_model_mappings ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_row_whose_id_is_normal_but_whose_scope_type_is_spelled_differently_survives_every_open() {
    // (id, scope_type, scope_key, normal scope_type), each with a NULL and with a set updated_at.
    let shapes = [
        ("mapping:a", "Mapping", "a", "mapping"),
        ("mapping:b", "tenant", "b", "mapping"),
        ("mapping:c", " mapping", "c", "mapping"),
        ("user:42", "USER", "42", "user"),
    ];
    for updated in [None, Some("2026-01-01T00:00:00+00:00")] {
        for (id, ty, key, normal_ty) in shapes {
            let db = fresh();
            let sql = db.create_like_backend();
            let mut row = RawRow::new(id, ty, key)
                .name("host name")
                .default_model("host-model")
                .candidates(r#"["c1"]"#)
                .metadata(r#"{"k": 1}"#);
            row.updated_at = updated;
            row.insert(&sql);
            let before = full_rows(&db);
            drop(sql);

            for open in 1..=2 {
                let store = db.open();
                let m = store
                    .get(id)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{id} ({ty:?}, {updated:?}) lost by open {open}"));
                assert_eq!(m.default_model.as_deref(), Some("host-model"));
                drop(store);
                let after = full_rows(&db);
                assert_eq!(after.len(), 1, "{id} ({ty:?}): open {open}");
                // Rewritten in place: only the scope type changes.
                let mut expected = before[0].clone();
                expected.1 = normal_ty.to_owned();
                assert_eq!(after[0], expected, "{id} ({ty:?}): open {open}");
            }
        }
    }
}

#[test]
fn a_real_collision_on_open_keeps_the_newer_row_and_on_a_tie_the_one_already_normal() {
    let db = fresh();
    let sql = db.create_like_backend();
    // Newer non-normal row wins over the normal one.
    RawRow::new("mapping:new", "mapping", "new")
        .default_model("normal-older")
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    RawRow::new("Tenant:new", "Tenant", "new")
        .default_model("odd-newer")
        .updated("2026-01-02T00:00:00Z")
        .insert(&sql);
    // Older non-normal row loses.
    RawRow::new("mapping:old", "mapping", "old")
        .default_model("normal-newer")
        .updated("2026-01-02T00:00:00Z")
        .insert(&sql);
    RawRow::new("tenant:old", "tenant", "old")
        .default_model("odd-older")
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    // Tie, both NULL: the normal row stays.
    RawRow::new("mapping:tie", "mapping", "tie")
        .default_model("normal")
        .insert(&sql);
    RawRow::new("tenant:tie", " TENANT", "tie")
        .default_model("odd")
        .insert(&sql);
    // A timestamp beats none.
    RawRow::new("mapping:null", "mapping", "null")
        .default_model("normal-without-time")
        .insert(&sql);
    RawRow::new("tenant:null", "tenant", "null")
        .default_model("odd-with-time")
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    drop(sql);

    let expected = [
        ("mapping:new", "odd-newer"),
        ("mapping:null", "odd-with-time"),
        ("mapping:old", "normal-newer"),
        ("mapping:tie", "normal"),
    ];
    for open in 1..=2 {
        let store = db.open();
        for (id, model) in expected {
            let m = store.get(id).unwrap().unwrap();
            assert_eq!(m.default_model.as_deref(), Some(model), "{id}, open {open}");
        }
        drop(store);
        let rows: Vec<(String, String, String)> = full_rows(&db)
            .into_iter()
            .map(|r| (r.0, r.1, r.4.unwrap()))
            .collect();
        let want: Vec<(String, String, String)> = expected
            .iter()
            .map(|(id, m)| (id.to_string(), "mapping".to_owned(), m.to_string()))
            .collect();
        assert_eq!(rows, want, "open {open}");
    }
}

#[test]
fn a_row_that_collides_with_itself_and_another_row_keeps_the_b11_rule() {
    // The row holding the normal id has an odd scope type too; a tenant row names the same
    // mapping. Newer wins, a tie goes to the row holding the normal id.
    let cases = [
        // (holder updated_at, other updated_at, winner's model)
        (
            Some("2026-01-02T00:00:00Z"),
            Some("2026-01-01T00:00:00Z"),
            "holder",
        ),
        (
            Some("2026-01-01T00:00:00Z"),
            Some("2026-01-02T00:00:00Z"),
            "other",
        ),
        (
            Some("2026-01-01T00:00:00Z"),
            Some("2026-01-01T00:00:00Z"),
            "holder",
        ),
        (None, None, "holder"),
        (None, Some("2026-01-01T00:00:00Z"), "other"),
        (Some("2026-01-01T00:00:00Z"), None, "holder"),
    ];
    for (holder_at, other_at, winner) in cases {
        // Both insertion orders, and scope types sorting before and after "tenant".
        for (holder_ty, other_first) in [("Mapping", false), ("Mapping", true), ("mapping ", true)]
        {
            let db = fresh();
            let sql = db.create_like_backend();
            let mut holder = RawRow::new("mapping:a", holder_ty, "a").default_model("holder");
            holder.updated_at = holder_at;
            let mut other = RawRow::new("tenant:a", "tenant", "a").default_model("other");
            other.updated_at = other_at;
            if other_first {
                other.insert(&sql);
                holder.insert(&sql);
            } else {
                holder.insert(&sql);
                other.insert(&sql);
            }
            drop(sql);
            let case =
                format!("{holder_at:?} vs {other_at:?}, {holder_ty:?}, other first: {other_first}");
            for open in 1..=2 {
                let store = db.open();
                let m = store
                    .get("mapping:a")
                    .unwrap()
                    .unwrap_or_else(|| panic!("lost: {case}, open {open}"));
                assert_eq!(
                    m.default_model.as_deref(),
                    Some(winner),
                    "{case}, open {open}"
                );
                drop(store);
                let rows: Vec<(String, String, String, Option<String>)> = full_rows(&db)
                    .into_iter()
                    .map(|r| (r.0, r.1, r.4.unwrap(), r.7))
                    .collect();
                let at = if winner == "holder" {
                    holder_at
                } else {
                    other_at
                };
                assert_eq!(
                    rows,
                    [(
                        "mapping:a".to_owned(),
                        "mapping".to_owned(),
                        winner.to_owned(),
                        at.map(str::to_owned)
                    )],
                    "{case}, open {open}"
                );
            }
        }
    }
}

#[test]
fn a_row_holding_the_normal_id_of_another_mapping_is_no_collision_and_both_survive_open() {
    let db = fresh();
    let sql = db.create_like_backend();
    // Its id says mapping:x, its scope columns say global:y: reads file it under global:y.
    RawRow::new("mapping:x", "global", "y")
        .default_model("global-y")
        .updated("2026-01-02T00:00:00Z")
        .insert(&sql);
    // The only row that names mapping:x.
    RawRow::new("tenant:x", "tenant", "x")
        .default_model("mapping-x")
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    drop(sql);
    for open in 1..=2 {
        let store = db.open();
        let model = |id: &str| {
            store
                .get(id)
                .unwrap()
                .unwrap_or_else(|| panic!("{id} lost by open {open}"))
                .default_model
                .clone()
        };
        assert_eq!(model("global:y").as_deref(), Some("global-y"));
        assert_eq!(model("mapping:x").as_deref(), Some("mapping-x"));
        drop(store);
        assert_eq!(db.row_count(), 2, "open {open}");
    }
}

#[test]
fn each_time_option_accepts_0_to_2147483647_ms_and_beyond_is_invalid_payload_naming_it() {
    let max = Duration::from_millis(2_147_483_647);
    let set = |o: &mut StoreOptions, name: &str, d: Duration| match name {
        "busy_timeout" => o.busy_timeout = d,
        _ => o.max_staleness = d,
    };
    for name in ["busy_timeout", "max_staleness"] {
        for ok in [Duration::ZERO, Duration::from_micros(1500), max] {
            let db = fresh();
            let mut o = StoreOptions::default();
            set(&mut o, name, ok);
            let store = Store::open(&db.path, o).unwrap_or_else(|e| panic!("{name} {ok:?}: {e}"));
            store
                .upsert_json(&json!({"id": "mapping:x", "default_model": "m"}))
                .unwrap();
        }
        for bad in [
            max + Duration::from_millis(1),
            Duration::from_secs(u64::from(u32::MAX)),
            Duration::MAX,
        ] {
            let db = fresh();
            let mut o = StoreOptions::default();
            set(&mut o, name, bad);
            let err = Store::open(&db.path, o).expect_err("refused");
            assert_eq!(err.code(), "invalid_payload", "{name} {bad:?}");
            assert!(err.to_string().contains(name), "{err}");
            assert!(!db.path.exists(), "no database created for bad options");
        }
    }
    // The same through the options JSON every binding passes.
    for name in ["busy_timeout_ms", "max_staleness_ms"] {
        for ok in ["0", "1", "2147483647"] {
            StoreOptions::from_json(&format!(r#"{{"{name}": {ok}}}"#))
                .unwrap_or_else(|e| panic!("{name} {ok}: {e}"));
        }
        for bad in [
            "2147483648",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "1.5",
            "1e3",
            "\"5\"",
            "true",
        ] {
            let err = StoreOptions::from_json(&format!(r#"{{"{name}": {bad}}}"#))
                .err()
                .unwrap_or_else(|| panic!("{name} {bad} accepted"));
            assert_eq!(err.code(), "invalid_payload", "{name} {bad}: {err}");
            assert!(err.to_string().contains(name), "{name} {bad}: {err}");
        }
    }
}

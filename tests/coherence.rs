//! behaviour B13: cache coherence with every other writer, bounded staleness, last known good and
//! health.

mod common;

use std::time::{Duration, Instant};

use common::{
    child_arg, child_mode, child_report, finish_child, fresh, input, put, spawn_child, RawRow,
};
use model_mapping::{JournalMode, Store, StoreOptions};
use serde_json::json;

fn model_of(store: &Store, id: &str) -> Option<String> {
    store.get(id).unwrap().and_then(|m| m.default_model.clone())
}

#[test]
fn a_second_connections_insert_update_and_delete_are_seen_by_the_next_read() {
    let db = fresh();
    let store = db.open();
    assert!(store.get("mapping:xai").unwrap().is_none());
    let sql = db.sql();

    RawRow::new("mapping:xai", "mapping", "xai")
        .default_model("grok-4")
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    assert_eq!(model_of(&store, "mapping:xai").as_deref(), Some("grok-4"));

    sql.execute(
        "UPDATE llm_model_mappings SET default_model = 'grok-3', candidates_json = '[\"grok-3\"]' \
         WHERE id = 'mapping:xai'",
        [],
    )
    .unwrap();
    assert_eq!(
        store.resolve_model_key("xai").unwrap().resolved_model(),
        Some("grok-3")
    );

    // The host's older code still writes tenant rows: read as mapping at once.
    RawRow::new("tenant:claude", "tenant", "claude")
        .default_model("c")
        .insert(&sql);
    assert_eq!(model_of(&store, "mapping:claude").as_deref(), Some("c"));

    sql.execute(
        "DELETE FROM llm_model_mappings WHERE id = 'mapping:xai'",
        [],
    )
    .unwrap();
    assert!(store.get("mapping:xai").unwrap().is_none());
    assert!(!store.resolve_model_key("xai").unwrap().hit());

    // Blocked models too.
    sql.execute(
        "INSERT INTO mm_blocked_models (model, blocked_at) VALUES ('c', '2026-01-01T00:00:00+00:00')",
        [],
    )
    .unwrap();
    assert_eq!(store.blocked_models().unwrap(), ["c"]);
    assert!(store
        .resolve_model_key("claude")
        .unwrap()
        .resolved_model()
        .is_none());

    // Writes inside a transaction of the other connection are seen once committed.
    sql.execute_batch("BEGIN IMMEDIATE").unwrap();
    RawRow::new("mapping:late", "mapping", "late")
        .default_model("l")
        .insert(&sql);
    assert!(
        store.get("mapping:late").unwrap().is_none(),
        "not committed yet"
    );
    sql.execute_batch("COMMIT").unwrap();
    assert_eq!(model_of(&store, "mapping:late").as_deref(), Some("l"));
}

#[test]
fn another_store_in_the_same_process_sees_each_write() {
    let db = fresh();
    let a = db.open();
    let b = db.open();
    a.upsert(&input("mapping:x", Some("one"), &[])).unwrap();
    assert_eq!(model_of(&b, "mapping:x").as_deref(), Some("one"));
    b.upsert(&input("mapping:x", Some("two"), &[])).unwrap();
    assert_eq!(model_of(&a, "mapping:x").as_deref(), Some("two"));
    a.update_blocked(&[("two".into(), true)]).unwrap();
    assert!(b.resolve_model_key("x").unwrap().resolved_model().is_none());
    b.delete("mapping:x").unwrap();
    assert!(a.get("mapping:x").unwrap().is_none());
}

/// Entry point of the child processes below; does nothing in a normal test run.
#[test]
fn child_process_entry() {
    let Some(mode) = child_mode() else { return };
    if mode == "plain-open-close" {
        // Another worker's plain connection: opens, reads, closes (and checkpoints, and
        // removes the WAL when it is the last connection to the file anywhere).
        let c = rusqlite::Connection::open(child_arg("DB")).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM llm_model_mappings", [], |r| r.get(0))
            .unwrap();
        drop(c);
        child_report(&n.to_string());
        return;
    }
    let store = Store::open(child_arg("DB"), StoreOptions::default()).unwrap();
    match mode.as_str() {
        "insert" => {
            put(
                &store,
                json!({"id": "mapping:from-child", "default_model": "child-model"}),
            );
        }
        "update" => {
            store
                .activate_default("mapping:from-child", "child-model-2")
                .unwrap();
        }
        "delete" => assert!(store.delete("mapping:from-child").unwrap()),
        other => panic!("unknown mode {other}"),
    }
    child_report("done");
}

#[test]
fn another_process_insert_update_and_delete_are_seen_by_the_next_read() {
    let db = fresh();
    let store = db.open();
    let path = db.path.to_str().unwrap();
    let run = |mode: &str| {
        finish_child(spawn_child("child_process_entry", mode, &[("DB", path)]));
    };
    assert!(store.get("mapping:from-child").unwrap().is_none());
    run("insert");
    assert_eq!(
        model_of(&store, "mapping:from-child").as_deref(),
        Some("child-model")
    );
    run("update");
    assert_eq!(
        store
            .resolve_model_key("from-child")
            .unwrap()
            .resolved_model(),
        Some("child-model-2")
    );
    run("delete");
    assert!(store.get("mapping:from-child").unwrap().is_none());
}

/// SQLite's locks on a file are the process's: closing any descriptor of the file drops them
/// all. Opening a store must not, or another process's close takes itself for the last
/// connection, removes the WAL and its index under the host's live connection, and the host's
/// later commits are lost to everyone else.
#[test]
fn opening_a_store_leaves_the_host_connections_locks_in_place() {
    let db = fresh();
    let host = db.create_like_backend();
    RawRow::new("mapping:first", "mapping", "first")
        .default_model("m")
        .insert(&host);
    let store = db.open();
    assert!(store.get("mapping:first").unwrap().is_some());
    let path = db.path.to_str().unwrap();
    let others_count = || {
        let out = finish_child(spawn_child(
            "child_process_entry",
            "plain-open-close",
            &[("DB", path)],
        ));
        out[0].parse::<i64>().unwrap()
    };
    assert_eq!(others_count(), 1);
    RawRow::new("mapping:second", "mapping", "second")
        .default_model("m")
        .insert(&host);
    store
        .upsert(&input("mapping:third", Some("m"), &[]))
        .unwrap();
    assert_eq!(others_count(), 3, "another process sees every commit");
    drop((store, host));
    assert_eq!(db.row_count(), 3);
}

#[test]
fn with_max_staleness_other_writes_appear_after_the_interval() {
    let db = fresh();
    let interval = Duration::from_millis(300);
    let store = db.open_with(|o| o.max_staleness = interval);
    let sql = db.sql();
    assert!(store.get("mapping:x").unwrap().is_none());
    let checked = Instant::now();
    RawRow::new("mapping:x", "mapping", "x")
        .default_model("m")
        .insert(&sql);
    let stale = store.get("mapping:x").unwrap();
    // Only meaningful when this machine was quick enough to read inside the interval.
    if checked.elapsed() < interval / 2 {
        assert!(stale.is_none(), "read inside the interval served the cache");
    }
    // After the interval the change appears (polled, no timing assertion).
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.get("mapping:x").unwrap().is_none() {
        assert!(Instant::now() < deadline, "the change never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The store's own writes are visible at once, staleness or not.
    store.upsert(&input("mapping:own", Some("o"), &[])).unwrap();
    assert_eq!(model_of(&store, "mapping:own").as_deref(), Some("o"));
    assert_eq!(store.health().unwrap().max_staleness_ms, 300);
}

#[test]
fn when_a_refresh_is_busy_past_the_timeout_reads_serve_the_last_good_snapshot_and_health_says_why()
{
    let db = fresh();
    // A rollback journal, where a writer's exclusive lock keeps readers out.
    let store = db.open_with(|o| {
        o.busy_timeout = Duration::from_millis(20);
        o.journal_mode = JournalMode::Delete;
    });
    store.upsert(&input("mapping:x", Some("old"), &[])).unwrap();
    assert!(store.health().unwrap().ok);

    let sql = db.sql();
    sql.execute_batch("BEGIN EXCLUSIVE").unwrap();
    sql.execute(
        "UPDATE llm_model_mappings SET default_model = 'new', candidates_json = '[\"new\"]'",
        [],
    )
    .unwrap();

    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("old"));
    assert_eq!(
        store.resolve_model_key("x").unwrap().resolved_model(),
        Some("old")
    );
    let h = store.health().unwrap();
    assert!(!h.ok);
    let err = h.last_error.clone().expect("the failure is reported");
    assert_eq!(err.code, "database_busy");
    assert!(common::is_utc_seconds(&err.since), "{}", err.since);
    // The first failure's time is kept while it lasts.
    assert_eq!(store.health().unwrap().last_error.unwrap().since, err.since);

    // Writes fail with the error rather than losing anything.
    let w = store
        .upsert(&input("mapping:y", Some("y"), &[]))
        .unwrap_err();
    assert_eq!(w.code(), "database_busy");

    // Once the other writer commits, the next read reloads and health recovers.
    sql.execute_batch("COMMIT").unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("new"));
    let h = store.health().unwrap();
    assert!(h.ok, "{:?}", h.last_error);
    assert!(h.last_error.is_none());
    assert!(store.get("mapping:y").unwrap().is_none());
    assert_eq!(db.row_count(), 1);
}

#[test]
fn when_a_refresh_fails_on_a_corrupt_page_reads_serve_the_last_good_snapshot() {
    let db = fresh();
    let store = db.open_with(|o| o.journal_mode = JournalMode::Delete);
    for i in 0..20 {
        store
            .upsert(&input(&format!("mapping:k{i}"), Some("old"), &[]))
            .unwrap();
    }
    let (page_size, root): (u64, u64) = {
        let sql = db.sql();
        let ps = sql.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let root = sql
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'llm_model_mappings'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (ps, root)
    };
    let good = std::fs::read(&db.path).unwrap();

    // Garbage over the table's root page, a new change counter so readers notice, and a new
    // schema cookie so they must read the table again in full (a change the feed cannot
    // describe).
    let mut bad = good.clone();
    let start = ((root - 1) * page_size) as usize;
    for b in &mut bad[start..start + page_size as usize] {
        *b = 0xEE;
    }
    let counter = u32::from_be_bytes(bad[24..28].try_into().unwrap()) + 1;
    bad[24..28].copy_from_slice(&counter.to_be_bytes());
    let cookie = u32::from_be_bytes(bad[40..44].try_into().unwrap()) + 1;
    bad[40..44].copy_from_slice(&cookie.to_be_bytes());
    std::fs::write(&db.path, &bad).unwrap();

    assert_eq!(
        store.list(None, None).unwrap().len(),
        20,
        "last good snapshot"
    );
    assert_eq!(model_of(&store, "mapping:k3").as_deref(), Some("old"));
    let h = store.health().unwrap();
    assert!(!h.ok);
    assert_eq!(h.last_error.unwrap().code, "database_corrupt");
    assert_eq!(
        store
            .upsert(&input("mapping:new", Some("n"), &[]))
            .unwrap_err()
            .code(),
        "database_corrupt"
    );
    assert_eq!(
        std::fs::read(&db.path).unwrap(),
        bad,
        "the store never rewrites it"
    );

    // Repaired (restored from a backup, say): the next read reloads.
    let mut restored = good;
    let counter = counter + 1;
    restored[24..28].copy_from_slice(&counter.to_be_bytes());
    std::fs::write(&db.path, &restored).unwrap();
    assert_eq!(store.list(None, None).unwrap().len(), 20);
    assert!(store.health().unwrap().ok);
    store.upsert(&input("mapping:new", Some("n"), &[])).unwrap();
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
}

#[test]
fn when_a_refresh_fails_in_wal_mode_reads_serve_the_last_good_snapshot() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("old"), &[])).unwrap();
    store.update_blocked(&[("b".into(), true)]).unwrap();
    // The host (wrongly) renames the library's table: the reload cannot read it.
    let sql = db.sql();
    sql.execute_batch(
        "ALTER TABLE mm_blocked_models RENAME TO parked;
         UPDATE llm_model_mappings SET default_model = 'new', candidates_json = '[\"new\"]';",
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("old"));
    assert_eq!(store.blocked_models().unwrap(), ["b"]);
    let h = store.health().unwrap();
    assert!(!h.ok);
    assert!(h.last_error.unwrap().message.contains("mm_blocked_models"));
    sql.execute_batch("ALTER TABLE parked RENAME TO mm_blocked_models;")
        .unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("new"));
    assert!(store.health().unwrap().ok);
}

#[test]
fn only_the_tenant_prefix_counts_as_a_legacy_key_not_a_business_key_named_tenant() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:tenant", "default_model": "m"}),
    );
    store.resolve_model_key("tenant").unwrap();
    let bare = model_mapping::MessageRequest {
        user_id: Some("u"),
        mapping_key: Some("tenant"),
        ..Default::default()
    };
    store.resolve_for_message(&bare).unwrap();
    assert_eq!(store.health().unwrap().legacy_tenant_keys, 0);
    let prefixed = model_mapping::MessageRequest {
        mapping_key: Some("tenant:tenant"),
        ..bare
    };
    store.resolve_for_message(&prefixed).unwrap();
    assert_eq!(store.health().unwrap().legacy_tenant_keys, 1);
}

#[test]
fn health_reports_versions_counters_and_the_migration_records() {
    let db = fresh();
    let store = db.open();
    put(&store, json!({"id": "tenant:x", "default_model": "m"}));
    store.resolve_model_key("x").unwrap();
    store.resolve_model_key("tenant:x").unwrap();
    store.explain("Tenant:x").unwrap();
    store.get("tenant:x").unwrap();
    let h = store.health().unwrap();
    assert!(h.ok);
    assert_eq!(h.resolves, 3);
    assert_eq!(h.legacy_tenant_keys, 4);
    assert_eq!(h.mappings, 1);
    assert_eq!(h.blocked, 0);
    assert!(h.last_refresh_at.is_some());
    assert_eq!(h.path, db.path.display().to_string());
    assert_eq!(h.sqlite_version, model_mapping::sqlite_version());
    let before = (h.data_version, h.refreshes);

    // Another connection's commit moves the data version and counts a refresh.
    RawRow::new("mapping:y", "mapping", "y")
        .default_model("m")
        .insert(&db.sql());
    let h = store.health().unwrap();
    assert_ne!(h.data_version, before.0);
    assert_eq!(h.refreshes, before.1 + 1);
    assert_eq!(h.mappings, 2);
    assert_eq!(store.quick_check().unwrap(), ["ok"]);

    let v = serde_json::to_value(&h).unwrap();
    for key in [
        "data_version",
        "last_refresh_at",
        "last_error",
        "resolves",
        "legacy_tenant_keys",
        "migration",
    ] {
        assert!(v.get(key).is_some(), "health lacks {key}");
    }
}

#[test]
fn a_closed_store_refuses_every_call() {
    let db = fresh();
    let store = db.open();
    store.close();
    store.close();
    assert_eq!(store.get("mapping:x").unwrap_err().code(), "store_closed");
    assert_eq!(
        store.resolve_model_key("x").unwrap_err().code(),
        "store_closed"
    );
    assert_eq!(
        store
            .upsert(&input("mapping:x", Some("m"), &[]))
            .unwrap_err()
            .code(),
        "store_closed"
    );
    assert_eq!(store.health().unwrap_err().code(), "store_closed");
}

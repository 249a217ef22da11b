//! behaviour B12, B13, R6, R7: the change feed that keeps the cache coherent on a busy host. A
//! commit to another table costs no reload; a change to one mapping costs reading that row;
//! the host dropping the table, the triggers or log rows costs a full reload and never a
//! wrong answer; and reads never wait for a write that waits for the lock.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{fresh, input, RawRow, BACKEND_DDL};
use model_mapping::{RefreshKind, Store};

fn model_of(store: &Store, id: &str) -> Option<String> {
    store.get(id).unwrap().and_then(|m| m.default_model.clone())
}

fn trigger_count(db: &common::Db) -> i64 {
    db.sql()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'mm\\_%' ESCAPE '\\'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_commit_to_another_table_of_the_file_costs_no_reload() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("m"), &[])).unwrap();
    let host = db.sql();
    host.execute_batch("CREATE TABLE ai_request_stats (id INTEGER PRIMARY KEY, n INTEGER)")
        .unwrap();
    store.resolve_model_key("x").unwrap();
    let before = store.health().unwrap();
    for i in 0..20 {
        host.execute("INSERT INTO ai_request_stats (n) VALUES (?1)", [i])
            .unwrap();
        assert_eq!(
            store.resolve_model_key("x").unwrap().resolved_model(),
            Some("m")
        );
    }
    let after = store.health().unwrap();
    assert_ne!(
        after.data_version, before.data_version,
        "the file did change"
    );
    assert_eq!(after.refreshes, before.refreshes, "but no mapping did");
}

#[test]
fn another_connections_change_to_one_mapping_is_applied_incrementally() {
    let db = fresh();
    let store = db.open();
    for i in 0..50 {
        store
            .upsert(&input(&format!("mapping:k{i}"), Some("old"), &[]))
            .unwrap();
    }
    let host = db.sql();
    let before = store.health().unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'new', candidates_json = '[\"new\"]' \
         WHERE id = 'mapping:k7'",
        [],
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:k7").as_deref(), Some("new"));
    let h = store.health().unwrap();
    assert_eq!(h.incremental_refreshes, before.incremental_refreshes + 1);
    assert_eq!(h.full_reloads, before.full_reloads);
    assert_eq!(h.last_refresh_kind, Some(RefreshKind::Incremental));
    // Blocking a model by SQL is a change of the feed too.
    host.execute(
        "INSERT INTO mm_blocked_models (model, blocked_at) VALUES ('new', '2026-01-01T00:00:00+00:00')",
        [],
    )
    .unwrap();
    let r = store.resolve_model_key("k7").unwrap();
    assert!(r.hit());
    assert_eq!(r.resolved_model(), None, "every model of k7 is blocked");
    assert_eq!(store.health().unwrap().full_reloads, before.full_reloads);
}

#[test]
fn the_hosts_insert_or_replace_and_upsert_leave_no_stale_row_in_the_cache() {
    let db = fresh();
    let store = db.open();
    let host = db.sql();
    RawRow::new("mapping:a", "mapping", "a")
        .default_model("first")
        .insert(&host);
    assert_eq!(model_of(&store, "mapping:a").as_deref(), Some("first"));
    // REPLACE deletes the old row without firing DELETE triggers; here it also moves the id's
    // row to another scope key.
    host.execute(
        "INSERT OR REPLACE INTO llm_model_mappings (id, scope_type, scope_key, default_model) \
         VALUES ('mapping:a', 'mapping', 'b', 'replaced')",
        [],
    )
    .unwrap();
    assert!(store.get("mapping:a").unwrap().is_none());
    assert_eq!(model_of(&store, "mapping:b").as_deref(), Some("replaced"));
    // The backend's upsert.
    host.execute(
        "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model) \
         VALUES ('mapping:a', 'mapping', 'a', 'upserted') ON CONFLICT(id) DO UPDATE SET \
         scope_key = excluded.scope_key, default_model = excluded.default_model",
        [],
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:a").as_deref(), Some("upserted"));
    assert!(store.get("mapping:b").unwrap().is_none());
    // UPDATE OR REPLACE moving one row onto another's id.
    RawRow::new("mapping:c", "mapping", "c")
        .default_model("c")
        .insert(&host);
    assert!(store.get("mapping:c").unwrap().is_some());
    host.execute(
        "UPDATE OR REPLACE llm_model_mappings SET id = 'mapping:c', scope_key = 'c', \
         default_model = 'moved' WHERE id = 'mapping:a'",
        [],
    )
    .unwrap();
    assert!(store.get("mapping:a").unwrap().is_none());
    assert_eq!(model_of(&store, "mapping:c").as_deref(), Some("moved"));
    assert_eq!(store.list(None, None).unwrap().len(), 1);
    let h = store.health().unwrap();
    assert_eq!(h.full_reloads, 0, "every change was described by the feed");
}

#[test]
fn the_host_dropping_and_recreating_the_table_is_noticed_and_the_triggers_come_back() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:gone", Some("m"), &[]))
        .unwrap();
    assert_eq!(trigger_count(&db), 8);
    let host = db.sql();
    host.execute_batch("DROP TABLE llm_model_mappings").unwrap();
    host.execute_batch(BACKEND_DDL).unwrap();
    RawRow::new("mapping:new", "mapping", "new")
        .default_model("n")
        .insert(&host);
    // Without triggers the change is unlogged: the schema change sends the read to the table.
    assert!(store.get("mapping:gone").unwrap().is_none());
    assert_eq!(model_of(&store, "mapping:new").as_deref(), Some("n"));
    assert!(!store.health().unwrap().triggers);
    // Unlogged writes keep being seen (each by a full reload) until the triggers are back.
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'n2' WHERE id = 'mapping:new'",
        [],
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:new").as_deref(), Some("n2"));
    // The next write re-creates them.
    store.upsert(&input("mapping:own", Some("o"), &[])).unwrap();
    assert_eq!(trigger_count(&db), 8);
    assert!(store.health().unwrap().triggers);
    let before = store.health().unwrap().full_reloads;
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'n3' WHERE id = 'mapping:new'",
        [],
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:new").as_deref(), Some("n3"));
    assert_eq!(store.health().unwrap().full_reloads, before);
}

#[test]
fn dropped_triggers_are_noticed_and_reopening_recreates_them() {
    let db = fresh();
    let store = db.open();
    let host = db.sql();
    host.execute_batch("DROP TRIGGER mm_feed_mappings_au")
        .unwrap();
    host.execute(
        "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model) \
         VALUES ('mapping:x', 'mapping', 'x', 'one')",
        [],
    )
    .unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'two' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("two"));
    assert!(!store.health().unwrap().triggers);
    drop(store);
    let store = db.open();
    assert!(store.health().unwrap().triggers);
    assert_eq!(trigger_count(&db), 8);
}

#[test]
fn log_rows_deleted_by_the_host_make_the_next_read_reload_fully() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("m"), &[])).unwrap();
    let host = db.sql();
    let before = store.health().unwrap().full_reloads;
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'hidden' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    // The change's entry is gone: a gap in the log.
    host.execute(
        "DELETE FROM mm_changes WHERE seq = (SELECT max(seq) FROM mm_changes)",
        [],
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("hidden"));
    assert_eq!(store.health().unwrap().full_reloads, before + 1);
    // The whole log emptied: the counter keeps going, the next change is a gap again.
    host.execute_batch("DELETE FROM mm_changes").unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'again' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("again"));
}

#[test]
fn more_changes_than_worth_applying_one_by_one_reload_fully_and_agree() {
    let db = fresh();
    let store = db.open();
    let host = db.sql();
    host.execute_batch("BEGIN").unwrap();
    for i in 0..2000 {
        host.execute(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model) \
             VALUES (?1, 'mapping', ?2, 'm')",
            (format!("mapping:k{i}"), format!("k{i}")),
        )
        .unwrap();
    }
    host.execute_batch("COMMIT").unwrap();
    assert_eq!(store.list(None, None).unwrap().len(), 2000);
    let h = store.health().unwrap();
    assert_eq!(h.last_refresh_kind, Some(RefreshKind::Full));
}

#[test]
fn a_host_table_without_a_column_the_triggers_copy_gets_no_trigger_and_stays_writable() {
    let db = fresh();
    let host = db.sql();
    host.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE llm_model_mappings (id TEXT PRIMARY KEY, scope_type TEXT NOT NULL,
           scope_key TEXT NOT NULL, name TEXT, default_model TEXT, candidates_json TEXT,
           is_active INTEGER DEFAULT 1, updated_at TEXT);",
    )
    .unwrap();
    // The store cannot read such a table (behaviour B12 names its columns) and says which column.
    let err = model_mapping::Store::open_default(&db.path).unwrap_err();
    assert!(err.to_string().contains("metadata_json"), "{err}");
    // A trigger copying the missing column would make every host write fail: none was made.
    assert_eq!(trigger_count(&db), 0);
    host.execute(
        "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model) \
         VALUES ('mapping:x', 'mapping', 'x', 'host')",
        [],
    )
    .unwrap();
}

/// R6: a local write waits for the write lock another connection holds; meanwhile reads on
/// other threads return, and see what was committed before the lock was taken.
#[test]
fn reads_return_while_a_local_write_waits_for_the_lock_another_connection_holds() {
    let db = fresh();
    let store = Arc::new(db.open_with(|o| o.busy_timeout = Duration::from_secs(60)));
    store.upsert(&input("mapping:old", Some("m"), &[])).unwrap();
    let host = db.sql();
    RawRow::new("mapping:committed", "mapping", "committed")
        .default_model("c")
        .insert(&host);
    host.execute_batch("BEGIN IMMEDIATE").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let writer = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            started_tx.send(()).unwrap();
            let r = store.upsert(&input("mapping:pending", Some("p"), &[]));
            done.store(true, Ordering::SeqCst);
            r.map(|_| ())
        })
    };
    started_rx.recv().unwrap();
    // Give the write time to reach the lock wait; the assertions below do not depend on it.
    std::thread::sleep(Duration::from_millis(100));
    let reader = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            (0..100)
                .map(|_| {
                    store
                        .resolve_model_key("committed")
                        .unwrap()
                        .resolved_model()
                        .map(str::to_owned)
                })
                .collect::<Vec<_>>()
        })
    };
    let seen = reader.join().unwrap();
    assert!(seen.iter().all(|m| m.as_deref() == Some("c")));
    assert!(store.get("mapping:old").unwrap().is_some());
    // The write cannot have finished: the host still holds the lock.
    assert!(!done.load(Ordering::SeqCst), "the write was still pending");
    host.execute_batch("COMMIT").unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(model_of(&store, "mapping:pending").as_deref(), Some("p"));
}

/// The read path tells another table's commit from a change to the feed in a read transaction
/// of cached statements, run after every commit of the host's: it never hides a change that
/// comes with or after such commits, a schema change, or the triggers going away.
#[test]
fn the_read_paths_check_never_hides_a_change_behind_another_tables_commits() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("m1"), &[])).unwrap();
    let host = db.sql();
    host.execute_batch("CREATE TABLE ai_request_stats (id INTEGER PRIMARY KEY, n INTEGER)")
        .unwrap();
    assert_eq!(
        store.resolve_model_key("x").unwrap().resolved_model(),
        Some("m1")
    );
    let h0 = store.health().unwrap();
    for round in 0..5i64 {
        // Another table's commits: no refresh.
        for i in 0..3 {
            host.execute(
                "INSERT INTO ai_request_stats (n) VALUES (?1)",
                [round * 10 + i],
            )
            .unwrap();
            assert!(store
                .resolve_model_key("x")
                .unwrap()
                .resolved_model()
                .is_some());
        }
        // A mapping change in the same transaction as another table's row, then another
        // table's commit: applied incrementally, seen by the next read.
        let model = format!("m{}", round + 2);
        host.execute_batch(&format!(
            "BEGIN; INSERT INTO ai_request_stats (n) VALUES (-1); \
             UPDATE llm_model_mappings SET default_model = '{model}' WHERE id = 'mapping:x'; \
             COMMIT; INSERT INTO ai_request_stats (n) VALUES (-2);"
        ))
        .unwrap();
        assert_eq!(
            store.resolve_model_key("x").unwrap().resolved_model(),
            Some(model.as_str())
        );
    }
    let h1 = store.health().unwrap();
    assert_eq!(h1.incremental_refreshes - h0.incremental_refreshes, 5);
    assert_eq!(h1.full_reloads, h0.full_reloads);
    // A schema change alone (no counter move): the full path, once.
    host.execute_batch("CREATE TABLE conversation_logs (id INTEGER PRIMARY KEY)")
        .unwrap();
    assert_eq!(
        store.resolve_model_key("x").unwrap().resolved_model(),
        Some("m6")
    );
    let h2 = store.health().unwrap();
    assert_eq!(h2.full_reloads - h1.full_reloads, 1);
    // The triggers dropped: every moved data_version reloads fully (the feed is off), and a
    // change made meanwhile is seen.
    for t in [
        "mm_feed_mappings_bi",
        "mm_feed_mappings_ai",
        "mm_feed_mappings_bu",
        "mm_feed_mappings_au",
        "mm_feed_mappings_ad",
    ] {
        host.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
    }
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'm7' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_eq!(
        store.resolve_model_key("x").unwrap().resolved_model(),
        Some("m7")
    );
    host.execute("INSERT INTO ai_request_stats (n) VALUES (-3)", [])
        .unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'm8' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_eq!(
        store.resolve_model_key("x").unwrap().resolved_model(),
        Some("m8")
    );
    assert!(!store.health().unwrap().triggers);
}

#[test]
fn a_stores_own_writes_cost_no_full_reload_here_or_in_another_store() {
    let db = fresh();
    let store = db.open();
    let other = db.open();
    store.upsert(&input("mapping:x", Some("m0"), &[])).unwrap();
    model_of(&other, "mapping:x");
    let (mine, theirs) = (store.health().unwrap(), other.health().unwrap());
    for i in 1..=5 {
        store
            .upsert(&input("mapping:x", Some(&format!("m{i}")), &[]))
            .unwrap();
        store
            .update_blocked(&[("some-model".to_string(), i % 2 == 0)])
            .unwrap();
        assert_eq!(model_of(&store, "mapping:x"), Some(format!("m{i}")));
        assert_eq!(model_of(&other, "mapping:x"), Some(format!("m{i}")));
    }
    assert_eq!(store.health().unwrap().full_reloads, mine.full_reloads);
    let after = other.health().unwrap();
    assert_eq!(after.full_reloads, theirs.full_reloads);
    assert_eq!(
        after.incremental_refreshes,
        theirs.incremental_refreshes + 5
    );
}

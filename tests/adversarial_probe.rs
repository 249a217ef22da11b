//! Adversarial probes of the read path's coherence check (behaviour B13): while the feed's
//! triggers are in place, one statement (the feed's counter in `sqlite_sequence`) decides
//! whether anything changed, helped by SQLite recompiling it after a schema change. Each test
//! has another connection (or store) commit something, then checks that a strict read answers
//! exactly what a plain SQL reading of the table gives, or at least reports the failure in
//! `health()` instead of a silently stale answer.
//!
//! Found by these tests and fixed: the counter going back (the log and its `sqlite_sequence`
//! row deleted, `mm_changes` dropped and re-created, an older backup restored) made the store
//! refuse every reload and later skip changes; a renamed `llm_model_mappings` took the
//! triggers along while they were still counted as in place. Two tests stay ignored: they
//! record what the design cannot see, a host rewriting SQLite's own bookkeeping
//! (`sqlite_sequence` lowered in the changing transaction, `PRAGMA schema_version` rewound).

mod common;

use std::time::Duration;

use common::{
    drop_feed_triggers_sql, feed_counter, fresh, input, RawRow, BACKEND_DDL, FEED_TRIGGERS_SQL,
};
use model_mapping::{RollbackTarget, Store, StoreOptions};
use rusqlite::Connection;

/// The default model the store serves for `id`.
fn cached(store: &Store, id: &str) -> Option<String> {
    store.get(id).unwrap().and_then(|m| m.default_model.clone())
}

/// The default model the table holds for `id`, read with plain SQL.
fn truth(db: &common::Db, id: &str) -> Option<String> {
    db.sql()
        .query_row(
            "SELECT default_model FROM llm_model_mappings WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .ok()
        .flatten()
}

/// The blocked list, read with plain SQL.
fn blocked_truth(db: &common::Db) -> Vec<String> {
    let c = db.sql();
    let mut stmt = c
        .prepare("SELECT model FROM mm_blocked_models ORDER BY model")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

/// Asserts the store's answer for `id` (by `get`, by `resolve_model_key` and the row count of
/// `list`) equals the table's.
fn assert_coherent(db: &common::Db, store: &Store, id: &str, key: &str, what: &str) {
    let want = truth(db, id);
    assert_eq!(cached(store, id), want, "{what}: get({id})");
    // An unmapped key resolves to itself: compare resolutions only for a mapped one.
    let resolved = if want.is_some() {
        want.clone()
    } else {
        Some(key.to_owned())
    };
    assert_eq!(
        store
            .resolve_model_key(key)
            .unwrap()
            .resolved_model()
            .map(str::to_owned),
        resolved,
        "{what}: resolve_model_key({key})"
    );
    assert_eq!(
        store.list(None, None).unwrap().len() as i64,
        db.row_count(),
        "{what}: list() row count"
    );
}

/// A store holding `mapping:x` → `m1`, read once so the counter statement has run.
fn seeded() -> (common::Db, Store) {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("m1"), &[])).unwrap();
    assert_eq!(cached(&store, "mapping:x").as_deref(), Some("m1"));
    (db, store)
}

// ---- schema changes that leave the counter alone ----

#[test]
fn triggers_dropped_then_recreated_identically_by_the_host_hide_no_unlogged_write() {
    let (db, store) = seeded();
    let host = db.sql();
    let seq = feed_counter(&host);
    host.execute_batch(&format!(
        "BEGIN; {} UPDATE llm_model_mappings SET default_model = 'unlogged' \
         WHERE id = 'mapping:x'; {FEED_TRIGGERS_SQL} COMMIT;",
        drop_feed_triggers_sql()
    ))
    .unwrap();
    assert_eq!(feed_counter(&host), seq, "the counter did not move");
    assert_coherent(&db, &store, "mapping:x", "x", "after drop/write/recreate");
}

#[test]
fn triggers_dropped_written_and_recreated_in_separate_commits_are_all_seen() {
    let (db, store) = seeded();
    let host = db.sql();
    host.execute_batch(&drop_feed_triggers_sql()).unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'a' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "triggers absent");
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'b' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    host.execute_batch(FEED_TRIGGERS_SQL).unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "triggers back, host-made");
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'c' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "logged change after");
}

#[test]
fn the_schema_moving_several_times_between_two_reads_is_seen() {
    let (db, store) = seeded();
    let host = db.sql();
    host.execute_batch(&drop_feed_triggers_sql()).unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'u1' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    host.execute_batch(FEED_TRIGGERS_SQL).unwrap();
    host.execute_batch("CREATE TABLE t1 (x); DROP TABLE t1; CREATE INDEX i1 ON mm_pending (o_id);")
        .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "several schema moves");
}

#[test]
fn the_mapping_table_dropped_and_recreated_with_rows_and_triggers_in_one_commit_is_seen() {
    let (db, store) = seeded();
    let host = db.sql();
    let seq = feed_counter(&host);
    host.execute_batch(&format!(
        "BEGIN; DROP TABLE llm_model_mappings; {BACKEND_DDL} \
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, \
         candidates_json, is_active, metadata_json) \
         VALUES ('mapping:x', 'mapping', 'x', 'reborn', '[]', 1, '{{}}'), \
                ('mapping:y', 'mapping', 'y', 'why', '[]', 1, '{{}}'); \
         {FEED_TRIGGERS_SQL} COMMIT;"
    ))
    .unwrap();
    assert_eq!(feed_counter(&host), seq);
    assert_coherent(&db, &store, "mapping:x", "x", "table reborn");
    assert_eq!(cached(&store, "mapping:y").as_deref(), Some("why"));
}

#[test]
fn the_blocked_table_dropped_and_recreated_with_rows_and_triggers_in_one_commit_is_seen() {
    let db = fresh();
    let store = db.open();
    store.update_blocked(&[("old".into(), true)]).unwrap();
    assert_eq!(store.blocked_models().unwrap(), ["old"]);
    let host = db.sql();
    let ddl: String = host
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'mm_blocked_models'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let cols: Vec<String> = {
        let mut s = host
            .prepare("SELECT name FROM pragma_table_info('mm_blocked_models')")
            .unwrap();
        let r = s.query_map([], |r| r.get(0)).unwrap();
        r.collect::<rusqlite::Result<_>>().unwrap()
    };
    let fill = if cols.iter().any(|c| c == "blocked_at") {
        "INSERT INTO mm_blocked_models (model, blocked_at) VALUES ('new', '2026-01-01T00:00:00+00:00');"
    } else {
        "INSERT INTO mm_blocked_models (model) VALUES ('new');"
    };
    host.execute_batch(&format!(
        "BEGIN; DROP TABLE mm_blocked_models; {ddl}; {fill} {FEED_TRIGGERS_SQL} COMMIT;"
    ))
    .unwrap();
    assert_eq!(store.blocked_models().unwrap(), blocked_truth(&db));
    assert_eq!(store.blocked_models().unwrap(), ["new"]);
}

#[test]
fn vacuum_after_an_unlogged_write_behind_recreated_triggers_is_seen() {
    let (db, store) = seeded();
    let host = db.sql();
    host.execute_batch(&format!(
        "BEGIN; {} UPDATE llm_model_mappings SET default_model = 'v' WHERE id = 'mapping:x'; \
         {FEED_TRIGGERS_SQL} COMMIT; VACUUM;",
        drop_feed_triggers_sql()
    ))
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "after vacuum");
}

/// `history`, `plan_undo` and a dry-run rollback read the counter on the read connection
/// without the probe: the recompilation they trigger must not be lost to the next probe.
#[test]
fn history_reads_between_a_schema_change_and_the_next_resolve_do_not_swallow_it() {
    let (db, store) = seeded();
    store.upsert(&input("mapping:y", Some("y1"), &[])).unwrap();
    let host = db.sql();
    host.execute_batch(&format!(
        "BEGIN; {} UPDATE llm_model_mappings SET default_model = 'hidden' \
         WHERE id = 'mapping:x'; {FEED_TRIGGERS_SQL} COMMIT;",
        drop_feed_triggers_sql()
    ))
    .unwrap();
    let seq = feed_counter(&host);
    for i in 0..40 {
        store.history(None, Some(i % 5), 10).unwrap();
        store.history(Some("mapping:y"), None, 3).unwrap();
        let _ = store.plan_undo(seq, true);
        let _ = store.rollback_to(&RollbackTarget::Seq(seq), true);
        store.quick_check().unwrap();
    }
    assert_coherent(&db, &store, "mapping:x", "x", "after history reads");
}

// ---- tables renamed under the triggers ----

/// Renames `llm_model_mappings` away and creates a new one with its rows. SQLite moves the
/// feed's triggers along with the renamed table, so the new one has none until the library
/// re-creates them: until then the feed is off (a moved `data_version` reloads).
fn swap_mapping_table(host: &Connection) {
    host.execute_batch(&format!(
        "ALTER TABLE llm_model_mappings RENAME TO llm_model_mappings_old; {BACKEND_DDL} \
         INSERT INTO llm_model_mappings SELECT * FROM llm_model_mappings_old;"
    ))
    .unwrap();
}

/// The host's writes to the new table after the swap are seen (the triggers on the renamed
/// table do not count as in place).
#[test]
fn writes_to_a_new_mapping_table_after_the_old_one_was_renamed_are_seen() {
    let (db, store) = seeded();
    let host = db.sql();
    swap_mapping_table(&host);
    assert_coherent(&db, &store, "mapping:x", "x", "right after the swap");
    // Later writes by the host, no DDL.
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'after-swap' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    RawRow::new("mapping:z", "mapping", "z")
        .default_model("zed")
        .insert(&host);
    assert_coherent(&db, &store, "mapping:x", "x", "host write after the swap");
}

/// A store opened after the swap re-creates the triggers on the new table (dropping the ones
/// the renamed table took along), so later host writes are logged.
#[test]
fn a_store_opened_after_the_mapping_table_was_swapped_sees_later_host_writes() {
    let (db, store) = seeded();
    let host = db.sql();
    swap_mapping_table(&host);
    drop(store);
    let store = db.open();
    assert_coherent(&db, &store, "mapping:x", "x", "opened after the swap");
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'after-open' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "host write after the open");
}

#[test]
fn a_stores_own_write_after_the_mapping_table_was_swapped_is_seen_by_another_store() {
    let (db, store) = seeded();
    let other = db.open();
    assert_eq!(cached(&other, "mapping:x").as_deref(), Some("m1"));
    let host = db.sql();
    swap_mapping_table(&host);
    assert_coherent(&db, &other, "mapping:x", "x", "other, after the swap");
    store.upsert(&input("mapping:x", Some("own"), &[])).unwrap();
    assert_eq!(truth(&db, "mapping:x").as_deref(), Some("own"));
    assert_coherent(&db, &other, "mapping:x", "x", "other, after store's write");
}

// ---- the counter going back ----

/// The host resets the change log (`DELETE FROM mm_changes` and its `sqlite_sequence` row):
/// the counter starts again from 1, below the store's snapshot, which counts as the log
/// starting over (a full reload that replaces the older snapshot).
#[test]
fn a_host_reset_of_the_change_log_and_its_counter_hides_no_later_write() {
    let db = fresh();
    let store = db.open();
    for i in 0..5 {
        store
            .upsert(&input("mapping:x", Some(&format!("m{i}")), &[]))
            .unwrap();
    }
    assert_eq!(cached(&store, "mapping:x").as_deref(), Some("m4"));
    let host = db.sql();
    let before = feed_counter(&host);
    host.execute_batch(
        "BEGIN; DELETE FROM mm_changes; DELETE FROM sqlite_sequence WHERE name = 'mm_changes'; COMMIT;",
    )
    .unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'after-reset' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert!(feed_counter(&host) < before, "the counter went back");
    assert_coherent(&db, &store, "mapping:x", "x", "after a log reset");
}

/// The same reset, then the store's own write: it succeeds, and the store must serve it.
#[test]
fn a_stores_own_write_after_a_host_log_reset_is_served_by_that_store() {
    let db = fresh();
    let store = db.open();
    for i in 0..5 {
        store
            .upsert(&input("mapping:x", Some(&format!("m{i}")), &[]))
            .unwrap();
    }
    cached(&store, "mapping:x");
    db.sql()
        .execute_batch(
            "BEGIN; DELETE FROM mm_changes; DELETE FROM sqlite_sequence WHERE name = 'mm_changes'; COMMIT;",
        )
        .unwrap();
    store.upsert(&input("mapping:y", Some("own"), &[])).unwrap();
    assert_eq!(truth(&db, "mapping:y").as_deref(), Some("own"));
    assert_eq!(
        cached(&store, "mapping:y").as_deref(),
        Some("own"),
        "read your own write"
    );
    assert_coherent(&db, &store, "mapping:y", "y", "own write after a reset");
}

/// Same reset, then enough host changes for the counter to pass the snapshot's again: the
/// entry under the snapshot's number is another one, so the store reloads fully rather than
/// applying only the changes after that number.
#[test]
fn changes_made_while_a_reset_counter_climbs_back_are_not_skipped() {
    let db = fresh();
    let store = db.open();
    for i in 0..3 {
        store
            .upsert(&input("mapping:x", Some(&format!("m{i}")), &[]))
            .unwrap();
    }
    store.upsert(&input("mapping:y", Some("y0"), &[])).unwrap();
    cached(&store, "mapping:x");
    let host = db.sql();
    let before = feed_counter(&host);
    host.execute_batch(
        "BEGIN; DELETE FROM mm_changes; DELETE FROM sqlite_sequence WHERE name = 'mm_changes'; COMMIT;",
    )
    .unwrap();
    // Climb back to `before` with changes to x, then one more to y.
    let mut n = 0;
    while feed_counter(&host) < before {
        host.execute(
            "UPDATE llm_model_mappings SET default_model = ?1 WHERE id = 'mapping:x'",
            [format!("climb{n}")],
        )
        .unwrap();
        n += 1;
    }
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'y1' WHERE id = 'mapping:y'",
        [],
    )
    .unwrap();
    assert_eq!(feed_counter(&host), before + 1);
    assert_coherent(&db, &store, "mapping:x", "x", "after the climb");
    assert_eq!(cached(&store, "mapping:y").as_deref(), Some("y1"));
}

/// The host drops the library's log table and creates it again: its AUTOINCREMENT counter
/// starts over.
#[test]
fn the_change_log_dropped_and_recreated_by_the_host_hides_no_later_write() {
    let (db, store) = seeded();
    for i in 0..5 {
        store
            .upsert(&input("mapping:x", Some(&format!("m{i}")), &[]))
            .unwrap();
    }
    cached(&store, "mapping:x");
    let host = db.sql();
    let ddl: String = host
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'mm_changes'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    host.execute_batch(&format!("BEGIN; DROP TABLE mm_changes; {ddl}; COMMIT;"))
        .unwrap();
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'new-log' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_coherent(
        &db,
        &store,
        "mapping:x",
        "x",
        "after the log was re-created",
    );
}

/// An older copy of the database restored over the live file with SQLite's backup API (the
/// supported way to restore while others have it open).
#[test]
fn an_older_backup_restored_over_the_open_database_is_served() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("old"), &[])).unwrap();
    let host = db.sql();
    let saved = db.dir.path().join("saved.db");
    host.execute("VACUUM INTO ?1", [saved.to_str().unwrap()])
        .unwrap();
    for i in 0..5 {
        store
            .upsert(&input("mapping:x", Some(&format!("new{i}")), &[]))
            .unwrap();
    }
    store
        .upsert(&input("mapping:extra", Some("e"), &[]))
        .unwrap();
    assert_eq!(cached(&store, "mapping:x").as_deref(), Some("new4"));
    let mut live = db.sql();
    live.restore(
        rusqlite::MAIN_DB,
        &saved,
        None::<fn(rusqlite::backup::Progress)>,
    )
    .unwrap();
    drop(live);
    assert_eq!(truth(&db, "mapping:x").as_deref(), Some("old"));
    assert_coherent(&db, &store, "mapping:x", "x", "after restoring a backup");
    assert!(store.get("mapping:extra").unwrap().is_none());
}

/// A diverged copy with the same counter restored over the live file.
#[test]
fn a_diverged_copy_at_the_same_counter_restored_over_the_open_database_is_served() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:x", Some("base"), &[]))
        .unwrap();
    let host = db.sql();
    let saved = db.dir.path().join("fork.db");
    host.execute("VACUUM INTO ?1", [saved.to_str().unwrap()])
        .unwrap();
    // Both sides make one change: same counter, different content.
    store
        .upsert(&input("mapping:x", Some("live"), &[]))
        .unwrap();
    {
        let other = Store::open(&saved, StoreOptions::default()).unwrap();
        other
            .upsert(&input("mapping:x", Some("fork"), &[]))
            .unwrap();
    }
    let fork_counter = feed_counter(&Connection::open(&saved).unwrap());
    assert_eq!(fork_counter, feed_counter(&host));
    assert_eq!(cached(&store, "mapping:x").as_deref(), Some("live"));
    let mut live = db.sql();
    live.restore(
        rusqlite::MAIN_DB,
        &saved,
        None::<fn(rusqlite::backup::Progress)>,
    )
    .unwrap();
    drop(live);
    assert_coherent(&db, &store, "mapping:x", "x", "after restoring the fork");
}

/// The host lowers the counter in the transaction that changed a row (tampering with
/// SQLite's bookkeeping). The counter is the feed's whole check, so this change stays unseen
/// until the next logged change, which AUTOINCREMENT numbers past the hidden entry.
#[test]
#[ignore = "rewriting sqlite_sequence in the changing transaction hides that change from the counter; kept to record the outcome"]
fn a_change_whose_counter_bump_the_host_undid_in_the_same_transaction_is_seen() {
    let (db, store) = seeded();
    let host = db.sql();
    host.execute_batch(
        "BEGIN; UPDATE llm_model_mappings SET default_model = 'sneaky' WHERE id = 'mapping:x'; \
         UPDATE sqlite_sequence SET seq = seq - 1 WHERE name = 'mm_changes'; COMMIT;",
    )
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "counter lowered by the host");
}

/// `DELETE FROM sqlite_sequence` alone (the log kept): the counter reads 0 until the next
/// change, which continues after the log's last entry.
#[test]
fn the_counter_row_deleted_alone_by_the_host_hides_no_write() {
    let (db, store) = seeded();
    let host = db.sql();
    host.execute_batch("DELETE FROM sqlite_sequence WHERE name = 'mm_changes'")
        .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "counter row gone");
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'after' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "next change");
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'after2' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "and the one after");
}

/// `PRAGMA schema_version = <old>` after an unlogged write behind recreated triggers: the
/// schema cookie comes back to the value the counter statement was compiled at. SQLite
/// documents that writing schema_version can corrupt a database; this probes whether the store
/// would notice anyway.
#[test]
#[ignore = "PRAGMA schema_version writes are documented SQLite misuse; kept to record the outcome"]
fn an_unlogged_write_hidden_behind_a_rewound_schema_cookie_is_seen() {
    let (db, store) = seeded();
    let host = db.sql();
    let cookie: i64 = host
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .unwrap();
    host.execute_batch(&format!(
        "BEGIN; {} UPDATE llm_model_mappings SET default_model = 'cookie' WHERE id = 'mapping:x'; \
         {FEED_TRIGGERS_SQL} COMMIT; PRAGMA schema_version = {cookie};",
        drop_feed_triggers_sql()
    ))
    .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "cookie rewound");
}

// ---- other stores ----

#[test]
fn bulk_writes_by_another_store_in_the_same_process_are_seen() {
    let (db, store) = seeded();
    let other = db.open();
    let items: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            serde_json::json!({"id": format!("mapping:k{i}"), "default_model": format!("k{i}")})
        })
        .chain(std::iter::once(
            serde_json::json!({"id": "mapping:x", "default_model": "imported"}),
        ))
        .collect();
    let report = other.import_items(&items).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_coherent(
        &db,
        &store,
        "mapping:x",
        "x",
        "after another store's import",
    );
    other.update_blocked(&[("k3".into(), true)]).unwrap();
    assert_eq!(store.blocked_models().unwrap(), blocked_truth(&db));
    assert_coherent(&db, &store, "mapping:x", "x", "after blocking");
    other.delete("mapping:x").unwrap();
    assert_coherent(
        &db,
        &store,
        "mapping:x",
        "x",
        "after another store's delete",
    );
}

#[test]
fn a_read_only_store_sees_an_unlogged_write_behind_recreated_triggers() {
    let (db, writer) = seeded();
    let ro = Store::open_read_only(&db.path, StoreOptions::default()).unwrap();
    assert_eq!(cached(&ro, "mapping:x").as_deref(), Some("m1"));
    let host = db.sql();
    host.execute_batch(&format!(
        "BEGIN; {} UPDATE llm_model_mappings SET default_model = 'ro' WHERE id = 'mapping:x'; \
         {FEED_TRIGGERS_SQL} COMMIT;",
        drop_feed_triggers_sql()
    ))
    .unwrap();
    assert_coherent(&db, &ro, "mapping:x", "x", "read-only store");
    drop(writer);
}

#[test]
fn a_read_only_store_sees_host_writes_to_a_swapped_mapping_table() {
    let (db, writer) = seeded();
    let ro = Store::open_read_only(&db.path, StoreOptions::default()).unwrap();
    assert_eq!(cached(&ro, "mapping:x").as_deref(), Some("m1"));
    let host = db.sql();
    swap_mapping_table(&host);
    assert_coherent(&db, &ro, "mapping:x", "x", "read-only, after the swap");
    host.execute(
        "UPDATE llm_model_mappings SET default_model = 'ro-swap' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    assert_coherent(
        &db,
        &ro,
        "mapping:x",
        "x",
        "read-only, host write after swap",
    );
    drop(writer);
}

/// A write by another process (the host's Python stands for it here) between two reads, with
/// the store otherwise idle for a while: nothing time-based hides it.
#[test]
fn a_write_after_an_idle_pause_is_seen() {
    let (db, store) = seeded();
    std::thread::sleep(Duration::from_millis(50));
    db.sql()
        .execute(
            "UPDATE llm_model_mappings SET default_model = 'later' WHERE id = 'mapping:x'",
            [],
        )
        .unwrap();
    assert_coherent(&db, &store, "mapping:x", "x", "after a pause");
}

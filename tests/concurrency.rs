//! behaviour B16: threads and processes writing and resolving at once; BEGIN IMMEDIATE writes that
//! wait for a busy database and then fail loudly, never silently.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{
    child_arg, child_mode, child_report, finish_child, fresh, input, spawn_child, wait_for_file,
};
use model_mapping::{Store, StoreOptions};

/// Writes `n` mappings named after `tag`, resolving after each, and checks what it reads back.
fn write_and_resolve(store: &Store, tag: &str, n: usize) {
    for i in 0..n {
        let id = format!("mapping:{tag}-{i}");
        let model = format!("model-{tag}-{i}");
        store.upsert(&input(&id, Some(&model), &[])).unwrap();
        let key = format!("{tag}-{i}");
        let r = store.resolve_model_key(&key).unwrap();
        assert_eq!(r.resolved_model(), Some(model.as_str()));
        // Other writers' keys resolve to something coherent: their model or a pass-through.
        let other = store.resolve_model_key("shared").unwrap();
        if let Some(m) = other.mapping() {
            assert_eq!(m.id, "mapping:shared");
        }
        if i % 5 == 0 {
            store
                .upsert(&input("mapping:shared", Some(&model), &[]))
                .unwrap();
        }
    }
}

#[test]
fn threads_writing_and_resolving_at_once_lose_nothing() {
    let db = fresh();
    let shared = Arc::new(db.open());
    let threads = 4;
    let per_thread = 25;
    let barrier = Arc::new(Barrier::new(threads * 2));
    let mut handles = Vec::new();
    for t in 0..threads {
        // Half the threads share one store, half open their own.
        let store = Arc::clone(&shared);
        let b = Arc::clone(&barrier);
        handles.push(std::thread::spawn(move || {
            b.wait();
            write_and_resolve(&store, &format!("shared{t}"), per_thread);
        }));
        let path = db.path.clone();
        let b = Arc::clone(&barrier);
        handles.push(std::thread::spawn(move || {
            let own = Store::open(&path, StoreOptions::default()).unwrap();
            b.wait();
            write_and_resolve(&own, &format!("own{t}"), per_thread);
        }));
    }
    for h in handles {
        h.join().expect("no thread failed");
    }
    let expected = threads * 2 * per_thread + 1;
    assert_eq!(db.row_count() as usize, expected);
    assert_eq!(shared.list(None, None).unwrap().len(), expected);
    assert_eq!(shared.quick_check().unwrap(), ["ok"]);
}

/// Entry point of the child processes below; does nothing in a normal test run.
#[test]
fn child_process_entry() {
    let Some(mode) = child_mode() else { return };
    assert_eq!(mode, "write_and_resolve");
    let store = Store::open(child_arg("DB"), StoreOptions::default()).unwrap();
    wait_for_file(std::path::Path::new(&child_arg("GO")));
    let tag = child_arg("TAG");
    write_and_resolve(&store, &tag, 30);
    child_report(&format!("{tag} done"));
}

#[test]
fn processes_writing_and_resolving_at_once_lose_nothing() {
    let db = fresh();
    let store = db.open();
    let path = db.path.to_str().unwrap().to_owned();
    let go = db.dir.path().join("go");
    let children: Vec<_> = (0..3)
        .map(|i| {
            spawn_child(
                "child_process_entry",
                "write_and_resolve",
                &[
                    ("DB", &path),
                    ("GO", go.to_str().unwrap()),
                    ("TAG", &format!("proc{i}")),
                ],
            )
        })
        .collect();
    std::fs::write(&go, "go").unwrap();
    write_and_resolve(&store, "parent", 30);
    for c in children {
        finish_child(c);
    }
    assert_eq!(db.row_count(), 4 * 30 + 1);
    assert_eq!(store.list(None, None).unwrap().len(), 4 * 30 + 1);
    for i in 0..3 {
        assert!(store.get(&format!("mapping:proc{i}-29")).unwrap().is_some());
    }
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
}

#[test]
fn a_write_behind_another_writer_waits_and_then_reports_database_busy() {
    let db = fresh();
    let store = db.open_with(|o| o.busy_timeout = Duration::from_millis(50));
    store.upsert(&input("mapping:x", Some("a"), &[])).unwrap();
    let sql = db.sql();
    sql.execute_batch("BEGIN IMMEDIATE").unwrap();
    for attempt in [
        store
            .upsert(&input("mapping:y", Some("b"), &[]))
            .map(|_| ()),
        store.delete("mapping:x").map(|_| ()),
        store.activate_default("mapping:x", "c").map(|_| ()),
        store.update_blocked(&[("a".into(), true)]).map(|_| ()),
        store
            .import_items(&[serde_json::json!({"id": "mapping:z"})])
            .map(|_| ()),
        store.apply_snapshot(&[], false, true).map(|_| ()),
    ] {
        assert_eq!(attempt.unwrap_err().code(), "database_busy");
    }
    sql.execute_batch("ROLLBACK").unwrap();
    // Nothing was half-written or silently dropped: the failed writes simply did not happen.
    assert_eq!(db.row_count(), 1);
    assert_eq!(
        store
            .get("mapping:x")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("a")
    );
    assert!(store.blocked_models().unwrap().is_empty());
    // And the store writes again once the other writer is gone.
    store.upsert(&input("mapping:y", Some("b"), &[])).unwrap();
    assert_eq!(db.row_count(), 2);
}

#[test]
fn a_write_waits_for_another_writer_to_commit_instead_of_failing_its_snapshot() {
    // A deferred read-then-write transaction whose read started before another connection's
    // commit fails at once with BUSY_SNAPSHOT, whatever the timeout. BEGIN IMMEDIATE waits
    // for the lock and then reads the latest data, so this write succeeds.
    let db = fresh();
    let store = Arc::new(db.open_with(|o| o.busy_timeout = Duration::from_secs(30)));
    store.upsert(&input("mapping:x", Some("a"), &[])).unwrap();
    let sql = db.sql();
    sql.execute_batch("BEGIN IMMEDIATE").unwrap();
    sql.execute(
        "UPDATE llm_model_mappings SET name = 'by-host' WHERE id = 'mapping:x'",
        [],
    )
    .unwrap();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.activate_default("mapping:x", "b"))
    };
    // Give the writer time to start waiting (correctness does not depend on it).
    std::thread::sleep(Duration::from_millis(100));
    sql.execute_batch("COMMIT").unwrap();
    let m = writer
        .join()
        .unwrap()
        .expect("the write waited and succeeded");
    assert_eq!(m.default_model.as_deref(), Some("b"));
    assert_eq!(
        m.name.as_deref(),
        Some("by-host"),
        "the write read the other writer's committed row"
    );
    let name: String = db
        .sql()
        .query_row(
            "SELECT name FROM llm_model_mappings WHERE id = 'mapping:x'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "by-host");
}

#[test]
fn the_store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

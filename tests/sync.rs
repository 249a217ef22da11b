//! behaviour B14: export, bulk import of loose items, applying a remote snapshot.

mod common;

use common::{fresh, input, put, put_at, RawRow};
use model_mapping::Store;
use serde_json::{json, Value};

fn model_of(store: &Store, id: &str) -> Option<String> {
    store.get(id).unwrap().and_then(|m| m.default_model.clone())
}

#[test]
fn export_is_exported_at_and_every_mapping_in_the_b3_shape() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:a", "default_model": "m", "updated_at": "2026-01-01T00:00:00Z"}),
            json!({"id": "global:global", "default_model": "g", "updated_at": "2026-01-02T00:00:00Z"}),
        ],
    );
    let v = store.export().unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["exported_at", "mappings"]);
    assert!(common::is_utc_seconds(v["exported_at"].as_str().unwrap()));
    let mappings = v["mappings"].as_array().unwrap();
    assert_eq!(mappings.len(), 2);
    assert_eq!(mappings[0]["id"], "global:global", "newest first");
    assert_eq!(
        mappings[1],
        store.get("mapping:a").unwrap().unwrap().to_json()
    );
    assert_eq!(mappings[1]["source"], "sqlite");
}

#[test]
fn an_export_imports_back_unchanged_into_another_database() {
    let a = fresh();
    let store_a = a.open();
    put(
        &store_a,
        json!({"id": "mapping:x", "name": "X", "default_model": "m", "candidates": ["n"],
               "is_active": false, "metadata": {"temperature": 0.5}}),
    );
    put(&store_a, json!({"id": "user:bob", "default_model": "u"}));
    let exported = store_a.export().unwrap();

    let b = fresh();
    let store_b = b.open();
    let items = model_mapping::sync::items_from_json(&exported.to_string()).unwrap();
    let report = store_b.import_items(&items).unwrap();
    assert_eq!(report.imported_count, 2);
    assert_eq!(
        store_b.list(None, None).unwrap(),
        store_a.list(None, None).unwrap(),
        "same rows, timestamps included"
    );
}

#[test]
fn bulk_import_reports_each_bad_item_and_imports_every_good_one() {
    let db = fresh();
    let store = db.open();
    let items = vec![
        json!("not an object"),
        json!({"id": "mapping:good1", "default_model": "m1", "updated_at": "2025-06-01T12:00:00Z"}),
        json!({"name": "no scope at all"}),
        json!({"scope_type": "mapping"}),
        json!({"id": "mapping:bad", "candidates": "m"}),
        json!({"scope_type": "Tenant", "scope_key": "good2", "default_model": "m2"}),
        json!({"id": "open ai:x", "default_model": "m"}),
        json!(42),
        json!({"id": "no-colon"}),
        json!({"id": "mapping:good3", "metadata": {"k": 1}, "updated_at": "2025-06-01T14:00:00+02:00"}),
    ];
    let report = store.import_items(&items).unwrap();
    assert_eq!(report.imported_count, 3);
    assert_eq!(report.skipped_count, 7);
    let v = serde_json::to_value(&report).unwrap();
    let errors = v["errors"].as_array().unwrap();
    let by_index = |i: usize| errors.iter().find(|e| e["index"] == i).unwrap().clone();
    assert_eq!(by_index(0), json!({"index": 0, "reason": "invalid_item"}));
    assert_eq!(by_index(7), json!({"index": 7, "reason": "invalid_item"}));
    assert_eq!(
        by_index(2),
        json!({"index": 2, "id": null, "reason": "missing_scope"})
    );
    assert_eq!(by_index(3)["reason"], "invalid_mapping_id");
    assert_eq!(by_index(4)["id"], "mapping:bad");
    let reason = by_index(4)["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("invalid_payload") && reason.contains("candidates"),
        "{reason}"
    );
    assert_eq!(by_index(6)["reason"], "invalid_mapping_scope");
    assert_eq!(by_index(8)["id"], "no-colon");
    assert_eq!(by_index(8)["reason"], "invalid_mapping_id");

    // Carried timestamps are kept (normalised); items without one are stamped now.
    let good1 = store.get("mapping:good1").unwrap().unwrap();
    assert_eq!(
        good1.updated_at.as_deref(),
        Some("2025-06-01T12:00:00+00:00")
    );
    let good3 = store.get("mapping:good3").unwrap().unwrap();
    assert_eq!(
        good3.updated_at.as_deref(),
        Some("2025-06-01T12:00:00+00:00")
    );
    let good2 = store.get("mapping:good2").unwrap().unwrap();
    assert!(common::is_utc_seconds(good2.updated_at.as_deref().unwrap()));
    assert_eq!(db.row_count(), 3);
}

#[test]
fn apply_snapshot_keeps_the_last_writer_comparing_instants_not_text() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:same", "default_model": "local", "updated_at": "2026-01-02T00:00:00+00:00"}),
            json!({"id": "mapping:older-local", "default_model": "local", "updated_at": "2026-01-01T00:00:00+00:00"}),
            json!({"id": "mapping:newer-local", "default_model": "local", "updated_at": "2026-01-05T00:00:00+00:00"}),
            json!({"id": "mapping:untouched", "default_model": "local", "updated_at": "2026-01-01T00:00:00+00:00"}),
        ],
    );
    let remote = vec![
        // The same instant written with Z: the local row is kept.
        json!({"id": "mapping:same", "default_model": "remote", "updated_at": "2026-01-02T00:00:00Z"}),
        // Newer in instant although "smaller" as text (+01:00 → 2026-01-01T23:30Z).
        json!({"id": "mapping:older-local", "default_model": "remote", "updated_at": "2026-01-02T00:30:00+01:00"}),
        json!({"id": "mapping:newer-local", "default_model": "remote", "updated_at": "2026-01-04T00:00:00Z"}),
        json!({"id": "tenant:new", "default_model": "remote", "updated_at": "2026-01-01T00:00:00Z"}),
        json!({"id": "prompt:7", "default_model": "remote"}),
        json!("junk"),
    ];
    let report = store.apply_snapshot(&remote, false, false).unwrap();
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({"status": "pulled", "pulled_count": 2, "skipped_count": 2,
               "ignored_count": 2, "deleted_count": 0, "remote_total": 6})
    );
    assert_eq!(model_of(&store, "mapping:same").as_deref(), Some("local"));
    assert_eq!(
        model_of(&store, "mapping:older-local").as_deref(),
        Some("remote")
    );
    assert_eq!(
        store
            .get("mapping:older-local")
            .unwrap()
            .unwrap()
            .updated_at
            .as_deref(),
        Some("2026-01-01T23:30:00+00:00"),
        "the remote timestamp is kept"
    );
    assert_eq!(
        model_of(&store, "mapping:newer-local").as_deref(),
        Some("local")
    );
    assert_eq!(model_of(&store, "mapping:new").as_deref(), Some("remote"));
    assert_eq!(
        model_of(&store, "mapping:untouched").as_deref(),
        Some("local")
    );
    assert!(
        store.get("prompt:7").unwrap().is_none(),
        "prompt scope is skipped"
    );
}

#[test]
fn apply_snapshot_keeps_a_local_row_when_the_remote_one_carries_no_timestamp() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:x", "default_model": "local", "updated_at": "2020-01-01T00:00:00Z"}),
        ],
    );
    // Without a timestamp the remote row is not known to be newer: it must not win just
    // because writing it would stamp it "now".
    let remote = vec![
        json!({"id": "mapping:x", "default_model": "remote"}),
        json!({"id": "mapping:fresh", "default_model": "remote"}),
    ];
    let report = store.apply_snapshot(&remote, false, false).unwrap();
    assert_eq!((report.pulled_count, report.skipped_count), (1, 1));
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("local"));
    assert_eq!(model_of(&store, "mapping:fresh").as_deref(), Some("remote"));
    // With overwrite it is applied.
    store.apply_snapshot(&remote, true, false).unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("remote"));
}

#[test]
fn apply_snapshot_with_overwrite_replaces_newer_local_rows() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:x", "default_model": "local", "updated_at": "2026-01-05T00:00:00Z"}),
        ],
    );
    let remote = [
        json!({"id": "mapping:x", "default_model": "remote", "updated_at": "2026-01-01T00:00:00Z"}),
    ];
    let report = store.apply_snapshot(&remote, true, false).unwrap();
    assert_eq!(report.pulled_count, 1);
    assert_eq!(report.skipped_count, 0);
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("remote"));
}

#[test]
fn apply_snapshot_with_delete_missing_deletes_absent_rows_but_never_prompt_rows() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:keep", Some("k"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:gone", Some("g"), &[]))
        .unwrap();
    store.upsert(&input("user:gone", Some("u"), &[])).unwrap();
    store.upsert(&input("prompt:1", Some("p"), &[])).unwrap();
    // A row the host wrote in the legacy spelling counts as mapping:legacy.
    RawRow::new("tenant:legacy", "tenant", "legacy")
        .default_model("l")
        .insert(&db.sql());
    let remote = [
        json!({"id": "mapping:keep", "default_model": "k", "updated_at": "2000-01-01T00:00:00Z"}),
        json!({"id": "prompt:2", "default_model": "p2"}),
    ];
    let report = store.apply_snapshot(&remote, false, true).unwrap();
    assert_eq!(report.deleted_count, 3);
    assert_eq!(report.pulled_count, 0);
    // The older remote copy of mapping:keep is skipped; the prompt item is ignored.
    assert_eq!((report.skipped_count, report.ignored_count), (1, 1));
    assert_eq!(report.remote_total, 2);
    let mut ids: Vec<String> = store
        .list(None, None)
        .unwrap()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["mapping:keep", "prompt:1"]);
    assert_eq!(db.row_count(), 2);
}

#[test]
fn plan_snapshot_describes_the_change_without_writing() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:x", "default_model": "local", "updated_at": "2026-01-01T00:00:00Z"}),
        ],
    );
    let remote = [
        json!({"id": "mapping:x", "default_model": "remote", "updated_at": "2026-01-02T00:00:00Z"}),
        json!({"id": "mapping:y", "default_model": "remote"}),
    ];
    let plan = store.plan_snapshot(&remote, false, false).unwrap();
    assert_eq!(plan.added, ["mapping:y"]);
    assert_eq!(plan.changed, ["mapping:x"]);
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("local"));
    assert_eq!(db.row_count(), 1);
    let _: Value = serde_json::to_value(&plan).unwrap();
}

#[test]
fn delete_missing_never_deletes_a_row_the_snapshot_names_in_a_malformed_item() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:x", Some("local"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:y", Some("local"), &[]))
        .unwrap();
    let remote = [
        // Present in the snapshot, but not applicable: skipped, and not "missing".
        json!({"id": "Tenant:x", "default_model": "remote", "candidates": "not a list"}),
    ];
    let report = store.apply_snapshot(&remote, false, true).unwrap();
    assert_eq!((report.skipped_count, report.ignored_count), (0, 1));
    assert_eq!(report.deleted_count, 1);
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("local"));
    assert!(store.get("mapping:y").unwrap().is_none());
}

//! behaviour B20: history, undo, point-in-time rollback, and rolling the backend back to its JSON
//! version and forward again without losing an edit made on either side.

mod common;

use std::path::Path;

use common::{fresh, input, RawRow};
use model_mapping::{with_actor, ErrorKind, RollbackTarget, Store};
use serde_json::{json, Value};

fn model_of(store: &Store, id: &str) -> Option<String> {
    store.get(id).unwrap().and_then(|m| m.default_model.clone())
}

fn last_seq(store: &Store) -> i64 {
    store.history(None, None, 1).unwrap()[0].seq
}

#[test]
fn every_change_is_recorded_with_its_source_actor_and_the_rows_before_and_after() {
    let db = fresh();
    let store = db.open();
    with_actor("alice", || {
        store.upsert(&input("mapping:xai", Some("grok-4"), &[]))
    })
    .unwrap();
    store.activate_default("mapping:xai", "grok-3").unwrap();
    db.sql()
        .execute(
            "UPDATE llm_model_mappings SET default_model = 'host' WHERE id = 'mapping:xai'",
            [],
        )
        .unwrap();
    store.update_blocked(&[("grok-3".into(), true)]).unwrap();
    store.delete("mapping:xai").unwrap();

    let h = store.history(None, None, 100).unwrap();
    // The oldest entry is the feed's installation on the new database.
    assert_eq!(h.last().unwrap().op, "resync");
    let ops: Vec<(&str, &str)> = h[..h.len() - 1]
        .iter()
        .map(|c| (c.op.as_str(), c.source.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("delete", "library"),
            ("block", "library"),
            ("update", "external"),
            ("update", "library"),
            ("insert", "library"),
        ]
    );
    assert!(h.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let insert = &h[4];
    assert_eq!(insert.actor.as_deref(), Some("alice"));
    assert_eq!(insert.id.as_deref(), Some("mapping:xai"));
    assert!(insert.before.is_none());
    assert_eq!(
        insert.after.as_ref().unwrap().default_model.as_deref(),
        Some("grok-4")
    );
    assert_eq!(h[3].actor, None);
    let external = &h[2];
    assert_eq!(
        external.before.as_ref().unwrap().default_model.as_deref(),
        Some("grok-3")
    );
    assert_eq!(
        external.after.as_ref().unwrap().default_model.as_deref(),
        Some("host")
    );
    assert_eq!(h[1].id.as_deref(), Some("grok-3"));
    assert!(h[0].after.is_none());
    // The entry is the B3 shape in JSON.
    let v = serde_json::to_value(insert).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["seq", "at", "op", "id", "before", "after", "source", "actor"]
    );
    assert_eq!(v["after"]["source"], "sqlite");
}

#[test]
fn history_of_one_id_finds_it_in_any_spelling_and_pages_by_seq() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:a", Some("1"), &[])).unwrap();
    store.upsert(&input("mapping:b", Some("1"), &[])).unwrap();
    RawRow::new("Tenant:a", " Tenant", "a")
        .default_model("odd")
        .insert(&db.sql());
    let of_a = store.history(Some("tenant:a"), None, 100).unwrap();
    assert_eq!(of_a.len(), 2);
    assert!(of_a.iter().all(|c| c.id.as_deref() == Some("mapping:a")));
    let newest = of_a[0].seq;
    assert!(store
        .history(Some("mapping:a"), Some(newest), 100)
        .unwrap()
        .is_empty());
    assert_eq!(store.history(None, None, 2).unwrap().len(), 2);
    assert_eq!(
        store.history(Some("nocolon"), None, 1).unwrap_err().kind(),
        ErrorKind::InvalidMappingId
    );
}

#[test]
fn undo_writes_back_the_row_before_as_a_new_recorded_change() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:xai", Some("good"), &["backup"]))
        .unwrap();
    store
        .upsert(&input("mapping:xai", Some("bad"), &[]))
        .unwrap();
    let bad = last_seq(&store);
    let plan = with_actor("bob", || store.undo(bad, false)).unwrap();
    assert!(!plan.dry_run);
    assert_eq!(plan.restore.len(), 1);
    let m = store.get("mapping:xai").unwrap().unwrap();
    assert_eq!(m.default_model.as_deref(), Some("good"));
    assert_eq!(m.candidates, ["backup", "good"]);
    let undo = &store.history(None, None, 1).unwrap()[0];
    assert!(undo.seq > bad);
    assert_eq!(undo.actor.as_deref(), Some("bob"));
    // Undoing an insert deletes; undoing that delete brings it back.
    store.upsert(&input("mapping:new", Some("n"), &[])).unwrap();
    store.undo(last_seq(&store), false).unwrap();
    assert!(store.get("mapping:new").unwrap().is_none());
    store.undo(last_seq(&store), false).unwrap();
    assert_eq!(model_of(&store, "mapping:new").as_deref(), Some("n"));
    // A blocked-list change.
    store.update_blocked(&[("m".into(), true)]).unwrap();
    store.undo(last_seq(&store), false).unwrap();
    assert!(store.blocked_models().unwrap().is_empty());
}

#[test]
fn undo_of_a_change_a_later_one_superseded_fails_naming_it_unless_forced() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("one"), &[])).unwrap();
    store.upsert(&input("mapping:x", Some("two"), &[])).unwrap();
    let second = last_seq(&store);
    store.delete("mapping:x").unwrap();
    let deleted = last_seq(&store);
    let err = store.undo(second, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HistoryConflict);
    assert!(err.to_string().contains(&deleted.to_string()), "{err}");
    assert!(store.get("mapping:x").unwrap().is_none(), "nothing written");
    // Forced: the row that change replaced comes back, though it was since deleted.
    store.undo(second, true).unwrap();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("one"));
}

#[test]
fn undo_and_rollback_refuse_an_unknown_or_unrecorded_change_clearly() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("one"), &[])).unwrap();
    for seq in [9_999, -1] {
        let err = store.undo(seq, false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HistoryUnavailable, "{err}");
        let err = store
            .rollback_to(&RollbackTarget::Seq(seq), true)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HistoryUnavailable, "{err}");
    }
    let err = store
        .rollback_to(&RollbackTarget::Time("2001-01-01T00:00:00Z".into()), true)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HistoryUnavailable);
    assert!(
        err.to_string().contains("before the oldest change"),
        "{err}"
    );
    let err = store
        .rollback_to(&RollbackTarget::Time("yesterday".into()), true)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidPayload);
}

#[test]
fn rollback_restores_every_mapping_and_the_blocked_list_as_they_were_in_one_transaction() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:keep", Some("k"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:edit", Some("before"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:gone", Some("g"), &[]))
        .unwrap();
    store.update_blocked(&[("old-block".into(), true)]).unwrap();
    let point = last_seq(&store);
    let then = store.export().unwrap()["mappings"].clone();

    store
        .upsert(&input("mapping:edit", Some("after"), &[]))
        .unwrap();
    store.delete("mapping:gone").unwrap();
    store
        .upsert(&input("mapping:added", Some("a"), &[]))
        .unwrap();
    db.sql()
        .execute(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model) \
             VALUES ('user:42', 'user', '42', 'host')",
            [],
        )
        .unwrap();
    store
        .update_blocked(&[("old-block".into(), false), ("new-block".into(), true)])
        .unwrap();
    let before_plan = store.list(None, None).unwrap().len();

    let plan = store
        .rollback_to(&RollbackTarget::Seq(point), true)
        .unwrap();
    assert!(plan.dry_run);
    let restored: Vec<&str> = plan.restore.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(restored, ["mapping:edit", "mapping:gone"]);
    assert_eq!(plan.delete, ["mapping:added", "user:42"]);
    assert_eq!(plan.block, ["old-block"]);
    assert_eq!(plan.unblock, ["new-block"]);
    assert_eq!(
        store.list(None, None).unwrap().len(),
        before_plan,
        "a dry run writes nothing"
    );

    let applied = store
        .rollback_to(&RollbackTarget::Seq(point), false)
        .unwrap();
    assert!(!applied.dry_run);
    let content = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_owned(),
                    m["default_model"].clone(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect()
    };
    assert_eq!(
        content(&store.export().unwrap()["mappings"]),
        content(&then)
    );
    assert_eq!(store.blocked_models().unwrap(), ["old-block"]);
    // The rollback is itself history, and can be rolled back.
    let rolled = last_seq(&store);
    assert!(rolled > point);
    let again = store
        .rollback_to(&RollbackTarget::Seq(point), true)
        .unwrap();
    assert!(again.is_empty(), "already there: {again:?}");
}

#[test]
fn rollback_to_a_time_takes_the_last_change_at_or_before_it() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("one"), &[])).unwrap();
    let first = store.history(None, None, 1).unwrap()[0].clone();
    // Later changes, dated a minute on (the log's time is the commit's second).
    store.upsert(&input("mapping:x", Some("two"), &[])).unwrap();
    store.upsert(&input("mapping:y", Some("y"), &[])).unwrap();
    db.sql()
        .execute(
            "UPDATE mm_changes SET at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '+1 minute') \
             WHERE seq > ?1",
            [first.seq],
        )
        .unwrap();
    let at = first.at;
    let plan = store
        .rollback_to(&RollbackTarget::Time(at.replace("+00:00", "Z")), false)
        .unwrap();
    assert_eq!(plan.delete, ["mapping:y"]);
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("one"));
}

#[test]
fn rollback_across_a_bulk_import_or_pruned_changes_is_refused() {
    let db = fresh();
    std::fs::write(
        db.storage().join("model_mappings.json"),
        r#"{"tenant": {"xai": {"name": "x", "mapping": {"default_model": "grok"}}}}"#,
    )
    .unwrap();
    let store = db.open_migrating();
    assert!(store.get("mapping:xai").unwrap().is_some());
    let h = store.history(None, None, 100).unwrap();
    let resync = h
        .iter()
        .find(|c| c.op == "resync")
        .expect("the import's entry");
    let before_import = resync.seq - 1;
    store
        .upsert(&input("mapping:later", Some("l"), &[]))
        .unwrap();
    let err = store
        .rollback_to(&RollbackTarget::Seq(before_import), true)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HistoryUnavailable);
    assert!(err.to_string().contains("resync"), "{err}");
    // After the import the log is complete again.
    store
        .rollback_to(&RollbackTarget::Seq(resync.seq), false)
        .unwrap();
    assert!(store.get("mapping:later").unwrap().is_none());
    assert!(store.get("mapping:xai").unwrap().is_some());

    // Entries deleted from the log: the span is no longer complete.
    let point = last_seq(&store);
    store.upsert(&input("mapping:a", Some("a"), &[])).unwrap();
    store.upsert(&input("mapping:b", Some("b"), &[])).unwrap();
    db.sql()
        .execute("DELETE FROM mm_changes WHERE seq = ?1", [point + 1])
        .unwrap();
    let err = store
        .rollback_to(&RollbackTarget::Seq(point), true)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HistoryUnavailable);
}

#[test]
fn the_log_is_pruned_to_its_retention_and_recent_changes_are_kept() {
    let db = fresh();
    let store = db.open();
    // 10,300 changes, the first 300 dated long ago; the retention keeps the last 10,000 and
    // anything from the last 90 days.
    let items: Vec<Value> = (0..10_300)
        .map(|i| json!({"id": format!("mapping:k{i}"), "default_model": "m"}))
        .collect();
    store.import_items(&items).unwrap();
    db.sql()
        .execute(
            "UPDATE mm_changes SET at = '2020-01-01T00:00:00+00:00' \
             WHERE seq IN (SELECT seq FROM mm_changes ORDER BY seq LIMIT 250)",
            [],
        )
        .unwrap();
    // Writes until one crosses a pruning point.
    for i in 0..300 {
        store
            .upsert(&input(&format!("mapping:p{i}"), Some("p"), &[]))
            .unwrap();
    }
    let kept: i64 = db
        .sql()
        .query_row("SELECT count(*) FROM mm_changes", [], |r| r.get(0))
        .unwrap();
    let old: i64 = db
        .sql()
        .query_row(
            "SELECT count(*) FROM mm_changes WHERE at < '2021-01-01'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0, "old entries beyond the last 10,000 are pruned");
    assert!(kept >= 10_000, "the last 10,000 are kept ({kept})");
    assert_eq!(store.list(None, None).unwrap().len(), 10_600);
}

/// The legacy storage dir as the old backend code would read it.
fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn export_legacy_writes_the_old_files_atomically_keeping_backups() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:xai", Some("grok-4"), &["grok-3"]))
        .unwrap();
    store
        .upsert(&input("global:global", Some("g"), &[]))
        .unwrap();
    store.update_blocked(&[("grok-4".into(), true)]).unwrap();
    let dir = db.storage();
    std::fs::write(dir.join("model_mappings.json"), "{\"old\": {}}").unwrap();

    let dry = store.export_legacy(&dir, true).unwrap();
    assert!(dry.dry_run && dry.backups.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.join("model_mappings.json")).unwrap(),
        "{\"old\": {}}"
    );
    assert!(!dir.join("blocked_models.json").exists());

    let report = store.export_legacy(&dir, false).unwrap();
    assert_eq!((report.mappings, report.blocked), (2, 1));
    assert_eq!(report.backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(&report.backups[0]).unwrap(),
        "{\"old\": {}}"
    );
    let doc = read_json(&dir.join("model_mappings.json"));
    let xai = &doc["tenant"]["xai"];
    assert_eq!(xai["mapping"]["default_model"], "grok-4");
    assert_eq!(xai["mapping"]["candidates"], json!(["grok-3", "grok-4"]));
    assert_eq!(xai["mapping"]["is_active"], true);
    assert!(xai["mapping"]["updated_at"].is_string());
    assert_eq!(doc["global"]["global"]["mapping"]["default_model"], "g");
    assert!(
        doc.get("mapping").is_none(),
        "business keys are under tenant"
    );
    let blocked = read_json(&dir.join("blocked_models.json"));
    assert_eq!(blocked["blocked"], json!(["grok-4"]));
    // What was exported is what the one-time import reads back.
    let other = fresh();
    let dir2 = other.storage();
    for f in ["model_mappings.json", "blocked_models.json"] {
        std::fs::copy(dir.join(f), dir2.join(f)).unwrap();
    }
    let reimported = other.open_migrating();
    assert_eq!(
        reimported
            .resolve_model_key("xai")
            .unwrap()
            .resolved_model(),
        Some("grok-3")
    );
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("mm-export")), "{names:?}");
}

#[test]
fn export_legacy_into_a_bad_place_fails_and_leaves_every_file_as_it_was() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:xai", Some("g"), &[])).unwrap();
    // A missing directory.
    let missing = db.dir.path().join("nope");
    assert_eq!(
        store.export_legacy(&missing, false).unwrap_err().kind(),
        ErrorKind::IoError
    );
    assert!(!missing.exists());
    // A FIFO where a file belongs: never opened, nothing written.
    let dir = db.storage();
    std::fs::write(dir.join("model_mappings.json"), "keep me").unwrap();
    let fifo = dir.join("blocked_models.json");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: creates a FIFO at a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = store.export_legacy(&dir, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IoError);
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("model_mappings.json")).unwrap(),
        "keep me"
    );
    std::fs::remove_file(&fifo).unwrap();
    // A directory that cannot be written (root may write anyway: then it just succeeds).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let result = store.export_legacy(&dir, false);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    if let Err(err) = result {
        assert_eq!(err.kind(), ErrorKind::IoError);
        assert_eq!(
            std::fs::read_to_string(dir.join("model_mappings.json")).unwrap(),
            "keep me"
        );
    }
}

#[test]
fn rolling_back_to_the_json_version_and_forward_again_keeps_the_edits_made_on_each_side() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:keep", Some("k"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:edit", Some("old"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:drop", Some("d"), &[]))
        .unwrap();
    store
        .update_blocked(&[("was-blocked".into(), true)])
        .unwrap();
    let dir = db.storage();
    store.export_legacy(&dir, false).unwrap();

    // Under the old version: the old code edits the JSON file as it does (whole rewrite).
    let path = dir.join("model_mappings.json");
    let mut doc = read_json(&path);
    let tenant = doc["tenant"].as_object_mut().unwrap();
    tenant.remove("drop");
    tenant["edit"]["mapping"]["default_model"] = json!("new");
    tenant["edit"]["mapping"]["candidates"] = json!(["new"]);
    tenant["edit"]["mapping"]["updated_at"] = json!("2099-01-01T00:00:00Z");
    tenant.insert(
        "added".into(),
        json!({"name": "Added", "mapping": {"default_model": "a", "candidates": ["a"],
               "is_active": true, "updated_at": "2099-01-01T00:00:00Z", "metadata": {}}}),
    );
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    std::fs::write(
        dir.join("blocked_models.json"),
        r#"{"updated_at": "2099-01-01T00:00:00Z", "blocked": ["now-blocked"]}"#,
    )
    .unwrap();

    // Rolling forward: the plan first, then the merge.
    let plan = store.merge_legacy(&dir, true).unwrap();
    assert!(plan.had_export && plan.dry_run);
    let writes: Vec<&str> = plan.write.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(writes, ["mapping:added", "mapping:edit"]);
    assert_eq!(plan.delete, ["mapping:drop"]);
    assert_eq!(plan.block, ["now-blocked"]);
    assert_eq!(plan.unblock, ["was-blocked"]);
    assert_eq!(plan.unchanged, 1);
    assert!(store.get("mapping:drop").unwrap().is_some(), "dry run");

    store.merge_legacy(&dir, false).unwrap();
    // The store now answers as the old code would with those files.
    let old_code = fresh();
    for f in ["model_mappings.json", "blocked_models.json"] {
        std::fs::copy(dir.join(f), old_code.storage().join(f)).unwrap();
    }
    let reference = old_code.open_migrating();
    for key in ["keep", "edit", "drop", "added"] {
        assert_eq!(
            store.resolve_model_key(key).unwrap().resolved_model(),
            reference.resolve_model_key(key).unwrap().resolved_model(),
            "{key}"
        );
    }
    assert_eq!(
        store.blocked_models().unwrap(),
        reference.blocked_models().unwrap()
    );
    assert_eq!(
        store
            .get("mapping:edit")
            .unwrap()
            .unwrap()
            .updated_at
            .as_deref(),
        Some("2099-01-01T00:00:00+00:00"),
        "the file's time is kept"
    );
}

#[test]
fn a_merge_keeps_what_changed_here_after_the_export() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:a", Some("exported"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:b", Some("exported"), &[]))
        .unwrap();
    let dir = db.storage();
    store.export_legacy(&dir, false).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Changed here after the export (a second later).
    store
        .upsert(&input("mapping:a", Some("here"), &[]))
        .unwrap();
    store
        .upsert(&input("mapping:b", Some("here"), &[]))
        .unwrap();
    // The file deletes b and leaves a as exported.
    let path = dir.join("model_mappings.json");
    let mut doc = read_json(&path);
    doc["tenant"].as_object_mut().unwrap().remove("b");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let plan = store.merge_legacy(&dir, false).unwrap();
    assert!(plan.write.is_empty() && plan.delete.is_empty());
    assert_eq!(plan.kept, ["mapping:a", "mapping:b"]);
    assert_eq!(model_of(&store, "mapping:a").as_deref(), Some("here"));
    assert_eq!(model_of(&store, "mapping:b").as_deref(), Some("here"));
}

#[test]
fn merging_an_invalid_file_changes_nothing() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:a", Some("a"), &[])).unwrap();
    let dir = db.storage();
    std::fs::write(dir.join("model_mappings.json"), "{\"tenant\": ").unwrap();
    let before = last_seq(&store);
    let err = store.merge_legacy(&dir, false).unwrap_err();
    assert!(err.to_string().contains("model_mappings.json"), "{err}");
    assert!(err.to_string().contains("line"), "{err}");
    assert_eq!(last_seq(&store), before);
    assert_eq!(
        std::fs::read_to_string(dir.join("model_mappings.json")).unwrap(),
        "{\"tenant\": "
    );
}

#[test]
fn detach_drops_the_triggers_and_nothing_else_and_the_next_open_recreates_them() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:a", Some("a"), &[])).unwrap();
    let schema = |db: &common::Db| -> Vec<(String, String)> {
        db.sql()
            .prepare("SELECT type, name FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let with = schema(&db);
    store.detach().unwrap();
    drop(store);
    let without = schema(&db);
    let dropped: Vec<&(String, String)> = with.iter().filter(|e| !without.contains(e)).collect();
    assert_eq!(dropped.len(), 8);
    assert!(dropped
        .iter()
        .all(|(t, n)| t == "trigger" && n.starts_with("mm_feed_")));
    assert!(without.iter().all(|e| with.contains(e)));
    assert_eq!(db.row_count(), 1);
    // An old backend writes freely; the next open re-creates the triggers.
    db.sql()
        .execute(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key) VALUES ('mapping:b', 'mapping', 'b')",
            [],
        )
        .unwrap();
    let store = db.open();
    assert_eq!(schema(&db), with);
    assert!(store.health().unwrap().triggers);
    assert!(store.get("mapping:b").unwrap().is_some());
}

#[test]
fn the_opens_rewrite_of_a_host_row_is_recorded_as_the_librarys_change() {
    let db = fresh();
    drop(db.open());
    RawRow::new("tenant:xai", "tenant", "xai")
        .default_model("grok")
        .insert(&db.sql());
    let store = db.open();
    let h = store.history(Some("mapping:xai"), None, 10).unwrap();
    assert_eq!(h[1].source, "external", "the host's insert");
    assert_eq!(
        (h[0].op.as_str(), h[0].source.as_str()),
        ("update", "library")
    );
    assert_eq!(h[0].after.as_ref().unwrap().id, "mapping:xai");
}

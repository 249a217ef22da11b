//! behaviour B10: the one-time legacy JSON migration.

mod common;

use std::path::Path;

use common::{
    child_arg, child_mode, child_report, fingerprint, finish_child, fresh, input, spawn_child,
    wait_for_file, Db,
};
use model_mapping::{MigrationReport, MigrationStatus, Store, StoreOptions};
use serde_json::{json, Value};

const MAPPINGS: &str = "model_mappings.json";
const BLOCKED: &str = "blocked_models.json";
const MARKER: &str = ".model_mappings_sqlite_import_done";

fn entry(default_model: &str, updated_at: Option<&str>) -> Value {
    let mut mapping = json!({"default_model": default_model, "candidates": [default_model],
                             "is_active": true, "metadata": {}});
    if let Some(at) = updated_at {
        mapping["updated_at"] = json!(at);
    }
    json!({"name": default_model, "mapping": mapping})
}

/// A fresh database whose storage dir holds `mappings` as `model_mappings.json`.
fn with_mappings(mappings: &Value) -> Db {
    let db = fresh();
    write_json(&db.storage(), MAPPINGS, mappings);
    db
}

/// `n` entries, entry `i` under key `key(i)` with default model `m<i>`.
fn entries(n: usize, key: impl Fn(usize) -> String) -> serde_json::Map<String, Value> {
    (0..n)
        .map(|i| (key(i), entry(&format!("m{i}"), None)))
        .collect()
}

/// Every mapping a store lists, by value.
fn listed(s: &Store) -> Vec<model_mapping::Mapping> {
    s.list(None, None)
        .unwrap()
        .iter()
        .map(|m| (**m).clone())
        .collect()
}

fn write_json(dir: &Path, file: &str, value: &Value) {
    std::fs::write(dir.join(file), serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn report(store: &Store) -> MigrationReport {
    store.last_migration().expect("a migration ran at open")
}

fn meta_record(db: &Db, key: &str) -> Option<Value> {
    use rusqlite::OptionalExtension;
    db.sql()
        .query_row("SELECT value FROM mm_meta WHERE key = ?1", [key], |r| {
            r.get::<_, String>(0)
        })
        .optional()
        .unwrap()
        .map(|t| serde_json::from_str(&t).unwrap())
}

fn legacy_records(db: &Db) -> usize {
    db.sql()
        .query_row(
            "SELECT count(*) FROM mm_meta WHERE key LIKE 'legacy%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

#[test]
fn tenant_entries_are_imported_as_mapping_rows() {
    let db = with_mappings(&json!({
        "tenant": {"xai": {"name": "xAI", "mapping": {
            "default_model": "grok-4", "candidates": [" grok-4 ", "grok-3", ""],
            "is_active": true, "updated_at": "2026-01-08T02:07:59Z",
            "metadata": {"preferred_endpoint_id": 7}}}},
        "global": {"global": entry("g", Some("2026-01-01T00:00:00+00:00"))},
        "User": {"bob": entry("u", None)}
    }));
    let dir = db.storage();
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::Imported);
    assert_eq!(r.imported_count, 3);
    assert_eq!(r.skipped_count, 0);
    assert!(r.errors.is_empty(), "{:?}", r.errors);

    let xai = store.get("mapping:xai").unwrap().unwrap();
    assert_eq!(xai.scope_type, "mapping");
    assert_eq!(xai.name.as_deref(), Some("xAI"));
    assert_eq!(xai.candidates, ["grok-4", "grok-3"]);
    assert_eq!(xai.updated_at.as_deref(), Some("2026-01-08T02:07:59+00:00"));
    assert_eq!(
        store
            .resolve_model_key("xai")
            .unwrap()
            .preferred_endpoint_id(),
        Some(7)
    );
    // A missing timestamp is stamped with now.
    let bob = store.get("user:bob").unwrap().unwrap();
    assert!(common::is_utc_seconds(bob.updated_at.as_deref().unwrap()));

    let tenant_rows: i64 = db
        .sql()
        .query_row(
            "SELECT count(*) FROM llm_model_mappings WHERE scope_type <> lower(scope_type) \
             OR scope_type = 'tenant'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tenant_rows, 0);
    assert_eq!(
        meta_record(&db, "legacy_mappings_import").unwrap()["status"],
        "imported"
    );

    // Once recorded, the next open and an explicit run do nothing.
    drop(store);
    let store = db.open_migrating();
    assert_eq!(report(&store).status, MigrationStatus::AlreadyDone);
    let again = store.migrate_legacy(&dir, false).unwrap();
    assert_eq!(again.status, MigrationStatus::AlreadyDone);
    assert_eq!(again.blocked_status, MigrationStatus::AlreadyDone);
    assert_eq!(db.row_count(), 3);
}

#[test]
fn non_boolean_is_active_is_read_the_way_the_backend_read_it_not_skipped() {
    // The old code did `bool(mapping.get("is_active", True))`: "false" was active, 0 was not.
    let db = fresh();
    let dir = db.storage();
    let with_flag = |flag: Value| json!({"mapping": {"default_model": "m", "is_active": flag}});
    write_json(
        &dir,
        MAPPINGS,
        &json!({"mapping": {
            "text-false": with_flag(json!("false")),
            "zero": with_flag(json!(0)),
            "empty": with_flag(json!("")),
            "one": with_flag(json!(1)),
            "null": with_flag(json!(null)),
        }}),
    );
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(
        (r.imported_count, r.skipped_count),
        (5, 0),
        "{:?}",
        r.errors
    );
    let active = |id: &str| store.get(id).unwrap().unwrap().is_active;
    assert!(active("mapping:text-false"));
    assert!(!active("mapping:zero"));
    assert!(!active("mapping:empty"));
    assert!(active("mapping:one"));
    assert!(!active("mapping:null"));
}

#[test]
fn a_tenant_mapping_collision_keeps_the_newer_entry_and_reports_the_loser() {
    let db = with_mappings(&json!({
        "tenant": {
            "xai": entry("tenant-newer", Some("2026-01-02T00:00:00Z")),
            "grok": entry("tenant-older", Some("2026-01-01T00:00:00Z"))
        },
        "mapping": {
            "xai": entry("mapping-older", Some("2026-01-01T23:00:00+02:00")),
            "grok": entry("mapping-newer", Some("2026-01-01T00:00:01+00:00"))
        }
    }));
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::Imported);
    assert_eq!(r.imported_count, 2);
    assert_eq!(r.skipped_count, 2);
    let model = |id: &str| {
        store
            .get(id)
            .unwrap()
            .unwrap()
            .default_model
            .clone()
            .unwrap()
    };
    assert_eq!(model("mapping:xai"), "tenant-newer");
    assert_eq!(model("mapping:grok"), "mapping-newer");
    let mut losers: Vec<&str> = r.errors.iter().map(|e| e.key.as_str()).collect();
    losers.sort();
    assert_eq!(losers, ["mapping:xai", "tenant:grok"]);
    assert!(r.errors.iter().all(|e| e.reason.contains("collision")));
    assert_eq!(db.row_count(), 2);
}

#[test]
fn an_unreadable_updated_at_is_reported_and_never_wins_a_collision() {
    let db = with_mappings(&json!({
        "tenant": {"xai": {"mapping": {"default_model": "grok-junk-date", "updated_at": "not a date"}}},
        "mapping": {
            "xai": {"mapping": {"default_model": "grok-dated", "updated_at": "2026-01-08T02:07:59Z"}},
            "solo": {"mapping": {"default_model": "m", "updated_at": 17}}
        }
    }));
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.imported_count, 2, "{:?}", r.errors);
    let xai = store.get("mapping:xai").unwrap().unwrap();
    assert_eq!(xai.default_model.as_deref(), Some("grok-dated"));
    assert!(
        r.errors
            .iter()
            .any(|e| e.key == "tenant:xai" && e.reason.starts_with("collision_lost")),
        "{:?}",
        r.errors
    );
    // Both bad timestamps are reported; the entry that had no rival is kept, stamped now.
    let warned: Vec<&str> = r.warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(warned.len(), 2, "{:?}", r.warnings);
    assert!(warned.contains(&"tenant:xai") && warned.contains(&"mapping:solo"));
    assert!(r
        .warnings
        .iter()
        .all(|w| w.reason.starts_with("invalid_updated_at")));
    assert!(store.get("mapping:solo").unwrap().is_some());
}

#[test]
fn a_tenant_mapping_collision_tie_keeps_the_mapping_entry_in_either_order() {
    for tenant_first in [true, false] {
        let db = fresh();
        let dir = db.storage();
        let tenant = json!({"x": entry("from-tenant", Some("2026-01-01T00:00:00Z"))});
        let mapping = json!({"x": entry("from-mapping", Some("2026-01-01T00:00:00+00:00"))});
        // Keys keep their file order (serde_json preserve_order), so both orders are tried.
        let text = if tenant_first {
            format!("{{\"tenant\": {tenant}, \"mapping\": {mapping}}}")
        } else {
            format!("{{\"mapping\": {mapping}, \"tenant\": {tenant}}}")
        };
        std::fs::write(dir.join(MAPPINGS), text).unwrap();
        let store = db.open_migrating();
        let r = report(&store);
        assert_eq!(
            store
                .get("mapping:x")
                .unwrap()
                .unwrap()
                .default_model
                .as_deref(),
            Some("from-mapping"),
            "tenant first: {tenant_first}"
        );
        assert_eq!(r.imported_count, 1);
        assert_eq!(r.skipped_count, 1);
        assert_eq!(r.errors[0].key, "tenant:x");
    }
}

#[test]
fn a_marker_file_skips_the_mappings_but_blocked_models_are_still_imported_once() {
    let db = with_mappings(&json!({"tenant": {"xai": entry("grok", None)}}));
    let dir = db.storage();
    write_json(
        &dir,
        BLOCKED,
        &json!({"updated_at": "2026-01-01T00:00:00Z", "blocked": ["b", " a ", "b", ""]}),
    );
    std::fs::write(dir.join(MARKER), "migrated by the old code").unwrap();
    let marker_before = fingerprint(&dir.join(MARKER));

    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::SkippedMarker);
    assert_eq!(r.imported_count, 0);
    assert_eq!(r.blocked_status, MigrationStatus::Imported);
    assert_eq!(r.blocked_imported, 2);
    assert_eq!(db.row_count(), 0);
    assert_eq!(store.blocked_models().unwrap(), ["a", "b"]);
    assert_eq!(
        meta_record(&db, "legacy_mappings_import").unwrap()["status"],
        "skipped_marker"
    );
    assert_eq!(fingerprint(&dir.join(MARKER)), marker_before);

    // Imported once: unblocking later is not undone by the next open.
    store.update_blocked(&[("a".into(), false)]).unwrap();
    drop(store);
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::AlreadyDone);
    assert_eq!(r.blocked_status, MigrationStatus::AlreadyDone);
    assert_eq!(r.blocked_imported, 0);
    assert_eq!(store.blocked_models().unwrap(), ["b"]);
}

#[test]
fn a_non_empty_table_skips_the_mappings_so_deleted_rows_stay_deleted() {
    let db = fresh();
    let dir = db.storage();
    {
        let store = db.open();
        store
            .upsert(&input("mapping:live", Some("m"), &[]))
            .unwrap();
    }
    write_json(
        &dir,
        MAPPINGS,
        &json!({"tenant": {"xai": entry("grok", None), "live": entry("old", None)}}),
    );
    write_json(&dir, BLOCKED, &json!({"blocked": ["grok"]}));

    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::SkippedNonempty);
    assert_eq!(r.blocked_status, MigrationStatus::Imported);
    assert_eq!(store.blocked_models().unwrap(), ["grok"]);
    assert!(store.get("mapping:xai").unwrap().is_none());
    assert_eq!(
        store
            .get("mapping:live")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("m")
    );
    assert!(!dir.join(MARKER).exists(), "nothing was imported");

    // Delete every row: the legacy entries are not re-born at the next open.
    assert!(store.delete("mapping:live").unwrap());
    drop(store);
    let store = db.open_migrating();
    assert_eq!(report(&store).status, MigrationStatus::AlreadyDone);
    assert_eq!(db.row_count(), 0);
}

#[test]
fn no_legacy_file_is_recorded_and_skipped() {
    let db = fresh();
    let dir = db.storage();
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::SkippedNoFile);
    assert_eq!(r.blocked_status, MigrationStatus::SkippedNoFile);
    assert_eq!(legacy_records(&db), 2);
    drop(store);

    // A file appearing later is not imported: the database already decided.
    write_json(
        &dir,
        MAPPINGS,
        &json!({"tenant": {"xai": entry("grok", None)}}),
    );
    let store = db.open_migrating();
    assert_eq!(report(&store).status, MigrationStatus::AlreadyDone);
    assert_eq!(db.row_count(), 0);
}

fn assert_failed_untouched(db: &Db, bytes_before: &[u8]) -> MigrationReport {
    let dir = db.storage();
    let store = db.open_migrating(); // the store still opens
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::Failed);
    assert_eq!(r.imported_count, 0);
    assert_eq!(db.row_count(), 0, "nothing imported");
    assert!(
        meta_record(db, "legacy_mappings_import").is_none(),
        "nothing recorded"
    );
    assert!(!dir.join(MARKER).exists(), "no marker written");
    assert_eq!(std::fs::read(dir.join(MAPPINGS)).unwrap(), bytes_before);
    let err = r
        .errors
        .iter()
        .find(|e| e.key == MAPPINGS)
        .expect("the failure names the file");
    assert!(
        err.reason.starts_with("legacy_invalid_json"),
        "{}",
        err.reason
    );
    assert!(
        err.reason.contains("line") && err.reason.contains("column"),
        "{}",
        err.reason
    );
    // Usable: reads, resolves and writes that do not touch the mappings table.
    assert!(store.list(None, None).unwrap().is_empty());
    assert_eq!(
        store.resolve_model_key("xai").unwrap().resolved_model(),
        Some("xai")
    );
    assert!(store.health().unwrap().migration["mappings"].is_null());
    r
}

#[test]
fn invalid_json_imports_nothing_records_nothing_keeps_the_file_and_is_retried() {
    let db = fresh();
    let dir = db.storage();
    let broken = b"{\n  \"tenant\": {\n    \"xai\": {\"name\": \"x\",, }\n".to_vec();
    std::fs::write(dir.join(MAPPINGS), &broken).unwrap();
    let r = assert_failed_untouched(&db, &broken);
    assert!(
        r.errors[0].reason.contains("line 3"),
        "{}",
        r.errors[0].reason
    );

    // Retried at the next open: still broken, still nothing recorded.
    assert_failed_untouched(&db, &broken);

    // Once the file is fixed, the next open imports it.
    write_json(
        &dir,
        MAPPINGS,
        &json!({"tenant": {"xai": entry("grok", None)}}),
    );
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::Imported);
    assert_eq!(r.imported_count, 1);
    assert!(store.get("mapping:xai").unwrap().is_some());
}

#[test]
fn a_top_level_that_is_not_an_object_is_a_failure_too() {
    for text in ["[{\"tenant\": {}}]", "\"tenant\"", "null", "42", ""] {
        let db = fresh();
        let dir = db.storage();
        std::fs::write(dir.join(MAPPINGS), text).unwrap();
        assert_failed_untouched(&db, text.as_bytes());
    }
}

#[test]
fn an_explicit_rerun_after_a_failure_imports_the_fixed_file() {
    let db = fresh();
    let dir = db.storage();
    std::fs::write(dir.join(MAPPINGS), "{oops").unwrap();
    let store = db.open_migrating();
    assert_eq!(report(&store).status, MigrationStatus::Failed);
    write_json(&dir, MAPPINGS, &json!({"mapping": {"x": entry("m", None)}}));
    let r = store.migrate_legacy(&dir, false).unwrap();
    assert_eq!(r.status, MigrationStatus::Imported);
    assert_eq!(store.last_migration().unwrap(), r);
    assert_eq!(
        store.resolve_model_key("x").unwrap().resolved_model(),
        Some("m")
    );
}

#[test]
fn a_marker_file_is_written_after_an_import_and_legacy_files_are_never_modified() {
    let db = with_mappings(&json!({"tenant": {"a": entry("m", None), "b": entry("n", None)}}));
    let dir = db.storage();
    write_json(&dir, BLOCKED, &json!({"blocked": ["m"]}));
    let mappings_before = fingerprint(&dir.join(MAPPINGS));
    let blocked_before = fingerprint(&dir.join(BLOCKED));

    let store = db.open_migrating();
    assert_eq!(report(&store).status, MigrationStatus::Imported);
    let marker: Value = serde_json::from_slice(&std::fs::read(dir.join(MARKER)).unwrap()).unwrap();
    assert_eq!(marker["count"], 2);
    assert!(marker.get("imported_at").is_some(), "{marker}");
    assert_eq!(fingerprint(&dir.join(MAPPINGS)), mappings_before);
    assert_eq!(fingerprint(&dir.join(BLOCKED)), blocked_before);
    assert_eq!(
        common::listing(&dir),
        [MARKER, BLOCKED, MAPPINGS],
        "nothing moved, deleted or added besides the marker"
    );
}

#[test]
fn malformed_entries_are_skipped_and_reported_while_the_rest_imports() {
    let db = with_mappings(&json!({
        "tenant": {
            "ok": entry("m", None),
            "number": 5,
            "no-mapping": {"name": "x"},
            "mapping-not-object": {"mapping": ["m"]},
            "  ": entry("blank-key", None),
            "bad-candidates": {"mapping": {"candidates": "m"}}
        },
        "open ai": {"k": entry("bad-scope", None)},
        "global": "not an object of entries"
    }));
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::Imported);
    assert_eq!(r.imported_count, 1);
    assert_eq!(db.row_count(), 1);
    let mut keys: Vec<&str> = r.errors.iter().map(|e| e.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "global",
            "open ai:k",
            "tenant:  ",
            "tenant:bad-candidates",
            "tenant:mapping-not-object",
            "tenant:no-mapping",
            "tenant:number"
        ]
    );
    assert_eq!(r.skipped_count, r.errors.len());
    assert!(r.errors.iter().all(|e| !e.reason.is_empty()));
}

#[test]
fn the_blocked_import_is_a_union_with_rows_already_stored() {
    let db = fresh();
    let dir = db.storage();
    {
        let store = db.open();
        store
            .update_blocked(&[("a".into(), true), ("z".into(), true)])
            .unwrap();
    }
    // A bare list is accepted too.
    write_json(&dir, BLOCKED, &json!(["b", "a"]));
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.blocked_status, MigrationStatus::Imported);
    assert_eq!(r.blocked_imported, 1);
    assert_eq!(store.blocked_models().unwrap(), ["a", "b", "z"]);
}

#[test]
fn a_broken_blocked_file_is_retried_and_never_silently_unblocks() {
    let db = fresh();
    let dir = db.storage();
    std::fs::write(dir.join(BLOCKED), "{\"blocked\": [\"m\",").unwrap();
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.blocked_status, MigrationStatus::Failed);
    assert!(meta_record(&db, "legacy_blocked_import").is_none());
    assert!(r
        .errors
        .iter()
        .any(|e| e.key == BLOCKED && e.reason.starts_with("legacy_invalid_json")));
    drop(store);
    write_json(&dir, BLOCKED, &json!({"blocked": ["m"]}));
    let store = db.open_migrating();
    assert_eq!(report(&store).blocked_status, MigrationStatus::Imported);
    assert_eq!(store.blocked_models().unwrap(), ["m"]);
}

#[test]
fn a_dry_run_reports_the_plan_and_writes_nothing() {
    let db = with_mappings(&json!({"tenant": {"a": entry("m", None)}}));
    let dir = db.storage();
    write_json(&dir, BLOCKED, &json!({"blocked": ["m"]}));
    let store = db.open();
    let r = store.migrate_legacy(&dir, true).unwrap();
    assert!(r.dry_run);
    assert_eq!(r.status, MigrationStatus::Imported);
    assert_eq!(r.imported_count, 1);
    assert_eq!(r.blocked_imported, 1);
    assert_eq!(db.row_count(), 0);
    assert!(store.blocked_models().unwrap().is_empty());
    assert_eq!(legacy_records(&db), 0);
    assert!(!dir.join(MARKER).exists());
}

#[test]
fn the_report_has_the_contract_fields() {
    let db = with_mappings(&json!({"tenant": {"a": entry("m", None), "b": 1}}));
    let store = db.open_migrating();
    let v = serde_json::to_value(report(&store)).unwrap();
    assert_eq!(v["status"], "imported");
    assert_eq!(v["imported_count"], 1);
    assert_eq!(v["skipped_count"], 1);
    assert_eq!(v["blocked_imported"], 0);
    assert_eq!(v["errors"][0]["key"], "tenant:b");
    assert!(v["errors"][0]["reason"].is_string());
}

// ---- several processes at once ----

/// Entry point of the child processes below; does nothing in a normal test run.
#[test]
fn child_process_entry() {
    let Some(mode) = child_mode() else { return };
    assert_eq!(mode, "open_migrating");
    let db_path = child_arg("DB");
    let storage = child_arg("STORAGE");
    wait_for_file(Path::new(&child_arg("GO")));
    let store = Store::open(&db_path, StoreOptions::with_storage_dir(storage)).expect("open");
    let r = store.last_migration().unwrap();
    child_report(&serde_json::to_string(&r).unwrap());
}

#[test]
fn four_processes_opening_one_fresh_database_at_once_import_exactly_once() {
    let db = with_mappings(&json!({ "tenant": entries(200, |i| format!("k{i}")) }));
    let dir = db.storage();
    write_json(&dir, BLOCKED, &json!({"blocked": ["m1", "m2"]}));
    let go = db.dir.path().join("go");
    let db_path = db.path.to_str().unwrap().to_owned();
    let children: Vec<_> = (0..4)
        .map(|_| {
            spawn_child(
                "child_process_entry",
                "open_migrating",
                &[
                    ("DB", &db_path),
                    ("STORAGE", dir.to_str().unwrap()),
                    ("GO", go.to_str().unwrap()),
                ],
            )
        })
        .collect();
    std::fs::write(&go, "go").unwrap();
    let reports: Vec<Value> = children
        .into_iter()
        .map(|c| serde_json::from_str(&finish_child(c)[0]).unwrap())
        .collect();
    let statuses: Vec<&str> = reports
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "imported").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "already_done").count(),
        3,
        "{statuses:?}"
    );
    let blocked_imports = reports
        .iter()
        .filter(|r| r["blocked_status"] == "imported")
        .count();
    assert_eq!(blocked_imports, 1);
    assert_eq!(db.row_count(), 200);
    let store = db.open();
    assert_eq!(store.blocked_models().unwrap(), ["m1", "m2"]);
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
}

#[test]
fn broken_legacy_files_fail_clearly_and_stay_untouched() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "truncated",
            br#"{"tenant": {"xai": {"mapping": {"default_model": "gr"#.to_vec(),
        ),
        ("not utf-8", b"{\"tenant\": {\"x\xff\": {}}}".to_vec()),
        (
            "deep nesting",
            format!("{{\"tenant\": {deep}}}").into_bytes(),
        ),
        ("trailing garbage", br#"{"tenant": {}} {"#.to_vec()),
    ];
    for (what, bytes) in cases {
        let db = fresh();
        let dir = db.storage();
        std::fs::write(dir.join(MAPPINGS), &bytes).unwrap();
        let r = assert_failed_untouched(&db, &bytes);
        assert!(
            r.errors[0].reason.starts_with("legacy_invalid_json"),
            "{what}: {}",
            r.errors[0].reason
        );
    }
}

#[test]
fn a_legacy_file_with_a_utf8_bom_is_imported() {
    let db = fresh();
    let dir = db.storage();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(serde_json::to_vec(&json!({"tenant": {"xai": entry("grok", None)}})).unwrap());
    std::fs::write(dir.join(MAPPINGS), &bytes).unwrap();
    let store = db.open_migrating();
    assert_eq!(report(&store).status, MigrationStatus::Imported);
    assert!(store.get("mapping:xai").unwrap().is_some());
    assert_eq!(std::fs::read(dir.join(MAPPINGS)).unwrap(), bytes);
}

#[test]
fn the_cache_an_import_builds_equals_the_table_and_writes_reach_the_imported_rows() {
    let db = with_mappings(&json!({
        "tenant": {
            "b": {"name": "B", "mapping": {"default_model": " m ", "candidates": ["x", "m", "x"],
                  "is_active": "false", "updated_at": "2026-01-08T04:07:59+02:00",
                  "metadata": {"preferred_endpoint_id": 3, "nested": {"k": [1, 2.5, null]}}}},
            "a": entry("a-model", Some("2026-01-08T02:07:59Z"))
        },
        "global": {"global": entry("g", None)}
    }));
    let dir = db.storage();
    write_json(&dir, BLOCKED, &json!({"blocked": ["x"]}));
    let store = db.open_migrating();
    assert_eq!(report(&store).imported_count, 3);
    // The same mappings, field for field, as a store that reads the table.
    assert_eq!(listed(&store), listed(&db.open()));
    assert_eq!(store.blocked_models().unwrap(), ["x"]);
    assert_eq!(store.explain("b").unwrap(), db.open().explain("b").unwrap());
    // The cache knows where each row lives: a write replaces it, a delete removes it.
    store.upsert(&input("mapping:a", Some("new"), &[])).unwrap();
    assert!(store.delete("mapping:b").unwrap());
    assert_eq!(db.row_count(), 2);
    assert_eq!(listed(&store), listed(&db.open()));
}

#[test]
fn an_import_of_several_batches_gives_each_cached_row_its_own_table_row() {
    // More rows than one INSERT carries, and not a multiple of it.
    let db = with_mappings(&json!({ "tenant": entries(150, |i| format!("k{i:03}")) }));
    let store = db.open_migrating();
    assert_eq!(report(&store).imported_count, 150);
    // Writes address rows by the rowids the import handed the cache: first, last, and either
    // side of each batch boundary.
    for i in [0, 63, 64, 65, 127, 128, 149] {
        store
            .upsert(&input(&format!("mapping:k{i:03}"), Some("new"), &[]))
            .unwrap();
    }
    for i in [1, 66, 148] {
        assert!(store.delete(&format!("mapping:k{i:03}")).unwrap());
    }
    assert_eq!(db.row_count(), 147);
    assert_eq!(listed(&store), listed(&db.open()));
    let m = store.get("mapping:k064").unwrap().unwrap();
    assert_eq!(m.default_model.as_deref(), Some("new"));
    assert_eq!(
        db.open()
            .get("mapping:k065")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("new")
    );
}

#[test]
fn a_repeated_key_keeps_its_first_place_and_last_value_as_python_read_the_file() {
    let db = fresh();
    let dir = db.storage();
    // What Python's json.loads makes of this: tenant {a: second (name None), b: b2},
    // global {h}.
    let text = r#"{"tenant": {"a": {"mapping": {"default_model": "first"}},
                              "b": {"mapping": {"default_model": "b1", "default_model": "b2"}},
                              "a": {"name": "A", "mapping": {"default_model": "second"}, "name": null}},
                   "global": {"g": {"mapping": {"default_model": "g"}}},
                   "global": {"h": {"mapping": {"default_model": "h"}}}}"#;
    std::fs::write(dir.join(MAPPINGS), text).unwrap();
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::Imported);
    assert_eq!(r.imported_count, 3);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let a = store.get("mapping:a").unwrap().unwrap();
    assert_eq!(a.default_model.as_deref(), Some("second"));
    assert_eq!(a.name, None);
    let b = store.get("mapping:b").unwrap().unwrap();
    assert_eq!(b.default_model.as_deref(), Some("b2"));
    assert!(store.get("global:g").unwrap().is_none());
    assert!(store.get("global:h").unwrap().is_some());
}

#[test]
fn members_an_entry_does_not_use_are_skipped_but_must_still_be_json() {
    let db = fresh();
    let dir = db.storage();
    let text = r#"{"tenant": {"a": {"note": {"x": [1, {"y": null}]}, "mapping":
                  {"default_model": "m", "extra": [true, 1.5e3, "s"], "metadata": {"k": [1]}}}}}"#;
    std::fs::write(dir.join(MAPPINGS), text).unwrap();
    let store = db.open_migrating();
    assert_eq!(report(&store).imported_count, 1);
    let a = store.get("mapping:a").unwrap().unwrap();
    assert_eq!(a.metadata.get("k"), Some(&json!([1])));
    // A syntax error inside a skipped member still fails the whole file.
    let db = fresh();
    let dir = db.storage();
    let bytes = br#"{"tenant": {"a": {"note": [1, 2,], "mapping": {"default_model": "m"}}}}"#;
    std::fs::write(dir.join(MAPPINGS), bytes).unwrap();
    let r = assert_failed_untouched(&db, bytes);
    assert!(
        r.errors[0].reason.contains("line 1 column"),
        "{}",
        r.errors[0].reason
    );
}

// ---- legacy paths that are not regular files, and reading outside the write lock ----

/// Opens a store migrating from `db`'s storage dir on another thread; the test fails instead
/// of hanging when the open does not return within 30 s.
fn open_migrating_within_30_s(db: &Db, options: StoreOptions) -> Store {
    let path = db.path.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Store::open(&path, options));
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("Store::open did not return within 30 s")
        .expect("the store opens")
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Asserts that `file` was refused as not a regular file, for `what`, and that nothing was
/// recorded for it; returns the report.
fn assert_refused(db: &Db, file: &str, what: &str) -> MigrationReport {
    let store = open_migrating_within_30_s(db, StoreOptions::with_storage_dir(db.storage()));
    let r = report(&store);
    let status = if file == MAPPINGS {
        r.status
    } else {
        r.blocked_status
    };
    assert_eq!(status, MigrationStatus::Failed, "{file} as {what}: {r:?}");
    let err = r
        .errors
        .iter()
        .find(|e| e.key == file)
        .unwrap_or_else(|| panic!("no error names {file}: {r:?}"));
    assert!(
        err.reason.starts_with("legacy_not_a_regular_file")
            && err.reason.contains(file)
            && err.reason.contains(what),
        "{}",
        err.reason
    );
    let record = if file == MAPPINGS {
        "legacy_mappings_import"
    } else {
        "legacy_blocked_import"
    };
    assert!(meta_record(db, record).is_none(), "nothing recorded");
    assert!(!db.storage().join(MARKER).exists(), "no marker written");
    // The store is usable, and so is the database for everyone else.
    store
        .upsert(&input("mapping:probe", Some("m"), &[]))
        .unwrap();
    let other = db.sql();
    other.busy_timeout(std::time::Duration::ZERO).unwrap();
    other
        .execute(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key) VALUES ('mapping:host', 'mapping', 'host')",
            [],
        )
        .expect("another connection writes");
    other
        .execute(
            "DELETE FROM llm_model_mappings WHERE id IN ('mapping:host', 'mapping:probe')",
            [],
        )
        .unwrap();
    r
}

#[test]
fn a_fifo_named_like_a_legacy_file_is_refused_without_blocking_and_the_store_opens() {
    use std::os::unix::fs::FileTypeExt;
    for file in [MAPPINGS, BLOCKED] {
        let db = fresh();
        let fifo = db.storage().join(file);
        mkfifo(&fifo);
        assert_refused(&db, file, "FIFO");
        // Retried (and refused again) at the next open; the FIFO is left where it was.
        assert_refused(&db, file, "FIFO");
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
    }
}

#[test]
fn a_directory_socket_or_device_named_like_a_legacy_file_is_refused_clearly() {
    for file in [MAPPINGS, BLOCKED] {
        let db = fresh();
        let dir = db.storage().join(file);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("keep"), "keep me").unwrap();
        assert_refused(&db, file, "a directory");
        assert_eq!(std::fs::read(dir.join("keep")).unwrap(), b"keep me");

        let db = fresh();
        let _socket = std::os::unix::net::UnixListener::bind(db.storage().join(file)).unwrap();
        assert_refused(&db, file, "a socket");

        // A symlink is followed: this one leads to a character device.
        let db = fresh();
        std::os::unix::fs::symlink("/dev/null", db.storage().join(file)).unwrap();
        assert_refused(&db, file, "a character device");
    }
}

#[test]
fn a_symlink_to_a_regular_legacy_file_is_imported() {
    let db = fresh();
    let dir = db.storage();
    write_json(
        db.dir.path(),
        "real.json",
        &json!({"tenant": {"xai": entry("grok", None)}}),
    );
    std::os::unix::fs::symlink(db.dir.path().join("real.json"), dir.join(MAPPINGS)).unwrap();
    let store = db.open_migrating();
    assert_eq!(report(&store).status, MigrationStatus::Imported);
    assert!(store.get("mapping:xai").unwrap().is_some());
}

/// An inotify descriptor reporting files of `dir` closed after reading.
#[cfg(target_os = "linux")]
fn watch_reads(dir: &Path) -> i32 {
    // SAFETY: plain inotify calls on a path that outlives the watch.
    let inotify = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    assert!(inotify >= 0);
    let c_dir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: as above.
    let wd = unsafe { libc::inotify_add_watch(inotify, c_dir.as_ptr(), libc::IN_CLOSE_NOWRITE) };
    assert!(wd >= 0);
    inotify
}

/// Waits until `name` in the directory `inotify` watches is closed after reading; false when
/// that does not happen within 30 s.
#[cfg(target_os = "linux")]
fn wait_for_read_and_close(inotify: i32, name: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut buf = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: inotify,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
        if ready <= 0 {
            continue;
        }
        // SAFETY: reading into a buffer of the given length.
        let n = unsafe { libc::read(inotify, buf.as_mut_ptr().cast(), buf.len()) };
        assert!(n > 0, "inotify read");
        let mut at = 0;
        let header = std::mem::size_of::<libc::inotify_event>();
        while at + header <= n as usize {
            // SAFETY: the kernel wrote whole events; read_unaligned copes with the byte buffer.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let raw = &buf[at + header..at + header + ev.len as usize];
            let got = raw.split(|b| *b == 0).next().unwrap_or_default();
            if ev.mask & libc::IN_CLOSE_NOWRITE != 0 && got == name.as_bytes() {
                return true;
            }
            at += header + ev.len as usize;
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn legacy_files_are_read_while_another_connection_holds_the_write_lock_and_due_is_asked_again_under_it(
) {
    let db = with_mappings(&json!({"tenant": {"xai": entry("grok", None)}}));
    let dir = db.storage();
    // The schema exists: opening needs no write lock.
    drop(db.open());
    let inotify = watch_reads(&dir);

    // Another connection (the backend's, another worker) holds the write lock and adds a row.
    let host = db.sql();
    host.execute_batch(
        "BEGIN IMMEDIATE;
         INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model)
           VALUES ('mapping:host', 'mapping', 'host', 'host-model');",
    )
    .unwrap();
    let path = db.path.clone();
    let mut options = StoreOptions::with_storage_dir(&dir);
    options.busy_timeout = std::time::Duration::from_secs(120);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Store::open(&path, options));
    });
    // The store reads the whole file while the lock is someone else's...
    let read = wait_for_read_and_close(inotify, MAPPINGS);
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(inotify) };
    let waiting = matches!(rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty));
    host.execute_batch("COMMIT").unwrap();
    let store = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the open returns once the lock is free")
        .expect("the store opens");
    assert!(
        read,
        "the legacy file was not read while another connection held the write lock"
    );
    assert!(
        waiting,
        "the open did not wait for the write lock after reading"
    );
    // ...and under the lock finds that the table is no longer empty: nothing imported.
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::SkippedNonempty, "{r:?}");
    assert!(store.get("mapping:xai").unwrap().is_none());
    assert!(store.get("mapping:host").unwrap().is_some());
    assert_eq!(db.row_count(), 1);
}

#[cfg(target_os = "linux")]
#[test]
fn an_import_found_due_only_under_the_lock_reads_its_file_then_and_imports_it() {
    let db = with_mappings(&json!({"tenant": {"xai": entry("grok", None)}}));
    let dir = db.storage();
    write_json(&dir, BLOCKED, &json!({"blocked": ["m"]}));
    drop(db.open());
    // Before the lock the table has a row (the mappings import looks skipped, its file is not
    // read); the host deletes it while holding the write lock.
    let host = db.sql();
    host.execute(
        "INSERT INTO llm_model_mappings (id, scope_type, scope_key) VALUES ('mapping:host', 'mapping', 'host')",
        [],
    )
    .unwrap();
    let inotify = watch_reads(&dir);
    host.execute_batch("BEGIN IMMEDIATE; DELETE FROM llm_model_mappings;")
        .unwrap();
    let path = db.path.clone();
    let mut options = StoreOptions::with_storage_dir(&dir);
    options.busy_timeout = std::time::Duration::from_secs(120);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Store::open(&path, options));
    });
    // The blocked file is read after the look at the mappings import: that look is done.
    let read = wait_for_read_and_close(inotify, BLOCKED);
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(inotify) };
    host.execute_batch("COMMIT").unwrap();
    let store = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the open returns once the lock is free")
        .expect("the store opens");
    assert!(
        read,
        "the blocked file was not read while another connection held the write lock"
    );
    // Under the lock the table is empty: the mappings file is read then, and imported.
    let r = report(&store);
    assert_eq!(r.status, MigrationStatus::Imported, "{r:?}");
    assert_eq!(r.blocked_status, MigrationStatus::Imported, "{r:?}");
    assert!(store.get("mapping:xai").unwrap().is_some());
    assert_eq!(store.blocked_models().unwrap(), ["m"]);
    assert!(meta_record(&db, "legacy_mappings_import").is_some());
}

#[test]
fn a_number_where_an_object_belongs_is_reported_as_not_an_object_whatever_its_size() {
    let big = "12345678901234567890123";
    let text = format!(
        r#"{{"tenant": {{"small": 5, "big": {big}, "mapping-number": {{"mapping": {big}}},
            "ok": {{"mapping": {{"default_model": "m", "metadata": {{"n": {big}}}}}}}}},
           "global": {big}}}"#
    );
    let reasons = |r: &[model_mapping::legacy::ReportError]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = r
            .iter()
            .map(|e| {
                let code = e.reason.split(':').next().unwrap().to_owned();
                (e.key.clone(), code)
            })
            .collect();
        v.sort();
        v
    };
    let want: Vec<(String, String)> = [
        ("global", "not_an_object"),
        ("tenant:big", "entry_not_object"),
        ("tenant:mapping-number", "missing_mapping"),
        ("tenant:small", "entry_not_object"),
    ]
    .iter()
    .map(|(k, c)| (k.to_string(), c.to_string()))
    .collect();
    // From the file, and through the public planner on a parsed document.
    let db = fresh();
    std::fs::write(db.storage().join(MAPPINGS), &text).unwrap();
    let store = db.open_migrating();
    let r = report(&store);
    assert_eq!(r.imported_count, 1, "{r:?}");
    assert_eq!(reasons(&r.errors), want);
    let meta = serde_json::to_string(&store.get("mapping:ok").unwrap().unwrap().metadata).unwrap();
    assert_eq!(meta, format!(r#"{{"n":{big}}}"#));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let plan = model_mapping::legacy::plan_mappings(&doc).unwrap();
    assert_eq!(plan.mappings.len(), 1);
    assert_eq!(reasons(&plan.errors), want);
}

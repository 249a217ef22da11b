//! behaviour B2–B7: upsert, the mapping shape, list and get, delete, activate_default, blocked models.

mod common;

use common::{fresh, input, is_utc_seconds, put, put_at, RawRow};
use model_mapping::{MappingInput, Metadata};
use serde_json::{json, Value};

// ---- B2 upsert ----

#[test]
fn candidates_are_trimmed_emptied_deduplicated_keeping_the_first_and_get_the_default() {
    let db = fresh();
    let store = db.open();
    let m = store
        .upsert(&input(
            "mapping:x",
            Some("  c  "),
            &[" a ", "", "b", "a", "   ", "b "],
        ))
        .unwrap();
    assert_eq!(m.candidates, ["a", "b", "c"]);
    assert_eq!(m.default_model.as_deref(), Some("c"));

    let m = store
        .upsert(&input("mapping:x", Some("b"), &["a", "b"]))
        .unwrap();
    assert_eq!(
        m.candidates,
        ["a", "b"],
        "a default already present is not added"
    );
}

#[test]
fn a_blank_default_model_is_null_and_not_a_candidate() {
    let db = fresh();
    let store = db.open();
    let m = store
        .upsert(&input("mapping:x", Some("   "), &["a"]))
        .unwrap();
    assert_eq!(m.default_model, None);
    assert_eq!(m.candidates, ["a"]);
    let m = put(&store, json!({"id": "mapping:y", "default_model": null}));
    assert_eq!(m.default_model, None);
    assert!(m.candidates.is_empty());
}

#[test]
fn updated_at_is_now_in_utc_rfc3339_to_the_second_with_plus_00_00() {
    let db = fresh();
    let store = db.open();
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let m = store.upsert(&input("mapping:x", Some("m"), &[])).unwrap();
    let ts = m.updated_at.clone().unwrap();
    assert!(is_utc_seconds(&ts), "{ts}");
    let at = chrono::DateTime::parse_from_rfc3339(&ts).unwrap();
    assert!(at >= before, "{ts} is not now");

    // The row holds the same text, and an upsert ignores a carried timestamp.
    let stored: String = db
        .sql()
        .query_row("SELECT updated_at FROM llm_model_mappings", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, ts);
    let m = put(
        &store,
        json!({"id": "mapping:x", "default_model": "m", "updated_at": "2001-01-01T00:00:00Z"}),
    );
    assert!(is_utc_seconds(m.updated_at.as_deref().unwrap()));
    assert_ne!(m.updated_at.as_deref(), Some("2001-01-01T00:00:00+00:00"));
}

#[test]
fn an_upsert_replaces_the_whole_row_it_is_not_a_patch() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:x", "name": "X", "default_model": "a", "candidates": ["b"],
               "is_active": false, "metadata": {"temperature": 0.2}}),
    );
    let m = put(&store, json!({"id": "mapping:x", "default_model": "z"}));
    assert_eq!(m.name, None);
    assert_eq!(m.candidates, ["z"]);
    assert!(m.is_active, "is_active defaults to true");
    assert!(m.metadata.is_empty(), "metadata defaults to {{}}");
    assert_eq!(*store.get("mapping:x").unwrap().unwrap(), *m);

    let (name, candidates, active, metadata): (Option<String>, String, i64, String) = db
        .sql()
        .query_row(
            "SELECT name, candidates_json, is_active, metadata_json FROM llm_model_mappings",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(name, None);
    assert_eq!(
        serde_json::from_str::<Value>(&candidates).unwrap(),
        json!(["z"])
    );
    assert_eq!(active, 1);
    assert_eq!(serde_json::from_str::<Value>(&metadata).unwrap(), json!({}));
}

fn payload_error(store: &model_mapping::Store, payload: Value) -> String {
    let err = store.upsert_json(&payload).unwrap_err();
    assert_eq!(err.code(), "invalid_payload", "{err}");
    err.to_string()
}

#[test]
fn limits_and_wrong_types_are_invalid_payload_naming_the_field() {
    let db = fresh();
    let store = db.open();
    let long = "m".repeat(257);
    let many: Vec<String> = (0..513).map(|i| format!("m{i}")).collect();
    let big = "x".repeat(64 * 1024);
    let cases = [
        (json!({"id": "mapping:x", "name": long}), "name"),
        (
            json!({"id": "mapping:x", "default_model": long}),
            "default_model",
        ),
        (
            json!({"id": "mapping:x", "candidates": [long]}),
            "candidates",
        ),
        (json!({"id": "mapping:x", "candidates": many}), "candidates"),
        (
            json!({"id": "mapping:x", "metadata": {"k": big}}),
            "metadata",
        ),
        (
            json!({"id": "mapping:x", "metadata": ["not", "an", "object"]}),
            "metadata",
        ),
        (json!({"id": "mapping:x", "metadata": "{}"}), "metadata"),
        (
            json!({"id": "mapping:x", "candidates": "a,b"}),
            "candidates",
        ),
        (
            json!({"id": "mapping:x", "candidates": [{"m": 1}]}),
            "candidates",
        ),
        (json!({"id": "mapping:x", "is_active": "yes"}), "is_active"),
        (json!({"id": "mapping:x", "name": 5}), "name"),
    ];
    for (payload, field) in cases {
        let text = payload_error(&store, payload);
        assert!(text.contains(field), "{text} should name {field}");
    }
    assert_eq!(db.row_count(), 0, "nothing is half-written");
}

#[test]
fn values_at_the_limits_are_accepted() {
    let db = fresh();
    let store = db.open();
    let name = "n".repeat(256);
    let model = "m".repeat(256);
    let many: Vec<String> = (0..511).map(|i| format!("m{i}")).collect();
    let m = put(
        &store,
        json!({"id": "mapping:x", "name": name, "default_model": model, "candidates": many}),
    );
    assert_eq!(m.candidates.len(), 512);
    // Exactly 64 KiB serialised: {"k":"xxx..."} is 8 bytes of framing.
    let mut metadata = Metadata::new();
    metadata.insert("k".into(), Value::String("x".repeat(64 * 1024 - 8)));
    assert_eq!(serde_json::to_string(&metadata).unwrap().len(), 64 * 1024);
    let mut i = input("mapping:y", Some("m"), &[]);
    i.metadata = metadata;
    assert!(store.upsert(&i).is_ok());
}

// ---- B3 shape ----

#[test]
fn a_stored_mapping_has_the_contract_keys_in_order_and_source_sqlite() {
    let db = fresh();
    let store = db.open();
    let m = put(
        &store,
        json!({"id": "tenant:xai", "name": "xAI", "default_model": "grok-4",
               "candidates": ["grok-3"], "metadata": {"preferred_endpoint_id": 7}}),
    );
    let v = m.to_json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
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
    assert_eq!(v["source"], "sqlite");
    assert_eq!(v["id"], "mapping:xai");
    assert_eq!(v["candidates"], json!(["grok-3", "grok-4"]));
    assert_eq!(v["metadata"], json!({"preferred_endpoint_id": 7}));
    // serde serialisation writes the same order.
    let text = serde_json::to_string(&*m).unwrap();
    assert!(text.starts_with("{\"id\":\"mapping:xai\",\"scope_type\":\"mapping\""));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
}

// ---- B4 list and get ----

#[test]
fn list_filters_by_normalised_scope_type_and_exact_trimmed_scope_key() {
    let db = fresh();
    let store = db.open();
    for id in ["mapping:a", "mapping:b", "global:a", "user:a", "user:ab"] {
        store.upsert(&input(id, Some("m"), &[])).unwrap();
    }
    let ids = |ty: Option<&str>, key: Option<&str>| -> Vec<String> {
        let mut v: Vec<String> = store
            .list(ty, key)
            .unwrap()
            .iter()
            .map(|m| m.id.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(Some("tenant"), None), ["mapping:a", "mapping:b"]);
    assert_eq!(ids(Some(" Tenant "), None), ["mapping:a", "mapping:b"]);
    assert_eq!(ids(Some("USER"), None), ["user:a", "user:ab"]);
    assert_eq!(ids(None, Some(" a ")), ["global:a", "mapping:a", "user:a"]);
    assert_eq!(ids(Some("user"), Some("a")), ["user:a"]);
    assert_eq!(ids(None, None).len(), 5);
    assert!(ids(Some("module"), None).is_empty());
}

#[test]
fn list_orders_newest_first_missing_timestamps_last_ties_by_id() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:a", "default_model": "m", "updated_at": "2026-01-01T00:00:00Z"}),
            json!({"id": "mapping:b", "default_model": "m", "updated_at": "2026-01-03T00:00:00+00:00"}),
            json!({"id": "mapping:d", "default_model": "m", "updated_at": "2026-01-02T00:00:00Z"}),
            // The same instant as mapping:d, written with another offset.
            json!({"id": "mapping:c", "default_model": "m", "updated_at": "2026-01-02T02:00:00+02:00"}),
        ],
    );
    let sql = db.sql();
    RawRow::new("mapping:f", "mapping", "f")
        .default_model("m")
        .insert(&sql);
    RawRow::new("mapping:e", "mapping", "e")
        .default_model("m")
        .insert(&sql);
    let order: Vec<String> = store
        .list(None, None)
        .unwrap()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(
        order,
        [
            "mapping:b",
            "mapping:c",
            "mapping:d",
            "mapping:a",
            "mapping:e",
            "mapping:f"
        ]
    );
}

#[test]
fn get_returns_one_mapping_or_none() {
    let db = fresh();
    let store = db.open();
    assert!(store.get("mapping:x").unwrap().is_none());
    store.upsert(&input("mapping:x", Some("m"), &[])).unwrap();
    assert_eq!(store.get("mapping:x").unwrap().unwrap().id, "mapping:x");
}

// ---- B5 delete ----

#[test]
fn delete_returns_whether_a_row_was_deleted_and_rejects_malformed_ids() {
    let db = fresh();
    let store = db.open();
    store.upsert(&input("mapping:x", Some("m"), &[])).unwrap();
    assert!(store.delete("mapping:x").unwrap());
    assert!(!store.delete("mapping:x").unwrap());
    assert!(!store.delete("user:nobody").unwrap());
    assert_eq!(
        store.delete("no-colon").unwrap_err().code(),
        "invalid_mapping_id"
    );
    assert_eq!(db.row_count(), 0);
}

// ---- B6 activate_default ----

#[test]
fn activate_default_on_a_missing_mapping_is_mapping_not_found() {
    let db = fresh();
    let store = db.open();
    let err = store.activate_default("mapping:nope", "m").unwrap_err();
    assert_eq!(err.code(), "mapping_not_found");
    assert_eq!(db.row_count(), 0);
}

#[test]
fn activate_default_sets_the_default_activates_appends_and_keeps_name_and_metadata() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:x", "name": "X", "default_model": "a", "candidates": ["a", "b"],
                    "is_active": false, "metadata": {"required_tier": "pro"},
                    "updated_at": "2020-01-01T00:00:00Z"}),
        ],
    );
    let m = store.activate_default("tenant:x", " c ").unwrap();
    assert_eq!(m.default_model.as_deref(), Some("c"));
    assert!(m.is_active);
    assert_eq!(m.candidates, ["a", "b", "c"]);
    assert_eq!(m.name.as_deref(), Some("X"));
    assert_eq!(
        m.metadata,
        *json!({"required_tier": "pro"}).as_object().unwrap()
    );
    let ts = m.updated_at.as_deref().unwrap();
    assert!(is_utc_seconds(ts));
    assert!(ts > "2020-01-01T00:00:00+00:00", "updated_at bumped: {ts}");
    assert_eq!(*store.get("mapping:x").unwrap().unwrap(), *m);

    // A model already among the candidates is not added twice.
    let m = store.activate_default("mapping:x", "b").unwrap();
    assert_eq!(m.default_model.as_deref(), Some("b"));
    assert_eq!(m.candidates, ["a", "b", "c"]);
    assert_eq!(
        store.resolve_model_key("x").unwrap().resolved_model(),
        Some("b")
    );
}

// ---- B7 blocked models ----

#[test]
fn blocked_models_are_listed_sorted_and_unique() {
    let db = fresh();
    let store = db.open();
    let list = store
        .update_blocked(&[
            ("gpt-4".into(), true),
            (" claude ".into(), true),
            ("gpt-4".into(), true),
            ("a-model".into(), true),
        ])
        .unwrap();
    assert_eq!(list, ["a-model", "claude", "gpt-4"]);
    assert_eq!(store.blocked_models().unwrap(), list);
    let list = store.update_blocked(&[("claude".into(), false)]).unwrap();
    assert_eq!(list, ["a-model", "gpt-4"]);
    drop(store);
    assert_eq!(db.open().blocked_models().unwrap(), ["a-model", "gpt-4"]);
}

#[test]
fn blocked_update_defaults_to_blocking_and_refuses_any_other_shape_changing_nothing() {
    let db = fresh();
    let store = db.open();
    let list = store
        .update_blocked_json(&json!([{"model": "x"}, {"model": "y", "blocked": true}]))
        .unwrap();
    assert_eq!(list, ["x", "y"]);
    let list = store
        .update_blocked_json(&json!([{"model": "x", "blocked": false}]))
        .unwrap();
    assert_eq!(list, ["y"]);
    for bad in [
        json!({"model": "x"}),
        json!(["z"]),
        json!([{"model": ""}]),
        json!([{"model": "a"}, {"modle": "b"}]),
        json!([{"model": "a", "blocked": "false"}]),
        json!([{"model": 5}]),
    ] {
        let err = store.update_blocked_json(&bad).unwrap_err();
        assert_eq!(err.code(), "invalid_payload", "{bad}");
        assert_eq!(
            store.blocked_models().unwrap(),
            ["y"],
            "{bad} changed nothing"
        );
    }
}

#[test]
fn blocked_models_live_in_a_prefixed_table_of_the_library() {
    let db = fresh();
    let store = db.open();
    store.update_blocked(&[("m".into(), true)]).unwrap();
    let tables: Vec<String> = db
        .sql()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in &tables {
        assert!(
            t == "llm_model_mappings" || t.starts_with("mm_"), // SQLite's own sqlite_sequence (the change log's counter) aside
            "unexpected table {t}"
        );
    }
    let n: i64 = db
        .sql()
        .query_row("SELECT count(*) FROM mm_blocked_models", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_mapping_input_built_in_rust_is_validated_the_same_way() {
    let db = fresh();
    let store = db.open();
    let mut i = MappingInput::new("mapping:x", Some("m")).unwrap();
    i.name = Some("n".repeat(257));
    let err = store.upsert(&i).unwrap_err();
    assert_eq!(err.code(), "invalid_payload");
    assert!(err.to_string().contains("name"));
}

#[test]
fn a_write_that_fails_inside_its_transaction_is_rolled_back_and_the_store_stays_writable() {
    let db = fresh();
    let store = db.open();
    // Fails inside BEGIN IMMEDIATE, after the transaction started.
    assert!(store.activate_default("mapping:absent", "m").is_err());
    // No transaction was left open: this connection and another one can still write.
    put(&store, json!({"id": "mapping:x", "default_model": "a"}));
    db.sql()
        .execute(
            "INSERT INTO mm_blocked_models (model, blocked_at) VALUES ('z', 'now')",
            [],
        )
        .unwrap();
    assert_eq!(store.blocked_models().unwrap(), ["z"]);
    assert_eq!(db.row_count(), 1);
}

#[test]
fn integers_beyond_64_bits_in_metadata_are_kept_exactly_on_every_path() {
    let big = "12345678901234567890123";
    let neg = "-98765432109876543210987";
    let metadata = format!(
        r#"{{"big": {big}, "neg": {neg}, "nested": [{{"n": {big}}}], "u64": 18446744073709551615, "float": 0.1}}"#
    );
    let exact = |text: &str, what: &str| {
        for n in [big, neg, "18446744073709551615"] {
            assert!(text.contains(n), "{what}: {n} not kept in {text}");
        }
        assert!(
            !text.contains("e+22") && !text.contains("e22"),
            "{what}: {text}"
        );
    };
    let db = fresh();
    let store = db.open();
    let payload: Value = serde_json::from_str(&format!(
        r#"{{"id": "mapping:big", "default_model": "m", "metadata": {metadata}}}"#
    ))
    .unwrap();
    let m = store.upsert_json(&payload).unwrap();
    exact(&serde_json::to_string(&*m).unwrap(), "upsert result");
    let stored: String = db
        .sql()
        .query_row("SELECT metadata_json FROM llm_model_mappings", [], |r| {
            r.get(0)
        })
        .unwrap();
    exact(&stored, "metadata_json in the table");
    let other = db.open();
    let read = other.get("mapping:big").unwrap().unwrap();
    exact(
        &serde_json::to_string(&*read).unwrap(),
        "read back by another store",
    );
    exact(&store.export().unwrap().to_string(), "export");
    let r = store.resolve_model_key("big").unwrap();
    exact(&serde_json::to_string(&r).unwrap(), "resolution");

    // A row the host wrote with SQL.
    RawRow::new("mapping:host", "mapping", "host")
        .default_model("m")
        .metadata(&metadata)
        .insert(&db.sql());
    let host = store.get("mapping:host").unwrap().unwrap();
    exact(&serde_json::to_string(&*host).unwrap(), "a host row");
}

#[test]
fn an_unknown_top_level_key_is_invalid_payload_naming_it_and_nothing_is_written() {
    let db = fresh();
    let store = db.open();
    store
        .upsert_json(&json!({"id": "mapping:x", "default_model": "kept"}))
        .unwrap();
    // A misspelt key must not replace the row with an empty default.
    let msg = payload_error(&store, json!({"id": "mapping:x", "defualt_model": "new"}));
    assert!(
        msg.starts_with("invalid_payload: defualt_model: unknown field"),
        "{msg}"
    );
    assert!(
        msg.contains("default_model"),
        "the message lists the known keys: {msg}"
    );
    // Reported before a missing scope, so the misspelling is what the user sees.
    let msg = payload_error(&store, json!({"scope_tpye": "mapping", "scope_key": "x"}));
    assert!(msg.contains("scope_tpye"), "{msg}");
    assert_eq!(
        store
            .get("mapping:x")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("kept")
    );
    // Every B3 key is accepted: a mapping read back may be written again.
    let mut back = store.get("mapping:x").unwrap().unwrap().to_json();
    back["default_model"] = json!("again");
    let stored = store.upsert_json(&back).unwrap();
    assert_eq!(stored.default_model.as_deref(), Some("again"));
    // The same through the CLI's and the C ABI's parser.
    let err = MappingInput::from_json(&json!({"id": "mapping:x", "colour": 1})).unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn validate_json_text_returns_what_an_upsert_would_store_without_storing() {
    use model_mapping::model::validate_json_text;
    let m = validate_json_text(
        r#"{"scope_type": " Tenant ", "scope_key": " xai ", "default_model": " d ", "candidates": ["a", "a", " "]}"#,
        false,
    )
    .unwrap();
    assert_eq!(
        (m.id.as_str(), m.candidates.clone()),
        ("mapping:xai", vec!["a".to_owned(), "d".to_owned()])
    );
    assert!(is_utc_seconds(m.updated_at.as_deref().unwrap()));
    let err =
        validate_json_text(r#"{"id": "mapping:x", "candidates": [true]}"#, false).unwrap_err();
    assert_eq!(err.code(), "invalid_payload");
    // Host-kept: read tolerantly, limits still checked.
    let m = validate_json_text(
        r#"{"id": "prompt:5", "candidates": [true, 7, " b "], "is_active": 0, "metadata": [1], "extra": 1}"#,
        true,
    )
    .unwrap();
    assert_eq!(m.candidates, ["True", "7", "b"]);
    assert!(!m.is_active);
    assert!(m.metadata.is_empty());
    let many: Vec<String> = (0..513).map(|i| format!("m{i}")).collect();
    let err = validate_json_text(
        &json!({"id": "prompt:5", "candidates": many}).to_string(),
        true,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("invalid_payload: candidates"),
        "{err}"
    );
    let err = validate_json_text(r#"{"default_model": "x"}"#, true).unwrap_err();
    assert_eq!(err.code(), "invalid_mapping_scope");
}

//! behaviour B1: identity and normalisation on every input path.

mod common;

use common::{fresh, input};
use model_mapping::{normalize_mapping_id, normalize_scope_type, MappingInput};
use serde_json::json;

#[test]
fn tenant_tenant_and_mapping_ids_meet_in_one_row() {
    let db = fresh();
    let store = db.open();

    let stored = store
        .upsert(&input("tenant:xai", Some("grok-4"), &[]))
        .unwrap();
    assert_eq!(stored.id, "mapping:xai");
    assert_eq!(stored.scope_type, "mapping");

    // Writing through another spelling replaces the same row.
    store
        .upsert(&input("Tenant:xai", Some("grok-3"), &[]))
        .unwrap();
    store
        .upsert_json(
            &json!({"scope_type": " TENANT ", "scope_key": " xai ", "default_model": "grok-2"}),
        )
        .unwrap();
    assert_eq!(db.row_count(), 1);
    let (id, ty): (String, String) = db
        .sql()
        .query_row("SELECT id, scope_type FROM llm_model_mappings", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((id.as_str(), ty.as_str()), ("mapping:xai", "mapping"));

    for spelling in ["mapping:xai", "tenant:xai", "Tenant:xai", " MAPPING : xai "] {
        let got = store.get(spelling).unwrap().expect(spelling);
        assert_eq!(got.default_model.as_deref(), Some("grok-2"), "{spelling}");
    }
    assert_eq!(store.list(Some("Tenant"), None).unwrap().len(), 1);

    assert!(store.delete("Tenant:xai").unwrap());
    assert!(store.get("mapping:xai").unwrap().is_none());
    assert_eq!(db.row_count(), 0);
}

#[test]
fn an_id_is_split_at_its_first_colon_so_a_scope_key_may_hold_colons() {
    let db = fresh();
    let store = db.open();
    let m = store
        .upsert(&input("mapping:openai/gpt-4o:free", Some("gpt-4o"), &[]))
        .unwrap();
    assert_eq!(m.scope_type, "mapping");
    assert_eq!(m.scope_key, "openai/gpt-4o:free");
    assert!(store.get("tenant:openai/gpt-4o:free").unwrap().is_some());
}

#[test]
fn malformed_ids_are_invalid_mapping_id_on_every_path() {
    let db = fresh();
    let store = db.open();
    for raw in ["xai", ":xai", "mapping:", " : ", ""] {
        assert_eq!(
            store.get(raw).unwrap_err().code(),
            "invalid_mapping_id",
            "{raw:?}"
        );
        assert_eq!(
            store.delete(raw).unwrap_err().code(),
            "invalid_mapping_id",
            "{raw:?}"
        );
        assert_eq!(
            store.activate_default(raw, "m").unwrap_err().code(),
            "invalid_mapping_id",
            "{raw:?}"
        );
        assert_eq!(
            MappingInput::new(raw, None).unwrap_err().code(),
            "invalid_mapping_id"
        );
        assert_eq!(
            normalize_mapping_id(raw).unwrap_err().code(),
            "invalid_mapping_id"
        );
    }
    assert_eq!(
        store
            .upsert_json(&json!({"id": "mapping:", "default_model": "m"}))
            .unwrap_err()
            .code(),
        "invalid_mapping_id"
    );
}

#[test]
fn scope_types_outside_a_z_0_9_underscore_dash_are_invalid_mapping_scope() {
    let db = fresh();
    let store = db.open();
    for raw in ["open/ai:x", "open ai:x", "ma.pping:x", "é:x"] {
        assert_eq!(
            store.get(raw).unwrap_err().code(),
            "invalid_mapping_scope",
            "{raw}"
        );
    }
    assert_eq!(
        store.list(Some("open/ai"), None).unwrap_err().code(),
        "invalid_mapping_scope"
    );
    assert_eq!(
        normalize_scope_type("  ").unwrap_err().code(),
        "invalid_mapping_scope"
    );
    assert_eq!(db.row_count(), 0);
}

#[test]
fn scope_types_are_trimmed_lower_cased_and_tenant_becomes_mapping() {
    assert_eq!(normalize_scope_type(" Tenant ").unwrap(), "mapping");
    assert_eq!(normalize_scope_type("GLOBAL").unwrap(), "global");
    assert_eq!(
        normalize_scope_type("premium_user").unwrap(),
        "premium_user"
    );
    assert_eq!(normalize_mapping_id(" Tenant:xai ").unwrap(), "mapping:xai");
}

#[test]
fn unknown_well_formed_scope_types_are_stored_too() {
    let db = fresh();
    let store = db.open();
    let m = store
        .upsert(&input("Custom-Scope_1:k", Some("m"), &[]))
        .unwrap();
    assert_eq!(m.id, "custom-scope_1:k");
    assert!(store.get("custom-scope_1:k").unwrap().is_some());
}

#[test]
fn scope_keys_are_trimmed_non_empty_and_at_most_256_characters() {
    let db = fresh();
    let store = db.open();
    let m = store
        .upsert(&input("user:  bob  ", Some("m"), &[]))
        .unwrap();
    assert_eq!(m.id, "user:bob");

    let longest = "é".repeat(256); // characters, not bytes
    assert!(store
        .upsert(&input(&format!("user:{longest}"), Some("m"), &[]))
        .is_ok());
    let too_long = MappingInput {
        scope_type: "user".into(),
        scope_key: "k".repeat(257),
        is_active: true,
        ..MappingInput::default()
    };
    assert_eq!(
        store.upsert(&too_long).unwrap_err().code(),
        "invalid_mapping_id"
    );
    let blank = MappingInput {
        scope_type: "user".into(),
        scope_key: "   ".into(),
        is_active: true,
        ..MappingInput::default()
    };
    assert_eq!(
        store.upsert(&blank).unwrap_err().code(),
        "invalid_mapping_id"
    );
    assert_eq!(db.row_count(), 2);
}

#[test]
fn resolution_import_and_snapshot_normalise_ids_too() {
    let db = fresh();
    let store = db.open();
    let report = store
        .import_items(&[json!({"id": "Tenant:a", "default_model": "m-a"})])
        .unwrap();
    assert_eq!(report.imported_count, 1);
    store
        .apply_snapshot(
            &[json!({"scope_type": "TENANT", "scope_key": "b", "default_model": "m-b"})],
            false,
            false,
        )
        .unwrap();
    assert!(store.get("mapping:a").unwrap().is_some());
    assert!(store.get("mapping:b").unwrap().is_some());
    assert_eq!(
        store
            .resolve_model_key("Tenant:a")
            .unwrap()
            .resolved_model(),
        Some("m-a")
    );
    assert_eq!(
        store
            .resolve_model_key("tenant:b")
            .unwrap()
            .mapping()
            .unwrap()
            .id
            .clone(),
        "mapping:b"
    );
}

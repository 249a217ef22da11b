//! behaviour B8: resolve_model_key and explain.

mod common;

use common::{fresh, input, put, put_at, RawRow};
use model_mapping::resolve::{Fate, Outcome};
use model_mapping::Store;
use serde_json::{json, Value};

fn resolved(store: &Store, key: &str) -> Option<String> {
    store
        .resolve_model_key(key)
        .unwrap()
        .resolved_model()
        .map(|m| m.to_string())
}

fn endpoint(metadata: Value) -> Option<i64> {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:x", "default_model": "m", "metadata": metadata}),
    );
    let r = store.resolve_model_key("x").unwrap();
    assert!(r.hit());
    let from_json = serde_json::to_value(&r).unwrap()["preferred_endpoint_id"].as_i64();
    assert_eq!(from_json, r.preferred_endpoint_id());
    r.preferred_endpoint_id()
}

#[test]
fn blank_keys_resolve_to_null_without_a_hit() {
    let db = fresh();
    let store = db.open();
    put(&store, json!({"id": "global:global", "default_model": "m"}));
    for key in ["", "   ", "\t\n"] {
        let r = store.resolve_model_key(key).unwrap();
        assert_eq!(r.resolved_model(), None);
        assert!(!r.hit());
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"resolved_model": null, "hit": false})
        );
    }
}

#[test]
fn an_unknown_key_passes_through_trimmed_without_a_hit() {
    let db = fresh();
    let store = db.open();
    let r = store.resolve_model_key("  gpt-4o  ").unwrap();
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"resolved_model": "gpt-4o", "hit": false})
    );
}

#[test]
fn a_hit_carries_the_mapping_id_scope_metadata_and_endpoint() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "tenant:xai", "default_model": "grok-4", "candidates": ["grok-3"],
               "metadata": {"preferred_endpoint_id": 7, "temperature": 0.7}}),
    );
    let r = store.resolve_model_key(" xai ").unwrap();
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"resolved_model": "grok-4", "hit": true, "mapping_id": "mapping:xai",
               "scope_type": "mapping", "scope_key": "xai",
               "metadata": {"preferred_endpoint_id": 7, "temperature": 0.7},
               "preferred_endpoint_id": 7})
    );
}

#[test]
fn the_json_text_of_a_resolution_is_its_b8_object_and_follows_writes() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "grok-4", "metadata": {"z": 1, "a": [2]}}),
    );
    for key in ["xai", "mapping:xai", "llama3:8b", "  "] {
        let r = store.resolve_model_key(key).unwrap();
        // Twice: the second hit is served from the text kept with the snapshot entry.
        for _ in 0..2 {
            assert_eq!(r.to_json(), serde_json::to_string(&r).unwrap(), "{key}");
        }
    }
    assert!(store
        .resolve_model_key("xai")
        .unwrap()
        .to_json()
        .starts_with(r#"{"resolved_model":"grok-4","hit":true,"mapping_id":"mapping:xai""#));
    // A write makes a new entry, so the kept text cannot outlive the mapping it describes.
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "grok-5", "metadata": {"z": 2}}),
    );
    let text = store.resolve_model_key("xai").unwrap().to_json();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["resolved_model"], "grok-5");
    assert_eq!(v["metadata"], json!({"z": 2}));
}

#[test]
fn a_miss_borrows_the_trimmed_key_and_into_owned_keeps_it() {
    let db = fresh();
    let store = db.open();
    let owned = {
        let key = String::from("  llama3:8b ");
        let r = store.resolve_model_key(&key).unwrap();
        assert_eq!(r.resolved_model(), Some("llama3:8b"));
        r.into_owned()
    };
    assert_eq!(owned.resolved_model(), Some("llama3:8b"));
    assert!(!owned.hit());
}

#[test]
fn preferred_endpoint_id_accepts_an_integer_a_truncated_float_and_a_numeric_string() {
    assert_eq!(endpoint(json!({"preferred_endpoint_id": 7})), Some(7));
    assert_eq!(endpoint(json!({"preferred_endpoint_id": 7.9})), Some(7));
    assert_eq!(endpoint(json!({"preferred_endpoint_id": -7.9})), Some(-7));
    assert_eq!(endpoint(json!({"preferred_endpoint_id": 3.0})), Some(3));
    assert_eq!(endpoint(json!({"endpoint_id": " 12 "})), Some(12));
    assert_eq!(endpoint(json!({"endpointId": "\t-4\n"})), Some(-4));
    assert_eq!(endpoint(json!({})), None);
}

#[test]
fn preferred_endpoint_id_skips_bools_and_junk_and_uses_the_next_key() {
    assert_eq!(
        endpoint(json!({"preferred_endpoint_id": true, "endpoint_id": 5})),
        Some(5)
    );
    assert_eq!(
        endpoint(json!({"preferred_endpoint_id": "abc", "endpoint_id": false, "endpointId": "9"})),
        Some(9)
    );
    assert_eq!(
        endpoint(
            json!({"preferred_endpoint_id": null, "endpoint_id": [1], "endpointId": {"id": 1}})
        ),
        None
    );
    assert_eq!(
        endpoint(json!({"preferred_endpoint_id": "7.5", "endpoint_id": "1e3", "endpointId": "8"})),
        Some(8),
        "a string must hold an integer"
    );
    // The first key that holds a usable value wins, whatever the order in the object.
    assert_eq!(
        endpoint(json!({"endpointId": 1, "endpoint_id": 2, "preferred_endpoint_id": 3})),
        Some(3)
    );
}

#[test]
fn a_mapping_beats_a_global_of_the_same_key() {
    let db = fresh();
    let store = db.open();
    // The global one is newer: scope priority still wins.
    put_at(
        &store,
        vec![
            json!({"id": "mapping:xai", "default_model": "from-mapping", "updated_at": "2025-01-01T00:00:00Z"}),
            json!({"id": "global:xai", "default_model": "from-global", "updated_at": "2026-01-01T00:00:00Z"}),
        ],
    );
    let r = store.resolve_model_key("xai").unwrap();
    assert_eq!(r.resolved_model(), Some("from-mapping"));
    assert_eq!(r.mapping().unwrap().id, "mapping:xai");
    // Other scope types never match a bare key.
    put(&store, json!({"id": "user:bob", "default_model": "u"}));
    assert_eq!(resolved(&store, "bob").as_deref(), Some("bob"));
    assert!(!store.resolve_model_key("bob").unwrap().hit());
    // Without the mapping, the global one answers.
    store.delete("mapping:xai").unwrap();
    assert_eq!(resolved(&store, "xai").as_deref(), Some("from-global"));
}

#[test]
fn a_prefixed_key_matches_only_its_own_scope_type() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "global:xai", "default_model": "from-global"}),
    );
    // `mapping:xai` (or `tenant:xai`) names the mapping row alone: no fall-back to global.
    for key in ["mapping:xai", "tenant:xai", " Mapping : xai "] {
        let r = store.resolve_model_key(key).unwrap();
        assert!(!r.hit(), "{key}");
        assert_eq!(r.resolved_model(), Some(key.trim()));
    }
    assert_eq!(
        resolved(&store, "global:xai").as_deref(),
        Some("from-global")
    );
    // An inactive mapping row is not a match either, even beside an active global one.
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "m", "is_active": false}),
    );
    assert!(!store.resolve_model_key("mapping:xai").unwrap().hit());
    assert_eq!(resolved(&store, "xai").as_deref(), Some("from-global"));
    put(&store, json!({"id": "mapping:xai", "default_model": "m"}));
    assert_eq!(resolved(&store, "mapping:xai").as_deref(), Some("m"));
    assert_eq!(resolved(&store, "tenant:xai").as_deref(), Some("m"));
}

#[test]
fn the_newest_row_wins_within_one_scope_type() {
    let db = fresh();
    let store = db.open();
    // Rows the backend wrote with SQL after the store opened: two spellings of one id.
    let sql = db.sql();
    RawRow::new("tenant:xai", "tenant", "xai")
        .default_model("old-model")
        .updated("2025-01-01T00:00:00Z")
        .insert(&sql);
    RawRow::new("mapping:xai", "mapping", "xai")
        .default_model("new-model")
        .updated("2026-01-01T00:00:00+00:00")
        .insert(&sql);
    assert_eq!(resolved(&store, "xai").as_deref(), Some("new-model"));
    assert_eq!(
        resolved(&store, "mapping:xai").as_deref(),
        Some("new-model")
    );

    let sql = db.sql();
    RawRow::new("tenant:grok", "tenant", "grok")
        .default_model("newer")
        .updated("2026-02-01T00:00:00Z")
        .insert(&sql);
    RawRow::new("mapping:grok", "mapping", "grok")
        .default_model("older")
        .updated("2026-01-31T23:59:59Z")
        .insert(&sql);
    assert_eq!(resolved(&store, "grok").as_deref(), Some("newer"));
    assert_eq!(
        store
            .get("mapping:grok")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("newer")
    );
}

#[test]
fn inactive_mappings_never_match() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "m", "is_active": false}),
    );
    put(
        &store,
        json!({"id": "user:bob", "default_model": "u", "is_active": false}),
    );
    for key in ["xai", "mapping:xai", "tenant:xai", "user:bob"] {
        let r = store.resolve_model_key(key).unwrap();
        assert!(!r.hit(), "{key}");
        assert_eq!(r.resolved_model(), Some(key));
    }
    // An inactive mapping lets an active global of the same key answer.
    put(&store, json!({"id": "global:xai", "default_model": "g"}));
    assert_eq!(resolved(&store, "xai").as_deref(), Some("g"));
    // A newer inactive row beside an older active one: the active one answers.
    let sql = db.sql();
    RawRow::new("tenant:grok", "tenant", "grok")
        .default_model("active-older")
        .updated("2025-01-01T00:00:00Z")
        .insert(&sql);
    RawRow::new("mapping:grok", "mapping", "grok")
        .default_model("inactive-newer")
        .active(Some(0))
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    assert_eq!(resolved(&store, "grok").as_deref(), Some("active-older"));
}

#[test]
fn a_blocked_default_falls_through_to_the_next_candidate() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "grok-4", "candidates": ["grok-4", "grok-3", "grok-2"]}),
    );
    store
        .update_blocked(&[("grok-4".into(), true), ("grok-3".into(), true)])
        .unwrap();
    let r = store.resolve_model_key("xai").unwrap();
    assert!(r.hit());
    assert_eq!(r.resolved_model(), Some("grok-2"));
    store.update_blocked(&[("grok-4".into(), false)]).unwrap();
    assert_eq!(resolved(&store, "xai").as_deref(), Some("grok-4"));
}

#[test]
fn when_every_model_is_blocked_the_result_is_null_with_a_hit() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "a", "candidates": ["b"], "metadata": {"endpoint_id": 3}}),
    );
    put(&store, json!({"id": "mapping:empty"}));
    store
        .update_blocked(&[("a".into(), true), ("b".into(), true)])
        .unwrap();
    for key in ["xai", "empty", "mapping:empty"] {
        let r = store.resolve_model_key(key).unwrap();
        assert!(r.hit(), "{key}");
        assert_eq!(r.resolved_model(), None, "{key}");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["resolved_model"], Value::Null);
        assert_eq!(v["hit"], true);
    }
    assert_eq!(
        store
            .resolve_model_key("xai")
            .unwrap()
            .preferred_endpoint_id(),
        Some(3)
    );
}

#[test]
fn strange_keys_pass_through_and_never_fail() {
    let db = fresh();
    let store = db.open();
    put(&store, json!({"id": "global:global", "default_model": "g"}));
    for key in [
        "llama3:8b",
        "openai/gpt-4o:free",
        "anthropic/claude-3.5:beta",
        ":",
        "a:",
        ":b",
        "::",
        "Ünïcode:modèl",
        "x:y:z",
    ] {
        let r = store.resolve_model_key(key).unwrap();
        assert!(!r.hit(), "{key}");
        assert_eq!(r.resolved_model(), Some(key));
        let e = store.explain(key).unwrap();
        assert!(e.considered.is_empty() && e.candidates.is_empty(), "{key}");
    }
}

#[test]
fn a_key_with_a_colon_is_an_exact_id_of_any_scope_type() {
    let db = fresh();
    let store = db.open();
    put(&store, json!({"id": "user:bob", "default_model": "u"}));
    put(&store, json!({"id": "prompt:7", "default_model": "p"}));
    put(&store, json!({"id": "mapping:xai", "default_model": "x"}));
    assert_eq!(resolved(&store, "user:bob").as_deref(), Some("u"));
    assert_eq!(resolved(&store, " USER : bob ").as_deref(), Some("u"));
    assert_eq!(resolved(&store, "prompt:7").as_deref(), Some("p"));
    assert_eq!(resolved(&store, "Tenant:xai").as_deref(), Some("x"));
    assert!(!store.resolve_model_key("global:xai").unwrap().hit());
}

#[test]
fn explain_says_why_each_matching_mapping_won_or_lost_and_each_candidate_fate() {
    let db = fresh();
    let store = db.open();
    put_at(
        &store,
        vec![
            json!({"id": "mapping:xai", "default_model": "a", "candidates": ["b", "c", "d"],
                   "updated_at": "2026-01-02T00:00:00Z"}),
            json!({"id": "global:xai", "default_model": "g", "updated_at": "2026-01-05T00:00:00Z"}),
        ],
    );
    let sql = db.sql();
    // Rows written by others: an older spelling of the same id, and a newer inactive one.
    RawRow::new("tenant:xai", "tenant", "xai")
        .default_model("older")
        .updated("2026-01-01T00:00:00Z")
        .insert(&sql);
    RawRow::new("Tenant:xai", "Tenant", "xai")
        .default_model("off")
        .active(Some(0))
        .updated("2026-01-03T00:00:00Z")
        .insert(&sql);
    store
        .update_blocked(&[("a".into(), true), ("b".into(), true)])
        .unwrap();

    let e = store.explain("xai").unwrap();
    assert_eq!(e.resolution, store.resolve_model_key("xai").unwrap());
    assert_eq!(e.resolution.resolved_model(), Some("c"));
    let mut considered: Vec<(String, Option<String>, Outcome)> = e
        .considered
        .iter()
        .map(|c| (c.mapping_id.clone(), c.updated_at.clone(), c.outcome))
        .collect();
    considered.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        considered,
        [
            (
                "mapping:xai".into(),
                Some("2026-01-01T00:00:00+00:00".into()),
                Outcome::Older
            ),
            (
                "mapping:xai".into(),
                Some("2026-01-02T00:00:00+00:00".into()),
                Outcome::Chosen
            ),
            (
                "mapping:xai".into(),
                Some("2026-01-03T00:00:00+00:00".into()),
                Outcome::Inactive
            ),
            (
                "global:xai".into(),
                Some("2026-01-05T00:00:00+00:00".into()),
                Outcome::LowerPriorityScope
            ),
        ]
    );
    let fates: Vec<(&str, Fate)> = e
        .candidates
        .iter()
        .map(|c| (c.model.as_str(), c.fate))
        .collect();
    assert_eq!(
        fates,
        [
            ("a", Fate::Blocked),
            ("b", Fate::Blocked),
            ("c", Fate::Chosen),
            ("d", Fate::NotReached)
        ]
    );

    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["resolved_model"], "c");
    assert_eq!(v["hit"], true);
    assert_eq!(v["candidates"][0], json!({"model": "a", "fate": "blocked"}));
    assert_eq!(v["candidates"][3]["fate"], "not_reached");
    let outcomes: Vec<&str> = v["considered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    for o in ["chosen", "older", "inactive", "lower_priority_scope"] {
        assert!(outcomes.contains(&o), "{o} missing from {outcomes:?}");
    }
}

#[test]
fn explain_of_an_inactive_mapping_shows_it_lost_to_the_global() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "m", "is_active": false}),
    );
    put(&store, json!({"id": "global:xai", "default_model": "g"}));
    let e = store.explain("xai").unwrap();
    assert_eq!(e.resolution.resolved_model(), Some("g"));
    let outcomes: Vec<(&str, Outcome)> = e
        .considered
        .iter()
        .map(|c| (c.mapping_id.as_str(), c.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("mapping:xai", Outcome::Inactive),
            ("global:xai", Outcome::Chosen)
        ]
    );
    assert_eq!(
        e.candidates.iter().map(|c| c.fate).collect::<Vec<_>>(),
        [Fate::Chosen]
    );

    // Nothing active: every considered mapping is inactive and no candidate has a fate.
    store.delete("global:xai").unwrap();
    let e = store.explain("xai").unwrap();
    assert!(!e.resolution.hit());
    assert_eq!(e.considered.len(), 1);
    assert_eq!(e.considered[0].outcome, Outcome::Inactive);
    assert!(e.candidates.is_empty());
}

#[test]
fn explain_of_an_all_blocked_mapping_marks_every_model_blocked() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:x", Some("a"), &["b"]))
        .unwrap();
    store
        .update_blocked(&[("a".into(), true), ("b".into(), true)])
        .unwrap();
    let e = store.explain("x").unwrap();
    assert!(e.resolution.hit());
    assert_eq!(e.resolution.resolved_model(), None);
    assert!(e.candidates.iter().all(|c| c.fate == Fate::Blocked));
    assert_eq!(e.candidates.len(), 2);
}

#[test]
fn an_integer_beyond_64_bits_is_no_endpoint_id_and_a_float_temperature() {
    let big = "12345678901234567890123";
    let meta = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
    assert_eq!(
        endpoint(meta(&format!(r#"{{"preferred_endpoint_id": {big}}}"#))),
        None
    );
    assert_eq!(
        endpoint(meta(&format!(
            r#"{{"preferred_endpoint_id": {big}, "endpoint_id": 5}}"#
        ))),
        Some(5)
    );
    assert_eq!(endpoint(meta(r#"{"endpoint_id": 1e2}"#)), Some(100));
    assert_eq!(endpoint(meta(r#"{"endpoint_id": 7.0}"#)), Some(7));
    assert_eq!(endpoint(meta(r#"{"endpoint_id": -0}"#)), Some(0));
    let m: serde_json::Map<String, Value> =
        serde_json::from_str(&format!(r#"{{"temperature": {big}}}"#)).unwrap();
    assert_eq!(
        model_mapping::model::temperature(&m),
        Some(1.2345678901234568e22)
    );
    let m: serde_json::Map<String, Value> =
        serde_json::from_str(r#"{"temperature": 0.70}"#).unwrap();
    assert_eq!(model_mapping::model::temperature(&m), Some(0.7));
}

//! behaviour B9: resolve_for_message — the prompt → user → mapping → global chain.

mod common;

use common::{fresh, put};
use model_mapping::{MessageRequest, MessageSelection, Store};
use serde_json::{json, Value};

fn select(store: &Store, req: MessageRequest<'_>) -> Value {
    let sel: MessageSelection = store.resolve_for_message(&req).unwrap();
    serde_json::to_value(&sel).unwrap()
}

fn step(scope_type: &str, scope_key: &str, source: &str, found: bool, active: bool) -> Value {
    json!({"scope_type": scope_type, "scope_key": scope_key, "source": source,
           "found": found, "active": active})
}

#[test]
fn the_prompt_mapping_passed_by_the_host_decides_first() {
    let db = fresh();
    let store = db.open();
    put(&store, json!({"id": "user:bob", "default_model": "u"}));
    // A stored prompt row exists too, but the host's object takes precedence.
    put(
        &store,
        json!({"id": "prompt:42", "default_model": "stored"}),
    );
    let host = json!({"default_model": "p-default", "candidates": ["p2"],
                      "metadata": {"temperature": 0.3}});
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            prompt_id: Some("42"),
            prompt_mapping: Some(&host),
            ..Default::default()
        },
    );
    assert_eq!(
        v,
        json!({"model": "p-default", "temperature": 0.3,
               "hit": {"scope_type": "prompt", "scope_key": "42", "source": "prompt",
                       "picked_from": "default_model"},
               "chain": [step("prompt", "42", "prompt", true, true)],
               "reason": null})
    );
}

#[test]
fn a_stored_prompt_row_is_used_when_the_host_passes_no_prompt_mapping() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "prompt:42", "default_model": "stored"}),
    );
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            prompt_id: Some("42"),
            ..Default::default()
        },
    );
    assert_eq!(v["model"], "stored");
    assert_eq!(v["hit"]["source"], "prompt");
    // A null object from the host also means "use the stored row".
    let null = Value::Null;
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            prompt_id: Some("42"),
            prompt_mapping: Some(&null),
            ..Default::default()
        },
    );
    assert_eq!(v["model"], "stored");
}

#[test]
fn an_inactive_or_missing_step_falls_back_user_then_mapping_then_global() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "x", "is_active": false}),
    );
    put(&store, json!({"id": "global:global", "default_model": "g"}));
    let inactive_prompt = json!({"default_model": "p", "is_active": false});
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            mapping_key: Some("xai"),
            prompt_id: Some("1"),
            prompt_mapping: Some(&inactive_prompt),
        },
    );
    assert_eq!(
        v,
        json!({"model": "g", "temperature": null,
               "hit": {"scope_type": "global", "scope_key": "global", "source": "fallback",
                       "picked_from": "default_model"},
               "chain": [
                   step("prompt", "1", "prompt", true, false),
                   step("user", "bob", "fallback", false, false),
                   step("mapping", "xai", "fallback", true, false),
                   step("global", "global", "fallback", true, true),
               ],
               "reason": null})
    );

    // The user step decides once it exists.
    put(&store, json!({"id": "user:bob", "default_model": "u"}));
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            mapping_key: Some("xai"),
            ..Default::default()
        },
    );
    assert_eq!(v["model"], "u");
    assert_eq!(v["chain"].as_array().unwrap().len(), 1);
    assert_eq!(v["hit"]["scope_type"], "user");
}

#[test]
fn success_from_a_blocked_default_is_picked_from_the_first_candidate() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "mapping:xai", "default_model": "grok-4", "candidates": ["grok-3", "grok-2"]}),
    );
    store.update_blocked(&[("grok-4".into(), true)]).unwrap();
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            mapping_key: Some("xai"),
            ..Default::default()
        },
    );
    assert_eq!(v["model"], "grok-3");
    assert_eq!(v["reason"], Value::Null);
    assert_eq!(
        v["hit"],
        json!({"scope_type": "mapping", "scope_key": "xai", "source": "fallback",
               "picked_from": "first_candidate"})
    );

    // A mapping without a default picks from its candidates too.
    put(
        &store,
        json!({"id": "global:global", "candidates": ["c1", "c2"]}),
    );
    let v = select(&store, MessageRequest::default());
    assert_eq!(v["model"], "c1");
    assert_eq!(v["hit"]["picked_from"], "first_candidate");
}

#[test]
fn an_empty_or_blocked_mapping_stops_the_chain() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "user:bob", "default_model": "a", "candidates": ["b"],
               "metadata": {"temperature": 1.5}}),
    );
    put(&store, json!({"id": "global:global", "default_model": "g"}));
    store
        .update_blocked(&[("a".into(), true), ("b".into(), true)])
        .unwrap();
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            mapping_key: Some("xai"),
            ..Default::default()
        },
    );
    assert_eq!(
        v,
        json!({"model": null, "temperature": 1.5,
               "hit": {"scope_type": "user", "scope_key": "bob", "source": "fallback"},
               "chain": [step("user", "bob", "fallback", true, true)],
               "reason": "mapping_empty_or_blocked"})
    );

    // An active mapping with no model at all stops the chain the same way.
    put(&store, json!({"id": "user:ann", "name": "empty"}));
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("ann"),
            ..Default::default()
        },
    );
    assert_eq!(v["reason"], "mapping_empty_or_blocked");
    assert_eq!(v["model"], Value::Null);
    assert_eq!(v["chain"].as_array().unwrap().len(), 1);

    // A blocked host prompt mapping stops the chain before the user step.
    let host = json!({"default_model": "a"});
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("ann"),
            prompt_id: Some("9"),
            prompt_mapping: Some(&host),
            ..Default::default()
        },
    );
    assert_eq!(v["reason"], "mapping_empty_or_blocked");
    assert_eq!(
        v["hit"],
        json!({"scope_type": "prompt", "scope_key": "9", "source": "prompt"})
    );
}

#[test]
fn nothing_found_and_active_is_mapping_not_found() {
    let db = fresh();
    let store = db.open();
    put(
        &store,
        json!({"id": "global:global", "default_model": "g", "is_active": false,
               "metadata": {"temperature": 0.5}}),
    );
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("bob"),
            mapping_key: Some("xai"),
            ..Default::default()
        },
    );
    assert_eq!(
        v,
        json!({"model": null, "temperature": null, "hit": null,
               "chain": [
                   step("user", "bob", "fallback", false, false),
                   step("mapping", "xai", "fallback", false, false),
                   step("global", "global", "fallback", true, false),
               ],
               "reason": "mapping_not_found"})
    );
    // Blank optional arguments are not steps.
    let v = select(
        &store,
        MessageRequest {
            user_id: Some(" "),
            mapping_key: Some(""),
            prompt_id: Some("  "),
            ..Default::default()
        },
    );
    assert_eq!(
        v["chain"],
        json!([step("global", "global", "fallback", true, false)])
    );
}

#[test]
fn temperature_is_a_number_as_a_float_never_a_bool_or_a_string() {
    let db = fresh();
    let store = db.open();
    let cases = [
        (json!(1), json!(1.0)),
        (json!(0.25), json!(0.25)),
        (json!(true), Value::Null),
        (json!("0.3"), Value::Null),
        (Value::Null, Value::Null),
    ];
    for (given, expected) in cases {
        put(
            &store,
            json!({"id": "global:global", "default_model": "g", "metadata": {"temperature": given}}),
        );
        let v = select(&store, MessageRequest::default());
        assert_eq!(v["temperature"], expected, "temperature {given}");
        assert_eq!(v["model"], "g");
    }
    let sel = store
        .resolve_for_message(&MessageRequest::default())
        .unwrap();
    assert_eq!(sel.temperature, None);
}

#[test]
fn a_legacy_tenant_prefix_in_the_mapping_key_names_the_mapping_scope() {
    let db = fresh();
    let store = db.open();
    put(&store, json!({"id": "mapping:xai", "default_model": "x"}));
    for key in [
        "xai",
        "tenant:xai",
        "Tenant:xai",
        "mapping:xai",
        " mapping : xai ",
    ] {
        let v = select(
            &store,
            MessageRequest {
                user_id: Some("bob"),
                mapping_key: Some(key),
                ..Default::default()
            },
        );
        assert_eq!(v["model"], "x", "{key}");
        assert_eq!(
            v["chain"][1],
            step("mapping", "xai", "fallback", true, true),
            "{key}"
        );
    }
}

#[test]
fn a_host_prompt_mapping_is_read_as_tolerantly_as_a_stored_row() {
    let db = fresh();
    let store = db.open();
    store.update_blocked(&[("blocked".into(), true)]).unwrap();
    let host = json!({"default_model": " blocked ", "candidates": ["", 7, " ok "],
                      "metadata": "not an object", "is_active": 1});
    let v = select(
        &store,
        MessageRequest {
            prompt_id: Some("1"),
            prompt_mapping: Some(&host),
            ..Default::default()
        },
    );
    assert_eq!(v["model"], "7");
    assert_eq!(v["hit"]["picked_from"], "first_candidate");
    assert_eq!(v["temperature"], Value::Null);
}

#[test]
fn a_host_prompt_mappings_is_active_is_read_with_python_truthiness_like_the_backend() {
    // The backend read `bool(mapping.get("is_active", True))`.
    let db = fresh();
    let store = db.open();
    let active_of = |flag: Option<Value>| {
        let mut host = json!({"default_model": "p"});
        if let Some(f) = flag {
            host["is_active"] = f;
        }
        let v = select(
            &store,
            MessageRequest {
                prompt_id: Some("1"),
                prompt_mapping: Some(&host),
                ..Default::default()
            },
        );
        v["chain"][0]["active"].as_bool().unwrap()
    };
    assert!(active_of(None));
    assert!(active_of(Some(json!(true))));
    assert!(active_of(Some(json!("false"))));
    assert!(active_of(Some(json!(2))));
    assert!(!active_of(Some(json!(null))));
    assert!(!active_of(Some(json!(false))));
    assert!(!active_of(Some(json!(0))));
    assert!(!active_of(Some(json!(""))));
}

#[test]
fn a_mapping_key_that_is_only_a_prefix_is_taken_as_given() {
    let db = fresh();
    let store = db.open();
    let v = select(
        &store,
        MessageRequest {
            user_id: Some("u"),
            mapping_key: Some("mapping:"),
            ..Default::default()
        },
    );
    assert_eq!(
        v["chain"][1],
        step("mapping", "mapping:", "fallback", false, false)
    );
}

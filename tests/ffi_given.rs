//! `mm_mappings_resolve` and `mm_mappings_resolve_for_message`: the resolves over mappings the
//! caller hands over (behaviour B8, B9, B19). Same rules as a store's: the same data stored and
//! given resolves to the same JSON. Bad arguments are statuses, out-parameters untouched.
//!
//! These tests necessarily use `unsafe`: they call the `extern "C"` functions as C would.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use model_mapping::ffi::*;
use model_mapping::{Store, StoreOptions};
use serde_json::{json, Value};

const OK: i32 = MmStatus::MmOk as i32;
const SENTINEL: *mut c_char = 0x10 as *mut c_char;

type Given =
    unsafe extern "C" fn(*const c_char, *const c_char, *const c_char, *mut *mut c_char) -> i32;

fn cs(s: &str) -> CString {
    CString::new(s).expect("test strings hold no NUL")
}

fn last_error() -> String {
    let p = mm_last_error_message();
    assert!(!p.is_null(), "a failure leaves a message");
    // SAFETY: the library's pointer, valid until the next call on this thread.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

/// Calls `f` and returns its JSON, or the status and message.
fn call(f: Given, mappings: &str, blocked: &str, arg: &str) -> Result<Value, (i32, String)> {
    let (m, b, a) = (cs(mappings), cs(blocked), cs(arg));
    let mut out = SENTINEL;
    // SAFETY: valid NUL-terminated strings and a writable out-parameter.
    let status = unsafe { f(m.as_ptr(), b.as_ptr(), a.as_ptr(), &mut out) };
    if status != OK {
        assert_eq!(out, SENTINEL, "the out-parameter must stay untouched");
        return Err((status, last_error()));
    }
    // SAFETY: a string the library returned, freed once.
    let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
    unsafe { mm_string_free(out) };
    Ok(serde_json::from_str(&text).unwrap())
}

fn resolve(mappings: &Value, blocked: &Value, key: &str) -> Value {
    call(
        mm_mappings_resolve,
        &mappings.to_string(),
        &blocked.to_string(),
        key,
    )
    .unwrap()
}

#[test]
fn the_same_mappings_given_or_stored_resolve_to_the_same_json() {
    let items = json!([
        {"id": "mapping:xai", "default_model": "grok-4", "candidates": ["grok-3"],
         "metadata": {"endpoint_id": "7"}, "updated_at": "2026-01-02T00:00:00+00:00"},
        {"id": "global:xai", "default_model": "g"},
        {"id": "global:only", "default_model": "g2", "candidates": ["g3"]},
        {"id": "user:u1", "default_model": "u", "is_active": false},
        {"id": "user:u2", "default_model": "blocked-a", "candidates": ["blocked-b"]},
        {"id": "prompt:5", "default_model": "p", "metadata": {"temperature": 0.4}},
    ]);
    let blocked = json!(["grok-4", "blocked-a", "blocked-b"]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("app.db"), StoreOptions::default()).unwrap();
    let report = store.import_items(items.as_array().unwrap()).unwrap();
    assert_eq!(report.imported_count, 6);
    store
        .update_blocked(&[
            ("grok-4".into(), true),
            ("blocked-a".into(), true),
            ("blocked-b".into(), true),
        ])
        .unwrap();
    // The stored rows as listed: what a host's `list_mappings` hands back.
    let listed = serde_json::to_value(store.list(None, None).unwrap()).unwrap();
    for key in [
        "xai",
        "mapping:xai",
        " Tenant:xai ",
        "only",
        "global:only",
        "user:u1",
        "user:u2",
        "prompt:5",
        "llama3:8b",
        "openai/gpt-4o:free",
        "",
        "   ",
        "missing",
    ] {
        let stored: Value =
            serde_json::from_str(&store.resolve_model_key(key).unwrap().to_json()).unwrap();
        assert_eq!(resolve(&listed, &blocked, key), stored, "key {key:?}");
        assert_eq!(resolve(&items, &blocked, key), stored, "key {key:?}");
    }
    for request in [
        json!({"user_id": "u1", "mapping_key": "xai"}),
        json!({"user_id": "u2"}),
        json!({"prompt_id": 5, "user_id": "u1"}),
        json!({"prompt_id": "5", "prompt_mapping": {"default_model": "host", "is_active": 1}}),
        json!({"tenant_id": "mapping:only"}),
        json!({}),
    ] {
        let request_text = request.to_string();
        let stored = {
            let given = call(
                mm_mappings_resolve_for_message,
                &listed.to_string(),
                &blocked.to_string(),
                &request_text,
            )
            .unwrap();
            let mut h: *mut MmStore = ptr::null_mut();
            let path = cs(dir.path().join("app.db").to_str().unwrap());
            let r = cs(&request_text);
            let mut out: *mut c_char = ptr::null_mut();
            // SAFETY: valid strings and out-parameters; the handle is closed below.
            unsafe {
                assert_eq!(mm_store_open(path.as_ptr(), ptr::null(), &mut h), OK);
                assert_eq!(mm_store_resolve_for_message(h, r.as_ptr(), &mut out), OK);
                mm_store_close(h);
            }
            let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
            unsafe { mm_string_free(out) };
            (given, serde_json::from_str::<Value>(&text).unwrap())
        };
        assert_eq!(stored.0, stored.1, "request {request}");
    }
}

#[test]
fn given_mappings_are_read_as_tolerantly_as_rows_written_by_others() {
    let items = json!([
        "not an object",
        {"name": "no scope"},
        {"id": "bad scope!:x", "default_model": "never"},
        {"scope_type": "Tenant", "scope_key": " biz ", "default_model": 5,
         "candidates": [" a ", 7, true, null, "a"], "is_active": "yes",
         "metadata": [1], "name": 3},
        {"id": "mapping:off", "default_model": "x", "is_active": null},
        {"id": "mapping:zero", "default_model": "x", "is_active": 0},
    ]);
    let r = resolve(&items, &json!(["a"]), "mapping:biz");
    assert_eq!(
        r,
        json!({"resolved_model": "7", "hit": true, "mapping_id": "mapping:biz",
               "scope_type": "mapping", "scope_key": "biz", "metadata": {},
               "preferred_endpoint_id": null})
    );
    // Python's truth of `is_active`: null and 0 are inactive.
    for key in ["mapping:off", "mapping:zero"] {
        assert_eq!(resolve(&items, &json!([]), key)["hit"], false);
    }
    // `{"mappings": [...]}` (what an export writes) is accepted too.
    let wrapped = json!({"mappings": [{"id": "mapping:w", "default_model": "m"}]});
    assert_eq!(resolve(&wrapped, &json!([]), "w")["resolved_model"], "m");
}

#[test]
fn bad_arguments_are_statuses_with_messages_naming_them() {
    let bad = MmStatus::MmInvalidPayload as i32;
    let json_err = MmStatus::MmInvalidJson as i32;
    for f in [
        mm_mappings_resolve as Given,
        mm_mappings_resolve_for_message,
    ] {
        let arg = "{}";
        let cases = [
            ("[", "[]", json_err, "invalid_json"),
            ("5", "[]", bad, "items"),
            ("[]", "{", json_err, "invalid_json"),
            ("[]", "{}", bad, "blocked"),
            ("[]", "[1]", bad, "blocked"),
        ];
        for (mappings, blocked, status, needle) in cases {
            let (st, msg) = call(f, mappings, blocked, arg).unwrap_err();
            assert_eq!(st, status, "{msg}");
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        }
        // NULL and invalid UTF-8 in each argument.
        let good = cs("[]");
        let not_utf8 = c"\xff".as_ptr();
        let names = ["mappings_json", "blocked_json"];
        for (i, name) in names.iter().enumerate() {
            for (arg, status) in [
                (ptr::null(), MmStatus::MmNullArgument as i32),
                (not_utf8, MmStatus::MmInvalidUtf8 as i32),
            ] {
                let mut args = [good.as_ptr(), good.as_ptr()];
                args[i] = arg;
                let mut out = SENTINEL;
                let key = cs("{}");
                // SAFETY: NULL or NUL-terminated strings, a writable out-parameter.
                let st = unsafe { f(args[0], args[1], key.as_ptr(), &mut out) };
                assert_eq!(st, status);
                assert_eq!(out, SENTINEL);
                assert!(last_error().contains(name));
            }
        }
        let mut out = SENTINEL;
        // SAFETY: as above.
        let st = unsafe { f(good.as_ptr(), good.as_ptr(), ptr::null(), &mut out) };
        assert_eq!(st, MmStatus::MmNullArgument as i32);
        let st = unsafe { f(good.as_ptr(), good.as_ptr(), good.as_ptr(), ptr::null_mut()) };
        assert_eq!(st, MmStatus::MmNullArgument as i32);
        assert!(last_error().contains("out_json"));
    }
    let (st, msg) = call(
        mm_mappings_resolve_for_message,
        "[]",
        "[]",
        r#"{"usr_id": 1}"#,
    )
    .unwrap_err();
    assert_eq!((st, msg.contains("usr_id")), (bad, true), "{msg}");
}

/// Calls a one-string-in, one-string-out function.
fn call1(
    f: unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> i32,
    arg: &str,
) -> Result<String, (i32, String)> {
    let a = cs(arg);
    let mut out = SENTINEL;
    // SAFETY: a valid string and a writable out-parameter.
    let status = unsafe { f(a.as_ptr(), &mut out) };
    if status != OK {
        assert_eq!(out, SENTINEL, "the out-parameter must stay untouched");
        return Err((status, last_error()));
    }
    let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
    unsafe { mm_string_free(out) };
    Ok(text)
}

#[test]
fn the_rules_without_a_store_validate_and_normalise() {
    assert_eq!(
        call1(mm_mapping_id_normalize, " Tenant: xai ").unwrap(),
        "mapping:xai"
    );
    assert_eq!(
        call1(mm_mapping_id_normalize, "mapping:a:b").unwrap(),
        "mapping:a:b"
    );
    let (st, msg) = call1(mm_mapping_id_normalize, "xai").unwrap_err();
    assert_eq!(st, MmStatus::MmInvalidMappingId as i32, "{msg}");
    let (st, _) = call1(mm_mapping_id_normalize, "open ai:x").unwrap_err();
    assert_eq!(st, MmStatus::MmInvalidMappingScope as i32);
    assert_eq!(
        call1(mm_scope_type_normalize, " TENANT ").unwrap(),
        "mapping"
    );
    let (st, _) = call1(mm_scope_type_normalize, "  ").unwrap_err();
    assert_eq!(st, MmStatus::MmInvalidMappingScope as i32);

    let validate = |text: &str, host: bool| {
        let t = cs(text);
        let mut out = SENTINEL;
        // SAFETY: a valid string and a writable out-parameter.
        let st = unsafe { mm_mapping_validate(t.as_ptr(), host, &mut out) };
        if st != OK {
            assert_eq!(out, SENTINEL);
            return Err((st, last_error()));
        }
        let v: Value =
            serde_json::from_str(unsafe { CStr::from_ptr(out) }.to_str().unwrap()).unwrap();
        unsafe { mm_string_free(out) };
        Ok(v)
    };
    let v = validate(
        r#"{"id": "tenant:x", "default_model": "d", "source": "sqlite"}"#,
        false,
    )
    .unwrap();
    assert_eq!(
        (v["id"].clone(), v["candidates"].clone()),
        (json!("mapping:x"), json!(["d"]))
    );
    let (st, msg) = validate(r#"{"id": "mapping:x", "defualt_model": "d"}"#, false).unwrap_err();
    assert_eq!(st, MmStatus::MmInvalidPayload as i32);
    assert!(msg.contains("defualt_model"), "{msg}");
    let v = validate(
        r#"{"id": "prompt:1", "candidates": [1.5, false], "defualt_model": "d"}"#,
        true,
    )
    .unwrap();
    assert_eq!(v["candidates"], json!(["1.5", "False"]));
    let mut out = SENTINEL;
    // SAFETY: NULL arguments are checked.
    let st = unsafe { mm_mapping_validate(ptr::null(), false, &mut out) };
    assert_eq!((st, out), (MmStatus::MmNullArgument as i32, SENTINEL));
    let (st, _) = validate("[", false).unwrap_err();
    assert_eq!(st, MmStatus::MmInvalidJson as i32);

    // A static string naming the B3 keys.
    let keys: Value = serde_json::from_str(
        unsafe { CStr::from_ptr(mm_mapping_keys()) }
            .to_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 10);
    assert!(keys.as_array().unwrap().contains(&json!("default_model")));
}

//! The C ABI called through the rlib (behaviour B17, R5): every entry point with NULL in each
//! pointer argument, invalid UTF-8, embedded NUL, non-object JSON, 10 MB strings, use after
//! close, double close, 16 threads on one handle and an injected panic — each must give its
//! documented status and message, never a crash; plus a full round trip.
//!
//! These tests necessarily use `unsafe`: they call the `extern "C"` functions as C would.

use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use model_mapping::ffi::*;
use serde_json::{json, Value};

const OK: i32 = MmStatus::MmOk as i32;
const NULL_ARG: i32 = MmStatus::MmNullArgument as i32;
const BAD_UTF8: i32 = MmStatus::MmInvalidUtf8 as i32;
const CLOSED: i32 = MmStatus::MmStoreClosed as i32;
const BAD_JSON: i32 = MmStatus::MmInvalidJson as i32;
const BAD_PAYLOAD: i32 = MmStatus::MmInvalidPayload as i32;

/// An out-parameter value no call may overwrite on failure (never dereferenced or freed).
const SENTINEL: *mut c_char = 0x10 as *mut c_char;

/// Bytes that are not UTF-8, NUL-terminated.
const NOT_UTF8: &[u8] = b"mapping:\xff\xfe\0";

fn cs(s: &str) -> CString {
    CString::new(s).expect("test strings hold no NUL")
}

/// The thread's last error message, or `None`.
fn last_error() -> Option<String> {
    let p = mm_last_error_message();
    if p.is_null() {
        None
    } else {
        // SAFETY: the library's pointer, valid until the next call on this thread.
        Some(unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
    }
}

/// Takes ownership of a returned string: reads it and frees it with `mm_string_free`.
fn take(p: *mut c_char) -> String {
    assert!(!p.is_null() && p != SENTINEL, "no string was returned");
    // SAFETY: a string the library returned, freed exactly once here.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    unsafe { mm_string_free(p) };
    s
}

fn take_json(p: *mut c_char) -> Value {
    serde_json::from_str(&take(p)).expect("the library returns JSON")
}

/// Asserts a failure: its status, that the message starts with the code and mentions `needle`,
/// and that the out-parameter was left alone.
#[track_caller]
fn assert_fails(status: i32, expected: i32, needle: &str, out: *mut c_char) {
    assert_eq!(
        status,
        expected,
        "status {status} ({:?}), message {:?}",
        status_str(status),
        last_error()
    );
    let msg = last_error().expect("a failure leaves a message");
    assert!(
        msg.starts_with(status_str(expected)),
        "message {msg:?} should start with {:?}",
        status_str(expected)
    );
    assert!(
        msg.contains(needle),
        "message {msg:?} should mention {needle:?}"
    );
    assert_eq!(
        out, SENTINEL,
        "the out-parameter must stay untouched on failure"
    );
}

#[track_caller]
fn assert_ok(status: i32) {
    assert_eq!(status, OK, "failed: {:?}", last_error());
    assert_eq!(last_error(), None, "a success clears the last error");
}

fn status_str(status: i32) -> &'static str {
    // SAFETY: static strings.
    unsafe { CStr::from_ptr(mm_status_str(status)) }
        .to_str()
        .unwrap()
}

struct TestStore {
    handle: *mut MmStore,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TestStore {
    fn open() -> TestStore {
        TestStore::open_with(None)
    }

    fn open_with(options: Option<&str>) -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let cpath = cs(path.to_str().unwrap());
        let opts = options.map(cs);
        let mut handle: *mut MmStore = ptr::null_mut();
        let status = unsafe {
            mm_store_open(
                cpath.as_ptr(),
                opts.as_ref().map_or(ptr::null(), |o| o.as_ptr()),
                &mut handle,
            )
        };
        assert_ok(status);
        assert!(!handle.is_null());
        TestStore {
            handle,
            _dir: dir,
            path,
        }
    }

    /// Calls a `(store, const char*, char**)` function and returns its JSON.
    fn call1(
        &self,
        f: unsafe extern "C" fn(*mut MmStore, *const c_char, *mut *mut c_char) -> i32,
        arg: &str,
    ) -> Value {
        let arg = cs(arg);
        let mut out = SENTINEL;
        assert_ok(unsafe { f(self.handle, arg.as_ptr(), &mut out) });
        take_json(out)
    }

    /// Calls a `(store, char**)` function and returns its JSON.
    fn call0(&self, f: unsafe extern "C" fn(*mut MmStore, *mut *mut c_char) -> i32) -> Value {
        let mut out = SENTINEL;
        assert_ok(unsafe { f(self.handle, &mut out) });
        take_json(out)
    }

    fn upsert(&self, payload: Value) -> Value {
        self.call1(mm_store_upsert, &payload.to_string())
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        mm_store_close(self.handle);
    }
}

/// A copy of the sample storage dir (the migration writes a marker file beside the legacy
/// files, which must not land in the repository).
fn sample_storage_dir(into: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ai_runtime");
    let dst = into.join("ai_runtime");
    std::fs::create_dir_all(&dst).unwrap();
    for name in ["model_mappings.json", "blocked_models.json"] {
        std::fs::copy(src.join(name), dst.join(name)).unwrap();
    }
    dst
}

// ---------------------------------------------------------------------------------------------
// Status codes

#[test]
fn status_strings_are_the_b1_codes() {
    let expected = [
        (0, "ok"),
        (1, "invalid_mapping_id"),
        (2, "invalid_mapping_scope"),
        (3, "mapping_not_found"),
        (4, "invalid_payload"),
        (5, "invalid_json"),
        (6, "history_unavailable"),
        (7, "history_conflict"),
        (10, "database_busy"),
        (11, "database_corrupt"),
        (12, "io_error"),
        (13, "not_a_database"),
        (14, "database_empty"),
        (15, "database_cant_open"),
        (16, "database_readonly"),
        (17, "database_error"),
        (18, "multiple_sqlite_copies"),
        (19, "database_permission_denied"),
        (20, "null_argument"),
        (21, "invalid_utf8"),
        (22, "store_closed"),
        (23, "panic"),
        (24, "internal_error"),
    ];
    for (code, text) in expected {
        assert_eq!(status_str(code), text);
        assert_eq!(MmStatus::from_i32(code).map(|s| s.code()), Some(text));
    }
    assert_eq!(MmStatus::all().len(), expected.len());
    for unknown in [-1, 8, 9, 25, 99, i32::MIN, i32::MAX] {
        assert_eq!(status_str(unknown), "unknown_status");
    }
}

#[test]
fn every_core_error_kind_has_the_status_of_its_code() {
    use model_mapping::ErrorKind as K;
    let kinds = [
        K::InvalidMappingId,
        K::InvalidMappingScope,
        K::MappingNotFound,
        K::InvalidPayload,
        K::InvalidJson,
        K::DatabaseBusy,
        K::DatabaseCorrupt,
        K::IoError,
        K::NotADatabase,
        K::DatabaseEmpty,
        K::DatabaseCantOpen,
        K::DatabaseReadonly,
        K::DatabaseError,
        K::MultipleSqliteCopies,
        K::DatabasePermissionDenied,
        K::StoreClosed,
    ];
    for kind in kinds {
        assert_eq!(MmStatus::from_kind(kind).code(), kind.code(), "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// NULL in each pointer argument

#[test]
fn null_in_each_pointer_argument_is_null_argument() {
    let s = TestStore::open();
    let h = s.handle;
    let id = cs("mapping:xai");
    let text = cs("[]");
    let req = cs("{}");
    let model = cs("grok-4");
    let dir = cs("/nonexistent");
    let mut out = SENTINEL;
    let o: *mut *mut c_char = &mut out;
    let no: *mut *mut c_char = ptr::null_mut();
    let nul = ptr::null();
    let nh: *mut MmStore = ptr::null_mut();

    unsafe {
        // mm_store_open(path, options_json (nullable), out)
        let path = cs(s.path.to_str().unwrap());
        let mut handle: *mut MmStore = SENTINEL.cast();
        let st = mm_store_open(nul, nul, &mut handle);
        assert_fails(st, NULL_ARG, "`path`", handle.cast());
        let st = mm_store_open(path.as_ptr(), nul, ptr::null_mut());
        assert_fails(st, NULL_ARG, "`out`", SENTINEL);

        // (store, char**) functions
        type F0 = unsafe extern "C" fn(*mut MmStore, *mut *mut c_char) -> i32;
        let f0: [(&str, F0); 6] = [
            ("blocked_list", mm_store_blocked_list),
            ("last_migration", mm_store_last_migration),
            ("export", mm_store_export),
            ("health", mm_store_health),
            ("quick_check", mm_store_quick_check),
            ("blocked_list again", mm_store_blocked_list),
        ];
        for (name, f) in f0 {
            assert_fails(f(nh, o), NULL_ARG, "`store`", out);
            assert_fails(f(h, no), NULL_ARG, "`out_json`", out);
            let _ = name;
        }

        // (store, const char*, char**) functions
        type F1 = unsafe extern "C" fn(*mut MmStore, *const c_char, *mut *mut c_char) -> i32;
        let f1: [(&str, F1, &CString); 7] = [
            ("id", mm_store_get, &id),
            ("payload_json", mm_store_upsert, &req),
            ("items_json", mm_store_blocked_update, &text),
            ("key", mm_store_resolve, &id),
            ("key", mm_store_explain, &id),
            ("request_json", mm_store_resolve_for_message, &req),
            ("items_json", mm_store_import, &text),
        ];
        for (arg, f, valid) in f1 {
            assert_fails(f(nh, valid.as_ptr(), o), NULL_ARG, "`store`", out);
            assert_fails(f(h, nul, o), NULL_ARG, &format!("`{arg}`"), out);
            assert_fails(f(h, valid.as_ptr(), no), NULL_ARG, "`out_json`", out);
        }

        // mm_store_list(store, scope_type?, scope_key?, out_json)
        assert_fails(mm_store_list(nh, nul, nul, o), NULL_ARG, "`store`", out);
        assert_fails(mm_store_list(h, nul, nul, no), NULL_ARG, "`out_json`", out);
        assert_ok(mm_store_list(h, nul, nul, o));
        assert_eq!(take_json(out), json!([]));
        out = SENTINEL;

        // mm_store_delete(store, id, out_deleted)
        let mut deleted = true;
        let st = mm_store_delete(nh, id.as_ptr(), &mut deleted);
        assert_fails(st, NULL_ARG, "`store`", SENTINEL);
        assert_fails(
            mm_store_delete(h, nul, &mut deleted),
            NULL_ARG,
            "`id`",
            SENTINEL,
        );
        let st = mm_store_delete(h, id.as_ptr(), ptr::null_mut());
        assert_fails(st, NULL_ARG, "`out_deleted`", SENTINEL);
        assert!(deleted, "out_deleted untouched");

        // mm_store_activate_default(store, id, model, out_json)
        let st = mm_store_activate_default(nh, id.as_ptr(), model.as_ptr(), o);
        assert_fails(st, NULL_ARG, "`store`", out);
        let st = mm_store_activate_default(h, nul, model.as_ptr(), o);
        assert_fails(st, NULL_ARG, "`id`", out);
        let st = mm_store_activate_default(h, id.as_ptr(), nul, o);
        assert_fails(st, NULL_ARG, "`model`", out);
        let st = mm_store_activate_default(h, id.as_ptr(), model.as_ptr(), no);
        assert_fails(st, NULL_ARG, "`out_json`", out);

        // mm_store_migrate_legacy(store, storage_dir, dry_run, out_json)
        let st = mm_store_migrate_legacy(nh, dir.as_ptr(), true, o);
        assert_fails(st, NULL_ARG, "`store`", out);
        let st = mm_store_migrate_legacy(h, nul, true, o);
        assert_fails(st, NULL_ARG, "`storage_dir`", out);
        let st = mm_store_migrate_legacy(h, dir.as_ptr(), true, no);
        assert_fails(st, NULL_ARG, "`out_json`", out);

        // mm_store_plan_snapshot / mm_store_apply_snapshot(store, items, bool, bool, out)
        type FS =
            unsafe extern "C" fn(*mut MmStore, *const c_char, bool, bool, *mut *mut c_char) -> i32;
        for f in [mm_store_plan_snapshot as FS, mm_store_apply_snapshot] {
            assert_fails(
                f(nh, text.as_ptr(), false, false, o),
                NULL_ARG,
                "`store`",
                out,
            );
            assert_fails(f(h, nul, false, false, o), NULL_ARG, "`items_json`", out);
            let st = f(h, text.as_ptr(), false, false, no);
            assert_fails(st, NULL_ARG, "`out_json`", out);
        }

        // mm_echo(input, out)
        assert_fails(mm_echo(nul, o), NULL_ARG, "`input`", out);
        assert_fails(mm_echo(id.as_ptr(), no), NULL_ARG, "`out`", out);

        // NULL-safe functions without a status.
        mm_string_free(ptr::null_mut());
        mm_store_close(ptr::null_mut());
    }
    // Nothing was written by the failed calls.
    let all = s.call0(mm_store_export);
    assert_eq!(all["mappings"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Invalid UTF-8 and embedded NUL

#[test]
fn invalid_utf8_in_each_string_argument_is_invalid_utf8() {
    let s = TestStore::open();
    let h = s.handle;
    let bad = NOT_UTF8.as_ptr().cast::<c_char>();
    let good = cs("mapping:xai");
    let mut out = SENTINEL;
    let o: *mut *mut c_char = &mut out;
    unsafe {
        let mut handle: *mut MmStore = SENTINEL.cast();
        assert_fails(
            mm_store_open(bad, ptr::null(), &mut handle),
            BAD_UTF8,
            "`path`",
            handle.cast(),
        );
        let path = cs(s._dir.path().join("other.db").to_str().unwrap());
        let st = mm_store_open(path.as_ptr(), bad, &mut handle);
        assert_fails(st, BAD_UTF8, "`options_json`", handle.cast());

        type F1 = unsafe extern "C" fn(*mut MmStore, *const c_char, *mut *mut c_char) -> i32;
        let f1: [(&str, F1); 7] = [
            ("id", mm_store_get),
            ("payload_json", mm_store_upsert),
            ("items_json", mm_store_blocked_update),
            ("key", mm_store_resolve),
            ("key", mm_store_explain),
            ("request_json", mm_store_resolve_for_message),
            ("items_json", mm_store_import),
        ];
        for (arg, f) in f1 {
            assert_fails(f(h, bad, o), BAD_UTF8, &format!("`{arg}`"), out);
        }
        assert_fails(
            mm_store_list(h, bad, ptr::null(), o),
            BAD_UTF8,
            "`scope_type`",
            out,
        );
        assert_fails(
            mm_store_list(h, ptr::null(), bad, o),
            BAD_UTF8,
            "`scope_key`",
            out,
        );
        let mut deleted = true;
        assert_fails(
            mm_store_delete(h, bad, &mut deleted),
            BAD_UTF8,
            "`id`",
            SENTINEL,
        );
        assert!(deleted);
        let st = mm_store_activate_default(h, bad, good.as_ptr(), o);
        assert_fails(st, BAD_UTF8, "`id`", out);
        let st = mm_store_activate_default(h, good.as_ptr(), bad, o);
        assert_fails(st, BAD_UTF8, "`model`", out);
        assert_fails(
            mm_store_migrate_legacy(h, bad, true, o),
            BAD_UTF8,
            "`storage_dir`",
            out,
        );
        let st = mm_store_plan_snapshot(h, bad, false, false, o);
        assert_fails(st, BAD_UTF8, "`items_json`", out);
        let st = mm_store_apply_snapshot(h, bad, true, true, o);
        assert_fails(st, BAD_UTF8, "`items_json`", out);
        assert_fails(mm_echo(bad, o), BAD_UTF8, "offset 8", out);
    }
}

#[test]
fn an_embedded_nul_ends_the_string() {
    let s = TestStore::open();
    s.upsert(json!({"id": "mapping:xai", "default_model": "grok-4"}));
    let mut out = SENTINEL;
    unsafe {
        // A JSON payload cut by a NUL is not JSON any more.
        let cut = b"{\"id\": \"mapping:x\"\0, \"default_model\": \"m\"}\0";
        let st = mm_store_upsert(s.handle, cut.as_ptr().cast(), &mut out);
        assert_fails(st, BAD_JSON, "line 1", out);

        // An id or key cut by a NUL names what comes before it.
        let id = b"mapping:xai\0:ignored\0";
        assert_ok(mm_store_get(s.handle, id.as_ptr().cast(), &mut out));
        assert_eq!(take_json(out)["id"], "mapping:xai");
        assert_ok(mm_store_resolve(s.handle, id.as_ptr().cast(), &mut out));
        assert_eq!(take_json(out)["resolved_model"], "grok-4");

        let text = b"ab\0cd\0";
        assert_ok(mm_echo(text.as_ptr().cast(), &mut out));
        assert_eq!(take(out), "ab");
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed and non-object JSON

#[test]
fn malformed_and_non_object_json_are_json_and_payload_errors() {
    let s = TestStore::open();
    let h = s.handle;
    let mut out = SENTINEL;
    let o: *mut *mut c_char = &mut out;
    unsafe {
        for text in ["", "{", "{\"id\": }", "nul", "[1,]"] {
            let t = cs(text);
            for f in [
                mm_store_upsert as unsafe extern "C" fn(_, _, _) -> i32,
                mm_store_blocked_update,
                mm_store_resolve_for_message,
                mm_store_import,
            ] {
                assert_fails(f(h, t.as_ptr(), o), BAD_JSON, "line", out);
            }
            assert_fails(
                mm_store_plan_snapshot(h, t.as_ptr(), false, false, o),
                BAD_JSON,
                "",
                out,
            );
            assert_fails(
                mm_store_apply_snapshot(h, t.as_ptr(), false, false, o),
                BAD_JSON,
                "",
                out,
            );
        }
        // An unknown top-level key (behaviour B19), named in the message.
        let t = cs(r#"{"id": "mapping:x", "defualt_model": "m"}"#);
        let st = mm_store_upsert(h, t.as_ptr(), o);
        assert_fails(st, BAD_PAYLOAD, "defualt_model: unknown field", out);
        for text in ["[1]", "42", "\"mapping:xai\"", "null", "true"] {
            let t = cs(text);
            let st = mm_store_upsert(h, t.as_ptr(), o);
            assert_fails(st, BAD_PAYLOAD, "payload", out);
            let st = mm_store_resolve_for_message(h, t.as_ptr(), o);
            assert_fails(st, BAD_PAYLOAD, "request", out);
        }
        for text in ["{}", "42", "\"x\"", "null", "{\"mappings\": 3}"] {
            let t = cs(text);
            assert_fails(mm_store_import(h, t.as_ptr(), o), BAD_PAYLOAD, "", out);
            let st = mm_store_plan_snapshot(h, t.as_ptr(), false, false, o);
            assert_fails(st, BAD_PAYLOAD, "", out);
            let st = mm_store_apply_snapshot(h, t.as_ptr(), false, true, o);
            assert_fails(st, BAD_PAYLOAD, "", out);
        }
        // Wrong shapes are refused, naming the item and field, instead of passing as no
        // change (the drop-in keeps the backend's leniency on its side).
        for (text, needle) in [
            ("{}", "items"),
            ("42", "items"),
            ("\"x\"", "items"),
            ("[\"grok-3\"]", "items[0]"),
            ("[{\"modle\": \"x\"}]", "items[0].modle: unknown field"),
            (
                "[{\"model\": \"x\", \"blocked\": \"false\"}]",
                "items[0].blocked",
            ),
            (
                "[{\"model\": \"ok\"}, {\"model\": \"  \"}]",
                "items[1].model: is blank",
            ),
            ("[{\"model\": 5}]", "items[0].model"),
            ("[{\"blocked\": true}]", "items[0].model: is missing"),
        ] {
            let t = cs(text);
            assert_fails(
                mm_store_blocked_update(h, t.as_ptr(), o),
                BAD_PAYLOAD,
                needle,
                out,
            );
        }
        let mut listed = SENTINEL;
        assert_ok(mm_store_blocked_list(h, &mut listed));
        assert_eq!(
            take_json(listed),
            json!([]),
            "a refused update changes nothing"
        );
        // Options: malformed, non-object, unknown key.
        for (text, expected) in [
            ("{", BAD_JSON),
            ("[1]", BAD_PAYLOAD),
            ("{\"busy\": 1}", BAD_PAYLOAD),
        ] {
            let t = cs(text);
            let path = cs(s._dir.path().join("x.db").to_str().unwrap());
            let mut handle: *mut MmStore = SENTINEL.cast();
            let st = mm_store_open(path.as_ptr(), t.as_ptr(), &mut handle);
            assert_fails(st, expected, "", handle.cast());
        }
        // Request fields: wrong types and unknown keys name the field.
        for (text, field) in [
            (r#"{"user_id": 4.5}"#, "user_id"),
            (r#"{"user_id": true}"#, "user_id"),
            (r#"{"prompt_id": [1]}"#, "prompt_id"),
            (r#"{"mapping_key": {}}"#, "mapping_key"),
            (r#"{"tenant_id": false}"#, "tenant_id"),
            (r#"{"mappingkey": "xai"}"#, "mappingkey"),
        ] {
            let t = cs(text);
            let st = mm_store_resolve_for_message(h, t.as_ptr(), o);
            assert_fails(st, BAD_PAYLOAD, field, out);
        }
        // An id that is not an id; a payload without scope.
        let t = cs("no-colon");
        let st = mm_store_get(h, t.as_ptr(), o);
        assert_fails(st, MmStatus::MmInvalidMappingId as i32, "", out);
        let t = cs(r#"{"default_model": "m"}"#);
        let st = mm_store_upsert(h, t.as_ptr(), o);
        assert_fails(st, MmStatus::MmInvalidMappingScope as i32, "", out);
        let (id, m) = (cs("mapping:absent"), cs("m"));
        let st = mm_store_activate_default(h, id.as_ptr(), m.as_ptr(), o);
        assert_fails(
            st,
            MmStatus::MmMappingNotFound as i32,
            "mapping:absent",
            out,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 10 MB strings

#[test]
fn ten_megabyte_strings_in_and_out() {
    let s = TestStore::open();
    let big = "x".repeat(10 * 1024 * 1024);
    let mut out = SENTINEL;
    unsafe {
        let c = cs(&big);
        assert_ok(mm_echo(c.as_ptr(), &mut out));
        assert_eq!(take(out).len(), big.len());
        out = SENTINEL;

        // A 10 MB key passes through (resolution never fails on a strange key).
        assert_ok(mm_store_resolve(s.handle, c.as_ptr(), &mut out));
        let r = take_json(out);
        assert_eq!(r["hit"], false);
        assert_eq!(r["resolved_model"].as_str().map(str::len), Some(big.len()));
        out = SENTINEL;

        // A 10 MB id is too long a scope key; the message does not echo it.
        let id = cs(&format!("mapping:{big}"));
        let st = mm_store_get(s.handle, id.as_ptr(), &mut out);
        assert_fails(st, MmStatus::MmInvalidMappingId as i32, "scope_key", out);
        assert!(last_error().unwrap().len() < 1024);

        // A 10 MB payload breaks the metadata limit.
        let payload = json!({"id": "mapping:big", "metadata": {"blob": big}}).to_string();
        let p = cs(&payload);
        let st = mm_store_upsert(s.handle, p.as_ptr(), &mut out);
        assert_fails(st, BAD_PAYLOAD, "metadata", out);

        // A 10 MB import list of many items is fine.
        let items: Vec<Value> = (0..20_000)
            .map(|i| json!({"id": format!("mapping:k{i}"), "default_model": format!("model-{i}"), "metadata": {"pad": "y".repeat(500)}}))
            .collect();
        let text = serde_json::to_string(&items).unwrap();
        assert!(text.len() > 10 * 1024 * 1024, "{}", text.len());
        let report = s.call1(mm_store_import, &text);
        assert_eq!(report["imported_count"], 20_000);
        let export = s.call0(mm_store_export);
        assert_eq!(export["mappings"].as_array().unwrap().len(), 20_000);
    }
}

// ---------------------------------------------------------------------------------------------
// Use after close, double close, unknown handles

#[test]
fn use_after_close_and_double_close_are_safe() {
    let s = TestStore::open();
    let h = s.handle;
    s.upsert(json!({"id": "mapping:xai", "default_model": "grok-4"}));
    mm_store_close(h);
    mm_store_close(h); // double close: a no-op
    let made_up = 0xdead_beef_usize as *mut MmStore;
    mm_store_close(made_up); // unknown handle: a no-op

    let id = cs("mapping:xai");
    let items = cs("[]");
    let mut out = SENTINEL;
    let o: *mut *mut c_char = &mut out;
    for handle in [h, made_up] {
        unsafe {
            let f0 = [
                mm_store_blocked_list as unsafe extern "C" fn(_, _) -> i32,
                mm_store_last_migration,
                mm_store_export,
                mm_store_health,
                mm_store_quick_check,
            ];
            for f in f0 {
                assert_fails(f(handle, o), CLOSED, "", out);
            }
            let f1 = [
                mm_store_get as unsafe extern "C" fn(_, _, _) -> i32,
                mm_store_resolve,
                mm_store_explain,
            ];
            for f in f1 {
                assert_fails(f(handle, id.as_ptr(), o), CLOSED, "closed", out);
            }
            let p = cs(r#"{"id": "mapping:new"}"#);
            assert_fails(mm_store_upsert(handle, p.as_ptr(), o), CLOSED, "", out);
            assert_fails(
                mm_store_blocked_update(handle, items.as_ptr(), o),
                CLOSED,
                "",
                out,
            );
            assert_fails(mm_store_import(handle, items.as_ptr(), o), CLOSED, "", out);
            let r = cs("{}");
            assert_fails(
                mm_store_resolve_for_message(handle, r.as_ptr(), o),
                CLOSED,
                "",
                out,
            );
            assert_fails(
                mm_store_list(handle, ptr::null(), ptr::null(), o),
                CLOSED,
                "",
                out,
            );
            let mut deleted = true;
            assert_fails(
                mm_store_delete(handle, id.as_ptr(), &mut deleted),
                CLOSED,
                "",
                SENTINEL,
            );
            let m = cs("m");
            let st = mm_store_activate_default(handle, id.as_ptr(), m.as_ptr(), o);
            assert_fails(st, CLOSED, "", out);
            let st = mm_store_migrate_legacy(handle, items.as_ptr(), true, o);
            assert_fails(st, CLOSED, "", out);
            let st = mm_store_plan_snapshot(handle, items.as_ptr(), false, false, o);
            assert_fails(st, CLOSED, "", out);
            let st = mm_store_apply_snapshot(handle, items.as_ptr(), false, false, o);
            assert_fails(st, CLOSED, "", out);
        }
    }
    // The database is intact and reopens with the row.
    let path = cs(s.path.to_str().unwrap());
    let mut again: *mut MmStore = ptr::null_mut();
    unsafe {
        assert_ok(mm_store_open(path.as_ptr(), ptr::null(), &mut again));
        assert_ne!(again, h, "handles are never reused");
        assert_ok(mm_store_get(again, id.as_ptr(), &mut out));
    }
    assert_eq!(take_json(out)["default_model"], "grok-4");
    mm_store_close(again);
}

#[test]
fn open_failures_are_database_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'g'; 8192]).unwrap();
    let cases = [
        (dir.path().to_path_buf(), MmStatus::MmDatabaseCantOpen),
        (
            dir.path().join("missing/parent/app.db"),
            MmStatus::MmDatabaseCantOpen,
        ),
        (garbage.clone(), MmStatus::MmNotADatabase),
    ];
    for (path, expected) in cases {
        let p = cs(path.to_str().unwrap());
        let mut handle: *mut MmStore = SENTINEL.cast();
        let st = unsafe { mm_store_open(p.as_ptr(), ptr::null(), &mut handle) };
        assert_fails(st, expected as i32, "", handle.cast());
    }
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        vec![b'g'; 8192],
        "never rewritten"
    );
}

// ---------------------------------------------------------------------------------------------
// Panics and the last error

#[test]
fn an_injected_panic_is_caught_and_reported() {
    let s = TestStore::open();
    let status = mm_test_panic();
    assert_eq!(status, MmStatus::MmPanic as i32);
    assert_eq!(status_str(status), "panic");
    assert_eq!(
        last_error().as_deref(),
        Some("panic: mm_test_panic: deliberate panic")
    );
    // The library and the store still work after a caught panic.
    for _ in 0..3 {
        assert_eq!(mm_test_panic(), MmStatus::MmPanic as i32);
    }
    let r = s.call1(mm_store_resolve, "llama3:8b");
    assert_eq!(r, json!({"resolved_model": "llama3:8b", "hit": false}));
}

#[test]
fn the_last_error_is_per_thread_and_cleared_by_the_next_call() {
    assert_eq!(last_error(), None);
    let mut out = SENTINEL;
    unsafe {
        assert_eq!(mm_echo(ptr::null(), &mut out), NULL_ARG);
    }
    let msg = last_error().unwrap();
    assert_eq!(msg, "null_argument: argument `input` is NULL");
    // Functions without a status leave it alone.
    mm_version();
    mm_status_str(3);
    unsafe { mm_string_free(ptr::null_mut()) };
    mm_store_close(ptr::null_mut());
    assert_eq!(last_error().as_deref(), Some(msg.as_str()));
    // Another thread never sees it.
    std::thread::spawn(|| assert_eq!(last_error(), None))
        .join()
        .unwrap();
    // The next successful call clears it.
    let input = cs("hi");
    unsafe { assert_ok(mm_echo(input.as_ptr(), &mut out)) };
    assert_eq!(take(out), "hi");
    assert_eq!(last_error(), None);
}

// ---------------------------------------------------------------------------------------------
// Threads

#[test]
fn sixteen_threads_share_one_handle() {
    let s = TestStore::open_with(Some(
        r#"{"busy_timeout_ms": 30000, "synchronous": "normal"}"#,
    ));
    s.upsert(json!({"id": "global:global", "default_model": "gpt-4o-mini"}));
    let handle = s.handle as usize;
    let threads = 16;
    let per_thread = 40;
    let barrier = Arc::new(Barrier::new(threads));
    let failures = Arc::new(AtomicUsize::new(0));
    let joins: Vec<_> = (0..threads)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            let failures = Arc::clone(&failures);
            std::thread::spawn(move || {
                let h = handle as *mut MmStore;
                barrier.wait();
                for i in 0..per_thread {
                    let mut out: *mut c_char = ptr::null_mut();
                    let id = format!("mapping:t{t}-{i}");
                    let payload =
                        cs(&json!({"id": id, "default_model": format!("m{t}-{i}")}).to_string());
                    let key = cs(&format!("t{t}-{i}"));
                    let other = cs(&format!("t{}-{}", (t + 1) % threads, i / 2));
                    unsafe {
                        let check = |st: i32, out: &mut *mut c_char| {
                            if st != OK {
                                failures.fetch_add(1, Ordering::Relaxed);
                                eprintln!("thread {t}: {:?}", last_error());
                            } else {
                                mm_string_free(*out);
                                *out = ptr::null_mut();
                            }
                        };
                        check(mm_store_upsert(h, payload.as_ptr(), &mut out), &mut out);
                        let st = mm_store_resolve(h, key.as_ptr(), &mut out);
                        if st == OK {
                            let r: Value =
                                serde_json::from_str(CStr::from_ptr(out).to_str().unwrap())
                                    .unwrap();
                            if r["resolved_model"] != json!(format!("m{t}-{i}")) {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        check(st, &mut out);
                        check(mm_store_resolve(h, other.as_ptr(), &mut out), &mut out);
                        check(mm_store_explain(h, key.as_ptr(), &mut out), &mut out);
                        if i % 10 == 0 {
                            check(
                                mm_store_list(h, ptr::null(), ptr::null(), &mut out),
                                &mut out,
                            );
                            check(mm_store_health(h, &mut out), &mut out);
                        }
                        if i % 3 == 0 {
                            let key = cs(&format!("mapping:t{t}-{}", i / 2));
                            let mut deleted = false;
                            let st = mm_store_delete(h, key.as_ptr(), &mut deleted);
                            if st != OK {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for j in joins {
        j.join().unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    let health = s.call0(mm_store_health);
    assert_eq!(health["ok"], true);
    assert_eq!(s.call0(mm_store_quick_check), json!(["ok"]));
}

#[test]
fn close_racing_calls_never_crashes() {
    for _round in 0..5 {
        let s = TestStore::open();
        s.upsert(json!({"id": "mapping:xai", "default_model": "grok-4"}));
        let handle = s.handle as usize;
        let barrier = Arc::new(Barrier::new(9));
        let joins: Vec<_> = (0..8)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let h = handle as *mut MmStore;
                    let key = cs("xai");
                    barrier.wait();
                    let mut ok = 0u32;
                    loop {
                        let mut out: *mut c_char = ptr::null_mut();
                        match unsafe { mm_store_resolve(h, key.as_ptr(), &mut out) } {
                            OK => {
                                ok += 1;
                                unsafe { mm_string_free(out) };
                            }
                            CLOSED => return ok,
                            other => panic!("unexpected status {other}: {:?}", last_error()),
                        }
                    }
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(std::time::Duration::from_millis(5));
        mm_store_close(s.handle);
        for j in joins {
            j.join().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The full round trip

#[test]
fn round_trip_through_every_function() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = sample_storage_dir(tmp.path());
    let opts = json!({"storage_dir": storage, "max_staleness_ms": 0}).to_string();
    let s = TestStore::open_with(Some(&opts));

    // Migration at open.
    let report = s.call0(mm_store_last_migration);
    assert_eq!(report["status"], "imported", "{report}");
    assert_eq!(report["blocked_status"], "imported");
    assert!(report["imported_count"].as_u64().unwrap() >= 6, "{report}");
    assert!(
        report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "tenant:broken"),
        "{report}"
    );
    // Running it again is a no-op; a dry run writes nothing.
    let dir = storage.to_str().unwrap();
    let mut out = SENTINEL;
    let cdir = cs(dir);
    unsafe {
        assert_ok(mm_store_migrate_legacy(
            s.handle,
            cdir.as_ptr(),
            true,
            &mut out,
        ))
    };
    let dry = take_json(out);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["status"], "already_done");

    // Resolution.
    let xai = s.call1(mm_store_resolve, "xai");
    assert_eq!(xai["resolved_model"], "grok-3", "grok-4 is blocked: {xai}");
    assert_eq!(xai["hit"], true);
    assert_eq!(xai["mapping_id"], "mapping:xai");
    assert_eq!(xai["preferred_endpoint_id"], 7);
    let claude = s.call1(mm_store_resolve, "mapping:claude");
    assert_eq!(claude["resolved_model"], "claude-sonnet-4-5");
    let deepseek = s.call1(mm_store_resolve, "tenant:deepseek");
    assert_eq!(deepseek["resolved_model"], "deepseek-reasoner");
    assert_eq!(deepseek["preferred_endpoint_id"], 12);
    let llama = s.call1(mm_store_resolve, "llama3:8b");
    assert_eq!(llama, json!({"resolved_model": "llama3:8b", "hit": false}));
    let blank = s.call1(mm_store_resolve, "   ");
    assert_eq!(blank, json!({"resolved_model": null, "hit": false}));
    let explain = s.call1(mm_store_explain, "xai");
    assert_eq!(
        explain["candidates"][0],
        json!({"model": "grok-4", "fate": "blocked"})
    );
    assert_eq!(
        explain["candidates"][1],
        json!({"model": "grok-3", "fate": "chosen"})
    );
    assert_eq!(explain["considered"][0]["outcome"], "chosen");

    // resolve_for_message: integer ids, legacy tenant_id, prompt_mapping.
    let sel = s.call1(
        mm_store_resolve_for_message,
        r#"{"user_id": 42, "tenant_id": "xai"}"#,
    );
    assert_eq!(sel["model"], "claude-opus-4-5-20251101", "{sel}");
    assert_eq!(sel["hit"]["scope_type"], "user");
    assert_eq!(sel["temperature"], 0.2);
    let sel = s.call1(
        mm_store_resolve_for_message,
        r#"{"user_id": "7", "mapping_key": "mapping:xai"}"#,
    );
    assert_eq!(sel["model"], "grok-3");
    assert_eq!(sel["hit"]["picked_from"], "first_candidate");
    let sel = s.call1(
        mm_store_resolve_for_message,
        r#"{"prompt_id": 9, "prompt_mapping": {"default_model": "p-model", "candidates": [], "is_active": true}}"#,
    );
    assert_eq!(sel["model"], "p-model", "{sel}");
    assert_eq!(sel["hit"]["source"], "prompt");
    let sel = s.call1(mm_store_resolve_for_message, "{}");
    assert_eq!(sel["hit"]["scope_type"], "global");

    // Writes.
    let m = s.upsert(json!({"scope_type": "Tenant", "scope_key": "new", "default_model": "a", "candidates": ["b"], "metadata": {"temperature": 0.5}}));
    assert_eq!(m["id"], "mapping:new");
    assert_eq!(m["source"], "sqlite");
    assert_eq!(m["candidates"], json!(["b", "a"]));
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
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
    assert_eq!(s.call1(mm_store_get, "tenant:new"), m);
    assert_eq!(s.call1(mm_store_get, "mapping:absent"), Value::Null);
    let (id, model) = (cs("mapping:new"), cs("c"));
    unsafe {
        assert_ok(mm_store_activate_default(
            s.handle,
            id.as_ptr(),
            model.as_ptr(),
            &mut out,
        ))
    };
    let activated = take_json(out);
    assert_eq!(activated["default_model"], "c");
    assert_eq!(activated["candidates"], json!(["b", "a", "c"]));

    let tenant = cs("tenant");
    unsafe {
        assert_ok(mm_store_list(
            s.handle,
            tenant.as_ptr(),
            ptr::null(),
            &mut out,
        ))
    };
    let listed = take_json(out);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["scope_type"] == "mapping"));
    assert!(listed.as_array().unwrap().len() >= 5);
    let key = cs("new");
    unsafe { assert_ok(mm_store_list(s.handle, ptr::null(), key.as_ptr(), &mut out)) };
    assert_eq!(take_json(out).as_array().unwrap().len(), 1);

    let mut deleted = false;
    unsafe { assert_ok(mm_store_delete(s.handle, id.as_ptr(), &mut deleted)) };
    assert!(deleted);
    unsafe { assert_ok(mm_store_delete(s.handle, id.as_ptr(), &mut deleted)) };
    assert!(!deleted);

    // Blocked models.
    let blocked = s.call0(mm_store_blocked_list);
    assert_eq!(blocked, json!(["deepseek-chat", "gpt-4-0314", "grok-4"]));
    let updated = s.call1(
        mm_store_blocked_update,
        r#"[{"model": "grok-4", "blocked": false}, {"model": "x"}]"#,
    );
    assert_eq!(updated, json!(["deepseek-chat", "gpt-4-0314", "x"]));
    assert_eq!(s.call1(mm_store_resolve, "xai")["resolved_model"], "grok-4");

    // Export, import, snapshots.
    let export = s.call0(mm_store_export);
    let n = export["mappings"].as_array().unwrap().len();
    let report = s.call1(
        mm_store_import,
        &json!([{"id": "mapping:imp", "default_model": "z"}, 5, {"default_model": "no scope"}])
            .to_string(),
    );
    assert_eq!(report["imported_count"], 1);
    assert_eq!(report["skipped_count"], 2);
    let report = s.call1(mm_store_import, &export.to_string());
    assert_eq!(
        report["imported_count"].as_u64(),
        Some(n as u64),
        "the export format imports"
    );

    let remote = json!([{"id": "mapping:remote", "default_model": "r", "updated_at": "2030-01-01T00:00:00Z"}]).to_string();
    let cremote = cs(&remote);
    unsafe {
        assert_ok(mm_store_plan_snapshot(
            s.handle,
            cremote.as_ptr(),
            false,
            true,
            &mut out,
        ))
    };
    let plan = take_json(out);
    assert_eq!(plan["added"], json!(["mapping:remote"]));
    assert_eq!(plan["remote_total"], 1);
    assert!(
        s.call1(mm_store_get, "mapping:remote").is_null(),
        "planning writes nothing"
    );
    unsafe {
        assert_ok(mm_store_apply_snapshot(
            s.handle,
            cremote.as_ptr(),
            false,
            true,
            &mut out,
        ))
    };
    let pulled = take_json(out);
    assert_eq!(pulled["status"], "pulled");
    assert_eq!(pulled["pulled_count"], 1);
    assert!(pulled["deleted_count"].as_u64().unwrap() >= 1);
    let all = s.call0(mm_store_export);
    let ids: Vec<&str> = all["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mapping:remote"]);

    // Health and integrity.
    let health = s.call0(mm_store_health);
    assert_eq!(health["ok"], true);
    assert_eq!(health["mappings"], 1);
    assert!(health["resolves"].as_u64().unwrap() >= 6);
    assert!(health["legacy_tenant_keys"].as_u64().unwrap() >= 1);
    assert_eq!(s.call0(mm_store_quick_check), json!(["ok"]));
}

#[test]
fn versions_are_static_and_match_the_linked_sqlite() {
    let v = unsafe { CStr::from_ptr(mm_version()) }.to_str().unwrap();
    assert_eq!(v, model_mapping::VERSION);
    let sv = unsafe { CStr::from_ptr(mm_sqlite_version()) }
        .to_str()
        .unwrap();
    assert_eq!(sv, model_mapping::sqlite_version());
    assert!(sv.starts_with("3."), "{sv}");
    let src = unsafe { CStr::from_ptr(mm_sqlite_source_id()) }
        .to_str()
        .unwrap();
    assert_eq!(src, model_mapping::sqlite_source_id());
    // Same pointers every time: static, never to be freed.
    assert_eq!(mm_version(), mm_version());
    assert_eq!(mm_sqlite_version(), mm_sqlite_version());
}

// ---------------------------------------------------------------------------------------------
// Option ranges

#[test]
fn each_time_option_is_checked_for_its_range_and_out_of_range_is_invalid_payload_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["busy_timeout_ms", "max_staleness_ms"] {
        for (i, ok) in ["0", "2147483647"].into_iter().enumerate() {
            let path = cs(dir
                .path()
                .join(format!("{name}-ok-{i}.db"))
                .to_str()
                .unwrap());
            let opts = cs(&format!(r#"{{"{name}": {ok}}}"#));
            let mut handle: *mut MmStore = ptr::null_mut();
            let st = unsafe { mm_store_open(path.as_ptr(), opts.as_ptr(), &mut handle) };
            assert_ok(st);
            mm_store_close(handle);
        }
        for bad in ["2147483648", "18446744073709551616", "-1", "2.5"] {
            let path = dir.path().join(format!("{name}-bad.db"));
            let cpath = cs(path.to_str().unwrap());
            let opts = cs(&format!(r#"{{"{name}": {bad}}}"#));
            let mut handle: *mut MmStore = SENTINEL.cast();
            let st = unsafe { mm_store_open(cpath.as_ptr(), opts.as_ptr(), &mut handle) };
            assert_fails(st, BAD_PAYLOAD, name, handle.cast());
            assert!(!path.exists(), "{name} {bad}: no database created");
        }
    }
}

#[test]
fn integers_beyond_64_bits_in_metadata_cross_the_c_abi_exactly() {
    let s = TestStore::open();
    let big = "12345678901234567890123";
    let payload = cs(&format!(
        r#"{{"id": "mapping:big", "default_model": "m", "metadata": {{"big": {big}, "endpoint_id": {big}, "temperature": 0.70}}}}"#
    ));
    let id = cs("mapping:big");
    let key = cs("big");
    let mut out = SENTINEL;
    assert_ok(unsafe { mm_store_upsert(s.handle, payload.as_ptr(), &mut out) });
    let upserted = take(out);
    let mut out = SENTINEL;
    assert_ok(unsafe { mm_store_get(s.handle, id.as_ptr(), &mut out) });
    let got = take(out);
    let mut out = SENTINEL;
    assert_ok(unsafe { mm_store_resolve(s.handle, key.as_ptr(), &mut out) });
    let resolved = take(out);
    for (what, text) in [("upsert", &upserted), ("get", &got), ("resolve", &resolved)] {
        assert!(text.contains(&format!(r#""big":{big}"#)), "{what}: {text}");
    }
    // Too big for an endpoint id (B8): null.
    let v: Value = serde_json::from_str(&resolved).unwrap();
    assert_eq!(v["preferred_endpoint_id"], Value::Null, "{resolved}");
}

// ---------------------------------------------------------------------------------------------
// History, undo, rollback, legacy export and merge, detach (behaviour B20)

#[test]
fn history_undo_and_rollback_work_through_the_c_abi_with_the_threads_actor() {
    let s = TestStore::open();
    let alice = cs("alice");
    assert_ok(unsafe { mm_actor_set(alice.as_ptr()) });
    s.upsert(json!({"id": "mapping:xai", "default_model": "good"}));
    assert_ok(unsafe { mm_actor_set(ptr::null()) });
    s.upsert(json!({"id": "mapping:xai", "default_model": "bad"}));

    let history = |id: Option<&str>, since: i64, limit: u32| -> Value {
        let id = id.map(cs);
        let mut out = SENTINEL;
        assert_ok(unsafe {
            mm_store_history(
                s.handle,
                id.as_ref().map_or(ptr::null(), |i| i.as_ptr()),
                since,
                limit,
                &mut out,
            )
        });
        take_json(out)
    };
    let h = history(Some("tenant:xai"), 0, 10);
    assert_eq!(h.as_array().unwrap().len(), 2);
    assert_eq!(h[0]["after"]["default_model"], "bad");
    assert_eq!(h[0]["actor"], Value::Null);
    assert_eq!(h[1]["actor"], "alice");
    let bad = h[0]["seq"].as_i64().unwrap();
    assert_eq!(history(None, bad, 10), json!([]));

    let mut out = SENTINEL;
    assert_ok(unsafe { mm_store_undo(s.handle, bad, false, &mut out) });
    assert_eq!(take_json(out)["restore"][0]["default_model"], "good");
    let mut out = SENTINEL;
    let status = unsafe { mm_store_undo(s.handle, 123_456, false, &mut out) };
    assert_fails(status, MmStatus::MmHistoryUnavailable as i32, "123456", out);
    let mut out = SENTINEL;
    let status = unsafe { mm_store_undo(s.handle, bad, false, &mut out) };
    assert_fails(
        status,
        MmStatus::MmHistoryConflict as i32,
        "came after",
        out,
    );

    let to = cs(&(bad - 1).to_string());
    let mut out = SENTINEL;
    assert_ok(unsafe { mm_store_rollback(s.handle, to.as_ptr(), true, &mut out) });
    let plan = take_json(out);
    assert_eq!(plan["dry_run"], true);
    let garbage = cs("not a time");
    let mut out = SENTINEL;
    let status = unsafe { mm_store_rollback(s.handle, garbage.as_ptr(), true, &mut out) };
    assert_fails(status, MmStatus::MmInvalidPayload as i32, "RFC 3339", out);
    let mut out = SENTINEL;
    let status = unsafe { mm_store_rollback(s.handle, ptr::null(), true, &mut out) };
    assert_fails(status, MmStatus::MmNullArgument as i32, "to", out);
}

#[test]
fn legacy_export_merge_and_detach_work_through_the_c_abi() {
    let s = TestStore::open();
    s.upsert(json!({"id": "mapping:xai", "default_model": "grok"}));
    let dir = s.path.parent().unwrap().join("ai_runtime");
    std::fs::create_dir_all(&dir).unwrap();
    let cdir = cs(dir.to_str().unwrap());
    let mut out = SENTINEL;
    assert_ok(unsafe { mm_store_export_legacy(s.handle, cdir.as_ptr(), false, &mut out) });
    assert_eq!(take_json(out)["mappings"], 1);
    assert!(dir.join("model_mappings.json").is_file());
    let mut out = SENTINEL;
    assert_ok(unsafe { mm_store_merge_legacy(s.handle, cdir.as_ptr(), true, &mut out) });
    let plan = take_json(out);
    assert_eq!(plan["unchanged"], 1);
    assert_eq!(plan["had_export"], true);
    let missing = cs(dir.join("nope").to_str().unwrap());
    let mut out = SENTINEL;
    let status = unsafe { mm_store_export_legacy(s.handle, missing.as_ptr(), false, &mut out) };
    assert_fails(status, MmStatus::MmIoError as i32, "nope", out);
    assert_ok(mm_store_detach(s.handle));
    let h = s.call0(mm_store_health);
    assert_eq!(h["triggers"], false, "health says the triggers are gone");
    mm_store_close(s.handle);
    assert_eq!(
        mm_store_detach(s.handle),
        MmStatus::MmStoreClosed as i32,
        "a closed handle"
    );
}

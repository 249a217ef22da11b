//! The identity and payload rules on their own, without a store (behaviour B1, B2): for a host
//! that keeps some mappings itself (the backend's prompt records) and must apply the same
//! rules to them. No handle, no I/O.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use super::guard::ffi_guard;
use super::strings::{arg_str, check_out, into_raw, json_out, write_out};
use crate::model::{validate_json_text, MAPPING_KEYS};
use crate::normalize;

/// Validates a mapping without storing it (behaviour B2) and returns, as a B3 JSON object, the
/// mapping an upsert would store (scope normalised, candidates normalised, `updated_at` now).
///
/// - `payload_json`: required JSON object, as `mm_store_upsert` takes it.
/// - `host_kept`: false to read it as a strict payload (a member outside the B3 keys is
///   `MM_INVALID_PAYLOAD` naming it, a wrong type `MM_INVALID_PAYLOAD` naming the field);
///   true to read it as a host keeps its own mappings, as tolerantly as rows written by others
///   (behaviour B11: non-string candidates stringified, `is_active` by Python's truth, a bad
///   metadata value `{}`), checking only the scope and the limits.
/// - `out_json`: required; receives a string the caller frees with `mm_string_free`.
///
/// Returns `MM_OK`, `MM_NULL_ARGUMENT`, `MM_INVALID_UTF8`, `MM_INVALID_JSON`,
/// `MM_INVALID_PAYLOAD`, `MM_INVALID_MAPPING_ID` or `MM_INVALID_MAPPING_SCOPE`.
///
/// Thread-safety: any thread; nothing is shared.
///
/// # Safety
/// `payload_json` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_mapping_validate(
    payload_json: *const c_char,
    host_kept: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        // SAFETY (argument reads): the caller's contract above.
        let payload = unsafe { arg_str(payload_json, "payload_json") }?;
        check_out(out_json, "out_json")?;
        let mapping = validate_json_text(payload, host_kept)?;
        unsafe { json_out(out_json, &mapping) }
    })
}

/// Normalises a mapping id (behaviour B1): `" Tenant: xai "` gives `"mapping:xai"`.
///
/// - `id`: required; split at its first `:`. No `:` or an empty side is
///   `MM_INVALID_MAPPING_ID`, a scope type outside `[a-z0-9_-]` `MM_INVALID_MAPPING_SCOPE`, a
///   scope key over 256 characters `MM_INVALID_MAPPING_ID`.
/// - `out_id`: required; receives the normalised id (plain text, not JSON), which the caller
///   frees with `mm_string_free`.
///
/// Thread-safety: any thread; nothing is shared.
///
/// # Safety
/// `id` is NULL or NUL-terminated; `out_id` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_mapping_id_normalize(
    id: *const c_char,
    out_id: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        // SAFETY (argument reads): the caller's contract above.
        let id = unsafe { arg_str(id, "id") }?;
        check_out(out_id, "out_id")?;
        let normal = normalize::mapping_id(id)?;
        // SAFETY: `out_id` was checked writable above.
        unsafe { write_out(out_id, into_raw(normal)) };
        Ok(())
    })
}

/// Normalises a scope type (behaviour B1): trimmed, ASCII lower-cased, `tenant` becomes `mapping`.
///
/// - `scope_type`: required; empty, blank or holding characters outside `[a-z0-9_-]` is
///   `MM_INVALID_MAPPING_SCOPE`.
/// - `out_scope_type`: required; receives the normalised type (plain text, not JSON), which the
///   caller frees with `mm_string_free`.
///
/// Thread-safety: any thread; nothing is shared.
///
/// # Safety
/// `scope_type` is NULL or NUL-terminated; `out_scope_type` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_scope_type_normalize(
    scope_type: *const c_char,
    out_scope_type: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        // SAFETY (argument reads): the caller's contract above.
        let raw = unsafe { arg_str(scope_type, "scope_type") }?;
        check_out(out_scope_type, "out_scope_type")?;
        let normal = normalize::scope_type(raw)?;
        // SAFETY: `out_scope_type` was checked writable above.
        unsafe { write_out(out_scope_type, into_raw(normal)) };
        Ok(())
    })
}

/// The members a mapping object may have, as a JSON array of strings: the B3 keys (`id`,
/// `scope_type`, `scope_key`, `name`, `default_model`, `candidates`, `is_active`,
/// `updated_at`, `source`, `metadata`). The plain upsert rejects any other; a host that must
/// stay lenient drops the others first.
///
/// Ownership: a static string; never free it. NULL is never returned.
///
/// Thread-safety: any thread, any time. Does not touch the thread's last error.
#[no_mangle]
pub extern "C" fn mm_mapping_keys() -> *const c_char {
    static KEYS: OnceLock<CString> = OnceLock::new();
    KEYS.get_or_init(|| {
        let text = serde_json::to_string(&MAPPING_KEYS).unwrap_or_else(|_| "[]".to_owned());
        CString::new(text).unwrap_or_default()
    })
    .as_ptr()
}

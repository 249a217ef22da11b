//! Pure resolution over mappings the caller hands over instead of a store's (behaviour B8, B9, B19).
//!
//! A host that keeps some mappings itself (the backend's prompt records) or whose own
//! `list_mappings` was replaced (its tests do that) still gets the library's rules: the same
//! resolves, over a snapshot built from the given JSON. No handle, no I/O.

use std::ffi::c_char;

use serde_json::Value;

use super::error::FfiError;
use super::guard::ffi_guard;
use super::store::with_message_request;
use super::strings::{arg_str, check_out, into_raw, json_out, parse_json, write_out};
use crate::sync::items_from_json;
use crate::{model, resolve, Error, Snapshot};

/// A snapshot of the given mappings (a JSON array of mapping objects, or `{"mappings": [...]}`)
/// and blocked models (a JSON array of strings).
fn given_snapshot(mappings_json: &str, blocked_json: &str) -> Result<Snapshot, FfiError> {
    let items = items_from_json(mappings_json)?;
    let blocked = match parse_json(blocked_json)? {
        Value::Array(models) => models
            .into_iter()
            .map(|m| match m {
                Value::String(s) => Ok(s),
                _ => Err(Error::payload("blocked", "must be a list of model names")),
            })
            .collect::<Result<Vec<String>, Error>>()?,
        _ => return Err(Error::payload("blocked", "must be a list of model names").into()),
    };
    Ok(Snapshot::from_mappings(
        model::host_mappings(&items),
        blocked,
    ))
}

/// Resolves `key` (behaviour B8) over the given mappings and blocked models instead of a store's:
/// the JSON object `mm_store_resolve` returns.
///
/// - `mappings_json`: required JSON array of mapping objects as a host keeps them (the B3
///   shape; `scope_type` + `scope_key`, else `id`), read as tolerantly as rows written by
///   others (behaviour B11). Items that are not objects or name no valid scope match nothing.
/// - `blocked_json`: required JSON array of blocked model names.
/// - `key`: required; the key a client sent.
/// - `out_json`: required; receives a string the caller frees with `mm_string_free`.
///
/// Returns `MM_OK`, `MM_NULL_ARGUMENT`, `MM_INVALID_UTF8`, `MM_INVALID_JSON` or
/// `MM_INVALID_PAYLOAD` (a list that is not one).
///
/// Thread-safety: any thread; nothing is shared.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_mappings_resolve(
    mappings_json: *const c_char,
    blocked_json: *const c_char,
    key: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        // SAFETY (all argument reads below): the caller's contract above.
        let mappings = unsafe { arg_str(mappings_json, "mappings_json") }?;
        let blocked = unsafe { arg_str(blocked_json, "blocked_json") }?;
        let key = unsafe { arg_str(key, "key") }?;
        check_out(out_json, "out_json")?;
        let snap = given_snapshot(mappings, blocked)?;
        let text = resolve::resolve_model_key(&snap, key).to_json();
        // SAFETY: `out_json` was checked writable above.
        unsafe { write_out(out_json, into_raw(text)) };
        Ok(())
    })
}

/// The selection for one chat request (behaviour B9) over the given mappings and blocked models
/// instead of a store's: the JSON object `mm_store_resolve_for_message` returns.
///
/// - `mappings_json`, `blocked_json`: as `mm_mappings_resolve`.
/// - `request_json`: required; as `mm_store_resolve_for_message` (`user_id`, `mapping_key` or
///   `tenant_id`, `prompt_id`, `prompt_mapping`; other keys are `MM_INVALID_PAYLOAD`). Without
///   a `prompt_mapping`, the prompt step looks for a `prompt:<prompt_id>` item in the list.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread; nothing is shared.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_mappings_resolve_for_message(
    mappings_json: *const c_char,
    blocked_json: *const c_char,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        // SAFETY (all argument reads below): the caller's contract above.
        let mappings = unsafe { arg_str(mappings_json, "mappings_json") }?;
        let blocked = unsafe { arg_str(blocked_json, "blocked_json") }?;
        let request = unsafe { arg_str(request_json, "request_json") }?;
        check_out(out_json, "out_json")?;
        let snap = given_snapshot(mappings, blocked)?;
        let selection = with_message_request(request, |r| resolve::resolve_for_message(&snap, r))?;
        unsafe { json_out(out_json, &selection) }
    })
}

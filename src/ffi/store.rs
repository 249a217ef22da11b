//! The store handle and its functions.
//!
//! An `MmStore*` is not a pointer to memory: it is an id token (1, 2, 3, ... never reused)
//! looked up in a global registry of open stores. Each call clones the store's `Arc` under a
//! read lock, so a close racing a call cannot free the store under it, and a closed, stale or
//! made-up handle is `MM_STORE_CLOSED` instead of a use-after-free.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::c_char;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

use super::error::FfiError;
use super::guard::ffi_guard;
use super::strings::{arg_str, check_out, into_raw, json_out, opt_str, parse_json, write_out};
use crate::sync::items_from_json;
use crate::{Error, MessageRequest, Store, StoreOptions};

/// An open store. Opaque: obtained from `mm_store_open`, released with `mm_store_close`.
///
/// The value is a token, never dereferenced; using it after `mm_store_close` is safe and fails
/// with `MM_STORE_CLOSED`.
pub struct MmStore {
    _private: [u8; 0],
}

/// Open stores by handle id. A `BTreeMap` rather than a `HashMap`: the hash table's pointer
/// into the middle of its allocation makes valgrind report everything it holds as "possibly
/// lost" at exit, while B-tree nodes are pointed to at their start ("still reachable").
static STORES: RwLock<BTreeMap<u64, Arc<Store>>> = RwLock::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn register(store: Store) -> *mut MmStore {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    STORES.write().insert(id, Arc::new(store));
    id as usize as *mut MmStore
}

fn token(handle: *mut MmStore) -> u64 {
    handle as usize as u64
}

/// The store behind a handle: NULL is `MM_NULL_ARGUMENT`, unknown or closed `MM_STORE_CLOSED`.
pub(crate) fn lookup(handle: *mut MmStore) -> Result<Arc<Store>, FfiError> {
    if handle.is_null() {
        return Err(FfiError::NullArgument("store"));
    }
    STORES
        .read()
        .get(&token(handle))
        .cloned()
        .ok_or(FfiError::StoreClosed)
}

/// Opens (creating when missing, mode 0600) the SQLite database at `path`, brings the schema
/// up to date and loads the cache; with a `storage_dir` option, runs the one-time legacy
/// migration (its report: `mm_store_last_migration`).
///
/// - `path`: required, UTF-8 file path.
/// - `options_json`: NULL, `""` or `"null"` for defaults, else a JSON object with any of
///   `storage_dir` (string), `busy_timeout_ms`, `max_staleness_ms` (integers from 0 to
///   2147483647; anything else is `MM_INVALID_PAYLOAD` naming the option), `synchronous`
///   (`"off"`, `"normal"`, `"full"`, `"extra"`), `journal_mode` (`"wal"`, `"delete"`,
///   `"truncate"`, `"persist"`). Unknown keys are `MM_INVALID_PAYLOAD`.
/// - `out`: required; receives the handle on success, untouched on failure.
///
/// Ownership: close the handle with `mm_store_close` exactly once (a second close is a no-op).
///
/// Thread-safety: the handle may be used from any number of threads at once. A migration that
/// imports builds the cache on one helper thread, joined before this returns (on the calling
/// thread when none can be started).
///
/// Returns `MM_OK`, `MM_NULL_ARGUMENT`, `MM_INVALID_UTF8`, `MM_INVALID_JSON`,
/// `MM_INVALID_PAYLOAD`, or a database status (`MM_NOT_A_DATABASE`, `MM_DATABASE_CANT_OPEN`,
/// ...).
///
/// # Safety
/// `path` and `options_json` are NULL or NUL-terminated strings; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_open(
    path: *const c_char,
    options_json: *const c_char,
    out: *mut *mut MmStore,
) -> i32 {
    ffi_guard!({
        // SAFETY (all argument reads below): the caller's contract above.
        let path = unsafe { arg_str(path, "path") }?;
        let options = unsafe { opt_str(options_json, "options_json") }?;
        check_out(out, "out")?;
        let options = match options {
            Some(text) => StoreOptions::from_json(text)?,
            None => StoreOptions::default(),
        };
        let store = Store::open(path, options)?;
        unsafe { write_out(out, register(store)) };
        Ok(())
    })
}

/// Closes a store and invalidates its handle. NULL, an already closed handle and an unknown
/// handle are no-ops, so closing twice is safe.
///
/// A call running on another thread at the same time finishes first; later calls with the
/// handle return `MM_STORE_CLOSED`.
///
/// Does not touch the thread's last error.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn mm_store_close(store: *mut MmStore) {
    if store.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        let removed = STORES.write().remove(&token(store));
        if let Some(s) = removed {
            s.close();
        }
    });
}

/// Lists mappings (behaviour B4) as a JSON array of B3 objects, newest `updated_at` first.
///
/// - `scope_type`: NULL (or blank) for all; normalised, so `"tenant"` lists `mapping` rows.
/// - `scope_key`: NULL (or blank) for all; exact after trimming.
/// - `out_json`: required; receives a string the caller frees with `mm_string_free`.
///
/// Thread-safety: any thread, concurrently with any other call on the handle.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_list(
    store: *mut MmStore,
    scope_type: *const c_char,
    scope_key: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let scope_type = unsafe { opt_str(scope_type, "scope_type") }?;
        let scope_key = unsafe { opt_str(scope_key, "scope_key") }?;
        check_out(out_json, "out_json")?;
        let list = store.list(scope_type, scope_key)?;
        unsafe { json_out(out_json, &list) }
    })
}

/// One mapping by id (normalised: `"tenant:xai"` finds `mapping:xai`) as a B3 JSON object,
/// or the JSON text `null` when there is none.
///
/// - `id`: required; a malformed id is `MM_INVALID_MAPPING_ID`.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `id` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_get(
    store: *mut MmStore,
    id: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let id = unsafe { arg_str(id, "id") }?;
        check_out(out_json, "out_json")?;
        let found = store.get(id)?;
        unsafe { json_out(out_json, &found.as_deref()) }
    })
}

/// Creates or replaces a mapping (behaviour B2) and returns it as stored (B3 JSON object).
///
/// - `payload_json`: required JSON object: `scope_type` + `scope_key` (or `id`), `name`,
///   `default_model`, `candidates`, `is_active`, `metadata`. Not JSON: `MM_INVALID_JSON`; not
///   an object or a bad field: `MM_INVALID_PAYLOAD`; no scope: `MM_INVALID_MAPPING_SCOPE`.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread; writes are serialised by SQLite (`BEGIN IMMEDIATE`).
///
/// # Safety
/// `payload_json` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_upsert(
    store: *mut MmStore,
    payload_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let payload = unsafe { arg_str(payload_json, "payload_json") }?;
        check_out(out_json, "out_json")?;
        let mapping = store.upsert_json_text(payload)?;
        unsafe { json_out(out_json, &*mapping) }
    })
}

/// Deletes a mapping by id (behaviour B5); `*out_deleted` tells whether a row was deleted.
///
/// - `id`: required; a malformed id is `MM_INVALID_MAPPING_ID`.
/// - `out_deleted`: required; written only on success.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `id` is NULL or NUL-terminated; `out_deleted` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_delete(
    store: *mut MmStore,
    id: *const c_char,
    out_deleted: *mut bool,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let id = unsafe { arg_str(id, "id") }?;
        check_out(out_deleted, "out_deleted")?;
        let deleted = store.delete(id)?;
        unsafe { write_out(out_deleted, deleted) };
        Ok(())
    })
}

/// Makes `model` the default of an existing mapping and activates it (behaviour B6); returns the
/// mapping as stored (B3 JSON object).
///
/// - `id`, `model`: required; an absent mapping is `MM_MAPPING_NOT_FOUND`, a blank model
///   `MM_INVALID_PAYLOAD`.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `id` and `model` are NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_activate_default(
    store: *mut MmStore,
    id: *const c_char,
    model: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let id = unsafe { arg_str(id, "id") }?;
        let model = unsafe { arg_str(model, "model") }?;
        check_out(out_json, "out_json")?;
        let mapping = store.activate_default(id, model)?;
        unsafe { json_out(out_json, &*mapping) }
    })
}

/// The blocked models (behaviour B7) as a sorted JSON array of strings.
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_blocked_list(
    store: *mut MmStore,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        check_out(out_json, "out_json")?;
        let blocked = store.blocked_models()?;
        unsafe { json_out(out_json, &blocked) }
    })
}

/// Blocks or unblocks models (behaviour B7) and returns the new sorted JSON array of blocked models.
///
/// - `items_json`: required JSON array of `{"model": ..., "blocked": ...}`: `model` a non-blank
///   string, `blocked` a boolean (default true), no other member. Not JSON:
///   `MM_INVALID_JSON`; any other shape (not an array, an item that is not such an object):
///   `MM_INVALID_PAYLOAD` naming the item and field, and nothing is changed.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `items_json` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_blocked_update(
    store: *mut MmStore,
    items_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let items = unsafe { arg_str(items_json, "items_json") }?;
        check_out(out_json, "out_json")?;
        let changes = crate::model::blocked_updates(&parse_json(items)?)?;
        let blocked = store.update_blocked(&changes)?;
        unsafe { json_out(out_json, &blocked) }
    })
}

/// Resolves the model key a client sent (behaviour B8): a JSON object
/// `{"resolved_model", "hit"}` plus, on a hit, `mapping_id`, `scope_type`, `scope_key`,
/// `metadata`, `preferred_endpoint_id`.
///
/// Never fails on a strange key: a key that cannot be an id passes through.
///
/// - `key`: required.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread; the hot path (a shared snapshot plus one coherence check).
///
/// # Safety
/// `key` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_resolve(
    store: *mut MmStore,
    key: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let key = unsafe { arg_str(key, "key") }?;
        check_out(out_json, "out_json")?;
        let resolution = store.resolve_model_key(key)?;
        // SAFETY: `out_json` was checked writable above.
        unsafe { write_out(out_json, into_raw(resolution.to_json())) };
        Ok(())
    })
}

/// Resolves like `mm_store_resolve` and explains it (behaviour B8): the same object plus
/// `considered` (every mapping that matched, with its outcome) and `candidates` (each model of
/// the chosen mapping with its fate: `chosen`, `blocked`, `not_reached`).
///
/// - `key`: required.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `key` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_explain(
    store: *mut MmStore,
    key: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let key = unsafe { arg_str(key, "key") }?;
        check_out(out_json, "out_json")?;
        let explanation = store.explain(key)?;
        unsafe { json_out(out_json, &explanation) }
    })
}

/// One id field of a request: a string (borrowed), an integer (stringified) or null/absent.
fn request_id<'v>(
    obj: &'v serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<Cow<'v, str>>, FfiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Cow::Borrowed(s))),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string().into())),
        Some(_) => Err(Error::payload(field, "must be a string, an integer or null").into()),
    }
}

/// Parses a `resolve_for_message` request (see `mm_store_resolve_for_message`) and runs `f`
/// on it. Unknown keys are `MM_INVALID_PAYLOAD`, so a misspelt key never silently drops a step.
pub(crate) fn with_message_request<R>(
    text: &str,
    f: impl FnOnce(&MessageRequest<'_>) -> R,
) -> Result<R, FfiError> {
    let value = parse_json(text)?;
    let obj = value
        .as_object()
        .ok_or_else(|| Error::payload("request", "must be a JSON object"))?;
    const KNOWN: [&str; 5] = [
        "user_id",
        "mapping_key",
        "tenant_id",
        "prompt_id",
        "prompt_mapping",
    ];
    if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Error::payload(unknown, "unknown request field").into());
    }
    let user_id = request_id(obj, "user_id")?;
    let mapping_key = match request_id(obj, "mapping_key")? {
        Some(k) => Some(k),
        None => request_id(obj, "tenant_id")?,
    };
    let prompt_id = request_id(obj, "prompt_id")?;
    let prompt_mapping = obj.get("prompt_mapping").filter(|v| !v.is_null());
    Ok(f(&MessageRequest {
        user_id: user_id.as_deref(),
        mapping_key: mapping_key.as_deref(),
        prompt_id: prompt_id.as_deref(),
        prompt_mapping,
    }))
}

/// The model for one chat request (behaviour B9): a JSON object `{model, temperature, hit, chain,
/// reason}`.
///
/// - `request_json`: required JSON object, every key optional: `user_id`, `mapping_key` (or
///   the legacy name `tenant_id`; `mapping_key` wins when both are given), `prompt_id` — each
///   a string, an integer or null — and `prompt_mapping`, the prompt's mapping object as the
///   host keeps it (null: use a stored `prompt:` row). Other keys are `MM_INVALID_PAYLOAD`, so
///   a misspelt key never silently drops a step.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `request_json` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_resolve_for_message(
    store: *mut MmStore,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let text = unsafe { arg_str(request_json, "request_json") }?;
        check_out(out_json, "out_json")?;
        let selection = with_message_request(text, |request| store.resolve_for_message(request))??;
        unsafe { json_out(out_json, &selection) }
    })
}

/// Runs the one-time legacy migration from `storage_dir` (behaviour B10) and returns its report:
/// `{status, imported_count, skipped_count, blocked_imported, blocked_status, errors, dry_run}`.
/// A database that already records the migration reports `already_done`.
///
/// - `storage_dir`: required; the directory holding `model_mappings.json` and
///   `blocked_models.json` (only ever read; a marker file is written beside them).
/// - `dry_run`: true to report what would happen without writing anything.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread; concurrent migrations of one database import exactly once. An
/// import builds the cache on one helper thread, joined before this returns.
///
/// # Safety
/// `storage_dir` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_migrate_legacy(
    store: *mut MmStore,
    storage_dir: *const c_char,
    dry_run: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        with_storage_dir(store, storage_dir, out_json, |s, dir| {
            s.migrate_legacy(dir, dry_run)
        })
    }
}

/// The report of the migration run at open (or the last explicit `mm_store_migrate_legacy`),
/// or the JSON text `null` when none ran.
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_last_migration(
    store: *mut MmStore,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        check_out(out_json, "out_json")?;
        let report = store.last_migration();
        unsafe { json_out(out_json, &report) }
    })
}

/// Bulk import (behaviour B14): upserts each valid item, keeping the timestamps items carry; one
/// bad item never blocks the rest. Returns `{imported_count, skipped_count, errors: [{index,
/// id?, reason}]}`.
///
/// - `items_json`: required JSON array of items (each with `id` or scope fields), or the
///   object `mm_store_export` writes. Not JSON: `MM_INVALID_JSON`; another shape:
///   `MM_INVALID_PAYLOAD`.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `items_json` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_import(
    store: *mut MmStore,
    items_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let text = unsafe { arg_str(items_json, "items_json") }?;
        check_out(out_json, "out_json")?;
        let report = store.import_items(&items_from_json(text)?)?;
        unsafe { json_out(out_json, &report) }
    })
}

/// Exports every mapping (behaviour B14): `{"exported_at": ..., "mappings": [B3...]}`.
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_export(store: *mut MmStore, out_json: *mut *mut c_char) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        check_out(out_json, "out_json")?;
        let export = store.export()?;
        unsafe { json_out(out_json, &export) }
    })
}

/// What applying a remote snapshot would change, without writing: `{added, changed, kept,
/// deleted, skipped, remote_total}`.
///
/// Arguments as `mm_store_apply_snapshot`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `items_json` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_plan_snapshot(
    store: *mut MmStore,
    items_json: *const c_char,
    overwrite: bool,
    delete_missing: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let text = unsafe { arg_str(items_json, "items_json") }?;
        check_out(out_json, "out_json")?;
        let plan = store.plan_snapshot(&items_from_json(text)?, overwrite, delete_missing)?;
        unsafe { json_out(out_json, &plan) }
    })
}

/// Applies a remote snapshot in one transaction (behaviour B14) and returns
/// `{status: "pulled", pulled_count, skipped_count, ignored_count, deleted_count, remote_total}`:
/// `skipped_count` counts the remote items kept back because the local row is not older,
/// `ignored_count` those not applied for another reason (prompt scope, malformed, repeated).
///
/// - `items_json`: required JSON array of remote items (or `{"mappings": [...]}`); `prompt`
///   scope items are skipped.
/// - `overwrite`: replace local rows even when they are not older than the remote ones.
/// - `delete_missing`: delete local non-prompt rows absent from the snapshot.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `items_json` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_apply_snapshot(
    store: *mut MmStore,
    items_json: *const c_char,
    overwrite: bool,
    delete_missing: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let text = unsafe { arg_str(items_json, "items_json") }?;
        check_out(out_json, "out_json")?;
        let report = store.apply_snapshot(&items_from_json(text)?, overwrite, delete_missing)?;
        unsafe { json_out(out_json, &report) }
    })
}

/// Health and statistics (behaviour B13) as a JSON object: `ok`, `path`, `sqlite_version`,
/// `journal_mode`, `schema_version`, `data_version`, `mappings`, `blocked`,
/// `last_refresh_at`, `last_error`, `refreshes`, `resolves`, `legacy_tenant_keys`,
/// `max_staleness_ms`, `reopened_after_fork`, `migration`.
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_health(store: *mut MmStore, out_json: *mut *mut c_char) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        check_out(out_json, "out_json")?;
        let health = store.health()?;
        unsafe { json_out(out_json, &health) }
    })
}

/// `PRAGMA quick_check` as a JSON array of strings: `["ok"]` on a healthy database, else the
/// problems found. Reads the whole database: not for a hot path.
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_quick_check(
    store: *mut MmStore,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        check_out(out_json, "out_json")?;
        let problems = store.quick_check()?;
        unsafe { json_out(out_json, &problems) }
    })
}

/// The body of the functions that take a storage dir and return a JSON report: the store, the
/// directory and the out-parameter checked, `f` run, its report written out.
///
/// # Safety
/// `storage_dir` is NULL or NUL-terminated; `out_json` is NULL or writable.
pub(crate) unsafe fn with_storage_dir<T: serde::Serialize>(
    store: *mut MmStore,
    storage_dir: *const c_char,
    out_json: *mut *mut c_char,
    f: impl FnOnce(&crate::Store, &Path) -> Result<T, crate::Error>,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let dir = unsafe { arg_str(storage_dir, "storage_dir") }?;
        check_out(out_json, "out_json")?;
        let report = f(&store, Path::new(dir))?;
        unsafe { json_out(out_json, &report) }
    })
}

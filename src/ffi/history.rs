//! History, undo, rollback and the backend's roll back and forward (behaviour B20) on an
//! `MmStore`, and the per-thread actor recorded with the library's writes.

use std::ffi::c_char;

use super::guard::ffi_guard;
use super::store::{lookup, with_storage_dir, MmStore};
use super::strings::{arg_str, check_out, json_out, opt_str};
use crate::history::RollbackTarget;

/// Recorded changes, newest first, as a JSON array of
/// `{seq, at, op, id, before, after, source, actor}` (`before`/`after`: the mapping objects, or
/// null).
///
/// - `id`: NULL for every change, else a mapping id (normalised: `tenant:x` finds `mapping:x`).
/// - `since_seq`: only changes after this one (0: from the oldest kept).
/// - `limit`: at most this many.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `id` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_history(
    store: *mut MmStore,
    id: *const c_char,
    since_seq: i64,
    limit: u32,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let id = unsafe { opt_str(id, "id") }?;
        check_out(out_json, "out_json")?;
        let since = (since_seq > 0).then_some(since_seq);
        let changes = store.history(id, since, limit as usize)?;
        unsafe { json_out(out_json, &changes) }
    })
}

/// Writes back what change `seq` replaced, as a new change; returns the plan it applied:
/// `{seq, restore, delete, block, unblock, dry_run}`.
///
/// Returns `MM_HISTORY_UNAVAILABLE` for an unknown, pruned or bulk change and
/// `MM_HISTORY_CONFLICT` when a later change touched the same mapping (unless `force`).
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_undo(
    store: *mut MmStore,
    seq: i64,
    force: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        check_out(out_json, "out_json")?;
        let plan = store.undo(seq, force)?;
        unsafe { json_out(out_json, &plan) }
    })
}

/// Restores every mapping and the blocked list as they were right after a change or at a time,
/// in one transaction; returns the plan `{seq, restore, delete, block, unblock, dry_run}`.
///
/// - `to`: required; a change's `seq` (digits) or an RFC 3339 time.
/// - `dry_run`: true to return the plan without writing.
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `to` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_rollback(
    store: *mut MmStore,
    to: *const c_char,
    dry_run: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        let to = unsafe { arg_str(to, "to") }?;
        check_out(out_json, "out_json")?;
        let plan = store.rollback_to(&RollbackTarget::parse(to), dry_run)?;
        unsafe { json_out(out_json, &plan) }
    })
}

/// Writes the mappings and the blocked list as the pre-SQLite backend's files
/// (`model_mappings.json` with business keys under `tenant`, `blocked_models.json`) in
/// `storage_dir`, atomically, keeping the files it replaces as timestamped backups; returns
/// `{storage_dir, mappings, blocked, backups, dry_run}`.
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `storage_dir` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_export_legacy(
    store: *mut MmStore,
    storage_dir: *const c_char,
    dry_run: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: forwarded contract (see `with_storage_dir`).
    unsafe {
        with_storage_dir(store, storage_dir, out_json, |s, dir| {
            s.export_legacy(dir, dry_run)
        })
    }
}

/// Merges the legacy files of `storage_dir` into the table, last writer wins on `updated_at`,
/// deleting what the old version deleted since the last export; returns the plan `{write,
/// delete, block, unblock, kept, unchanged, errors, had_export, dry_run}`. An unreadable file
/// changes nothing.
///
/// - `out_json`: required; the caller frees it with `mm_string_free`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `storage_dir` is NULL or NUL-terminated; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_store_merge_legacy(
    store: *mut MmStore,
    storage_dir: *const c_char,
    dry_run: bool,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: forwarded contract (see `with_storage_dir`).
    unsafe {
        with_storage_dir(store, storage_dir, out_json, |s, dir| {
            s.merge_legacy(dir, dry_run)
        })
    }
}

/// Drops the library's triggers and nothing else, for a downgrade to a backend that does not
/// use the library; the next open or write re-creates them. A NULL store is
/// `MM_NULL_ARGUMENT`.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn mm_store_detach(store: *mut MmStore) -> i32 {
    ffi_guard!({
        let store = lookup(store)?;
        store.detach()?;
        Ok(())
    })
}

/// Sets the actor recorded with every change the library writes from the calling thread (on
/// any store) until it is set again; NULL or `""` clears it.
///
/// Thread-safety: per thread.
///
/// # Safety
/// `actor` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn mm_actor_set(actor: *const c_char) -> i32 {
    ffi_guard!({
        let actor = unsafe { opt_str(actor, "actor") }?;
        crate::store::set_actor(actor.filter(|a| !a.is_empty()).map(str::to_owned));
        Ok(())
    })
}

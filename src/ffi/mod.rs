//! The C ABI (behaviour B17): `extern "C"` functions over [`crate::Store`], declared in the
//! generated header `include/model_mapping.h`. The only module allowed to use `unsafe`.
//!
//! One file per C object: [`MmStore`] and its functions (`store`), its history, undo and
//! rollback (`history`), the identity and payload rules without a store (`mapping`), resolves
//! over mappings the caller hands over (`mappings`), status codes and the per-thread last
//! error (`error`), string ownership (`strings`), versions (`version`), test and benchmark
//! hooks (`testing`), and the landing pad every entry point runs in (`guard`).
//! Also the two OS calls the core makes that std does not wrap (`os`).
//!
//! Conventions, the same for every function:
//! - a fallible function returns an `int32_t` [`MmStatus`]; results go through out-parameters,
//!   the last arguments, written only on success;
//! - structured data crosses as UTF-8, NUL-terminated JSON in the shapes of docs/behaviour.md;
//! - a string the library returns belongs to the caller, who frees it with [`mm_string_free`];
//! - NULL in a required pointer is `MM_NULL_ARGUMENT`, invalid UTF-8 `MM_INVALID_UTF8`, a
//!   panic `MM_PANIC`, a closed handle `MM_STORE_CLOSED` — never a crash;
//! - the message of a failure is [`mm_last_error_message`], per thread.
#![allow(unsafe_code)]
// The functions are `unsafe extern "C"` because they read caller pointers; their docs (which
// become the header's) state each pointer's contract under "Safety".

pub(crate) mod error;
pub(crate) mod guard;
pub(crate) mod history;
pub(crate) mod mapping;
pub(crate) mod mappings;
pub(crate) mod os;
pub(crate) mod store;
pub(crate) mod strings;
pub(crate) mod testing;
pub(crate) mod version;

pub use error::{mm_last_error_message, mm_status_str, MmStatus};
pub use history::{
    mm_actor_set, mm_store_detach, mm_store_export_legacy, mm_store_history, mm_store_merge_legacy,
    mm_store_rollback, mm_store_undo,
};
pub use mapping::{
    mm_mapping_id_normalize, mm_mapping_keys, mm_mapping_validate, mm_scope_type_normalize,
};
pub use mappings::{mm_mappings_resolve, mm_mappings_resolve_for_message};
pub use store::{
    mm_store_activate_default, mm_store_apply_snapshot, mm_store_blocked_list,
    mm_store_blocked_update, mm_store_close, mm_store_delete, mm_store_explain, mm_store_export,
    mm_store_get, mm_store_health, mm_store_import, mm_store_last_migration, mm_store_list,
    mm_store_migrate_legacy, mm_store_open, mm_store_plan_snapshot, mm_store_quick_check,
    mm_store_resolve, mm_store_resolve_for_message, mm_store_upsert, MmStore,
};
pub use strings::mm_string_free;
pub use testing::{mm_echo, mm_test_panic};
pub use version::{mm_sqlite_source_id, mm_sqlite_version, mm_version};

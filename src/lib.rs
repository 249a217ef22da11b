//! # model_mapping
//!
//! A cached SQLite store and resolver for LLM model mappings: which upstream model, and which
//! API endpoint, a client's model key such as `"xai"` or `"mapping:xai"` resolves to.
//!
//! Mappings live in the host's SQLite file (table `llm_model_mappings`); the [`Store`] keeps an
//! immutable in-memory snapshot, stays coherent with writes from any connection or process
//! through a change log its triggers keep (only the changed rows are read again), migrates the
//! old JSON files once and safely, records every change for history, undo and rollback, and
//! resolves keys in well under a microsecond plus one coherence check.
//!
//! ```
//! use model_mapping::{MappingInput, Store, StoreOptions};
//!
//! # fn main() -> Result<(), model_mapping::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("app.db");
//! let store = Store::open(&path, StoreOptions::default())?;
//!
//! let mut xai = MappingInput::new("tenant:xai", Some("grok-4"))?; // `tenant` is `mapping` now
//! xai.candidates = vec!["grok-3".into()];
//! store.upsert(&xai)?;
//!
//! store.update_blocked(&[("grok-4".into(), true)])?;
//! let r = store.resolve_model_key("xai")?;
//! assert!(r.hit());
//! assert_eq!(r.resolved_model(), Some("grok-3")); // the blocked default is skipped
//!
//! let miss = store.resolve_model_key("llama3:8b")?; // not a mapping: passes through
//! assert_eq!(miss.resolved_model(), Some("llama3:8b"));
//! # Ok(()) }
//! ```
//!
//! The behaviour these docs refer to as "behaviour B8", "target P1" and so on is written down
//! in `docs/behaviour.md` in the repository, one section per number.
//!
//! Layers, each pointing only at the ones before it: [`normalize`] and [`model`] (identity,
//! payloads), [`snapshot`] and [`resolve`] (pure functions over a [`Snapshot`]), the imperative
//! shell — `db` and `schema` (SQLite), `feed` (the change log and incremental refresh), `fork`
//! (no connection crosses a `fork()`), [`Store`] (connections, the read and write paths) — and
//! beside it [`legacy`] (the one-time JSON import, the export back and the merge), [`history`]
//! (history, undo, rollback) and [`sync`] (export, bulk import, remote snapshots). The C ABI
//! lives in `src/ffi` and is documented in its header, `include/model_mapping.h`, not here;
//! the core reaches into it only for the two OS calls std does not wrap
//! (`pthread_atfork`, `faccessat`), so that `unsafe` stays in that one module.
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod counter;
mod db;
pub mod error;
mod feed;
// The C ABI: public so that the `extern "C"` functions are exported and the integration tests
// can reach `MmStatus`, hidden from the Rust API docs (its reference is the C header).
#[doc(hidden)]
pub mod ffi;
mod fork;
pub mod history;
pub mod legacy;
mod members;
pub mod model;
pub mod normalize;
pub mod options;
pub mod resolve;
mod schema;
mod scope_rows;
pub mod snapshot;
mod sqlite_guard;
mod store;
pub mod sync;
pub mod timestamp;

pub use error::{Error, ErrorKind, Result};
pub use history::{Change, RestorePlan, RollbackTarget};
pub use legacy::{ExportReport, MergePlan};
pub use legacy::{MigrationReport, MigrationStatus};
pub use model::{Mapping, MappingInput, Metadata};
pub use normalize::{
    mapping_id as normalize_mapping_id, scope_type as normalize_scope_type, MappingId,
};
pub use options::{JournalMode, StoreOptions, Synchronous};
pub use resolve::{Explanation, MessageRequest, MessageSelection, Resolution};
pub use schema::SCHEMA_VERSION;
pub use snapshot::Snapshot;
pub use sqlite_guard::{sqlite_source_id, sqlite_version};
pub use store::{with_actor, Health, HealthError, RefreshKind, Store};
pub use sync::{ImportPlan, ImportReport, PullReport, SnapshotPlan};

/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<crate::Store>();
    }
}

//! Schema creation and upgrades (behaviour B12), and the library's `mm_meta` records.
//!
//! The version lives in our own `mm_meta` table, never in `PRAGMA user_version` (the host's).
//! Each upgrade step runs in one `BEGIN IMMEDIATE` transaction so concurrent opens by several
//! worker processes serialise instead of racing.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::Result;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

pub(crate) const MAPPINGS_TABLE: &str = include_str!("sql/mappings_table.sql");
/// Upgrade steps: `UPGRADES[v]` takes the schema from version `v` to `v + 1`.
const UPGRADES: [&str; 2] = [include_str!("sql/v1.sql"), include_str!("sql/v2.sql")];

fn current_version(conn: &Connection) -> Result<Option<i64>> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mm_meta')",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT value FROM mm_meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok()))
}

/// The library's schema version recorded in the file, 0 when it has none (a database the
/// library never set up). Reads only.
pub(crate) fn version_found(conn: &Connection) -> Result<i64> {
    Ok(current_version(conn)?.unwrap_or(0))
}

fn mappings_table_exists(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'llm_model_mappings')",
        [],
        |r| r.get(0),
    )?)
}

/// Brings the schema to [`SCHEMA_VERSION`]; a no-op read when it is already there.
/// Returns the version found in the file (a newer library's version is left alone).
pub(crate) fn init(conn: &mut Connection) -> Result<i64> {
    if let Some(v) = current_version(conn)? {
        if v >= SCHEMA_VERSION && mappings_table_exists(conn)? {
            return Ok(v);
        }
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(MAPPINGS_TABLE)?;
    let mut version = current_version(&tx)?.unwrap_or(0);
    while version < SCHEMA_VERSION {
        tx.execute_batch(UPGRADES[version as usize])?;
        version += 1;
        meta_set(&tx, "schema_version", &version.to_string())?;
    }
    tx.commit()?;
    Ok(version)
}

/// Value of a key in `mm_meta`.
pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached("SELECT value FROM mm_meta WHERE key = ?1")?
        .query_row([key], |r| r.get::<_, String>(0))
        .optional()?)
}

/// Sets a key in `mm_meta`.
pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO mm_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
        .execute([key, value])?;
    Ok(())
}

//! Schema creation and upgrades (SPEC B12), and the on-open rewrite of `tenant` rows (B11).
//!
//! The version lives in our own `mm_meta` table, never in `PRAGMA user_version` (the host's).
//! Each upgrade step runs in one `BEGIN IMMEDIATE` transaction so concurrent opens by several
//! worker processes serialise instead of racing.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::db;
use crate::error::Result;
use crate::normalize;
use crate::timestamp;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

const MAPPINGS_TABLE: &str = include_str!("sql/mappings_table.sql");
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
        db::meta_set(&tx, "schema_version", &version.to_string())?;
    }
    tx.commit()?;
    Ok(version)
}

/// `(id, scope_type, scope_key, updated_at)` of a row to rewrite.
type ScopeRow = (String, String, String, Option<String>);

/// Scope types already in normal form: rows of any other TEXT type are rewritten at open.
const NORMAL_SCOPE_TYPES: [&str; 6] = [
    "global",
    "mapping",
    "module",
    "premium_user",
    "prompt",
    "user",
];

/// Whether every TEXT scope type in the table is one of the normal ones, found by walking the
/// scope index from one distinct value to the next (a few seeks, where the filter query reads
/// every row on each open). `false` means "look closer", also when there are many distinct
/// values. Values that are not TEXT are never rewritten, so they do not count.
fn all_scope_types_normal(conn: &Connection) -> Result<bool> {
    use rusqlite::types::Value;
    // TEXT sorts after every number and before every BLOB: start at the smallest text.
    let mut after = Value::Text(String::new());
    let mut inclusive = true;
    for _ in 0..32 {
        let sql = if inclusive {
            "SELECT min(scope_type) FROM llm_model_mappings WHERE scope_type >= ?1"
        } else {
            "SELECT min(scope_type) FROM llm_model_mappings WHERE scope_type > ?1"
        };
        let next: Value = conn
            .prepare_cached(sql)?
            .query_row([&after], |r| r.get(0))?;
        match next {
            Value::Null => return Ok(true),
            Value::Text(t) if !NORMAL_SCOPE_TYPES.contains(&t.as_str()) => return Ok(false),
            other => after = other,
        }
        inclusive = false;
    }
    Ok(false)
}

/// Rewrites rows whose scope type is not in normal form (`tenant`, `Tenant`, ` MAPPING`) to
/// the normal form; when that collides with an existing row the newer `updated_at` wins.
/// Returns how many rows were rewritten or dropped.
pub(crate) fn normalize_scope_rows(conn: &mut Connection) -> Result<usize> {
    let query = format!(
        "SELECT id, scope_type, scope_key, updated_at FROM llm_model_mappings \
         WHERE scope_type NOT IN ('{}')",
        NORMAL_SCOPE_TYPES.join("', '")
    );
    let needs = |conn: &Connection| -> Result<Vec<ScopeRow>> {
        let mut stmt = conn.prepare(&query)?;
        // Rows written by others may hold anything (a BLOB id, bytes that are not UTF-8):
        // only text is rewritten; anything else is read around, never touched, and never
        // stops the store from opening.
        let rows = stmt.query_map([], |r| {
            let text = |i: usize| -> rusqlite::Result<Option<String>> {
                Ok(match r.get_ref(i)? {
                    ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_owned),
                    _ => None,
                })
            };
            Ok((text(0)?, text(1)?, text(2)?, text(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (Some(id), Some(ty), Some(key), updated_at) = row? else {
                continue;
            };
            let row = (id, ty, key, updated_at);
            let (Ok(ty), Ok(key)) = (normalize::scope_type(&row.1), normalize::scope_key(&row.2))
            else {
                continue; // not nameable: read around it, never touch it
            };
            if ty != row.1 || key != row.2 || row.0 != format!("{ty}:{key}") {
                out.push(row);
            }
        }
        Ok(out)
    };
    if all_scope_types_normal(conn)? || needs(conn)?.is_empty() {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows = needs(&tx)?;
    let mut changed = 0;
    for (row_id, raw_type, raw_key, updated_at) in rows {
        let ty = normalize::scope_type(&raw_type)?;
        let key = normalize::scope_key(&raw_key)?;
        let target = format!("{ty}:{key}");
        let existing: Option<Option<String>> = tx
            .query_row(
                "SELECT updated_at FROM llm_model_mappings WHERE id = ?1",
                [&target],
                |r| r.get(0),
            )
            .optional()?;
        let mine = updated_at.as_deref().and_then(timestamp::parse);
        let keep_mine = match existing {
            None => true,
            Some(theirs) => {
                let theirs = theirs.as_deref().and_then(timestamp::parse);
                // Strictly newer wins; a tie goes to the row already in normal form.
                matches!((mine, theirs), (Some(a), Some(b)) if a > b)
                    || (mine.is_some() && theirs.is_none())
            }
        };
        if keep_mine {
            tx.execute("DELETE FROM llm_model_mappings WHERE id = ?1", [&target])?;
            tx.execute(
                "UPDATE llm_model_mappings SET id = ?1, scope_type = ?2, scope_key = ?3 WHERE id = ?4",
                (&target, &ty, &key, &row_id),
            )?;
        } else {
            tx.execute("DELETE FROM llm_model_mappings WHERE id = ?1", [&row_id])?;
        }
        changed += 1;
    }
    tx.commit()?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(types: &[&str]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MAPPINGS_TABLE).unwrap();
        for (i, t) in types.iter().enumerate() {
            conn.execute(
                &format!("INSERT INTO llm_model_mappings (id, scope_type, scope_key) VALUES (?1, {t}, 'k')"),
                [i.to_string()],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn the_scope_type_walk_sees_every_distinct_text_value() {
        assert!(all_scope_types_normal(&table(&[])).unwrap());
        assert!(
            all_scope_types_normal(&table(&["'mapping'", "'global'", "'mapping'", "'user'"]))
                .unwrap()
        );
        // BLOBs are never rewritten, so they do not count (a number becomes TEXT: the column
        // has TEXT affinity, and an unknown text sends the open to the full check).
        assert!(all_scope_types_normal(&table(&["'mapping'", "X'00'", "X'ff'"])).unwrap());
        for odd in [
            "'tenant'",
            "'Mapping'",
            "' mapping'",
            "''",
            "'zzz'",
            "'a'",
            "7",
        ] {
            let t = table(&["'global'", "'mapping'", "X'00'", odd]);
            assert!(!all_scope_types_normal(&t).unwrap(), "{odd}");
        }
    }
}

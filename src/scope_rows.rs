//! The on-open rewrite of host rows whose scope columns are spelled otherwise (`tenant`,
//! `Mapping`, ` user`) to the normal form (behaviour B11), recorded in the change log as the
//! library's own change.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::Result;
use crate::feed;
use crate::normalize;
use crate::timestamp;

/// `(scope_type, scope_key, updated_at)` of a row, as text (`None` when not text or not UTF-8).
type ScopeCols = (Option<String>, Option<String>, Option<String>);

/// Reads column `i` as text: rows written by others may hold anything (a BLOB id, bytes that
/// are not UTF-8), and only text is ever rewritten.
fn text_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_owned),
        _ => None,
    })
}

/// The scope columns of the row whose id is `id`, when there is one.
fn scope_cols(conn: &Connection, id: &str) -> Result<Option<ScopeCols>> {
    Ok(conn
        .prepare_cached(
            "SELECT scope_type, scope_key, updated_at FROM llm_model_mappings WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((text_at(r, 0)?, text_at(r, 1)?, text_at(r, 2)?))
        })
        .optional()?)
}

/// The normal `(scope_type, scope_key)` the scope columns name, when they name one.
fn named(cols: &ScopeCols) -> Option<(String, String)> {
    let (Some(ty), Some(key), _) = cols else {
        return None;
    };
    Some((
        normalize::scope_type(ty).ok()?,
        normalize::scope_key(key).ok()?,
    ))
}

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

/// What the open does with one row whose scope type is not in normal form.
enum Step {
    /// Only the spelling of its scope columns differs: rewrite them, the id stays.
    InPlace { ty: String, key: String },
    /// Move it to `target` (deleting the row there, if any, which it beat).
    Take {
        ty: String,
        key: String,
        target: String,
    },
    /// Another row holding `target` names the same mapping and wins: delete this one.
    Lose,
}

/// The step row `id` needs, read from the table as it is now; `None` when it needs none, names
/// no mapping, or its normal id is held by a row that names another mapping (no collision,
/// and the id is taken: the row stays as it is, and reads file it correctly).
fn step_for(conn: &Connection, id: &str) -> Result<Option<Step>> {
    let Some(cols) = scope_cols(conn, id)? else {
        return Ok(None);
    };
    let Some((ty, key)) = named(&cols) else {
        return Ok(None);
    };
    let target = format!("{ty}:{key}");
    if target == id {
        // The row is no collision with itself, whatever its timestamp.
        let spelled_normal =
            cols.0.as_deref() == Some(ty.as_str()) && cols.1.as_deref() == Some(key.as_str());
        return Ok((!spelled_normal).then_some(Step::InPlace { ty, key }));
    }
    let Some(theirs) = scope_cols(conn, &target)? else {
        return Ok(Some(Step::Take { ty, key, target }));
    };
    if named(&theirs).as_ref() != Some(&(ty.clone(), key.clone())) {
        return Ok(None);
    }
    let mine = cols.2.as_deref().and_then(timestamp::parse);
    let theirs = theirs.2.as_deref().and_then(timestamp::parse);
    // Strictly newer wins; a tie goes to the row already holding the normal id.
    let mine_wins = matches!((mine, theirs), (Some(a), Some(b)) if a > b)
        || (mine.is_some() && theirs.is_none());
    Ok(Some(if mine_wins {
        Step::Take { ty, key, target }
    } else {
        Step::Lose
    }))
}

/// Rewrites rows whose scope type is not in normal form (`tenant`, `Tenant`, ` MAPPING`) to
/// the normal form, as [`step_for`] decides (behaviour B11). Returns how many rows were rewritten
/// or dropped.
pub(crate) fn normalize_scope_rows(conn: &mut Connection) -> Result<usize> {
    let query = format!(
        "SELECT id FROM llm_model_mappings WHERE scope_type NOT IN ('{}')",
        NORMAL_SCOPE_TYPES.join("', '")
    );
    let candidates = |conn: &Connection| -> Result<Vec<String>> {
        let mut stmt = conn.prepare(&query)?;
        let ids = stmt.query_map([], |r| text_at(r, 0))?;
        let mut out = Vec::new();
        for id in ids {
            // A row without a text id cannot be addressed by id: read around it.
            if let Some(id) = id? {
                out.push(id);
            }
        }
        Ok(out)
    };
    let due = |conn: &Connection| -> Result<bool> {
        for id in candidates(conn)? {
            if step_for(conn, &id)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    };
    if all_scope_types_normal(conn)? || !due(conn)? {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let start = feed::counter(&tx)?;
    let mut changed = 0;
    for row_id in candidates(&tx)? {
        // Decided on the table as this loop left it: an earlier step may have deleted or
        // replaced the row.
        match step_for(&tx, &row_id)? {
            None => continue,
            Some(Step::InPlace { ty, key }) => {
                tx.execute(
                    "UPDATE llm_model_mappings SET scope_type = ?1, scope_key = ?2 WHERE id = ?3",
                    (&ty, &key, &row_id),
                )?;
            }
            Some(Step::Take { ty, key, target }) => {
                tx.execute("DELETE FROM llm_model_mappings WHERE id = ?1", [&target])?;
                tx.execute(
                    "UPDATE llm_model_mappings SET id = ?1, scope_type = ?2, scope_key = ?3 WHERE id = ?4",
                    (&target, &ty, &key, &row_id),
                )?;
            }
            Some(Step::Lose) => {
                tx.execute("DELETE FROM llm_model_mappings WHERE id = ?1", [&row_id])?;
            }
        }
        changed += 1;
    }
    // The library's own change, whoever's rows it touched.
    feed::mark_own(&tx, start, None)?;
    tx.commit()?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(types: &[&str]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::schema::MAPPINGS_TABLE).unwrap();
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

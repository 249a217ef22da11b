//! Snapshots in and out (behaviour B14): export, bulk import of loose items, and applying a remote
//! snapshot with last-writer-wins. Planning is pure; the store applies a plan in one
//! transaction.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::Error;
use chrono::{DateTime, Utc};

use crate::model::{self, IsActive, Mapping, MappingInput};
use crate::timestamp;

/// One item a bulk import skipped.
///
/// Serialises as `{index, reason}` for a non-object (`invalid_item`) and as
/// `{index, id, reason}` otherwise, `id` being null when the item named none (behaviour B19).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    /// Position in the input list.
    pub index: usize,
    /// The id the item named, when it named one.
    pub id: Option<String>,
    /// `invalid_item`, `missing_scope`, or the validation error.
    pub reason: String,
}

impl Serialize for ImportError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &self.index)?;
        if self.reason != "invalid_item" {
            m.serialize_entry("id", &self.id)?;
        }
        m.serialize_entry("reason", &self.reason)?;
        m.end()
    }
}

/// The bulk-import report (behaviour B14).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// Items written.
    pub imported_count: usize,
    /// Items skipped.
    pub skipped_count: usize,
    /// Why each skipped item was skipped.
    pub errors: Vec<ImportError>,
}

/// A valid loose item, ready to write.
pub(crate) struct Planned {
    /// The mapping to store (a missing carried timestamp stamped now).
    pub mapping: Mapping,
    /// The instant the item carried, if any (see [`MappingInput::carried_instant`]).
    pub carried: Option<DateTime<Utc>>,
}

/// Validates loose items: each may give `id` instead of the scope fields. Timestamps carried
/// by the items are kept.
pub(crate) fn plan_import(items: &[Value]) -> (Vec<Planned>, Vec<ImportError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            errors.push(ImportError {
                index,
                id: None,
                reason: "invalid_item".into(),
            });
            continue;
        };
        let raw_id = obj.get("id").and_then(Value::as_str).map(str::to_owned);
        let scope = match model::scope_of(obj) {
            Ok(Some(scope)) => scope,
            Ok(None) => {
                errors.push(ImportError {
                    index,
                    id: raw_id,
                    reason: "missing_scope".into(),
                });
                continue;
            }
            Err(e) => {
                errors.push(ImportError {
                    index,
                    id: raw_id,
                    reason: e.code().into(),
                });
                continue;
            }
        };
        let id = scope.id();
        let built = model::fields_of(obj, IsActive::Strict).and_then(|mut input: MappingInput| {
            input.scope_type = scope.scope_type;
            input.scope_key = scope.scope_key;
            let (carried, mapping) = input.into_carried_mapping()?;
            Ok(Planned { carried, mapping })
        });
        match built {
            Ok(p) => ok.push(p),
            Err(e) => errors.push(ImportError {
                index,
                id: Some(id),
                reason: e.to_string(),
            }),
        }
    }
    (ok, errors)
}

/// What a bulk import changes, id by id ([`crate::Store::plan_import`],
/// [`crate::Store::import_changes`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportPlan {
    /// Ids that did not exist.
    pub created: Vec<String>,
    /// Ids whose mapping differs (content, or the timestamp an item carries).
    pub updated: Vec<String>,
    /// Ids already holding what the items say: not written again.
    pub unchanged: Vec<String>,
    /// Items skipped.
    pub skipped_count: usize,
    /// Why each skipped item was skipped.
    pub errors: Vec<ImportError>,
    /// Nothing was written.
    pub dry_run: bool,
    #[serde(skip)]
    pub(crate) writes: Vec<Mapping>,
}

/// Plans importing `items` over `local` (every local row, by normalised id). An id named by
/// several items ends as the last one says, as when each is written in turn.
pub(crate) fn plan_import_changes(items: &[Value], local: &HashMap<String, Mapping>) -> ImportPlan {
    let (valid, errors) = plan_import(items);
    let mut last: HashMap<String, Planned> = HashMap::new();
    for p in valid {
        last.insert(p.mapping.id.clone(), p);
    }
    let mut ids: Vec<String> = last.keys().cloned().collect();
    ids.sort();
    let mut plan = ImportPlan {
        created: Vec::new(),
        updated: Vec::new(),
        unchanged: Vec::new(),
        skipped_count: errors.len(),
        errors,
        dry_run: true,
        writes: Vec::new(),
    };
    for id in ids {
        let p = last.remove(&id).expect("listed");
        match local.get(&id) {
            None => plan.created.push(id),
            Some(l) => {
                let same_time = p.carried.is_none()
                    || p.carried == l.updated_at.as_deref().and_then(timestamp::parse);
                if same_time && l.same_content(&p.mapping) {
                    plan.unchanged.push(id);
                    continue;
                }
                plan.updated.push(id);
            }
        }
        plan.writes.push(p.mapping);
    }
    plan
}

/// How a remote snapshot would change the local table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotPlan {
    /// Remote rows that will be written (new ids).
    pub added: Vec<String>,
    /// Remote rows that will replace an older local row.
    pub changed: Vec<String>,
    /// Local rows kept because they are not older than the remote one.
    pub kept: Vec<String>,
    /// Local non-prompt rows absent from the snapshot (only with `delete_missing`).
    pub deleted: Vec<String>,
    /// Remote items not applied (prompt scope, malformed).
    pub skipped: usize,
    /// Number of remote items.
    pub remote_total: usize,
    #[serde(skip)]
    pub(crate) writes: Vec<Mapping>,
}

/// The report of an applied snapshot (behaviour B14).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullReport {
    /// Always `"pulled"`.
    pub status: &'static str,
    /// Rows written.
    pub pulled_count: usize,
    /// Remote rows kept back because the local row is not older (behaviour B19: what the backend
    /// counts here).
    pub skipped_count: usize,
    /// Remote items not applied for another reason: prompt scope, malformed, or named again
    /// by a later item of the snapshot.
    pub ignored_count: usize,
    /// Local rows deleted.
    pub deleted_count: usize,
    /// Number of remote items.
    pub remote_total: usize,
}

impl SnapshotPlan {
    /// The report this plan produces once applied.
    pub fn report(&self) -> PullReport {
        PullReport {
            status: "pulled",
            pulled_count: self.writes.len(),
            skipped_count: self.kept.len(),
            ignored_count: self.skipped,
            deleted_count: self.deleted.len(),
            remote_total: self.remote_total,
        }
    }
}

/// Plans applying `remote` over `local` (every local row, by normalised id).
pub(crate) fn plan_snapshot(
    remote: &[Value],
    local: &HashMap<String, Mapping>,
    overwrite: bool,
    delete_missing: bool,
) -> SnapshotPlan {
    let mut plan = SnapshotPlan {
        added: Vec::new(),
        changed: Vec::new(),
        kept: Vec::new(),
        deleted: Vec::new(),
        skipped: 0,
        remote_total: remote.len(),
        writes: Vec::new(),
    };
    let mut remote_ids = HashSet::new();
    let (valid, errors) = plan_import(remote);
    plan.skipped += errors.len();
    // An item that names an id but cannot be applied is skipped, not missing: delete_missing
    // must not delete the local row because the remote copy is malformed.
    remote_ids.extend(
        errors
            .iter()
            .filter_map(|e| e.id.as_deref())
            .filter_map(|id| crate::normalize::mapping_id(id).ok()),
    );
    let mut by_id: HashMap<String, Planned> = HashMap::new();
    for p in valid {
        remote_ids.insert(p.mapping.id.clone());
        if p.mapping.scope_type == "prompt" {
            plan.skipped += 1;
            continue;
        }
        // A snapshot naming one id twice: the later item wins, the earlier counts as skipped.
        if by_id.insert(p.mapping.id.clone(), p).is_some() {
            plan.skipped += 1;
        }
    }
    let mut ids: Vec<&String> = by_id.keys().collect();
    ids.sort();
    for id in ids {
        let p = &by_id[id];
        match local.get(id) {
            None => {
                plan.added.push(id.clone());
                plan.writes.push(p.mapping.clone());
            }
            Some(l) => {
                let mine = l.updated_at.as_deref().and_then(timestamp::parse);
                if overwrite || p.carried > mine {
                    plan.changed.push(id.clone());
                    plan.writes.push(p.mapping.clone());
                } else {
                    plan.kept.push(id.clone());
                }
            }
        }
    }
    if delete_missing {
        let mut gone: Vec<String> = local
            .values()
            .filter(|l| l.scope_type != "prompt" && !remote_ids.contains(&l.id))
            .map(|l| l.id.clone())
            .collect();
        gone.sort();
        plan.deleted = gone;
    }
    plan
}

/// `{"exported_at": now, "mappings": [...]}` (behaviour B14).
pub(crate) fn export(mappings: &[std::sync::Arc<Mapping>]) -> Value {
    json!({"exported_at": timestamp::now(), "mappings": mappings.iter().map(|m| m.to_json()).collect::<Vec<_>>()})
}

/// Parses a JSON list of items, or `{"mappings": [...]}` as `export` writes it.
pub fn items_from_json(text: &str) -> Result<Vec<Value>, Error> {
    let v: Value = serde_json::from_str(text).map_err(|e| Error::from_json(&e))?;
    match v {
        Value::Array(items) => Ok(items),
        Value::Object(mut obj) => match obj.remove("mappings") {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(Error::payload(
                "mappings",
                "expected a list of items or {\"mappings\": [...]}",
            )),
        },
        _ => Err(Error::payload(
            "items",
            "expected a list of items or {\"mappings\": [...]}",
        )),
    }
}

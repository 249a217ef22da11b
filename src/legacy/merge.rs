//! Rolling forward again (behaviour B20): the legacy files, edited under the backend's JSON
//! version after an export, merged into a table that is not empty. Last writer wins on
//! `updated_at`; an id the export wrote that the file no longer has was deleted under the old
//! version and is deleted here, unless it changed here after the export. Pure: planning reads
//! no file and no database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::model::Mapping;
use crate::timestamp;

/// What an export recorded in the database, for a later merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExportRecord {
    /// When the files were written.
    pub at: String,
    /// The storage dir.
    pub dir: String,
    /// Every mapping id written.
    pub ids: Vec<String>,
    /// Every blocked model written.
    pub blocked: Vec<String>,
}

/// What [`crate::Store::merge_legacy`] writes (or, with `dry_run`, would write).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergePlan {
    /// Mappings written from the file (newer there, or absent here), with the file's time.
    pub write: Vec<Mapping>,
    /// Ids deleted: exported, then removed from the file under the old version.
    pub delete: Vec<String>,
    /// Models blocked: in the file's list, not blocked here.
    pub block: Vec<String>,
    /// Models unblocked: exported as blocked, then removed from the file's list.
    pub unblock: Vec<String>,
    /// Ids kept as they are here because this side changed after the file's version (or
    /// after the export, for one the file deleted).
    pub kept: Vec<String>,
    /// Mappings the same on both sides.
    pub unchanged: usize,
    /// Entries of the file that could not be read, with the reason.
    pub errors: Vec<ReportError>,
    /// Whether the database recorded an export to compare with: without one, nothing is
    /// deleted or unblocked (there is no telling what the old version removed).
    pub had_export: bool,
    /// Nothing was written.
    pub dry_run: bool,
}

fn instant(m: &Mapping) -> Option<chrono::DateTime<chrono::Utc>> {
    m.updated_at.as_deref().and_then(timestamp::parse)
}

/// Plans the merge of the file's mappings (`file`, one per id) and blocked list into `local`.
pub(crate) fn plan(
    file: Vec<Mapping>,
    file_blocked: Option<Vec<String>>,
    local: &[Arc<Mapping>],
    local_blocked: &[String],
    export: Option<&ExportRecord>,
) -> MergePlan {
    let local: BTreeMap<&str, &Arc<Mapping>> = local.iter().map(|m| (m.id.as_str(), m)).collect();
    let exported_at = export.and_then(|e| timestamp::parse(&e.at));
    let exported: BTreeSet<&str> = export
        .map(|e| e.ids.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let changed_here_since_export =
        |m: &Mapping| matches!((instant(m), exported_at), (Some(t), Some(e)) if t > e);
    let mut plan = MergePlan {
        write: Vec::new(),
        delete: Vec::new(),
        block: Vec::new(),
        unblock: Vec::new(),
        kept: Vec::new(),
        unchanged: 0,
        errors: Vec::new(),
        had_export: export.is_some(),
        dry_run: true,
    };
    let in_file: BTreeSet<String> = file.iter().map(|m| m.id.clone()).collect();
    for f in file {
        match local.get(f.id.as_str()) {
            Some(l) if l.same_content(&f) => plan.unchanged += 1,
            Some(l) => {
                let newer = match (instant(&f), instant(l)) {
                    (Some(a), Some(b)) => a > b,
                    (Some(_), None) => true,
                    _ => false,
                };
                if newer {
                    plan.write.push(f);
                } else {
                    plan.kept.push(f.id);
                }
            }
            // Exported, then deleted here: stays deleted unless the old version edited it
            // after the export.
            None if exported.contains(f.id.as_str())
                && !matches!((instant(&f), exported_at), (Some(t), Some(e)) if t > e) =>
            {
                plan.kept.push(f.id)
            }
            None => plan.write.push(f),
        }
    }
    for id in &exported {
        if in_file.contains(*id) {
            continue;
        }
        match local.get(id) {
            Some(l) if changed_here_since_export(l) => plan.kept.push((*id).to_owned()),
            Some(_) => plan.delete.push((*id).to_owned()),
            None => {}
        }
    }
    plan.write.sort_by(|a, b| a.id.cmp(&b.id));
    plan.kept.sort();
    plan.delete.sort();
    if let Some(file_blocked) = file_blocked {
        let here: BTreeSet<&str> = local_blocked.iter().map(String::as_str).collect();
        let there: BTreeSet<&str> = file_blocked.iter().map(String::as_str).collect();
        let was: BTreeSet<&str> = export
            .map(|e| e.blocked.iter().map(String::as_str).collect())
            .unwrap_or_default();
        plan.block = there.difference(&here).map(|m| (*m).to_owned()).collect();
        plan.unblock = was
            .difference(&there)
            .filter(|m| here.contains(*m))
            .map(|m| (*m).to_owned())
            .collect();
    }
    plan
}

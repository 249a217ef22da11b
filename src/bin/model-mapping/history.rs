//! The history commands (behaviour B20): `history`, `diff --since`, `undo`, `rollback`,
//! `export-legacy`, `migrate --merge` and `detach`. Reads open the database read-only; the
//! destructive ones plan on a read-only store, then confirm, back up and write
//! (`safety::guarded`).

use std::collections::BTreeMap;
use std::path::Path;

use model_mapping::{Change, Mapping, MergePlan, RestorePlan, RollbackTarget};
use serde_json::json;

use crate::cli::{DiffArgs, HistoryArgs, MigrateArgs, RollbackArgs, StorageDirArgs, UndoArgs};
use crate::commands::{indent, open, plural, CmdResult, Open};
use crate::error::CliError;
use crate::output::{opt, to_json, Outcome, Table};
use crate::safety::{guarded, open_read, Ctx};

/// `SEQ` (digits) or an RFC 3339 time.
fn target(text: &str) -> Result<RollbackTarget, CliError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let seq = text
            .parse()
            .map_err(|_| CliError::usage("invalid_payload", format!("seq {text} is too large")))?;
        return Ok(RollbackTarget::Seq(seq));
    }
    if model_mapping::timestamp::parse(text).is_none() {
        return Err(CliError::usage(
            "invalid_payload",
            format!("{text:?} is neither a change number nor an RFC 3339 time"),
        ));
    }
    Ok(RollbackTarget::Time(text.to_owned()))
}

/// One line about a mapping: its default and candidates.
fn brief(m: Option<&Mapping>) -> String {
    match m {
        None => "-".into(),
        Some(m) => format!(
            "{}{}",
            opt(m.default_model.as_deref()),
            if m.is_active { "" } else { " (inactive)" }
        ),
    }
}

fn changes_table(changes: &[Change]) -> String {
    let mut t = Table::new(&[
        "SEQ", "AT", "OP", "ID", "BEFORE", "AFTER", "SOURCE", "ACTOR",
    ]);
    for c in changes {
        t.row(vec![
            c.seq.to_string(),
            c.at.clone(),
            c.op.clone(),
            opt(c.id.as_deref()),
            brief(c.before.as_ref()),
            brief(c.after.as_ref()),
            c.source.clone(),
            opt(c.actor.as_deref()),
        ]);
    }
    t.render(0)
}

pub fn history(db: &Path, a: &HistoryArgs) -> CmdResult {
    let store = open_read(db)?;
    let changes = store.history(a.id.as_deref(), a.since, a.limit)?;
    let text = if changes.is_empty() {
        "no recorded changes\n".to_owned()
    } else {
        changes_table(&changes)
    };
    Ok(Outcome::ok(to_json(&changes), text))
}

/// `diff --since SEQ|TIME`: the net change of each mapping and blocked model since then.
pub fn diff_since(db: &Path, a: &DiffArgs) -> CmdResult {
    let since = a.since.as_deref().expect("dispatched on --since");
    let store = open_read(db)?;
    let changes = match target(since)? {
        RollbackTarget::Seq(seq) => store.history(None, Some(seq), usize::MAX)?,
        RollbackTarget::Time(t) => {
            let at = model_mapping::timestamp::parse(&t);
            store
                .history(None, None, usize::MAX)?
                .into_iter()
                .filter(|c| model_mapping::timestamp::parse(&c.at) > at)
                .collect()
        }
    };
    // Oldest first: the first change of an id says what it was, the last what it is.
    let mut mappings: BTreeMap<String, (Option<Mapping>, Option<Mapping>)> = BTreeMap::new();
    let mut models: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let mut unrecorded = Vec::new();
    for c in changes.iter().rev() {
        let Some(id) = c.id.clone() else {
            if matches!(c.op.as_str(), "bulk" | "resync") {
                unrecorded.push(c.seq);
            }
            continue;
        };
        match c.op.as_str() {
            "block" | "unblock" | "reblock" => {
                let now = c.op != "unblock";
                let was = c.op == "unblock" || c.op == "reblock";
                models.entry(id).or_insert((was, now)).1 = now;
            }
            _ => {
                mappings
                    .entry(id)
                    .or_insert((c.before.clone(), None))
                    .1
                    .clone_from(&c.after);
            }
        }
    }
    let (mut added, mut changed, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for (id, (before, after)) in &mappings {
        match (before, after) {
            (None, Some(_)) => added.push(id.clone()),
            (Some(_), None) => deleted.push(id.clone()),
            (Some(b), Some(a)) if b != a => changed.push(id.clone()),
            _ => {}
        }
    }
    let blocked: Vec<String> = models
        .iter()
        .filter(|(_, (was, now))| !was && *now)
        .map(|(m, _)| m.clone())
        .collect();
    let unblocked: Vec<String> = models
        .iter()
        .filter(|(_, (was, now))| *was && !now)
        .map(|(m, _)| m.clone())
        .collect();
    let value = json!({
        "since": since, "changes": changes.len(), "added": added, "changed": changed,
        "deleted": deleted, "blocked": blocked, "unblocked": unblocked,
        "unrecorded": unrecorded,
    });
    let mut text = format!(
        "{} since {since}\n",
        plural(changes.len(), "recorded change", "recorded changes")
    );
    for (label, ids) in [
        ("added", &added),
        ("changed", &changed),
        ("deleted", &deleted),
        ("blocked", &blocked),
        ("unblocked", &unblocked),
    ] {
        text.push_str(&format!("{label}: {}\n", ids.len()));
        for id in ids {
            text.push_str(&format!("  {id}\n"));
        }
    }
    if !unrecorded.is_empty() {
        text.push_str(&format!(
            "also bulk changes without per-row records: {unrecorded:?}\n"
        ));
    }
    Ok(Outcome::ok(value, text))
}

fn restore_text(p: &RestorePlan) -> String {
    let mut text = String::new();
    let names: Vec<String> = p.restore.iter().map(|m| m.id.clone()).collect();
    for (label, ids) in [
        ("restore", &names),
        ("delete", &p.delete),
        ("block", &p.block),
        ("unblock", &p.unblock),
    ] {
        text.push_str(&format!("{label}: {}\n", ids.len()));
        for id in ids {
            text.push_str(&format!("  {id}\n"));
        }
    }
    text
}

pub fn undo(ctx: &Ctx, a: &UndoArgs) -> CmdResult {
    let plan = open_read(&ctx.db)?.plan_undo(a.seq, a.force)?;
    let shown = format!(
        "undo of change {}:\n{}",
        a.seq,
        indent(&restore_text(&plan))
    );
    guarded(ctx, "undo", &shown, plan.is_empty(), || {
        let done = open(&ctx.db, Open::Existing)?.undo(a.seq, a.force)?;
        Ok(Outcome::ok(
            to_json(&done),
            format!("undid change {}\n{}", a.seq, restore_text(&done)),
        ))
    })
}

pub fn rollback(ctx: &Ctx, a: &RollbackArgs) -> CmdResult {
    let to = target(&a.to)?;
    let plan = open_read(&ctx.db)?.rollback_to(&to, true)?;
    let shown = format!(
        "rollback to right after change {}:\n{}",
        plan.seq,
        indent(&restore_text(&plan))
    );
    if a.dry_run {
        return Ok(Outcome::ok(
            to_json(&plan),
            format!("{shown}(dry run: nothing was written)\n"),
        ));
    }
    guarded(ctx, "rollback", &shown, plan.is_empty(), || {
        let done = open(&ctx.db, Open::Existing)?.rollback_to(&to, false)?;
        Ok(Outcome::ok(
            to_json(&done),
            format!(
                "rolled back to right after change {}\n{}",
                done.seq,
                restore_text(&done)
            ),
        ))
    })
}

fn storage_dir(dir: &Path) -> Result<(), CliError> {
    if !dir.is_dir() {
        return Err(CliError::usage(
            "storage_dir_missing",
            format!("{} is not a directory", dir.display()),
        ));
    }
    Ok(())
}

pub fn export_legacy(db: &Path, a: &StorageDirArgs) -> CmdResult {
    storage_dir(&a.storage_dir)?;
    let report = if a.dry_run {
        open_read(db)?.export_legacy(&a.storage_dir, true)?
    } else {
        // Records what it exported (for a later `migrate --merge`): a write.
        open(db, Open::Existing)?.export_legacy(&a.storage_dir, false)?
    };
    let verb = if report.dry_run {
        "would write"
    } else {
        "wrote"
    };
    let mut text = format!(
        "{verb} {} and {} to {}{}\n",
        plural(report.mappings, "mapping", "mappings"),
        plural(report.blocked, "blocked model", "blocked models"),
        report.storage_dir,
        if report.dry_run {
            " (dry run: nothing was written)"
        } else {
            ""
        }
    );
    for b in &report.backups {
        text.push_str(&format!("kept the replaced file as {b}\n"));
    }
    Ok(Outcome::ok(to_json(&report), text))
}

fn merge_text(p: &MergePlan) -> String {
    let written: Vec<String> = p.write.iter().map(|m| m.id.clone()).collect();
    let mut text = String::new();
    for (label, ids) in [
        ("write (newer in the file, or new)", &written),
        ("delete (exported, then removed from the file)", &p.delete),
        ("block", &p.block),
        ("unblock", &p.unblock),
        ("kept (changed here after the file)", &p.kept),
    ] {
        text.push_str(&format!("{label}: {}\n", ids.len()));
        for id in ids {
            text.push_str(&format!("  {id}\n"));
        }
    }
    text.push_str(&format!("unchanged: {}\n", p.unchanged));
    if !p.had_export {
        text.push_str("no export recorded: nothing is deleted or unblocked\n");
    }
    for e in &p.errors {
        text.push_str(&format!("problem: {}: {}\n", e.key, e.reason));
    }
    text
}

/// `migrate --merge`: the legacy files merged into a table that has rows.
pub fn merge(ctx: &Ctx, a: &MigrateArgs) -> CmdResult {
    storage_dir(&a.storage_dir)?;
    let plan = open_read(&ctx.db)?.merge_legacy(&a.storage_dir, true)?;
    let nothing = plan.write.is_empty()
        && plan.delete.is_empty()
        && plan.block.is_empty()
        && plan.unblock.is_empty();
    let shown = format!(
        "merge of {}:\n{}",
        a.storage_dir.display(),
        indent(&merge_text(&plan))
    );
    if a.dry_run {
        return Ok(Outcome::ok(
            to_json(&plan),
            format!("{shown}(dry run: nothing was written)\n"),
        ));
    }
    guarded(ctx, "migrate --merge", &shown, nothing, || {
        let done = open(&ctx.db, Open::Existing)?.merge_legacy(&a.storage_dir, false)?;
        Ok(Outcome::ok(
            to_json(&done),
            format!("merged {}\n{}", a.storage_dir.display(), merge_text(&done)),
        ))
    })
}

pub fn detach(ctx: &Ctx) -> CmdResult {
    let h = open_read(&ctx.db)?.health()?;
    let shown = "detach: drops the change feed's triggers on llm_model_mappings and nothing \
                 else; the history stops recording until the library opens the database again\n";
    guarded(ctx, "detach", shown, h.schema_version == 0, || {
        open(&ctx.db, Open::Existing)?.detach()?;
        Ok(Outcome::ok(
            json!({"detached": true}),
            "dropped the change feed's triggers; the next open by the library re-creates them\n"
                .into(),
        ))
    })
}

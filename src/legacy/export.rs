//! Writing the mappings back as the pre-SQLite backend's files (behaviour B20), so that rolling the
//! backend back to its JSON version loses nothing: `model_mappings.json` with business keys
//! under `tenant` (the old code's name for them) and `blocked_models.json`.
//!
//! Each file is written whole to a temporary file in the same directory, synced, and renamed
//! over the old one, which is kept first as a timestamped backup: a reader sees the old file
//! or the new one, never a part, and a failure leaves the old file as it was.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{BLOCKED_FILE, MAPPINGS_FILE};
use crate::error::{Error, Result};
use crate::model::Mapping;
use crate::timestamp;

/// What [`crate::Store::export_legacy`] wrote (or would write).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    /// The storage dir written.
    pub storage_dir: String,
    /// Mappings written to `model_mappings.json`.
    pub mappings: usize,
    /// Models written to `blocked_models.json`.
    pub blocked: usize,
    /// The files the export replaced, kept under these names.
    pub backups: Vec<String>,
    /// Nothing was written.
    pub dry_run: bool,
}

/// The old backend's scope type for a stored one: business keys were `tenant`.
fn legacy_scope(scope_type: &str) -> &str {
    if scope_type == "mapping" {
        "tenant"
    } else {
        scope_type
    }
}

/// `model_mappings.json` as the old code reads it.
pub(crate) fn mappings_document(mappings: &[std::sync::Arc<Mapping>]) -> Value {
    let mut doc: Map<String, Value> = Map::new();
    for m in mappings {
        let scope = doc
            .entry(legacy_scope(&m.scope_type).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(keys) = scope {
            keys.insert(
                m.scope_key.clone(),
                json!({
                    "name": m.name,
                    "mapping": {
                        "default_model": m.default_model,
                        "candidates": m.candidates,
                        "is_active": m.is_active,
                        "updated_at": m.updated_at,
                        "metadata": m.metadata,
                    }
                }),
            );
        }
    }
    Value::Object(doc)
}

/// `blocked_models.json` as the old code reads it.
pub(crate) fn blocked_document(blocked: &[String]) -> Value {
    json!({"updated_at": timestamp::now(), "blocked": blocked})
}

/// Checks that `dir/name` may be replaced: absent, or a regular file (never a FIFO, device or
/// directory, and never through a symlink to one).
fn check_target(dir: &Path, name: &str) -> Result<Option<std::fs::Metadata>> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() => Ok(Some(meta)),
        Ok(_) => Err(Error::Io(format!(
            "{}: not a regular file; refusing to replace it",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("{}: {e}", path.display()))),
    }
}

/// A file written and synced under a temporary name, renamed into place by [`Staged::commit`]
/// and removed if dropped before.
struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Staged {
    fn write(dir: &Path, name: &str, bytes: &[u8], mode: Option<u32>) -> Result<Staged> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".{name}.mm-export-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let staged = Staged {
            tmp,
            target: dir.join(name),
            done: false,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&staged.tmp)
            .map_err(|e| Error::Io(format!("cannot write in {}: {e}", dir.display())))?;
        let io = |e: std::io::Error| Error::Io(format!("{}: {e}", staged.tmp.display()));
        if let Some(mode) = mode {
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(io)?;
        }
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(staged)
    }

    fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target)
            .map_err(|e| Error::Io(format!("{}: {e}", self.target.display())))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Keeps the current `dir/name` as `name.bak-<time>` (a hard link: the old content stays
/// under that name when the new file is renamed over `name`).
fn back_up(dir: &Path, name: &str, stamp: &str) -> Result<PathBuf> {
    let from = dir.join(name);
    let mut to = dir.join(format!("{name}.bak-{stamp}"));
    let mut n = 1;
    while to.exists() {
        to = dir.join(format!("{name}.bak-{stamp}-{n}"));
        n += 1;
    }
    std::fs::hard_link(&from, &to)
        .or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
        .map_err(|e| Error::Io(format!("cannot back up {}: {e}", from.display())))?;
    Ok(to)
}

/// Writes both files into `dir` (see the module doc). With `dry_run`, only checks and counts.
pub(crate) fn write(
    dir: &Path,
    mappings: &[std::sync::Arc<Mapping>],
    blocked: &[String],
    dry_run: bool,
) -> Result<ExportReport> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir)
        .map_err(|e| Error::Io(format!("storage dir {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(Error::Io(format!(
            "storage dir {} is not a directory",
            dir.display()
        )));
    }
    let old_mappings = check_target(dir, MAPPINGS_FILE)?;
    let old_blocked = check_target(dir, BLOCKED_FILE)?;
    let mut report = ExportReport {
        storage_dir: dir.display().to_string(),
        mappings: mappings.len(),
        blocked: blocked.len(),
        backups: Vec::new(),
        dry_run,
    };
    if dry_run {
        return Ok(report);
    }
    let pretty = |v: &Value| {
        let mut text = serde_json::to_vec_pretty(v).expect("JSON values serialise");
        text.push(b'\n');
        text
    };
    let mode = |m: &Option<std::fs::Metadata>| m.as_ref().map(|m| m.permissions().mode() & 0o777);
    // Both files are staged before either replaces anything.
    let staged = [
        Staged::write(
            dir,
            MAPPINGS_FILE,
            &pretty(&mappings_document(mappings)),
            mode(&old_mappings),
        )?,
        Staged::write(
            dir,
            BLOCKED_FILE,
            &pretty(&blocked_document(blocked)),
            mode(&old_blocked),
        )?,
    ];
    let stamp = timestamp::now().replace([':', '+'], "");
    for (name, old) in [(MAPPINGS_FILE, &old_mappings), (BLOCKED_FILE, &old_blocked)] {
        if old.is_some() {
            report
                .backups
                .push(back_up(dir, name, &stamp)?.display().to_string());
        }
    }
    for s in staged {
        s.commit()?;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(report)
}

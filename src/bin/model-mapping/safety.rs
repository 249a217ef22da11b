//! Safe by default: read commands open the database read-only; destructive commands show
//! their plan, ask for confirmation on a terminal (or need `--yes`), and back the database up
//! with SQLite's online backup API before they write.

use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use model_mapping::{Store, StoreOptions};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::error::{exit, CliError};
use crate::output::{note, Outcome};

/// What every command gets besides its own arguments.
pub struct Ctx {
    /// The database path.
    pub db: PathBuf,
    /// `--yes`: proceed without asking.
    pub yes: bool,
    /// `--no-backup`.
    pub no_backup: bool,
}

/// Opens the database read-only ([`Store::open_read_only`]): nothing on disk changes. On a
/// database without the library's tables, says so on stderr.
pub fn open_read(db: &Path) -> Result<Store, CliError> {
    let store = Store::open_read_only(db, StoreOptions::default())?;
    if store.health()?.schema_version == 0 {
        let host_table = crate::sandbox::has_table(db, "llm_model_mappings");
        note(&format!(
            "{} has none of this library's tables (no blocked list, no history): {}",
            db.display(),
            if host_table {
                "showing llm_model_mappings as the host wrote it"
            } else {
                "it has no llm_model_mappings table either, so there are no mappings"
            }
        ));
    }
    Ok(store)
}

/// Asks before a destructive step: `--yes` proceeds; on a terminal the plan is shown and the
/// answer read from stdin; anywhere else the command is refused (`confirmation_required`).
pub fn confirm(ctx: &Ctx, action: &str, plan: &str) -> Result<(), CliError> {
    if ctx.yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    let mut err = std::io::stderr();
    if !stdin.is_terminal() {
        let _ = write!(err, "{plan}");
        return Err(CliError::usage(
            "confirmation_required",
            format!(
                "{action} would change {} and stdin is not a terminal to ask on: nothing was \
                 done; pass --yes to proceed (the plan is above)",
                ctx.db.display()
            ),
        ));
    }
    let _ = write!(err, "{plan}{action} {}? [y/N] ", ctx.db.display());
    let _ = err.flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::new(
            "cancelled",
            format!("{action}: not confirmed; nothing was done"),
            exit::NOT_FOUND,
        ))
    }
}

/// Runs a destructive step: nothing to do → `run(None)` at once; otherwise confirm, back up
/// (unless `--no-backup` or the database does not exist yet), then `run` with the backup's
/// path, which is named in the outcome.
pub fn guarded(
    ctx: &Ctx,
    action: &str,
    plan: &str,
    changes_nothing: bool,
    run: impl FnOnce() -> Result<Outcome, CliError>,
) -> Result<Outcome, CliError> {
    if changes_nothing {
        return run();
    }
    confirm(ctx, action, plan)?;
    let backup = if ctx.no_backup || !ctx.db.exists() {
        None
    } else {
        Some(backup(&ctx.db)?)
    };
    let mut outcome = run()?;
    if let Some(path) = backup {
        if let Some(obj) = outcome.json.as_object_mut() {
            obj.insert("backup".into(), json!(path.display().to_string()));
        }
        outcome
            .human
            .push_str(&format!("backup: {}\n", path.display()));
    }
    Ok(outcome)
}

/// Copies the database with SQLite's online backup API into `<name>.backup-<UTC time>` beside
/// it, created with mode 0600 (it holds what the database holds, endpoint keys included).
pub fn backup(db: &Path) -> Result<PathBuf, CliError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let name = db
        .file_name()
        .map_or_else(|| "db".into(), |n| n.to_string_lossy().into_owned());
    let fail = |e: &dyn std::fmt::Display, path: &Path| {
        CliError::io(format!(
            "cannot back up {} to {}: {e} (nothing was changed; --no-backup skips the backup)",
            db.display(),
            path.display()
        ))
    };
    let (path, _file) = (0..100)
        .find_map(|n| {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let path = db.with_file_name(format!("{name}.backup-{stamp}{suffix}"));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(f) => Some(Ok((path, f))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(fail(&e, &path))),
            }
        })
        .unwrap_or_else(|| Err(fail(&"too many backups this second", db)))?;
    let copied = (|| -> rusqlite::Result<()> {
        let src = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        src.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut dst = Connection::open(&path)?;
        rusqlite::backup::Backup::new(&src, &mut dst)?.run_to_completion(
            1024,
            std::time::Duration::from_millis(10),
            None,
        )?;
        // A backup is one self-contained file.
        dst.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0))?;
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&path);
        return Err(fail(&e, &path));
    }
    Ok(path)
}

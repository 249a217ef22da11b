//! The command line: global options and one subcommand per operator task (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Inspect and repair the model mappings of a backend database without starting the backend.
///
/// Read commands (list, get, resolve, resolve-message, blocked, export, health, history, diff)
/// open the database read-only and leave it byte-for-byte unchanged. Commands that delete or
/// replace data (delete, import over existing mappings, apply that changes or deletes, undo,
/// rollback, migrate --merge, detach) show their plan, ask on a terminal (elsewhere they need
/// --yes) and back the database up first (unless --no-backup).
///
/// Exit codes follow from the error code alone: 0 ok; 1 not found, a check failed, or
/// cancelled at the prompt; 2 usage or invalid input (including `confirmation_required`);
/// 3 database or I/O error (`io_error` too, whichever file it concerns). Errors go to stderr
/// and start with their stable code (e.g. `mapping_not_found`).
///
/// "behaviour B10" and the like refer to the sections of docs/behaviour.md in the repository.
#[derive(Debug, Parser)]
#[command(name = "model-mapping", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    model-mapping --db app.db list\n  \
    model-mapping --db app.db resolve xai --explain\n  \
    MODEL_MAPPING_DB=app.db model-mapping migrate --storage-dir /srv/ai_runtime --dry-run")]
pub struct Cli {
    /// The SQLite database (the backend's file holding `llm_model_mappings`).
    #[arg(long, global = true, value_name = "PATH", env = "MODEL_MAPPING_DB")]
    pub db: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of tables (errors become JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// Proceed with a destructive command without asking (required when stdin is not a
    /// terminal).
    #[arg(short, long, global = true)]
    pub yes: bool,

    /// Do not back the database up before a destructive command.
    #[arg(long, global = true)]
    pub no_backup: bool,

    /// Who the changes are recorded for in the history (default `cli:$USER`).
    #[arg(long, global = true, value_name = "NAME", env = "MODEL_MAPPING_ACTOR")]
    pub actor: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The operator tasks.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the one-time legacy JSON migration (behaviour B10), or plan it with --dry-run.
    Migrate(MigrateArgs),
    /// List mappings, newest first.
    List(ListArgs),
    /// Show one mapping (`tenant:x` and `mapping:x` name the same one).
    Get(IdArg),
    /// Create or replace a mapping from a JSON object (a file, or `-` for stdin).
    ///
    /// The object has `id` (or `scope_type` and `scope_key`), `name`, `default_model`,
    /// `candidates`, `is_active` and `metadata`. The whole row is replaced, not patched.
    /// `upsert --json FILE` works too: `--json` then selects JSON output.
    Upsert(UpsertArgs),
    /// Delete a mapping.
    Delete(IdArg),
    /// Make MODEL the default of an existing mapping and activate it.
    Activate(ActivateArgs),
    /// Resolve a client's model key the way the backend does (behaviour B8).
    Resolve(ResolveArgs),
    /// Pick the model for one chat request: prompt → user → mapping → global (behaviour B9).
    ResolveMessage(ResolveMessageArgs),
    /// Block models: resolution will skip them.
    Block(ModelsArg),
    /// Unblock models.
    Unblock(ModelsArg),
    /// List the blocked models.
    Blocked,
    /// Export every mapping and the blocked list as `{"exported_at", "mappings": [...],
    /// "blocked": [...]}` (JSON, whatever --json says): a full backup `import` restores.
    Export(ExportArgs),
    /// Import a list of loose items (or an export file, blocked list included); reports
    /// created, updated and unchanged mappings. One bad item never blocks the rest.
    Import(ImportArgs),
    /// Apply a remote snapshot (last writer wins), or show the plan with --dry-run.
    Apply(ApplyArgs),
    /// Show what applying a snapshot file would change, or (--since) what changed in the
    /// database since a change or a time.
    Diff(DiffArgs),
    /// Show SQLite version, journal mode, data version, row counts, migration records and
    /// run `PRAGMA quick_check`. Exits 1 when a check fails.
    Health,
    /// Show the recorded changes (newest first), of one mapping or all.
    History(HistoryArgs),
    /// Write back what one recorded change replaced, as a new change.
    Undo(UndoArgs),
    /// Restore every mapping and the blocked list as they were after a change or at a time.
    Rollback(RollbackArgs),
    /// Write the mappings and blocked list as the pre-SQLite backend's JSON files (rolling
    /// the backend back); replaced files are kept as timestamped backups.
    ExportLegacy(StorageDirArgs),
    /// Drop the change feed's triggers and nothing else (before downgrading the backend);
    /// the next open by the library re-creates them.
    Detach,
    /// Print a shell completion script: `model-mapping completions bash > /etc/bash_completion.d/model-mapping`.
    Completions(CompletionsArgs),
}

/// `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The backend's storage dir holding `model_mappings.json` and `blocked_models.json`.
    #[arg(long, value_name = "DIR", env = "AI_RUNTIME_STORAGE_DIR")]
    pub storage_dir: PathBuf,
    /// Merge the legacy files into a table that already has rows (rolling forward after a
    /// period on the JSON version): last writer wins on `updated_at`; mappings exported and
    /// since removed from the file are deleted.
    #[arg(long)]
    pub merge: bool,
    /// Report what the migration would do; write nothing, not even a missing database.
    #[arg(long)]
    pub dry_run: bool,
}

/// `export-legacy`.
#[derive(Debug, Args)]
pub struct StorageDirArgs {
    /// The backend's storage dir to write `model_mappings.json` and `blocked_models.json` in.
    #[arg(long, value_name = "DIR", env = "AI_RUNTIME_STORAGE_DIR")]
    pub storage_dir: PathBuf,
    /// Report what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSON list of items or `{"mappings": [...], "blocked": [...]}`; `-` for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// Print the plan (created, updated, unchanged, blocked) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `diff`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["file", "since"]))]
pub struct DiffArgs {
    /// A snapshot file (as for `apply`); `-` for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// What changed in the database after change SEQ, or since TIME (RFC 3339).
    #[arg(long, value_name = "SEQ|TIME", conflicts_with_all = ["overwrite", "delete_missing"])]
    pub since: Option<String>,
    /// As `apply --overwrite`.
    #[arg(long)]
    pub overwrite: bool,
    /// As `apply --delete-missing`.
    #[arg(long)]
    pub delete_missing: bool,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only changes to this mapping (any spelling of its id).
    pub id: Option<String>,
    /// Only changes after this sequence number.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<i64>,
    /// At most this many changes.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
}

/// `undo`.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The change's sequence number (from `history`).
    pub seq: i64,
    /// Undo even when a later change touched the same mapping or model.
    #[arg(long)]
    pub force: bool,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The state to go back to: right after change SEQ, or at TIME (RFC 3339).
    #[arg(long, value_name = "SEQ|TIME")]
    pub to: String,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this scope type (`tenant` finds `mapping` rows).
    #[arg(long, value_name = "TYPE")]
    pub scope_type: Option<String>,
    /// Only this exact scope key.
    #[arg(long, value_name = "KEY")]
    pub scope_key: Option<String>,
}

/// A mapping id argument.
#[derive(Debug, Args)]
pub struct IdArg {
    /// The mapping id, `<scope_type>:<scope_key>` (e.g. `mapping:xai`).
    pub id: String,
}

/// `upsert`.
#[derive(Debug, Args)]
pub struct UpsertArgs {
    /// The JSON payload file, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
}

/// `activate`.
#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// The mapping id.
    pub id: String,
    /// The model to make the default.
    pub model: String,
}

/// `resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The model key a client sends (`xai`, `mapping:xai`, `gpt-4o`).
    pub key: String,
    /// Also show every mapping considered and each candidate model's fate.
    #[arg(long)]
    pub explain: bool,
}

/// `resolve-message`.
#[derive(Debug, Args)]
pub struct ResolveMessageArgs {
    /// The requesting user's id.
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// The business key the request names (`xai`; `mapping:`/`tenant:` prefixes accepted).
    #[arg(long, value_name = "KEY")]
    pub mapping: Option<String>,
    /// The prompt id; its stored `prompt:<id>` mapping is tried first.
    #[arg(long, value_name = "ID")]
    pub prompt_id: Option<String>,
}

/// `block` and `unblock`.
#[derive(Debug, Args)]
pub struct ModelsArg {
    /// Model names.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<String>,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to FILE (replaced atomically, mode 0600) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The snapshot: a JSON list of items or `{"mappings": [...]}`; `-` for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// Replace local rows even when they are newer than the remote ones.
    #[arg(long)]
    pub overwrite: bool,
    /// Delete local non-prompt rows that the snapshot does not hold (and unblock models its
    /// `blocked` list, when it has one, does not name).
    #[arg(long)]
    pub delete_missing: bool,
    /// Print the plan (added, changed, kept, deleted) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

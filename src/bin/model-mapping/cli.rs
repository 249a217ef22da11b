//! The command line: global options and one subcommand per operator task (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Inspect and repair the model mappings of a backend database without starting the backend.
///
/// Exit codes: 0 ok; 1 not found or a check failed; 2 usage or invalid input; 3 database or
/// I/O error. Errors go to stderr and start with their stable code (e.g. `mapping_not_found`).
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
    /// Export every mapping as `{"exported_at", "mappings": [...]}` (JSON, whatever --json says).
    Export(ExportArgs),
    /// Import a list of loose items (or an export file); one bad item never blocks the rest.
    Import(FileArg),
    /// Apply a remote snapshot (last writer wins), or show the plan with --dry-run.
    Apply(ApplyArgs),
    /// Show SQLite version, journal mode, data version, row counts, migration records and
    /// run `PRAGMA quick_check`. Exits 1 when a check fails.
    Health,
}

/// `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The backend's storage dir holding `model_mappings.json` and `blocked_models.json`.
    #[arg(long, value_name = "DIR", env = "AI_RUNTIME_STORAGE_DIR")]
    pub storage_dir: PathBuf,
    /// Report what the migration would do; write nothing, not even a missing database.
    #[arg(long)]
    pub dry_run: bool,
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

/// `import`.
#[derive(Debug, Args)]
pub struct FileArg {
    /// A JSON list of items or `{"mappings": [...]}`; `-` for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
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
    /// Delete local non-prompt rows that the snapshot does not hold.
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

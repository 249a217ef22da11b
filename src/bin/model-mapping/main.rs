//! `model-mapping`: the operator CLI over [`model_mapping::Store`] (see docs/CLI.md).
//!
//! Inspect and repair mappings without starting the backend: plan the legacy migration before
//! a deploy, see why a key resolved where it did after an incident, look at and undo changes.
//! Tables for people, `--json` for scripts. Read commands open the database read-only;
//! destructive ones show their plan, confirm and back up first (`safety`). Exit codes follow
//! from the error code alone (`error::exit`).

mod cli;
mod commands;
mod error;
mod history;
mod output;
mod safety;
mod sandbox;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    if let cli::Command::Completions(a) = &cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(a.shell, &mut cmd, "model-mapping", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let Some(db) = cli.db.filter(|p| !p.as_os_str().is_empty()) else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "no database given: pass --db PATH or set MODEL_MAPPING_DB",
            )
            .exit()
    };
    let actor = cli
        .actor
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| {
            format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            )
        });
    let ctx = safety::Ctx {
        db,
        yes: cli.yes,
        no_backup: cli.no_backup,
    };
    let result = model_mapping::with_actor(&actor, || commands::run(&ctx, cli.command));
    match result {
        Ok(outcome) => {
            output::print_outcome(&outcome, json);
            ExitCode::from(outcome.exit)
        }
        Err(err) => {
            output::print_error(&err, json);
            ExitCode::from(err.exit)
        }
    }
}

//! `model-mapping`: the operator CLI over [`model_mapping::Store`] (see docs/CLI.md).
//!
//! Inspect and repair mappings without starting the backend: plan the legacy migration before
//! a deploy, see why a key resolved where it did after an incident. Tables for people,
//! `--json` for scripts; exit codes 0 ok, 1 not found or check failed, 2 usage or invalid
//! input, 3 database error.

mod cli;
mod commands;
mod error;
mod output;
mod sandbox;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let Some(db) = cli.db.filter(|p| !p.as_os_str().is_empty()) else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "no database given: pass --db PATH or set MODEL_MAPPING_DB",
            )
            .exit()
    };
    match commands::run(&db, cli.command) {
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

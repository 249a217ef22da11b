//! The legacy migration (behaviour B10) as the store runs it: on its write connection, with the
//! snapshot the import leaves.

use std::path::Path;

use rusqlite::Connection;

use crate::error::Result;
use crate::legacy::{self, MigrationReport, MigrationStatus, ReportError};
use crate::snapshot::Snapshot;

/// Runs (or plans) the migration for `dir`; when it imported, also the snapshot of the table
/// it filled.
pub(super) fn run(
    conn: &mut Connection,
    dir: &Path,
    dry_run: bool,
) -> Result<(MigrationReport, Option<Snapshot>)> {
    if !dir.is_dir() {
        // A missing storage dir is more likely a misconfiguration than "no legacy data":
        // report it and record nothing, so a later open with the right dir still imports.
        let report = MigrationReport {
            status: MigrationStatus::SkippedNoFile,
            imported_count: 0,
            skipped_count: 0,
            blocked_imported: 0,
            blocked_status: MigrationStatus::SkippedNoFile,
            errors: vec![ReportError {
                key: dir.display().to_string(),
                reason: "storage_dir_missing: nothing recorded".into(),
            }],
            warnings: Vec::new(),
            dry_run,
        };
        return Ok((report, None));
    }
    let (report, filled) = legacy::run(conn, dir, dry_run)?;
    Ok((report, filled.map(legacy::FilledTable::into_snapshot)))
}

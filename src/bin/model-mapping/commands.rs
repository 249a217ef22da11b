//! One function per subcommand, each returning an [`Outcome`] (JSON and text) or a
//! [`CliError`]. Inputs are read and checked before the database is opened, so bad input
//! never creates or touches a database.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use model_mapping::legacy::MigrationStatus;
use model_mapping::resolve::{CandidateFate, Considered};
use model_mapping::{
    normalize_mapping_id, Error, Explanation, MappingInput, MessageRequest, MessageSelection,
    MigrationReport, PullReport, Resolution, SnapshotPlan, Store, StoreOptions,
};
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

use crate::cli::{
    ActivateArgs, ApplyArgs, Command, ExportArgs, FileArg, IdArg, ListArgs, MigrateArgs, ModelsArg,
    ResolveArgs, ResolveMessageArgs, UpsertArgs,
};
use crate::error::{display_input, exit, CliError};
use crate::output::{
    fields, mapping_fields, mapping_table, note, opt, pretty, to_json, yes_no, Outcome, Table,
};
use crate::sandbox::Sandbox;

type CmdResult = Result<Outcome, CliError>;

/// Runs one subcommand against the database at `db`.
pub fn run(db: &Path, command: Command) -> CmdResult {
    match command {
        Command::Migrate(a) => migrate(db, &a),
        Command::List(a) => list(db, &a),
        Command::Get(a) => get(db, &a),
        Command::Upsert(a) => upsert(db, &a),
        Command::Delete(a) => delete(db, &a),
        Command::Activate(a) => activate(db, &a),
        Command::Resolve(a) => resolve(db, &a),
        Command::ResolveMessage(a) => resolve_message(db, &a),
        Command::Block(a) => set_blocked(db, &a, true),
        Command::Unblock(a) => set_blocked(db, &a, false),
        Command::Blocked => blocked(db),
        Command::Export(a) => export(db, &a),
        Command::Import(a) => import(db, &a),
        Command::Apply(a) => apply(db, &a),
        Command::Health => health(db),
    }
}

// ---- opening and inputs ----

/// Whether a command may create a database that does not exist yet.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    /// Reads, and changes to what must already exist: a missing database is an error.
    Existing,
    /// Commands that add data: a missing database is created (and a note says so).
    Create,
}

fn open(db: &Path, mode: Open) -> Result<Store, CliError> {
    let missing =
        matches!(std::fs::metadata(db), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    if missing && mode == Open::Existing {
        return Err(CliError::new(
            "database_cant_open",
            format!(
                "{} does not exist (this command never creates a database)",
                db.display()
            ),
            exit::DATABASE,
        ));
    }
    let store = Store::open(db, StoreOptions::default())?;
    if missing {
        note(&format!("created a new database at {}", db.display()));
    }
    Ok(store)
}

/// Reads a file, or stdin for `-`.
fn read_input(file: &Path) -> Result<String, CliError> {
    let mut text = String::new();
    let result = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read(file).and_then(|bytes| {
            text = String::from_utf8(bytes).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error())
            })?;
            Ok(())
        })
    };
    match result {
        Ok(()) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(CliError::in_input(
            Error::InvalidJson {
                line: 0,
                column: 0,
                detail: format!("not valid UTF-8: {e}"),
            },
            file,
        )),
        Err(e) => Err(CliError::in_input(
            Error::Io(format!("cannot read: {e}")),
            file,
        )),
    }
}

fn parse_json(text: &str, file: &Path) -> Result<Value, CliError> {
    serde_json::from_str(text).map_err(|e| CliError::in_input(Error::from_json(&e), file))
}

fn read_items(file: &Path) -> Result<Vec<Value>, CliError> {
    let text = read_input(file)?;
    model_mapping::sync::items_from_json(&text).map_err(|e| CliError::in_input(e, file))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

// ---- migrate ----

fn migrate(db: &Path, a: &MigrateArgs) -> CmdResult {
    if !a.storage_dir.is_dir() {
        return Err(CliError::usage(
            "storage_dir_missing",
            format!("{} is not a directory", a.storage_dir.display()),
        ));
    }
    let (report, db_exists) = if a.dry_run {
        let sandbox = Sandbox::of(db)?;
        let report = sandbox.open_store()?.migrate_legacy(&a.storage_dir, true)?;
        (report, sandbox.source_exists)
    } else {
        let store = open(db, Open::Create)?;
        (store.migrate_legacy(&a.storage_dir, false)?, true)
    };
    let failed = report.status == MigrationStatus::Failed
        || report.blocked_status == MigrationStatus::Failed;
    let mut value = to_json(&report);
    value["database_exists"] = json!(db_exists);
    let mut text = format!(
        "Legacy migration from {}{}\n",
        a.storage_dir.display(),
        if a.dry_run {
            " (dry run: nothing was written)"
        } else {
            ""
        }
    );
    if !db_exists {
        text.push_str(&format!(
            "{} does not exist yet: planned against an empty database, which was not created\n",
            db.display()
        ));
    }
    text.push_str(&migration_text(&report));
    let outcome = Outcome::ok(value, text);
    Ok(if failed {
        outcome.with_exit(exit::NOT_FOUND)
    } else {
        outcome
    })
}

fn status_text(status: MigrationStatus, dry_run: bool, imported: &str) -> String {
    let record = if dry_run { "would record" } else { "recorded" };
    match status {
        MigrationStatus::Imported => imported.to_owned(),
        MigrationStatus::AlreadyDone => "already done (the database records it)".into(),
        MigrationStatus::SkippedMarker => format!(
            "skipped: the marker file {} exists (an older host migrated); {record}",
            model_mapping::legacy::MARKER_FILE
        ),
        MigrationStatus::SkippedNonempty => {
            format!("skipped: llm_model_mappings already has rows; {record}")
        }
        MigrationStatus::SkippedNoFile => format!("skipped: no legacy file; {record}"),
        MigrationStatus::Failed => {
            "FAILED: nothing imported, nothing recorded, retried at the next open".into()
        }
    }
}

fn migration_text(r: &MigrationReport) -> String {
    let (import, add) = if r.dry_run {
        ("would import", "would add")
    } else {
        ("imported", "added")
    };
    let mappings = format!(
        "{import} {}, {} skipped",
        plural(r.imported_count, "mapping", "mappings"),
        r.skipped_count
    );
    let blocked = format!(
        "{add} {}",
        plural(r.blocked_imported, "blocked model", "blocked models")
    );
    let mut text = fields(&[
        ("mappings", status_text(r.status, r.dry_run, &mappings)),
        (
            "blocked models",
            status_text(r.blocked_status, r.dry_run, &blocked),
        ),
    ]);
    if !r.errors.is_empty() {
        text.push_str("problems:\n");
        let mut t = Table::new(&["KEY", "REASON"]);
        for e in &r.errors {
            t.row(vec![e.key.clone(), e.reason.clone()]);
        }
        text.push_str(&t.render(2));
    }
    text
}

// ---- list, get, upsert, delete, activate ----

fn list(db: &Path, a: &ListArgs) -> CmdResult {
    let store = open(db, Open::Existing)?;
    let mappings = store.list(a.scope_type.as_deref(), a.scope_key.as_deref())?;
    let value = Value::Array(mappings.iter().map(|m| m.to_json()).collect());
    let text = if mappings.is_empty() {
        "no mappings\n".to_owned()
    } else {
        mapping_table(mappings.iter().map(|m| m.as_ref()))
    };
    Ok(Outcome::ok(value, text))
}

fn get(db: &Path, a: &IdArg) -> CmdResult {
    let id = normalize_mapping_id(&a.id)?;
    let store = open(db, Open::Existing)?;
    let m = store.get(&id)?.ok_or_else(|| CliError::not_found(&id))?;
    Ok(Outcome::ok(m.to_json(), mapping_fields(&m)))
}

fn upsert(db: &Path, a: &UpsertArgs) -> CmdResult {
    let payload = parse_json(&read_input(&a.file)?, &a.file)?;
    let input = MappingInput::from_json(&payload).map_err(|e| CliError::in_input(e, &a.file))?;
    let store = open(db, Open::Create)?;
    let m = store.upsert(&input)?;
    let text = format!("upserted {}\n{}", m.id, mapping_fields(&m));
    Ok(Outcome::ok(m.to_json(), text))
}

fn delete(db: &Path, a: &IdArg) -> CmdResult {
    let id = normalize_mapping_id(&a.id)?;
    let store = open(db, Open::Existing)?;
    if !store.delete(&id)? {
        return Err(CliError::not_found(&id));
    }
    Ok(Outcome::ok(
        json!({"deleted": true, "id": id}),
        format!("deleted {id}\n"),
    ))
}

fn activate(db: &Path, a: &ActivateArgs) -> CmdResult {
    let id = normalize_mapping_id(&a.id)?;
    if a.model.trim().is_empty() {
        return Err(CliError::usage(
            "invalid_payload",
            "model: must be a non-empty model name",
        ));
    }
    let store = open(db, Open::Existing)?;
    let m = store.activate_default(&id, &a.model)?;
    let text = format!(
        "{} is now the default of {} (active)\n{}",
        a.model.trim(),
        m.id,
        mapping_fields(&m)
    );
    Ok(Outcome::ok(m.to_json(), text))
}

// ---- resolve ----

fn resolve(db: &Path, a: &ResolveArgs) -> CmdResult {
    let store = open(db, Open::Existing)?;
    if a.explain {
        let e = store.explain(&a.key)?;
        Ok(Outcome::ok(to_json(&e), explanation_text(&a.key, &e)))
    } else {
        let r = store.resolve_model_key(&a.key)?;
        Ok(Outcome::ok(to_json(&r), resolution_text(&a.key, &r)))
    }
}

fn resolution_text(key: &str, r: &Resolution) -> String {
    let mut pairs = vec![("key", key.trim().to_owned())];
    match r.mapping() {
        None if key.trim().is_empty() => {
            pairs.push(("resolved_model", "-".into()));
            pairs.push(("hit", "no (blank key)".into()));
        }
        None => {
            pairs.push(("resolved_model", opt(r.resolved_model())));
            pairs.push((
                "hit",
                "no (no active mapping: the key passes through)".into(),
            ));
        }
        Some(m) => {
            pairs.push((
                "resolved_model",
                r.resolved_model().map(str::to_owned).unwrap_or_else(|| {
                    "- (every model is blocked or none is set: the caller falls back)".into()
                }),
            ));
            pairs.push(("hit", "yes".into()));
            pairs.push(("mapping_id", m.id.clone()));
            pairs.push((
                "preferred_endpoint_id",
                r.preferred_endpoint_id()
                    .map_or_else(|| "-".into(), |e| e.to_string()),
            ));
            pairs.push((
                "metadata",
                serde_json::to_string(&m.metadata).unwrap_or_default(),
            ));
        }
    }
    fields(&pairs)
}

fn explanation_text(key: &str, e: &Explanation) -> String {
    let mut text = resolution_text(key, &e.resolution);
    text.push_str("\nmappings considered:\n");
    if e.considered.is_empty() {
        text.push_str("  none matched the key\n");
    } else {
        text.push_str(&considered_table(&e.considered));
    }
    text.push_str("\ncandidates of the chosen mapping:\n");
    if e.candidates.is_empty() {
        text.push_str("  none\n");
    } else {
        text.push_str(&fates_table(&e.candidates));
    }
    text
}

fn considered_table(rows: &[Considered]) -> String {
    let mut t = Table::new(&["MAPPING", "ACTIVE", "UPDATED AT", "OUTCOME"]);
    for c in rows {
        t.row(vec![
            c.mapping_id.clone(),
            yes_no(c.is_active),
            opt(c.updated_at.as_deref()),
            value_text(&to_json(&c.outcome)),
        ]);
    }
    t.render(2)
}

fn fates_table(rows: &[CandidateFate]) -> String {
    let mut t = Table::new(&["#", "MODEL", "FATE"]);
    for (i, c) in rows.iter().enumerate() {
        t.row(vec![
            (i + 1).to_string(),
            c.model.clone(),
            value_text(&to_json(&c.fate)),
        ]);
    }
    t.render(2)
}

/// A JSON string without quotes, anything else as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn resolve_message(db: &Path, a: &ResolveMessageArgs) -> CmdResult {
    let store = open(db, Open::Existing)?;
    let req = MessageRequest {
        user_id: Some(&a.user),
        mapping_key: a.mapping.as_deref(),
        prompt_id: a.prompt_id.as_deref(),
        prompt_mapping: None,
    };
    let s = store.resolve_for_message(&req)?;
    Ok(Outcome::ok(to_json(&s), selection_text(&s)))
}

fn selection_text(s: &MessageSelection) -> String {
    let decided = match &s.hit {
        None => "-".to_owned(),
        Some(h) => format!(
            "{}:{} ({}{})",
            h.scope_type,
            h.scope_key,
            h.source,
            h.picked_from.map(|p| format!(", {p}")).unwrap_or_default()
        ),
    };
    let mut text = fields(&[
        ("model", opt(s.model.as_deref())),
        (
            "temperature",
            s.temperature.map_or_else(|| "-".into(), |t| t.to_string()),
        ),
        ("decided by", decided),
        ("reason", opt(s.reason)),
    ]);
    text.push_str("chain:\n");
    let mut t = Table::new(&["STEP", "MAPPING", "SOURCE", "FOUND", "ACTIVE"]);
    for (i, c) in s.chain.iter().enumerate() {
        t.row(vec![
            (i + 1).to_string(),
            format!("{}:{}", c.scope_type, c.scope_key),
            c.source.to_owned(),
            yes_no(c.found),
            if c.found {
                yes_no(c.active)
            } else {
                "-".into()
            },
        ]);
    }
    text.push_str(&t.render(2));
    text
}

// ---- blocked models ----

fn set_blocked(db: &Path, a: &ModelsArg, block: bool) -> CmdResult {
    if a.models.iter().any(|m| m.trim().is_empty()) {
        return Err(CliError::usage(
            "invalid_payload",
            "model: model names must not be empty",
        ));
    }
    let store = open(db, if block { Open::Create } else { Open::Existing })?;
    let before = store.blocked_models()?;
    let changes: Vec<(String, bool)> = a.models.iter().map(|m| (m.clone(), block)).collect();
    let after = store.update_blocked(&changes)?;
    let (changed, unchanged): (Vec<&String>, Vec<&String>) = a
        .models
        .iter()
        .partition(|m| before.contains(&m.trim().to_owned()) != block);
    let mut text = String::new();
    let (verb, already) = if block {
        ("blocked", "already blocked")
    } else {
        ("unblocked", "not blocked")
    };
    if !changed.is_empty() {
        text.push_str(&format!("{verb}: {}\n", join(&changed)));
    }
    if !unchanged.is_empty() {
        text.push_str(&format!("{already}: {}\n", join(&unchanged)));
    }
    text.push_str(&blocked_text(&after));
    Ok(Outcome::ok(json!(after), text))
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.trim())
        .collect::<Vec<_>>()
        .join(", ")
}

fn blocked_text(list: &[String]) -> String {
    if list.is_empty() {
        "no blocked models\n".into()
    } else {
        format!(
            "{}:\n{}",
            plural(list.len(), "blocked model", "blocked models"),
            list.iter().map(|m| format!("  {m}\n")).collect::<String>()
        )
    }
}

fn blocked(db: &Path) -> CmdResult {
    let store = open(db, Open::Existing)?;
    let list = store.blocked_models()?;
    Ok(Outcome::ok(json!(list), blocked_text(&list)))
}

// ---- export, import, apply ----

fn export(db: &Path, a: &ExportArgs) -> CmdResult {
    if let Some(path) = &a.output {
        refuse_database_output(db, path)?;
    }
    let store = open(db, Open::Existing)?;
    let doc = store.export()?;
    let count = doc["mappings"].as_array().map_or(0, Vec::len);
    let Some(path) = &a.output else {
        // The export is JSON whatever the output mode.
        return Ok(Outcome::ok(doc.clone(), pretty(&doc)));
    };
    write_atomically(path, pretty(&doc).as_bytes()).map_err(|e| {
        CliError::new(
            "io_error",
            format!("cannot write {}: {e}", path.display()),
            exit::DATABASE,
        )
    })?;
    Ok(Outcome::ok(
        json!({"path": path.display().to_string(), "count": count, "exported_at": doc["exported_at"]}),
        format!(
            "exported {} to {}\n",
            plural(count, "mapping", "mappings"),
            path.display()
        ),
    ))
}

/// SQLite's files for a database: the file itself, then the ones it keeps beside it.
const DATABASE_FILES: [(&str, &str); 4] = [
    ("", "the database"),
    ("-wal", "the database's write-ahead log"),
    ("-shm", "the database's shared-memory index"),
    ("-journal", "the database's rollback journal"),
];

/// Refuses an output path that is the database or a file SQLite keeps beside it: the export
/// would replace it. Compared by canonical path (catches a symlink or `dir/../app.db`) and by
/// device and inode (catches a hard link).
fn refuse_database_output(db: &Path, output: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt;
    // A path that does not exist yet: its directory's canonical path and its name.
    let canonical = |p: &Path| -> Option<PathBuf> {
        p.canonicalize().ok().or_else(|| {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = dir.unwrap_or(Path::new(".")).canonicalize().ok()?;
            Some(dir.join(p.file_name()?))
        })
    };
    let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let out_path = canonical(output);
    let out_inode = inode(output);
    // SQLite names its files after the path it opened, resolved through symlinks: check both.
    let bases = [Some(db.to_path_buf()), db.canonicalize().ok()];
    for base in bases.iter().flatten() {
        for (suffix, what) in DATABASE_FILES {
            let mut file = base.as_os_str().to_owned();
            file.push(suffix);
            let file = PathBuf::from(file);
            let same_path = out_path.is_some() && canonical(&file) == out_path;
            let same_inode = out_inode.is_some() && inode(&file) == out_inode;
            if same_path || same_inode {
                return Err(CliError::usage(
                    "output_is_database",
                    format!(
                        "{} is {what} ({}); the export is never written over it",
                        output.display(),
                        file.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Writes a sibling temporary file (mode 0600), syncs it and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn import(db: &Path, a: &FileArg) -> CmdResult {
    let items = read_items(&a.file)?;
    let store = open(db, Open::Create)?;
    let report = store.import_items(&items)?;
    let mut text = format!(
        "imported {}, skipped {} (from {})\n",
        plural(report.imported_count, "item", "items"),
        report.skipped_count,
        display_input(&a.file)
    );
    if !report.errors.is_empty() {
        let mut t = Table::new(&["INDEX", "ID", "REASON"]);
        for e in &report.errors {
            t.row(vec![
                e.index.to_string(),
                opt(e.id.as_deref()),
                e.reason.clone(),
            ]);
        }
        text.push_str(&t.render(2));
    }
    let outcome = Outcome::ok(to_json(&report), text);
    Ok(if report.skipped_count > 0 {
        outcome.with_exit(exit::NOT_FOUND)
    } else {
        outcome
    })
}

fn apply(db: &Path, a: &ApplyArgs) -> CmdResult {
    let items = read_items(&a.file)?;
    if a.dry_run {
        let sandbox = Sandbox::of(db)?;
        let plan = sandbox
            .open_store()?
            .plan_snapshot(&items, a.overwrite, a.delete_missing)?;
        let mut value = to_json(&plan);
        value["dry_run"] = json!(true);
        value["database_exists"] = json!(sandbox.source_exists);
        let mut text = String::from("plan (dry run: nothing was written)\n");
        if !sandbox.source_exists {
            text.push_str(&format!(
                "{} does not exist yet: planned against an empty database, which was not created\n",
                db.display()
            ));
        }
        text.push_str(&plan_text(&plan));
        return Ok(Outcome::ok(value, text));
    }
    let store = open(db, Open::Create)?;
    let report = store.apply_snapshot(&items, a.overwrite, a.delete_missing)?;
    Ok(Outcome::ok(to_json(&report), pull_text(&report)))
}

fn plan_text(p: &SnapshotPlan) -> String {
    let mut text = String::new();
    for (label, ids) in [
        ("added", &p.added),
        ("changed", &p.changed),
        ("kept (local not older)", &p.kept),
        ("deleted", &p.deleted),
    ] {
        text.push_str(&format!("{label}: {}\n", ids.len()));
        for id in ids {
            text.push_str(&format!("  {id}\n"));
        }
    }
    text.push_str(&format!(
        "skipped (prompt scope, malformed, repeated): {}\nremote items: {}\n",
        p.skipped, p.remote_total
    ));
    text
}

fn pull_text(r: &PullReport) -> String {
    format!(
        "{}: wrote {}, kept {} local rows not older, ignored {}, deleted {} (of {} remote items)\n",
        r.status, r.pulled_count, r.skipped_count, r.ignored_count, r.deleted_count, r.remote_total
    )
}

// ---- health ----

/// Rows as stored, counted on a separate read-only connection: more rows than mappings means
/// rows the library reads around (unnameable) or alias rows of one id.
fn raw_row_counts(db: &Path) -> Value {
    let count = |conn: &Connection, table: &str| -> Value {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map_or(Value::Null, |n| json!(n))
    };
    match Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(conn) => json!({
            "llm_model_mappings": count(&conn, "llm_model_mappings"),
            "mm_blocked_models": count(&conn, "mm_blocked_models"),
        }),
        Err(_) => Value::Null,
    }
}

fn record_text(record: &Value) -> String {
    if record.is_null() {
        return "not recorded (runs at the next open with a storage dir)".into();
    }
    let status = value_text(&record["status"]);
    let at = value_text(&record["at"]);
    match (
        record["imported_count"].as_u64(),
        record["skipped_count"].as_u64(),
    ) {
        (Some(i), Some(s)) => format!("{status} at {at} ({i} imported, {s} skipped)"),
        (Some(i), None) => format!("{status} at {at} ({i} imported)"),
        _ => format!("{status} at {at}"),
    }
}

fn health(db: &Path) -> CmdResult {
    let store = open(db, Open::Existing)?;
    let h = store.health()?;
    let check = store.quick_check()?;
    let check_ok = check.len() == 1 && check[0] == "ok";
    let ok = h.ok && check_ok;
    let rows = raw_row_counts(db);
    let mut value = to_json(&h);
    value["sqlite_source_id"] = json!(model_mapping::sqlite_source_id());
    value["rows"] = rows.clone();
    value["quick_check"] = json!(check);
    value["status"] = json!(if ok { "ok" } else { "failed" });

    let row_text = |table: &str, seen: usize, what: &str| match rows[table].as_i64() {
        Some(n) => format!("{n} rows ({seen} {what})"),
        None => format!("rows could not be counted ({seen} {what} in the cache)"),
    };
    let mut pairs = vec![
        ("database", h.path.clone()),
        ("sqlite", format!("{} (linked)", h.sqlite_version)),
        ("schema version", h.schema_version.to_string()),
        ("journal mode", opt(h.journal_mode.as_deref())),
        (
            "data version",
            h.data_version.map_or_else(|| "-".into(), |v| v.to_string()),
        ),
        ("change counter", h.change_counter.to_string()),
        (
            "triggers",
            if h.triggers { "in place" } else { "MISSING" }.to_string(),
        ),
        (
            "refreshes",
            format!(
                "{} incremental, {} full",
                h.incremental_refreshes, h.full_reloads
            ),
        ),
        (
            "llm_model_mappings",
            row_text("llm_model_mappings", h.mappings, "mappings"),
        ),
        (
            "mm_blocked_models",
            row_text("mm_blocked_models", h.blocked, "blocked models"),
        ),
        ("migration: mappings", record_text(&h.migration["mappings"])),
        ("migration: blocked", record_text(&h.migration["blocked"])),
        (
            "quick_check",
            if check_ok {
                "ok".into()
            } else {
                "FAILED (see below)".into()
            },
        ),
    ];
    if let Some(e) = &h.last_error {
        pairs.push((
            "last error",
            format!("{} since {}: {}", e.code, e.since, e.message),
        ));
    }
    pairs.push(("status", if ok { "ok" } else { "FAILED" }.into()));
    let mut text = fields(&pairs);
    if !check_ok {
        text.push_str("quick_check:\n");
        for line in check.iter().flat_map(|l| l.lines()) {
            text.push_str(&format!("  {line}\n"));
        }
    }
    let outcome = Outcome::ok(value, text);
    Ok(if ok {
        outcome
    } else {
        outcome.with_exit(exit::NOT_FOUND)
    })
}

//! Dry runs against a private copy, so planning never writes to the user's database.
//!
//! Opening a [`Store`] is not read-only: it creates the library's tables on a database that
//! lacks them, rewrites legacy `tenant` rows and switches the journal to WAL. A dry run
//! therefore copies the tables the library uses (`llm_model_mappings` and the `mm_` tables,
//! with their indexes) out of the database, read-only, into a file in a fresh 0700 temporary
//! directory, opens the store there, and removes the directory afterwards. The plan is then
//! exactly what a real run would do after its own open. A database that does not exist yet is
//! planned against an empty one and is not created.

use std::fs::DirBuilder;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use model_mapping::{Error, JournalMode, Store, StoreOptions, Synchronous};
use rusqlite::{Connection, OpenFlags};

use crate::error::CliError;

/// A temporary copy of the library's tables; the directory is removed on drop.
pub struct Sandbox {
    dir: PathBuf,
    db: PathBuf,
    /// Whether the user's database exists (when not, the copy is an empty database).
    pub source_exists: bool,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Sandbox {
    /// Copies `source` (read-only) into a new temporary directory.
    pub fn of(source: &Path) -> Result<Sandbox, CliError> {
        let source_exists = match std::fs::metadata(source) {
            Ok(m) if m.is_dir() => {
                return Err(
                    Error::DatabaseCantOpen(format!("{} is a directory", source.display())).into(),
                )
            }
            Ok(m) if m.len() == 0 => {
                return Err(Error::DatabaseEmpty(format!(
                    "{} is an empty file, not a database",
                    source.display()
                ))
                .into())
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(Error::DatabaseCantOpen(format!("{}: {e}", source.display())).into())
            }
        };
        let dir = private_temp_dir()?;
        let sandbox = Sandbox {
            db: dir.join("dry-run.db"),
            dir,
            source_exists,
        };
        if source_exists {
            copy_tables(source, &sandbox.db).map_err(|e| with_path(e, source))?;
        }
        Ok(sandbox)
    }

    /// Opens the store on the copy (no storage dir: the caller migrates explicitly).
    pub fn open_store(&self) -> Result<Store, CliError> {
        let options = StoreOptions {
            journal_mode: JournalMode::Delete,
            synchronous: Synchronous::Off,
            ..StoreOptions::default()
        };
        Ok(Store::open(&self.db, options)?)
    }
}

fn private_temp_dir() -> Result<PathBuf, CliError> {
    let base = std::env::temp_dir();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100u32 {
        let dir = base.join(format!(
            "model-mapping-dry-run-{}-{nanos}-{attempt}",
            std::process::id()
        ));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(CliError::from(Error::Io(format!(
                    "cannot create a temporary directory in {}: {e}",
                    base.display()
                ))))
            }
        }
    }
    Err(CliError::from(Error::Io(format!(
        "cannot create a temporary directory in {}",
        base.display()
    ))))
}

fn with_path(err: Error, path: &Path) -> CliError {
    let mut e = CliError::from(err);
    e.detail = format!("{}: {}", path.display(), e.detail);
    e
}

/// What tells whether anyone wrote to the database while it was read without locks.
#[derive(PartialEq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    wal: bool,
    journal: bool,
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let m = std::fs::metadata(path).ok()?;
    Some(Fingerprint {
        len: m.len(),
        modified: m.modified().ok(),
        wal: sidecar(path, "-wal").exists(),
        journal: sidecar(path, "-journal").exists(),
    })
}

/// A `file:` URI for `path` (RFC 3986 percent-encoding of everything but unreserved and `/`).
fn file_uri(path: &Path, query: &str) -> String {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}

/// Copies the library's tables of `source` into a new database at `dest`.
///
/// With no `-wal` or `-journal` beside the file, nobody has it open for writing: it is read
/// as `immutable`, which creates no sidecar file, and the read is kept only when the file is
/// unchanged afterwards. Otherwise (or when it changed) it is read with the usual shared
/// locks, read-only.
fn copy_tables(source: &Path, dest: &Path) -> Result<(), Error> {
    let before = fingerprint(source);
    if before.as_ref().is_some_and(|f| !f.wal && !f.journal) {
        copy_with(source, dest, "mode=ro&immutable=1")?;
        if fingerprint(source) == before {
            return Ok(());
        }
        std::fs::remove_file(dest)?;
    }
    copy_with(source, dest, "mode=ro")
}

/// A read-only connection that leaves nothing behind, by the rule `Store::open_read_only`
/// follows: `immutable` when no `-wal`, `-shm` or `-journal` is beside the file (a plain
/// read-only open of an idle WAL database would create both), else `mode=ro`.
pub fn read_only_connection(db: &Path) -> rusqlite::Result<Connection> {
    let idle = ["-wal", "-shm", "-journal"]
        .iter()
        .all(|s| !sidecar(db, s).exists());
    let query = if idle {
        "mode=ro&immutable=1"
    } else {
        "mode=ro"
    };
    let path = if db.is_absolute() {
        db.to_path_buf()
    } else {
        Path::new(".").join(db)
    };
    Connection::open_with_flags(
        file_uri(&path, query),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
}

/// Whether the database has this table (false when it cannot be read).
pub fn has_table(db: &Path, table: &str) -> bool {
    read_only_connection(db)
        .and_then(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [table],
                |r| r.get(0),
            )
        })
        .unwrap_or(false)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn copy_with(source: &Path, dest: &Path, query: &str) -> Result<(), Error> {
    let mut conn = Connection::open(dest)?;
    conn.execute("ATTACH DATABASE ?1 AS src", [file_uri(source, query)])?;
    let tx = conn.transaction()?;
    let objects: Vec<(String, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT type, name, sql FROM src.sqlite_master \
             WHERE type IN ('table', 'index') AND sql IS NOT NULL \
               AND (tbl_name = 'llm_model_mappings' OR tbl_name LIKE 'mm\\_%' ESCAPE '\\') \
             ORDER BY type = 'index', rowid",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (kind, name, sql) in &objects {
        tx.execute_batch(sql)?;
        if kind == "table" {
            let name = quote(name);
            tx.execute_batch(&format!("INSERT INTO main.{name} SELECT * FROM src.{name}"))?;
        }
    }
    tx.commit()?;
    conn.execute_batch("DETACH DATABASE src")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_escape_what_sqlite_would_misread() {
        assert_eq!(
            file_uri(Path::new("/tmp/a b?#%.db"), "mode=ro"),
            "file:/tmp/a%20b%3F%23%25.db?mode=ro"
        );
    }
}

//! A driver for instruction counts under callgrind (perf counters do not work on the machines
//! BENCHMARKS.md was measured on). Each mode repeats one operation `N` times on a 10,000-mapping
//! database it builds in `DIR` on first use; run a mode twice with different `N` and divide the
//! difference in instructions by the difference in `N`, so setup cancels out:
//!
//! ```sh
//! cargo build --profile profiling --example profile_store   # release code with debug info
//! B=target/profiling/examples/profile_store
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null $B /tmp/prof resolve 10000 mapping:key5000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null $B /tmp/prof resolve 110000 mapping:key5000
//! ```
//!
//! Modes: `resolve N KEY` (bounded staleness), `open N`, `upsert N` (durable),
//! `rawupsert N` (rusqlite `INSERT … ON CONFLICT` + commit on a copy, the P4 reference),
//! `strict N` (a strict resolve on a quiet database),
//! `busy N` (a strict resolve after another connection's commit to an unrelated table, target P6),
//! `blocked N` (a strict resolve that applies another store's change to the blocked list, P7),
//! `blockedddl N` (the same, each after another connection's schema change and the full reload
//! it causes, as P7's benchmark pairs them; only the blocked side is timed),
//! `legacy N` (legacy import of 10,000 entries into a fresh database), `rawinsert N` (the floor
//! under that import: the 10,000 rows it writes, prebuilt as text, inserted by rusqlite into a
//! fresh copy of the backend's table in one transaction, 64 rows to a statement, committed).
//! Each prints its wall time per operation too, which is only indicative.

#[path = "../benches/data/mod.rs"]
mod data;

use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use model_mapping::{Store, StoreOptions, Synchronous};

const N: usize = 10_000;

fn legacy_source(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("legacy_source");
    if !src.join("model_mappings.json").exists() {
        data::write_legacy(&src, N);
    }
    src
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(mode), Some(Ok(n))) = (
        args.get(1).map(Path::new),
        args.get(2).map(String::as_str),
        args.get(3).map(|s| s.parse::<usize>()),
    ) else {
        eprintln!("usage: profile_store DIR resolve|open|upsert|rawupsert|legacy N [KEY]");
        return ExitCode::from(2);
    };
    std::fs::create_dir_all(dir).unwrap();
    let db = dir.join("profile_10k.db");
    if !db.exists() {
        Store::open(&db, StoreOptions::default())
            .unwrap()
            .import_items(&data::items(N))
            .unwrap();
    }
    // Reset after each mode's setup, so the printed time is the loop's alone.
    let mut t = Instant::now();
    match mode {
        "resolve" => {
            let key = args.get(4).map_or("key5000", String::as_str);
            let options = StoreOptions {
                max_staleness: Duration::from_secs(3600),
                ..StoreOptions::default()
            };
            let store = Store::open(&db, options).unwrap();
            t = Instant::now();
            for _ in 0..n {
                black_box(store.resolve_model_key(black_box(key)).unwrap());
            }
        }
        "strict" => {
            let store = Store::open(&db, StoreOptions::default()).unwrap();
            t = Instant::now();
            for _ in 0..n {
                black_box(store.resolve_model_key(black_box("key5000")).unwrap());
            }
        }
        "open" => {
            for _ in 0..n {
                drop(black_box(
                    Store::open(&db, StoreOptions::default()).unwrap(),
                ));
            }
        }
        "upsert" => {
            let options = StoreOptions {
                synchronous: Synchronous::Full,
                ..StoreOptions::default()
            };
            let store = Store::open(&db, options).unwrap();
            t = Instant::now();
            for i in 0..n {
                black_box(store.upsert(&data::durable_input(i as u64)).unwrap());
            }
        }
        "rawupsert" => {
            let copy = dir.join("profile_raw.db");
            if !copy.exists() {
                rusqlite::Connection::open(&db)
                    .unwrap()
                    .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                    .unwrap();
            }
            let raw = rusqlite::Connection::open(&copy).unwrap();
            raw.pragma_update(None, "journal_mode", "WAL").unwrap();
            raw.pragma_update(None, "synchronous", "FULL").unwrap();
            t = Instant::now();
            for i in 0..n {
                data::raw_upsert(&raw, (i % N) as u64);
            }
        }
        "legacy" => {
            let src = legacy_source(dir);
            t = Instant::now();
            for _ in 0..n {
                let run = tempfile::tempdir_in(dir).unwrap();
                let storage = run.path().join("storage");
                std::fs::create_dir_all(&storage).unwrap();
                for f in ["model_mappings.json", "blocked_models.json"] {
                    std::fs::copy(src.join(f), storage.join(f)).unwrap();
                }
                let store = Store::open(
                    run.path().join("legacy.db"),
                    StoreOptions::with_storage_dir(&storage),
                )
                .unwrap();
                assert_eq!(store.last_migration().unwrap().imported_count, N);
            }
        }
        "busy" => {
            // target P6: a commit to an unrelated table by another connection (synchronous=OFF
            // here: the profile is about the resolve's instructions, not the disk), then one
            // strict resolve. Only the resolves are timed.
            let host = rusqlite::Connection::open(&db).unwrap();
            host.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; \
                 CREATE TABLE IF NOT EXISTS ai_request_stats (id INTEGER PRIMARY KEY, n INTEGER)",
            )
            .unwrap();
            let store = Store::open(&db, StoreOptions::default()).unwrap();
            let mut spent = Duration::ZERO;
            for i in 0..n {
                host.execute("INSERT INTO ai_request_stats (n) VALUES (?1)", [i as i64])
                    .unwrap();
                let t = Instant::now();
                black_box(store.resolve_model_key(black_box("key5000")).unwrap());
                spent += t.elapsed();
            }
            eprintln!("busy: {:?} per resolve", spent / n.max(1) as u32);
            return ExitCode::SUCCESS;
        }
        "blocked" | "blockedddl" => {
            // target P7: another store blocks or unblocks a model five mappings name, then one
            // strict resolve applies it. Only the resolves are timed. `blockedddl` precedes each
            // with another connection's schema change and the full reload it causes.
            let store = Store::open(&db, StoreOptions::default()).unwrap();
            for i in 0..5 {
                let mut m =
                    model_mapping::MappingInput::new(&format!("mapping:key{i}"), Some("model-few"))
                        .unwrap();
                m.candidates = vec![format!("model-{i}-a")];
                store.upsert(&m).unwrap();
            }
            let other = Store::open(&db, StoreOptions::default()).unwrap();
            let host = rusqlite::Connection::open(&db).unwrap();
            let mut spent = Duration::ZERO;
            for i in 0..n {
                if mode == "blockedddl" {
                    host.execute_batch(if i % 2 == 0 {
                        "CREATE TABLE IF NOT EXISTS profile_scratch (x)"
                    } else {
                        "DROP TABLE IF EXISTS profile_scratch"
                    })
                    .unwrap();
                    black_box(store.resolve_model_key(black_box("key77")).unwrap());
                }
                other
                    .update_blocked(&[("model-few".to_string(), i % 2 == 0)])
                    .unwrap();
                let t = Instant::now();
                black_box(store.resolve_model_key(black_box("key2")).unwrap());
                spent += t.elapsed();
            }
            eprintln!("{mode}: {:?} per resolve", spent / n.max(1) as u32);
            return ExitCode::SUCCESS;
        }
        "rawinsert" => {
            // Only the transaction is timed: creating the file and closing it are not the
            // import's inserts.
            let rows = data::import_rows(&legacy_source(dir));
            let mut spent = Duration::ZERO;
            for _ in 0..n {
                let run = tempfile::tempdir_in(dir).unwrap();
                spent += data::raw_insert(&run.path().join("floor.db"), &rows);
            }
            eprintln!("rawinsert: {:?} per transaction", spent / n.max(1) as u32);
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("profile_store: unknown mode {other:?}");
            return ExitCode::from(2);
        }
    }
    eprintln!("{mode}: {:?} per operation", t.elapsed() / n.max(1) as u32);
    ExitCode::SUCCESS
}

//! Criterion benchmarks for target P1, P4, P5, P6 and P7 and the change feed's costs (Rust side). Every ratio compares two
//! measurements taken in the same run; `scripts/bench-report.py` prints them.
//!
//! `cargo bench --bench store` (full) · `cargo test --benches` (each once, for CI)
//!
//! Criterion measures one benchmark after another, so a burst of load from another user of a
//! shared machine (or a slow minute of the disk's fsync) can land on a variant and not on its
//! reference (or the reverse). P1 and P4's durable upsert are therefore also measured *paired*:
//! the reference and the variant alternate in short blocks within one loop and the ratio is the
//! median of the per-round ratios. Those results go to `target/criterion/paired.json`, which
//! `scripts/bench-report.py` judges P1 and the durable upsert on.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use model_mapping::{Mapping, MappingInput, MessageRequest, Store, StoreOptions, Synchronous};
use serde_json::{json, Value};

mod data;

use data::{durable_input, items, raw_upsert, raw_upsert_in};

const SIZES: [usize; 2] = [1_000, 10_000];

/// A database with `n` mappings, a `global:global`, and `model-0-a` blocked.
fn populated(dir: &Path, n: usize) -> std::path::PathBuf {
    let path = dir.join(format!("bench_{n}.db"));
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    store.import_items(&items(n)).unwrap();
    let mut global = MappingInput::new("global:global", Some("gpt-4o-mini")).unwrap();
    global.candidates = vec!["deepseek-chat".into()];
    store.upsert(&global).unwrap();
    store.update_blocked(&[("model-0-a".into(), true)]).unwrap();
    path
}

fn legacy_dir(dir: &Path, n: usize) -> std::path::PathBuf {
    let storage = dir.join(format!("legacy_{n}"));
    data::write_legacy(&storage, n);
    storage
}

/// Paired results, written to `target/criterion/paired.json` after each group.
static PAIRED: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());

/// Whether this is `cargo bench` (criterion gets `--bench`) rather than `cargo test --benches`.
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Alternates `base` and `var` in blocks of `block` calls for `rounds` rounds (the order flips
/// every round) and records the median per-call time of each and the median per-round ratio.
fn paired(id: &str, block: usize, mut base: impl FnMut(), mut var: impl FnMut()) {
    let rounds = if bench_mode() { 400 } else { 3 };
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..block {
            f();
        }
        t.elapsed().as_nanos() as f64 / block as f64
    };
    for _ in 0..rounds / 10 + 1 {
        time(&mut base);
        time(&mut var);
    }
    let (mut bs, mut vs, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let (b, v) = if r % 2 == 0 {
            let b = time(&mut base);
            (b, time(&mut var))
        } else {
            let v = time(&mut var);
            (time(&mut base), v)
        };
        bs.push(b);
        vs.push(v);
        rs.push(v / b);
    }
    let median = |xs: &mut Vec<f64>| {
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        xs[xs.len() / 2]
    };
    PAIRED.lock().unwrap().insert(
        id.to_string(),
        json!({"baseline_ns": median(&mut bs), "variant_ns": median(&mut vs),
               "ratio": median(&mut rs), "rounds": rounds, "block": block}),
    );
}

/// The cost of an empty `Instant` bracket (median), subtracted from the per-call times of
/// [`paired_prep`].
fn bracket_ns() -> f64 {
    let mut v: Vec<f64> = (0..10_001)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed().as_nanos() as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Like [`paired`], for calls that each need an untimed step first (another connection's
/// commit, a schema change): every call is preceded by its side's `prep`, and only the call
/// itself is timed (the bracket's own cost, measured first, subtracted). Each round runs
/// `block` calls of each side, the order flipping every round; the ratio is the median of the
/// per-round ratios of the mean per-call times (`rounds` in `cargo bench`, 2 in test mode).
#[allow(clippy::too_many_arguments)]
fn paired_prep(
    id: &str,
    block: usize,
    rounds: usize,
    mut base_prep: impl FnMut(),
    mut base: impl FnMut(),
    mut var_prep: impl FnMut(),
    mut var: impl FnMut(),
) {
    let rounds = if bench_mode() { rounds } else { 2 };
    let bracket = bracket_ns();
    let time = |prep: &mut dyn FnMut(), f: &mut dyn FnMut()| {
        let mut ns = 0.0;
        for _ in 0..block {
            prep();
            let t = Instant::now();
            f();
            ns += (t.elapsed().as_nanos() as f64 - bracket).max(1.0);
        }
        ns / block as f64
    };
    // Warm-up: one block of each.
    time(&mut base_prep, &mut base);
    time(&mut var_prep, &mut var);
    let (mut bs, mut vs, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let (b, v) = if r % 2 == 0 {
            let b = time(&mut base_prep, &mut base);
            (b, time(&mut var_prep, &mut var))
        } else {
            let v = time(&mut var_prep, &mut var);
            (time(&mut base_prep, &mut base), v)
        };
        bs.push(b);
        vs.push(v);
        rs.push(v / b);
    }
    let median = |xs: &mut Vec<f64>| {
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        xs[xs.len() / 2]
    };
    PAIRED.lock().unwrap().insert(
        id.to_string(),
        json!({"baseline_ns": median(&mut bs), "variant_ns": median(&mut vs),
               "ratio": median(&mut rs), "rounds": rounds, "block": block,
               "untimed_prep": true, "bracket_ns": bracket}),
    );
}

/// Records a plain median (nanoseconds) in the paired results, e.g. of an untimed step.
fn record_median(id: &str, mut ns: Vec<f64>) {
    if ns.is_empty() {
        return;
    }
    ns.sort_by(|a, b| a.partial_cmp(b).unwrap());
    PAIRED.lock().unwrap().insert(
        id.to_string(),
        json!({"median_ns": ns[ns.len() / 2], "samples": ns.len()}),
    );
}

/// Whether the group function `name` runs: all of them unless `MM_BENCH_GROUPS` names some
/// (comma-separated: `resolve`, `writes`, `busy`, `refresh`, `feed`). A run of some groups
/// adds its paired results to `paired.json` instead of replacing the file.
fn enabled(name: &str) -> bool {
    match std::env::var("MM_BENCH_GROUPS") {
        Ok(list) => list.split(',').any(|g| g.trim() == name),
        Err(_) => true,
    }
}

/// Writes the paired results (`cargo bench` only: a test-mode run must not overwrite them).
fn write_paired() {
    if !bench_mode() {
        return;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("criterion");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("paired.json");
    let mut results = serde_json::Map::new();
    if std::env::var_os("MM_BENCH_GROUPS").is_some() {
        if let Some(Value::Object(old)) = std::fs::read(&file)
            .ok()
            .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
            .and_then(|mut v| v.get_mut("results").map(Value::take))
        {
            results = old;
        }
    }
    for (k, v) in PAIRED.lock().unwrap().iter() {
        results.insert(k.clone(), v.clone());
    }
    let doc = json!({ "results": results });
    std::fs::write(file, doc.to_string()).unwrap();
}

fn resolve(c: &mut Criterion) {
    if !enabled("resolve") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for n in SIZES {
        let path = populated(dir.path(), n);
        let key_hit = format!("key{}", n / 2);
        let key_prefixed = format!("tenant:key{}", n / 2);

        // P1 (strict): every read checks PRAGMA data_version; the reference is that query alone.
        let strict = Store::open(&path, StoreOptions::default()).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut g = c.benchmark_group(format!("p1_strict/{n}"));
        g.bench_function("pragma_data_version", |b| {
            b.iter(|| {
                let v: i64 = conn
                    .prepare_cached("PRAGMA data_version")
                    .unwrap()
                    .query_row([], |r| r.get(0))
                    .unwrap();
                black_box(v)
            })
        });
        bench_keys(&mut g, &strict, &key_hit, &key_prefixed);
        g.finish();

        // P1 (bounded staleness): the reference is a plain HashMap<String, _> lookup.
        let opts = StoreOptions {
            max_staleness: Duration::from_secs(3600),
            ..StoreOptions::default()
        };
        let bounded = Store::open(&path, opts).unwrap();
        let map: HashMap<String, Arc<Mapping>> = bounded
            .list(None, None)
            .unwrap()
            .into_iter()
            .map(|m| (m.scope_key.clone(), m))
            .collect();
        let mut g = c.benchmark_group(format!("p1_bounded/{n}"));
        g.bench_function("hashmap_lookup", |b| {
            b.iter(|| black_box(map.contains_key(black_box(key_hit.as_str()))))
        });
        bench_keys(&mut g, &bounded, &key_hit, &key_prefixed);
        g.finish();

        // P1 paired: each variant alternating with its reference in one loop.
        let keys = [
            ("resolve_hit", key_hit.as_str()),
            ("resolve_prefixed_hit", key_prefixed.as_str()),
            ("resolve_miss", "llama3:8b"),
            ("resolve_blocked_default", "key0"),
        ];
        for (name, key) in keys {
            paired(
                &format!("p1_strict/{n}/{name}"),
                200,
                || {
                    let v: i64 = conn
                        .prepare_cached("PRAGMA data_version")
                        .unwrap()
                        .query_row([], |r| r.get(0))
                        .unwrap();
                    black_box(v);
                },
                || {
                    black_box(strict.resolve_model_key(black_box(key)).unwrap());
                },
            );
            paired(
                &format!("p1_bounded/{n}/{name}"),
                5000,
                || {
                    black_box(map.contains_key(black_box(key_hit.as_str())));
                },
                || {
                    black_box(bounded.resolve_model_key(black_box(key)).unwrap());
                },
            );
        }

        let mut g = c.benchmark_group(format!("reads/{n}"));
        let user = "7".to_string();
        g.bench_function("resolve_for_message_strict", |b| {
            let req = MessageRequest {
                user_id: Some(&user),
                mapping_key: Some(&key_hit),
                ..Default::default()
            };
            b.iter(|| black_box(strict.resolve_for_message(&req).unwrap()))
        });
        g.bench_function("explain_strict", |b| {
            b.iter(|| black_box(strict.explain(&key_hit).unwrap()))
        });
        g.sample_size(20);
        g.bench_function("list_all", |b| {
            b.iter(|| black_box(strict.list(None, None).unwrap().len()))
        });
        g.finish();
    }
    write_paired();
}

fn bench_keys(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    store: &Store,
    hit: &str,
    prefixed: &str,
) {
    g.bench_function("resolve_hit", |b| {
        b.iter(|| black_box(store.resolve_model_key(black_box(hit)).unwrap()))
    });
    g.bench_function("resolve_prefixed_hit", |b| {
        b.iter(|| black_box(store.resolve_model_key(black_box(prefixed)).unwrap()))
    });
    g.bench_function("resolve_miss", |b| {
        b.iter(|| black_box(store.resolve_model_key(black_box("llama3:8b")).unwrap()))
    });
    g.bench_function("resolve_blocked_default", |b| {
        b.iter(|| black_box(store.resolve_model_key(black_box("key0")).unwrap()))
    });
}

fn writes(c: &mut Criterion) {
    if !enabled("writes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path(), 10_000);
    let store = Store::open(
        &path,
        StoreOptions {
            synchronous: Synchronous::Full,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let mut g = c.benchmark_group("p4");
    g.sample_size(30);
    let mut i = 0u64;
    // P4: one durable (synchronous=FULL) committed upsert into a 10,000-row table.
    g.bench_function("durable_upsert_10000", |b| {
        b.iter(|| {
            i += 1;
            black_box(store.upsert(&durable_input(i)).unwrap())
        })
    });
    // P4's reference: what the backend pays per row today, one committed upsert per row with
    // the same settings (WAL, synchronous=FULL), on a plain rusqlite connection to a copy of
    // the same 10,000-row database. The library's own durable upsert above is not the baseline
    // P4 names (it also maintains the cache).
    let raw_path = dir.path().join("raw_upsert.db");
    {
        let src = rusqlite::Connection::open(&path).unwrap();
        src.execute("VACUUM INTO ?1", [raw_path.to_str().unwrap()])
            .unwrap();
    }
    let raw = rusqlite::Connection::open(&raw_path).unwrap();
    raw.pragma_update(None, "journal_mode", "WAL").unwrap();
    raw.pragma_update(None, "synchronous", "FULL").unwrap();
    let mut j = 0u64;
    g.bench_function("rusqlite_upsert_commit_10000", |b| {
        b.iter(|| {
            j += 1;
            raw_upsert(&raw, j % 10_000);
        })
    });
    // P4 paired: the disk's fsync latency drifts over seconds, so criterion's one-after-the-
    // other medians can compare a slow minute with a fast one. Alternate the two upserts one
    // call at a time and judge the median of the per-round ratios.
    let mut k = 0u64;
    paired(
        "p4/durable_upsert_vs_rusqlite",
        1,
        || {
            k += 1;
            raw_upsert(&raw, k % 10_000);
        },
        || {
            i += 1;
            black_box(store.upsert(&durable_input(i)).unwrap());
        },
    );
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    let data = items(10_000);
    g.bench_function("bulk_import_10000", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().unwrap();
                let s = Store::open(d.path().join("b.db"), StoreOptions::default()).unwrap();
                (d, s)
            },
            |(d, s)| {
                black_box(s.import_items(&data).unwrap());
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });
    let legacy = legacy_dir(dir.path(), 10_000);
    g.bench_function("legacy_import_10000", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().unwrap();
                let storage = d.path().join("storage");
                std::fs::create_dir_all(&storage).unwrap();
                for f in ["model_mappings.json", "blocked_models.json"] {
                    std::fs::copy(legacy.join(f), storage.join(f)).unwrap();
                }
                (d, storage)
            },
            |(d, storage)| {
                let s = Store::open(
                    d.path().join("l.db"),
                    StoreOptions::with_storage_dir(&storage),
                )
                .unwrap();
                assert_eq!(s.last_migration().unwrap().imported_count, 10_000);
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });
    // P4's floor: the same 10,000 rows the import writes (the library's own plan of the
    // legacy file), prebuilt as text, inserted by rusqlite into a fresh copy of the backend's
    // table in one transaction, 64 to a statement, commit included. Only the transaction is
    // timed (creating the file is not an insert); the import above is timed whole.
    let floor_rows = data::import_rows(&legacy);
    g.bench_function("sqlite_floor_insert_10000", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let d = tempfile::tempdir().unwrap();
                spent += data::raw_insert(&d.path().join("floor.db"), &floor_rows);
            }
            spent
        })
    });
    g.finish();
    // P4 paired: the legacy import (open of a fresh store with the storage dir, timed whole)
    // and the floor's transaction alternate one at a time, the order flipping every round.
    {
        let rounds = if bench_mode() { 12 } else { 1 };
        let import = || {
            let d = tempfile::tempdir().unwrap();
            let storage = d.path().join("storage");
            std::fs::create_dir_all(&storage).unwrap();
            for f in ["model_mappings.json", "blocked_models.json"] {
                std::fs::copy(legacy.join(f), storage.join(f)).unwrap();
            }
            let t = Instant::now();
            let s = Store::open(
                d.path().join("l.db"),
                StoreOptions::with_storage_dir(&storage),
            )
            .unwrap();
            let spent = t.elapsed().as_nanos() as f64;
            assert_eq!(s.last_migration().unwrap().imported_count, 10_000);
            assert!(
                s.health().unwrap().triggers,
                "the import leaves the feed in place"
            );
            spent
        };
        let floor = || {
            let d = tempfile::tempdir().unwrap();
            data::raw_insert(&d.path().join("floor.db"), &floor_rows).as_nanos() as f64
        };
        let (mut is, mut fs, mut rs) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..rounds {
            let (i, f) = if r % 2 == 0 {
                let i = import();
                (i, floor())
            } else {
                let f = floor();
                (import(), f)
            };
            is.push(i);
            fs.push(f);
            rs.push(i / f);
        }
        let median = |xs: &mut Vec<f64>| {
            xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
            xs[xs.len() / 2]
        };
        PAIRED.lock().unwrap().insert(
            "p4/legacy_import_vs_floor".into(),
            json!({"baseline_ns": median(&mut fs), "variant_ns": median(&mut is),
                   "ratio": median(&mut rs), "rounds": rounds, "block": 1}),
        );
    }

    // P5: opening a store on 10,000 rows (schema check, tenant scan, full load).
    let mut g = c.benchmark_group("p5");
    g.sample_size(20);
    // The store is dropped (connection closed, snapshot freed) outside the timed section:
    // P5 is about opening.
    g.bench_function(BenchmarkId::new("open", 10_000), |b| {
        b.iter_with_large_drop(|| Store::open(&path, StoreOptions::default()).unwrap())
    });
    g.finish();
    write_paired();
}

/// The host's per-request table, in the same file as the mappings (the backend commits a row
/// to it on every chat request).
const HOST_TABLE: &str = "CREATE TABLE IF NOT EXISTS ai_request_stats (\
     id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT, prompt_tokens INTEGER, \
     completion_tokens INTEGER, created_at TEXT)";

/// The host's connection: WAL, SQLite's default `synchronous` (FULL), autocommit.
fn host_conn(path: &Path) -> rusqlite::Connection {
    let host = rusqlite::Connection::open(path).unwrap();
    host.pragma_update(None, "journal_mode", "WAL").unwrap();
    host.busy_timeout(Duration::from_secs(5)).unwrap();
    host.execute_batch(HOST_TABLE).unwrap();
    host
}

/// One committed row in `ai_request_stats` (what the backend does per chat request).
fn host_commit(host: &rusqlite::Connection, i: u64) {
    host.prepare_cached(
        "INSERT INTO ai_request_stats (model, prompt_tokens, completion_tokens, created_at) \
         VALUES (?1, ?2, ?3, ?4)",
    )
    .unwrap()
    .execute((
        "gpt-4o-mini",
        i as i64 % 900,
        i as i64 % 300,
        model_mapping::timestamp::now(),
    ))
    .unwrap();
}

/// target P6: strict `resolve_model_key` with the host committing one row to an unrelated table
/// of the same file before every call, against the same resolve on a quiet database, paired.
/// Only the resolve is timed; the host's commit is timed on its own (`host_commit`).
fn busy(_c: &mut Criterion) {
    if !enabled("busy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for n in SIZES {
        let path = populated(dir.path(), n);
        let host = host_conn(&path);
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        let key = format!("key{}", n / 2);
        let want = format!("model-{}-a", n / 2);
        let before = store.health().unwrap();
        let mut i = 0u64;
        let commits = std::cell::RefCell::new(Vec::new());
        let (mut quiet_calls, mut busy_calls) = (0u64, 0u64);
        paired_prep(
            &format!("p6_busy/{n}/resolve_after_host_commit"),
            20,
            150,
            || {},
            || {
                quiet_calls += 1;
                let r = store.resolve_model_key(black_box(&key)).unwrap();
                assert_eq!(r.resolved_model(), Some(want.as_str()));
            },
            || {
                i += 1;
                let t = Instant::now();
                host_commit(&host, i);
                commits.borrow_mut().push(t.elapsed().as_nanos() as f64);
            },
            || {
                busy_calls += 1;
                let r = store.resolve_model_key(black_box(&key)).unwrap();
                assert_eq!(r.resolved_model(), Some(want.as_str()));
            },
        );
        record_median(&format!("p6_busy/{n}/host_commit"), commits.into_inner());
        // The host's commits moved data_version but not the feed: no reload of either kind.
        let after = store.health().unwrap();
        assert_eq!(
            after.full_reloads, before.full_reloads,
            "P6: a full reload happened"
        );
        assert_eq!(
            after.incremental_refreshes, before.incremental_refreshes,
            "P6: an incremental refresh happened"
        );
        assert!(quiet_calls > 0 && busy_calls > 0);
        // References that split the busy resolve's cost: after the host's commit without its
        // fsync (a connection with `synchronous=OFF`), and after an fsync of a scratch file
        // beside the database (the wait of a durable commit without any commit).
        let nosync = host_conn(&path);
        nosync.pragma_update(None, "synchronous", "OFF").unwrap();
        let mut scratch = std::fs::File::create(dir.path().join(format!("scratch_{n}"))).unwrap();
        let mut j = 0u64;
        for (name, fsync) in [
            ("resolve_after_host_commit_without_fsync", false),
            ("resolve_after_unrelated_fsync", true),
        ] {
            paired_prep(
                &format!("p6_busy/{n}/{name}"),
                20,
                150,
                || {},
                || {
                    black_box(store.resolve_model_key(black_box(&key)).unwrap());
                },
                || {
                    j += 1;
                    if fsync {
                        use std::io::{Seek, Write};
                        scratch.rewind().unwrap();
                        scratch.write_all(&[b'x'; 4096]).unwrap();
                        scratch.sync_all().unwrap();
                    } else {
                        host_commit(&nosync, j);
                    }
                },
                || {
                    black_box(store.resolve_model_key(black_box(&key)).unwrap());
                },
            );
        }
    }
    write_paired();
}

/// A 10,000-mapping database for P7: `populated`, and `model-few` the default of five
/// mappings (`key0`..`key4`, each with its own `model-<i>-a` as a candidate).
fn p7_db(dir: &Path) -> PathBuf {
    let path = populated(dir, 10_000);
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    for i in 0..5 {
        let mut m = MappingInput::new(&format!("mapping:key{i}"), Some("model-few")).unwrap();
        m.candidates = vec![format!("model-{i}-a")];
        store.upsert(&m).unwrap();
    }
    path
}

/// target P7: the next strict resolve after another connection changed one mapping among 10,000
/// (applied incrementally), against the next resolve after another connection changed the
/// schema (an unrelated table created or dropped: the store reloads the whole table, its
/// `full_reload` path, then resolves), paired, one of each per round. Likewise a change to the
/// blocked list (another store blocks or unblocks a model that five mappings name). The
/// refresh kinds are checked through `health()`: each side did what it is named for.
fn refresh(_c: &mut Criterion) {
    if !enabled("refresh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = p7_db(dir.path());
    let host = host_conn(&path);
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    let other = Store::open(&path, StoreOptions::default()).unwrap();
    let mut scratch = false;
    let schema_change = |scratch: &mut bool| {
        let sql = if *scratch {
            "DROP TABLE bench_scratch"
        } else {
            "CREATE TABLE bench_scratch (x)"
        };
        host.execute_batch(sql).unwrap();
        *scratch = !*scratch;
    };
    let scratch = std::cell::RefCell::new(&mut scratch);
    let expected = std::cell::RefCell::new(String::new());
    let full = || {
        let r = store.resolve_model_key(black_box("key77")).unwrap();
        black_box(r);
    };

    // One mapping changed by the host's plain SQL.
    let h0 = store.health().unwrap();
    let mut k = 0u64;
    let rounds = 40;
    paired_prep(
        "p7_refresh/one_mapping_vs_full_reload",
        1,
        rounds,
        || schema_change(&mut scratch.borrow_mut()),
        full,
        || {
            k += 1;
            let model = format!("model-p7-{}", k % 2);
            host.execute(
                "UPDATE llm_model_mappings SET default_model = ?1, updated_at = ?2 \
                 WHERE id = 'mapping:key77'",
                (&model, model_mapping::timestamp::now()),
            )
            .unwrap();
            *expected.borrow_mut() = model;
        },
        || {
            let r = store.resolve_model_key(black_box("key77")).unwrap();
            assert_eq!(r.resolved_model(), Some(expected.borrow().as_str()));
        },
    );
    let h1 = store.health().unwrap();
    let calls = if bench_mode() { rounds as u64 + 1 } else { 3 };
    assert_eq!(h1.incremental_refreshes - h0.incremental_refreshes, calls);
    assert_eq!(h1.full_reloads - h0.full_reloads, calls);

    // The blocked list changed by another store (another worker).
    let mut b = 0u64;
    paired_prep(
        "p7_refresh/blocked_list_vs_full_reload",
        1,
        rounds,
        || schema_change(&mut scratch.borrow_mut()),
        full,
        || {
            b += 1;
            let block = b % 2 == 1;
            other
                .update_blocked(&[("model-few".to_string(), block)])
                .unwrap();
            *expected.borrow_mut() = if block { "model-2-a" } else { "model-few" }.to_string();
        },
        || {
            let r = store.resolve_model_key(black_box("key2")).unwrap();
            assert_eq!(r.resolved_model(), Some(expected.borrow().as_str()));
        },
    );
    let h2 = store.health().unwrap();
    assert_eq!(h2.incremental_refreshes - h1.incremental_refreshes, calls);
    assert_eq!(h2.full_reloads - h1.full_reloads, calls);
    write_paired();
}

/// A copy of `src` (`VACUUM INTO`, so the copy has the feed's triggers too), optionally without
/// the feed's triggers, on a connection with WAL and `synchronous=FULL`.
fn copy_conn(src: &Path, dst: &Path, drop_triggers: bool) -> rusqlite::Connection {
    {
        let c = rusqlite::Connection::open(src).unwrap();
        c.execute("VACUUM INTO ?1", [dst.to_str().unwrap()])
            .unwrap();
    }
    let c = rusqlite::Connection::open(dst).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    let triggers: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'mm_feed_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        triggers.len(),
        8,
        "the source has the feed's eight triggers"
    );
    if drop_triggers {
        for t in triggers {
            c.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
        }
    }
    c
}

/// The backend's upsert (`raw_upsert`) plus one extra row insert in the same transaction: an
/// after-image of the row into `mm_changes`, what "no more than one extra row insert" allows.
fn raw_upsert_plus_one_insert(raw: &rusqlite::Connection, key: u64) {
    let tx = raw.unchecked_transaction().unwrap();
    raw_upsert_in(&tx, key);
    tx.prepare_cached(
        "INSERT INTO mm_changes (op, new_rowid, n_id, n_scope_type, n_scope_key, n_name, \
         n_default_model, n_candidates_json, n_is_active, n_updated_at, n_metadata_json) \
         SELECT 'update', rowid, id, scope_type, scope_key, name, default_model, \
         candidates_json, is_active, updated_at, metadata_json \
         FROM llm_model_mappings WHERE id = ?1",
    )
    .unwrap()
    .execute([format!("mapping:key{key}")])
    .unwrap();
    tx.commit().unwrap();
}

/// The change feed's costs (issue 15: "history costs the resolve path nothing and a write no
/// more than one extra row insert"):
/// - the backend's upsert (`INSERT ... ON CONFLICT DO UPDATE` + commit, `synchronous=FULL`) on
///   a copy of a 10,000-row database with the feed's triggers, against the same upsert on a
///   copy without them, and against that upsert plus one extra row insert; then the same pairs
///   with `synchronous=OFF` (no fsync: the CPU cost alone);
/// - a strict resolve with the feed in place against one on the same data with the feed's
///   triggers dropped by another connection (quiet database: the read path touches the feed
///   only when `data_version` moves);
/// - a strict resolve after a host commit to an unrelated table, on a database whose change
///   log holds 10,000 entries of history against one whose log is empty.
fn feed_costs(_c: &mut Criterion) {
    if !enabled("feed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path(), 10_000);
    let with = copy_conn(&path, &dir.path().join("with.db"), false);
    let without = copy_conn(&path, &dir.path().join("without.db"), true);
    let plus = copy_conn(&path, &dir.path().join("plus.db"), true);
    let (mut a, mut b) = (0u64, 0u64);
    for (sync, rounds) in [("FULL", 400), ("OFF", 400)] {
        for c in [&with, &without, &plus] {
            c.pragma_update(None, "synchronous", sync).unwrap();
        }
        let label = if sync == "FULL" { "durable" } else { "nosync" };
        paired(
            &format!("feed_write/{label}_upsert_triggers_vs_none"),
            1,
            || {
                a += 1;
                raw_upsert(&without, a % 10_000);
            },
            || {
                b += 1;
                raw_upsert(&with, b % 10_000);
            },
        );
        paired(
            &format!("feed_write/{label}_upsert_triggers_vs_one_extra_insert"),
            1,
            || {
                a += 1;
                raw_upsert_plus_one_insert(&plus, a % 10_000);
            },
            || {
                b += 1;
                raw_upsert(&with, b % 10_000);
            },
        );
        let _ = rounds;
    }
    // Each upsert on `with` was logged (one row each), none on `without`.
    let logged = |c: &rusqlite::Connection| -> i64 {
        c.query_row(
            "SELECT count(*) FROM mm_changes WHERE op = 'update' AND source = 'external'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(logged(&with) as u64, b);
    assert_eq!(logged(&without), 0);
    drop((with, without, plus));

    // History and the resolve path, quiet: the feed in place (with 10,000 entries of history
    // written by the host's SQL) against the same data with the triggers dropped.
    let hist = dir.path().join("history.db");
    let nofeed = dir.path().join("nofeed.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "BEGIN; UPDATE llm_model_mappings SET updated_at = updated_at || '' \
             WHERE scope_type = 'mapping'; COMMIT;",
        )
        .unwrap();
        c.execute("VACUUM INTO ?1", [hist.to_str().unwrap()])
            .unwrap();
        c.execute("VACUUM INTO ?1", [nofeed.to_str().unwrap()])
            .unwrap();
    }
    let with_feed = Store::open(&hist, StoreOptions::default()).unwrap();
    let without_feed = Store::open(&nofeed, StoreOptions::default()).unwrap();
    let log_len: i64 = rusqlite::Connection::open(&hist)
        .unwrap()
        .query_row("SELECT count(*) FROM mm_changes", [], |r| r.get(0))
        .unwrap();
    assert!(log_len >= 10_000, "history of 10,000 changes: {log_len}");
    {
        let c = rusqlite::Connection::open(&nofeed).unwrap();
        for t in [
            "mm_feed_mappings_bi",
            "mm_feed_mappings_ai",
            "mm_feed_mappings_bu",
            "mm_feed_mappings_au",
            "mm_feed_mappings_ad",
            "mm_feed_blocked_ai",
            "mm_feed_blocked_au",
            "mm_feed_blocked_ad",
        ] {
            c.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
        }
    }
    // The store notices once (one full reload) and serves from then on without the feed. The
    // store with the feed sees the same kind of commit (a schema change by another connection:
    // an unrelated table created and dropped) and reloads once too, so both files and both
    // stores went through the same steps.
    {
        let c = rusqlite::Connection::open(&hist).unwrap();
        c.execute_batch("CREATE TABLE bench_scratch (x); DROP TABLE bench_scratch;")
            .unwrap();
    }
    with_feed.resolve_model_key("key5000").unwrap();
    without_feed.resolve_model_key("key5000").unwrap();
    assert!(!without_feed.health().unwrap().triggers);
    assert!(with_feed.health().unwrap().triggers);
    // A/A control: a second store with the feed, on a third copy that went through the same
    // steps, against the first.
    let hist2 = dir.path().join("history2.db");
    {
        let c = rusqlite::Connection::open(&hist).unwrap();
        c.execute("VACUUM INTO ?1", [hist2.to_str().unwrap()])
            .unwrap();
    }
    let with_feed2 = Store::open(&hist2, StoreOptions::default()).unwrap();
    {
        let c = rusqlite::Connection::open(&hist2).unwrap();
        c.execute_batch("CREATE TABLE bench_scratch (x); DROP TABLE bench_scratch;")
            .unwrap();
    }
    with_feed2.resolve_model_key("key5000").unwrap();
    paired(
        "feed_read/quiet_resolve_feed_vs_feed_aa_control",
        200,
        || {
            black_box(with_feed2.resolve_model_key(black_box("key5000")).unwrap());
        },
        || {
            black_box(with_feed.resolve_model_key(black_box("key5000")).unwrap());
        },
    );
    paired(
        "feed_read/quiet_resolve_feed_vs_none",
        200,
        || {
            black_box(
                without_feed
                    .resolve_model_key(black_box("key5000"))
                    .unwrap(),
            );
        },
        || {
            black_box(with_feed.resolve_model_key(black_box("key5000")).unwrap());
        },
    );

    // History and the resolve path, busy: a host commit before each resolve, on the database
    // with 10,000 log entries against a copy whose log was emptied.
    let empty = dir.path().join("emptylog.db");
    {
        let c = rusqlite::Connection::open(&hist).unwrap();
        c.execute("VACUUM INTO ?1", [empty.to_str().unwrap()])
            .unwrap();
        let e = rusqlite::Connection::open(&empty).unwrap();
        e.execute_batch("DELETE FROM mm_changes").unwrap();
    }
    let empty_log = Store::open(&empty, StoreOptions::default()).unwrap();
    let host_hist = host_conn(&hist);
    let host_empty = host_conn(&empty);
    let (mut i, mut j) = (0u64, 0u64);
    paired_prep(
        "feed_read/busy_resolve_history_vs_empty_log",
        20,
        100,
        || {
            i += 1;
            host_commit(&host_empty, i);
        },
        || {
            black_box(empty_log.resolve_model_key(black_box("key5000")).unwrap());
        },
        || {
            j += 1;
            host_commit(&host_hist, j);
        },
        || {
            black_box(with_feed.resolve_model_key(black_box("key5000")).unwrap());
        },
    );
    write_paired();
}

criterion_group!(benches, resolve, writes, busy, refresh, feed_costs);
criterion_main!(benches);

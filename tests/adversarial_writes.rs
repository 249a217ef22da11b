//! Adversarial probes of the write path and of concurrent use (behaviour B13): a store's own
//! writes (`upsert`, `delete`, `update_blocked`, `import_items`, `apply_snapshot`, `undo`,
//! `migrate_legacy`) interleaved with the host's plain-SQL writes, DDL (triggers dropped and
//! re-created, the mapping table rebuilt under its name) and log resets
//! (`DELETE FROM mm_changes` and its `sqlite_sequence` row); then several threads of one store
//! reading strictly while another writes and a host connection does all of the above.
//!
//! After each write returns, the writing store must show it; at every quiescent point every
//! store must show exactly what a plain SQL reading of the tables gives. Randomness is seeded
//! (a xorshift generator, no crate) so a failure reproduces; the seed is in the message.
//!
//! Three tests are ignored and record a limit of the design (README, "Coherence"): after the
//! log and its `sqlite_sequence` row are deleted, a counter brought back to exactly the seq a
//! store's snapshot stands at — by the host's writes, another store's writes, or both — is not
//! seen by that store until the next change: the read path's probe reads the counter alone,
//! not the entry under it (that would double the cost of every read; the entry is compared on
//! the precise path, which any other outcome of a reset reaches). The writing store itself is
//! right (its write catches up inside its transaction).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use common::{
    drop_feed_triggers_sql, feed_counter, fresh, input, RawRow, FEED_TRIGGERS_SQL, RESET_LOG,
};
use model_mapping::Store;
use rusqlite::Connection;
use serde_json::json;

/// A small seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the tables hold, read with plain SQL: id → default model (every row these tests
/// write is canonical, one row per id), and the blocked list.
#[derive(Debug, PartialEq, Eq, Clone)]
struct View {
    mappings: BTreeMap<String, Option<String>>,
    blocked: Vec<String>,
}

fn truth(conn: &Connection) -> View {
    let mut stmt = conn
        .prepare("SELECT id, default_model FROM llm_model_mappings")
        .unwrap();
    let mappings = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT model FROM mm_blocked_models ORDER BY model")
        .unwrap();
    let blocked = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    View { mappings, blocked }
}

/// What a store serves, by `list` (and `get` of every id the table or the store knows).
fn served(store: &Store, also: &View) -> View {
    let mappings: BTreeMap<String, Option<String>> = store
        .list(None, None)
        .unwrap()
        .iter()
        .map(|m| (m.id.clone(), m.default_model.clone()))
        .collect();
    for id in mappings.keys().chain(also.mappings.keys()) {
        let got = store.get(id).unwrap().map(|m| m.default_model.clone());
        let listed = mappings.get(id).cloned();
        assert_eq!(got, listed, "get({id}) disagrees with list()");
    }
    View {
        mappings,
        blocked: store.blocked_models().unwrap(),
    }
}

fn assert_coherent(conn: &Connection, stores: &[&Store], what: &str) {
    let want = truth(conn);
    for (i, s) in stores.iter().enumerate() {
        assert_eq!(served(s, &want), want, "store {i}: {what}");
    }
}

fn model_of(store: &Store, id: &str) -> Option<String> {
    store.get(id).unwrap().and_then(|m| m.default_model.clone())
}

/// [`model_of`] for the threads: an error reads as `err:...` (a panic there would leave the
/// others waiting at a barrier).
fn model_or_err(store: &Store, id: &str) -> String {
    match store.get(id) {
        Ok(m) => m.and_then(|m| m.default_model.clone()).unwrap_or_default(),
        Err(e) => format!("err:{e}"),
    }
}

fn host_set(conn: &Connection, id: &str, model: &str) {
    let key = id.strip_prefix("mapping:").unwrap();
    let n = conn
        .execute(
            "UPDATE llm_model_mappings SET default_model = ?2 WHERE id = ?1",
            [id, model],
        )
        .unwrap();
    if n == 0 {
        RawRow::new(id, "mapping", key)
            .default_model(model)
            .insert(conn);
    }
}

fn drop_triggers(conn: &Connection) {
    conn.execute_batch(&drop_feed_triggers_sql()).unwrap();
}

/// Rebuilds `llm_model_mappings` under its name in one commit (rename, create from the same
/// SQL, copy, drop the old one): the triggers go with the old table.
fn rebuild_table(conn: &Connection) {
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'llm_model_mappings'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         ALTER TABLE llm_model_mappings RENAME TO mm_rebuild_old;
         {sql};
         INSERT INTO llm_model_mappings SELECT * FROM mm_rebuild_old;
         DROP TABLE mm_rebuild_old;
         COMMIT;"
    ))
    .unwrap();
}

/// The host resets the log, then changes `mapping:x` until the counter reads `target` again.
fn reset_and_climb_to(host: &Connection, target: i64, prefix: &str) {
    host.execute_batch(RESET_LOG).unwrap();
    let mut n = 0;
    while feed_counter(host) < target {
        host_set(host, "mapping:x", &format!("{prefix}{n}"));
        n += 1;
    }
    assert_eq!(feed_counter(host), target);
}

// ---- a log restart that brings the counter back to the snapshot's ----

/// The host resets the log and changes a row until the counter reads exactly what the store's
/// snapshot stands at: a strict read must see the changes (the reset and the climb are
/// ordinary commits, no bookkeeping rewritten inside a changing transaction).
#[test]
#[ignore = "a log reset climbing back to exactly a snapshot's counter is not seen by the one-statement check (a documented limit); kept to record the outcome"]
fn a_reset_log_climbing_back_to_exactly_the_snapshots_counter_is_seen() {
    let db = fresh();
    let store = db.open();
    for i in 0..4 {
        store
            .upsert(&input("mapping:x", Some(&format!("own{i}")), &[]))
            .unwrap();
    }
    let host = db.sql();
    assert_eq!(model_of(&store, "mapping:x").as_deref(), Some("own3"));
    let at = feed_counter(&host);
    reset_and_climb_to(&host, at, "host");
    assert_coherent(
        &host,
        &[&store],
        "after reset and climb to the same counter",
    );
}

/// Store B's own writes after a host reset bring the counter back to exactly where store A's
/// snapshot stands: A must see B's writes (and B its own).
#[test]
#[ignore = "a log reset climbing back to exactly a snapshot's counter is not seen by the one-statement check (a documented limit); kept to record the outcome"]
fn another_stores_writes_after_a_log_reset_reaching_the_same_counter_are_seen() {
    let db = fresh();
    let a = db.open();
    let b = db.open();
    for i in 0..4 {
        a.upsert(&input("mapping:x", Some(&format!("a{i}")), &[]))
            .unwrap();
    }
    let host = db.sql();
    assert_eq!(model_of(&a, "mapping:x").as_deref(), Some("a3"));
    let at = feed_counter(&host);
    host.execute_batch(RESET_LOG).unwrap();
    let mut i = 0;
    while feed_counter(&host) < at {
        b.upsert(&input("mapping:x", Some(&format!("b{i}")), &[]))
            .unwrap();
        assert_eq!(
            model_of(&b, "mapping:x"),
            Some(format!("b{i}")),
            "B reads its own write"
        );
        i += 1;
    }
    assert_eq!(feed_counter(&host), at);
    assert_coherent(&host, &[&b, &a], "B's writes climbed back to A's counter");
}

/// The store's own write lands the counter, after a host reset and host changes, exactly on
/// the counter of the snapshot the store held before: the write itself catches up inside its
/// transaction, so it and everything before it must be served.
#[test]
#[ignore = "a log reset climbing back to exactly a snapshot's counter is not seen by the one-statement check (a documented limit); kept to record the outcome"]
fn an_own_write_landing_on_the_old_counter_after_a_reset_serves_the_hosts_changes_too() {
    let db = fresh();
    let store = db.open();
    let other = db.open();
    for i in 0..5 {
        store
            .upsert(&input("mapping:x", Some(&format!("own{i}")), &[]))
            .unwrap();
    }
    store.upsert(&input("mapping:y", Some("y0"), &[])).unwrap();
    let host = db.sql();
    assert_coherent(&host, &[&store, &other], "seeded");
    let at = feed_counter(&host);
    reset_and_climb_to(&host, at - 1, "host");
    store.upsert(&input("mapping:y", Some("y1"), &[])).unwrap();
    assert_eq!(feed_counter(&host), at);
    assert_eq!(model_of(&store, "mapping:y").as_deref(), Some("y1"));
    assert_coherent(&host, &[&store, &other], "own write on the old counter");
}

// ---- own writes against host writes, DDL and resets, one thread, seeded ----

/// One step of the sequential interleaving.
fn step(rng: &mut Rng, host: &Connection, stores: &[&Store], n: usize) -> String {
    let ids = ["mapping:a", "mapping:b", "mapping:c", "mapping:d"];
    let id = ids[rng.below(ids.len() as u64) as usize];
    let s = stores[rng.below(stores.len() as u64) as usize];
    let which = if std::ptr::eq(s, stores[0]) { "A" } else { "B" };
    let model = format!("v{n}");
    match rng.below(13) {
        0 | 1 => {
            let got = s.upsert(&input(id, Some(&model), &[])).unwrap();
            assert_eq!(got.default_model.as_deref(), Some(model.as_str()));
            assert_eq!(model_of(s, id), Some(model.clone()), "{which} upsert own");
            format!("{which}.upsert({id}, {model})")
        }
        2 => {
            s.delete(id).unwrap();
            assert_eq!(s.get(id).unwrap(), None, "{which} delete own");
            format!("{which}.delete({id})")
        }
        3 => {
            let m = format!("blk{}", rng.below(3));
            let on = rng.below(2) == 0;
            let list = s.update_blocked(&[(m.clone(), on)]).unwrap();
            assert_eq!(list.contains(&m), on);
            assert_eq!(s.blocked_models().unwrap(), list, "{which} blocked own");
            format!("{which}.update_blocked({m}, {on})")
        }
        4 => {
            let other = ids[rng.below(ids.len() as u64) as usize];
            s.import_items(&[
                json!({"id": id, "default_model": format!("{model}i")}),
                json!({"id": other, "default_model": format!("{model}j")}),
            ])
            .unwrap();
            assert_eq!(model_of(s, other), Some(format!("{model}j")));
            format!("{which}.import_items({id}, {other})")
        }
        5 => {
            s.apply_snapshot(
                &[json!({"id": id, "default_model": format!("{model}s"),
                         "updated_at": "2099-01-01T00:00:00Z"})],
                true,
                rng.below(3) == 0,
            )
            .unwrap();
            assert_eq!(
                model_of(s, id),
                Some(format!("{model}s")),
                "{which} apply own"
            );
            format!("{which}.apply_snapshot({id})")
        }
        6 => {
            let last = s.history(None, None, 1).unwrap();
            match last.first() {
                Some(c) => {
                    let r = s.undo(c.seq, true);
                    format!("{which}.undo({}) -> {}", c.seq, r.is_ok())
                }
                None => format!("{which}.undo(nothing)"),
            }
        }
        7 | 8 => {
            host_set(host, id, &format!("{model}h"));
            format!("host set {id}")
        }
        9 => {
            host.execute("DELETE FROM llm_model_mappings WHERE id = ?1", [id])
                .unwrap();
            format!("host delete {id}")
        }
        10 => {
            host.execute_batch(RESET_LOG).unwrap();
            "host reset log".into()
        }
        11 => {
            drop_triggers(host);
            host_set(host, id, &format!("{model}u"));
            if rng.below(2) == 0 {
                host.execute_batch(FEED_TRIGGERS_SQL).unwrap();
                format!("host unlogged set {id}, triggers back")
            } else {
                format!("host unlogged set {id}, triggers left off")
            }
        }
        _ => {
            rebuild_table(host);
            host_set(host, id, &format!("{model}r"));
            format!("host rebuild table, set {id}")
        }
    }
}

fn run_sequential(seed: u64, steps: usize) {
    let db = fresh();
    let a = db.open();
    let b = db.open();
    let host = db.sql();
    let mut rng = Rng::new(seed);
    let mut trail = Vec::new();
    for n in 0..steps {
        trail.push(step(&mut rng, &host, &[&a, &b], n));
        let tail = trail[trail.len().saturating_sub(6)..].join("; ");
        assert_coherent(
            &host,
            &[&a, &b],
            &format!("seed {seed}, step {n}, last: {tail}"),
        );
    }
}

/// Own writes of every kind by two stores, interleaved with host writes, log resets, trigger
/// drops and table rebuilds, checked against plain SQL after every step.
#[test]
fn own_writes_of_two_stores_interleaved_with_host_writes_resets_and_ddl_stay_coherent() {
    for seed in 1..=6 {
        run_sequential(seed, 60);
    }
}

/// A store that wrote `mapping:x` `writes` times and then deleted it (so the log holds that
/// history and the table nothing), checked against the table.
fn emptied_store(writes: usize) -> (common::Db, Store) {
    let db = fresh();
    let store = db.open();
    for i in 0..writes {
        store
            .upsert(&input("mapping:x", Some(&format!("own{i}")), &[]))
            .unwrap();
    }
    store.delete("mapping:x").unwrap();
    assert_coherent(&db.sql(), &[&store], "emptied");
    (db, store)
}

/// A legacy `model_mappings.json` with one `tenant` entry in the store's storage dir.
fn legacy_file(db: &common::Db) -> std::path::PathBuf {
    let storage = db.storage();
    std::fs::write(
        storage.join("model_mappings.json"),
        serde_json::to_vec(&json!({"tenant": {"legacy": {"name": "legacy",
            "mapping": {"default_model": "old-model", "candidates": ["old-model"],
                        "is_active": true, "metadata": {}}}}}))
        .unwrap(),
    )
    .unwrap();
    storage
}

/// A legacy migration run after a host reset the store has not read yet: the import's
/// snapshot (taking the store's restart count, not the reset) must not hide what was imported.
#[test]
fn a_legacy_migration_after_an_unseen_log_reset_is_served() {
    let (db, store) = emptied_store(6);
    let host = db.sql();
    let storage = legacy_file(&db);
    host.execute_batch(RESET_LOG).unwrap();
    let report = store.migrate_legacy(&storage, false).unwrap();
    assert_eq!(report.imported_count, 1, "{report:?}");
    assert_eq!(
        model_of(&store, "mapping:legacy").as_deref(),
        Some("old-model")
    );
    assert_coherent(&host, &[&store, &db.open()], "after the migration");
}

/// The same, with the host's blocked-list changes after the reset bringing the counter, with
/// the migration's own entries, exactly to where the store's snapshot stood.
#[test]
fn a_legacy_migration_landing_on_the_old_counter_after_a_reset_is_served() {
    let (db, store) = emptied_store(8);
    let host = db.sql();
    let at = feed_counter(&host);
    let storage = legacy_file(&db);
    // Measure how many entries a migration logs on a scratch copy of the same situation.
    let scratch = fresh();
    drop(scratch.open());
    std::fs::create_dir_all(scratch.storage()).unwrap();
    std::fs::copy(
        storage.join("model_mappings.json"),
        scratch.storage().join("model_mappings.json"),
    )
    .unwrap();
    let sc = scratch.sql();
    sc.execute_batch(RESET_LOG).unwrap();
    scratch
        .open()
        .migrate_legacy(&scratch.storage(), false)
        .unwrap();
    let logged = feed_counter(&sc);
    assert!(logged < at, "{logged} < {at}");
    host.execute_batch(RESET_LOG).unwrap();
    let mut n = 0;
    while feed_counter(&host) < at - logged {
        host.execute(
            "INSERT OR REPLACE INTO mm_blocked_models (model, blocked_at) VALUES (?1, 'x')",
            [format!("pad{n}")],
        )
        .unwrap();
        n += 1;
    }
    store.migrate_legacy(&storage, false).unwrap();
    assert_eq!(
        feed_counter(&host),
        at,
        "the migration landed on the old counter"
    );
    assert_coherent(&host, &[&store, &db.open()], "after the migration");
}

// ---- several threads ----

/// One logged change by the host before a store is compared with the table. With log resets
/// racing the stores' reads, a store may stand exactly where a reset log climbed back to:
/// the documented limit the ignored tests above record, which the next logged change ends.
fn tick(host: &Connection, n: usize) {
    host_set(host, "mapping:tick", &format!("t{n}"));
}

fn run_threads(seed: u64, rounds: usize, per_round: usize) {
    let db = fresh();
    let store = Arc::new(db.open());
    let host = db.sql();
    RawRow::new("mapping:ctr", "mapping", "ctr")
        .default_model("c000000")
        .insert(&host);
    store
        .upsert(&input("mapping:w", Some("w000000"), &[]))
        .unwrap();
    drop(host);
    let readers = 2;
    let barrier = Arc::new(Barrier::new(readers + 2));
    let stop = Arc::new(AtomicBool::new(false));
    let failure = Arc::new(parking_lot::Mutex::new(None::<String>));
    let mut handles = Vec::new();

    for r in 0..readers {
        let (store, barrier, stop, failure) = (
            Arc::clone(&store),
            Arc::clone(&barrier),
            Arc::clone(&stop),
            Arc::clone(&failure),
        );
        handles.push(std::thread::spawn(move || {
            let (mut ctr, mut w) = (String::new(), String::new());
            for round in 0..rounds {
                while !stop.load(Ordering::Acquire) {
                    let c = model_or_err(&store, "mapping:ctr");
                    let ww = model_or_err(&store, "mapping:w");
                    if c.starts_with("err:") || ww.starts_with("err:") {
                        *failure.lock() = Some(format!("seed {seed} reader {r}: {c} {ww}"));
                        continue;
                    }
                    if c < ctr || ww < w {
                        *failure.lock() = Some(format!(
                            "seed {seed} round {round} reader {r}: went back: \
                             ctr {ctr} -> {c}, w {w} -> {ww}"
                        ));
                    }
                    ctr = ctr.max(c);
                    w = w.max(ww);
                }
                barrier.wait(); // quiescent
                barrier.wait(); // checked
            }
        }));
    }
    {
        let (store, barrier, stop, failure) = (
            Arc::clone(&store),
            Arc::clone(&barrier),
            Arc::clone(&stop),
            Arc::clone(&failure),
        );
        handles.push(std::thread::spawn(move || {
            let mut n = 0u32;
            for round in 0..rounds {
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let v = format!("w{n:06}");
                    let res = match n % 4 {
                        0 => store
                            .import_items(&[json!({"id": "mapping:w", "default_model": v})])
                            .map(|_| ()),
                        1 => store
                            .update_blocked(&[(format!("b{}", n % 3), n % 2 == 0)])
                            .and_then(|_| store.upsert(&input("mapping:w", Some(&v), &[])))
                            .map(|_| ()),
                        _ => store.upsert(&input("mapping:w", Some(&v), &[])).map(|_| ()),
                    };
                    if let Err(e) = res {
                        *failure.lock() = Some(format!("seed {seed} writer: {e}"));
                        continue;
                    }
                    let got = model_or_err(&store, "mapping:w");
                    if got != v {
                        *failure.lock() = Some(format!(
                            "seed {seed} round {round} writer: wrote {v}, read back {got}"
                        ));
                    }
                }
                barrier.wait();
                barrier.wait();
            }
        }));
    }

    let mut rng = Rng::new(seed);
    let host = db.sql();
    let other = db.open();
    let mut ctr = 0u32;
    for round in 0..rounds {
        stop.store(false, Ordering::Release);
        for _ in 0..per_round {
            match rng.below(8) {
                0..=2 => {
                    ctr += 1;
                    host_set(&host, "mapping:ctr", &format!("c{ctr:06}"));
                }
                3 => {
                    let k = format!("mapping:h{}", rng.below(4));
                    host_set(&host, &k, &format!("h{round}"));
                }
                4 => host.execute_batch(RESET_LOG).unwrap(),
                5 => {
                    drop_triggers(&host);
                    ctr += 1;
                    host_set(&host, "mapping:ctr", &format!("c{ctr:06}"));
                    host.execute_batch(FEED_TRIGGERS_SQL).unwrap();
                }
                6 => {
                    rebuild_table(&host);
                    ctr += 1;
                    host_set(&host, "mapping:ctr", &format!("c{ctr:06}"));
                }
                _ => {
                    // A reset, then the counter brought back up by the host's own changes.
                    let before = feed_counter(&host);
                    host.execute_batch(RESET_LOG).unwrap();
                    // (Bounded: after a rebuild the triggers stay off until a store writes.)
                    for _ in 0..41 {
                        if feed_counter(&host) > before.min(40) {
                            break;
                        }
                        ctr += 1;
                        host_set(&host, "mapping:ctr", &format!("c{ctr:06}"));
                    }
                }
            }
        }
        stop.store(true, Ordering::Release);
        barrier.wait();
        tick(&host, round);
        let want = truth(&host);
        let got_main = served(&store, &want);
        let got_other = served(&other, &want);
        barrier.wait();
        if let Some(f) = failure.lock().take() {
            stop.store(true, Ordering::Release);
            // Let the others finish their rounds before failing.
            for _ in round + 1..rounds {
                barrier.wait();
                barrier.wait();
            }
            for h in handles {
                h.join().unwrap();
            }
            panic!("{f}");
        }
        assert_eq!(
            got_main, want,
            "seed {seed} round {round}: the shared store"
        );
        assert_eq!(got_other, want, "seed {seed} round {round}: another store");
    }
    for h in handles {
        h.join().unwrap();
    }
    let want = truth(&host);
    assert_eq!(served(&store, &want), want, "seed {seed}: after joining");
}

/// Strict reads on several threads, own writes on another, host writes, resets and DDL on a
/// third: no read goes back, every own write reads back, and every store converges.
#[test]
fn strict_readers_a_writer_and_a_host_doing_resets_and_ddl_stay_coherent() {
    for seed in 1..=3 {
        run_threads(seed, 8, 12);
    }
}

/// The same with only plain writes and log resets from the host (no DDL), more of them:
/// restarts counted by a read and by a write race each other here most often.
#[test]
fn strict_readers_and_a_writer_racing_host_log_resets_never_go_back() {
    let db = fresh();
    let store = Arc::new(db.open());
    let host = db.sql();
    RawRow::new("mapping:ctr", "mapping", "ctr")
        .default_model("c000000")
        .insert(&host);
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for r in 0..2 {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let mut seen = String::new();
            while !stop.load(Ordering::Acquire) {
                let c = model_of(&store, "mapping:ctr").unwrap_or_default();
                if c < seen {
                    return Err(format!("reader {r}: ctr went back {seen} -> {c}"));
                }
                seen = c;
            }
            Ok(())
        }));
    }
    {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                n += 1;
                let v = format!("w{n:06}");
                store
                    .upsert(&input("mapping:w", Some(&v), &[]))
                    .map_err(|e| e.to_string())?;
                let got = model_of(&store, "mapping:w").unwrap_or_default();
                if got != v {
                    return Err(format!("writer: wrote {v}, read back {got}"));
                }
            }
            Ok(())
        }));
    }
    let start = std::time::Instant::now();
    let mut ctr = 0;
    let mut rng = Rng::new(7);
    while start.elapsed() < std::time::Duration::from_millis(1500) {
        if rng.below(3) == 0 {
            host.execute_batch(RESET_LOG).unwrap();
        }
        ctr += 1;
        host_set(&host, "mapping:ctr", &format!("c{ctr:06}"));
    }
    stop.store(true, Ordering::Release);
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for r in results {
        r.unwrap();
    }
    tick(&host, 0);
    assert_coherent(&host, &[&store, &db.open()], "after joining");
}

/// Two writer threads of one store (the second may begin from a base the first has not
/// installed yet) while the host resets the log: each must read back its own write, and
/// afterwards the store and a fresh one must equal plain SQL.
#[test]
fn two_writer_threads_of_one_store_racing_host_log_resets_read_their_own_writes() {
    let db = fresh();
    let store = Arc::new(db.open());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..2 {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let id = format!("mapping:t{t}");
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                n += 1;
                let v = format!("v{n:06}");
                let res = if n % 3 == 0 {
                    store
                        .import_items(&[json!({"id": id, "default_model": v})])
                        .map(|_| ())
                } else {
                    store.upsert(&input(&id, Some(&v), &[])).map(|_| ())
                };
                res.map_err(|e| e.to_string())?;
                let got = model_or_err(&store, &id);
                if got != v {
                    return Err(format!("writer {t}: wrote {v}, read back {got}"));
                }
            }
            Ok(())
        }));
    }
    let host = db.sql();
    let start = std::time::Instant::now();
    let mut rng = Rng::new(11);
    let mut n = 0;
    while start.elapsed() < std::time::Duration::from_millis(1500) {
        n += 1;
        if rng.below(2) == 0 {
            host.execute_batch(RESET_LOG).unwrap();
        }
        host_set(&host, "mapping:h", &format!("h{n}"));
    }
    stop.store(true, Ordering::Release);
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for r in results {
        r.unwrap();
    }
    tick(&host, 0);
    assert_coherent(&host, &[&store, &db.open()], "after joining");
}

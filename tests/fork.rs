//! behaviour B16: `fork()` with a store open (gunicorn forking its workers, with threads running;
//! parents exiting before or after their children). Every write a process was told succeeded
//! is in the file for a fresh connection to read, whatever order the processes close or exit
//! in, and a child never hangs on a lock another thread held at the fork.
//!
//! Each child leaves with `_exit`: it never returns into the test harness or runs the
//! parent's destructors.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fresh, input, Db};
use model_mapping::Store;

/// Runs `f` in a forked child that exits with its return value (99 if it panicked).
fn fork_child(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child runs `f` and leaves with `_exit`; it never returns into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(99);
        // SAFETY: ends the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for a child, failing (and killing it) if it has not exited within a minute.
fn wait_ok(pid: libc::pid_t, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = 0;
    loop {
        // SAFETY: polling a child of this process.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if got == pid {
            break;
        }
        assert_eq!(got, 0, "waitpid failed for {what}");
        if Instant::now() > deadline {
            // SAFETY: killing and reaping the hung child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("{what} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(libc::WIFEXITED(status), "{what} died: {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "{what} failed (exit code: 20 a write failed, 21 a read after it, 30 a resolve, 99 a panic)"
    );
}

/// A one-way signal between processes.
struct Pipe {
    read: i32,
    write: i32,
}

impl Pipe {
    fn new() -> Pipe {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        Pipe {
            read: fds[0],
            write: fds[1],
        }
    }

    fn signal(&self) {
        // SAFETY: writes one byte from a valid buffer.
        assert_eq!(
            unsafe { libc::write(self.write, [1u8].as_ptr().cast(), 1) },
            1
        );
    }

    fn wait(&self) {
        let mut b = [0u8; 1];
        // SAFETY: reads one byte into a valid buffer.
        assert_eq!(
            unsafe { libc::read(self.read, b.as_mut_ptr().cast(), 1) },
            1
        );
    }
}

/// Upserts `mapping:<prefix><i>` for each `i`; the exit code of a child when one fails.
fn write_keys(store: &Store, prefix: &str, range: std::ops::Range<usize>) -> i32 {
    for i in range {
        let id = format!("mapping:{prefix}{i}");
        if store.upsert(&input(&id, Some("m"), &[])).is_err() {
            return 20;
        }
        match store.get(&id) {
            Ok(Some(_)) => {}
            _ => return 21,
        }
    }
    0
}

/// The ids a fresh connection finds, among `mapping:<prefix>*`.
fn stored(db: &Db, prefix: &str) -> usize {
    db.sql()
        .query_row(
            "SELECT count(*) FROM llm_model_mappings WHERE id LIKE ?1",
            [format!("mapping:{prefix}%")],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

#[test]
fn a_child_keeps_its_writes_when_the_parent_closes_while_it_writes() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:before", Some("p"), &[]))
        .unwrap();
    let (started, closed) = (Pipe::new(), Pipe::new());
    let child = fork_child(|| {
        let first = write_keys(&store, "child", 0..3);
        started.signal();
        closed.wait();
        first.max(write_keys(&store, "child", 3..20))
    });
    started.wait();
    // The parent keeps serving (its connections reopen), then closes while the child lives.
    assert!(store.get("mapping:child0").unwrap().is_some());
    store
        .upsert(&input("mapping:parent", Some("p"), &[]))
        .unwrap();
    store.close();
    drop(store);
    closed.signal();
    wait_ok(child, "child");
    assert_eq!(stored(&db, "child"), 20);
    assert_eq!(stored(&db, "parent"), 1);
    assert_eq!(stored(&db, "before"), 1);
}

#[test]
fn a_child_keeps_its_writes_when_its_parent_exits_and_another_process_opens_and_closes() {
    let db = fresh();
    let path = db.path.clone();
    let (started, go) = (Pipe::new(), Pipe::new());
    let intermediate = fork_child(|| {
        let store = Store::open_default(&path).unwrap();
        store
            .upsert(&input("mapping:parent", Some("p"), &[]))
            .unwrap();
        let child = fork_child(|| {
            let first = write_keys(&store, "child", 0..3);
            started.signal();
            go.wait();
            first.max(write_keys(&store, "child", 3..20))
        });
        // Leave without closing anything, as a killed or exiting worker does.
        let _ = child;
        0
    });
    started.wait();
    wait_ok(intermediate, "parent");
    // An unrelated process (this one, which never had the file open) opens and closes.
    {
        let c = db.sql();
        let _: i64 = c
            .query_row("SELECT count(*) FROM llm_model_mappings", [], |r| r.get(0))
            .unwrap();
    }
    go.signal();
    // The grandchild is not ours to wait for: poll the file until its writes are in.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&db, "child") < 20 {
        assert!(
            Instant::now() < deadline,
            "the child's writes never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Once it has exited, a fresh connection still finds every write.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(stored(&db, "child"), 20);
    assert_eq!(stored(&db, "parent"), 1);
}

#[test]
fn children_of_children_keep_every_write() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:root", Some("p"), &[]))
        .unwrap();
    let child = fork_child(|| {
        let mut code = write_keys(&store, "c1-", 0..5);
        let grandchild = fork_child(|| write_keys(&store, "c2-", 0..10));
        code = code.max(write_keys(&store, "c1-", 5..10));
        store.close();
        wait_ok(grandchild, "grandchild");
        code
    });
    let mine = write_keys(&store, "p-", 0..10);
    wait_ok(child, "child");
    assert_eq!(mine, 0);
    drop(store);
    assert_eq!(stored(&db, "c1-"), 10);
    assert_eq!(stored(&db, "c2-"), 10);
    assert_eq!(stored(&db, "p-"), 10);
}

#[test]
fn many_children_at_once_keep_every_write_while_the_parent_writes_and_closes() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:root", Some("p"), &[]))
        .unwrap();
    let children: Vec<_> = (0..8)
        .map(|n| fork_child(|| write_keys(&store, &format!("k{n}-"), 0..15)))
        .collect();
    assert_eq!(write_keys(&store, "p-", 0..10), 0);
    store.close();
    for (n, pid) in children.into_iter().enumerate() {
        wait_ok(pid, &format!("child {n}"));
    }
    for n in 0..8 {
        assert_eq!(stored(&db, &format!("k{n}-")), 15, "child {n}");
    }
    assert_eq!(stored(&db, "p-"), 10);
    assert_eq!(db.row_count(), 1 + 8 * 15 + 10);
}

#[test]
fn forking_while_another_thread_is_inside_a_store_call_never_hangs_the_child() {
    let db = fresh();
    let store = Arc::new(db.open());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                store
                    .upsert(&input(&format!("mapping:w{}", i % 50), Some("m"), &[]))
                    .unwrap();
                store.resolve_model_key("w1").unwrap();
                i += 1;
                // A server between requests: a loop that takes the write lock back at once
                // could starve the child's writes past the busy timeout on a loaded machine
                // (a failure, not the hang this test is about).
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    for round in 0..50 {
        let child = if round % 2 == 0 {
            fork_child(|| {
                let code = write_keys(&store, &format!("f{round}-"), 0..1);
                if store.resolve_model_key("w1").is_err() {
                    return 30;
                }
                store.close();
                code
            })
        } else {
            // A child that only closes.
            fork_child(|| {
                store.close();
                0
            })
        };
        wait_ok(child, &format!("child of round {round}"));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    for round in (0..50).step_by(2) {
        assert_eq!(stored(&db, &format!("f{round}-")), 1, "round {round}");
    }
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
    let h = store.health().unwrap();
    assert!(h.ok);
    assert!(
        h.reopened_after_fork >= 1,
        "the parent's connections reopen"
    );
}

#[test]
fn the_parent_keeps_reading_and_writing_after_a_child_used_the_store() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:before-fork", Some("parent"), &[]))
        .unwrap();
    // A read in flight before the fork, as a busy server would have.
    assert!(store.resolve_model_key("before-fork").unwrap().hit());
    let child = fork_child(|| {
        let seen = store.get("mapping:before-fork");
        if !matches!(&seen, Ok(Some(m)) if m.default_model.as_deref() == Some("parent")) {
            return 10;
        }
        if store
            .upsert(&input("mapping:from-child", Some("child"), &[]))
            .is_err()
        {
            return 12;
        }
        match store.health() {
            Ok(h) if h.reopened_after_fork >= 1 && h.ok => 0,
            _ => 14,
        }
    });
    wait_ok(child, "child");
    assert_eq!(
        store
            .resolve_model_key("from-child")
            .unwrap()
            .resolved_model(),
        Some("child")
    );
    store
        .upsert(&input("mapping:after-fork", Some("parent-2"), &[]))
        .unwrap();
    assert!(store.health().unwrap().ok);
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
    assert_eq!(db.row_count(), 3);
}

//! behaviour B16: a store used in a child after `fork()` (gunicorn `--preload`) opens its own
//! connection and never uses or closes the inherited one.
//!
//! Alone in its own test binary: forking a process that runs other tests' threads would copy
//! whatever locks those threads hold.

mod common;

use common::{fresh, input};

/// What the child does; returns the exit status it reports.
fn child_work(store: &model_mapping::Store) -> i32 {
    let Ok(Some(m)) = store.get("mapping:before-fork") else {
        return 10;
    };
    if m.default_model.as_deref() != Some("parent") {
        return 11;
    }
    if store
        .upsert(&input("mapping:from-child", Some("child"), &[]))
        .is_err()
    {
        return 12;
    }
    match store.resolve_model_key("from-child") {
        Ok(r) if r.resolved_model() == Some("child") => {}
        _ => return 13,
    }
    match store.health() {
        Ok(h) if h.reopened_after_fork == 1 && h.ok => {}
        _ => return 14,
    }
    store.close(); // must not close the parent's connection
    0
}

#[test]
fn a_forked_child_opens_its_own_connection_reads_and_writes_and_the_parent_carries_on() {
    let db = fresh();
    let store = db.open();
    store
        .upsert(&input("mapping:before-fork", Some("parent"), &[]))
        .unwrap();
    // Hold a read open in the parent across the fork, as a busy server would.
    assert!(store.resolve_model_key("before-fork").unwrap().hit());

    // SAFETY: the child only runs this test's code and leaves with `_exit`, never returning
    // into the test harness; the store's locks are not held by any other thread here.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child_work(&store)))
            .unwrap_or(99);
        // SAFETY: `_exit` ends the child without running the parent's destructors or atexit
        // handlers (which would close the inherited connection and temporary directory).
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child we just forked.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child failed step {}",
        libc::WEXITSTATUS(status)
    );

    // The parent's connection is intact: it sees the child's write and keeps writing.
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
    let h = store.health().unwrap();
    assert!(h.ok);
    assert_eq!(h.reopened_after_fork, 0);
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
    assert_eq!(db.row_count(), 3);
}

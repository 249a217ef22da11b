//! behaviour B16 for a private `:memory:` store: after `fork()` the child keeps its own copy of the
//! data (there is no file to reopen, and a new connection would be an empty database).
//!
//! Alone in its own test binary, like `fork.rs`: forking copies other tests' threads' locks.

use model_mapping::{MappingInput, Store, StoreOptions};

fn child_work(store: &Store) -> i32 {
    match store.resolve_model_key("xai") {
        Ok(r) if r.resolved_model() == Some("grok-4") => {}
        _ => return 10,
    }
    let upserted = MappingInput::new("mapping:child", Some("m"))
        .and_then(|i| store.upsert(&i))
        .is_ok();
    if !upserted {
        return 11;
    }
    match store.list(None, None) {
        Ok(all) if all.len() == 2 => 0,
        _ => 12,
    }
}

#[test]
fn a_forked_child_keeps_using_its_copy_of_an_in_memory_store() {
    let store = Store::open(":memory:", StoreOptions::default()).unwrap();
    store
        .upsert(&MappingInput::new("mapping:xai", Some("grok-4")).unwrap())
        .unwrap();
    // SAFETY: the child runs only `child_work` and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child_work(&store)))
            .unwrap_or(99);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child we just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child failed at step {}",
        libc::WEXITSTATUS(status)
    );
    // The parent's copy is untouched by the child's write.
    assert_eq!(store.list(None, None).unwrap().len(), 1);
}

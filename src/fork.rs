//! Fork safety (behaviour B16): no connection of this library is open across `fork()`, and no lock
//! of it is held there.
//!
//! SQLite keeps one record of locks per file per process in ordinary memory. A child forked
//! while a connection was open inherits that record, so a connection the child opens to the
//! same file believes it holds locks it never took from the OS, and the parent's close can
//! then checkpoint and unlink the WAL under the live child (its acknowledged writes are lost).
//! So a `pthread_atfork` prepare handler waits until no call of the library is using a
//! connection, keeps new ones out, and closes every store's connections; parent and child
//! reopen them lazily on their next call. The handler that lets calls in again runs in both.
//!
//! Calls enter through [`enter`], which costs an atomic add and a check. Connections the host
//! keeps open across a fork (its own `sqlite3` connections to the same file) are the host's
//! to close: the library cannot.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, Once, Weak};

/// Something holding connections that must be closed before a fork.
pub(crate) trait CloseOnFork: Send + Sync {
    /// Closes its connections; they reopen on next use. Called with no call in flight.
    fn close_for_fork(&self);
}

/// Calls using a connection, on all threads.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// A fork is being prepared: new calls wait.
static FORKING: AtomicBool = AtomicBool::new(false);
/// Every live holder of connections. Only touched inside a call (or by the prepare handler,
/// which runs when there is none), so it is never locked at the moment of a fork.
static HOLDERS: Mutex<Vec<Weak<dyn CloseOnFork>>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

thread_local! {
    /// Calls this thread is inside (a call may make another): only the outermost waits.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A call in flight; a fork waits for it to end.
pub(crate) struct Call(());

/// Enters a call that may use a connection: waits while a fork is being prepared.
pub(crate) fn enter() -> Call {
    INSTALL.call_once(|| {
        // Without the handlers (registration can only fail for want of memory) a child may
        // reuse inherited lock records: nothing better is possible, so carry on.
        let _ = crate::ffi::os::register_atfork(prepare, parent, child);
    });
    if DEPTH.with(Cell::get) == 0 {
        loop {
            while FORKING.load(SeqCst) {
                std::thread::yield_now();
            }
            ACTIVE.fetch_add(1, SeqCst);
            if !FORKING.load(SeqCst) {
                break;
            }
            ACTIVE.fetch_sub(1, SeqCst);
        }
    } else {
        ACTIVE.fetch_add(1, SeqCst);
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    Call(())
}

impl Drop for Call {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
        ACTIVE.fetch_sub(1, SeqCst);
    }
}

/// Registers a holder whose connections a fork closes. Call inside a call ([`enter`]).
pub(crate) fn register(holder: Weak<dyn CloseOnFork>) {
    let mut holders = HOLDERS.lock().unwrap_or_else(|p| p.into_inner());
    holders.retain(|h| h.strong_count() > 0);
    holders.push(holder);
}

extern "C" fn prepare() {
    // Nothing may unwind into the C library's fork().
    let _ = std::panic::catch_unwind(|| {
        while FORKING
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_err()
        {
            std::thread::yield_now();
        }
        // The forking thread's own calls (if it forks from inside one) cannot end first.
        let own = DEPTH.with(Cell::get);
        while ACTIVE.load(SeqCst) > own {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        let holders: Vec<_> = HOLDERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for h in holders {
            h.close_for_fork();
        }
    });
}

extern "C" fn parent() {
    FORKING.store(false, SeqCst);
}

extern "C" fn child() {
    FORKING.store(false, SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_calls_are_counted_and_released() {
        let before = ACTIVE.load(SeqCst);
        {
            let _outer = enter();
            let _inner = enter();
            assert!(ACTIVE.load(SeqCst) >= before + 2);
        }
        assert_eq!(DEPTH.with(Cell::get), 0);
    }
}

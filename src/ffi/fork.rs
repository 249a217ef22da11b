//! Which side of a `fork()` this process is on, for the core's fork handling (behaviour B16).
//!
//! The core used to compare `getpid()` on every read and write: a system call (about 0.1 µs
//! here, a tenth of a strict resolve) since glibc stopped caching the pid. Instead a handler
//! registered with `pthread_atfork` bumps a generation number in every child, and the core
//! compares that. It lives here because registering it is a foreign call, and `unsafe` is kept
//! to this module.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Once;

/// Bumped in the child of every `fork()` (the handler runs there before `fork` returns).
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Registration failed: fall back to the pid.
static NO_HOOK: AtomicBool = AtomicBool::new(false);
static REGISTER: Once = Once::new();

extern "C" fn in_child() {
    // An atomic add is async-signal-safe, as a fork handler in a threaded parent must be.
    GENERATION.fetch_add(1, Relaxed);
}

/// A value that differs between a process and any child it forks (and that child's children).
pub(crate) fn fork_generation() -> u64 {
    REGISTER.call_once(|| {
        // SAFETY: registers a handler with no state beyond an atomic; no prepare/parent hooks.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        if rc != 0 {
            NO_HOOK.store(true, Relaxed);
        }
    });
    if NO_HOOK.load(Relaxed) {
        // The pid, marked so it never equals a generation.
        return u64::from(std::process::id()) | 1 << 63;
    }
    GENERATION.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_is_stable_within_a_process() {
        let g = fork_generation();
        assert_eq!(fork_generation(), g);
        let other = std::thread::spawn(fork_generation).join().unwrap();
        assert_eq!(other, g);
    }
}

//! The landing pad every status-returning entry point runs its body in.
//!
//! It clears the thread's last error, runs the body under `catch_unwind` (a panic becomes
//! `MM_PANIC` with its message: unwinding into C is undefined behaviour and aborting would kill
//! a Python host), and turns an error into its status plus the thread's last-error message.
//!
//! The default panic hook is left alone: it still prints the panic to stderr, as it does for
//! any Rust program; the error channel is the status and `mm_last_error_message`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{clear_last_error, set_last_error, FfiError, MmStatus};

/// Runs `body` at the C boundary and returns its status as an `int32_t`.
pub(crate) fn landing_pad<F>(body: F) -> i32
where
    F: FnOnce() -> Result<(), FfiError>,
{
    clear_last_error();
    // AssertUnwindSafe: after a caught panic the store's locks (parking_lot, non-poisoning)
    // and its immutable snapshots stay consistent; the worst case is one call not completed.
    let result = catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(FfiError::Panic(panic_message(payload.as_ref()))));
    match result {
        Ok(()) => MmStatus::MmOk as i32,
        Err(err) => {
            // Building the message could in principle panic too; never let that unwind.
            let status = err.status();
            let _ = catch_unwind(AssertUnwindSafe(|| set_last_error(&err)));
            status as i32
        }
    }
}

/// The text of a panic payload (`panic!("...")` gives `&str` or `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Wraps a status-returning `extern "C"` body in [`landing_pad`].
///
/// `ffi_guard!({ ...; Ok(()) })` expands to `landing_pad(|| { ... })`, so `?` works inside.
macro_rules! ffi_guard {
    ($body:block) => {
        $crate::ffi::guard::landing_pad(
            || -> ::std::result::Result<(), $crate::ffi::error::FfiError> { $body },
        )
    };
}
pub(crate) use ffi_guard;

//! Hooks for benchmarks and tests of the boundary itself; they touch no store.

use std::ffi::c_char;

use super::guard::ffi_guard;
use super::strings::{arg_str, check_out, into_raw, write_out};

/// Copies `input` into a new string: a no-op with the same signature as `mm_store_resolve`
/// minus the handle, going through the same guard, UTF-8 check and allocation. Benchmarks use
/// it as the baseline cost of one call through the C ABI (target P2).
///
/// - `input`: required.
/// - `out`: required; receives a copy the caller frees with `mm_string_free`.
///
/// Returns `MM_OK`, `MM_NULL_ARGUMENT` or `MM_INVALID_UTF8`.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `input` is NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mm_echo(input: *const c_char, out: *mut *mut c_char) -> i32 {
    ffi_guard!({
        // SAFETY: the caller's contract above.
        let input = unsafe { arg_str(input, "input") }?;
        check_out(out, "out")?;
        unsafe { write_out(out, into_raw(input.to_owned())) };
        Ok(())
    })
}

/// Test hook: panics inside the library's guard, which catches the panic and returns
/// `MM_PANIC` with the message `"panic: mm_test_panic: deliberate panic"`. Proves that no panic
/// crosses the boundary; it touches no store. The default panic hook still prints the panic
/// to stderr.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn mm_test_panic() -> i32 {
    ffi_guard!({
        let deliberate = true;
        if deliberate {
            panic!("mm_test_panic: deliberate panic");
        }
        Ok(())
    })
}

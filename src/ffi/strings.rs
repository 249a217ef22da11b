//! Strings across the boundary: C strings in (NULL and UTF-8 checked), Rust-allocated C strings
//! out (`CString::into_raw`, freed by [`mm_string_free`]), and out-parameter writes.
//!
//! Embedded NUL: a C string ends at its first NUL byte, so a caller's text that contains one
//! is seen cut there (a JSON payload cut that way fails as `MM_INVALID_JSON`). Going out, JSON
//! never holds a raw NUL (serde_json escapes it as `\u0000`); an error message that would is
//! written with the NUL bytes dropped.

use std::ffi::{c_char, CStr, CString};

use serde::Serialize;

use super::error::FfiError;

/// Borrows a required C string argument as UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and unchanged for `'a`.
pub(crate) unsafe fn arg_str<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::NullArgument(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| FfiError::InvalidUtf8 {
        arg: name,
        valid_up_to: e.valid_up_to(),
    })
}

/// Borrows an optional (nullable) C string argument as UTF-8.
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn opt_str<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { arg_str(ptr, name) }.map(Some)
    }
}

/// Fails with `MM_NULL_ARGUMENT` when an out-parameter is NULL; checked before any work so a
/// write never happens whose result could not be handed back.
pub(crate) fn check_out<T>(out: *mut T, name: &'static str) -> Result<(), FfiError> {
    if out.is_null() {
        Err(FfiError::NullArgument(name))
    } else {
        Ok(())
    }
}

/// Writes an out-parameter (already checked non-NULL by [`check_out`]).
///
/// # Safety
/// `out` is non-NULL, aligned and writable.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: caller's contract; `write` does not drop the (possibly uninitialised) old value.
    unsafe { out.write(value) }
}

/// A `CString` from text that may hold NUL bytes (they are dropped).
pub(crate) fn lossy_cstring(text: String) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).unwrap_or_default()
    })
}

/// Hands a string to the caller, who frees it with [`mm_string_free`].
pub(crate) fn into_raw(text: String) -> *mut c_char {
    lossy_cstring(text).into_raw()
}

/// Serialises `value` to JSON and writes it to `out` as a caller-owned string.
///
/// # Safety
/// As [`write_out`].
pub(crate) unsafe fn json_out<T: Serialize + ?Sized>(
    out: *mut *mut c_char,
    value: &T,
) -> Result<(), FfiError> {
    let text = serde_json::to_string(value)
        .map_err(|e| FfiError::Internal(format!("could not serialise the result: {e}")))?;
    // SAFETY: forwarded contract.
    unsafe { write_out(out, into_raw(text)) };
    Ok(())
}

/// Parses a required JSON text argument; bad JSON is `MM_INVALID_JSON` with line and column.
pub(crate) fn parse_json(text: &str) -> Result<serde_json::Value, FfiError> {
    serde_json::from_str(text).map_err(|e| crate::Error::from_json(&e).into())
}

/// Frees a string this library returned through an out-parameter (`char**`). NULL is a no-op.
///
/// Every string the library hands out must be freed exactly once with this function — never
/// with `free()`, which uses another allocator. Do not pass the static strings of
/// `mm_version`, `mm_sqlite_version`, `mm_sqlite_source_id`, `mm_status_str` or
/// `mm_last_error_message`.
///
/// Thread-safety: any thread may free a string returned on any thread.
///
/// # Safety
/// `s` is NULL or a pointer the library returned that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn mm_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    // Dropping a CString cannot panic, but keep the boundary promise anyway.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: `s` came from `CString::into_raw` per the caller's contract.
        drop(unsafe { CString::from_raw(s) });
    });
}

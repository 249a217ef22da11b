//! The operating-system calls the core makes that the standard library does not wrap:
//! registering its `fork()` handlers (`crate::fork`, behaviour B16) and asking whether a file may
//! be read or written without opening it. Both are foreign calls, and `unsafe` is kept to
//! this module.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Registers `prepare`, `parent` and `child` to run around every `fork()` of the process;
/// whether it worked (it fails only for want of memory).
pub(crate) fn register_atfork(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> bool {
    // SAFETY: the handlers are plain functions that never unwind (each catches panics or
    // cannot panic) and live for the whole process.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// Whether this process (its effective ids) may read, and with `write` also write, `path`.
///
/// Asked of the kernel by path: opening and closing a descriptor of a database file would
/// release every POSIX lock this process holds on it, SQLite's included (the host's open
/// connections too), which is how databases get corrupted.
pub(crate) fn may_access(path: &Path, write: bool) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mode = libc::R_OK | if write { libc::W_OK } else { 0 };
    // SAFETY: `c` is a NUL-terminated path that outlives the call; faccessat only reads it.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

"""The generated header serves cffi users (behaviour B17): feed it to cffi.FFI().cdef in ABI mode,
dlopen the shared library, and make real calls.

cffi's cdef takes declarations only: no #include, #ifdef or `extern "C"` block. The header's
preprocessor lines and its C++-only blocks are stripped first; the comments stay (cdef ignores
them).

Usage: python test_cffi.py include/model_mapping.h target/release/libmodel_mapping.so
"""

import json
import os
import sys
import tempfile

import cffi


def cdef_source(header_text: str) -> str:
    """The header without preprocessor lines and without its `#ifdef __cplusplus` blocks."""
    out, in_cplusplus = [], False
    for line in header_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            in_cplusplus = True
            continue
        if in_cplusplus:
            if stripped.startswith("#endif"):
                in_cplusplus = False
            continue
        if stripped.startswith("#"):
            continue
        out.append(line)
    return "\n".join(out)


def main() -> int:
    header, library = sys.argv[1], sys.argv[2]
    with open(header, encoding="utf-8") as f:
        source = cdef_source(f.read())
    ffi = cffi.FFI()
    ffi.cdef(source)
    lib = ffi.dlopen(os.path.abspath(library))

    def text(p) -> str:
        return ffi.string(p).decode("utf-8")

    def take(out) -> str:
        value = text(out[0])
        lib.mm_string_free(out[0])
        return value

    checks = 0

    def check(cond, what):
        nonlocal checks
        if not cond:
            raise AssertionError(what)
        checks += 1

    check(lib.MM_OK == 0 and lib.MM_NULL_ARGUMENT == 20 and lib.MM_PANIC == 23, "constants")
    check(text(lib.mm_status_str(lib.MM_MAPPING_NOT_FOUND)) == "mapping_not_found", "status_str")
    check(text(lib.mm_sqlite_version()).startswith("3."), "sqlite version")

    out = ffi.new("char **")
    check(lib.mm_echo(b"hello", out) == lib.MM_OK, "echo")
    check(take(out) == "hello", "echo copy")
    check(lib.mm_echo(ffi.NULL, out) == lib.MM_NULL_ARGUMENT, "echo NULL")
    check(text(lib.mm_last_error_message()).startswith("null_argument"), "message")
    check(lib.mm_test_panic() == lib.MM_PANIC, "panic caught")

    with tempfile.TemporaryDirectory() as tmp:
        store = ffi.new("MmStore **")
        path = os.path.join(tmp, "app.db").encode()
        check(lib.mm_store_open(path, ffi.NULL, store) == lib.MM_OK, "open")
        payload = json.dumps({"id": "tenant:xai", "default_model": "grok-4"}).encode()
        check(lib.mm_store_upsert(store[0], payload, out) == lib.MM_OK, "upsert")
        check(json.loads(take(out))["id"] == "mapping:xai", "upsert result")
        check(lib.mm_store_resolve(store[0], b"xai", out) == lib.MM_OK, "resolve")
        resolved = json.loads(take(out))
        check(resolved["resolved_model"] == "grok-4" and resolved["hit"], "resolution")
        deleted = ffi.new("bool *")
        check(lib.mm_store_delete(store[0], b"mapping:xai", deleted) == lib.MM_OK, "delete")
        check(deleted[0], "deleted")
        lib.mm_store_close(store[0])
        lib.mm_store_close(store[0])
        check(lib.mm_store_resolve(store[0], b"xai", out) == lib.MM_STORE_CLOSED, "closed")

    print(f"test_cffi: {checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Private: loads the shared library and declares every C function (behaviour B17, B18).

Loading order (behaviour B18):

1. the path in the ``MODEL_MAPPING_LIB`` environment variable (an error if it does not load);
2. the copy inside the installed package (``model_mapping/model_mapping/libmodel_mapping.so``,
   or ``model_mapping/libmodel_mapping.so``), put there by ``pip install ./bindings/python``;
3. in a checkout, the crate's ``target/release`` then ``target/debug`` (``$CARGO_TARGET_DIR``
   first when set);

otherwise ``ImportError`` saying how to build it.

Every function of ``include/model_mapping.h`` has its ``argtypes`` and ``restype`` declared in
:data:`SIGNATURES` (a test parses the header and checks it). Strings the library hands out
through ``char**`` out-parameters are received as ``c_void_p`` so that the original pointer can
be given back to ``mm_string_free``: ctypes never converts an owned ``char*`` itself. Static
strings (``mm_version``, ``mm_status_str``, ...) and ``mm_last_error_message`` (library-owned,
valid until the next call on this thread) use ``c_char_p``, which copies them at once.

A failed status becomes an exception in one place, :func:`error_for_status` (through
:func:`call` and :func:`call_json`, or directly on the resolve hot path); the classes are in
:mod:`model_mapping.errors`.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from ctypes import POINTER, c_bool, c_char_p, c_int32, c_int64, c_uint32, c_void_p
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import ModelMappingError, error_for_code

if sys.platform == "darwin":
    LIBRARY_NAME = "libmodel_mapping.dylib"
elif sys.platform == "win32":
    LIBRARY_NAME = "model_mapping.dll"
else:
    LIBRARY_NAME = "libmodel_mapping.so"

#: Environment variable naming the shared library to load instead of the search below.
ENV_VAR = "MODEL_MAPPING_LIB"

_Handle = c_void_p  # MmStore*
_HandleOut = POINTER(c_void_p)  # MmStore**
_StrOut = POINTER(c_void_p)  # char** (caller frees with mm_string_free)
_BoolOut = POINTER(c_bool)  # bool*

#: name -> (restype, argtypes), one entry per function of include/model_mapping.h.
SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    # strings, versions, errors
    "mm_version": (c_char_p, []),
    "mm_sqlite_version": (c_char_p, []),
    "mm_sqlite_source_id": (c_char_p, []),
    "mm_status_str": (c_char_p, [c_int32]),
    "mm_last_error_message": (c_char_p, []),
    "mm_string_free": (None, [c_void_p]),
    "mm_echo": (c_int32, [c_char_p, _StrOut]),
    "mm_test_panic": (c_int32, []),
    # the rules without a store
    "mm_mapping_validate": (c_int32, [c_char_p, c_bool, _StrOut]),
    "mm_mapping_id_normalize": (c_int32, [c_char_p, _StrOut]),
    "mm_scope_type_normalize": (c_int32, [c_char_p, _StrOut]),
    "mm_mapping_keys": (c_char_p, []),
    # resolves over mappings the caller hands over
    "mm_mappings_resolve": (c_int32, [c_char_p, c_char_p, c_char_p, _StrOut]),
    "mm_mappings_resolve_for_message": (c_int32, [c_char_p, c_char_p, c_char_p, _StrOut]),
    # the store handle
    "mm_store_open": (c_int32, [c_char_p, c_char_p, _HandleOut]),
    "mm_store_close": (None, [_Handle]),
    # reads
    "mm_store_list": (c_int32, [_Handle, c_char_p, c_char_p, _StrOut]),
    "mm_store_get": (c_int32, [_Handle, c_char_p, _StrOut]),
    "mm_store_blocked_list": (c_int32, [_Handle, _StrOut]),
    "mm_store_resolve": (c_int32, [_Handle, c_char_p, _StrOut]),
    "mm_store_explain": (c_int32, [_Handle, c_char_p, _StrOut]),
    "mm_store_resolve_for_message": (c_int32, [_Handle, c_char_p, _StrOut]),
    # writes
    "mm_store_upsert": (c_int32, [_Handle, c_char_p, _StrOut]),
    "mm_store_delete": (c_int32, [_Handle, c_char_p, _BoolOut]),
    "mm_store_activate_default": (c_int32, [_Handle, c_char_p, c_char_p, _StrOut]),
    "mm_store_blocked_update": (c_int32, [_Handle, c_char_p, _StrOut]),
    # migration, import, export, sync
    "mm_store_migrate_legacy": (c_int32, [_Handle, c_char_p, c_bool, _StrOut]),
    "mm_store_last_migration": (c_int32, [_Handle, _StrOut]),
    "mm_store_import": (c_int32, [_Handle, c_char_p, _StrOut]),
    "mm_store_export": (c_int32, [_Handle, _StrOut]),
    "mm_store_plan_snapshot": (c_int32, [_Handle, c_char_p, c_bool, c_bool, _StrOut]),
    "mm_store_apply_snapshot": (c_int32, [_Handle, c_char_p, c_bool, c_bool, _StrOut]),
    # health
    "mm_store_health": (c_int32, [_Handle, _StrOut]),
    "mm_store_quick_check": (c_int32, [_Handle, _StrOut]),
    # history, undo, rollback, the backend's roll back and forward
    "mm_store_history": (c_int32, [_Handle, c_char_p, c_int64, c_uint32, _StrOut]),
    "mm_store_undo": (c_int32, [_Handle, c_int64, c_bool, _StrOut]),
    "mm_store_rollback": (c_int32, [_Handle, c_char_p, c_bool, _StrOut]),
    "mm_store_export_legacy": (c_int32, [_Handle, c_char_p, c_bool, _StrOut]),
    "mm_store_merge_legacy": (c_int32, [_Handle, c_char_p, c_bool, _StrOut]),
    "mm_store_detach": (c_int32, [_Handle]),
    "mm_actor_set": (c_int32, [c_char_p]),
}


def _checkout_candidates() -> List[Path]:
    """``target/{release,debug}`` of the crate this package sits in, when it is a checkout."""
    out: List[Path] = []
    here = Path(__file__).resolve().parent  # bindings/python/model_mapping
    root = here.parent.parent.parent  # the crate root in a checkout
    target_dirs: List[Path] = []
    env_target = os.environ.get("CARGO_TARGET_DIR")
    if env_target:
        target_dirs.append(Path(env_target) if os.path.isabs(env_target) else root / env_target)
    if (root / "Cargo.toml").is_file():
        target_dirs.append(root / "target")
    for target in target_dirs:
        for profile in ("release", "debug"):
            out.append(target / profile / LIBRARY_NAME)
    return out


def _build_hint() -> str:
    return (
        f"model_mapping: the shared library {LIBRARY_NAME} was not found. Build it with "
        "`cargo build --release` in the repository root, or install the package with "
        "`pip install ./bindings/python` (from the repository root, which builds it), or set "
        f"{ENV_VAR} to its path."
    )


def _load() -> Tuple[ctypes.CDLL, str]:
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as exc:
            raise ImportError(f"model_mapping: {ENV_VAR}={env!r} could not be loaded: {exc}") from exc
    here = Path(__file__).resolve().parent
    # The wheel (maturin) ships it in the sub-package model_mapping/model_mapping/.
    candidates = [here / LIBRARY_NAME, here / "model_mapping" / LIBRARY_NAME] + _checkout_candidates()
    errors: List[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            return ctypes.CDLL(str(path)), str(path)
        except OSError as exc:  # a broken or foreign build: try the next one, report all
            errors.append(f"{path}: {exc}")
    message = _build_hint()
    if errors:
        message += " Found but could not load: " + "; ".join(errors)
    raise ImportError(message)


def _declare(lib: ctypes.CDLL, path: str) -> None:
    missing = [name for name in SIGNATURES if not hasattr(lib, name)]
    if missing:
        raise ImportError(
            f"model_mapping: {path} lacks {', '.join(missing)}; it is older than this package. "
            "Rebuild it with `cargo build --release` or `pip install ./bindings/python`."
        )
    for name, (restype, argtypes) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


lib, library_path = _load()
_declare(lib, library_path)

_status_str = lib.mm_status_str
_last_error = lib.mm_last_error_message
_string_free = lib.mm_string_free
_as_char_p = c_char_p.from_buffer


def _status_text(status: int) -> str:
    raw = _status_str(status)
    return raw.decode("utf-8", "replace") if raw else "unknown_status"


# Status numbers are grouped by area below 100 (the header's MmStatus); the library names each
# one, so the binding holds no copy of the numbers.
_MAX_STATUS = 100

#: Status number -> stable code, read from the library (``mm_status_str``) at import.
STATUS_CODES: Dict[int, str] = {
    n: code for n in range(1, _MAX_STATUS) if (code := _status_text(n)) != "unknown_status"
}


def status_code(status: int) -> str:
    """The stable string code of a status number (``mm_status_str``)."""
    code = STATUS_CODES.get(status)
    return code if code is not None else _status_text(status)


def error_for_status(status: int) -> ModelMappingError:
    """The exception for a failed call; reads this thread's last-error message at once."""
    raw = _last_error()
    code = status_code(status)
    detail = raw.decode("utf-8", "replace") if raw else code
    return error_for_code(code, detail, status)


def call(fn: Callable[..., int], *args: Any) -> None:
    """Calls a status-returning function and raises through the one error mapping."""
    status = fn(*args)
    if status:
        raise error_for_status(status)


def take_string(ptr: c_void_p) -> Optional[bytes]:
    """Copies a library-owned ``char*`` out and frees it with ``mm_string_free``.

    The copy reads the pointer through a ``c_char_p`` view of the same out-parameter (no
    foreign call, unlike ``ctypes.string_at``), so a call that returns a string costs two
    foreign calls: the function itself and ``mm_string_free``."""
    if ptr.value is None:
        return None
    try:
        return _as_char_p(ptr).value
    finally:
        _string_free(ptr)


# The library writes one JSON value with nothing around it, so its text goes straight to the
# decoder's scanner: `json.loads` would first sniff the encoding of the bytes, skip whitespace
# and check for trailing text (about 40% of decoding a stored mapping).
# (`scan_once` is the attribute `JSONDecoder.raw_decode` calls; typeshed leaves it out.)
_scan_once: Callable[[str, int], Tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")


def loads_output(data: bytes) -> Any:
    """``json.loads`` of JSON text the library wrote."""
    try:
        return _scan_once(data.decode("utf-8"), 0)[0]
    except (StopIteration, ValueError):
        return json.loads(data)  # not one bare JSON value: let json.loads say why


def call_json(fn: Callable[..., int], *args: Any) -> Any:
    """Calls ``fn(*args, &out)``, then parses and frees the JSON string written to ``out``."""
    out = c_void_p()
    status = fn(*args, ctypes.byref(out))
    if status:
        raise error_for_status(status)
    text = take_string(out)
    if text is None:
        return None
    return loads_output(text)


def echo(data: bytes) -> bytes:
    """``mm_echo``: the library copies ``data`` and hands it back (the ctypes baseline)."""
    out = c_void_p()
    call(lib.mm_echo, data, ctypes.byref(out))
    return take_string(out) or b""


def version() -> str:
    """The library's version (``mm_version``)."""
    return (lib.mm_version() or b"").decode()


def sqlite_version() -> str:
    """The version of the SQLite the library runs (``mm_sqlite_version``)."""
    return (lib.mm_sqlite_version() or b"").decode()


def sqlite_source_id() -> str:
    """``sqlite3_sourceid()`` of the SQLite the library runs (``mm_sqlite_source_id``)."""
    return (lib.mm_sqlite_source_id() or b"").decode()


def encode(text: str, code: str, what: str) -> bytes:
    """UTF-8 bytes for a C string argument. A C string ends at its first NUL, so text holding
    one (or a lone surrogate, which is not UTF-8) raises the input error ``code`` instead of
    being silently cut."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    if "\0" in text:
        raise error_for_code(code, f"{code}: {what} contains a NUL character")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error_for_code(code, f"{code}: {what} is not valid Unicode: {exc}") from None

"""The synchronous store (behaviour B18): one library handle, thread-safe, plain dicts and lists out.

>>> from model_mapping import Store
>>> with Store("app.db", storage_dir="ai_runtime") as store:        # doctest: +SKIP
...     store.upsert({"id": "tenant:xai", "default_model": "grok-4"})
...     store.resolve_model_key("xai")["resolved_model"]
'grok-4'

Every method is one library call (microseconds for reads, which are served from the library's
cache and checked against the database first); any number of threads may share one ``Store``.
ctypes releases the GIL during each call.
"""

from __future__ import annotations

import json
import json.encoder
import math
import os
import threading
from ctypes import byref, c_bool, c_void_p
import contextlib
from typing import (
    Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union,
    cast,
)

from . import _ffi
from .errors import InvalidPayloadError, ModelMappingError, StoreClosedError
from .types import (
    Change, ImportReport, MappingDict, MessageSelection, PullReport, Resolution, RestorePlan,
)

PathLike = Union[str, "os.PathLike[str]"]
JSONDict = Dict[str, Any]

_lib = _ffi.lib
_encode = _ffi.encode
_call_json = _ffi.call_json
_error_for_status = _ffi.error_for_status
_take_string = _ffi.take_string
_loads = _ffi.loads_output
_mm_resolve = _lib.mm_store_resolve
_mm_upsert = _lib.mm_store_upsert
_mm_resolve_for_message = _lib.mm_store_resolve_for_message

# `default=str` so that datetimes and other scalars the backend may hold serialise as text.
# One encoder made once: `json.dumps` with any non-default option builds a new encoder per call
# (about a microsecond); `encode` keeps no state between calls, so threads may share it.
_encode_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _c_encoder(
    default: Callable[[Any], Any] = str, allow_nan: bool = True
) -> Optional[Callable[[Any, int], List[str]]]:
    """The C accelerator's encoder with ``_encode_json``'s options (or the given ``default``
    and ``allow_nan``), made once (``encode`` makes one per call, through two Python frames).
    It keeps no circular-reference record, so it is shareable between threads; a circular
    value exhausts its recursion instead, and the callers then ask ``json`` for its error."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encoder = make(None, default, json.encoder.encode_basestring, None, ": ", ", ",
                       False, False, allow_nan)
        if "".join(encoder({"a": [1.5, None, "\u00e9"]}, 0)) != _encode_json(
                {"a": [1.5, None, "\u00e9"]}):
            return None
    except Exception:  # another Python's private signature: use the public way
        return None
    return cast(Callable[[Any, int], List[str]], encoder)


_encode_chunks = _c_encoder()


def _dumps(value: Any) -> bytes:
    """``json.dumps(value, ensure_ascii=False, default=str)`` as UTF-8."""
    if _encode_chunks is not None:
        try:
            return "".join(_encode_chunks(value, 0)).encode("utf-8")
        except RecursionError:
            pass  # circular, or nested deeper than Python recurses: json.dumps's own error
    return _encode_json(value).encode("utf-8")


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# What the user's own values are written with: no NaN, no stand-in for a non-JSON object, so
# a payload is stored as given or refused with a reason (`_payload`).
_strict_chunks = _c_encoder(_not_json, allow_nan=False)
_encode_strict = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_not_json).encode

_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_problem(value: Any, path: str, seen: Set[int]) -> Optional[str]:
    """Where and why ``value`` has no JSON form, or ``None``."""
    here = path or "the value"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{here}: {value!r} has no JSON form (JSON numbers are finite)"
    if isinstance(value, _JSON_SCALARS):
        return None
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            return f"{here}: holds itself (a circular value)"
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                if not isinstance(key, _JSON_SCALARS):
                    return f"{here}: the key {key!r} is a {type(key).__name__}, not a string"
                sub = f"{path}.{key}" if path else str(key)
            else:
                sub = f"{path}[{key}]"
            problem = _json_problem(item, sub, seen)
            if problem is not None:
                return problem
        seen.discard(id(value))
        return None
    return (f"{here}: a {type(value).__name__} ({value!r:.60}) is not a JSON value; use str, "
            "int, float, bool, None, list or dict")


def _payload(value: Any, what: str = "") -> bytes:
    """The JSON of a value the user gave, refused with ``invalid_payload`` saying where and why
    when it has none (NaN, an arbitrary object, a circular value)."""
    try:
        if _strict_chunks is not None:
            try:
                return "".join(_strict_chunks(value, 0)).encode("utf-8")
            except RecursionError:
                pass  # circular or very deep: the pure encoder's error, below
        return _encode_strict(value).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        try:
            problem = _json_problem(value, what, set())
        except RecursionError:
            problem = None
        if problem is None:
            problem = f"{what or 'the value'}: {exc}"
        raise InvalidPayloadError(detail=f"invalid_payload: {problem}") from None


# ---- decoded results, memoised by their bytes ----
#
# The library hands back the same bytes for a resolution while the mapping behind it is
# unchanged, and decoding them is most of what a resolve costs in Python. So each distinct
# result is decoded once and every call gets a fresh copy of that template: the memo maps the
# exact bytes to their decoded value, so it can never serve anything but what `json.loads`
# of this call's bytes would give (a changed mapping means different bytes, a different key).
#
# Callers may mutate what they get, so a copy shares nothing mutable with the template: the
# top-level dict is copied, and so is each container inside it (`_copy_plan`). Scalars are
# immutable and shared. A result nesting deeper than the plan covers (metadata holding dicts or
# lists) is memoised as "decode afresh" instead.
#
# Bounded: misses carry the client's key, so the memo is cleared when it holds
# `_MEMO_MAX_ENTRIES`, and results longer than `_MEMO_MAX_RESULT_BYTES` are never kept (at
# most ~8 MiB of result bytes, plus their decoded form).
#
# No lock: under CPython's GIL a dict's get, set, len and clear are each atomic (bytes keys
# hash and compare in C, without running Python code), and a template is never mutated after
# it is stored. A race can only decode a result twice or drop entries early.

_MEMO_MAX_ENTRIES = 4096
_MEMO_MAX_RESULT_BYTES = 2048

#: A copy plan: the keys whose values must be copied, each with whether the value is a list of
#: dicts (each dict copied too) rather than a flat dict or list (one shallow copy).
_CopyPlan = Tuple[Tuple[str, bool], ...]
_MemoEntry = Tuple[Any, Optional[_CopyPlan]]
_memo: Dict[bytes, _MemoEntry] = {}
_memo_get = _memo.get


_NESTS = (dict, list)


def _copy_plan(value: Any) -> Optional[_CopyPlan]:
    """How to copy a decoded result so that no container is shared, or ``None`` when it nests
    deeper than a dict of flat dicts, flat lists and lists of flat dicts. (Plain loops: this
    runs on every memo miss, and generator expressions cost twice as much here.)"""
    if type(value) is not dict:
        return None
    plan: List[Tuple[str, bool]] = []
    for key, item in value.items():
        if isinstance(item, dict):
            for x in item.values():
                if isinstance(x, _NESTS):
                    return None
            plan.append((key, False))
        elif isinstance(item, list):
            dicts = 0
            for x in item:
                if isinstance(x, dict):
                    dicts += 1
                    for y in x.values():
                        if isinstance(y, _NESTS):
                            return None
                elif isinstance(x, list):
                    return None
            if dicts and dicts != len(item):
                return None  # dicts mixed with scalars
            plan.append((key, dicts > 0))
    return tuple(plan)


def _copy(template: Any, plan: _CopyPlan) -> Any:
    result = template.copy()  # a dict: `_copy_plan` said so
    for key, each in plan:
        item = result[key]  # assigning an existing key keeps the key order
        result[key] = [x.copy() for x in item] if each else item.copy()
    return result


def _decode_result(data: Optional[bytes]) -> Any:
    """``json.loads(data)``, through the memo (see above)."""
    if data is None:
        return None
    entry = _memo_get(data)
    if entry is not None:
        template, plan = entry
        return _loads(data) if plan is None else _copy(template, plan)
    value = _loads(data)
    if len(data) <= _MEMO_MAX_RESULT_BYTES:
        plan = _copy_plan(value)
        if len(_memo) >= _MEMO_MAX_ENTRIES:
            _memo.clear()
        # The caller gets `value` itself; the memo keeps a copy nobody else holds.
        _memo[data] = (None, None) if plan is None else (_copy(value, plan), plan)
    return value


def _listed(items: Any, what: str) -> List[Any]:
    """``list(items)`` of an iterable that is not a string, bytes or a dict; else
    ``TypeError`` naming the argument."""
    if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
        raise TypeError(f"{what} must be a list, not {type(items).__name__}")
    return list(items)


def _opt(value: Optional[str], code: str, what: str) -> Optional[bytes]:
    return None if value is None else _encode(value, code, what)


def _scalar(value: Any) -> Any:
    """A request field the library accepts: a string, an int, or null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value)


# What the encoder above writes for a str (C code, no ASCII escaping) and for an int.
_quote = json.encoder.encode_basestring
_int_text = int.__repr__  # also for subclasses such as IntEnum, as the encoder does


def _scalar_json(value: Any) -> str:
    """The JSON text of ``_scalar(value)``, as ``_dumps`` would write it."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_text(value)
    return _quote(str(value))


def _message_request(user_id: Any, mapping_key: Any, prompt_id: Any) -> bytes:
    """``_dumps`` of a ``resolve_for_message`` request without a prompt mapping, byte for byte,
    written directly: a general ``json.dumps`` of this small dict costs more than the rest of
    the call's Python side together."""
    return (
        f'{{"user_id": {_scalar_json(user_id)}, "mapping_key": {_scalar_json(mapping_key)}, '
        f'"prompt_id": {_scalar_json(prompt_id)}, "prompt_mapping": null}}'
    ).encode("utf-8")


def _path_text(path: PathLike, what: str = "path") -> str:
    if isinstance(path, str):
        return path
    if not isinstance(path, os.PathLike):
        raise TypeError(f"{what} must be a str or os.PathLike, not {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a text path, not {type(text).__name__}")
    return text


class Store:
    """A cached SQLite store of model mappings over one database file.

    ``Store(path, *, storage_dir=None, busy_timeout_ms=None, synchronous=None,
    journal_mode=None, max_staleness_ms=None)`` opens (creating it when missing, mode 0600) the
    database; with ``storage_dir`` the one-time legacy migration runs (behaviour B10) and its report
    is :meth:`last_migration`. Options left ``None`` keep the library's defaults (busy timeout
    5 s, ``synchronous="full"``, ``journal_mode="wal"``, ``max_staleness_ms=0``: every read checks
    the database for other writers first).

    Use it as a context manager or call :meth:`close` (safe twice); ``__del__`` only closes a
    store that was forgotten. :meth:`close` lets a call in flight on another thread finish;
    later calls raise :class:`~model_mapping.errors.StoreClosedError`.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        storage_dir: Optional[PathLike] = None,
        busy_timeout_ms: Optional[int] = None,
        synchronous: Optional[str] = None,
        journal_mode: Optional[str] = None,
        max_staleness_ms: Optional[int] = None,
    ) -> None:
        self._handle: Optional[int] = None
        self._lock = threading.Lock()
        self.path: str = _path_text(path)
        options: Dict[str, Any] = {}
        if storage_dir is not None:
            options["storage_dir"] = _path_text(storage_dir, "storage_dir")
        if busy_timeout_ms is not None:
            options["busy_timeout_ms"] = int(busy_timeout_ms)
        if synchronous is not None:
            options["synchronous"] = str(synchronous).lower()
        if journal_mode is not None:
            options["journal_mode"] = str(journal_mode).lower()
        if max_staleness_ms is not None:
            options["max_staleness_ms"] = int(max_staleness_ms)
        self.options: Dict[str, Any] = options
        out = c_void_p()
        _ffi.call(
            _lib.mm_store_open,
            _encode(self.path, "invalid_payload", "path"),
            _dumps(options) if options else None,
            byref(out),
        )
        self._handle = out.value

    # ---- handle lifetime ----
    #
    # The library's handle is a token in a registry, never reused: a call racing close() on
    # another thread finishes first or fails with MM_STORE_CLOSED, never touches freed memory.
    # So no Python lock sits on the call path.

    def _h(self) -> int:
        handle = self._handle
        if handle is None:
            raise StoreClosedError(detail="store_closed: the store was closed")
        return handle

    def _json(self, fn: Any, *args: Any) -> Any:
        return _call_json(fn, self._h(), *args)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle is None

    def close(self) -> None:
        """Closes the store; safe to call twice. A call in flight on another thread finishes
        first; later calls raise :class:`~model_mapping.errors.StoreClosedError`."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            _lib.mm_store_close(handle)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # A fallback only: close explicitly or use `with`.
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._handle = None
            try:
                _lib.mm_store_close(handle)
            except Exception:  # pragma: no cover - interpreter teardown
                pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<model_mapping.Store {self.path!r} {state}>"

    # ---- reads (behaviour B4, B7, B8, B9) ----

    def list_mappings(
        self, scope_type: Optional[str] = None, scope_key: Optional[str] = None
    ) -> List[MappingDict]:
        """Mappings (B3 dicts), optionally filtered by scope type (``tenant`` finds
        ``mapping`` rows) and exact scope key, newest first (behaviour B4)."""
        return cast("List[MappingDict]", self._json(
            _lib.mm_store_list,
            _opt(scope_type, "invalid_mapping_scope", "scope_type"),
            _opt(scope_key, "invalid_mapping_id", "scope_key"),
        ))

    def get(self, mapping_id: str) -> Optional[MappingDict]:
        """One mapping by id (normalised), or ``None``."""
        return cast(
            "Optional[MappingDict]",
            self._json(_lib.mm_store_get, _encode(mapping_id, "invalid_mapping_id", "id")),
        )

    def blocked_models(self) -> List[str]:
        """The blocked models, sorted and unique (behaviour B7)."""
        return cast("List[str]", self._json(_lib.mm_store_blocked_list))

    def resolve_model_key(self, key: str) -> Resolution:
        """The model a client's key resolves to (behaviour B8); never fails on a strange key."""
        try:
            raw: Optional[bytes] = key.encode("utf-8")
        except UnicodeEncodeError:
            raw = None  # a lone surrogate is not UTF-8, so it cannot name a mapping
        except AttributeError:
            raise TypeError(f"key must be a str, not {type(key).__name__}") from None
        # A C string would end at a NUL, so such a key passes through too. `0 in raw` is a
        # memchr; `b"\0" in raw` would first try the needle as an integer and build (then
        # discard) a TypeError on every call.
        if raw is None or 0 in raw:
            stripped = key.strip()
            return {"resolved_model": stripped or None, "hit": False}
        handle = self._handle
        if handle is None:
            raise StoreClosedError(detail="store_closed: the store was closed")
        out = c_void_p()
        # `out` itself, not `byref(out)`: for a POINTER(c_void_p) parameter ctypes passes the
        # address on its own, which saves a Python-level call (~7% of a resolve).
        status = _mm_resolve(handle, raw, out)
        if status:
            raise _error_for_status(status)
        result: Resolution = _decode_result(_take_string(out))
        return result

    def explain(self, key: str) -> JSONDict:
        """:meth:`resolve_model_key` plus ``considered`` (every mapping that matched and why it
        won or lost) and ``candidates`` (each model's fate)."""
        return cast(
            JSONDict, self._json(_lib.mm_store_explain, _encode(key, "invalid_payload", "key"))
        )

    def resolve_for_message(
        self,
        *,
        user_id: Union[str, int, None] = None,
        mapping_key: Union[str, int, None] = None,
        prompt_id: Union[str, int, None] = None,
        prompt_mapping: Optional[Mapping[str, Any]] = None,
        tenant_id: Union[str, int, None] = None,
    ) -> MessageSelection:
        """The selection for one chat request (behaviour B9): ``prompt:<prompt_id>`` (using
        ``prompt_mapping`` when given, else a stored row) -> ``user:<user_id>`` ->
        ``mapping:<mapping_key>`` (``tenant_id`` is the legacy name) -> ``global:global``."""
        if mapping_key is None:
            mapping_key = tenant_id
        if prompt_mapping is None:
            request = _message_request(user_id, mapping_key, prompt_id)
        else:
            if not isinstance(prompt_mapping, Mapping):
                raise TypeError(
                    f"prompt_mapping must be a mapping, not {type(prompt_mapping).__name__}"
                )
            request = _payload(
                {
                    "user_id": _scalar(user_id),
                    "mapping_key": _scalar(mapping_key),
                    "prompt_id": _scalar(prompt_id),
                    "prompt_mapping": dict(prompt_mapping),
                },
            )
        handle = self._handle
        if handle is None:
            raise StoreClosedError(detail="store_closed: the store was closed")
        out = c_void_p()
        status = _mm_resolve_for_message(handle, request, out)  # byref implied, as above
        if status:
            raise _error_for_status(status)
        selection: MessageSelection = _decode_result(_take_string(out))
        return selection

    # ---- writes (behaviour B2, B5, B6, B7) ----

    def upsert(self, payload: Mapping[str, Any]) -> MappingDict:
        """Creates or replaces a mapping (``scope_type`` + ``scope_key``, or ``id``); returns
        it as stored (behaviour B2, B3)."""
        # A durable write is mostly fsync, but its Python side runs on a cold CPU after it:
        # the call is made directly (as resolve's is), without the generic helper's layers.
        if type(payload) is not dict:
            if not isinstance(payload, Mapping):
                raise TypeError(f"payload must be a dict, not {type(payload).__name__}")
            payload = dict(payload)
        body = _payload(payload)
        out = c_void_p()
        status = _mm_upsert(self._h(), body, out)  # byref implied, as in resolve_model_key
        if status:
            raise _error_for_status(status)
        stored: MappingDict = _loads(_take_string(out) or b"null")
        return stored

    def delete(self, mapping_id: str) -> bool:
        """Deletes a mapping by id; whether a row was deleted (behaviour B5)."""
        deleted = c_bool()
        _ffi.call(
            _lib.mm_store_delete,
            self._h(),
            _encode(mapping_id, "invalid_mapping_id", "id"),
            byref(deleted),
        )
        return bool(deleted.value)

    def activate_default(self, mapping_id: str, model: str) -> MappingDict:
        """Makes ``model`` the default of an existing mapping and activates it (behaviour B6);
        :class:`~model_mapping.errors.MappingNotFoundError` when absent."""
        return cast(MappingDict, self._json(
            _lib.mm_store_activate_default,
            _encode(mapping_id, "invalid_mapping_id", "id"),
            _encode(model, "invalid_payload", "model"),
        ))

    def update_blocked(self, items: Iterable[Mapping[str, Any]]) -> List[str]:
        """Applies ``[{model, blocked}]`` (``blocked`` defaults to true); returns the new sorted
        list (behaviour B7)."""
        return cast("List[str]", self._json(_lib.mm_store_blocked_update, _payload(_listed(items, "items"), "items")))

    # ---- migration, import, export, sync (behaviour B10, B14) ----

    def migrate_legacy(self, storage_dir: PathLike, dry_run: bool = False) -> JSONDict:
        """Runs the one-time legacy migration for ``storage_dir`` (``already_done`` when the
        database records it); with ``dry_run`` only reports."""
        return cast(JSONDict, self._json(
            _lib.mm_store_migrate_legacy,
            _encode(_path_text(storage_dir), "invalid_payload", "storage_dir"),
            bool(dry_run),
        ))

    def last_migration(self) -> Optional[JSONDict]:
        """The report of the migration run at open (or the last explicit one), or ``None``."""
        return cast("Optional[JSONDict]", self._json(_lib.mm_store_last_migration))

    def import_items(self, items: Iterable[Any]) -> ImportReport:
        """Upserts each valid loose item, keeping carried timestamps; one bad item never blocks
        the rest: ``{imported_count, skipped_count, errors: [{index, id?, reason}]}``."""
        return cast(ImportReport, self._json(_lib.mm_store_import, _payload(_listed(items, "items"), "items")))

    def export(self) -> JSONDict:
        """``{"exported_at": now, "mappings": [...]}``."""
        return cast(JSONDict, self._json(_lib.mm_store_export))

    def plan_snapshot(
        self, items: Sequence[Any], overwrite: bool = False, delete_missing: bool = False
    ) -> JSONDict:
        """What :meth:`apply_snapshot` would change, without writing."""
        return cast(JSONDict, self._json(
            _lib.mm_store_plan_snapshot, _payload(_listed(items, "items"), "items"), bool(overwrite),
            bool(delete_missing),
        ))

    def apply_snapshot(
        self, items: Sequence[Any], overwrite: bool = False, delete_missing: bool = False
    ) -> PullReport:
        """Applies a remote snapshot in one transaction (behaviour B14): prompt scope skipped; a
        local row not older than the remote one kept unless ``overwrite``; with
        ``delete_missing`` local non-prompt rows absent from it deleted. Returns
        ``{status: "pulled", pulled_count, skipped_count, ignored_count, deleted_count,
        remote_total}``: ``skipped_count`` counts remote items kept back because the local row
        is not older, ``ignored_count`` those not applied for another reason (prompt scope,
        malformed, repeated)."""
        return cast(PullReport, self._json(
            _lib.mm_store_apply_snapshot, _payload(_listed(items, "items"), "items"), bool(overwrite),
            bool(delete_missing),
        ))

    # ---- health (behaviour B13) ----

    def health(self) -> JSONDict:
        """Data version, last refresh, last error, counters and migration records."""
        return cast(JSONDict, self._json(_lib.mm_store_health))

    def quick_check(self) -> Any:
        """``PRAGMA quick_check`` of the database (``["ok"]`` when healthy)."""
        return self._json(_lib.mm_store_quick_check)

    # ---- history, undo, rollback (behaviour B20) ----

    def history(
        self, mapping_id: Optional[str] = None, since_seq: Optional[int] = None, limit: int = 100
    ) -> List[Change]:
        """Recorded changes, newest first: ``[{seq, at, op, id, before, after, source, actor}]``
        (``before``/``after`` in the B3 shape or ``None``). ``mapping_id`` narrows them to one
        mapping (any spelling: ``tenant:x`` finds ``mapping:x``); ``since_seq`` to the changes
        after that one."""
        since = _int_arg(since_seq, "since_seq") if since_seq is not None else 0
        count = _int_arg(limit, "limit")
        if count < 0:
            raise ValueError("limit must not be negative")
        return cast("List[Change]", self._json(
            _lib.mm_store_history,
            _opt(mapping_id, "invalid_mapping_id", "mapping_id"),
            since,
            min(count, 2**32 - 1),
        ))

    def undo(self, seq: int, force: bool = False) -> RestorePlan:
        """Writes back what change ``seq`` replaced, as a new change; returns what it wrote.
        :class:`~model_mapping.errors.HistoryConflictError` (naming the later change) when a
        later change touched the same mapping, unless ``force``;
        :class:`~model_mapping.errors.HistoryUnavailableError` for an unknown or pruned one."""
        return cast(RestorePlan, self._json(_lib.mm_store_undo, _int_arg(seq, "seq"), bool(force)))

    def rollback_to(
        self, seq: Optional[int] = None, at: Optional[str] = None, dry_run: bool = False
    ) -> RestorePlan:
        """Restores every mapping and the blocked list as they were right after change ``seq``,
        or at time ``at`` (RFC 3339), in one transaction; with ``dry_run`` only returns the
        plan ``{seq, restore, delete, block, unblock, dry_run}``. Give exactly one of ``seq``
        and ``at``."""
        if (seq is None) == (at is None):
            raise TypeError("rollback_to takes exactly one of seq and at")
        to = str(_int_arg(seq, "seq")) if seq is not None else at
        if not isinstance(to, str):
            raise TypeError(f"at must be a str, not {type(to).__name__}")
        return cast(RestorePlan, self._json(
            _lib.mm_store_rollback, _encode(to, "invalid_payload", "at"), bool(dry_run),
        ))

    def export_legacy(self, storage_dir: PathLike, dry_run: bool = False) -> JSONDict:
        """Writes the mappings and blocked list as the pre-SQLite backend's files in
        ``storage_dir`` (business keys under ``tenant``), atomically, keeping the replaced files
        as timestamped backups: the step before rolling the backend back to its JSON version."""
        return cast(JSONDict, self._json(
            _lib.mm_store_export_legacy,
            _encode(_path_text(storage_dir, "storage_dir"), "invalid_payload", "storage_dir"),
            bool(dry_run),
        ))

    def merge_legacy(self, storage_dir: PathLike, dry_run: bool = False) -> JSONDict:
        """Rolling forward again: merges the legacy files (edited under the JSON version) into
        the table, last writer wins on ``updated_at``, deleting what the old version deleted
        since the export; with ``dry_run`` only returns the plan."""
        return cast(JSONDict, self._json(
            _lib.mm_store_merge_legacy,
            _encode(_path_text(storage_dir, "storage_dir"), "invalid_payload", "storage_dir"),
            bool(dry_run),
        ))

    def detach(self) -> None:
        """Drops the library's triggers and nothing else, for a downgrade to a backend that does
        not use the library; the next open or write re-creates them."""
        _ffi.call(_lib.mm_store_detach, self._h())


def _int_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


@contextlib.contextmanager
def acting(actor: Optional[str]) -> Iterator[None]:
    """Records ``actor`` (e.g. the dashboard user) with every change the library writes from
    this thread inside the block, on any store; ``None`` records none::

        with acting("alice"):
            store.upsert({...})
    """
    if actor is not None and not isinstance(actor, str):
        raise TypeError(f"actor must be a str, not {type(actor).__name__}")
    if actor is None:
        yield
        return
    _ffi.call(_lib.mm_actor_set, _encode(actor, "invalid_payload", "actor"))
    try:
        yield
    finally:
        _ffi.call(_lib.mm_actor_set, None)


def resolve_model_key_in(mappings: Iterable[Any], blocked: Iterable[str], key: str) -> Resolution:
    """:meth:`Store.resolve_model_key` over the given mappings (objects in the B3 shape, read
    as tolerantly as rows written by others) and blocked models instead of a store's (behaviour B8):
    the library's rules over data the caller holds."""
    try:
        raw = _encode(key, "invalid_payload", "key")
    except ModelMappingError:
        stripped = key.strip()  # a NUL or lone surrogate cannot name a mapping: it passes through
        return {"resolved_model": stripped or None, "hit": False}
    return cast(Resolution, _call_json(
        _lib.mm_mappings_resolve, _dumps(list(mappings)), _dumps(list(blocked)), raw
    ))


def resolve_for_message_in(
    mappings: Iterable[Any],
    blocked: Iterable[str],
    *,
    user_id: Union[str, int, None] = None,
    mapping_key: Union[str, int, None] = None,
    prompt_id: Union[str, int, None] = None,
    prompt_mapping: Optional[Mapping[str, Any]] = None,
) -> MessageSelection:
    """:meth:`Store.resolve_for_message` over the given mappings and blocked models instead of
    a store's (behaviour B9)."""
    request = _dumps({
        "user_id": _scalar(user_id),
        "mapping_key": _scalar(mapping_key),
        "prompt_id": _scalar(prompt_id),
        "prompt_mapping": None if prompt_mapping is None else dict(prompt_mapping),
    })
    return cast(MessageSelection, _call_json(
        _lib.mm_mappings_resolve_for_message, _dumps(list(mappings)), _dumps(list(blocked)), request
    ))


def version() -> str:
    """The library's version."""
    return _ffi.version()


def sqlite_version() -> str:
    """The version of the SQLite the library runs (equal to ``sqlite3.sqlite_version`` when
    both share the system library, behaviour B15)."""
    return _ffi.sqlite_version()


def sqlite_source_id() -> str:
    """``sqlite3_sourceid()`` of the SQLite the library runs."""
    return _ffi.sqlite_source_id()

"""Private: the library's identity and payload rules (behaviour B1, B2), called without a store.

The drop-in applies them to what the library does not keep (prompt-scope mappings live in the
backend's prompt records) and to route an id or a payload; each is one C call, so the rules
exist once, in the library.
"""

from __future__ import annotations

import json
from ctypes import c_void_p
from typing import Any, Mapping, Tuple, cast

from . import _ffi
from .store import _dumps  # the binding's one JSON encoder

_lib = _ffi.lib


def _text_out(fn: Any, *args: Any) -> str:
    out = c_void_p()
    _ffi.call(fn, *args, out)
    return (_ffi.take_string(out) or b"").decode("utf-8")


#: The members a mapping object may have (the B3 keys), as the library lists them.
MAPPING_KEYS: Tuple[str, ...] = tuple(json.loads(_lib.mm_mapping_keys().decode("utf-8")))


def mapping_id(raw: str) -> str:
    """``" Tenant: xai "`` -> ``"mapping:xai"``; ``invalid_mapping_id`` or
    ``invalid_mapping_scope`` when it cannot be an id."""
    return _text_out(_lib.mm_mapping_id_normalize, _ffi.encode(raw, "invalid_mapping_id", "id"))


def scope_type(raw: str) -> str:
    """``" Tenant "`` -> ``"mapping"``; ``invalid_mapping_scope`` when it cannot be one."""
    return _text_out(
        _lib.mm_scope_type_normalize, _ffi.encode(raw, "invalid_mapping_scope", "scope_type")
    )


def validate(payload: Mapping[str, Any], *, host_kept: bool = False) -> dict[str, Any]:
    """The mapping (B3 dict) an upsert of ``payload`` would store, stamped now, without
    storing it. ``host_kept`` reads it as a host keeps its own mappings (as tolerantly as rows
    written by others), checking only the scope and the limits."""
    return cast(
        "dict[str, Any]",
        _ffi.call_json(_lib.mm_mapping_validate, _dumps(dict(payload)), bool(host_kept)),
    )


def known_members(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` without the members a mapping does not have: the drop-in's leniency (the
    backend's payloads come from pydantic models and remote rows with extra columns)."""
    return {k: v for k, v in payload.items() if k in MAPPING_KEYS}

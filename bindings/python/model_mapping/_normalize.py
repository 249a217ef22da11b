"""Private: the identity and payload rules of SPEC B1/B2, in Python.

They mirror ``src/normalize.rs`` and ``src/model.rs`` exactly (the same whitespace set as Rust's
``str::trim``, ASCII-only lower-casing, the same limits), because the drop-in service applies
them where the library cannot: to route an id or payload to the prompt records or the store,
and to validate and write prompt-scope mappings, which live in the backend's prompt records and
never reach the library (the C ABI has no validate-without-storing call). Stored mappings are
validated by the library itself, and the model of a prompt mapping is picked by the library
(``resolve_for_message``); only what has no C function is here.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .errors import InvalidMappingIdError, InvalidMappingScopeError, InvalidPayloadError

#: Longest scope key, model name or mapping name, in characters.
MAX_NAME_CHARS = 256
#: Most candidates one mapping may hold.
MAX_CANDIDATES = 512
#: Largest metadata object, serialised, in bytes.
MAX_METADATA_BYTES = 64 * 1024

# Unicode White_Space: exactly what Rust's `str::trim` removes (Python's `str.strip()` would
# also remove U+001C..U+001F).
_WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SCOPE_RE = re.compile(r"[a-z0-9_-]+")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def trim(text: str) -> str:
    """Rust's ``str::trim``."""
    return text.strip(_WS)


def ascii_lower(text: str) -> str:
    """Rust's ``to_ascii_lowercase``: ASCII letters only (``str.lower`` when the text is ASCII,
    several times cheaper than the translation table)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def scope_type(raw: Any) -> str:
    """Trimmed, ASCII lower-cased, ``tenant`` -> ``mapping``, ``[a-z0-9_-]+``; else
    ``invalid_mapping_scope``."""
    if not isinstance(raw, str):
        raise InvalidMappingScopeError(detail="invalid_mapping_scope: scope_type must be a string")
    value = trim(raw)
    if not value:
        raise InvalidMappingScopeError(detail="invalid_mapping_scope: scope_type is empty")
    value = ascii_lower(value)
    if not _SCOPE_RE.fullmatch(value):
        raise InvalidMappingScopeError(
            detail="invalid_mapping_scope: scope_type may only hold [a-z0-9_-]"
        )
    return "mapping" if value == "tenant" else value


def scope_key(raw: Any) -> str:
    """Trimmed, non-empty, at most 256 characters; else ``invalid_mapping_id``."""
    if not isinstance(raw, str):
        raise InvalidMappingIdError(detail="invalid_mapping_id: scope_key must be a string")
    value = trim(raw)
    if not value:
        raise InvalidMappingIdError(detail="invalid_mapping_id: scope_key is empty")
    if len(value) > MAX_NAME_CHARS:
        raise InvalidMappingIdError(
            detail=f"invalid_mapping_id: scope_key is longer than {MAX_NAME_CHARS} characters"
        )
    return value


def split_id(raw: Any) -> Tuple[str, str]:
    """Splits a (trimmed) id at its first ``:`` and normalises both sides."""
    if not isinstance(raw, str):
        raise InvalidMappingIdError(detail="invalid_mapping_id: the id must be a string")
    text = trim(raw)
    head, sep, tail = text.partition(":")
    if not sep:
        raise InvalidMappingIdError(
            detail="invalid_mapping_id: id must look like <scope_type>:<scope_key>"
        )
    if not trim(head) or not trim(tail):
        raise InvalidMappingIdError(
            detail="invalid_mapping_id: id must have a non-empty scope_type and scope_key"
        )
    return scope_type(head), scope_key(tail)


def _text_field(obj: Dict[str, Any], key: str) -> Optional[str]:
    value = obj.get(key)
    if isinstance(value, str) and trim(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and key == "scope_key":
        return str(value)  # the backend's callers pass numeric user and prompt ids
    return None


def scope_of(obj: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """The scope a loose item names: ``scope_type`` + ``scope_key`` when given, else ``id``;
    ``None`` when neither is there. Same rules as the library's import."""
    ty, key, raw_id = _text_field(obj, "scope_type"), _text_field(obj, "scope_key"), _text_field(obj, "id")
    if ty is not None and key is not None:
        return scope_type(ty), scope_key(key)
    if raw_id is not None:
        return split_id(raw_id)
    if ty is not None or key is not None:
        raise InvalidMappingIdError(
            detail="invalid_mapping_id: both scope_type and scope_key are required"
        )
    return None


def model_name(raw: Optional[str]) -> Optional[str]:
    """Trimmed; empty means none."""
    if raw is None:
        return None
    value = trim(raw)
    return value or None


def candidates(raw: Iterable[str], default_model: Optional[str]) -> List[str]:
    """Trimmed, empties dropped, duplicates dropped keeping the first, then a non-empty default
    appended when absent (SPEC B2)."""
    out: List[str] = []
    seen = set()
    for item in raw:
        value = trim(item)
        if value and value not in seen:
            seen.add(value)
            out.append(value)
    default = model_name(default_model)
    if default and default not in seen:
        out.append(default)
    return out


def utc_now() -> str:
    """Now, UTC, to the second: ``2026-01-08T02:07:59+00:00``."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _payload_error(field: str, detail: str) -> InvalidPayloadError:
    return InvalidPayloadError(detail=f"invalid_payload: {field}: {detail}")


def _check_len(field: str, value: str) -> None:
    if len(value) > MAX_NAME_CHARS:
        raise _payload_error(field, f"longer than {MAX_NAME_CHARS} characters")


def _json_number_text(value: Any) -> str:
    # serde_json's Display of a number: integers as is, floats with a fractional part.
    if isinstance(value, float):
        return json.dumps(value)
    return str(value)


def mapping_fields(payload: Dict[str, Any]) -> Dict[str, Any]:
    """Validates and normalises everything but the scope, like the library's upsert:
    ``{name, default_model, candidates, is_active, metadata}``. ``is_active`` follows the
    backend's ``bool(payload.get("is_active", True))``; empty metadata means ``{}``."""
    name = payload.get("name")
    if name is not None and not isinstance(name, str):
        raise _payload_error("name", "must be a string or null")
    if isinstance(name, str):
        _check_len("name", name)
    raw_default = payload.get("default_model")
    if raw_default is not None and not isinstance(raw_default, str):
        raise _payload_error("default_model", "must be a string or null")
    default_model = model_name(raw_default)
    if default_model is not None:
        _check_len("default_model", default_model)
    raw_candidates = payload.get("candidates")
    items: List[str] = []
    if raw_candidates is not None:
        if not isinstance(raw_candidates, (list, tuple)):
            raise _payload_error("candidates", "must be a list of strings")
        for i, item in enumerate(raw_candidates):
            if item is None:
                continue
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                items.append(_json_number_text(item))
            else:
                raise _payload_error("candidates", f"item {i} must be a string")
    cands = candidates(items, default_model)
    if len(cands) > MAX_CANDIDATES:
        raise _payload_error("candidates", f"at most {MAX_CANDIDATES} candidates, got {len(cands)}")
    for c in cands:
        _check_len("candidates", c)
    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _payload_error("metadata", "must be a JSON object")
    try:
        size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise _payload_error("metadata", f"is not JSON: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise _payload_error(
            "metadata", f"serialised metadata is {size} bytes, the limit is {MAX_METADATA_BYTES}"
        )
    return {
        "name": name,
        "default_model": default_model,
        "candidates": cands,
        "is_active": bool(payload.get("is_active", True)),
        "metadata": metadata,
    }


def preferred_endpoint_id(metadata: Any) -> Optional[int]:
    """The first of ``preferred_endpoint_id``, ``endpoint_id``, ``endpointId`` holding an
    integer, a float (truncated toward zero) or a string holding an integer (SPEC B8)."""
    if not isinstance(metadata, dict):
        return None
    for key in ("preferred_endpoint_id", "endpoint_id", "endpointId"):
        value = metadata.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if _I64_MIN <= value <= _I64_MAX:
                return value
            continue
        if isinstance(value, float):
            if math.isfinite(value) and abs(value) < 9.2e18:
                return int(value)
            continue
        if isinstance(value, str):
            text = trim(value)
            if _INT_RE.fullmatch(text):
                number = int(text)
                if _I64_MIN <= number <= _I64_MAX:
                    return number
    return None

"""The table of mappings read with behaviour B11's rules, written independently of the library (as
``tests/batch_writes.rs::reference`` does in Rust), so a scenario can compare what a store shows
with what the table holds.

The rules: scope type trimmed, ASCII lower-cased, ``tenant`` -> ``mapping``, ``[a-z0-9_-]`` only,
non-empty; scope key trimmed, 1-256 characters; a row that fails either is not a mapping. The id
is ``<type>:<key>`` from the scope columns (the ``id`` column is not read). ``default_model``
trimmed, empty -> null. ``candidates_json``: a JSON list (strings trimmed; numbers and other
values as JSON text, ``true``/``false`` as ``True``/``False``, null dropped), anything else ->
``[]``; then empties and duplicates dropped, the default appended when absent. ``is_active``
NULL -> true, else its truth. ``metadata_json``: a JSON object, anything else -> ``{}``.
``updated_at``: ``Z`` written as ``+00:00``. Several rows of one id: the active one wins, then
the newest ``updated_at``, then the one stored first (lowest rowid).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

ALLOWED = set("abcdefghijklmnopqrstuvwxyz0123456789_-")

# What a comparison looks at: every field of the B3 shape but `source`.
FIELDS = ("id", "scope_type", "scope_key", "name", "default_model", "candidates", "is_active", "updated_at", "metadata")


def scope_type(raw: Any) -> Optional[str]:
    if not isinstance(raw, str):
        return None
    t = raw.strip()
    t = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in t)
    if t == "tenant":
        t = "mapping"
    if not t or any(c not in ALLOWED for c in t):
        return None
    return t


def scope_key(raw: Any) -> Optional[str]:
    if not isinstance(raw, str):
        return None
    k = raw.strip()
    return k if 0 < len(k) <= 256 else None


def model(raw: Any) -> Optional[str]:
    if not isinstance(raw, str):
        return None
    m = raw.strip()
    return m or None


def _stringify(v: Any) -> Optional[str]:
    if v is None:
        return None
    if v is True:
        return "True"
    if v is False:
        return "False"
    if isinstance(v, str):
        s = v.strip()
    else:
        s = json.dumps(v, separators=(",", ":"))
    return s or None


def candidates(raw: Any, default: Optional[str]) -> List[str]:
    items: List[str] = []
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, list):
            items = [s for s in (_stringify(v) for v in value) if s is not None]
    out: List[str] = []
    for c in items:
        c = c.strip()
        if c and c not in out:
            out.append(c)
    if default is not None and default not in out:
        out.append(default)
    return out


def active(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, (int, float)):
        return raw != 0
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return str(raw).strip().lower() not in ("0", "false", "")


def metadata(raw: Any) -> Dict[str, Any]:
    if not isinstance(raw, str):
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def instant(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def updated_text(raw: Any) -> Optional[str]:
    if not isinstance(raw, str):
        return None
    t = instant(raw)
    if t is None:
        return raw
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00") if t.microsecond == 0 else raw


def reference(conn: sqlite3.Connection) -> Dict[str, Dict[str, Any]]:
    """id -> the mapping reads must show, from the table as ``conn`` sees it now."""
    rows = conn.execute(
        "SELECT rowid, scope_type, scope_key, name, default_model, candidates_json, is_active, "
        "updated_at, metadata_json FROM llm_model_mappings ORDER BY rowid"
    ).fetchall()
    groups: Dict[str, List[Tuple[int, Dict[str, Any]]]] = {}
    for rowid, ty, key, name, default, cands, act, updated, meta in rows:
        t, k = scope_type(ty), scope_key(key)
        if t is None or k is None:
            continue
        d = model(default)
        m = {
            "id": f"{t}:{k}",
            "scope_type": t,
            "scope_key": k,
            "name": name if isinstance(name, str) else None,
            "default_model": d,
            "candidates": candidates(cands, d),
            "is_active": active(act),
            "updated_at": updated_text(updated),
            "metadata": metadata(meta),
        }
        groups.setdefault(m["id"], []).append((rowid, m))
    out: Dict[str, Dict[str, Any]] = {}
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    for mid, entries in groups.items():
        # active first, then newest (missing last), then lowest rowid
        best = min(
            entries,
            key=lambda e: (
                not e[1]["is_active"],
                instant(e[1]["updated_at"]) is None,
                -((instant(e[1]["updated_at"]) or epoch) - epoch).total_seconds(),
                e[0],
            ),
        )
        out[mid] = best[1]
    return out


def view(listed: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """id -> the mapping as a store listed it (the B3 fields the reference has)."""
    return {m["id"]: {f: m.get(f) for f in FIELDS} for m in listed}


def diff(want: Dict[str, Dict[str, Any]], got: Dict[str, Dict[str, Any]], limit: int = 3) -> List[str]:
    """Up to ``limit`` differences, readable."""
    out: List[str] = []
    for mid in sorted(set(want) | set(got)):
        w, g = want.get(mid), got.get(mid)
        if w == g:
            continue
        if w is None:
            out.append(f"{mid}: shown but not in the table: {g}")
        elif g is None:
            out.append(f"{mid}: in the table but not shown: {w}")
        else:
            fields = [f for f in FIELDS if w.get(f) != g.get(f)]
            out.append(f"{mid}: " + ", ".join(f"{f} table {w.get(f)!r} shown {g.get(f)!r}" for f in fields))
        if len(out) >= limit:
            break
    return out

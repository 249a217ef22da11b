"""The shapes the binding returns (behaviour B3, B8, B9, B14), as ``TypedDict``\\ s: plain dicts at
run time, checked by mypy (``model: int = r["resolved_model"]`` is an error).

Keys present only sometimes (a hit's details, ``picked_from``) are in a ``total=False`` part.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, TypedDict

__all__ = [
    "MappingDict",
    "Resolution",
    "ChainStep",
    "MessageHit",
    "MessageSelection",
    "ImportError_",
    "ImportReport",
    "PullReport",
    "Change",
    "RestorePlan",
]


class MappingDict(TypedDict):
    """A mapping (behaviour B3), keys in this order. ``source`` is ``"sqlite"`` for stored rows and
    ``"prompt"`` for the drop-in's prompt-scope items."""

    id: str
    scope_type: str
    scope_key: str
    name: Optional[str]
    default_model: Optional[str]
    candidates: List[str]
    is_active: bool
    updated_at: Optional[str]
    source: str
    metadata: Dict[str, Any]


class _ResolutionRequired(TypedDict):
    resolved_model: Optional[str]
    hit: bool


class Resolution(_ResolutionRequired, total=False):
    """``resolve_model_key``'s answer (behaviour B8); the other keys only on a hit."""

    mapping_id: str
    scope_type: str
    scope_key: str
    metadata: Dict[str, Any]
    preferred_endpoint_id: Optional[int]


class ChainStep(TypedDict):
    """One step ``resolve_for_message`` tried (behaviour B9)."""

    scope_type: str
    scope_key: str
    source: str
    found: bool
    active: bool


class _MessageHitRequired(TypedDict):
    scope_type: str
    scope_key: str
    source: str


class MessageHit(_MessageHitRequired, total=False):
    """The step that decided; ``picked_from`` (``"default_model"`` or ``"first_candidate"``)
    only when a model was usable."""

    picked_from: str


class MessageSelection(TypedDict):
    """``resolve_for_message``'s answer (behaviour B9)."""

    model: Optional[str]
    temperature: Optional[float]
    hit: Optional[MessageHit]
    chain: List[ChainStep]
    reason: Optional[str]


class _ImportErrorRequired(TypedDict):
    index: int
    reason: str


class ImportError_(_ImportErrorRequired, total=False):  # noqa: N801 - `ImportError` is a builtin
    """One item a bulk import skipped, and why."""

    id: Optional[str]


class ImportReport(TypedDict):
    """A bulk import's report (behaviour B14)."""

    imported_count: int
    skipped_count: int
    errors: List[ImportError_]


class PullReport(TypedDict):
    """An applied remote snapshot's report (behaviour B14, B19): ``skipped_count`` counts remote
    items kept back because the local row is not older, ``ignored_count`` those not applied
    for another reason (prompt scope, malformed, repeated)."""

    status: str
    pulled_count: int
    skipped_count: int
    ignored_count: int
    deleted_count: int
    remote_total: int


class Change(TypedDict):
    """One recorded change (behaviour B20), newest first in :meth:`Store.history`. ``op`` is
    ``insert``, ``update``, ``delete``, ``block``, ``unblock``, ``reblock``, ``bulk`` or
    ``resync``; ``source`` is ``"library"`` or ``"external"``; ``id`` is the mapping's id (or
    the model, for the blocked list)."""

    seq: int
    at: str
    op: str
    id: Optional[str]
    before: Optional[MappingDict]
    after: Optional[MappingDict]
    source: str
    actor: Optional[str]


class RestorePlan(TypedDict):
    """What an undo or a rollback writes (or, with ``dry_run``, would write)."""

    seq: int
    restore: List[MappingDict]
    delete: List[str]
    block: List[str]
    unblock: List[str]
    dry_run: bool

"""Exceptions raised by the binding (behaviour B1, B18).

Every failure of a library call becomes one of these, chosen by the call's status code in one
place (:func:`model_mapping._ffi.error_for_status`):

- :class:`ModelMappingError` is the base of all of them; ``.code`` is the stable string code
  (behaviour B1, e.g. ``"database_busy"``), ``.status`` the C status number and ``.detail`` the
  library's full message (which starts with the code).
- Invalid input (:class:`InvalidInputError` and its subclasses) and
  :class:`MappingNotFoundError` are also :class:`ValueError`\\ s whose ``str()`` is exactly the
  code (``str(e) == "mapping_not_found"``), as the backend's callers expect; the reason is in
  ``.detail`` and, on Python 3.11 and later, attached as a note, so an uncaught one prints
  both the code and the reason.
- Every other error's ``str()`` is the detailed message.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional, Tuple, Type


class ModelMappingError(Exception):
    """Base class of every error the binding raises."""

    #: The stable string code (behaviour B1) this class stands for.
    default_code: str = "model_mapping_error"
    #: The library codes raised as this class: its ``default_code`` unless a class says
    #: otherwise (the base class stands for unknown ones).
    codes: Tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "codes" not in cls.__dict__:
            cls.codes = (cls.default_code,)

    def __init__(
        self,
        code: Optional[str] = None,
        detail: Optional[str] = None,
        *,
        status: Optional[int] = None,
    ) -> None:
        self.code: str = code or self.default_code
        self.detail: str = detail or self.code
        self.status: Optional[int] = status
        super().__init__(self._text())

    def _text(self) -> str:
        return self.detail


class _CodeIsMessage(ModelMappingError):
    """``str()`` is the bare code, as the backend's callers compare it; the library's message
    is in ``.detail`` and is attached as a note, so a traceback prints both::

        InvalidPayloadError: invalid_payload
        invalid_payload: candidates: must be a list of strings
    """

    codes: Tuple[str, ...] = ()  # a mixin: its subclasses stand for the codes

    def __init__(
        self,
        code: Optional[str] = None,
        detail: Optional[str] = None,
        *,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(code, detail, status=status)
        if self.detail != self.code and sys.version_info >= (3, 11):
            self.add_note(self.detail)

    def _text(self) -> str:
        return self.code

    def __str__(self) -> str:
        return self.code


class InvalidInputError(_CodeIsMessage, ValueError):
    """Invalid input: ``invalid_mapping_id``, ``invalid_mapping_scope``, ``invalid_payload``,
    ``invalid_json`` (also ``null_argument`` and ``invalid_utf8`` from the C layer)."""

    default_code = "invalid_payload"
    codes = ("null_argument", "invalid_utf8")


class InvalidMappingIdError(InvalidInputError):
    """An id without ``:`` or with an empty side (``invalid_mapping_id``)."""

    default_code = "invalid_mapping_id"


class InvalidMappingScopeError(InvalidInputError):
    """A scope type that is empty, missing or not ``[a-z0-9_-]`` (``invalid_mapping_scope``)."""

    default_code = "invalid_mapping_scope"


class InvalidPayloadError(InvalidInputError):
    """A payload field has the wrong type or breaks a limit (``invalid_payload``)."""

    default_code = "invalid_payload"


class InvalidJsonError(InvalidInputError):
    """Text that should be JSON is not (``invalid_json``)."""

    default_code = "invalid_json"


class MappingNotFoundError(_CodeIsMessage, ValueError):
    """No mapping with that id (``mapping_not_found``)."""

    default_code = "mapping_not_found"


class DatabaseBusyError(ModelMappingError):
    """The database stayed locked past ``busy_timeout`` (``database_busy``)."""

    default_code = "database_busy"


class DatabaseCorruptError(ModelMappingError):
    """SQLite reports a corrupt database image (``database_corrupt``)."""

    default_code = "database_corrupt"


class DatabaseIOError(ModelMappingError):
    """An operating-system I/O failure (``io_error``)."""

    default_code = "io_error"


class NotADatabaseError(ModelMappingError):
    """The file exists but is not an SQLite database (``not_a_database``)."""

    default_code = "not_a_database"


class DatabaseEmptyError(ModelMappingError):
    """The file exists but is empty (``database_empty``)."""

    default_code = "database_empty"


class DatabaseCantOpenError(ModelMappingError):
    """The database cannot be opened (``database_cant_open``)."""

    default_code = "database_cant_open"


class DatabaseReadonlyError(ModelMappingError):
    """The database or its directory is read-only (``database_readonly``)."""

    default_code = "database_readonly"


class DatabasePermissionDeniedError(ModelMappingError):
    """The process may not read (or create) the database file
    (``database_permission_denied``)."""

    default_code = "database_permission_denied"


class DatabaseError(ModelMappingError):
    """Any other SQLite failure (``database_error``)."""

    default_code = "database_error"


class MultipleSqliteCopiesError(ModelMappingError):
    """A bundled SQLite found another SQLite in the process (``multiple_sqlite_copies``)."""

    default_code = "multiple_sqlite_copies"


class StoreClosedError(ModelMappingError):
    """The store was closed (``store_closed``)."""

    default_code = "store_closed"


class HistoryUnavailableError(ModelMappingError, LookupError):
    """The change log cannot answer (``history_unavailable``): an unknown or pruned change, a
    time before the oldest change kept, or a span with a change that recorded no rows (a bulk
    import)."""

    default_code = "history_unavailable"


class HistoryConflictError(ModelMappingError):
    """An undo of a change a later change to the same mapping superseded
    (``history_conflict``); the message names the later change. Undo that one first, or pass
    ``force=True``."""

    default_code = "history_conflict"


class LibraryPanicError(ModelMappingError):
    """A panic inside the library was caught at the boundary (``panic``); the store stays
    usable."""

    default_code = "panic"


class InternalError(ModelMappingError):
    """A bug in the library (``internal_error``)."""

    default_code = "internal_error"


def _leaf_classes() -> "list[Type[ModelMappingError]]":
    out: "list[Type[ModelMappingError]]" = []
    todo = [ModelMappingError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


#: Stable code -> exception class, read from the classes' ``codes``. The library's codes are
#: read from it at import (``mm_status_str``, :mod:`model_mapping._ffi`), and a test checks
#: that each has its class here.
ERRORS_BY_CODE: Dict[str, Type[ModelMappingError]] = {
    code: cls for cls in _leaf_classes() for code in cls.codes
}


def error_for_code(code: str, detail: Optional[str] = None, status: Optional[int] = None) -> ModelMappingError:
    """The exception for a stable code, e.g. ``error_for_code("mapping_not_found")``."""
    cls = ERRORS_BY_CODE.get(code, ModelMappingError)
    return cls(code, detail, status=status)


__all__ = [
    "ModelMappingError",
    "InvalidInputError",
    "InvalidMappingIdError",
    "InvalidMappingScopeError",
    "InvalidPayloadError",
    "InvalidJsonError",
    "MappingNotFoundError",
    "DatabaseBusyError",
    "DatabaseCorruptError",
    "DatabaseIOError",
    "NotADatabaseError",
    "DatabaseEmptyError",
    "DatabaseCantOpenError",
    "DatabaseReadonlyError",
    "DatabasePermissionDeniedError",
    "DatabaseError",
    "MultipleSqliteCopiesError",
    "StoreClosedError",
    "HistoryUnavailableError",
    "HistoryConflictError",
    "LibraryPanicError",
    "InternalError",
]
# The exception classes only: the package re-exports this list. ERRORS_BY_CODE and
# error_for_code are the binding's own helpers (model_mapping._ffi), importable by name.

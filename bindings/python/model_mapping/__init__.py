"""model_mapping: a cached SQLite store and resolver for LLM model mappings (behaviour B18).

- :class:`Store` — the synchronous, thread-safe API over the Rust library (C ABI via ctypes).
- :class:`ModelMappingService` — the async drop-in for the backend's class of that name, with
  :func:`normalize_scope_type` and :func:`normalize_mapping_id`.
- :mod:`model_mapping.errors` — the exceptions (``ModelMappingError`` and its subclasses).
- :mod:`model_mapping.types` — the result shapes as ``TypedDict``\\ s (``MappingDict``,
  ``Resolution``, ``MessageSelection``, ...).

Importing the package loads the shared library (see :mod:`model_mapping._ffi` for where it is
looked for); ``ImportError`` says how to build it when it is missing.
"""

from __future__ import annotations

from . import errors, types
from .errors import *  # noqa: F401,F403 - the exception classes, listed once in errors.__all__
from .service import AIService, ModelMappingService, normalize_mapping_id, normalize_scope_type
from .store import Store, acting, sqlite_source_id, sqlite_version, version

__version__ = "0.1.0"

__all__ = [
    "Store",
    "acting",
    "ModelMappingService",
    "AIService",
    "normalize_mapping_id",
    "normalize_scope_type",
    "version",
    "sqlite_version",
    "sqlite_source_id",
]
__all__ += errors.__all__

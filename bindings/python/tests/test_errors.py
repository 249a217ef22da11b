"""Errors that explain themselves (issue #16 section 3) and error codes defined once (the
library's ``mm_status_str`` is the source; the classes say which code each stands for)."""

from __future__ import annotations

import sys
import traceback

import pytest

from model_mapping import Store, _ffi
from model_mapping.errors import (
    ERRORS_BY_CODE, InvalidInputError, InvalidPayloadError, ModelMappingError,
)


def test_every_library_status_has_its_own_class_and_every_class_a_library_code():
    library_codes = set(_ffi.STATUS_CODES.values())
    assert {"invalid_payload", "mapping_not_found", "null_argument", "panic"} <= library_codes
    for code in library_codes:
        cls = ERRORS_BY_CODE.get(code)
        assert cls is not None and cls is not ModelMappingError, code
    assert set(ERRORS_BY_CODE) == library_codes
    assert ERRORS_BY_CODE["null_argument"] is InvalidInputError


def test_an_uncaught_input_error_prints_the_code_and_the_reason(db_path):
    with Store(db_path) as s:
        with pytest.raises(InvalidPayloadError) as info:
            s.upsert({"id": "mapping:x", "candidates": "m"})
    err = info.value
    assert str(err) == "invalid_payload"  # SPEC B18: what the backend's callers compare
    assert isinstance(err, ValueError)
    assert (err.code, err.status) == ("invalid_payload", 4)
    assert err.detail == "invalid_payload: candidates: must be a list of strings"
    printed = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    if sys.version_info >= (3, 11):
        assert "InvalidPayloadError: invalid_payload\n" in printed
        assert "invalid_payload: candidates: must be a list of strings" in printed

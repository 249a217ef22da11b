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
    assert str(err) == "invalid_payload"  # behaviour B18: what the backend's callers compare
    assert isinstance(err, ValueError)
    assert (err.code, err.status) == ("invalid_payload", 4)
    assert err.detail == "invalid_payload: candidates: must be a list of strings"
    printed = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    if sys.version_info >= (3, 11):
        assert "InvalidPayloadError: invalid_payload\n" in printed
        assert "invalid_payload: candidates: must be a list of strings" in printed


@pytest.mark.parametrize("call, name", [
    (lambda s: s.get(5), "id"),
    (lambda s: s.delete(5), "id"),
    (lambda s: s.resolve_model_key(5), "key"),
    (lambda s: s.explain(None), "key"),
    (lambda s: s.activate_default("mapping:x", 5), "model"),
    (lambda s: s.list_mappings(scope_type=3), "scope_type"),
    (lambda s: s.upsert("mapping:x"), "payload"),
    (lambda s: s.import_items({"id": "mapping:x"}), "items"),
    (lambda s: s.resolve_for_message(prompt_id=1, prompt_mapping=["x"]), "prompt_mapping"),
])
def test_a_wrong_argument_type_is_a_type_error_naming_the_argument(db_path, call, name):
    with Store(db_path) as s:
        with pytest.raises(TypeError, match=rf"^{name} must be a"):
            call(s)


def test_store_arguments_of_the_wrong_type_name_themselves_at_open(tmp_path):
    with pytest.raises(TypeError, match="^path must be a str or os.PathLike, not int"):
        Store(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^storage_dir must be"):
        Store(tmp_path / "a.db", storage_dir=1.5)  # type: ignore[arg-type]


def test_resolve_for_message_takes_keywords_only(db_path):
    with Store(db_path) as s:
        with pytest.raises(TypeError, match="positional"):
            s.resolve_for_message("7", "xai")  # type: ignore[misc]
        assert s.resolve_for_message(user_id="7")["reason"] == "mapping_not_found"


@pytest.mark.parametrize("metadata, where", [
    ({"temperature": float("nan")}, "metadata.temperature: nan has no JSON form"),
    ({"limits": [1, float("inf")]}, "metadata.limits[1]: inf has no JSON form"),
    ({"owner": object()}, "metadata.owner: a object (<object object at"),
    ({"when": __import__("datetime").date(2026, 1, 2)}, "metadata.when: a date (datetime.date(2026, 1, 2))"),
    ({(1, 2): "tuple key"}, "metadata: the key (1, 2) is a tuple, not a string"),
])
def test_a_value_json_cannot_hold_is_refused_saying_where_and_why(db_path, metadata, where):
    with Store(db_path) as s:
        with pytest.raises(InvalidPayloadError) as info:
            s.upsert({"id": "mapping:x", "default_model": "m", "metadata": metadata})
        assert info.value.detail.startswith("invalid_payload: " + where), info.value.detail
        assert "line 1 column" not in info.value.detail
        assert s.get("mapping:x") is None


def test_the_drop_in_writes_non_json_values_as_text_as_before(service_factory):
    import datetime

    from conftest import run

    svc = service_factory()
    item = run(svc.upsert_mapping({"id": "mapping:x", "default_model": "m",
                                   "metadata": {"when": datetime.date(2026, 1, 2)}}))
    assert item["metadata"] == {"when": "2026-01-02"}


def test_a_missing_directory_is_named_without_internal_file_names(tmp_path):
    from model_mapping.errors import DatabaseCantOpenError

    path = tmp_path / "missing" / "dir" / "app.db"
    with pytest.raises(DatabaseCantOpenError) as info:
        Store(path)
    message = str(info.value)
    assert f"the directory {path.parent} does not exist" in message
    assert "mm-create" not in message


def test_the_drop_in_refuses_an_ai_service_without_the_prompt_methods_at_once(tmp_path):
    from model_mapping import ModelMappingService

    with pytest.raises(TypeError, match="ai_service must be .* lacks get_prompt, update_prompt, list_prompts"):
        ModelMappingService(None, tmp_path / "a.db", tmp_path)  # type: ignore[arg-type]

    class OnlyPrompts:
        def get_prompt(self, prompt_id): ...
        def update_prompt(self, prompt_id, payload): ...
        def list_prompts(self, *, page, page_size): return [], 0

    from conftest import run

    svc = ModelMappingService(OnlyPrompts(), tmp_path / "a.db", tmp_path)
    try:
        with pytest.raises(TypeError, match="sync_to_supabase needs ai_service.push_model_mappings_to_supabase"):
            run(svc.sync_to_supabase())
    finally:
        svc.close()

"""behaviour B19 test seams: the backend's tests replace ``list_mappings`` (and could replace
``list_blocked_models``) on the running service and expect both resolves to follow; without a
replacement the resolves take the library's fast path.

The first tests do what ``tests/test_ai_conversation_e2e.py::TestModelSelection`` of the backend
does: ``patch.object(app.state.model_mapping_service, "list_mappings",
new=AsyncMock(return_value=[...]))``, then a request whose ``model`` is the mapping id."""

from __future__ import annotations

from unittest.mock import AsyncMock, patch

import pytest

from model_mapping import ModelMappingService
from model_mapping.service import MAPPING_KEY

from conftest import run

USER_MAPPING = {
    "id": "user:test-user-123",
    "scope_type": "user",
    "scope_key": "test-user-123",
    "name": "User Override",
    "default_model": "gpt-4o",
    "candidates": ["gpt-4o"],
    "is_active": True,
    "source": "fallback",
    "metadata": {},
}


@pytest.fixture
def svc(service_factory):
    service = service_factory()
    # A stored row the patched list does not hold: a resolve that hits it took the fast path.
    run(service.upsert_mapping({"id": "user:test-user-123", "default_model": "stored-model"}))
    return service


def test_a_list_mappings_patched_on_the_instance_decides_resolve_model_key(svc):
    with patch.object(svc, "list_mappings", new=AsyncMock(return_value=[USER_MAPPING])) as mocked:
        r = run(svc.resolve_model_key("user:test-user-123"))
    assert mocked.await_count == 1
    assert r == {
        "resolved_model": "gpt-4o",
        "hit": True,
        "mapping_id": "user:test-user-123",
        "scope_type": "user",
        "scope_key": "test-user-123",
        "metadata": {},
        "preferred_endpoint_id": None,
    }
    # The patch is gone: the stored row decides again.
    assert run(svc.resolve_model_key("user:test-user-123"))["resolved_model"] == "stored-model"


def test_the_endpoint_in_a_patched_mappings_metadata_is_parsed_by_the_library_rules(svc):
    mapping = dict(USER_MAPPING, metadata={"endpoint_id": " 42 "})
    with patch.object(svc, "list_mappings", new=AsyncMock(return_value=[mapping])):
        r = run(svc.resolve_model_key("Tenant:nothing"))
        assert r == {"resolved_model": "Tenant:nothing", "hit": False}
        r = run(svc.resolve_model_key("user:test-user-123"))
    assert r["preferred_endpoint_id"] == 42
    assert r["metadata"] == {"endpoint_id": " 42 "}


def test_bare_keys_over_a_patched_list_follow_b8_priority_and_skip_inactive(svc):
    items = [
        {"id": "global:xai", "default_model": "g", "is_active": True},
        {"scope_type": "tenant", "scope_key": "xai", "default_model": "m-old",
         "updated_at": "2026-01-01T00:00:00Z"},
        {"scope_type": "mapping", "scope_key": "xai", "default_model": "m-new",
         "updated_at": "2026-01-02T00:00:00+00:00"},
        {"id": "mapping:off", "default_model": "x", "is_active": False},
        "not a mapping",
    ]
    with patch.object(svc, "list_mappings", new=AsyncMock(return_value=items)):
        assert run(svc.resolve_model_key("xai"))["resolved_model"] == "m-new"
        assert run(svc.resolve_model_key("mapping:off")) == {"resolved_model": "mapping:off", "hit": False}
        assert run(svc.resolve_model_key("  ")) == {"resolved_model": None, "hit": False}


def test_a_patched_list_blocked_models_is_followed_too(svc):
    mapping = dict(USER_MAPPING, candidates=["gpt-4o", "gpt-4o-mini"])
    with patch.object(svc, "list_mappings", new=AsyncMock(return_value=[mapping])), \
            patch.object(svc, "list_blocked_models", new=AsyncMock(return_value=["gpt-4o"])):
        assert run(svc.resolve_model_key("user:test-user-123"))["resolved_model"] == "gpt-4o-mini"
    # Only the blocked list replaced: the stored mappings, the replaced blocked list.
    with patch.object(svc, "list_blocked_models", new=AsyncMock(return_value=["stored-model"])):
        r = run(svc.resolve_model_key("user:test-user-123"))
    assert (r["resolved_model"], r["hit"]) == (None, True)


def test_a_failing_replacement_makes_the_key_pass_through(svc):
    with patch.object(svc, "list_mappings", new=AsyncMock(side_effect=RuntimeError("down"))):
        assert run(svc.resolve_model_key(" user:test-user-123 ")) == {
            "resolved_model": "user:test-user-123", "hit": False}


def test_a_class_patch_and_a_subclass_override_are_followed(service_factory, storage_dir, fake_ai, tmp_path):
    svc = service_factory()
    with patch.object(ModelMappingService, "list_mappings", new=AsyncMock(return_value=[USER_MAPPING])):
        assert run(svc.resolve_model_key("user:test-user-123"))["resolved_model"] == "gpt-4o"

    class Pinned(ModelMappingService):
        async def list_mappings(self, scope_type=None, scope_key=None):
            return [dict(USER_MAPPING, default_model="sub-model", candidates=[])]

    sub = Pinned(fake_ai, tmp_path / "sub.db", storage_dir)
    try:
        assert run(sub.resolve_model_key("user:test-user-123"))["resolved_model"] == "sub-model"
        r = run(sub.resolve_for_message(user_id="test-user-123"))
        assert r["model"] == "sub-model"
    finally:
        sub.close()


def test_resolve_for_message_follows_a_patched_list(svc):
    items = [
        dict(USER_MAPPING, is_active=False),
        {"id": "mapping:biz", "default_model": "blocked-one", "candidates": ["biz-2"],
         "metadata": {"temperature": 0.3}},
    ]
    with patch.object(svc, "list_mappings", new=AsyncMock(return_value=items)), \
            patch.object(svc, "list_blocked_models", new=AsyncMock(return_value=["blocked-one"])):
        r = run(svc.resolve_for_message(user_id="test-user-123", mapping_key="biz"))
    assert r["model"] == "biz-2"
    assert r["temperature"] == 0.3
    assert r["hit"] == {"scope_type": "mapping", "scope_key": "biz", "source": "fallback",
                        "picked_from": "first_candidate"}
    assert [(s["scope_type"], s["found"], s["active"]) for s in r["chain"]] == [
        ("user", True, False), ("mapping", True, True)]
    # Unpatched: the stored user row decides.
    assert run(svc.resolve_for_message(user_id="test-user-123"))["model"] == "stored-model"


def test_resolve_for_message_with_a_patched_list_still_reads_the_prompt_record(svc, fake_ai):
    fake_ai.add_prompt(7, tools_json={MAPPING_KEY: {"default_model": "p-model", "candidates": []}})
    with patch.object(svc, "list_mappings", new=AsyncMock(return_value=[USER_MAPPING])):
        r = run(svc.resolve_for_message(user_id="test-user-123", prompt_id=7))
    assert (r["model"], r["hit"]["source"]) == ("p-model", "prompt")


def test_without_a_replacement_the_fast_path_is_taken_and_any_wrapper_is_a_replacement(svc):
    assert not svc._lists_replaced()
    assert run(svc.resolve_model_key("user:test-user-123"))["resolved_model"] == "stored-model"
    calls = []
    original = ModelMappingService.list_mappings

    async def spy(self, *a, **kw):
        calls.append(1)
        return await original(self, *a, **kw)

    # Even a wrapper that returns the same rows is followed: the check is by identity.
    with patch.object(ModelMappingService, "list_mappings", new=spy):
        assert svc._lists_replaced()
        assert run(svc.resolve_model_key("user:test-user-123"))["resolved_model"] == "stored-model"
    assert calls == [1]
    assert not svc._lists_replaced()

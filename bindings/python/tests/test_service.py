"""The drop-in ``ModelMappingService``: every public method, written from behaviour B1-B14, B18, B19,
with a fake ``ai_service`` holding prompt records."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

import model_mapping
from model_mapping import ModelMappingService, normalize_mapping_id, normalize_scope_type
from model_mapping.errors import InvalidMappingIdError, MappingNotFoundError, ModelMappingError
from model_mapping.service import MAPPING_KEY

from conftest import FakeAIService, run

B3_KEYS = ["id", "scope_type", "scope_key", "name", "default_model", "candidates", "is_active", "updated_at", "source", "metadata"]


def prompt_mapping(default="p-model", candidates=None, is_active=True, metadata=None, updated_at="2026-01-01T00:00:00+00:00"):
    return {
        "candidates": list(candidates if candidates is not None else [default]),
        "default_model": default,
        "is_active": is_active,
        "updated_at": updated_at,
        "metadata": metadata or {},
    }


# ---- module functions ----

def test_normalize_functions_apply_the_alias_and_case_rules():
    assert normalize_scope_type(" Tenant ") == "mapping"
    assert normalize_scope_type("USER") == "user"
    assert normalize_scope_type("custom_type-1") == "custom_type-1"
    assert normalize_mapping_id(" tenant:xai ") == "mapping:xai"
    assert normalize_mapping_id("Tenant: xai") == "mapping:xai"
    assert normalize_mapping_id("mapping:a:b") == "mapping:a:b"


def test_normalize_functions_never_raise_like_the_backends():
    # The backend re-exports these and calls them on arbitrary model keys.
    assert normalize_scope_type(None) == ""
    assert normalize_scope_type("  ") == ""
    assert normalize_mapping_id("xai") == "xai"
    assert normalize_mapping_id(" gpt-4o ") == "gpt-4o"
    assert normalize_mapping_id("") == ""
    assert normalize_mapping_id(None) == ""  # type: ignore[arg-type]
    assert normalize_mapping_id("llama3:8b") == "llama3:8b"


# ---- constructor and first use ----

def test_constructor_does_nothing_slow(tmp_path, fake_ai):
    db = tmp_path / "sub" / "app.db"
    db.parent.mkdir()
    storage = tmp_path / "new" / "storage"
    svc = ModelMappingService(fake_ai, db, storage)
    assert storage.is_dir()  # created when missing
    assert not db.exists()  # the store opens lazily
    assert svc._store is None
    svc.close()


def test_db_may_be_a_manager_object(tmp_path, fake_ai, storage_dir):
    class Manager:
        def __init__(self, path):
            self._db_path = path

    class PublicManager:
        db_path = str(tmp_path / "public.db")

    for db, expected in ((Manager(tmp_path / "priv.db"), tmp_path / "priv.db"), (PublicManager(), tmp_path / "public.db")):
        svc = ModelMappingService(fake_ai, db, storage_dir)
        run(svc.upsert_mapping({"scope_type": "mapping", "scope_key": "a", "default_model": "m"}))
        assert expected.is_file()
        svc.close()
    with pytest.raises(TypeError):
        ModelMappingService(fake_ai, object(), storage_dir)


def test_first_use_opens_in_a_worker_thread_and_migrates_once(service_factory, sample_storage, monkeypatch):
    from model_mapping import service as service_module

    opened_on = []
    real_store = service_module.Store

    class RecordingStore(real_store):
        def __init__(self, *a, **kw):
            opened_on.append(threading.get_ident())
            super().__init__(*a, **kw)

    monkeypatch.setattr(service_module, "Store", RecordingStore)
    svc = service_factory(storage=sample_storage)

    async def scenario():
        loop_thread = threading.get_ident()
        r = await svc.resolve_model_key("xai")
        return loop_thread, r

    loop_thread, r = run(scenario())
    assert len(opened_on) == 1 and opened_on[0] != loop_thread
    assert r["hit"] is True and r["resolved_model"] == "grok-3"  # grok-4 is blocked in the sample
    report = run(svc.last_migration())
    assert report["status"] == "imported" and report["blocked_status"] == "imported"
    assert any(e["key"].endswith("broken") for e in report["errors"])
    run(svc.list_mappings())
    assert len(opened_on) == 1
    # A second service (another worker) on the same database: already done, nothing re-imported.
    other = service_factory(storage=sample_storage)
    assert run(other.last_migration())["status"] == "already_done"


# ---- list_mappings with prompt records ----

def _seed_prompts(ai: FakeAIService):
    ai.add_prompt(1, name="Support", tools_json={MAPPING_KEY: prompt_mapping("p1-model"), "other": 1}, version="v3", category="support")
    ai.add_prompt(2, name="No mapping", tools_json={"tools": []})
    ai.add_prompt(3, name="List tools", tools_json=[{"type": "x"}, {MAPPING_KEY: prompt_mapping("p3-model", is_active=False)}])
    ai.add_prompt(4, name="Empty mapping", tools_json={MAPPING_KEY: {}})
    ai.add_prompt(5, name="Raw", tools_json="some text")


def test_list_mappings_prompt_items_first_then_stored(service_factory, fake_ai):
    _seed_prompts(fake_ai)
    svc = service_factory()
    run(svc.upsert_mapping({"scope_type": "tenant", "scope_key": "xai", "default_model": "grok-4"}))
    run(svc.upsert_mapping({"scope_type": "global", "scope_key": "global", "default_model": "g"}))
    items = run(svc.list_mappings())
    assert [i["id"] for i in items[:2]] == ["prompt:1", "prompt:3"]
    assert {i["id"] for i in items[2:]} == {"mapping:xai", "global:global"}
    for i in items:
        assert list(i) == B3_KEYS
    p1 = items[0]
    assert p1 == {
        "id": "prompt:1", "scope_type": "prompt", "scope_key": "1", "name": "Support",
        "default_model": "p1-model", "candidates": ["p1-model"], "is_active": True,
        "updated_at": "2026-01-01T00:00:00+00:00", "source": "prompt",
        "metadata": {"version": "v3", "category": "support"},
    }
    assert items[1]["is_active"] is False and items[1]["default_model"] == "p3-model"
    assert all(i["source"] == "sqlite" for i in items[2:])


def test_list_mappings_filters(service_factory, fake_ai):
    _seed_prompts(fake_ai)
    svc = service_factory()
    run(svc.upsert_mapping({"scope_type": "mapping", "scope_key": "xai", "default_model": "grok-4"}))
    run(svc.upsert_mapping({"scope_type": "user", "scope_key": "1", "default_model": "u"}))
    fake_ai.list_calls.clear()
    assert [i["id"] for i in run(svc.list_mappings(scope_type="tenant"))] == ["mapping:xai"]
    assert [i["id"] for i in run(svc.list_mappings(scope_type="Mapping", scope_key="xai"))] == ["mapping:xai"]
    assert fake_ai.list_calls == []  # prompt records are only read when prompts may match
    assert [i["id"] for i in run(svc.list_mappings(scope_type="prompt"))] == ["prompt:1", "prompt:3"]
    assert [i["id"] for i in run(svc.list_mappings(scope_key="1"))] == ["prompt:1", "user:1"]
    assert run(svc.list_mappings(scope_type="user", scope_key="nobody")) == []
    with pytest.raises(ValueError) as info:
        run(svc.list_mappings(scope_type="bad/type"))
    assert str(info.value) == "invalid_mapping_scope"


def test_prompt_paging_rule(service_factory, fake_ai):
    for pid in range(1, 251):
        fake_ai.add_prompt(pid, tools_json={MAPPING_KEY: prompt_mapping(f"m{pid}")} if pid % 50 == 0 else None)
    svc = service_factory()
    items = run(svc.list_mappings(scope_type="prompt"))
    assert [i["id"] for i in items] == [f"prompt:{p}" for p in (50, 100, 150, 200, 250)]
    assert fake_ai.list_calls == [(1, 100), (2, 100), (3, 100)]  # 3 * 100 >= 250: stop
    # A total that lies (too large, or missing): an empty page ends the walk.
    for total in (10_000, None):
        fake_ai.list_calls.clear()
        fake_ai.total_override = total
        assert len(run(svc.list_mappings(scope_type="prompt"))) == 5
        assert fake_ai.list_calls == [(1, 100), (2, 100), (3, 100), (4, 100)]


# ---- upsert_mapping ----

def test_upsert_mapping_stored_returns_the_listed_item(service_factory):
    svc = service_factory()
    item = run(svc.upsert_mapping({
        "scope_type": "Tenant", "scope_key": " xai ", "name": "xAI", "default_model": "grok-4",
        "candidates": ["grok-3", "grok-3", " "], "is_active": 1, "metadata": None,
    }))
    assert list(item) == B3_KEYS
    assert item["id"] == "mapping:xai" and item["source"] == "sqlite"
    assert item["candidates"] == ["grok-3", "grok-4"] and item["metadata"] == {} and item["is_active"] is True
    assert run(svc.list_mappings(scope_type="mapping")) == [item]
    user = run(svc.upsert_mapping({"scope_type": "user", "scope_key": 42, "default_model": "u"}))
    assert user["id"] == "user:42"
    by_id = run(svc.upsert_mapping({"id": "module:chat", "default_model": "c"}))
    assert by_id["id"] == "module:chat"
    with pytest.raises(ValueError) as info:
        run(svc.upsert_mapping({"scope_type": "mapping", "scope_key": "x", "metadata": [1]}))
    assert str(info.value) == "invalid_payload" and "metadata" in info.value.detail
    with pytest.raises(ValueError) as info:
        run(svc.upsert_mapping({"name": "no scope"}))
    assert str(info.value) == "invalid_mapping_scope"


@pytest.mark.parametrize(
    "tools, expected_container",
    [
        ({"other": 1}, {"other": 1}),
        ([{"type": "fn"}], {"tools": [{"type": "fn"}]}),
        (None, {}),
        ("raw text", {"raw": "raw text"}),
    ],
)
def test_upsert_mapping_prompt_writes_the_prompt_record(service_factory, fake_ai, tools, expected_container):
    fake_ai.add_prompt(7, name="Writer", tools_json=tools, version="v2", category="writing")
    svc = service_factory()
    item = run(svc.upsert_mapping({
        "scope_type": "prompt", "scope_key": "7", "name": "ignored", "default_model": " gpt-4o ",
        "candidates": ["gpt-4o-mini", "gpt-4o-mini"], "metadata": {"temperature": 0.2},
    }))
    (pid, patch), = fake_ai.updates
    assert pid == 7 and list(patch) == ["tools_json"]
    container = patch["tools_json"]
    written = container.pop(MAPPING_KEY)
    assert container == expected_container
    assert list(written) == ["candidates", "default_model", "is_active", "updated_at", "metadata"]
    assert written["candidates"] == ["gpt-4o-mini", "gpt-4o"] and written["default_model"] == "gpt-4o"
    assert written["is_active"] is True and written["metadata"] == {"temperature": 0.2}
    assert written["updated_at"].endswith("+00:00")
    assert item == {
        "id": "prompt:7", "scope_type": "prompt", "scope_key": "7", "name": "Writer",
        "default_model": "gpt-4o", "candidates": ["gpt-4o-mini", "gpt-4o"], "is_active": True,
        "updated_at": written["updated_at"], "source": "prompt",
        "metadata": {"version": "v2", "category": "writing"},
    }
    assert svc.store.list_mappings(scope_type="prompt") == []  # never in SQLite


def test_upsert_mapping_prompt_errors(service_factory, fake_ai):
    fake_ai.add_prompt(7)
    svc = service_factory()
    with pytest.raises(ValueError) as info:
        run(svc.upsert_mapping({"scope_type": "prompt", "scope_key": "seven", "default_model": "m"}))
    assert str(info.value) == "invalid_mapping_id"
    with pytest.raises(ValueError) as info:
        run(svc.upsert_mapping({"id": "prompt:7", "default_model": "m" * 300}))
    assert str(info.value) == "invalid_payload" and "default_model" in info.value.detail
    with pytest.raises(ValueError, match="prompt_not_found"):
        run(svc.upsert_mapping({"id": "prompt:8", "default_model": "m"}))
    assert fake_ai.updates == []


# ---- activate_default ----

def test_activate_default_stored_and_prompt(service_factory, fake_ai):
    fake_ai.add_prompt(3, tools_json=[{MAPPING_KEY: prompt_mapping("old", metadata={"k": "v"}, is_active=False)}])
    svc = service_factory()
    run(svc.upsert_mapping({"scope_type": "mapping", "scope_key": "x", "name": "X", "default_model": "a", "is_active": False, "metadata": {"t": 1}}))
    item = run(svc.activate_default("tenant:x", "b"))
    assert item["id"] == "mapping:x" and item["default_model"] == "b" and item["is_active"] is True
    assert item["candidates"] == ["a", "b"] and item["name"] == "X" and item["metadata"] == {"t": 1}
    p = run(svc.activate_default("prompt:3", "new"))
    assert p["id"] == "prompt:3" and p["source"] == "prompt"
    assert p["default_model"] == "new" and p["candidates"] == ["old", "new"] and p["is_active"] is True
    written = fake_ai.prompts[3]["tools_json"][MAPPING_KEY]
    assert written["metadata"] == {"k": "v"} and written["is_active"] is True


@pytest.mark.parametrize("mapping_id", ["mapping:missing", "tenant:missing", "prompt:99", "prompt:3", "prompt:abc", "user:1"])
def test_activate_default_missing_raises_value_error_mapping_not_found(service_factory, fake_ai, mapping_id):
    fake_ai.add_prompt(3, tools_json={"no": "mapping"})
    svc = service_factory()
    with pytest.raises(ValueError) as info:
        run(svc.activate_default(mapping_id, "m"))
    assert str(info.value) == "mapping_not_found"
    assert isinstance(info.value, MappingNotFoundError) and isinstance(info.value, ModelMappingError)
    with pytest.raises(ValueError) as info:
        run(svc.activate_default("no-colon", "m"))
    assert str(info.value) == "invalid_mapping_id"


# ---- delete_mapping ----

def test_delete_mapping(service_factory, fake_ai):
    fake_ai.add_prompt(1, tools_json={MAPPING_KEY: prompt_mapping(), "keep": True})
    fake_ai.add_prompt(2, tools_json=[{"a": 1}, {MAPPING_KEY: prompt_mapping(), "b": 2}])
    fake_ai.add_prompt(3, tools_json=None)
    svc = service_factory()
    run(svc.upsert_mapping({"id": "tenant:x", "default_model": "m"}))
    assert run(svc.delete_mapping("TENANT:x")) is True
    assert run(svc.delete_mapping("mapping:x")) is False
    assert run(svc.delete_mapping("prompt:1")) is True
    assert fake_ai.prompts[1]["tools_json"] == {"keep": True}
    assert run(svc.delete_mapping("prompt:1")) is False
    assert run(svc.delete_mapping("prompt:2")) is True
    assert run(svc.list_mappings(scope_type="prompt")) == []
    assert run(svc.delete_mapping("prompt:3")) is False
    for bad in ("prompt:abc", "xai", "mapping:"):
        with pytest.raises(ValueError) as info:
            run(svc.delete_mapping(bad))
        assert str(info.value) == "invalid_mapping_id"


# ---- resolve_model_key ----

def test_resolve_model_key_cases(service_factory):
    svc = service_factory()
    up = lambda p: run(svc.upsert_mapping(p))  # noqa: E731
    up({"scope_type": "tenant", "scope_key": "xai", "default_model": "grok-4", "candidates": ["grok-3"], "metadata": {"preferred_endpoint_id": "12"}})
    up({"scope_type": "global", "scope_key": "xai", "default_model": "global-xai"})
    up({"scope_type": "global", "scope_key": "only-global", "default_model": "gm", "metadata": {"endpointId": 4.9}})
    up({"scope_type": "mapping", "scope_key": "off", "default_model": "x", "is_active": False})
    up({"scope_type": "mapping", "scope_key": "all-blocked", "default_model": "b1", "candidates": ["b2"]})
    run(svc.upsert_blocked_models([{"model": "b1"}, {"model": "b2"}]))

    r = run(svc.resolve_model_key("xai"))
    assert r == {"resolved_model": "grok-4", "hit": True, "mapping_id": "mapping:xai", "scope_type": "mapping",
                 "scope_key": "xai", "metadata": {"preferred_endpoint_id": "12"}, "preferred_endpoint_id": 12}
    for key in ("tenant:xai", "Tenant:xai", "mapping:xai", " mapping: xai "):
        assert run(svc.resolve_model_key(key))["mapping_id"] == "mapping:xai", key
    g = run(svc.resolve_model_key("only-global"))
    assert g["resolved_model"] == "gm" and g["preferred_endpoint_id"] == 4
    assert run(svc.resolve_model_key("global:xai"))["resolved_model"] == "global-xai"
    assert run(svc.resolve_model_key("off")) == {"resolved_model": "off", "hit": False}
    assert run(svc.resolve_model_key("all-blocked"))["resolved_model"] is None
    assert run(svc.resolve_model_key("all-blocked"))["hit"] is True
    for key in ("llama3:8b", "openai/gpt-4o:free", "gpt-4o", " spaced "):
        assert run(svc.resolve_model_key(key)) == {"resolved_model": key.strip(), "hit": False}
    for key in ("", "   ", None):
        assert run(svc.resolve_model_key(key)) == {"resolved_model": None, "hit": False}
    run(svc.upsert_blocked_models([{"model": "grok-4"}]))
    assert run(svc.resolve_model_key("xai"))["resolved_model"] == "grok-3"  # blocked default skipped


def test_resolve_model_key_consults_the_prompt_record(service_factory, fake_ai):
    fake_ai.add_prompt(5, tools_json={MAPPING_KEY: prompt_mapping("p-default", ["p-default", "p-second"], metadata={"preferred_endpoint_id": 9})})
    fake_ai.add_prompt(6, tools_json={MAPPING_KEY: prompt_mapping("p6", is_active=False)})
    svc = service_factory()
    r = run(svc.resolve_model_key("prompt:5"))
    assert r == {"resolved_model": "p-default", "hit": True, "mapping_id": "prompt:5", "scope_type": "prompt",
                 "scope_key": "5", "metadata": {"preferred_endpoint_id": 9}, "preferred_endpoint_id": 9}
    run(svc.upsert_blocked_models([{"model": "p-default"}]))
    assert run(svc.resolve_model_key("Prompt: 5"))["resolved_model"] == "p-second"
    assert run(svc.resolve_model_key("prompt:6")) == {"resolved_model": "prompt:6", "hit": False}
    assert run(svc.resolve_model_key("prompt:404")) == {"resolved_model": "prompt:404", "hit": False}
    assert run(svc.resolve_model_key("prompt:abc")) == {"resolved_model": "prompt:abc", "hit": False}


def test_resolve_model_key_never_raises_when_the_store_cannot_be_read(tmp_path, fake_ai, storage_dir):
    svc = ModelMappingService(fake_ai, tmp_path, storage_dir)  # a directory is no database
    assert run(svc.resolve_model_key(" xai ")) == {"resolved_model": "xai", "hit": False}
    assert run(svc.resolve_model_key("")) == {"resolved_model": None, "hit": False}
    with pytest.raises(ModelMappingError):
        run(svc.list_mappings())  # other methods do report it
    svc.close()


def test_resolve_model_key_can_be_patched_on_the_class(service_factory, monkeypatch):
    async def fake(self, model_key):
        return {"resolved_model": "patched", "hit": True}

    monkeypatch.setattr(ModelMappingService, "resolve_model_key", fake)
    svc = service_factory()
    assert isinstance(svc, ModelMappingService)
    assert run(svc.resolve_model_key("x")) == {"resolved_model": "patched", "hit": True}


# ---- resolve_for_message ----

def test_resolve_for_message_chain(service_factory, fake_ai):
    fake_ai.add_prompt(9, tools_json={MAPPING_KEY: prompt_mapping("prompt-model", metadata={"temperature": 0.5})})
    fake_ai.add_prompt(10, tools_json={"nothing": True})
    svc = service_factory()
    run(svc.upsert_mapping({"id": "user:42", "default_model": "user-model", "metadata": {"temperature": 1}}))
    run(svc.upsert_mapping({"id": "tenant:biz", "default_model": "biz-model", "candidates": ["biz-2"], "metadata": {"temperature": True}}))
    run(svc.upsert_mapping({"id": "global:global", "default_model": "global-model"}))

    r = run(svc.resolve_for_message(user_id="42", tenant_id="biz", prompt_id=9))
    assert r == {
        "model": "prompt-model", "temperature": 0.5,
        "hit": {"scope_type": "prompt", "scope_key": "9", "source": "prompt", "picked_from": "default_model"},
        "chain": [{"scope_type": "prompt", "scope_key": "9", "source": "prompt", "found": True, "active": True}],
        "reason": None,
    }
    r = run(svc.resolve_for_message(user_id="42", tenant_id="biz", prompt_id=10))
    assert r["model"] == "user-model" and r["temperature"] == 1.0
    assert [(c["scope_type"], c["found"]) for c in r["chain"]] == [("prompt", False), ("user", True)]
    r = run(svc.resolve_for_message(user_id="7", tenant_id="tenant:biz"))
    assert r["model"] == "biz-model" and r["temperature"] is None
    assert r["hit"] == {"scope_type": "mapping", "scope_key": "biz", "source": "fallback", "picked_from": "default_model"}
    assert run(svc.resolve_for_message(user_id=7, mapping_key="mapping:biz"))["model"] == "biz-model"
    assert run(svc.resolve_for_message("7", "biz"))["model"] == "biz-model"  # positional, backend order
    r = run(svc.resolve_for_message(user_id="7"))
    assert r["model"] == "global-model" and r["hit"]["scope_type"] == "global"
    assert [c["scope_type"] for c in r["chain"]] == ["user", "global"]
    run(svc.upsert_blocked_models([{"model": "biz-model"}]))
    r = run(svc.resolve_for_message(user_id="7", tenant_id="biz"))
    assert r["model"] == "biz-2" and r["hit"]["picked_from"] == "first_candidate"


def test_resolve_for_message_not_found_and_blocked(service_factory, fake_ai):
    fake_ai.add_prompt(1, tools_json={MAPPING_KEY: prompt_mapping("blocked-model", metadata={"temperature": 0.1})})
    svc = service_factory()
    r = run(svc.resolve_for_message(user_id="1", tenant_id="nothing"))
    assert r == {
        "model": None, "temperature": None, "hit": None, "reason": "mapping_not_found",
        "chain": [
            {"scope_type": "user", "scope_key": "1", "source": "fallback", "found": False, "active": False},
            {"scope_type": "mapping", "scope_key": "nothing", "source": "fallback", "found": False, "active": False},
            {"scope_type": "global", "scope_key": "global", "source": "fallback", "found": False, "active": False},
        ],
    }
    run(svc.upsert_mapping({"id": "global:global", "default_model": "g"}))
    run(svc.upsert_blocked_models([{"model": "blocked-model"}]))
    r = run(svc.resolve_for_message(user_id="1", prompt_id=1))
    assert r["model"] is None and r["reason"] == "mapping_empty_or_blocked" and r["temperature"] == 0.1
    assert r["hit"] == {"scope_type": "prompt", "scope_key": "1", "source": "prompt"}
    assert len(r["chain"]) == 1  # later steps are not tried
    r = run(svc.resolve_for_message(user_id="1", prompt_id=404))  # unreadable prompt: no mapping
    assert r["model"] == "g" and r["chain"][0]["found"] is False


# ---- blocked models ----

def test_blocked_models(service_factory):
    svc = service_factory()
    assert run(svc.list_blocked_models()) == []
    updated = run(svc.upsert_blocked_models([
        {"model": "b"}, {"model": " a "}, {"model": "c", "blocked": 1}, "junk", None, {"model": ""}, {"model": "  "}, {"blocked": True},
    ]))
    assert updated == ["a", "b", "c"]
    assert run(svc.upsert_blocked_models([{"model": "b", "blocked": False}, {"model": "c", "blocked": 0}])) == ["a"]
    assert run(svc.list_blocked_models()) == ["a"]


# ---- import_local_mappings ----

def test_import_local_mappings_with_per_item_errors(service_factory, fake_ai):
    fake_ai.add_prompt(4)
    svc = service_factory()
    report = run(svc.import_local_mappings([
        {"id": "tenant:a", "default_model": "m-a", "updated_at": "2026-01-02T03:04:05Z"},   # 0 ok
        "not an object",                                                                     # 1
        {"scope_type": "user", "scope_key": 5, "default_model": "u"},                         # 2 ok
        {"name": "no scope at all"},                                                         # 3
        {"id": "mapping:bad-meta", "metadata": ["x"]},                                       # 4
        {"id": "prompt:4", "default_model": "p"},                                             # 5 ok (prompt record)
        {"id": "prompt:nope", "default_model": "p"},                                          # 6
        {"id": "bad/type:x"},                                                                 # 7
        42,                                                                                   # 8
    ]))
    assert report["imported_count"] == 3 and report["skipped_count"] == 6
    errors = {e["index"]: e for e in report["errors"]}
    assert sorted(errors) == [1, 3, 4, 6, 7, 8]
    assert errors[1] == {"index": 1, "reason": "invalid_item"}
    assert errors[8] == {"index": 8, "reason": "invalid_item"}
    assert errors[3] == {"index": 3, "id": None, "reason": "missing_scope"}
    assert errors[4]["id"] == "mapping:bad-meta" and "metadata" in errors[4]["reason"]
    assert errors[6] == {"index": 6, "id": "prompt:nope", "reason": "invalid_mapping_id"}
    assert errors[7]["id"] == "bad/type:x" and errors[7]["reason"] == "invalid_mapping_scope"
    a = svc.store.get("mapping:a")
    assert a["updated_at"] == "2026-01-02T03:04:05+00:00"  # the carried timestamp is kept
    assert svc.store.get("user:5")["default_model"] == "u"
    assert fake_ai.prompts[4]["tools_json"][MAPPING_KEY]["default_model"] == "p"


# ---- remote sync ----

def test_sync_to_supabase_pushes_every_listed_mapping(service_factory, fake_ai):
    fake_ai.add_prompt(1, tools_json={MAPPING_KEY: prompt_mapping()})
    svc = service_factory()
    run(svc.upsert_mapping({"id": "mapping:a", "default_model": "m"}))
    result = run(svc.sync_to_supabase(delete_missing=True))
    assert result["status"] == "pushed"
    (pushed, delete_missing), = fake_ai.pushed
    assert delete_missing is True and [m["id"] for m in pushed] == ["prompt:1", "mapping:a"]
    run(svc.sync_to_supabase())
    assert fake_ai.pushed[-1][1] is False


def test_sync_from_supabase_not_configured_and_other_errors(service_factory, fake_ai):
    svc = service_factory()
    fake_ai.remote = RuntimeError("supabase_not_configured")
    assert run(svc.sync_from_supabase()) == {
        "status": "skipped:supabase_not_configured", "pulled_count": 0, "skipped_count": 0, "deleted_count": 0,
    }
    fake_ai.remote = RuntimeError("network down")
    with pytest.raises(RuntimeError, match="network down"):
        run(svc.sync_from_supabase())
    assert fake_ai.backups == []


def test_sync_from_supabase_last_writer_wins_across_z_and_offset(service_factory, fake_ai):
    svc = service_factory()
    svc_store = svc.store
    svc_store.import_items([
        {"id": "mapping:same", "default_model": "local", "updated_at": "2026-01-05T10:00:00+00:00"},
        {"id": "mapping:local-newer", "default_model": "local", "updated_at": "2026-01-05T10:00:01Z"},
        {"id": "mapping:remote-newer", "default_model": "local", "updated_at": "2026-01-05T10:00:00Z"},
        {"id": "mapping:only-local", "default_model": "local", "updated_at": "2026-01-01T00:00:00Z"},
    ])
    fake_ai.remote = [
        {"id": "mapping:same", "default_model": "remote", "updated_at": "2026-01-05T10:00:00Z"},
        {"id": "mapping:local-newer", "default_model": "remote", "updated_at": "2026-01-05T10:00:00+00:00"},
        {"id": "tenant:remote-newer", "default_model": "remote", "updated_at": "2026-01-05T12:00:00+02:00"},
        {"id": "mapping:new", "default_model": "remote", "updated_at": "2026-01-03T00:00:00Z"},
        {"id": "prompt:1", "default_model": "remote"},
    ]
    report = run(svc.sync_from_supabase())
    # pulled: mapping:new; skipped (behaviour B19, as the backend counts): only the three local rows
    # not older; the prompt item is reported as ignored
    assert report == {"status": "pulled", "pulled_count": 1, "skipped_count": 3, "ignored_count": 1,
                      "deleted_count": 0, "remote_total": 5}
    get = lambda i: svc_store.get(i)["default_model"]  # noqa: E731
    assert get("mapping:same") == "local"  # the same instant: the local row is kept
    assert get("mapping:local-newer") == "local"
    assert get("mapping:new") == "remote"
    # 12:00+02:00 is 10:00Z: not newer than the local 10:00Z either
    assert get("mapping:remote-newer") == "local"
    assert svc_store.get("prompt:1") is None  # prompt scope never pulled
    names = [n for n, _ in fake_ai.backups]
    assert names == ["sqlite_model_mappings", "supabase_model_mappings"]
    assert {m["id"] for m in fake_ai.backups[0][1]} == {"mapping:same", "mapping:local-newer", "mapping:remote-newer", "mapping:only-local"}
    assert fake_ai.backups[1][1][0]["id"] == "mapping:same"

    fake_ai.remote = [{"id": "mapping:remote-newer", "default_model": "remote", "updated_at": "2026-01-05T10:00:01+00:00"}]
    assert run(svc.sync_from_supabase())["pulled_count"] == 1
    assert get("mapping:remote-newer") == "remote"


def test_sync_from_supabase_overwrite_and_delete_missing(service_factory, fake_ai):
    fake_ai.add_prompt(1, tools_json={MAPPING_KEY: prompt_mapping()})
    svc = service_factory()
    svc.store.import_items([
        {"id": "mapping:keep", "default_model": "local", "updated_at": "2026-02-01T00:00:00Z"},
        {"id": "mapping:gone", "default_model": "local"},
        {"id": "user:gone", "default_model": "local"},
    ])
    fake_ai.remote = [{"id": "mapping:keep", "default_model": "remote", "updated_at": "2020-01-01T00:00:00Z"}]
    fake_ai.backup_error = OSError("disk full")  # a failing backup never blocks the pull
    report = run(svc.sync_from_supabase(overwrite=True, delete_missing=True))
    assert report == {"status": "pulled", "pulled_count": 1, "skipped_count": 0, "ignored_count": 0,
                      "deleted_count": 2, "remote_total": 1}
    assert [m["id"] for m in svc.store.list_mappings()] == ["mapping:keep"]
    assert svc.store.get("mapping:keep")["default_model"] == "remote"
    assert [m["id"] for m in run(svc.list_mappings(scope_type="prompt"))] == ["prompt:1"]  # prompts untouched


# ---- seeds ----

ENDPOINTS = [
    {"id": 1, "is_active": True, "has_api_key": True, "is_default": False, "model": "other-model", "model_list": []},
    {"id": 2, "is_active": True, "has_api_key": True, "is_default": True, "model": " gpt-4o ",
     "model_list": ["gpt-4o", "text-embedding-3-small", "blocked-one", "gpt-4o-mini", "", "my-EMBEDDING-model", "voyage-2"]},
    {"id": 3, "is_active": True, "has_api_key": False, "is_default": False, "model": "no-key"},
    {"id": 4, "is_active": False, "has_api_key": True, "is_default": False, "model": "inactive"},
]


def test_ensure_minimal_global_mapping(service_factory, fake_ai):
    assert run(service_factory().ensure_minimal_global_mapping()) is None  # auto-seed disabled
    fake_ai.endpoints = ENDPOINTS
    svc = service_factory(auto_seed_enabled=True)
    run(svc.upsert_blocked_models([{"model": "blocked-one"}]))
    item = run(svc.ensure_minimal_global_mapping())
    assert item["id"] == "global:global" and item["name"] == "App Default"
    assert item["default_model"] == "gpt-4o" and item["candidates"] == ["gpt-4o", "gpt-4o-mini"]
    assert item["metadata"] == {"source": "auto_seed"} and item["is_active"] is True
    assert run(svc.ensure_minimal_global_mapping()) == item  # existing: returned as is


def test_ensure_minimal_global_mapping_falls_back_to_other_endpoints(service_factory, fake_ai):
    fake_ai.endpoints = [
        {"is_active": True, "has_api_key": True, "is_default": True, "model": "embed-english", "model_list": ["embedding-2"]},
    ] + [{"is_active": True, "has_api_key": True, "model": f"m{i}"} for i in range(15)]
    svc = service_factory(auto_seed_enabled=True)
    item = run(svc.ensure_minimal_global_mapping())
    assert item["candidates"] == [f"m{i}" for i in range(10)]
    fake_ai.endpoints = [{"is_active": True, "has_api_key": True, "model": "text-embedding-ada-002"}]
    svc.store.delete("global:global")
    assert run(svc.ensure_minimal_global_mapping()) is None
    fake_ai.endpoints = []
    assert run(svc.ensure_minimal_global_mapping()) is None


def test_existing_global_is_returned_even_without_auto_seed(service_factory):
    svc = service_factory()
    made = run(svc.upsert_mapping({"id": "global:global", "default_model": "g", "is_active": False}))
    assert run(svc.ensure_minimal_global_mapping()) == made


def test_ensure_test_claude_opus_mapping(service_factory):
    assert run(service_factory().ensure_test_claude_opus_mapping()) is None
    svc = service_factory(auto_seed_enabled=True)
    item = run(svc.ensure_test_claude_opus_mapping())
    assert item["id"] == "mapping:claude-opus" and item["name"] == "claude-opus"
    assert item["default_model"] == "claude-opus-4-5-20251101"
    assert item["candidates"] == ["claude-opus-4-5-20251101"] and item["metadata"] == {"required_tier": "pro"}
    assert run(svc.ensure_test_claude_opus_mapping()) == item
    assert run(svc.resolve_model_key("claude-opus"))["resolved_model"] == "claude-opus-4-5-20251101"


def test_public_methods_are_plain_async_methods_of_one_class():
    import inspect

    names = [
        "list_mappings", "upsert_mapping", "activate_default", "delete_mapping", "resolve_model_key",
        "resolve_for_message", "list_blocked_models", "upsert_blocked_models", "import_local_mappings",
        "sync_to_supabase", "sync_from_supabase", "ensure_minimal_global_mapping", "ensure_test_claude_opus_mapping",
    ]
    for name in names:
        assert inspect.iscoroutinefunction(ModelMappingService.__dict__[name]), name
    assert model_mapping.ModelMappingService is ModelMappingService


def test_sync_ai_service_methods_are_accepted_too(service_factory):
    class SyncAI:
        def __init__(self):
            self.prompt = {"id": 1, "name": "n", "tools_json": None, "version": 1, "category": "c"}

        def get_prompt(self, prompt_id):
            return dict(self.prompt)

        def update_prompt(self, prompt_id, patch):
            self.prompt.update(patch)

        def list_prompts(self, page, page_size):
            return ([dict(self.prompt)] if page == 1 else [], 1)

    ai = SyncAI()
    svc = service_factory(ai=ai)
    item = run(svc.upsert_mapping({"id": "prompt:1", "default_model": "m"}))
    assert item["id"] == "prompt:1" and run(svc.list_mappings())[0] == item


def test_many_concurrent_calls_on_one_event_loop(service_factory):
    svc = service_factory()

    async def scenario():
        await asyncio.gather(*(svc.upsert_mapping({"id": f"mapping:k{i}", "default_model": f"m{i}"}) for i in range(40)))
        results = await asyncio.gather(*(svc.resolve_model_key(f"k{i}") for i in range(40)))
        return [r["resolved_model"] for r in results]

    assert run(scenario()) == [f"m{i}" for i in range(40)]


def test_the_drop_in_ignores_unknown_keys_as_the_backend_did(service_factory, fake_ai):
    svc = service_factory()
    item = run(svc.upsert_mapping({"scope_type": "mapping", "scope_key": "x", "default_model": "m",
                                   "extra_column": 1, "created_at": "2026-01-01"}))
    assert item["default_model"] == "m"
    fake_ai.add_prompt(4)
    item = run(svc.upsert_mapping({"scope_type": "prompt", "scope_key": 4, "default_model": "p",
                                   "pydantic_extra": True}))
    assert (item["id"], item["default_model"]) == ("prompt:4", "p")
    report = run(svc.import_local_mappings([{"id": "mapping:y", "default_model": "n", "junk": [1]}]))
    assert report["imported_count"] == 1 and report["errors"] == []

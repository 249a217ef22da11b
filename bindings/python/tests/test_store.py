"""The synchronous ``Store``: lifetime, every method's shape, options, threads (behaviour B2-B14)."""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path

import pytest

from conftest import run

from model_mapping import Store
from model_mapping.errors import (
    InvalidJsonError,
    InvalidMappingIdError,
    InvalidMappingScopeError,
    InvalidPayloadError,
    MappingNotFoundError,
    ModelMappingError,
    NotADatabaseError,
    StoreClosedError,
)

B3_KEYS = ["id", "scope_type", "scope_key", "name", "default_model", "candidates", "is_active", "updated_at", "source", "metadata"]


def test_context_manager_close_twice_and_use_after_close(db_path):
    with Store(db_path) as store:
        assert not store.closed
        store.upsert({"id": "mapping:a", "default_model": "m"})
    assert store.closed
    store.close()
    store.close()
    for call in (
        lambda: store.resolve_model_key("a"),
        lambda: store.list_mappings(),
        lambda: store.get("mapping:a"),
        lambda: store.delete("mapping:a"),
        lambda: store.health(),
    ):
        with pytest.raises(StoreClosedError) as info:
            call()
        assert info.value.code == "store_closed"
    assert "closed" in repr(store)


def test_new_database_file_is_private(db_path):
    with Store(db_path):
        pass
    assert (os.stat(db_path).st_mode & 0o777) == 0o600


def test_options_are_passed_and_unknown_values_rejected(db_path):
    with Store(db_path, busy_timeout_ms=250, synchronous="NORMAL", journal_mode="wal", max_staleness_ms=5) as s:
        h = s.health()
        assert h["max_staleness_ms"] == 5 and h["journal_mode"] == "wal"
    with pytest.raises(InvalidPayloadError):
        Store(db_path, synchronous="sometimes")


def test_time_options_out_of_range_are_invalid_payload_naming_the_option(db_path):
    for name in ("busy_timeout_ms", "max_staleness_ms"):
        with Store(db_path, **{name: 2**31 - 1}):
            pass
        for bad in (2**31, 2**64, -1):
            with pytest.raises(InvalidPayloadError) as info:
                Store(db_path, **{name: bad})
            assert info.value.code == "invalid_payload" and name in info.value.detail


def test_open_errors_are_typed(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(NotADatabaseError) as info:
        Store(garbage)
    assert info.value.code == "not_a_database"
    assert garbage.read_bytes().startswith(b"this is not")  # never rewritten
    with pytest.raises(ModelMappingError):
        Store(tmp_path)  # a directory


def test_upsert_get_list_delete_shapes(db_path):
    with Store(db_path) as s:
        m = s.upsert({"scope_type": " Tenant ", "scope_key": " xai ", "name": "xAI", "default_model": " grok-4 ",
                      "candidates": [" grok-3 ", "", "grok-3", "grok-4"], "metadata": {"preferred_endpoint_id": 7}})
        assert list(m) == B3_KEYS
        assert m["id"] == "mapping:xai" and m["scope_type"] == "mapping" and m["scope_key"] == "xai"
        assert m["default_model"] == "grok-4" and m["candidates"] == ["grok-3", "grok-4"]
        assert m["source"] == "sqlite" and m["is_active"] is True
        assert m["updated_at"].endswith("+00:00") and len(m["updated_at"]) == 25
        assert s.get("tenant:xai") == m == s.get("MAPPING:xai")
        assert s.get("mapping:other") is None
        s.upsert({"id": "global:global", "default_model": "g"})
        assert [x["id"] for x in s.list_mappings(scope_type="tenant")] == ["mapping:xai"]
        assert [x["id"] for x in s.list_mappings(scope_key="global")] == ["global:global"]
        assert {x["id"] for x in s.list_mappings()} == {"mapping:xai", "global:global"}
        with pytest.raises(InvalidMappingScopeError):
            s.list_mappings(scope_type="bad/type")
        assert s.delete("tenant:xai") is True
        assert s.delete("mapping:xai") is False
        with pytest.raises(InvalidMappingIdError) as info:
            s.delete("xai")
        assert str(info.value) == "invalid_mapping_id"


def test_activate_default(db_path):
    with Store(db_path) as s:
        s.upsert({"id": "mapping:x", "name": "X", "default_model": "a", "is_active": False, "metadata": {"k": 1}})
        m = s.activate_default("tenant:x", "b")
        assert m["default_model"] == "b" and m["is_active"] is True
        assert m["candidates"] == ["a", "b"] and m["name"] == "X" and m["metadata"] == {"k": 1}
        with pytest.raises(MappingNotFoundError) as info:
            s.activate_default("mapping:missing", "b")
        assert str(info.value) == "mapping_not_found" and isinstance(info.value, ValueError)
        with pytest.raises(InvalidPayloadError):
            s.activate_default("mapping:x", "   ")


def test_resolve_and_explain(db_path):
    with Store(db_path) as s:
        s.upsert({"id": "mapping:xai", "default_model": "grok-4", "candidates": ["grok-3"], "metadata": {"endpoint_id": " 12 "}})
        s.upsert({"id": "global:xai", "default_model": "global-model"})
        s.update_blocked([{"model": "grok-4"}])
        r = s.resolve_model_key("xai")
        assert r == {"resolved_model": "grok-3", "hit": True, "mapping_id": "mapping:xai", "scope_type": "mapping",
                     "scope_key": "xai", "metadata": {"endpoint_id": " 12 "}, "preferred_endpoint_id": 12}
        assert s.resolve_model_key("  ") == {"resolved_model": None, "hit": False}
        assert s.resolve_model_key("llama3:8b") == {"resolved_model": "llama3:8b", "hit": False}
        e = s.explain("xai")
        assert e["resolved_model"] == "grok-3"
        outcomes = {c["mapping_id"]: c["outcome"] for c in e["considered"]}
        assert outcomes == {"mapping:xai": "chosen", "global:xai": "lower_priority_scope"}
        assert [(c["model"], c["fate"]) for c in e["candidates"]] == [("grok-4", "blocked"), ("grok-3", "chosen")]


def test_resolve_for_message_arguments(db_path):
    with Store(db_path) as s:
        s.upsert({"id": "user:42", "default_model": "u", "metadata": {"temperature": 1}})
        s.upsert({"id": "mapping:biz", "default_model": "b"})
        r = s.resolve_for_message(user_id=42)
        assert r["model"] == "u" and r["temperature"] == 1.0
        r = s.resolve_for_message(user_id="7", tenant_id="tenant:biz")
        assert r["model"] == "b" and r["hit"]["scope_key"] == "biz"
        r = s.resolve_for_message(prompt_id=3, prompt_mapping={"default_model": "p", "candidates": []})
        assert r["model"] == "p" and r["hit"]["source"] == "prompt"


def test_blocked_models(db_path):
    with Store(db_path) as s:
        assert s.blocked_models() == []
        assert s.update_blocked([{"model": "b"}, {"model": " a "}, {"model": "c", "blocked": True}]) == ["a", "b", "c"]
        assert s.update_blocked([{"model": "b", "blocked": False}]) == ["a", "c"]
        assert s.blocked_models() == ["a", "c"]


def test_import_export_plan_apply(db_path):
    with Store(db_path) as s:
        report = s.import_items([
            {"id": "tenant:a", "default_model": "m", "updated_at": "2026-01-01T00:00:00Z"},
            "junk",
            {"name": "no scope"},
            {"id": "mapping:bad", "metadata": []},
        ])
        assert report["imported_count"] == 1 and report["skipped_count"] == 3
        assert [e["index"] for e in report["errors"]] == [1, 2, 3]
        assert report["errors"][0] == {"index": 1, "reason": "invalid_item"}
        assert report["errors"][1]["reason"] == "missing_scope"
        assert "metadata" in report["errors"][2]["reason"]
        assert s.get("mapping:a")["updated_at"] == "2026-01-01T00:00:00+00:00"  # carried, normalised
        exported = s.export()
        assert set(exported) == {"exported_at", "mappings"} and len(exported["mappings"]) == 1
        remote = [{"id": "mapping:a", "default_model": "newer", "updated_at": "2026-02-01T00:00:00Z"},
                  {"id": "mapping:b", "default_model": "x"}]
        plan = s.plan_snapshot(remote)
        assert plan["changed"] == ["mapping:a"] and plan["added"] == ["mapping:b"]
        assert s.get("mapping:a")["default_model"] == "m"  # a plan writes nothing
        pulled = s.apply_snapshot(remote)
        assert pulled == {"status": "pulled", "pulled_count": 2, "skipped_count": 0, "ignored_count": 0,
                          "deleted_count": 0, "remote_total": 2}
        with pytest.raises(InvalidJsonError):
            from model_mapping import _ffi
            s._json(_ffi.lib.mm_store_import, b"[{")


def test_migrate_legacy_and_last_migration(db_path, sample_storage):
    with Store(db_path) as s:
        assert s.last_migration() is None
        plan = s.migrate_legacy(sample_storage, dry_run=True)
        assert plan["dry_run"] is True and plan["imported_count"] > 0
        assert s.list_mappings() == []
        done = s.migrate_legacy(sample_storage)
        assert done["status"] == "imported" and done["imported_count"] == plan["imported_count"]
        assert s.last_migration() == done
        assert s.migrate_legacy(sample_storage)["status"] == "already_done"


def test_health_and_quick_check(db_path):
    with Store(db_path) as s:
        assert s.quick_check() == ["ok"]
        h = s.health()
        assert h["ok"] is True and h["path"] == str(db_path)


def test_sixteen_threads_share_one_store(db_path):
    store = Store(db_path)
    store.upsert({"id": "global:global", "default_model": "g"})
    errors: list = []
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            barrier.wait()
            for i in range(150):
                key = f"k{n}-{i % 10}"
                op = rng.random()
                if op < 0.3:
                    m = store.upsert({"id": f"mapping:{key}", "default_model": f"m{n}-{i}"})
                    assert m["id"] == f"mapping:{key}"
                elif op < 0.4:
                    store.delete(f"mapping:{key}")
                elif op < 0.45:
                    store.update_blocked([{"model": f"blocked-{n}", "blocked": i % 2 == 0}])
                elif op < 0.5:
                    assert isinstance(store.list_mappings(), list)
                else:
                    r = store.resolve_model_key(key)
                    assert r["resolved_model"] in (key,) or r["resolved_model"].startswith(f"m{n}-")
                    assert store.resolve_for_message(user_id=n)["model"] is not None
            # This thread's own last write is what it reads back.
            store.upsert({"id": f"mapping:final{n}", "default_model": f"final{n}"})
            assert store.resolve_model_key(f"final{n}")["resolved_model"] == f"final{n}"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {f"mapping:final{n}" for n in range(16)} <= {m["id"] for m in store.list_mappings()}
    assert store.quick_check() == ["ok"]
    store.close()


def test_close_while_threads_call_is_safe(db_path):
    store = Store(db_path)
    store.upsert({"id": "mapping:a", "default_model": "m"})
    outcomes: list = []
    start = threading.Barrier(9)

    def worker() -> None:
        start.wait()
        for _ in range(2000):
            try:
                store.resolve_model_key("a")
            except StoreClosedError:
                outcomes.append("closed")
                return
            except BaseException as exc:  # pragma: no cover
                outcomes.append(repr(exc))
                return
        outcomes.append("finished")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    start.wait()
    store.close()
    for t in threads:
        t.join()
    assert set(outcomes) <= {"closed", "finished"} and len(outcomes) == 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_uses_its_own_connection(db_path):
    """gunicorn --preload: the store is opened before fork(); the child's calls work (the
    library opens its own connection) and the parent sees what the child wrote."""
    store = Store(db_path)
    store.upsert({"id": "mapping:before", "default_model": "m"})
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            ok = store.resolve_model_key("before")["resolved_model"] == "m"
            store.upsert({"id": "mapping:from-child", "default_model": "c"})
            ok = ok and store.health()["reopened_after_fork"] == 1
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert store.resolve_model_key("from-child")["resolved_model"] == "c"
    assert store.quick_check() == ["ok"]
    store.close()


class _Tier:
    def __str__(self) -> str:
        return "tier-5"


@pytest.mark.parametrize("value", [
    {"id": "mapping:xai", "name": "X", "default_model": "grok-4", "candidates": ["a", "b"],
     "metadata": {"temperature": 0.2, "nested": {"k": [1, 2.5, None, True]}}},
    {"unicode": "ünïcødé ✓ 𝔘 \u2028", "ctl": "tab\tnl\nnul\0\x01", "quote": "\"\\"},
    {"floats": [float("nan"), float("inf"), -float("inf"), -0.0, 1e300, 5e-324]},
    {"ints": [2**70, -(2**64), 0], 1: "int key", 2.5: "float key", True: "bool key",
     None: "null key"},
    {"not json": [_Tier(), __import__("datetime").date(2026, 1, 2)], "tuple": (1, "a")},
    [], {}, "bare", 7, None,
])
def test_payload_encoding_is_what_json_dumps_writes(value):
    from model_mapping import store as store_module
    want = json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    assert store_module._dumps(value) == want


def test_payload_encoding_fails_as_json_dumps_does_on_circular_and_too_deep_values():
    from model_mapping import store as store_module
    circular: dict = {}
    circular["self"] = [circular]
    with pytest.raises(ValueError, match="Circular reference detected"):
        json.dumps(circular, ensure_ascii=False, default=str)
    with pytest.raises(ValueError, match="Circular reference detected"):
        store_module._dumps(circular)
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        store_module._dumps(deep)


def test_an_upsert_with_a_circular_payload_is_a_clear_error_and_writes_nothing(db_path):
    store = Store(db_path)
    payload = {"id": "mapping:loop", "default_model": "m", "metadata": {}}
    payload["metadata"]["self"] = payload
    with pytest.raises(InvalidPayloadError) as info:
        store.upsert(payload)
    assert info.value.detail == "invalid_payload: metadata.self: holds itself (a circular value)"
    assert store.get("mapping:loop") is None
    store.close()


def test_integers_beyond_64_bits_in_metadata_come_back_exactly(db_path):
    big = 12345678901234567890123
    with Store(db_path) as s:
        m = s.upsert({"id": "mapping:big", "default_model": "m", "metadata": {"big": big, "neg": -big, "f": 0.5}})
        assert m["metadata"] == {"big": big, "neg": -big, "f": 0.5}
        assert type(s.get("mapping:big")["metadata"]["big"]) is int
        r = s.resolve_model_key("big")
        assert r["metadata"]["big"] == big and r["preferred_endpoint_id"] is None
def test_upsert_rejects_an_unknown_top_level_key_naming_it(db_path):
    from model_mapping.errors import InvalidPayloadError

    with Store(db_path) as s:
        s.upsert({"id": "mapping:x", "default_model": "kept"})
        with pytest.raises(InvalidPayloadError) as info:
            s.upsert({"id": "mapping:x", "defualt_model": "new"})
        assert str(info.value) == "invalid_payload"
        assert "defualt_model: unknown field" in info.value.detail
        assert s.get("mapping:x")["default_model"] == "kept"
        # A mapping read back may be written again: every B3 key is accepted.
        back = s.get("mapping:x")
        back["default_model"] = "again"
        assert s.upsert(back)["default_model"] == "again"


@pytest.mark.parametrize("items, where", [
    ("grok-4", None),                                   # a string is not a list: TypeError
    (["grok-3"], "items[0]"),
    ([{"modle": "x"}], "items[0].modle: unknown field"),
    ([{"model": "x", "blocked": "false"}], "items[0].blocked"),
    ([{"model": ""}], "items[0].model: is blank"),
])
def test_update_blocked_refuses_wrong_shapes_and_changes_nothing(db_path, items, where):
    from model_mapping.errors import InvalidPayloadError

    with Store(db_path) as s:
        s.update_blocked([{"model": "kept"}])
        if where is None:
            with pytest.raises(TypeError, match="items must be a list"):
                s.update_blocked(items)
        else:
            with pytest.raises(InvalidPayloadError) as info:
                s.update_blocked(items)
            assert where in info.value.detail
        assert s.blocked_models() == ["kept"]


def test_the_drop_in_keeps_the_backends_lenient_blocked_updates(service_factory):
    svc = service_factory()
    got = run(svc.upsert_blocked_models([{"model": "b"}, "junk", {"model": ""}, {"modle": "x"},
                                         {"model": "c", "blocked": "yes"}, {"model": 5}]))
    assert got == ["5", "b", "c"]

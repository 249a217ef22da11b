"""behaviour B20 through the binding: history, undo, rollback, the legacy export and merge, detach,
and the actor recorded with the library's writes (``Store`` and the drop-in)."""

from __future__ import annotations

import json
import threading

import pytest

from conftest import run
from model_mapping import Store, acting
from model_mapping.errors import HistoryConflictError, HistoryUnavailableError


def test_history_records_each_change_with_source_actor_before_and_after(db_path):
    with Store(db_path) as s:
        with acting("alice"):
            s.upsert({"id": "mapping:xai", "default_model": "good"})
        s.upsert({"id": "tenant:xai", "default_model": "bad"})
        h = s.history("tenant:xai")
        assert [c["op"] for c in h] == ["update", "insert"]
        assert h[0]["before"]["default_model"] == "good"
        assert h[0]["after"]["default_model"] == "bad"
        assert h[0]["actor"] is None and h[1]["actor"] == "alice"
        assert all(c["source"] == "library" for c in h)
        assert list(h[0]) == ["seq", "at", "op", "id", "before", "after", "source", "actor"]
        assert s.history(since_seq=h[0]["seq"]) == []
        assert len(s.history(limit=1)) == 1


def test_the_actor_is_per_thread_and_cleared_after_the_block(db_path):
    with Store(db_path) as s:
        seen = []

        def other():
            s.upsert({"id": "mapping:other", "default_model": "o"})
            seen.append(s.history("mapping:other")[0]["actor"])

        with acting("alice"):
            t = threading.Thread(target=other)
            t.start()
            t.join()
        s.upsert({"id": "mapping:after", "default_model": "a"})
        assert seen == [None]
        assert s.history("mapping:after")[0]["actor"] is None
        with pytest.raises(TypeError, match="actor must be a str"):
            with acting(5):  # type: ignore[arg-type]
                pass


def test_undo_restores_and_a_conflict_names_the_later_change(db_path):
    with Store(db_path) as s:
        s.upsert({"id": "mapping:x", "default_model": "one"})
        s.upsert({"id": "mapping:x", "default_model": "two"})
        second = s.history(limit=1)[0]["seq"]
        s.upsert({"id": "mapping:x", "default_model": "three"})
        third = s.history(limit=1)[0]["seq"]
        with pytest.raises(HistoryConflictError) as info:
            s.undo(second)
        assert str(third) in info.value.detail
        assert s.get("mapping:x")["default_model"] == "three"
        plan = s.undo(third)
        assert plan["restore"][0]["default_model"] == "two" and plan["dry_run"] is False
        assert s.get("mapping:x")["default_model"] == "two"
        with pytest.raises(HistoryUnavailableError):
            s.undo(10**9)
        with pytest.raises(TypeError, match="seq must be an int"):
            s.undo("3")  # type: ignore[arg-type]


def test_rollback_to_a_seq_or_a_time_with_a_dry_run_first(db_path):
    with Store(db_path) as s:
        s.upsert({"id": "mapping:a", "default_model": "a"})
        point = s.history(limit=1)[0]
        s.upsert({"id": "mapping:b", "default_model": "b"})
        s.update_blocked([{"model": "a"}])
        plan = s.rollback_to(seq=point["seq"], dry_run=True)
        assert plan["delete"] == ["mapping:b"] and plan["unblock"] == ["a"]
        assert s.get("mapping:b") is not None
        s.rollback_to(seq=point["seq"])
        assert s.get("mapping:b") is None and s.blocked_models() == []
        assert s.rollback_to(at=point["at"], dry_run=True)["seq"] >= point["seq"]
        with pytest.raises(TypeError, match="exactly one"):
            s.rollback_to()
        with pytest.raises(HistoryUnavailableError):
            s.rollback_to(at="2001-01-01T00:00:00Z")


def test_export_then_merge_brings_back_the_edits_made_under_the_json_version(db_path, tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    with Store(db_path) as s:
        s.upsert({"id": "mapping:keep", "default_model": "k"})
        s.upsert({"id": "mapping:gone", "default_model": "g"})
        report = s.export_legacy(legacy)
        assert report["mappings"] == 2 and report["dry_run"] is False
        doc = json.loads((legacy / "model_mappings.json").read_text())
        assert set(doc["tenant"]) == {"keep", "gone"}
        del doc["tenant"]["gone"]
        doc["tenant"]["new"] = {"name": None, "mapping": {"default_model": "n", "candidates": ["n"],
                                "is_active": True, "updated_at": "2099-01-01T00:00:00Z",
                                "metadata": {}}}
        (legacy / "model_mappings.json").write_text(json.dumps(doc))
        plan = s.merge_legacy(legacy, dry_run=True)
        assert [m["id"] for m in plan["write"]] == ["mapping:new"] and plan["delete"] == ["mapping:gone"]
        s.merge_legacy(legacy)
        assert s.get("mapping:gone") is None and s.get("mapping:new")["default_model"] == "n"
        (legacy / "model_mappings.json").write_text("{not json")
        before = s.history(limit=1)[0]["seq"]
        with pytest.raises(Exception) as info:
            s.merge_legacy(legacy)
        assert "model_mappings.json" in str(info.value.detail)  # type: ignore[attr-defined]
        assert s.history(limit=1)[0]["seq"] == before


def test_detach_drops_the_triggers_and_reopening_brings_them_back(db_path):
    with Store(db_path) as s:
        s.upsert({"id": "mapping:a", "default_model": "a"})
        s.detach()
        assert s.health()["triggers"] is False
    with Store(db_path) as s:
        assert s.health()["triggers"] is True


def test_the_drop_in_records_the_actor_of_its_writes_and_offers_the_history_calls(service_factory):
    svc = service_factory()
    run(svc.upsert_mapping({"scope_type": "tenant", "scope_key": "xai", "default_model": "grok-4"},
                           actor="dashboard:alice"))
    run(svc.activate_default("mapping:xai", "grok-3", actor="dashboard:bob"))
    run(svc.upsert_blocked_models([{"model": "grok-3"}], actor="dashboard:carol"))
    h = run(svc.history())
    assert [(c["op"], c["actor"]) for c in h[:3]] == [
        ("block", "dashboard:carol"), ("update", "dashboard:bob"), ("insert", "dashboard:alice"),
    ]
    plan = run(svc.undo(h[1]["seq"], actor="dashboard:alice"))
    assert plan["restore"][0]["default_model"] == "grok-4"
    assert run(svc.history(limit=1))[0]["actor"] == "dashboard:alice"
    dry = run(svc.rollback_to(seq=h[-1]["seq"], dry_run=True))
    assert dry["dry_run"] is True
    exported = run(svc.export_legacy(dry_run=True))
    assert exported["mappings"] == 1
    assert run(svc.delete_mapping("mapping:xai", actor="dashboard:dave")) is True
    assert run(svc.history(limit=1))[0]["actor"] == "dashboard:dave"

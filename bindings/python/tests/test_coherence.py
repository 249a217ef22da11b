"""Coherence with the backend's own connection (behaviour B11, B13) and one SQLite per process
(behaviour B15), from inside the Python process that hosts the library."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

import model_mapping
from model_mapping import Store

from conftest import run

INSERT = (
    "INSERT INTO llm_model_mappings (id, scope_type, scope_key, name, default_model, candidates_json, "
    "is_active, updated_at, metadata_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _row(id_, scope_type, scope_key, default, candidates=None, active=1, updated="2026-01-01T00:00:00+00:00", meta=None):
    return (id_, scope_type, scope_key, None, default, json.dumps(candidates or [default]), active, updated, json.dumps(meta or {}))


def test_python_sqlite3_writes_are_seen_by_the_next_call(service_factory, db_path):
    svc = service_factory()
    assert run(svc.resolve_model_key("xai")) == {"resolved_model": "xai", "hit": False}  # opens the store
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute(INSERT, _row("mapping:xai", "mapping", "xai", "grok-4", meta={"preferred_endpoint_id": 3}))
    r = run(svc.resolve_model_key("xai"))
    assert r["resolved_model"] == "grok-4" and r["preferred_endpoint_id"] == 3
    conn.execute("UPDATE llm_model_mappings SET default_model = 'grok-5', candidates_json = '[\"grok-5\"]' WHERE id = 'mapping:xai'")
    assert run(svc.resolve_model_key("xai"))["resolved_model"] == "grok-5"
    # A row in the legacy spelling and sloppy columns, as old code or a test fixture writes it.
    conn.execute(INSERT, ("tenant:old", " Tenant ", "old", "Old", "o-model", "not json", None, None, "[]"))
    r = run(svc.resolve_model_key("old"))
    assert r["resolved_model"] == "o-model" and r["hit"] is True and r["metadata"] == {}
    assert run(svc.resolve_for_message(user_id="1", tenant_id="old"))["model"] == "o-model"
    conn.execute("DELETE FROM llm_model_mappings WHERE id = 'mapping:xai'")
    assert run(svc.resolve_model_key("xai")) == {"resolved_model": "xai", "hit": False}
    # Inside an explicit transaction, nothing is visible until the commit.
    conn.execute("BEGIN")
    conn.execute(INSERT, _row("global:global", "global", "global", "g"))
    assert run(svc.resolve_for_message(user_id="1"))["model"] is None
    conn.execute("COMMIT")
    assert run(svc.resolve_for_message(user_id="1"))["model"] == "g"
    conn.close()


def test_library_writes_are_visible_to_the_backend_connection_at_once(service_factory, db_path):
    svc = service_factory()
    run(svc.list_mappings())
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM llm_model_mappings").fetchone() == (0,)
    run(svc.upsert_mapping({"id": "tenant:biz", "default_model": "m", "candidates": ["c"], "metadata": {"k": 1}}))
    row = conn.execute(
        "SELECT id, scope_type, scope_key, default_model, candidates_json, is_active, metadata_json FROM llm_model_mappings"
    ).fetchone()
    assert row[:4] == ("mapping:biz", "mapping", "biz", "m") and row[5] == 1
    assert json.loads(row[4]) == ["c", "m"] and json.loads(row[6]) == {"k": 1}
    run(svc.delete_mapping("mapping:biz"))
    assert conn.execute("SELECT COUNT(*) FROM llm_model_mappings").fetchone() == (0,)
    conn.close()


def test_aiosqlite_writes_are_seen_by_the_next_call(service_factory, db_path):
    aiosqlite = pytest.importorskip("aiosqlite")
    svc = service_factory()

    async def scenario():
        assert (await svc.resolve_model_key("k"))["hit"] is False
        async with aiosqlite.connect(db_path) as db:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(INSERT, _row("mapping:k", "mapping", "k", "first"))
            await db.commit()
            assert (await svc.resolve_model_key("k"))["resolved_model"] == "first"
            await db.execute("UPDATE llm_model_mappings SET default_model = 'second', candidates_json = '[]' WHERE id = 'mapping:k'")
            await db.commit()
            assert (await svc.resolve_model_key("mapping:k"))["resolved_model"] == "second"
            item = await svc.upsert_mapping({"id": "user:9", "default_model": "u"})
            async with db.execute("SELECT default_model, updated_at FROM llm_model_mappings WHERE id = 'user:9'") as cur:
                assert tuple(await cur.fetchone()) == ("u", item["updated_at"])
            await db.execute("DELETE FROM llm_model_mappings WHERE id = 'mapping:k'")
            await db.commit()
            assert (await svc.resolve_model_key("k")) == {"resolved_model": "k", "hit": False}
            assert [m["id"] for m in await svc.list_mappings()] == ["user:9"]

    run(scenario())


def _mapped_sqlite_libraries():
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and "libsqlite3" in os.path.basename(parts[5]):
                libs.add(os.path.realpath(parts[5]))
    return libs


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_exactly_one_sqlite_in_the_process(db_path):
    conn = sqlite3.connect(":memory:")  # _sqlite3 (and its libsqlite3) are loaded
    with Store(db_path) as store:  # and so is the library, with a database open
        store.upsert({"id": "mapping:a", "default_model": "m"})
        libs = _mapped_sqlite_libraries()
        assert len(libs) == 1, f"more than one SQLite mapped: {libs}"
        # The library itself carries no SQLite of its own (the default build links it).
        assert "libsqlite3" not in os.path.basename(model_mapping._ffi.library_path)
    assert model_mapping.sqlite_version() == sqlite3.sqlite_version
    (python_source_id,) = conn.execute("SELECT sqlite_source_id()").fetchone()
    assert model_mapping.sqlite_source_id() == python_source_id
    conn.close()


@pytest.mark.skipif(sys.platform != "linux", reason="WAL file behaviour checked on Linux")
def test_python_connections_opening_and_closing_never_remove_the_wal(db_path):
    """With two SQLite copies in one process, the last Python connection's close would run
    the WAL cleanup of its own copy and unlink -wal/-shm under the library's open connection
    (behaviour B15). With one shared copy SQLite knows another connection holds the file."""
    store = Store(db_path, synchronous="normal")  # file handling is tested here, not fsync
    store.upsert({"id": "mapping:seed", "default_model": "m"})
    wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
    assert wal.exists() and shm.exists()
    stop = threading.Event()
    written: list = []
    failures: list = []

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                store.upsert({"id": f"mapping:w{i % 50}", "default_model": f"m{i}"})
                written.append(i)
                i += 1
        except BaseException as exc:  # pragma: no cover
            failures.append(repr(exc))

    t = threading.Thread(target=writer)
    t.start()
    try:
        for n in range(1000):
            conn = sqlite3.connect(db_path, timeout=60)
            count = conn.execute("SELECT COUNT(*) FROM llm_model_mappings").fetchone()[0]
            assert count >= 1
            if n % 100 == 0:
                conn.execute(INSERT.replace("INSERT", "INSERT OR REPLACE"), _row(f"user:py{n}", "user", f"py{n}", "p"))
                conn.commit()
            conn.close()
            assert wal.exists() and shm.exists(), f"-wal/-shm removed after close #{n}"
    finally:
        stop.set()
        t.join()
    assert failures == [] and len(written) > 0
    assert store.quick_check() == ["ok"]
    ids = {m["id"] for m in store.list_mappings()}
    assert {f"user:py{n}" for n in range(0, 1000, 100)} <= ids
    last = written[-1]
    assert store.get(f"mapping:w{last % 50}")["default_model"] == f"m{last}"
    store.close()
    check = sqlite3.connect(db_path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()

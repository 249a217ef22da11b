"""Host-row fuzz with batch writes: random odd rows written by the host with plain SQL, between
single and batch writes of the library, and after every step the store shows the table under
behaviour B11's reading rules (behaviour B11, B14; issue 13 finding 4).

Per seed (3 quick, 12 full), 150 steps (400 full) on a fresh database, one ``Store`` and one
plain ``sqlite3`` connection of the host. A step is one of: the host's ``INSERT OR REPLACE``
with an id that may disagree with its scope columns (``id mapping:a``, scope key ``b``), the
backend's ``INSERT ... ON CONFLICT(id) DO UPDATE``, an ``UPDATE`` of a random row's scope type
and default (``Tenant``, `` mapping``, ``TENANT ``, ``global``...), an ``UPDATE`` that changes a
row's id, a ``DELETE`` of a random row, junk in ``candidates_json``/``metadata_json``; or the
library's ``upsert``, ``import_items`` (2-4 items, ids may repeat), ``apply_snapshot`` (newer
items, sometimes ``delete_missing``), ``delete``, ``activate_default``. After each step:
- ``list_mappings()`` equals the reference computed from the table (``b11.reference``, every
  B3 field but ``source``);
- a library write kept its promise: each id it wrote shows its last item's default model
  (a batch's items all count: none may be lost to an item after it), a deleted id is gone.
A second store, opened at the start and only reading, must show the same at every step (it
follows the others' commits through the change feed).
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import b11  # noqa: E402
import common  # noqa: E402

KEYS = ["a", "b", "c", " d"]
TYPES = ["mapping", "Mapping", " mapping", "tenant", "TENANT ", "global", "user"]
TIMES = ["2026-01-01T00:00:00+00:00", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00+00:00", None]
CANDS = ['["x", " y ", "x"]', "[1, true, null, \" \"]", "not json", None, '{"a": 1}']
METAS = ['{"k": 1}', "[1]", "junk", None]


def step(rng: random.Random, n: int, store: Any, host: sqlite3.Connection) -> Dict[str, Any]:
    """One random step; returns what it was and what a library write promised."""
    key = rng.choice(KEYS)
    ty = rng.choice(TYPES)
    id_key = rng.choice(KEYS).strip()
    mdl = f"m{n}"
    updated = rng.choice(TIMES)
    act = 0 if rng.random() < 0.2 else 1
    cands, meta = rng.choice(CANDS), rng.choice(METAS)
    kind = rng.randrange(11)
    if kind == 0:
        host.execute(
            "INSERT OR REPLACE INTO llm_model_mappings (id, scope_type, scope_key, default_model, "
            "candidates_json, is_active, updated_at, metadata_json) VALUES (?,?,?,?,?,?,?,?)",
            (f"mapping:{id_key}", ty, key, mdl, cands, act, updated, meta),
        )
        return {"step": f"host replace {ty!r}:{key!r} as mapping:{id_key}"}
    if kind == 1:
        host.execute(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key, default_model, candidates_json, "
            "is_active, updated_at, metadata_json) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
            "scope_type=excluded.scope_type, scope_key=excluded.scope_key, default_model=excluded.default_model, "
            "candidates_json=excluded.candidates_json, is_active=excluded.is_active, "
            "updated_at=excluded.updated_at, metadata_json=excluded.metadata_json",
            (f"{ty.strip().lower()}:{key.strip()}", ty, key, mdl, cands, act, updated, meta),
        )
        return {"step": f"host upsert {ty!r}:{key!r}"}
    if kind == 2:
        host.execute(
            "UPDATE llm_model_mappings SET scope_type = ?, default_model = ? "
            "WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1)",
            (ty, mdl),
        )
        return {"step": f"host update one row to {ty!r}"}
    if kind == 3:
        host.execute(
            "UPDATE OR REPLACE llm_model_mappings SET id = ?, scope_key = ? "
            "WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1)",
            (f"mapping:{id_key}", key),
        )
        return {"step": f"host update one row's id to mapping:{id_key}, key {key!r}"}
    if kind == 4:
        host.execute(
            "DELETE FROM llm_model_mappings WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1)"
        )
        return {"step": "host delete one row"}
    if kind == 5:
        item = {"id": f"mapping:{key.strip()}", "default_model": mdl, "is_active": act == 1}
        store.upsert(item)
        return {"step": f"library upsert {item}", "wrote": [item]}
    if kind == 6:
        items = [
            {"id": f"mapping:{rng.choice(KEYS).strip()}", "default_model": f"{mdl}-{i}", "updated_at": updated}
            for i in range(2 + rng.randrange(3))
        ]
        report = store.import_items(items)
        return {"step": f"library import {items}", "wrote": items, "report": report, "count": len(items)}
    if kind == 7:
        at = f"2030-01-01T{n // 60 % 24:02d}:{n % 60:02d}:00+00:00"
        items = [
            {"id": f"mapping:{rng.choice(KEYS).strip()}", "default_model": f"{mdl}-{i}", "updated_at": at}
            for i in range(2 + rng.randrange(3))
        ]
        delete_missing = rng.random() < 0.33
        store.apply_snapshot(items, overwrite=False, delete_missing=delete_missing)
        return {"step": f"library pull {items} delete_missing={delete_missing}", "wrote": items}
    if kind == 8:
        mid = f"{rng.choice(['mapping', 'global', 'user'])}:{key.strip()}"
        store.delete(mid)
        return {"step": f"library delete {mid}", "deleted": mid}
    if kind == 9:
        mid = f"mapping:{key.strip()}"
        try:
            store.activate_default(mid, mdl)
        except ValueError:
            pass
        return {"step": f"library activate {mid}"}
    # A host transaction of several statements (one commit).
    host.execute("BEGIN IMMEDIATE")
    host.execute(
        "INSERT OR REPLACE INTO llm_model_mappings (id, scope_type, scope_key, default_model, updated_at) VALUES (?,?,?,?,?)",
        (f"tenant:{key.strip()}", "Tenant", key, mdl, updated),
    )
    host.execute("DELETE FROM llm_model_mappings WHERE id = ?", (f"mapping:{id_key}",))
    host.execute("COMMIT")
    return {"step": f"host transaction: replace Tenant:{key!r}, delete mapping:{id_key}"}


def promise_kept(store: Any, done: Dict[str, Any]) -> List[str]:
    bad: List[str] = []
    last: Dict[str, str] = {}
    for item in done.get("wrote", []):
        last[item["id"]] = item["default_model"]
    for mid, mdl in last.items():
        got = store.get(mid)
        if got is None or got.get("default_model") != mdl:
            bad.append(f"{mid} should show {mdl}, shows {got and got.get('default_model')}")
    if "count" in done and done["report"].get("imported_count") != done["count"]:
        bad.append(f"import report {done['report']} for {done['count']} items")
    if "deleted" in done and store.get(done["deleted"]) is not None:
        bad.append(f"{done['deleted']} still shown after delete")
    return bad


def main() -> None:
    sc = common.Scenario("FUZZ", __doc__.splitlines()[0])
    sc.parser.add_argument("--seeds", type=str, default=None, help="comma-separated seeds")
    sc.parser.add_argument("--steps", type=int, default=None)
    args = sc.parse()
    from model_mapping import Store

    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else ([1, 7, 42] if not sc.full else list(range(1, 13)))
    steps = args.steps or (400 if sc.full else 150)
    total_steps = 0
    failed_seeds: List[str] = []
    for seed in seeds:
        db = sc.tmp / f"fuzz-{seed}.db"
        store = Store(db)
        follower = Store(db)
        host = sqlite3.connect(db, isolation_level=None, timeout=30)
        rng = random.Random(seed)
        log: List[str] = []
        problem = ""
        for n in range(steps):
            try:
                done = step(rng, n, store, host)
            except Exception as exc:  # noqa: BLE001 - a failure of the library is a finding
                problem = f"step {n} raised {exc!r}"
                break
            log.append(done["step"])
            total_steps += 1
            want = b11.reference(host)
            for who, s in (("writer", store), ("follower", follower)):
                got = b11.view(s.list_mappings())
                if got != want:
                    problem = f"step {n}: the {who} store differs from the table: " + " | ".join(b11.diff(want, got))
                    break
            if not problem:
                bad = promise_kept(store, done)
                if bad:
                    problem = f"step {n}: " + " | ".join(bad)
            if problem:
                break
        qc = store.quick_check()
        h = follower.health()
        store.close()
        follower.close()
        host.close()
        if problem:
            sc.say(f"seed {seed}: last steps: " + " || ".join(log[-5:]))
            failed_seeds.append(str(seed))
        sc.check(
            not problem and qc == ["ok"],
            f"seed {seed}: {min(len(log), steps)} steps, store and follower equal the B11 reading of the table after each, "
            f"every batch item kept; follower refreshes incremental {h['incremental_refreshes']} full {h['full_reloads']}; "
            f"quick_check {qc}" + (f"; {problem}" if problem else ""),
        )
    sc.finish(f"{len(seeds)} seeds x {steps} steps ({total_steps} in all): the store always showed the table")


if __name__ == "__main__":
    main()

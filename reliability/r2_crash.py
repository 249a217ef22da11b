"""R2 crashes: SIGKILL at random moments of a legacy migration and of write loops (target R2, B10).

Part A: a child process opens a store with a storage dir holding a large ``model_mappings.json``
(100,000 entries in full mode, 20,000 quick) and a ``blocked_models.json``, and is killed with
SIGKILL at a random moment between the start of the open and a little after the time an
uninterrupted migration takes. After each kill:
- the database opens (the library, no storage dir) and ``PRAGMA quick_check`` is ok;
- the migration is all-or-nothing: either no imported row and no record, or every row, every
  blocked model and both records;
- the next open with the storage dir finishes it (``imported`` or ``already_done``), with every
  row and blocked model present.

Part B: a child process runs a loop of upserts, deletes, 5-item bulk imports and blocked-model
changes, each a deterministic function of a sequence number, and writes ``<seq>`` to a pipe after
each call returns. After the kill, the state read through a fresh store must be exactly the state
after the last acknowledged operation, or after the one that was in flight (committed, not yet
acknowledged) - nothing acknowledged is missing, nothing is half-applied.

SIGKILL ends the process, not the machine: the operating system still writes out what the process
handed it, so this proves crash consistency of the process, not durability across power loss
(that is what ``synchronous=FULL`` is for).
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

KEYS = 40
BLOCKABLE = 10
BATCH = 5


# ----------------------------------------------------------------------- legacy data ----


def write_legacy(directory: Path, entries: int, blocked: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    doc: Dict[str, Dict[str, Any]] = {"tenant": {}, "mapping": {}, "user": {}, "global": {}}
    types = ["tenant", "mapping", "user", "global"]
    for i in range(entries):
        t = types[i % 4]
        doc[t][f"key-{i}"] = {
            "name": f"entry {i}",
            "mapping": {
                "default_model": f"model-{i}",
                "candidates": [f"model-{i}", f"fallback-{i % 97}"],
                "is_active": i % 10 != 0,
                "updated_at": "2025-06-01T12:00:00Z",
                "metadata": {"i": i, "preferred_endpoint_id": i % 13},
            },
        }
    (directory / "model_mappings.json").write_text(json.dumps(doc, indent=1))
    (directory / "blocked_models.json").write_text(
        json.dumps({"updated_at": "2025-06-01T12:00:00Z", "blocked": [f"fallback-{j}" for j in range(blocked)]})
    )


def migrate_child(db: str, storage: str) -> None:
    from model_mapping import Store

    print("ready", flush=True)
    store = Store(db, storage_dir=storage)
    report = store.last_migration() or {}
    print(json.dumps({k: report.get(k) for k in ("status", "imported_count", "blocked_imported")}), flush=True)
    store.close()


# ----------------------------------------------------------------------- write loops ----


def op_for(seq: int) -> Tuple[str, Any]:
    rng = random.Random(seq * 1_000_003 + 17)
    roll = rng.random()
    if roll < 0.45:
        return ("upsert", f"mapping:k{rng.randrange(KEYS)}")
    if roll < 0.6:
        return ("delete", f"mapping:k{rng.randrange(KEYS)}")
    if roll < 0.75:
        return ("import", [f"user:k{rng.randrange(KEYS)}" for _ in range(BATCH)])
    if roll < 0.9:
        return ("block", f"blk-{rng.randrange(BLOCKABLE)}")
    return ("unblock", f"blk-{rng.randrange(BLOCKABLE)}")


State = Tuple[Dict[str, str], Set[str]]


def apply_op(state: State, seq: int) -> State:
    mappings, blocked = dict(state[0]), set(state[1])
    kind, arg = op_for(seq)
    if kind == "upsert":
        mappings[arg] = f"v{seq}"
    elif kind == "delete":
        mappings.pop(arg, None)
    elif kind == "import":
        for n, mid in enumerate(arg):
            mappings[mid] = f"v{seq}-{n}"
    elif kind == "block":
        blocked.add(arg)
    else:
        blocked.discard(arg)
    return mappings, blocked


def write_child(db: str, start: int) -> None:
    from model_mapping import Store

    os.write(1, b"ready\n")
    store = Store(db)
    seq = start
    while True:
        kind, arg = op_for(seq)
        if kind == "upsert":
            store.upsert({"id": arg, "default_model": f"v{seq}", "metadata": {"seq": seq}})
        elif kind == "delete":
            store.delete(arg)
        elif kind == "import":
            report = store.import_items(
                [{"id": mid, "default_model": f"v{seq}-{n}", "metadata": {"seq": seq}} for n, mid in enumerate(arg)]
            )
            if report.get("imported_count") != BATCH:
                os.write(2, f"import {seq} reported {report}\n".encode())
                os._exit(3)
        else:
            store.update_blocked([{"model": arg, "blocked": kind == "block"}])
        os.write(1, f"{seq}\n".encode())  # acknowledged: the call returned
        seq += 1


def read_state(db: Path) -> Tuple[State, Any]:
    from model_mapping import Store

    with Store(db) as store:
        mappings = {m["id"]: m["default_model"] for m in store.list_mappings()}
        blocked = set(store.blocked_models())
        return (mappings, blocked), store.quick_check()


def describe_diff(a: State, b: State) -> str:
    keys = sorted(set(a[0]) | set(b[0]))
    diff = [f"{k}: {a[0].get(k)} vs {b[0].get(k)}" for k in keys if a[0].get(k) != b[0].get(k)]
    if a[1] != b[1]:
        diff.append(f"blocked {sorted(a[1] ^ b[1])} differ")
    return "; ".join(diff[:4])


# ------------------------------------------------------------------------------ main ----


def wait_ready(p: subprocess.Popen, timeout: float = 60) -> bool:
    # The pipes are unbuffered (bufsize=0): readline takes the "ready" line byte by byte and
    # leaves every acknowledgement after it in the pipe for communicate() to read.
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    return bool(ready) and p.stdout.readline().strip() == b"ready"


def part_a(sc: common.Scenario, rng: random.Random) -> None:
    from model_mapping import Store

    entries = 100_000 if sc.full else 20_000
    blocked = 25
    kills = 20 if sc.full else 5
    legacy = sc.tmp / "legacy"
    t = time.monotonic()
    write_legacy(legacy, entries, blocked)
    size = (legacy / "model_mappings.json").stat().st_size
    hashes = {n: common.sha256(legacy / n) for n in ("model_mappings.json", "blocked_models.json")}
    sc.say(f"A: legacy file of {entries} entries ({size / 1e6:.1f} MB) and {blocked} blocked models written in {time.monotonic() - t:.1f} s")
    env = common.python_env()
    me = str(Path(__file__).resolve())

    def fresh(name: str, precreate: bool) -> Tuple[Path, Path]:
        d = sc.tmp / name
        storage = d / "storage"
        storage.mkdir(parents=True)
        for n in hashes:
            os.link(legacy / n, storage / n)
        db = d / "app.db"
        if precreate:
            Store(db).close()
        return db, storage

    def spawn(db: Path, storage: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, me, "--migrate-child", str(db), str(storage)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, bufsize=0,
        )

    # Calibration: how long an uninterrupted migration takes here, now.
    db, storage = fresh("calibration", precreate=True)
    p = spawn(db, storage)
    if not wait_ready(p):
        sc.check(False, "A: calibration child did not start")
        return
    t = time.monotonic()
    out, err = p.communicate(timeout=600)
    took = time.monotonic() - t
    report = common.last_json_line(out.decode())
    sc.check(
        p.returncode == 0 and report and report["status"] == "imported" and report["imported_count"] == entries,
        f"A: an uninterrupted migration imports {entries} entries in {took:.2f} s ({report}, {common.describe_exit(p.returncode)})",
    )
    window = took * 1.15

    outcomes = {"nothing": 0, "everything": 0, "finished_before_kill": 0}
    bad: List[str] = []
    leftovers: Dict[str, int] = {}
    markers_missing = 0
    for k in range(kills):
        precreate = k % 2 == 1  # half the time the child also creates the database
        db, storage = fresh(f"kill-{k}", precreate)
        p = spawn(db, storage)
        if not wait_ready(p):
            bad.append(f"kill {k}: child did not start")
            continue
        # Every fourth kill aims at the first moments, where the child creates the database.
        delay = rng.uniform(0, 0.05) if k % 4 == 0 else rng.uniform(0, window)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        finished = p.returncode == 0
        stray = []
        for name in sorted(os.listdir(db.parent)):
            if name in ("storage", "app.db"):
                continue
            if name.endswith(("-wal", "-shm")) and not name.startswith("."):
                kind = "app.db-wal/-shm"
            elif ".mm-create-" in name:
                kind = ".app.db.mm-create-* (creation temp file" + (", its journal)" if name.endswith("-journal") else ")")
                stray.append(name)
            else:
                kind = name
                stray.append(name)
            leftovers[kind] = leftovers.get(kind, 0) + 1
        existed = db.exists()
        # 1. The database opens, quick_check ok, all or nothing.
        try:
            with Store(db) as s:
                rows = len(s.list_mappings())
                nblocked = len(s.blocked_models())
                records = s.health()["migration"]
                qc = s.quick_check()
        except Exception as exc:  # noqa: BLE001
            bad.append(f"kill {k} after {delay:.3f} s: the database does not open: {exc!r}")
            continue
        rec_m, rec_b = records.get("mappings"), records.get("blocked")
        if qc != ["ok"]:
            bad.append(f"kill {k}: quick_check {qc}")
        if rows == 0 and nblocked == 0 and rec_m is None and rec_b is None:
            outcomes["nothing"] += 1
        elif (
            rows == entries and nblocked == blocked and rec_m and rec_m.get("status") == "imported"
            and rec_m.get("imported_count") == entries and rec_b is not None
        ):
            outcomes["everything"] += 1
            outcomes["finished_before_kill"] += finished
        else:
            bad.append(
                f"kill {k} after {delay:.3f} s: partial migration: {rows} rows, {nblocked} blocked, records {records}"
            )
            continue
        # 2. The next open with the storage dir finishes it.
        try:
            with Store(db, storage_dir=storage) as s:
                rep = s.last_migration() or {}
                rows2 = len(s.list_mappings())
                nblocked2 = len(s.blocked_models())
                qc2 = s.quick_check()
        except Exception as exc:  # noqa: BLE001
            bad.append(f"kill {k}: the next open with the storage dir fails: {exc!r}")
            continue
        if rep.get("status") not in ("imported", "already_done") or rows2 != entries or nblocked2 != blocked or qc2 != ["ok"]:
            bad.append(f"kill {k}: the next open did not finish it: {rep.get('status')}, {rows2} rows, {nblocked2} blocked, {qc2}")
        if not (storage / ".model_mappings_sqlite_import_done").exists():
            markers_missing += 1
        sc.say(
            f"A: kill {k + 1}/{kills} at {delay:.3f} s of ~{took:.2f} s ({'database existed' if precreate else 'child creates the database'}"
            f"{', db file present' if existed else ', no db file yet'}): "
            f"{'all' if rows else 'nothing'} imported before the kill{' (child had finished)' if finished else ''}; "
            f"next open: {rep.get('status')}, {rows2} rows"
            + (f"; left beside it: {', '.join(stray)}" if stray else "")
        )
    for b in bad:
        sc.say("A: " + b)
    sc.check(
        not bad,
        f"A: {kills} SIGKILLs of a {entries}-entry migration: database always opens, quick_check ok, "
        f"all-or-nothing ({outcomes['nothing']} nothing, {outcomes['everything']} everything, of which "
        f"{outcomes['finished_before_kill']} had finished), finished by the next open; failures: {len(bad)}",
    )
    if leftovers:
        sc.say("A: files left beside the database after kills: " + ", ".join(f"{k} x{v}" for k, v in sorted(leftovers.items())))
    if markers_missing:
        sc.say(
            f"A: note: {markers_missing} time(s) the kill fell between the commit and the marker file; the database records "
            "the migration and the next open reports already_done without writing the marker (only older hosts read it)"
        )
    same = all(common.sha256(legacy / n) == h for n, h in hashes.items())
    sc.check(same, "A: legacy files byte-for-byte unchanged after every run (sha256)")


def part_b(sc: common.Scenario, rng: random.Random) -> None:
    from model_mapping import Store

    kills = 20 if sc.full else 5
    max_delay = 1.5 if sc.full else 0.5
    db = sc.tmp / "loops" / "app.db"
    db.parent.mkdir()
    Store(db).close()
    env = common.python_env()
    me = str(Path(__file__).resolve())
    base: State = ({}, set())
    start = 1
    acked_total = 0
    in_flight_committed = 0
    bad: List[str] = []
    for k in range(kills):
        p = subprocess.Popen(
            [sys.executable, me, "--write-child", str(db), str(start)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, bufsize=0,
        )
        if not wait_ready(p):
            bad.append(f"kill {k}: child did not start")
            break
        delay = rng.uniform(0, max_delay)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        out, err = p.communicate()
        if p.returncode != -signal.SIGKILL:
            bad.append(f"kill {k}: child ended on its own ({common.describe_exit(p.returncode)}): {err.decode()[-300:]}")
        acked = [int(x) for x in out.decode().split() if x.isdigit()]
        if acked != list(range(start, start + len(acked))):
            bad.append(f"kill {k}: acknowledgements out of order")
        last = acked[-1] if acked else start - 1
        acked_total += len(acked)
        expected = base
        for seq in range(start, last + 1):
            expected = apply_op(expected, seq)
        with_in_flight = apply_op(expected, last + 1)
        try:
            actual, qc = read_state(db)
        except Exception as exc:  # noqa: BLE001
            bad.append(f"kill {k}: the database does not open: {exc!r}")
            break
        if qc != ["ok"]:
            bad.append(f"kill {k}: quick_check {qc}")
        if actual == expected:
            verdict = "state = last acknowledged"
        elif actual == with_in_flight:
            verdict = "state = last acknowledged + the in-flight operation (committed, not acknowledged)"
            in_flight_committed += 1
        else:
            verdict = "LOST OR TORN: " + describe_diff(expected, actual)
            bad.append(f"kill {k}: {verdict}")
        sc.say(f"B: kill {k + 1}/{kills} after {delay:.3f} s: {len(acked)} operations acknowledged; {verdict}")
        base = actual
        start = last + 2  # skip the in-flight number: the next child starts afresh
    for b in bad:
        sc.say("B: " + b)
    sc.check(
        not bad,
        f"B: {kills} SIGKILLs of write loops: {acked_total} acknowledged operations, every one present after the kill "
        f"({in_flight_committed} kill(s) landed after a commit and before its acknowledgement); database always opens, quick_check ok",
    )


def main() -> None:
    sc = common.Scenario("R2", __doc__.splitlines()[0])
    sc.parser.add_argument("--migrate-child", nargs=2, metavar=("DB", "STORAGE"))
    sc.parser.add_argument("--write-child", nargs=2, metavar=("DB", "START"))
    sc.parser.add_argument("--seed", type=int, default=None)
    args = sc.parser.parse_args()
    if args.migrate_child:
        migrate_child(*args.migrate_child)
        return
    if args.write_child:
        write_child(args.write_child[0], int(args.write_child[1]))
        return
    sc.parse()
    seed = args.seed if args.seed is not None else int(time.time())
    sc.say(f"seed {seed}, load average {common.load_average()}")
    rng = random.Random(seed)
    part_a(sc, rng)
    part_b(sc, rng)
    sc.finish(f"{'20+20' if sc.full else '5+5'} SIGKILLs: migration all-or-nothing and finished by the next open, no acknowledged commit lost")


if __name__ == "__main__":
    main()

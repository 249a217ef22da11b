"""R1 load: 4 processes x 2 threads of mixed writes and reads through the Python binding, plus
the host's own aiosqlite writer, on one database file, while the host also commits to an
unrelated table at a high rate (target R1, B13, B16; issue 14).

Each writer thread owns some mapping ids and blocked-model names and shares others with every
other writer. Every operation carries a per-writer sequence number that only grows; upserts put
``{"w": writer, "seq": n, "models": [...]}`` in the metadata, so any row read back names the write
that produced it and the models that write stored.

Checked while running (in the worker, strictly, because nobody else writes those names):
- a thread reads its own ids back (``get`` and ``resolve_model_key``) exactly as it last wrote them;
- a model the thread blocked is never what a resolve of its own ids returns;
- every resolve of a shared key returns a model that the row it names actually holds (no torn row).

The busy host: one more process, the backend's per-request bookkeeping, commits one row at a time
to ``ai_request_stats`` (its own table, same file) from its own ``sqlite3`` connection, with a
0.5 ms pause between commits (a worker between requests). Each such commit moves
``PRAGMA data_version`` for every store; the change feed must make them cost nothing. Reported
from each worker's ``health()``: refreshes that applied only the changed rows (incremental),
full reloads, and reads that needed neither. A full reload is due only when a refresh starts from a
snapshot more than 512 changes behind (both threads of a process waiting for the write lock
while the others commit), so each store may have at most THREADS x (changes / 513 + 1). After the load, a quiet check that
needs no such bound: a fresh store reads after each of 200 more unrelated commits and must
count no refresh of either kind.

Checked at the end, against a fresh store and the raw table:
- zero errors surfaced (``database_busy`` after the 5 s busy timeout counts);
- owned ids and blocked names: the final state is the owner's last acknowledged operation;
- shared ids and blocked names: the final state is some writer's last acknowledged operation;
- every row any read returned was written by the writer and sequence it names;
- ``PRAGMA quick_check`` is ok.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PROCESSES = 4
THREADS = 2
OWN_KEYS = 8
SHARED_KEYS = 6
OWN_BLOCKED = 4
SHARED_BLOCKED = 3


def shared_ids() -> List[str]:
    out = []
    for j in range(SHARED_KEYS):
        out.append(f"mapping:shared-{j}")
        if j % 2 == 0:  # the same key under `global`: resolve must prefer `mapping`
            out.append(f"global:shared-{j}")
    return out


SHARED_MODELS = [f"blk-shared-{j}" for j in range(SHARED_BLOCKED)]


# ---------------------------------------------------------------- worker (library writer) ----


class Writer:
    """One thread's operations, acknowledgements and read checks."""

    def __init__(self, store: Any, wid: str, seed: int, deadline: float) -> None:
        self.store = store
        self.wid = wid
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.seq = 0
        self.own_ids = [f"mapping:own-{wid}-{j}" for j in range(OWN_KEYS)]
        self.own_models = [f"blk-{wid}-{j}" for j in range(OWN_BLOCKED)]
        # id or model -> list of [seq, op, value]; the last entry is the final acknowledgement.
        self.acks: Dict[str, List[List[Any]]] = defaultdict(list)
        self.intents: Dict[str, List[int]] = defaultdict(list)  # id -> seqs attempted (upserts)
        self.own_state: Dict[str, Optional[Dict[str, Any]]] = {i: None for i in self.own_ids}
        self.own_blocked: Dict[str, bool] = {m: False for m in self.own_models}
        self.errors: Counter = Counter()
        self.error_samples: List[str] = []
        self.ops: Counter = Counter()
        self.violations: List[str] = []
        self.seen_rows: List[Tuple[str, str, int]] = []  # (mapping_id, w, seq) read from shared keys
        self.seen_msg_models: List[Tuple[str, str]] = []  # (id the message chain hit, model)
        # (id, t_start, t_end, [w, seq] or None): reads of ids another process owns.
        self.cross_reads: List[Tuple[str, float, float, Any]] = []
        self.host_rows_seen = 0

    def violation(self, text: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(text)
        else:
            self.violations[-1] = f"... and more (last: {text})"

    def error(self, op: str, exc: BaseException) -> None:
        code = getattr(exc, "code", type(exc).__name__)
        self.errors[f"{op}:{code}"] += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{op}: {exc!r}")

    def models_for(self, seq: int, own: bool) -> Tuple[str, List[str]]:
        """The default model and candidates of upsert ``seq``; sometimes a blockable default."""
        roll = self.rng.random()
        default = f"v-{self.wid}-{seq}"
        if roll < 0.3:
            default = self.rng.choice(self.own_models if own else SHARED_MODELS)
        return default, [f"v-{self.wid}-{seq}", f"c-{self.wid}-{seq}"]

    def upsert(self, mapping_id: str, own: bool) -> None:
        self.seq += 1
        seq = self.seq
        default, candidates = self.models_for(seq, own)
        models = [default] + [c for c in candidates if c != default]
        payload = {
            "id": mapping_id,
            "name": f"{self.wid}-{seq}",
            "default_model": default,
            "candidates": candidates,
            "metadata": {"w": self.wid, "seq": seq, "models": models},
        }
        self.intents[mapping_id].append(seq)
        t0 = time.monotonic()
        try:
            stored = self.store.upsert(payload)
        except Exception as exc:  # noqa: BLE001 - every failure is counted
            self.error("upsert", exc)
            self.acks[mapping_id].append([seq, "uncertain", None, t0, time.monotonic()])
            return
        t1 = time.monotonic()
        self.ops["upsert"] += 1
        if stored.get("metadata", {}).get("seq") != seq or stored.get("id") != mapping_id:
            self.violation(f"upsert {mapping_id} seq {seq} returned {stored}")
        self.acks[mapping_id].append([seq, "upsert", models, t0, t1])
        if own:
            self.own_state[mapping_id] = {"seq": seq, "models": models}

    def delete(self, mapping_id: str, own: bool) -> None:
        self.seq += 1
        seq = self.seq
        t0 = time.monotonic()
        try:
            deleted = self.store.delete(mapping_id)
        except Exception as exc:  # noqa: BLE001
            self.error("delete", exc)
            self.acks[mapping_id].append([seq, "uncertain", None, t0, time.monotonic()])
            return
        t1 = time.monotonic()
        self.ops["delete"] += 1
        if own:
            existed = self.own_state[mapping_id] is not None
            if deleted != existed:
                self.violation(f"delete {mapping_id} returned {deleted}, expected {existed}")
            self.own_state[mapping_id] = None
        self.acks[mapping_id].append([seq, "delete", None, t0, t1])

    def block(self, model: str, blocked: bool, own: bool) -> None:
        self.seq += 1
        seq = self.seq
        t0 = time.monotonic()
        try:
            now_blocked = self.store.update_blocked([{"model": model, "blocked": blocked}])
        except Exception as exc:  # noqa: BLE001
            self.error("update_blocked", exc)
            self.acks["blocked:" + model].append([seq, "uncertain", None, t0, time.monotonic()])
            return
        t1 = time.monotonic()
        self.ops["block" if blocked else "unblock"] += 1
        if own:
            self.own_blocked[model] = blocked
            mine = {m for m in now_blocked if m.startswith(f"blk-{self.wid}-")}
            want = {m for m, b in self.own_blocked.items() if b}
            if mine != want:
                self.violation(f"blocked list after {model}={blocked}: {sorted(mine)} != {sorted(want)}")
        self.acks["blocked:" + model].append([seq, "block" if blocked else "unblock", None, t0, t1])

    def check_own_get(self, mapping_id: str) -> None:
        try:
            got = self.store.get(mapping_id)
        except Exception as exc:  # noqa: BLE001
            self.error("get", exc)
            return
        self.ops["get"] += 1
        want = self.own_state[mapping_id]
        if want is None:
            if got is not None:
                self.violation(f"get {mapping_id}: deleted/never written but read {got}")
        elif got is None or got["metadata"].get("seq") != want["seq"]:
            self.violation(f"get {mapping_id}: last acknowledged seq {want['seq']}, read {got}")
        elif [got["default_model"]] + [c for c in got["candidates"] if c != got["default_model"]] != want["models"]:
            self.violation(f"get {mapping_id}: models {got['candidates']} != {want['models']}")

    def check_own_resolve(self, mapping_id: str) -> None:
        key = mapping_id.split(":", 1)[1]
        try:
            r = self.store.resolve_model_key(key)
        except Exception as exc:  # noqa: BLE001
            self.error("resolve", exc)
            return
        self.ops["resolve"] += 1
        want = self.own_state[mapping_id]
        if want is None:
            if r.get("hit") or r.get("resolved_model") != key:
                self.violation(f"resolve {key}: deleted but resolved {r}")
            return
        if not r.get("hit") or r.get("mapping_id") != mapping_id or r["metadata"].get("seq") != want["seq"]:
            self.violation(f"resolve {key}: last acknowledged seq {want['seq']}, got {r}")
            return
        expected = next(m for m in want["models"] if not self.own_blocked.get(m, False))
        if r["resolved_model"] != expected:
            self.violation(
                f"resolve {key}: expected {expected} (blocked {sorted(m for m, b in self.own_blocked.items() if b)}), "
                f"got {r['resolved_model']}"
            )

    def check_shared_resolve(self, key: str) -> None:
        try:
            r = self.store.resolve_model_key(key)
        except Exception as exc:  # noqa: BLE001
            self.error("resolve", exc)
            return
        self.ops["resolve"] += 1
        if not r.get("hit"):
            if r.get("resolved_model") != key:
                self.violation(f"resolve {key}: miss returned {r}")
            return
        meta = r.get("metadata") or {}
        mid = r.get("mapping_id")
        if mid not in (f"mapping:{key}", f"global:{key}") or "seq" not in meta:
            self.violation(f"resolve {key}: unexpected row {r}")
            return
        if r["resolved_model"] is not None and r["resolved_model"] not in meta.get("models", []):
            self.violation(f"resolve {key}: torn read, model {r['resolved_model']} not in its row {meta}")
        if meta.get("w") == "host":
            self.host_rows_seen += 1
        self.seen_rows.append((mid, meta["w"], meta["seq"]))

    def check_cross_read(self) -> None:
        """Reads an id another writer owns; compared at the end with that writer's
        acknowledgement times (the clock is CLOCK_MONOTONIC, shared by every process)."""
        owners = [f"p{i}t{t}" for i in range(PROCESSES) for t in range(THREADS)] + ["host"]
        owner = self.rng.choice([o for o in owners if o != self.wid])
        j = self.rng.randrange(OWN_KEYS)
        key = f"host-{j}" if owner == "host" else f"own-{owner}-{j}"
        t0 = time.monotonic()
        try:
            r = self.store.resolve_model_key(key)
        except Exception as exc:  # noqa: BLE001
            self.error("resolve", exc)
            return
        t1 = time.monotonic()
        self.ops["resolve"] += 1
        if not r.get("hit"):
            if r.get("resolved_model") != key:
                self.violation(f"resolve {key}: miss returned {r}")
            self.cross_reads.append((f"mapping:{key}", t0, t1, None))
            return
        meta = r.get("metadata") or {}
        if r["resolved_model"] is not None and r["resolved_model"] not in meta.get("models", []):
            self.violation(f"resolve {key}: torn read, model {r['resolved_model']} not in its row {meta}")
        if meta.get("w") == "host":
            self.host_rows_seen += 1
        self.cross_reads.append((r.get("mapping_id"), t0, t1, [meta.get("w"), meta.get("seq")]))

    def check_message(self, key: str) -> None:
        try:
            r = self.store.resolve_for_message(user_id=f"user-{self.wid}", mapping_key=key)
        except Exception as exc:  # noqa: BLE001
            self.error("resolve_for_message", exc)
            return
        self.ops["resolve_for_message"] += 1
        hit = r.get("hit")
        if hit is None:
            if r.get("model") is not None or r.get("reason") != "mapping_not_found":
                self.violation(f"resolve_for_message {key}: {r}")
            return
        hid = f"{hit['scope_type']}:{hit['scope_key']}"
        if hid != f"mapping:{key}":
            self.violation(f"resolve_for_message {key}: hit {hid}")
        if r.get("model") is not None:
            self.seen_msg_models.append((hid, r["model"]))

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.15:
            key = self.rng.choice(shared_ids()).split(":", 1)[1]
            self.check_shared_resolve(key)
        elif roll < 0.25:
            self.check_cross_read()
        elif roll < 0.33:
            self.check_own_resolve(self.rng.choice(self.own_ids))
        elif roll < 0.41:
            self.check_own_get(self.rng.choice(self.own_ids))
        elif roll < 0.46:
            self.check_message(f"shared-{self.rng.randrange(SHARED_KEYS)}")
        elif roll < 0.61:
            self.upsert(self.rng.choice(self.own_ids), own=True)
        elif roll < 0.76:
            self.upsert(self.rng.choice(shared_ids()), own=False)
        elif roll < 0.81:
            self.delete(self.rng.choice(self.own_ids), own=True)
        elif roll < 0.86:
            self.delete(self.rng.choice(shared_ids()), own=False)
        elif roll < 0.93:
            self.block(self.rng.choice(self.own_models), self.rng.random() < 0.5, own=True)
        else:
            self.block(self.rng.choice(SHARED_MODELS), self.rng.random() < 0.5, own=False)

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - a bug in a check must not hang the run
                self.error("harness", exc)

    def report(self) -> Dict[str, Any]:
        return {
            "wid": self.wid,
            "ops": dict(self.ops),
            "errors": dict(self.errors),
            "error_samples": self.error_samples,
            "violations": self.violations,
            "acks": self.acks,
            "intents": self.intents,
            "seen_rows": self.seen_rows,
            "seen_msg_models": self.seen_msg_models,
            "cross_reads": self.cross_reads,
            "host_rows_seen": self.host_rows_seen,
            "last_seq": self.seq,
        }


def worker_main(db: str, index: int, duration: float, out: str, seed: int, staleness: Optional[int]) -> None:
    from model_mapping import Store

    store = Store(db, max_staleness_ms=staleness)
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every process starts together
    deadline = time.monotonic() + duration
    writers = [Writer(store, f"p{index}t{t}", seed * 100 + index * 10 + t, deadline) for t in range(THREADS)]
    threads = [threading.Thread(target=w.run) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    health = store.health()
    store.close()
    Path(out).write_text(
        json.dumps({"writers": [w.report() for w in writers], "health": health})
    )
    print("done", flush=True)


# ------------------------------------------------------------- host (aiosqlite) writer ----


async def host_loop(db: str, duration: float, seed: int) -> Dict[str, Any]:
    import aiosqlite

    rng = random.Random(seed)
    acks: Dict[str, List[List[Any]]] = defaultdict(list)
    intents: Dict[str, List[int]] = defaultdict(list)
    errors: Counter = Counter()
    samples: List[str] = []
    ops: Counter = Counter()
    own_ids = [f"mapping:host-{j}" for j in range(OWN_KEYS)]
    seq = 0
    # What the backend does: sqlite3 under aiosqlite, 5 s busy timeout, its own transactions.
    async with aiosqlite.connect(db, timeout=5.0, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            seq += 1
            mapping_id = rng.choice(own_ids if rng.random() < 0.5 else shared_ids())
            scope_type, scope_key = mapping_id.split(":", 1)
            delete = rng.random() < 0.2
            t0 = time.monotonic()
            try:
                await conn.execute("BEGIN IMMEDIATE")
                if delete:
                    await conn.execute("DELETE FROM llm_model_mappings WHERE id = ?", (mapping_id,))
                else:
                    models = [f"h-{seq}", f"hc-{seq}"]
                    intents[mapping_id].append(seq)
                    await conn.execute(
                        "INSERT INTO llm_model_mappings (id, scope_type, scope_key, name, default_model, "
                        "candidates_json, is_active, updated_at, metadata_json) VALUES (?,?,?,?,?,?,?,?,?) "
                        "ON CONFLICT(id) DO UPDATE SET scope_type=excluded.scope_type, "
                        "scope_key=excluded.scope_key, name=excluded.name, "
                        "default_model=excluded.default_model, candidates_json=excluded.candidates_json, "
                        "is_active=excluded.is_active, updated_at=excluded.updated_at, "
                        "metadata_json=excluded.metadata_json",
                        (
                            mapping_id,
                            scope_type,
                            scope_key,
                            f"host-{seq}",
                            models[0],
                            json.dumps(models),
                            1,
                            datetime.now(timezone.utc).isoformat(),
                            json.dumps({"w": "host", "seq": seq, "models": models}),
                        ),
                    )
                await conn.execute("COMMIT")
            except Exception as exc:  # noqa: BLE001
                errors[f"{'delete' if delete else 'upsert'}:{type(exc).__name__}:{exc}"] += 1
                if len(samples) < 5:
                    samples.append(repr(exc))
                try:
                    await conn.execute("ROLLBACK")
                except Exception:  # noqa: BLE001
                    pass
                acks[mapping_id].append([seq, "uncertain", None, t0, time.monotonic()])
                continue
            t1 = time.monotonic()
            ops["delete" if delete else "upsert"] += 1
            acks[mapping_id].append([seq, "delete" if delete else "upsert", None if delete else models, t0, t1])
            await asyncio.sleep(0)
    return {
        "wid": "host",
        "ops": dict(ops),
        "errors": dict(errors),
        "error_samples": samples,
        "violations": [],
        "acks": acks,
        "intents": intents,
        "seen_rows": [],
        "seen_msg_models": [],
        "cross_reads": [],
        "host_rows_seen": 0,
        "last_seq": seq,
    }


def stats_main(db: str, duration: float, out: str) -> None:
    """The backend's per-request commits to a table of its own (``ai_request_stats``)."""
    import sqlite3

    conn = sqlite3.connect(db, timeout=5.0, isolation_level=None)
    commits = 0
    errors: Counter = Counter()
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        try:
            conn.execute(
                "INSERT INTO ai_request_stats (model, tokens, created_at) VALUES (?, ?, ?)",
                (f"model-{commits % 7}", commits % 1000, datetime.now(timezone.utc).isoformat()),
            )
            commits += 1
        except sqlite3.Error as exc:
            errors[f"stats:{type(exc).__name__}:{exc}"] += 1
        time.sleep(0.0005)
    conn.close()
    Path(out).write_text(json.dumps({"stats_commits": commits, "errors": dict(errors)}))
    print("done", flush=True)


def host_main(db: str, duration: float, out: str, seed: int) -> None:
    report = asyncio.run(host_loop(db, duration, seed))
    Path(out).write_text(json.dumps({"writers": [report], "health": None}))
    print("done", flush=True)


# ------------------------------------------------------------------------- orchestrator ----


def final_state_of(acks: List[List[Any]]) -> Optional[Tuple[str, Any]]:
    """(op, models) of the last acknowledgement, or None when the writer never touched it."""
    return (acks[-1][1], acks[-1][2]) if acks else None


def main() -> None:
    sc = common.Scenario("R1", __doc__.splitlines()[0])
    sc.parser.add_argument("--duration", type=float, help="seconds of load (default 3 quick, 30 full)")
    sc.parser.add_argument("--worker", nargs=4, metavar=("DB", "INDEX", "DURATION", "OUT"))
    sc.parser.add_argument("--host", nargs=3, metavar=("DB", "DURATION", "OUT"))
    sc.parser.add_argument("--stats", nargs=3, metavar=("DB", "DURATION", "OUT"))
    sc.parser.add_argument("--seed", type=int, default=None)
    sc.parser.add_argument(
        "--max-staleness-ms",
        type=int,
        default=None,
        help="open the workers' stores with this staleness bound (a self-test: the coherence check must then fail)",
    )
    args = sc.parser.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    if args.worker:
        db, index, duration, out = args.worker
        worker_main(db, int(index), float(duration), out, seed, args.max_staleness_ms)
        return
    if args.host:
        db, duration, out = args.host
        host_main(db, float(duration), out, seed)
        return
    if args.stats:
        db, duration, out = args.stats
        stats_main(db, float(duration), out)
        return

    args = sc.parse()
    duration = args.duration or (30.0 if sc.full else 3.0)
    from model_mapping import Store

    db = sc.tmp / "app.db"
    Store(db).close()  # created by the library (schema, WAL, mode 0600)
    import sqlite3

    with sqlite3.connect(db) as c:  # the backend's own table, beside the mappings
        c.execute("CREATE TABLE ai_request_stats (id INTEGER PRIMARY KEY, model TEXT, tokens INTEGER, created_at TEXT)")
    c.close()
    sc.say(
        f"load: {PROCESSES} processes x {THREADS} threads through the binding + 1 aiosqlite writer, "
        f"{duration:g} s, seed {seed}, load average {common.load_average()}"
    )
    env = common.python_env()
    me = str(Path(__file__).resolve())
    procs = []
    for i in range(PROCESSES):
        out = sc.tmp / f"worker-{i}.json"
        cmd = [sys.executable, me, "--seed", str(seed), "--worker", str(db), str(i), str(duration), str(out)]
        if args.max_staleness_ms is not None:
            cmd[2:2] = ["--max-staleness-ms", str(args.max_staleness_ms)]
        procs.append((f"worker {i}", out, subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)))
    out = sc.tmp / "host.json"
    cmd = [sys.executable, me, "--seed", str(seed), "--host", str(db), str(duration), str(out)]
    procs.append(("aiosqlite host", out, subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)))
    stats_out = sc.tmp / "stats.json"
    cmd = [sys.executable, me, "--stats", str(db), str(duration), str(stats_out)]
    stats_proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    for name, _, p in procs:
        line = p.stdout.readline().strip()
        if line != "ready":
            sc.check(False, f"{name} failed to start ({line!r}, {common.describe_exit(p.wait())})")
    line = stats_proc.stdout.readline().strip()
    if line != "ready":
        sc.check(False, f"the ai_request_stats writer failed to start ({line!r})")
    for p in [p for _, _, p in procs] + [stats_proc]:
        if p.poll() is None:
            p.stdin.write("go\n")
            p.stdin.flush()
    started = time.monotonic()
    reports: List[Dict[str, Any]] = []
    healths: List[Dict[str, Any]] = []
    for name, out, p in procs:
        try:
            rc = p.wait(timeout=duration + 120)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            sc.check(False, f"{name} hung past {duration + 120:g} s")
        if rc != 0 or not out.exists():
            sc.check(False, f"{name} ended with {common.describe_exit(rc)}")
            continue
        data = json.loads(out.read_text())
        reports.extend(data["writers"])
        if data.get("health"):
            healths.append(data["health"])
    try:
        stats_rc = stats_proc.wait(timeout=duration + 120)
    except subprocess.TimeoutExpired:
        stats_proc.kill()
        stats_rc = stats_proc.wait()
    stats = json.loads(stats_out.read_text()) if stats_rc == 0 and stats_out.exists() else {"stats_commits": 0, "errors": {"stats:exit": 1}}
    wall = time.monotonic() - started
    sc.say(f"all writers finished after {wall:.1f} s (load average {common.load_average()})")

    # ---- counts
    ops: Counter = Counter()
    errors: Counter = Counter()
    violations: List[str] = []
    for r in reports:
        ops.update(r["ops"])
        errors.update(r["errors"])
        violations.extend(f"{r['wid']}: {v}" for v in r["violations"])
        for s in r["error_samples"]:
            sc.say(f"error sample {r['wid']}: {s}")
    total_ops = sum(ops.values())
    sc.say(
        "operations acknowledged: "
        + ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
        + f"; total {total_ops} ({total_ops / max(wall, 1e-9):.0f}/s)"
    )
    lib_writers = [r for r in reports if r["wid"] != "host"]
    host = [r for r in reports if r["wid"] == "host"]
    if host:
        sc.say(f"aiosqlite host writer: {sum(host[0]['ops'].values())} commits (BEGIN IMMEDIATE)")
    stats_commits = stats.get("stats_commits", 0)
    errors.update(stats.get("errors", {}))
    sc.say(f"busy host: {stats_commits} commits to ai_request_stats ({stats_commits / max(wall, 1e-9):.0f}/s) from its own connection")
    reads_by_proc: Dict[int, int] = defaultdict(int)
    for r in lib_writers:
        p_index = int(r["wid"][1:].split("t")[0])
        reads_by_proc[p_index] += sum(v for k, v in r["ops"].items() if k in ("get", "resolve", "resolve_for_message"))
    incr = sum(h.get("incremental_refreshes", 0) for h in healths)
    full = sum(h.get("full_reloads", 0) for h in healths)
    reads_total = sum(reads_by_proc.values())
    if healths:
        sc.say(
            "refreshes per process (incremental/full, read and write path): "
            + ", ".join(f"{h.get('incremental_refreshes')}/{h.get('full_reloads')}" for h in healths)
            + f"; reads {reads_total}, of which served with no refresh at all at least {max(reads_total - incr - full, 0)}"
            + f"; reads that returned a row the aiosqlite host wrote: {sum(r['host_rows_seen'] for r in reports)}"
        )
        # A full reload is due only when the snapshot a refresh starts from is more than 512
        # changes behind (both threads of a process waiting for the write lock while the others
        # commit); each of a store's threads can start one from the same old snapshot (a read
        # and a write racing), and the unrelated commits are no changes. So a store has at
        # most THREADS * (changes / 513 + 1).
        counter = max(h.get("change_counter", 0) for h in healths)
        bound = THREADS * (counter // 513 + 1)
        sc.check(
            len(healths) == PROCESSES and all(h.get("full_reloads", 0) <= bound for h in healths),
            f"full reloads per store {[h.get('full_reloads') for h in healths]}, each at most {bound} "
            f"({THREADS} threads x (the feed's {counter} changes / 513 + 1)): the {stats_commits} unrelated commits cost none",
        )
    sc.check(len(reports) == PROCESSES * THREADS + 1, f"{len(reports)} of {PROCESSES * THREADS + 1} writers reported")
    sc.check(not errors, f"errors surfaced: {sum(errors.values())} {dict(errors) if errors else ''}".rstrip())
    sc.check(
        not violations,
        f"read-your-writes, blocked-model and torn-read checks in the workers: {len(violations)} violation(s)"
        + ("" if not violations else ": " + " | ".join(violations[:5])),
    )
    if total_ops == 0:
        sc.check(False, "no operation was acknowledged")

    # ---- final state
    store = Store(db)
    final = {m["id"]: m for m in store.list_mappings()}
    final_blocked = set(store.blocked_models())
    qc = store.quick_check()
    store.close()

    def state_of(mapping_id: str) -> Tuple[str, Any]:
        m = final.get(mapping_id)
        if m is None:
            return ("absent", None)
        return ("present", (m["metadata"].get("w"), m["metadata"].get("seq")))

    def ack_to_state(wid: str, ack: List[Any]) -> Tuple[str, Any]:
        return ("absent", None) if ack[1] == "delete" else ("present", (wid, ack[0]))

    owned_checked = owned_bad = 0
    shared_checked = shared_bad = 0
    uncertain = 0
    bad_samples: List[str] = []
    last_by_id: Dict[str, List[Tuple[str, List[Any]]]] = defaultdict(list)
    for r in reports:
        for key, acks in r["acks"].items():
            if acks:
                last_by_id[key].append((r["wid"], acks[-1]))
    for key, lasts in sorted(last_by_id.items()):
        if any(a[1] == "uncertain" for _, a in lasts):
            uncertain += 1
            continue
        owned = key.startswith("mapping:own-") or key.startswith("mapping:host-") or key.startswith("blocked:blk-p")
        if key.startswith("blocked:"):
            model = key[len("blocked:"):]
            actual = model in final_blocked
            allowed = {a[1] == "block" for _, a in lasts}
            good = actual in allowed
            desc = f"{model} blocked={actual}, last acknowledged: " + ", ".join(f"{w} {a[1]}@{a[0]}" for w, a in lasts)
        else:
            actual = state_of(key)
            allowed = {ack_to_state(w, a) for w, a in lasts}
            if not owned:
                # A shared id nobody's last operation was a write to may also be absent, and one
                # whose writers never deleted it must hold one of their last writes.
                pass
            good = actual in allowed
            if good and actual[0] == "present":
                m = final[key]
                w, s = actual[1]
                ack = next(a for wid, a in lasts if wid == w and a[0] == s)
                stored = [m["default_model"]] + [c for c in m["candidates"] if c != m["default_model"]]
                if stored != ack[2]:
                    good = False
            desc = f"{key} final {actual}, last acknowledged: " + ", ".join(f"{w} {a[1]}@{a[0]}" for w, a in lasts)
        if owned:
            owned_checked += 1
            owned_bad += not good
        else:
            shared_checked += 1
            shared_bad += not good
        if not good and len(bad_samples) < 5:
            bad_samples.append(desc)
    # Ids nobody acknowledged must be absent (nothing invented).
    invented = [k for k in final if k not in last_by_id]
    for s in bad_samples:
        sc.say("lost or wrong: " + s)
    sc.check(
        owned_bad == 0,
        f"owned ids and blocked names: {owned_checked} checked, final state = owner's last acknowledged operation for all but {owned_bad}",
    )
    sc.check(
        shared_bad == 0,
        f"shared ids and blocked names: {shared_checked} checked, final state = some writer's last acknowledged operation for all but {shared_bad}",
    )
    if uncertain:
        sc.say(f"{uncertain} names had an operation that failed (counted as errors above) and were not compared")
    sc.check(not invented, f"rows nobody wrote in the final table: {len(invented)} {invented[:5]}")

    # ---- every read returned something that was written
    intents: Dict[Tuple[str, str], set] = defaultdict(set)
    models_by_id: Dict[str, set] = defaultdict(set)
    for r in reports:
        for key, seqs in r["intents"].items():
            intents[(key, r["wid"])].update(seqs)
        for key, acks in r["acks"].items():
            for a in acks:
                if a[1] == "upsert":
                    models_by_id[key].update(a[2])
    reads = [row for r in reports for row in r["seen_rows"]]
    phantom = [row for row in reads if row[2] not in intents.get((row[0], row[1]), ())]
    msg = [row for r in reports for row in r["seen_msg_models"]]
    phantom_msg = [row for row in msg if row[1] not in models_by_id.get(row[0], ())]
    sc.check(
        not phantom,
        f"shared-key resolves: {len(reads)} hits, each naming a (writer, seq) that wrote that id; never written: {len(phantom)} {phantom[:3]}",
    )
    sc.check(
        not phantom_msg,
        f"resolve_for_message: {len(msg)} picks, each a model written for the mapping it hit; never written: {len(phantom_msg)} {phantom_msg[:3]}",
    )
    # ---- cross-process coherence (behaviour B13): a read that starts after another process's write
    # was acknowledged sees that write or a later one, never an older state.
    ops_by_id: Dict[str, Tuple[str, List[List[Any]]]] = {}
    for r in reports:
        for key, acks in r["acks"].items():
            if key.startswith("mapping:own-") or key.startswith("mapping:host-"):
                ops_by_id[key] = (r["wid"], acks)
    cross = [row for r in reports for row in r["cross_reads"]]
    stale: List[str] = []
    fresh_needed = 0
    for mapping_id, t0, t1, seen in cross:
        owner, acks = ops_by_id.get(mapping_id, ("?", []))
        observed = None if seen is None else (seen[0], seen[1])
        done = [i for i, a in enumerate(acks) if a[4] < t0]
        i0 = done[-1] if done else -1
        started = [i for i, a in enumerate(acks) if a[3] < t1]
        i1 = started[-1] if started else -1
        allowed = set()
        if i0 == -1:
            allowed.add(None)
        else:
            fresh_needed += 1
        for i in range(max(i0, 0), i1 + 1):
            a = acks[i]
            if a[1] == "upsert":
                allowed.add((owner, a[0]))
            elif a[1] == "delete":
                allowed.add(None)
            else:  # uncertain: either the old or the new state
                allowed.add(None)
                allowed.add((owner, a[0]))
        if observed not in allowed:
            stale.append(f"{mapping_id} read [{t0:.4f}, {t1:.4f}] saw {observed}, allowed {sorted(allowed, key=str)}")
    for s_ in stale[:5]:
        sc.say("stale or phantom: " + s_)
    sc.check(
        not stale,
        f"cross-process reads of ids another process owns: {len(cross)} ({fresh_needed} after an acknowledged write), "
        f"each saw the last write acknowledged before it began or a newer one; stale or phantom: {len(stale)}",
    )
    sc.check(qc == ["ok"], f"PRAGMA quick_check: {qc}")
    # ---- unrelated commits alone: no refresh at all
    import sqlite3

    quiet = Store(db)
    quiet.resolve_model_key("shared-0")
    before = quiet.health()
    host_conn = sqlite3.connect(db, timeout=5.0, isolation_level=None)
    reads_ok = 0
    for i in range(200):
        host_conn.execute("INSERT INTO ai_request_stats (model, tokens, created_at) VALUES ('quiet', ?, 'now')", (i,))
        reads_ok += quiet.resolve_model_key("shared-0") is not None
    host_conn.close()
    after = quiet.health()
    quiet.close()
    sc.check(
        after["incremental_refreshes"] == before["incremental_refreshes"] and after["full_reloads"] == before["full_reloads"]
        and after["data_version"] != before["data_version"],
        f"200 more unrelated commits, a read after each: data_version moved {before['data_version']} -> {after['data_version']}, "
        f"refreshes incremental {before['incremental_refreshes']} -> {after['incremental_refreshes']}, full {before['full_reloads']} -> {after['full_reloads']}",
    )
    sc.say(f"final table: {len(final)} mappings, {len(final_blocked)} blocked models")
    sc.finish(
        f"{total_ops} operations by {len(lib_writers)} binding threads in {PROCESSES} processes + "
        f"{sum(host[0]['ops'].values()) if host else 0} aiosqlite commits + {stats_commits} unrelated ai_request_stats commits "
        f"in {duration:g} s ({incr} incremental refreshes, {full} full reloads); 0 errors, "
        f"{owned_checked + shared_checked} final states match, {len(reads) + len(msg)} shared reads all written, "
        f"{len(cross)} cross-process reads coherent, quick_check ok"
    )


if __name__ == "__main__":
    main()

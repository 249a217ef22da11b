"""R6 reads never wait: while another process holds SQLite's write lock and local writes wait for
it, resolves on other threads and on an asyncio event loop return and see what others committed
before the lock was taken (target R6, B13; issue 14).

Without timing. The order of events is the proof:
1. This process opens a ``Store`` (busy timeout 10 min, so its write can only end when the lock
   is released) and the drop-in ``ModelMappingService``; both serve and cache a first state.
2. Another process commits through its own ``Store`` (a mapping, and a model blocked that one
   of this process's mappings defaults to); then a helper process commits a row with plain SQL
   (the backend's upsert), takes the write lock (``BEGIN IMMEDIATE``), writes one more row
   inside that open transaction, says ``locked`` and waits.
3. A thread calls ``Store.upsert`` and the event loop starts the drop-in's ``upsert_mapping``
   (its worker thread). The scenario waits until the ``Store.upsert`` thread is seen inside
   SQLite's busy wait (``/proc/self/task/<tid>/syscall`` shows it sleeping in ``nanosleep``/
   ``clock_nanosleep``): the write has started and cannot finish before the helper commits.
4. Reader threads (``resolve_model_key``, ``get``, ``list_mappings``, ``resolve_for_message``,
   ``health``) on the same store and on the service's, and coroutines awaiting the drop-in's
   ``resolve_model_key`` on the event loop, each complete their rounds (joins are polls with a
   60 s limit, only to stop a hang). Every read must see the commits of step 2 (the other
   process's mapping, its blocked model skipped, the host's row) and neither the helper's
   uncommitted row nor the pending local writes.
5. Only then: both local writes must still be pending (not returned), and the helper is told
   to commit. Both writes then return, every read sees them and the helper's row, a fresh
   process reads all of it from the file, ``quick_check`` ok.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

LIMIT = 60.0  # generous limit of every wait: only to stop a hang
# The syscalls SQLite's busy handler sleeps in (unixSleep -> usleep), by machine.
SLEEP_SYSCALLS = {"x86_64": {35, 230}, "aarch64": {101, 115}}

HOST_UPSERT = (
    "INSERT INTO llm_model_mappings (id, scope_type, scope_key, name, default_model, candidates_json, "
    "is_active, updated_at, metadata_json) VALUES (?,?,?,?,?,?,1,?,'{}') ON CONFLICT(id) DO UPDATE SET "
    "default_model=excluded.default_model, candidates_json=excluded.candidates_json, updated_at=excluded.updated_at"
)


def other_store_main(db: str) -> None:
    from model_mapping import Store

    with Store(db) as s:
        s.upsert({"id": "mapping:r6-other", "default_model": "other-model"})
        s.update_blocked([{"model": "blocked-before", "blocked": True}])
    print("committed", flush=True)


def locker_main(db: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None, timeout=60)
    now = "2026-01-01T00:00:00+00:00"
    conn.execute(HOST_UPSERT, ("mapping:r6-host", "mapping", "r6-host", "host", "host-model", '["host-model"]', now))
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(HOST_UPSERT, ("mapping:r6-uncommitted", "mapping", "r6-uncommitted", "x", "late-model", '["late-model"]', now))
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    conn.close()
    print("released", flush=True)


def thread_syscall(native_id: int) -> int:
    try:
        text = Path(f"/proc/self/task/{native_id}/syscall").read_text().split()
        return int(text[0]) if text and text[0].lstrip("-").isdigit() else -1
    except OSError:
        return -2


def expected_reads(r_other: Dict[str, Any], r_host: Dict[str, Any], r_blk: Dict[str, Any], r_unc: Dict[str, Any]) -> List[str]:
    bad = []
    if r_other.get("resolved_model") != "other-model":
        bad.append(f"r6-other (committed by another process before the lock) resolved {r_other.get('resolved_model')!r}")
    if r_host.get("resolved_model") != "host-model":
        bad.append(f"r6-host (committed with SQL before the lock) resolved {r_host.get('resolved_model')!r}")
    if r_blk.get("resolved_model") != "fallback":
        bad.append(f"r6-blk (its default blocked before the lock) resolved {r_blk.get('resolved_model')!r}")
    if r_unc.get("hit"):
        bad.append(f"r6-uncommitted (inside the lock holder's open transaction) was seen: {r_unc}")
    return bad


def main() -> None:
    sc = common.Scenario("R6", __doc__.splitlines()[0])
    sc.parser.add_argument("--other-store", metavar="DB")
    sc.parser.add_argument("--locker", metavar="DB")
    args = sc.parser.parse_args()
    if args.other_store:
        other_store_main(args.other_store)
        return
    if args.locker:
        locker_main(args.locker)
        return
    args = sc.parse()
    from model_mapping import ModelMappingService, Store

    rounds = 2000 if sc.full else 200
    threads_n = 4
    db = sc.tmp / "app.db"
    store = Store(db, busy_timeout_ms=600_000)

    class Service(ModelMappingService):
        """The drop-in with a long busy timeout, so its pending write, too, can only end when
        the lock is released (the backend's default of 5 s would make the scenario timed)."""

        def _open_store(self) -> Any:  # type: ignore[override]
            with self._open_lock:
                if self._store is None or self._store.closed:
                    self._store = Store(self._db_path, storage_dir=self._storage_dir, busy_timeout_ms=600_000)
                return self._store

    service = Service(common.NoPrompts(), str(db), sc.tmp / "storage")
    store.upsert({"id": "mapping:r6-blk", "default_model": "blocked-before", "candidates": ["fallback"]})
    loop = asyncio.new_event_loop()
    first = loop.run_until_complete(service.resolve_model_key("r6-blk"))
    sc.check(
        first.get("resolved_model") == "blocked-before" and store.resolve_model_key("r6-other").get("hit") is False,
        f"before: both stores serve the first state (r6-blk -> {first.get('resolved_model')!r}, r6-other a miss)",
    )
    env = common.python_env()
    me = str(Path(__file__).resolve())
    out = subprocess.run([sys.executable, me, "--other-store", str(db)], env=env, capture_output=True, text=True, timeout=120)
    sc.check(out.returncode == 0 and "committed" in out.stdout, f"another process committed through its own Store ({common.describe_exit(out.returncode)})")
    locker = subprocess.Popen([sys.executable, me, "--locker", str(db)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = locker.stdout.readline().strip()
    if not sc.check(line == "locked", f"helper process committed a row with SQL, then took the write lock (BEGIN IMMEDIATE): {line!r}"):
        locker.kill()
        sc.finish("")

    # ---- the pending writes
    write_done = threading.Event()
    write_result: Dict[str, Any] = {}
    write_tid: List[int] = []

    def writer() -> None:
        write_tid.append(threading.get_native_id())
        try:
            write_result["stored"] = store.upsert({"id": "mapping:r6-local", "default_model": "local-model"})
        except Exception as exc:  # noqa: BLE001
            write_result["error"] = repr(exc)
        write_done.set()

    wt = threading.Thread(target=writer, name="pending-upsert")
    wt.start()
    svc_write = loop.create_task(service.upsert_mapping({"id": "mapping:r6-svc", "default_model": "svc-model"}))
    loop.run_until_complete(asyncio.sleep(0))  # the task hands the write to its worker thread
    arch = platform.machine()
    sleeping = SLEEP_SYSCALLS.get(arch)
    seen_sleep = -1
    deadline = time.monotonic() + LIMIT
    while write_tid == [] and time.monotonic() < deadline:
        time.sleep(0.001)
    if sleeping is None or not Path("/proc/self/task").is_dir():
        sc.skip(f"cannot see a thread's syscall on {arch}: the write is known started, not seen inside the busy wait")
    else:
        while time.monotonic() < deadline and not write_done.is_set():
            nr = thread_syscall(write_tid[0])
            if nr in sleeping:
                seen_sleep = nr
                break
            time.sleep(0.001)
        sc.check(
            seen_sleep in sleeping and not write_done.is_set(),
            f"the Store.upsert thread is inside SQLite's busy wait (syscall {seen_sleep}), waiting for the helper's lock",
        )

    # ---- reads from other threads and from the event loop while the writes wait
    results: Dict[str, Dict[str, Any]] = {}

    def reader(i: int, s: Any, who: str) -> None:
        bad: List[str] = []
        n = 0
        try:
            for _ in range(rounds):
                bad += expected_reads(
                    s.resolve_model_key("r6-other"),
                    s.resolve_model_key("r6-host"),
                    s.resolve_model_key("r6-blk"),
                    s.resolve_model_key("r6-uncommitted"),
                )
                if s.get("mapping:r6-local") is not None or s.get("mapping:r6-svc") is not None:
                    bad.append("a pending local write was visible before it committed")
                ids = {m["id"] for m in s.list_mappings()}
                if ids != {"mapping:r6-blk", "mapping:r6-other", "mapping:r6-host"}:
                    bad.append(f"list_mappings {sorted(ids)}")
                sel = s.resolve_for_message(user_id="u1", mapping_key="r6-other")
                if sel.get("model") != "other-model":
                    bad.append(f"resolve_for_message {sel}")
                n += 7
                if bad:
                    break
            h = s.health()
            n += 1
            results[f"{who}-{i}"] = {"reads": n, "bad": bad[:3], "health_ok": h["ok"], "triggers": h["triggers"]}
        except Exception as exc:  # noqa: BLE001
            results[f"{who}-{i}"] = {"reads": n, "bad": [repr(exc)]}

    readers = [threading.Thread(target=reader, args=(i, store, "store")) for i in range(threads_n)]
    readers += [threading.Thread(target=reader, args=(i, service.store, "service-store")) for i in range(2)]
    for t in readers:
        t.start()

    async def loop_reads() -> Dict[str, Any]:
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.ensure_future(ticker())
        bad: List[str] = []
        n = 0
        for _ in range(rounds):
            rs = [await service.resolve_model_key(k) for k in ("r6-other", "r6-host", "r6-blk", "r6-uncommitted")]
            bad += expected_reads(*rs)
            n += 4
            await asyncio.sleep(0)  # let the loop's other work run between rounds
            if bad:
                break
        stop = True
        await tick_task
        return {"reads": n, "bad": bad[:3], "ticks": ticks, "svc_write_pending": not svc_write.done()}

    try:
        loop_result = loop.run_until_complete(asyncio.wait_for(loop_reads(), LIMIT))
    except asyncio.TimeoutError:
        loop_result = {"reads": 0, "bad": [f"the event loop's resolves did not return within {LIMIT:g} s"], "ticks": 0}
    deadline = time.monotonic() + LIMIT
    for t in readers:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [t.name for t in readers if t.is_alive()]
    thread_reads = sum(r["reads"] for r in results.values())
    bad_threads = {k: r["bad"] for k, r in results.items() if r["bad"]}
    pending_after_reads = not write_done.is_set()
    svc_pending_after_reads = not svc_write.done()
    sc.check(
        not hung and len(results) == len(readers) and not bad_threads,
        f"{len(readers)} reader threads ({threads_n} on the writing Store, 2 on the drop-in's) returned {thread_reads} reads "
        f"while the writes waited, each seeing the commits made before the lock and nothing after; "
        f"hung {hung}, wrong {bad_threads if bad_threads else 0}",
    )
    sc.check(
        not loop_result["bad"] and loop_result["reads"] == 4 * rounds,
        f"event loop: {loop_result['reads']} awaited drop-in resolve_model_key calls returned (the loop ran {loop_result['ticks']} "
        f"other steps meanwhile), all seeing the commits made before the lock; wrong {loop_result['bad'] or 0}",
    )
    sc.check(
        pending_after_reads and svc_pending_after_reads and loop_result.get("svc_write_pending") is True,
        f"after all those reads both local writes were still pending (Store.upsert pending: {pending_after_reads}, "
        f"drop-in upsert_mapping pending: {svc_pending_after_reads}): the reads returned while the writes waited",
    )

    # ---- release, then the writes land
    locker.stdin.write("release\n")
    locker.stdin.flush()
    released = locker.stdout.readline().strip()
    locker.wait(timeout=LIMIT)
    wt.join(LIMIT)
    try:
        svc_stored = loop.run_until_complete(asyncio.wait_for(svc_write, LIMIT))
    except Exception as exc:  # noqa: BLE001
        svc_stored = {"error": repr(exc)}
    sc.check(
        released == "released"
        and write_done.is_set()
        and write_result.get("stored", {}).get("default_model") == "local-model"
        and svc_stored.get("default_model") == "svc-model",
        f"after the helper committed ({released!r}) both writes returned: Store.upsert {write_result.get('stored', write_result).get('default_model', write_result)!r}, "
        f"upsert_mapping {svc_stored.get('default_model', svc_stored)!r}",
    )
    after = {k: store.resolve_model_key(k).get("resolved_model") for k in ("r6-local", "r6-svc", "r6-uncommitted")}
    after_svc = {k: loop.run_until_complete(service.resolve_model_key(k)).get("resolved_model") for k in ("r6-local", "r6-svc", "r6-uncommitted")}
    want_after = {"r6-local": "local-model", "r6-svc": "svc-model", "r6-uncommitted": "late-model"}
    sc.check(after == want_after and after_svc == want_after, f"after the writes returned both stores read them and the helper's row: {after}, {after_svc}")
    h = store.health()
    sc.say(
        f"writing store health: refreshes incremental {h['incremental_refreshes']}, full {h['full_reloads']}, "
        f"last {h['last_refresh_kind']}, triggers {h['triggers']}, ok {h['ok']}"
    )
    store.close()
    service.close()
    loop.close()
    check = subprocess.run(
        [sys.executable, "-c", "import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); "
         "print(json.dumps([sorted(r[0] for r in c.execute('SELECT id FROM llm_model_mappings')), c.execute('PRAGMA quick_check').fetchone()[0]]))",
         str(db)],
        capture_output=True, text=True, timeout=120,
    )
    fresh = json.loads(check.stdout) if check.returncode == 0 else [[], check.stderr]
    want_ids = sorted(["mapping:r6-blk", "mapping:r6-other", "mapping:r6-host", "mapping:r6-uncommitted", "mapping:r6-local", "mapping:r6-svc"])
    sc.check(fresh[0] == want_ids and fresh[1] == "ok", f"a fresh process reads all {len(want_ids)} rows from the file; quick_check {fresh[1]!r}")
    sc.finish(
        f"{thread_reads} thread reads + {loop_result['reads']} event-loop resolves returned while two local writes waited "
        f"for another process's lock; both landed after its release"
    )


if __name__ == "__main__":
    main()

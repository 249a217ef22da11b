"""Fork and data loss: processes forked with ``os.fork()`` while a store is open and a writer
thread is inside it keep every acknowledged write, whatever their parents do, and never hang
(behaviour B16; issue 13 findings 2 and 3).

Each case runs in an "app" process of its own (a gunicorn master: it opens a ``Store``, starts a
thread that upserts in a loop, and forks while that thread runs) on a database of its own. Every
process appends each write the library acknowledged (after the call returned) to an
acknowledgement file of its own; nothing else counts as acknowledged.
- (a) parent close: the parent keeps writing after the fork, then ``close()``s while the child
  is writing; the child goes on writing after the close.
- (b) parent exit: the parent leaves with ``os._exit`` while the child writes; then an unrelated
  process opens and closes the database with Python's ``sqlite3`` (the last connection's close
  checkpoints and would delete the WAL if it could take the locks); the child goes on writing.
- (c) children of children: the child starts its own writer thread and forks a grandchild, which
  forks a great-grandchild; each ancestor closes and exits while its descendants write; the last
  one writes after all of them are gone.
- (d) many children at once (8 quick, 24 full): all write at the same time; the parent closes
  while they write; they leave by ``close()``+``os._exit``, ``os._exit`` or a normal exit.
- (e) a fork storm (50 quick, 200 full) while a thread upserts in a loop: each child upserts, or
  resolves, or only calls ``close()``, and must exit within a generous limit (60 s); one that
  does not is a hang (FAIL) and is killed.
Processes left orphaned are reaped by this script (``PR_SET_CHILD_SUBREAPER``); any process of a
case still alive after the case's limit is a hang. After every process of a case is gone, a
fresh process reads the file: every acknowledged write is there with the model it wrote, and
``PRAGMA quick_check`` is ok.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

LIMIT = 60.0  # generous: how long any process may take for a step before it counts as hung
BUSY_MS = 60_000


# ------------------------------------------------------------------ inside the processes ----


class Acks:
    """Appends ``id<TAB>model`` lines, one ``write`` each, to a file of this process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pid = -1
        self.fd = -1
        self.lock = threading.Lock()
        # A fork while the writer thread holds the lock (inside os.write, which releases the
        # GIL) would leave the child a lock nobody releases: the child gets a fresh one.
        os.register_at_fork(after_in_child=self._fresh_lock)

    def _fresh_lock(self) -> None:
        self.lock = threading.Lock()

    def add(self, mapping_id: str, model: str) -> None:
        with self.lock:
            if self.pid != os.getpid():  # a forked child: a file of its own
                self.pid = os.getpid()
                self.fd = os.open(self.directory / f"acks-{self.pid}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self.fd, f"{mapping_id}\t{model}\n".encode())


def touch(path: Path) -> None:
    path.write_text(str(os.getpid()))


def wait_file(path: Path, limit: float = LIMIT) -> bool:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def end(directory: Path, tag: str, findings: Dict[str, Any]) -> None:
    findings.setdefault("pid", os.getpid())
    (directory / f"end-{tag}.json").write_text(json.dumps(findings))


def upsert(store: Any, acks: Acks, mapping_id: str) -> None:
    model = f"model-{mapping_id.split(':', 1)[1]}"
    store.upsert({"id": mapping_id, "default_model": model})
    acks.add(mapping_id, model)


class WriterThread:
    """Upserts ``mapping:<prefix>-<n>`` in a loop until stopped (the drop-in's worker thread)."""

    def __init__(self, store: Any, acks: Acks, prefix: str) -> None:
        self.store, self.acks, self.prefix = store, acks, prefix
        self.stop = threading.Event()
        self.n = 0
        self.errors: List[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        while self.n < 2 and not self.errors:  # running and inside the store
            time.sleep(0.001)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                upsert(self.store, self.acks, f"mapping:{self.prefix}-{self.n}")
                self.n += 1
            except Exception as exc:  # noqa: BLE001
                self.errors.append(repr(exc))
                return
            # A pause between writes, as a worker between requests: back-to-back commits with
            # no gap would starve other processes' writers (SQLite's busy handler polls, it
            # does not queue), which is not what this scenario is about.
            time.sleep(0.001)

    def halt(self) -> int:
        self.stop.set()
        self.thread.join(LIMIT)
        return self.n


def write_until(store: Any, acks: Acks, prefix: str, *, phase: Optional[Path], go: List[Path], after: int) -> Dict[str, Any]:
    """Writes continuously; touches ``phase`` after 5 writes; once every ``go`` file exists,
    writes ``after`` more and returns the counts."""
    n = post = 0
    deadline = time.monotonic() + 4 * LIMIT
    while time.monotonic() < deadline:
        upsert(store, acks, f"mapping:{prefix}-{n}")
        n += 1
        if n == 5 and phase is not None:
            touch(phase)
        if n >= 5 and all(g.exists() for g in go):
            post += 1
            if post >= after:
                break
    return {"writes": n, "after_go": post, "gave_up": post < after}


def exit_as(style: str, store: Any, code: int) -> None:
    if style == "close+_exit":
        store.close()
        os._exit(code)
    if style == "_exit":
        os._exit(code)
    sys.exit(code)


def own_reads(store: Any, prefix: str, n: int) -> bool:
    """The process reads back the first and last of its writes."""
    return all(
        (store.get(f"mapping:{prefix}-{i}") or {}).get("default_model") == f"model-{prefix}-{i}" for i in {0, n - 1}
    )


def where_is(pid: int) -> str:
    """What a stuck process's threads are doing (kernel wait channel and syscall number):
    ``futex`` is a lock, ``hrtimer_nanosleep`` with 230/35 is SQLite's busy handler; with gdb
    installed, the innermost frames of each thread too (is the lock the library's or Python's?)."""
    out = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            out.append(f"{task.name}: {(task / 'wchan').read_text()} {(task / 'syscall').read_text().split()[0]}")
        except (OSError, IndexError):
            pass
    try:
        bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 12"],
                            capture_output=True, text=True, timeout=60).stdout
        frames = [ln.split(" in ", 1)[-1].split(" (")[0] for ln in bt.splitlines() if ln.startswith("#")]
        if frames:
            out.append("frames: " + " <- ".join(frames[:12]))
    except (OSError, subprocess.SubprocessError):
        pass
    return "; ".join(out)


def child_guard(fn: Any, directory: Path, tag: str) -> Dict[str, Any]:
    try:
        return fn()
    except BaseException as exc:  # noqa: BLE001 - reported, and the process still exits
        out = {"ok": False, "error": repr(exc)}
        end(directory, tag, out)
        os._exit(1)


def case_a(d: Path, db: Path, sizes: Dict[str, int]) -> None:
    from model_mapping import Store

    acks = Acks(d)
    store = Store(db, busy_timeout_ms=BUSY_MS)
    upsert(store, acks, "mapping:app-0")
    t = WriterThread(store, acks, "app-thread")
    pid = os.fork()
    if pid == 0:
        def run() -> Dict[str, Any]:
            r = write_until(store, acks, "child", phase=d / "phase", go=[d / "parent-closed"], after=sizes["after"])
            r["reads_own"] = own_reads(store, "child", r["writes"])
            r["reopened_after_fork"] = store.health()["reopened_after_fork"]
            r["ok"] = not r["gave_up"] and r["reads_own"]
            return r
        r = child_guard(run, d, "child")
        end(d, "child", r)
        exit_as("close+_exit", store, 0 if r["ok"] else 1)
    for i in range(1, 6):  # the parent keeps using the store after the fork
        upsert(store, acks, f"mapping:app-{i}")
    seen = wait_file(d / "phase")
    sees_child = store.get("mapping:child-0") is not None
    n = t.halt()
    store.close()
    touch(d / "parent-closed")
    end(d, "app", {"ok": seen and sees_child and not t.errors, "thread_writes": n, "saw_child_write": sees_child, "errors": t.errors})
    os.waitpid(pid, 0)


def case_b(d: Path, db: Path, sizes: Dict[str, int]) -> None:
    from model_mapping import Store

    acks = Acks(d)
    store = Store(db, busy_timeout_ms=BUSY_MS)
    upsert(store, acks, "mapping:app-0")
    t = WriterThread(store, acks, "app-thread")
    pid = os.fork()
    if pid == 0:
        def run() -> Dict[str, Any]:
            r = write_until(store, acks, "child", phase=d / "phase", go=[d / "unrelated-done"], after=sizes["after"])
            r["reads_own"] = own_reads(store, "child", r["writes"])
            r["ok"] = not r["gave_up"] and r["reads_own"]
            return r
        r = child_guard(run, d, "child")
        end(d, "child", r)
        exit_as("_exit", store, 0 if r["ok"] else 1)
    ok = wait_file(d / "phase")
    end(d, "app", {"ok": ok and not t.errors, "thread_writes_so_far": t.n, "exit": "os._exit with the thread running"})
    os._exit(0)  # the orchestrator then has an unrelated process open and close the file


def case_c(d: Path, db: Path, sizes: Dict[str, int]) -> None:
    from model_mapping import Store

    acks = Acks(d)
    store = Store(db, busy_timeout_ms=BUSY_MS)
    upsert(store, acks, "mapping:app-0")
    t = WriterThread(store, acks, "app-thread")
    if os.fork() == 0:  # child
        def c1() -> Dict[str, Any]:
            for i in range(3):
                upsert(store, acks, f"mapping:c1-{i}")
            t1 = WriterThread(store, acks, "c1-thread")
            if os.fork() == 0:  # grandchild, forked while the child's thread writes
                def c2() -> Dict[str, Any]:
                    for i in range(3):
                        upsert(store, acks, f"mapping:c2-{i}")
                    if os.fork() == 0:  # great-grandchild
                        def c3() -> Dict[str, Any]:
                            gone = [d / "c1-closed", d / "c2-closed", d / "app-closed"]
                            r = write_until(store, acks, "c3", phase=d / "c3-phase", go=gone, after=sizes["after"])
                            r["reads_own"] = own_reads(store, "c3", r["writes"])
                            r["ok"] = not r["gave_up"] and r["reads_own"]
                            return r
                        r3 = child_guard(c3, d, "c3")
                        end(d, "c3", r3)
                        exit_as("close+_exit", store, 0 if r3["ok"] else 1)
                    ok = wait_file(d / "c3-phase")
                    store.close()
                    touch(d / "c2-closed")
                    return {"ok": ok, "writes": 3}
                r2 = child_guard(c2, d, "c2")
                end(d, "c2", r2)
                os._exit(0 if r2["ok"] else 1)
            ok = wait_file(d / "c3-phase")
            n1 = t1.halt()
            store.close()
            touch(d / "c1-closed")
            return {"ok": ok and not t1.errors, "thread_writes": n1, "errors": t1.errors}
        r1 = child_guard(c1, d, "c1")
        end(d, "c1", r1)
        os._exit(0 if r1["ok"] else 1)
    ok = wait_file(d / "c3-phase")
    n = t.halt()
    store.close()
    touch(d / "app-closed")
    end(d, "app", {"ok": ok and not t.errors, "thread_writes": n, "errors": t.errors})
    os._exit(0)


def case_d(d: Path, db: Path, sizes: Dict[str, int]) -> None:
    from model_mapping import Store

    acks = Acks(d)
    store = Store(db, busy_timeout_ms=BUSY_MS)
    upsert(store, acks, "mapping:app-0")
    t = WriterThread(store, acks, "app-thread")
    styles = ["close+_exit", "_exit", "normal exit"]
    pids = []
    for i in range(sizes["children"]):
        pid = os.fork()
        if pid == 0:
            def run(i: int = i) -> Dict[str, Any]:
                r = write_until(store, acks, f"k{i}", phase=d / f"phase-{i}", go=[d / "parent-closed"], after=sizes["after"])
                r["reads_own"] = own_reads(store, f"k{i}", r["writes"])
                r["ok"] = not r["gave_up"] and r["reads_own"]
                return r
            r = child_guard(run, d, f"k{i}")
            end(d, f"k{i}", r)
            exit_as(styles[i % 3], store, 0 if r["ok"] else 1)
        pids.append(pid)
    ok = all(wait_file(d / f"phase-{i}") for i in range(sizes["children"]))
    n = t.halt()
    store.close()
    touch(d / "parent-closed")
    end(d, "app", {"ok": ok and not t.errors, "thread_writes": n, "errors": t.errors})
    for pid in pids:
        os.waitpid(pid, 0)


def case_e(d: Path, db: Path, sizes: Dict[str, int]) -> None:
    from model_mapping import Store

    acks = Acks(d)
    store = Store(db, busy_timeout_ms=BUSY_MS)
    upsert(store, acks, "mapping:app-0")
    t = WriterThread(store, acks, "app-thread")
    actions = ["upsert", "close only", "resolve", "upsert, _exit without close"]
    hung: List[int] = []
    where: Dict[int, str] = {}
    failed: List[str] = []
    for i in range(sizes["forks"]):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                action = actions[i % len(actions)]
                if action == "close only":
                    store.close()
                    os._exit(0)
                if action == "resolve":
                    store.resolve_model_key("app-0")
                    code = 0 if store.resolve_model_key("app-0").get("resolved_model") == "model-app-0" else 1
                    os._exit(code)
                upsert(store, acks, f"mapping:storm-{i}")
                code = 0 if (store.get(f"mapping:storm-{i}") or {}).get("default_model") == f"model-storm-{i}" else 1
                if action == "upsert":
                    store.close()
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        deadline = time.monotonic() + LIMIT
        status: Optional[int] = None
        while status is None:
            got, st = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                status = os.waitstatus_to_exitcode(st)
            elif time.monotonic() > deadline:
                hung.append(i)
                where[i] = where_is(pid)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = -9
            else:
                time.sleep(0.001)
        if status != 0 and i not in hung:
            failed.append(f"fork {i} ({actions[i % len(actions)]}): {common.describe_exit(status)}")
    n = t.halt()
    h = store.health()
    store.close()
    end(d, "app", {
        "ok": not hung and not failed and not t.errors,
        "forks": sizes["forks"], "hung": hung, "hung_in": where, "failed": failed[:5], "thread_writes": n, "errors": t.errors,
        "parent_reopened_after_fork": h["reopened_after_fork"],
    })


CASES = {
    "a": ("parent close()s while the child writes", case_a, ["app", "child"]),
    "b": ("parent os._exit, then an unrelated sqlite3 open/close, while the child writes", case_b, ["app", "child"]),
    "c": ("children of children, each ancestor closes and exits while descendants write", case_c, ["app", "c1", "c2", "c3"]),
    "d": ("many children at once, the parent closes while they write", case_d, None),
    "e": ("fork storm while a thread upserts in a loop", case_e, ["app"]),
}


# ---------------------------------------------------------------------- orchestrator ----


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap(statuses: Dict[int, int]) -> bool:
    """Reaps every exited descendant; False when none is left."""
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        statuses[pid] = os.waitstatus_to_exitcode(st)


def read_file(db: Path) -> Tuple[Dict[str, str], str]:
    code = (
        "import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); "
        "rows=dict(c.execute('SELECT id, default_model FROM llm_model_mappings')); "
        "qc=c.execute('PRAGMA quick_check').fetchone()[0]; c.close(); print(json.dumps([rows, qc]))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=LIMIT * 2)
    if out.returncode != 0:
        return {}, out.stderr.strip()[-200:]
    rows, qc = json.loads(out.stdout)
    return rows, qc


def run_case(sc: common.Scenario, name: str, sizes: Dict[str, int]) -> None:
    what, _, tags = CASES[name]
    if tags is None:
        tags = ["app"] + [f"k{i}" for i in range(sizes["children"])]
    d = sc.tmp / f"case-{name}"
    d.mkdir()
    db = d / "app.db"
    me = str(Path(__file__).resolve())
    env = common.python_env()
    # The app leads a process group of its own: every process of the case is in it.
    app = os.posix_spawn(sys.executable, [sys.executable, me, "--app", name, str(d), json.dumps(sizes)], env, setpgroup=0)
    statuses: Dict[int, int] = {}
    limit = LIMIT * 4 + (sizes["forks"] if name == "e" else 0)
    deadline = time.monotonic() + limit
    unrelated = None
    while reap(statuses) and time.monotonic() < deadline:
        if name == "b" and app in statuses and unrelated is None:
            # The parent is gone; an unrelated process opens and closes the file.
            code = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM llm_model_mappings').fetchone(); c.close()"
            unrelated = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=LIMIT).returncode
            touch(d / "unrelated-done")
        time.sleep(0.005)
    alive = reap(statuses)
    hung: List[str] = []
    if alive:
        # Every process still in the case's group is stuck: say where, then kill the group.
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == app and fields[0] != "Z":
                hung.append(f"{proc.name} ({where_is(int(proc.name))})")
        try:
            os.killpg(app, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while reap(statuses):
            time.sleep(0.01)
    ends = {tag: json.loads((d / f"end-{tag}.json").read_text()) for tag in tags if (d / f"end-{tag}.json").exists()}
    missing = [tag for tag in tags if tag not in ends]
    bad = {tag: e for tag, e in ends.items() if not e.get("ok")}
    for tag, e in bad.items():
        sc.say(f"case {name} {tag}: {json.dumps(e)[:400]}")
    acked: Dict[str, str] = {}
    for f in sorted(d.glob("acks-*.log")):
        for line in f.read_text().splitlines():
            mid, mdl = line.split("\t")
            acked[mid] = mdl
    rows, qc = read_file(db)
    lost = sorted(mid for mid, mdl in acked.items() if rows.get(mid) != mdl)
    processes = len(list(d.glob("acks-*.log")))
    extra = ""
    if name == "b":
        extra = f"; unrelated sqlite3 open/close {common.describe_exit(unrelated) if unrelated is not None else 'never ran'}"
    if name == "e" and "app" in ends:
        e = ends["app"]
        extra = f"; {e['forks']} forks, hung {len(e['hung'])}, failed {len(e['failed'])} {e['failed'][:2]}, parent thread wrote {e['thread_writes']}"
    sc.check(
        not alive and not missing and not bad and unrelated in (None, 0),
        f"case {name} ({what}): every process ended within the limit and reported ok; "
        f"still alive after {limit:g} s: {hung or 0}, no report: {missing or 0}, not ok: {sorted(bad) or 0}{extra}",
    )
    sc.check(
        acked and not lost and qc == "ok",
        f"case {name}: a fresh process finds all {len(acked)} acknowledged writes of {processes} processes "
        f"({len(rows)} rows); lost {len(lost)} {lost[:3]}; quick_check {qc!r}",
    )


def app_main(name: str, directory: str, sizes: str) -> None:
    _, fn, _ = CASES[name]
    fn(Path(directory), Path(directory) / "app.db", json.loads(sizes))


def main() -> None:
    sc = common.Scenario("FORKLOSS", __doc__.splitlines()[0])
    sc.parser.add_argument("--app", nargs=3, metavar=("CASE", "DIR", "SIZES"))
    sc.parser.add_argument("--cases", default="abcde")
    args = sc.parser.parse_args()
    if args.app:
        app_main(*args.app)
        return
    args = sc.parse()
    sizes = {"after": 20, "children": 8, "forks": 50} if not sc.full else {"after": 100, "children": 24, "forks": 200}
    if not become_subreaper():
        sc.skip("PR_SET_CHILD_SUBREAPER unavailable: orphaned processes cannot be waited for here")
        sc.finish("")
    sc.say(f"sizes {sizes}, load average {common.load_average()}")
    for name in args.cases:
        run_case(sc, name, sizes)
    sc.finish(f"{len(args.cases)} fork cases: no process hung, every acknowledged write reached the file")


if __name__ == "__main__":
    main()

"""Fork: a store opened in a parent that then forks, as ``gunicorn --preload`` does (behaviour B16).

The parent opens a ``Store`` and the drop-in ``ModelMappingService``, uses both, then forks
workers (2 quick, 4 full). Each child:
- makes its first call on the inherited objects (a resolve of the parent's mapping) and gets the
  parent's data; ``health()`` then shows ``reopened_after_fork >= 1`` (the library closes every
  store's connections before a fork and each side reopens them lazily) and ``ok``;
- writes its own mapping, and waits (polling, up to 60 s) until it sees the mapping the parent
  writes after the fork;
- leaves in one of three ways (plus one more child that never touches the store and exits
  normally): ``close()`` then ``os._exit``, ``os._exit`` without closing, or a
  normal interpreter exit (finalizers run and close the store) - none may disturb the parent's
  connection.
The parent keeps writing and reading meanwhile, sees every child's write, and after the children
are gone still writes, reads and passes ``quick_check``. Connections are counted, not calls: a
store has a read and a write connection, so a child reopens at most 2 whatever it does, and the
parent, whose connections every fork closes too, at most 2 per fork.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

WAIT = 60.0


def wait_for(fn, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.005)


def child(i: int, store: Any, service: Any, wfd: int, exit_style: str) -> None:
    findings: Dict[str, Any] = {"child": i, "pid": os.getpid(), "exit_style": exit_style}
    ok = True
    try:
        first = store.resolve_model_key("before-fork")
        findings["first_call"] = first.get("resolved_model")
        ok &= first.get("resolved_model") == "parent-model"
        h = store.health()
        findings["reopened_after_fork"] = h.get("reopened_after_fork")
        findings["health_ok"] = h.get("ok")
        ok &= h.get("reopened_after_fork") >= 1 and h.get("ok") is True
        via_service = asyncio.run(service.resolve_model_key("before-fork"))
        findings["service_first_call"] = via_service.get("resolved_model")
        ok &= via_service.get("resolved_model") == "parent-model"
        findings["service_reopened_after_fork"] = service.store.health().get("reopened_after_fork")
        ok &= findings["service_reopened_after_fork"] >= 1
        store.upsert({"id": f"mapping:child-{i}", "default_model": f"child-model-{i}"})
        asyncio.run(service.upsert_mapping({"id": f"mapping:child-svc-{i}", "default_model": f"child-svc-{i}"}))
        seen = wait_for(lambda: store.resolve_model_key("after-fork").get("resolved_model") == "parent-after")
        findings["saw_parent_write"] = bool(seen)
        ok &= bool(seen)
        findings["reopened_at_end"] = store.health().get("reopened_after_fork")
        ok &= 1 <= findings["reopened_at_end"] <= 2  # one per connection (read, write), not one per call
    except Exception as exc:  # noqa: BLE001
        findings["error"] = repr(exc)
        ok = False
    findings["ok"] = bool(ok)
    os.write(wfd, json.dumps(findings).encode())
    os.close(wfd)
    code = 0 if ok else 1
    if exit_style == "close+_exit":
        store.close()
        service.close()
        os._exit(code)
    if exit_style == "_exit":
        os._exit(code)
    sys.exit(code)  # normal exit: finalizers close the inherited stores in the child


def main() -> None:
    sc = common.Scenario("FORK", __doc__.splitlines()[0])
    sc.parse()
    from model_mapping import ModelMappingService, Store

    n = 4 if sc.full else 2
    db = sc.tmp / "app.db"
    storage = sc.tmp / "storage"
    store = Store(db)
    service = ModelMappingService(common.NoPrompts(), str(db), storage)
    store.upsert({"id": "mapping:before-fork", "default_model": "parent-model"})
    sc.check(
        asyncio.run(service.resolve_model_key("before-fork")).get("resolved_model") == "parent-model"
        and store.resolve_model_key("before-fork").get("resolved_model") == "parent-model",
        "parent: Store and ModelMappingService open and serving before the fork",
    )
    styles = ["close+_exit", "_exit", "normal exit", "close+_exit"]
    children: List[Any] = []
    for i in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child(i, store, service, w, styles[i % len(styles)])
        os.close(w)
        children.append((i, pid, r))
    # One more child that never touches the store and exits normally: its finalizers run on the
    # inherited handles it never reopened (a worker that dies before its first request).
    untouched = os.fork()
    if untouched == 0:
        sys.exit(0)
    sc.say(f"forked {n} children: " + ", ".join(f"{i}: pid {pid} ({styles[i % len(styles)]})" for i, pid, _ in children))
    # The parent keeps working while the children run.
    store.upsert({"id": "mapping:after-fork", "default_model": "parent-after"})
    for i, _, _ in children:
        seen = wait_for(lambda i=i: store.resolve_model_key(f"child-{i}").get("resolved_model") == f"child-model-{i}")
        sc.check(bool(seen), f"parent: sees child {i}'s write")
    _, status = os.waitpid(untouched, 0)
    sc.check(
        os.waitstatus_to_exitcode(status) == 0,
        f"a child that never used the store exits normally (finalizers close the inherited handles): {common.describe_exit(os.waitstatus_to_exitcode(status))}",
    )
    for i, pid, r in children:
        _, status = os.waitpid(pid, 0)
        raw = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            raw += chunk
        os.close(r)
        code = os.waitstatus_to_exitcode(status)
        findings = json.loads(raw) if raw else {}
        sc.say(f"child {i}: {json.dumps(findings)}")
        sc.check(
            code == 0 and findings.get("ok") is True,
            f"child {i} ({findings.get('exit_style')}): first call {findings.get('first_call')!r} on its own connection "
            f"(reopened_after_fork {findings.get('reopened_after_fork')}, at the end {findings.get('reopened_at_end')}), drop-in service too, wrote, saw the parent's write; {common.describe_exit(code)}",
        )
    # After every child is gone (some closed their copies, one ran finalizers) the parent goes on.
    store.upsert({"id": "mapping:after-children", "default_model": "parent-last"})
    asyncio.run(service.upsert_mapping({"id": "mapping:after-children-svc", "default_model": "parent-svc"}))
    seen_all = [store.resolve_model_key(f"child-svc-{i}").get("resolved_model") for i in range(n)]
    h = store.health()
    qc = store.quick_check()
    sc.check(
        store.resolve_model_key("after-children").get("resolved_model") == "parent-last"
        and seen_all == [f"child-svc-{i}" for i in range(n)],
        f"parent: keeps writing and reading after the children exit; sees the service writes of all {n} children",
    )
    sc.check(
        1 <= h.get("reopened_after_fork") <= 2 * (n + 1) and h.get("ok") is True and qc == ["ok"],
        f"parent: its connections, closed before each of the {n + 1} forks, reopened lazily (reopened_after_fork "
        f"{h.get('reopened_after_fork')}, at most 2 per fork), health ok {h.get('ok')}, quick_check {qc}",
    )
    listed = {m["id"] for m in store.list_mappings()}
    store.close()
    service.close()
    # A fresh process sees everything both sides wrote.
    with Store(db) as fresh:
        fresh_ids = {m["id"] for m in fresh.list_mappings()}
    want = {"mapping:before-fork", "mapping:after-fork", "mapping:after-children", "mapping:after-children-svc"} | {
        f"mapping:child-{i}" for i in range(n)
    } | {f"mapping:child-svc-{i}" for i in range(n)}
    sc.check(want <= fresh_ids and want <= listed, f"a fresh store sees all {len(want)} writes of the parent and the {n} children")
    sc.finish(f"{n} forked children reopened their connections once each and wrote; parent and children saw each other's writes; parent reopened lazily")


if __name__ == "__main__":
    main()

"""R7 triggers and change log under abuse: plain-SQL writers in several processes, stores reading
in others, and a host that drops and re-creates the table, drops the feed's triggers, deletes
change-log rows and floods the log past retention; the stores never serve a state no commit
produced, and ``health()`` says what happened (target R7, B11, B12, B13; issue 14).

Processes: SQL writers (2 quick, 4 full) write ``llm_model_mappings`` with Python's ``sqlite3``,
one commit per statement or a few statements per transaction, of every shape: ``INSERT``,
``INSERT OR REPLACE``, ``INSERT ... ON CONFLICT(id) DO UPDATE``, ``UPDATE [OR REPLACE]`` that
changes id and scope columns, ``UPDATE`` of fields, ``DELETE``; scope types spelled ``Tenant``,
`` mapping``, ``TENANT ``, ``global``..., ids that disagree with the scope columns, junk in
``candidates_json``/``metadata_json``/``is_active``. A library writer process upserts, deletes and
imports through a ``Store``. Reader processes (2 quick, 3 full) hold ``Store``s and list and
resolve all the time. Every row written carries a token (``name`` = writer:seq,
``default_model`` = ``m-`` + token); writers log (reading id, token) of each row they write.

Rounds, one per abuse (cycled; 7 quick, 21 full):
1. traffic: all writers and readers run; midway the host (this script's own ``sqlite3``
   connection) commits the round's abuse: nothing; drop the ``mm_feed_*`` triggers; rebuild the
   table (create new, copy, drop, rename: no triggers left); drop and re-create it empty; rename it
   away and create a new one with its rows (the triggers go along with the old one); delete
   the newest change-log rows; flood (one transaction of > 512 changes). During traffic every
   mapping a reader lists must carry a token written for that id, with the default model of the
   same write (no torn or invented rows).
2. quiescent checkpoint: writers paused; each reader's ``list_mappings()`` must equal the
   reference computed from the table by ``b11.reference`` (every B3 field but ``source``).
3. the abuse again, with nothing else running, then one plain-SQL write: each reader equals the
   reference, counts one more full reload (one more incremental refresh when there was no
   abuse), and reports ``triggers: false`` when they were dropped. Where triggers were dropped,
   a library write (even rounds) or a store being opened (odd rounds) re-creates them: all 8 are
   in ``sqlite_master`` again, readers report ``triggers: true``, equal the reference.
At the end: the log flooded past retention (10,500 changes, their time set 100 days back) is
pruned to the retention bound by the library's next writes, readers reload fully and equal the
reference; every (id, token) any reader saw was written; ``quick_check`` ok.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import b11  # noqa: E402
import common  # noqa: E402

LIMIT = 120.0
KEYS = ["a", "b", "c", "d", "e", "f", "g", "h"]
TYPES = ["mapping", "Mapping", " mapping", "tenant", "Tenant", "TENANT ", "global", "user", "bad type"]
CANDS = ['["x", " y "]', "[1, true, null]", "not json", None, '{"a": 1}']
METAS = ['{"k": 1}', "[1]", "junk", None, '{"endpoint_id": "7"}']
ACTIVE = [1, 1, 1, 0, None, "false"]
TRIGGER_COUNT = 8
ABUSES = ["none", "drop_triggers", "rebuild_table", "recreate_empty", "rename_away", "delete_log", "flood"]


def reading_id(ty: Any, key: Any) -> Optional[str]:
    t, k = b11.scope_type(ty), b11.scope_key(key)
    return None if t is None or k is None else f"{t}:{k}"


# ------------------------------------------------------------------------ SQL writers ----


def sql_writer_main(db: str, idx: int, seed: int, log: str) -> None:
    rng = random.Random(seed * 31 + idx)
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    out = open(log, "a")
    seq = 0
    counts: Counter = Counter()

    def token() -> Tuple[str, str]:
        nonlocal seq
        seq += 1
        t = f"s{idx}:{seq}"
        return t, f"m-{t}"

    def values() -> Tuple[Any, ...]:
        t, m = token()
        ty, key = rng.choice(TYPES), rng.choice(KEYS)
        if rng.random() < 0.2:
            key = f" {key}"
        id_ty = rng.choice(["mapping", "tenant", ty.strip().lower()])
        id_key = key.strip() if rng.random() < 0.6 else rng.choice(KEYS)
        at = rng.choice(["2026-01-01T00:00:00+00:00", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00+00:00", None])
        return (f"{id_ty}:{id_key}", ty, key, t, m, rng.choice(CANDS), rng.choice(ACTIVE), at, rng.choice(METAS))

    def one(pending: List[Tuple[str, str]]) -> None:
        kind = rng.randrange(7)
        v = values()
        rid = reading_id(v[1], v[2])
        cols = "(id, scope_type, scope_key, name, default_model, candidates_json, is_active, updated_at, metadata_json)"
        if kind == 0:
            conn.execute(f"INSERT INTO llm_model_mappings {cols} VALUES (?,?,?,?,?,?,?,?,?)", v)
        elif kind == 1:
            conn.execute(f"INSERT OR REPLACE INTO llm_model_mappings {cols} VALUES (?,?,?,?,?,?,?,?,?)", v)
        elif kind == 2:
            conn.execute(
                f"INSERT INTO llm_model_mappings {cols} VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "scope_type=excluded.scope_type, scope_key=excluded.scope_key, name=excluded.name, "
                "default_model=excluded.default_model, candidates_json=excluded.candidates_json, "
                "is_active=excluded.is_active, updated_at=excluded.updated_at, metadata_json=excluded.metadata_json",
                v,
            )
        elif kind == 3:
            verb = rng.choice(["UPDATE", "UPDATE OR REPLACE"])
            conn.execute(
                f"{verb} llm_model_mappings SET id=?, scope_type=?, scope_key=?, name=?, default_model=? "
                "WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1)",
                v[:5],
            )
        elif kind == 4:
            # fields only: the row keeps its scope, read back from the update itself (another
            # writer may change the row between a SELECT and the UPDATE)
            row = conn.execute(
                "UPDATE llm_model_mappings SET name=?, default_model=?, is_active=?, candidates_json=? "
                "WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1) "
                "RETURNING scope_type, scope_key",
                (v[3], v[4], v[6], v[5]),
            ).fetchone()
            rid = None if row is None else reading_id(row[0], row[1])
        elif kind == 5:
            conn.execute("DELETE FROM llm_model_mappings WHERE id = ?", (v[0],))
            rid = None
        else:
            conn.execute("DELETE FROM llm_model_mappings WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1)")
            rid = None
        counts[kind] += 1
        if rid is not None:
            pending.append((rid, v[3]))

    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            break
        deadline = time.monotonic() + float(cmd[1])
        errors = 0
        while time.monotonic() < deadline:
            pending: List[Tuple[str, str]] = []
            try:
                if rng.random() < 0.2:
                    conn.execute("BEGIN IMMEDIATE")
                    for _ in range(2 + rng.randrange(3)):
                        one(pending)
                    conn.execute("COMMIT")
                else:
                    one(pending)
            except sqlite3.IntegrityError:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                pending = []
            except sqlite3.OperationalError:
                errors += 1
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                pending = []
            # Logged whether or not it committed last (an intent): a reader may see it.
            for rid, t in pending:
                out.write(f"{rid}\t{t}\n")
            out.flush()
            time.sleep(0.001)
        print(json.dumps({"paused": True, "statements": sum(counts.values()), "errors": errors}), flush=True)
    out.close()


# -------------------------------------------------------------------- library writer ----


def lib_writer_main(db: str, seed: int, log: str) -> None:
    from model_mapping import Store

    rng = random.Random(seed * 17)
    store = Store(db, busy_timeout_ms=30_000)
    out = open(log, "a")
    seq = 0
    errors: List[str] = []
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            break
        if cmd[0] == "write":  # one upsert
            seq += 1
            t = f"L:{seq}"
            out.write(f"mapping:lib-once\t{t}\n")
            out.flush()
            store.upsert({"id": "mapping:lib-once", "name": t, "default_model": f"m-{t}"})
            print(json.dumps({"done": True}), flush=True)
            continue
        if cmd[0] == "many":  # n upserts in one import (crosses the prune boundary)
            n = int(cmd[1])
            items = []
            for i in range(n):
                seq += 1
                t = f"L:{seq}"
                items.append({"id": f"mapping:lib-bulk-{i}", "name": t, "default_model": f"m-{t}"})
                out.write(f"mapping:lib-bulk-{i}\t{t}\n")
            out.flush()
            rep = store.import_items(items)
            print(json.dumps({"done": True, "imported": rep["imported_count"]}), flush=True)
            continue
        deadline = time.monotonic() + float(cmd[1])
        while time.monotonic() < deadline:
            seq += 1
            t = f"L:{seq}"
            key = rng.choice(KEYS)
            mid = f"{rng.choice(['mapping', 'tenant', 'global'])}:{key}"
            rid = reading_id(mid.split(':')[0], key)
            try:
                roll = rng.random()
                if roll < 0.6:
                    out.write(f"{rid}\t{t}\n")
                    out.flush()
                    store.upsert({"id": mid, "name": t, "default_model": f"m-{t}"})
                elif roll < 0.8:
                    store.delete(mid)
                else:
                    items = []
                    for i in range(2 + rng.randrange(3)):
                        seq += 1
                        tt = f"L:{seq}"
                        k = rng.choice(KEYS)
                        items.append({"id": f"mapping:{k}", "name": tt, "default_model": f"m-{tt}"})
                        out.write(f"mapping:{k}\t{tt}\n")
                    out.flush()
                    store.import_items(items)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
            time.sleep(0.002)
        print(json.dumps({"paused": True, "errors": errors[:3], "error_count": len(errors)}), flush=True)
    store.close()
    out.close()


# --------------------------------------------------------------------------- readers ----


def reader_main(db: str, idx: int) -> None:
    from model_mapping import Store

    store = Store(db)
    host = sqlite3.connect(db, timeout=30, isolation_level=None)
    seen: Set[Tuple[str, str]] = set()
    torn: List[str] = []
    reads = 0
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            break
        if cmd[0] == "spin":
            deadline = time.monotonic() + float(cmd[1])
            errors = []
            while time.monotonic() < deadline:
                try:
                    listed = store.list_mappings()
                    store.resolve_model_key(random.choice(KEYS))
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
                    continue
                reads += 2
                for m in listed:
                    name = m.get("name")
                    if isinstance(name, str) and (name.startswith("s") or name.startswith("L:")):
                        seen.add((m["id"], name))
                        if m.get("default_model") not in (None, f"m-{name}"):
                            torn.append(f"{m['id']}: name {name} with default {m.get('default_model')}")
            print(json.dumps({"reads": reads, "errors": errors[:3], "error_count": len(errors), "torn": torn[:3]}), flush=True)
            continue
        if cmd[0] == "check":
            got = b11.view(store.list_mappings())
            want = b11.reference(host)
            h = store.health()
            print(json.dumps({
                "equal": got == want, "diff": b11.diff(want, got), "mappings": len(got),
                "full": h["full_reloads"], "incremental": h["incremental_refreshes"],
                "triggers": h["triggers"], "ok": h["ok"], "last_error": h["last_error"],
            }), flush=True)
            continue
        if cmd[0] == "seen":
            Path(cmd[1]).write_text(json.dumps(sorted(seen)))
            print(json.dumps({"seen": len(seen), "torn": torn[:3], "torn_count": len(torn), "reads": reads}), flush=True)
    store.close()
    host.close()


# ---------------------------------------------------------------------- orchestrator ----


class Proc:
    def __init__(self, name: str, cmd: List[str]) -> None:
        self.name = name
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=common.python_env())
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{name} failed to start: {line!r}")

    def send(self, text: str) -> None:
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def reply(self) -> Dict[str, Any]:
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} ended: {common.describe_exit(self.p.wait())}")
        return json.loads(line)


def triggers_in(host: sqlite3.Connection, table_only: bool = False) -> int:
    """The feed's triggers in place on the tables they belong on (those on ``llm_model_mappings``
    only, with ``table_only``): a renamed table takes its triggers along."""
    tables = ("llm_model_mappings",) if table_only else ("llm_model_mappings", "mm_blocked_models")
    marks = ",".join("?" * len(tables))
    return host.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type='trigger' AND name LIKE 'mm_feed_%' AND tbl_name IN ({marks})",
        tables).fetchone()[0]


def abuse(host: sqlite3.Connection, kind: str) -> str:
    """Commits one abuse of the host's; returns what it did."""
    if kind == "none":
        return "nothing"
    host.execute("BEGIN IMMEDIATE")
    try:
        if kind == "drop_triggers":
            names = [r[0] for r in host.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'mm_feed_%'")]
            for n in names:
                host.execute(f"DROP TRIGGER {n}")
            what = f"dropped {len(names)} triggers"
        elif kind == "rename_away":
            # The table renamed away (it keeps the feed's triggers: SQLite moves them along) and a
            # new one created under the name with the same rows; the old one stays.
            host.execute("DROP TABLE IF EXISTS llm_model_mappings_old")
            table_sql = host.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='llm_model_mappings'").fetchone()[0]
            indexes = host.execute(
                "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='llm_model_mappings' AND sql IS NOT NULL").fetchall()
            host.execute("ALTER TABLE llm_model_mappings RENAME TO llm_model_mappings_old")
            for name, sql in indexes:  # the indexes went along too: free their names
                host.execute(f'DROP INDEX "{name}"')
            host.execute(table_sql)
            for name, sql in indexes:
                host.execute(sql)
            host.execute("INSERT INTO llm_model_mappings SELECT * FROM llm_model_mappings_old")
            what = "renamed the table away (its triggers went along) and created a new one with its rows"
        elif kind in ("rebuild_table", "recreate_empty"):
            table_sql = host.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='llm_model_mappings'").fetchone()[0]
            index_sql = [r[0] for r in host.execute(
                "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='llm_model_mappings' AND sql IS NOT NULL")]
            if kind == "rebuild_table":
                host.execute(table_sql.replace("llm_model_mappings", "llm_model_mappings_new", 1))
                host.execute("INSERT INTO llm_model_mappings_new SELECT * FROM llm_model_mappings")
                host.execute("DROP TABLE llm_model_mappings")
                host.execute("ALTER TABLE llm_model_mappings_new RENAME TO llm_model_mappings")
                what = "rebuilt the table (new, copy, drop, rename)"
            else:
                host.execute("DROP TABLE llm_model_mappings")
                host.execute(table_sql)
                what = "dropped and re-created the table empty"
            for s in index_sql:
                host.execute(s)
        elif kind == "delete_log":
            n = host.execute("DELETE FROM mm_changes WHERE seq > (SELECT max(seq) - 3 FROM mm_changes)").rowcount
            what = f"deleted the newest {n} change-log rows"
        elif kind == "flood":
            rows = host.execute("SELECT count(*) FROM llm_model_mappings").fetchone()[0]
            times = 600 // max(rows, 1) + 1
            for _ in range(times):
                host.execute("UPDATE llm_model_mappings SET name = name")
            what = f"flooded the log: {times} x {rows} row updates in one transaction"
        else:
            raise ValueError(kind)
        host.execute("COMMIT")
    except BaseException:
        host.execute("ROLLBACK")
        raise
    return what


def main() -> None:
    sc = common.Scenario("R7", __doc__.splitlines()[0])
    sc.parser.add_argument("--sql-writer", nargs=4, metavar=("DB", "IDX", "SEED", "LOG"))
    sc.parser.add_argument("--lib-writer", nargs=3, metavar=("DB", "SEED", "LOG"))
    sc.parser.add_argument("--reader", nargs=2, metavar=("DB", "IDX"))
    sc.parser.add_argument("--seed", type=int, default=None)
    args = sc.parser.parse_args()
    if args.sql_writer:
        db, idx, seed, log = args.sql_writer
        sql_writer_main(db, int(idx), int(seed), log)
        return
    if args.lib_writer:
        db, seed, log = args.lib_writer
        lib_writer_main(db, int(seed), log)
        return
    if args.reader:
        reader_main(args.reader[0], int(args.reader[1]))
        return
    args = sc.parse()
    seed = args.seed if args.seed is not None else int(time.time())
    from model_mapping import Store

    n_writers, n_readers = (4, 3) if sc.full else (2, 2)
    rounds = 21 if sc.full else 7
    traffic = 3.0 if sc.full else 0.4
    db = sc.tmp / "app.db"
    Store(db).close()
    host = sqlite3.connect(db, timeout=60, isolation_level=None)
    sc.say(f"{n_writers} SQL writers, 1 library writer, {n_readers} readers, {rounds} rounds of {traffic:g} s traffic, seed {seed}")
    me = str(Path(__file__).resolve())
    py = sys.executable
    writers = [Proc(f"sql writer {i}", [py, me, "--sql-writer", str(db), str(i), str(seed), str(sc.tmp / f"intents-s{i}.log")]) for i in range(n_writers)]
    lib = Proc("library writer", [py, me, "--lib-writer", str(db), str(seed), str(sc.tmp / "intents-lib.log")])
    readers = [Proc(f"reader {i}", [py, me, "--reader", str(db), str(i)]) for i in range(n_readers)]
    statements = 0
    reads = 0
    traffic_errors: List[str] = []
    checkpoint_bad: List[str] = []
    health_bad: List[str] = []
    checks = 0

    def check_all(label: str) -> List[Dict[str, Any]]:
        nonlocal checks
        out = []
        for r in readers:
            r.send("check")
        for r in readers:
            c = r.reply()
            checks += 1
            if not c["equal"] or not c["ok"]:
                checkpoint_bad.append(f"{label}, {r.name}: " + " | ".join(c["diff"]) + (f" health error {c['last_error']}" if not c["ok"] else ""))
            out.append(c)
        return out

    before = check_all("start")
    for rnd in range(rounds):
        kind = ABUSES[rnd % len(ABUSES)]
        # 1. traffic, with the abuse committed midway
        for w in writers + [lib]:
            w.send(f"run {traffic}")
        for r in readers:
            r.send(f"spin {traffic}")
        time.sleep(traffic / 2)
        did = abuse(host, kind)
        for w in writers:
            rep = w.reply()
            statements += rep["statements"]
            if rep["errors"]:
                traffic_errors.append(f"{w.name}: {rep['errors']} statements failed (OperationalError)")
        rep = lib.reply()
        if rep.get("error_count"):
            traffic_errors.append(f"library writer: {rep['errors']}")
        for r in readers:
            rep = r.reply()
            if rep["error_count"] or rep["torn"]:
                traffic_errors.append(f"{r.name}: errors {rep['errors']}, torn {rep['torn']}")
        # 2. quiescent checkpoint
        mid = check_all(f"round {rnd} ({kind} during traffic)")
        # 3. the abuse alone, then one plain-SQL write. Deleted log rows matter only after a
        # reader's position: a write, its log row deleted, then the probe write (a gap).
        if kind == "delete_log":
            host.execute("UPDATE llm_model_mappings SET name = name WHERE rowid = (SELECT min(rowid) FROM llm_model_mappings)")
        did = abuse(host, kind)
        host.execute(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key, name, default_model) VALUES (?,?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET name=excluded.name, default_model=excluded.default_model",
            ("mapping:probe", "mapping", "probe", f"h:{rnd}", f"m-h:{rnd}"),
        )
        after = check_all(f"round {rnd} ({did}, then one SQL write)")
        dropped = kind in ("drop_triggers", "rebuild_table", "recreate_empty", "rename_away")
        for r, m, a in zip(readers, mid, after):
            if kind == "none":
                good = a["incremental"] > m["incremental"] and a["full"] == m["full"] and a["triggers"]
                want = "one more incremental refresh, no full reload, triggers true"
            else:
                good = a["full"] > m["full"] and a["triggers"] == (not dropped)
                want = f"one more full reload, triggers {str(not dropped).lower()}"
            if not good:
                health_bad.append(f"round {rnd} {kind}, {r.name}: want {want}; full {m['full']}->{a['full']}, incremental {m['incremental']}->{a['incremental']}, triggers {a['triggers']}")
        # 4. triggers back after a library write or an open
        if dropped:
            if triggers_in(host, table_only=True) != 0:
                health_bad.append(f"round {rnd} {kind}: {triggers_in(host, table_only=True)} triggers on the table left after the abuse")
            if rnd % 2 == 0:
                lib.send("write")
                lib.reply()
                how = "a library write"
            else:
                Store(db).close()
                how = "a store opened"
            n = triggers_in(host)
            back = check_all(f"round {rnd} (triggers re-created by {how})")
            for r, a0, b in zip(readers, after, back):
                if not (b["triggers"] and b["full"] > a0["full"]):
                    health_bad.append(f"round {rnd} {kind}, {r.name}: after {how}, triggers {b['triggers']}, full {a0['full']}->{b['full']}")
            if n != TRIGGER_COUNT:
                health_bad.append(f"round {rnd}: {how} left {n} of {TRIGGER_COUNT} triggers")
            sc.say(f"round {rnd}: {did}; readers equal the table, full reload counted, triggers false; {how} re-created {n} triggers")
        else:
            sc.say(f"round {rnd}: {did}; readers equal the table, refresh counted as expected")

    # ---- the log flooded past retention and pruned by the library's own writes
    base = check_all("before a flood past retention")
    lagging = Store(db)  # looks now, then not again until after the prune
    lagging.list_mappings()
    lag_full = lagging.health()["full_reloads"]
    host.execute("BEGIN IMMEDIATE")
    rows = max(host.execute("SELECT count(*) FROM llm_model_mappings").fetchone()[0], 1)
    for _ in range(10_500 // rows + 1):
        host.execute("UPDATE llm_model_mappings SET name = name")
    host.execute("UPDATE mm_changes SET at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-100 days')")
    host.execute("COMMIT")
    log_before = host.execute("SELECT count(*) FROM mm_changes").fetchone()[0]
    pre = check_all("after a flood past retention")
    lib.send("many 300")
    lib.reply()
    log_after = host.execute("SELECT count(*) FROM mm_changes").fetchone()[0]
    post = check_all("after the library's writes pruned the log")
    lag_ok = b11.view(lagging.list_mappings()) == b11.reference(host)
    lag_h = lagging.health()
    lagging.close()
    sc.check(
        log_before > 10_000 and log_after <= 10_000 + 300 and all(a["full"] > b["full"] for a, b in zip(pre, base))
        and lag_ok and lag_h["full_reloads"] > lag_full and lag_h["ok"],
        f"log flooded past retention ({log_before} rows, 100 days old), pruned by the library's next write to {log_after} "
        f"(bound 10,000 kept + that write's 300); readers reloaded fully after the flood and equal the table after the prune; "
        f"a store last refreshed before the flood and the prune equals the table after a full reload ({lag_full} -> {lag_h['full_reloads']})",
    )

    # ---- end: every token seen was written
    intents: Set[Tuple[str, str]] = set()
    for f in sc.tmp.glob("intents-*.log"):
        for line in f.read_text().splitlines():
            rid, t = line.split("\t")
            intents.add((rid, t))
    # the orchestrator's own probe rows
    intents |= {("mapping:probe", f"h:{i}") for i in range(rounds)}
    seen: Set[Tuple[str, str]] = set()
    torn_total = 0
    for r in readers:
        path = sc.tmp / f"seen-{r.name.replace(' ', '-')}.json"
        r.send(f"seen {path}")
        rep = r.reply()
        reads += rep["reads"]
        torn_total += rep["torn_count"]
        seen |= {tuple(x) for x in json.loads(path.read_text())}
    invented = sorted(seen - intents)
    for p in writers + [lib] + readers:
        p.send("quit")
    for p in writers + [lib] + readers:
        try:
            p.p.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            p.p.kill()
            traffic_errors.append(f"{p.name} did not quit")
    qc = host.execute("PRAGMA quick_check").fetchone()[0]
    host.close()
    sc.check(not traffic_errors, f"traffic: {statements} SQL statements by {n_writers} writers, library writes, {reads} reads; errors or torn rows: {traffic_errors[:3] or 0}")
    sc.check(not checkpoint_bad, f"quiescent checkpoints: {checks} comparisons of a reader's list with the B11 reading of the table, differing: {len(checkpoint_bad)} {checkpoint_bad[:2]}")
    sc.check(not health_bad, f"health after each abuse (full reloads, triggers missing and re-created): wrong {len(health_bad)} {health_bad[:3]}")
    sc.check(not invented and torn_total == 0, f"{len(seen)} (id, token) pairs seen by readers during traffic, all written; invented {len(invented)} {invented[:3]}; torn {torn_total}")
    sc.check(qc == "ok", f"PRAGMA quick_check: {qc}")
    sc.finish(f"{rounds} rounds of abuse under traffic: {statements} SQL statements, {checks} checkpoint comparisons, stores always equal to the table")


if __name__ == "__main__":
    main()

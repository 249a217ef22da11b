"""R4 bad database files: garbage, truncated, a corrupted page, empty, a directory, no read
permission, a read-only directory; and a serving store whose file is corrupted under it
(target R4, B13).

Each bad file is opened twice by a child process (a crash is a finding). Pass criteria:
- each kind of bad file gets its own stable error code (printed per case; a truncated file and
  a corrupted page are the same kind, a damaged SQLite file);
- no crash;
- the file is never deleted, renamed or rewritten (sha256, inode, mtime, size and mode before
  and after) and nothing is left beside it;
- a store that was already serving keeps serving its last good snapshot when its file is
  corrupted under it after another connection changed a mapping (so the next read must read
  the table: a commit to another table alone costs no read, behaviour B13): reads answer from the
  snapshot, ``health()`` reports ``database_corrupt`` and since when, writes fail with that
  error; once the file is repaired, the next read refreshes and ``health()`` is ok again.

CI runs as root, which ignores file permissions: the two permission cases then run their child
as the unprivileged user ``nobody`` (``setpriv``), with a copy of the installed package and a
Python that user can run; when that is impossible they print SKIPPED, never a pass.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NOBODY = 65534


def open_child(path: str) -> None:
    from model_mapping import ModelMappingError, Store

    results = []
    for _ in range(2):  # twice: a failed open leaves nothing that changes the next attempt
        try:
            store = Store(path)
        except ModelMappingError as exc:
            results.append({"code": exc.code, "detail": exc.detail})
            continue
        try:
            qc = store.quick_check()
        except ModelMappingError as exc:
            qc = f"{exc.code}: {exc.detail}"
        results.append({"code": None, "opened": True, "quick_check": qc, "health_ok": store.health().get("ok")})
        store.close()
    print(json.dumps(results), flush=True)


# ------------------------------------------------------------------- building files ----


def real_db(path: Path, rows: int) -> None:
    """A database the library created, with rows, checkpointed into the main file, closed."""
    from model_mapping import Store

    with Store(path) as store:
        store.import_items(
            [
                {"id": f"mapping:key-{i}", "default_model": f"model-{i}", "candidates": [f"fb-{i}"],
                 "metadata": {"note": "n" * 150, "i": i}}
                for i in range(rows)
            ]
        )
        store.update_blocked([{"model": "fb-1"}])
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def root_page(path: Path, table: str = "llm_model_mappings") -> Tuple[int, int]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        con.close()
    return root, page_size


def corrupt_page(path: Path, page: int, page_size: int, length: int = 64) -> bytes:
    """Overwrites the start of a b-tree page (its header and cell pointers); returns the old bytes."""
    offset = (page - 1) * page_size + (100 if page == 1 else 0)
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(length)
        f.seek(offset)
        f.write(bytes([0xA5]) * length)
    return old


def restore_page(path: Path, page: int, page_size: int, old: bytes) -> None:
    offset = (page - 1) * page_size + (100 if page == 1 else 0)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(old)


# ---------------------------------------------------------------- unprivileged child ----


class Unprivileged:
    """How to run the child as a user file permissions apply to."""

    def __init__(self, sc: common.Scenario) -> None:
        self.sc = sc
        self.prefix: Optional[List[str]] = None
        self.script = str(Path(__file__).resolve())
        self.python: Optional[str] = None
        self.env: Dict[str, str] = {}
        self.why = ""
        if os.geteuid() != 0:
            self.prefix, self.python, self.env = [], sys.executable, common.python_env()
            self.who = f"uid {os.geteuid()} (not root: permissions apply)"
            return
        setpriv = shutil.which("setpriv")
        if not setpriv:
            self.why = "running as root, permissions not enforced, and no setpriv to drop privileges"
            return
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
        import model_mapping

        pylib = sc.tmp / "pylib"
        shutil.copytree(Path(model_mapping.__file__).parent, pylib / "model_mapping")
        # The checkout may sit where that user cannot read (/root/...): run copies of the scripts.
        for name in ("r4_bad_db.py", "common.py"):
            shutil.copy(common.HERE / name, pylib / name)
        self.script = str(pylib / "r4_bad_db.py")
        for p in [pylib, *pylib.rglob("*")]:
            p.chmod(0o755 if p.is_dir() or p.suffix == ".so" else 0o644)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pylib), "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"}
        for candidate in [sys.executable, os.path.realpath(sys.executable), shutil.which("python3"), "/usr/bin/python3"]:
            if not candidate:
                continue
            probe = subprocess.run(
                prefix + [candidate, self.script, "--open-child", str(sc.tmp / "no-such-dir" / "probe.db")],
                capture_output=True, text=True, env=env, timeout=60,
            )
            if probe.returncode == 0 and common.last_json_line(probe.stdout):
                self.prefix, self.python, self.env = prefix, candidate, env
                self.who = f"uid {NOBODY} (nobody) via setpriv, {candidate}"
                return
        self.why = "running as root, permissions not enforced, and no Python the user nobody can run the binding with"

    @property
    def available(self) -> bool:
        return self.python is not None


# ------------------------------------------------------------------------------ main ----


def run_child(path: Path, unpriv: Optional[Unprivileged] = None) -> Tuple[int, Optional[List[Dict[str, Any]]], str]:
    script = str(Path(__file__).resolve())
    if unpriv is not None:
        cmd = unpriv.prefix + [unpriv.python, unpriv.script, "--open-child", str(path)]
        env = unpriv.env
    else:
        cmd = [sys.executable, script, "--open-child", str(path)]
        env = common.python_env()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    return p.returncode, common.last_json_line(p.stdout), p.stderr


def main() -> None:
    sc = common.Scenario("R4", __doc__.splitlines()[0])
    sc.parser.add_argument("--open-child", metavar="PATH")
    args = sc.parser.parse_args()
    if args.open_child:
        open_child(args.open_child)
        return
    sc.parse()
    rows = 3000 if sc.full else 1000
    template = sc.tmp / "template.db"
    real_db(template, rows)
    root, page_size = root_page(template)
    pages = template.stat().st_size // page_size
    sc.say(f"a real database: {rows} mappings, {pages} pages of {page_size} bytes, llm_model_mappings root page {root}")
    unpriv = Unprivileged(sc)
    if unpriv.available:
        sc.say(f"permission cases run as {unpriv.who}")

    def case_dir(name: str) -> Path:
        d = sc.tmp / name
        d.mkdir()
        d.chmod(0o755)
        return d

    cases: List[Tuple[str, str, Path, bool]] = []  # (name, kind, path, unprivileged)

    d = case_dir("garbage")
    (d / "app.db").write_bytes(random.Random(4).randbytes(64 * 1024))
    cases.append(("garbage", "not SQLite", d / "app.db", False))

    d = case_dir("truncated")
    shutil.copy(template, d / "app.db")
    with open(d / "app.db", "r+b") as f:
        f.truncate(template.stat().st_size // 2)
    cases.append(("truncated", "damaged SQLite", d / "app.db", False))

    d = case_dir("corrupt-root-page")
    shutil.copy(template, d / "app.db")
    corrupt_page(d / "app.db", root, page_size)
    cases.append(("corrupt-root-page", "damaged SQLite", d / "app.db", False))

    d = case_dir("corrupt-middle-page")
    shutil.copy(template, d / "app.db")
    corrupt_page(d / "app.db", pages // 2, page_size)
    cases.append(("corrupt-middle-page", "damaged SQLite", d / "app.db", False))

    d = case_dir("empty")
    (d / "app.db").write_bytes(b"")
    cases.append(("empty", "empty", d / "app.db", False))

    d = case_dir("directory")
    (d / "app.db").mkdir()
    (d / "app.db" / "keep").write_text("keep me")
    cases.append(("directory", "a directory", d / "app.db", False))

    d = case_dir("unreadable")
    shutil.copy(template, d / "app.db")
    (d / "app.db").chmod(0o000)
    cases.append(("unreadable", "no read permission", d / "app.db", True))

    d = case_dir("readonly-dir")
    shutil.copy(template, d / "app.db")
    if os.geteuid() == 0:
        os.chown(d / "app.db", NOBODY, NOBODY)  # the file is the user's and writable; the directory is not
    (d / "app.db").chmod(0o600)
    d.chmod(0o555)
    cases.append(("readonly-dir", "read-only directory", d / "app.db", True))

    codes: Dict[str, Dict[str, Optional[str]]] = {}
    for name, kind, path, needs_unpriv in cases:
        if needs_unpriv and not unpriv.available:
            sc.skip(f"{name}: {unpriv.why}")
            continue
        before = common.fingerprint(path)
        listing_before = common.listing(path.parent)
        rc, results, err = run_child(path, unpriv if needs_unpriv else None)
        after = common.fingerprint(path) if path.exists() or path.is_symlink() else None
        listing_after = common.listing(path.parent)
        if rc != 0 or not results:
            sc.check(False, f"{name} ({kind}): child {common.describe_exit(rc)}: {err[-400:]}")
            continue
        first = results[0]
        code = first.get("code")
        if code is None:
            qc = first.get("quick_check")
            sc.say(f"{name} ({kind}): opened; quick_check {str(qc)[:200]}")
            visible = qc != ["ok"]
            sc.check(visible, f"{name}: opened, and the damage is {'visible in quick_check' if visible else 'NOT visible'}")
            codes.setdefault(kind, {})[name] = "opened; quick_check reports it" if visible else None
        else:
            sc.say(f"{name} ({kind}): {code} - {first.get('detail', '')[:200]}")
            same_twice = results[1].get("code") == code
            sc.check(same_twice, f"{name}: the second open gives the same code ({results[1].get('code')})")
            codes.setdefault(kind, {})[name] = code
        untouched = after == before and listing_after == listing_before
        changes = []
        if after != before:
            changes.append(f"file {before} -> {after}")
        if listing_after != listing_before:
            changes.append(f"directory {listing_before} -> {listing_after}")
        sc.check(
            untouched,
            f"{name}: file not deleted, renamed or rewritten (sha256, inode, mtime, size, mode), nothing left beside it"
            + ("" if untouched else ": " + "; ".join(changes)),
        )

    (sc.tmp / "readonly-dir").chmod(0o755)  # so that the temporary directory can be removed

    # Distinct codes per kind.
    by_kind = {kind: sorted({c for c in names.values() if c}) for kind, names in codes.items()}
    sc.say("codes by kind: " + "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in by_kind.items()))
    kind_of_code: Dict[str, List[str]] = {}
    for kind, cs in by_kind.items():
        for c in cs:
            if not c.startswith("opened"):
                kind_of_code.setdefault(c, []).append(kind)
    shared = {c: ks for c, ks in kind_of_code.items() if len(ks) > 1}
    sc.check(
        not shared,
        f"a distinct code for each of {len(by_kind)} kinds"
        + ("" if not shared else ": shared " + "; ".join(f"{c} by {', '.join(ks)}" for c, ks in shared.items())),
    )

    last_known_good(sc, template)
    sc.finish(
        f"{len(codes)} kinds of bad file ({sum(len(v) for v in codes.values())} cases), distinct codes, no crash, files untouched; "
        "a serving store keeps its last good snapshot on a corrupted file and reports it in health()"
    )


def last_known_good(sc: common.Scenario, template: Path) -> None:
    from model_mapping import DatabaseCorruptError, ModelMappingError, Store

    d = sc.tmp / "serving"
    d.mkdir()
    db = d / "app.db"
    shutil.copy(template, db)
    host = sqlite3.connect(db, isolation_level=None)  # the backend's own connection
    host.execute("CREATE TABLE IF NOT EXISTS host_other (x INTEGER)")
    store = Store(db)
    before = store.resolve_model_key("key-7")
    count = len(store.list_mappings())
    # Another connection changes a mapping (the change feed logs it), so the store's next read
    # must read the table; a commit to another table alone would cost it no read at all (B13).
    host.execute("UPDATE llm_model_mappings SET name = 'changed' WHERE rowid = (SELECT min(rowid) FROM llm_model_mappings)")
    host.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    root, page_size = root_page(db)
    inode = db.stat().st_ino
    old = corrupt_page(db, root, page_size)
    after = store.resolve_model_key("key-7")
    listed = len(store.list_mappings())
    health = store.health()
    err = health.get("last_error") or {}
    sc.say(f"serving store, another connection changed a mapping, then the file was corrupted under it (root page {root}): health {json.dumps({k: health.get(k) for k in ('ok', 'last_error', 'mappings', 'data_version')})}")
    sc.check(
        after == before and listed == count,
        f"serving: reads keep answering from the last good snapshot ({listed} mappings, key-7 -> {after.get('resolved_model')})",
    )
    sc.check(
        health.get("ok") is False and err.get("code") == "database_corrupt" and bool(err.get("since")),
        f"serving: health() reports the failed refresh: ok={health.get('ok')}, code {err.get('code')}, since {err.get('since')}",
    )
    try:
        store.upsert({"id": "mapping:during-corruption", "default_model": "x"})
        write = "accepted"
    except DatabaseCorruptError:
        write = "database_corrupt"
    except ModelMappingError as exc:
        write = exc.code
    sc.check(write == "database_corrupt", f"serving: a write fails with the error ({write})")
    restore_page(db, root, page_size, old)
    host.execute("INSERT INTO host_other VALUES (2)")
    again = store.resolve_model_key("key-7")
    health2 = store.health()
    sc.check(
        health2.get("ok") is True and health2.get("last_error") is None and again == before,
        f"serving: after the file is repaired the next read refreshes and health() is ok again (ok={health2.get('ok')}, refreshes {health2.get('refreshes')})",
    )
    qc = store.quick_check()
    store.close()
    host.close()
    sc.check(db.exists() and db.stat().st_ino == inode and qc == ["ok"], f"serving: the file stayed in place (same inode), quick_check {qc}")


if __name__ == "__main__":
    main()

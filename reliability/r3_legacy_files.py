"""R3 broken legacy files: the one-time migration meets files that are truncated, carry a BOM,
have wrong types at every level, are not UTF-8, nest 10,000 deep or are huge (target R3, B10).

Each case runs in its own child process (a crash is a finding, peak RSS is measured) that opens a
store with the storage dir, reopens it, then writes and resolves a mapping. Pass criteria:
- a file that cannot be parsed as a whole: ``status`` ``failed`` with ``legacy_invalid_json`` and
  its line and column (``io_error`` when it cannot be read), nothing imported, nothing recorded
  in the database, no marker file written, retried (and failed again) by the next open;
- a legacy path that is not a regular file (a FIFO, a directory): the same, with
  ``legacy_not_a_regular_file`` naming the file and what it is, and the open returns at once
  (a FIFO is never opened: opening one waits for a writer, inside the import's write lock it
  would stall every writer of the database);
- a file that parses but holds wrong types: every bad entry reported by key with a reason, the
  good entries imported (a successful import, so the record and the marker file are written);
- always: the file's bytes unchanged (sha256 before and after), no crash, the store usable (an
  upsert then a resolve works, ``quick_check`` ok).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

MAPPINGS = "model_mappings.json"
BLOCKED = "blocked_models.json"
MARKER = ".model_mappings_sqlite_import_done"
POSITION = re.compile(r"line (\d+) column (\d+)")


def entry(i: int, **extra: Any) -> Dict[str, Any]:
    mapping = {
        "default_model": f"model-{i}",
        "candidates": [f"model-{i}", "fallback"],
        "is_active": True,
        "updated_at": "2025-06-01T12:00:00Z",
        "metadata": {"i": i},
    }
    mapping.update(extra)
    return {"name": f"entry {i}", "mapping": mapping}


def valid_doc(n: int) -> Dict[str, Any]:
    return {"tenant": {f"t-{i}": entry(i) for i in range(n)}, "global": {"global": entry(n)}}


# ------------------------------------------------------------------------ the child ----


def case_child(db: str, storage: str) -> None:
    from model_mapping import Store

    out: Dict[str, Any] = {}
    t = time.monotonic()
    store = Store(db, storage_dir=storage)
    out["open_s"] = round(time.monotonic() - t, 3)
    out["report"] = store.last_migration()
    out["records"] = store.health()["migration"]
    out["mappings"] = {m["id"]: {"is_active": m["is_active"], "updated_at": m["updated_at"]} for m in store.list_mappings()}
    out["rows"] = len(out["mappings"])
    out["blocked"] = store.blocked_models()
    store.close()
    with Store(db, storage_dir=storage) as again:  # the next open retries a failed file
        out["second_report"] = again.last_migration()
        again.upsert({"id": "mapping:r3-probe", "default_model": "probe-model"})
        r = again.resolve_model_key("r3-probe")
        out["usable"] = r.get("resolved_model") == "probe-model" and r.get("hit") is True
        out["quick_check"] = again.quick_check()
    import resource

    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------ the cases ----


class Case:
    def __init__(
        self,
        name: str,
        what: str,
        build: Callable[[Path], Dict[str, Any]],
        expect: str,
        timeout_s: float = 900,
    ) -> None:
        self.name = name
        self.what = what
        self.build = build  # writes the files, returns what is expected
        self.expect = expect  # "failed", "failed_io", "failed_not_regular", "imported", "blocked_failed"
        self.timeout_s = timeout_s  # a child still running then is a hang


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def position_of_byte(data: bytes, offset: int) -> Tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return line, column


def build_truncated(d: Path) -> Dict[str, Any]:
    text = json.dumps(valid_doc(500), indent=2).encode()
    cut = text[: len(text) * 6 // 10]
    write(d / MAPPINGS, cut)
    return {"lines": cut.count(b"\n") + 1}


def build_empty(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, b"")
    return {}


def build_bom(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, b"\xef\xbb\xbf" + json.dumps(valid_doc(50), indent=2).encode())
    return {"imported": 51, "bad_keys": []}


def build_top_list(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, json.dumps([valid_doc(3)]).encode())
    return {}


def build_top_string(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, b'"model_mappings"\n')
    return {}


def build_top_null(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, b"null")
    return {}


WRONG_ENTRIES: Dict[str, Any] = {
    # entry level
    "entry-number": 42,
    "entry-string": "gpt-4o",
    "entry-list": [entry(1)],
    "entry-null": None,
    # the "mapping" object
    "mapping-missing": {"name": "no mapping here"},
    "mapping-string": {"mapping": "gpt-4o"},
    "mapping-list": {"mapping": [entry(2)["mapping"]]},
    "mapping-null": {"mapping": None},
    # fields of the mapping
    "default-number": {"mapping": {"default_model": 5}},
    "default-object": {"mapping": {"default_model": {"model": "gpt-4o"}}},
    "candidates-string": {"mapping": {"default_model": "a", "candidates": "gpt-4o"}},
    "candidates-object": {"mapping": {"default_model": "a", "candidates": {"0": "gpt-4o"}}},
    "candidates-nested": {"mapping": {"default_model": "a", "candidates": [["gpt-4o"]]}},
    "updated_at-number": {"mapping": {"default_model": "a", "updated_at": 1735689600}},
    "updated_at-garbage": {"mapping": {"default_model": "a", "updated_at": "yesterday"}},
    "metadata-list": {"mapping": {"default_model": "a", "metadata": [1, 2]}},
    "metadata-string": {"mapping": {"default_model": "a", "metadata": "{}"}},
    "name-number": {"name": 7, "mapping": {"default_model": "a"}},
    "name-object": {"name": {"en": "x"}, "mapping": {"default_model": "a"}},
    "model-too-long": {"mapping": {"default_model": "m" * 300}},
}


# Wrong types the library reads the way the backend did (``bool(mapping.get("is_active", True))``,
# see src/legacy.rs): each must be either reported or imported with exactly that reading.
TRUTHY_ENTRIES: Dict[str, Tuple[Any, bool]] = {
    "is_active-string-yes": ("yes", True),
    "is_active-string-empty": ("", False),
    "is_active-list": ([True], True),
    "is_active-zero": (0, False),
}


def build_wrong_types(d: Path) -> Dict[str, Any]:
    truthy = {k: {"mapping": {"default_model": "a", "is_active": v}} for k, (v, _) in TRUTHY_ENTRIES.items()}
    doc: Dict[str, Any] = {
        # scope-type level
        "prompt": ["not", "an", "object"],
        "module": "a string",
        "premium_user": 12,
        "user": None,
        "Bad Type!": {"k": entry(3)},
        # entry and field level, beside good entries
        "mapping": dict(WRONG_ENTRIES, **truthy, **{"good-1": entry(10), "good-2": entry(11), "   ": entry(12)}),
    }
    write(d / MAPPINGS, json.dumps(doc, indent=1).encode())
    bad = ["prompt", "module", "premium_user", "user", "Bad Type!:k", "mapping:   "] + [
        f"mapping:{k}" for k in WRONG_ENTRIES
    ]
    return {
        "imported": 2,
        "bad_keys": bad,
        # Not a timestamp: the entry may be imported (with "now") as long as the report says so.
        "may_import": ["mapping:updated_at-number", "mapping:updated_at-garbage"],
        "good": ["mapping:good-1", "mapping:good-2"],
        "truthy": {f"mapping:{k}": b for k, (_, b) in TRUTHY_ENTRIES.items()},
    }


def build_not_utf8(d: Path) -> Dict[str, Any]:
    text = json.dumps(valid_doc(20), indent=2).encode()
    at = text.index(b"entry 7") + len(b"entry ")
    data = text[:at] + b"\xe9t\xe9 " + text[at:]  # latin-1 "été"
    write(d / MAPPINGS, data)
    return {"position": position_of_byte(data, at)}


def build_utf16(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, json.dumps(valid_doc(5)).encode("utf-16"))
    return {}


def build_deep_arrays(d: Path) -> Dict[str, Any]:
    depth = 10_000
    inner = "[" * depth + "]" * depth
    text = '{"mapping": {"deep": {"mapping": {"default_model": "a", "metadata": {"x": ' + inner + "}}}}}"
    write(d / MAPPINGS, text.encode())
    return {}


def build_deep_objects(d: Path) -> Dict[str, Any]:
    depth = 10_000
    write(d / MAPPINGS, ('{"a":' * depth + "1" + "}" * depth).encode())
    return {}


def build_huge_string(size: int) -> Callable[[Path], Dict[str, Any]]:
    def build(d: Path) -> Dict[str, Any]:
        with open(d / MAPPINGS, "wb") as f:
            f.write(b'{"mapping": {"small": ')
            f.write(json.dumps(entry(1)).encode())
            f.write(b', "huge": {"mapping": {"default_model": "a", "metadata": {"blob": "')
            chunk = b"x" * (1 << 20)
            for _ in range(size // len(chunk)):
                f.write(chunk)
            f.write(b'"}}}}}')
        return {"imported": 1, "bad_keys": ["mapping:huge"]}

    return build


def build_huge_truncated(size: int) -> Callable[[Path], Dict[str, Any]]:
    def build(d: Path) -> Dict[str, Any]:
        with open(d / MAPPINGS, "wb") as f:
            f.write(b'{"mapping": {\n')
            i = 0
            written = 0
            pad = "p" * 900
            while written < size:
                line = json.dumps({f"k-{i}": entry(i, metadata={"pad": pad})})[1:-1] + ",\n"
                f.write(line.encode())
                written += len(line)
                i += 1
            f.write(b'"last": {"mapping": {"default_model": "cut here')  # no end
        return {}

    return build


def build_blocked_truncated(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, json.dumps(valid_doc(5)).encode())
    write(d / BLOCKED, b'{"updated_at": "2025-06-01T12:00:00Z", "blocked": ["gpt-4o", "o1-pre')
    return {"imported": 6, "bad_keys": []}


def build_blocked_wrong_type(d: Path) -> Dict[str, Any]:
    write(d / MAPPINGS, json.dumps(valid_doc(5)).encode())
    write(d / BLOCKED, json.dumps({"blocked": "gpt-4o"}).encode())
    return {"imported": 6, "bad_keys": []}


def build_directory(name: str) -> Callable[[Path], Dict[str, Any]]:
    def build(d: Path) -> Dict[str, Any]:
        if name == BLOCKED:
            write(d / MAPPINGS, json.dumps(valid_doc(5)).encode())
        (d / name).mkdir()
        (d / name / "keep").write_text("keep me")
        return {"file": name, "kind": "a directory", "imported": 6}

    return build


def build_fifo(name: str) -> Callable[[Path], Dict[str, Any]]:
    def build(d: Path) -> Dict[str, Any]:
        if name == BLOCKED:
            write(d / MAPPINGS, json.dumps(valid_doc(5)).encode())
        os.mkfifo(d / name, 0o600)
        return {"file": name, "kind": "FIFO", "imported": 6}

    return build


def cases(full: bool) -> List[Case]:
    huge = 200 * 1024 * 1024 if full else 20 * 1024 * 1024
    mb = huge // (1024 * 1024)
    return [
        Case("truncated", "a 500-entry file cut at 60 %", build_truncated, "failed"),
        Case("empty", "a 0-byte file", build_empty, "failed"),
        Case("bom", "a valid 51-entry file starting with a UTF-8 BOM", build_bom, "imported"),
        Case("top-level-list", "wrong type at the top: a list", build_top_list, "failed"),
        Case("top-level-string", "wrong type at the top: a string", build_top_string, "failed"),
        Case("top-level-null", "wrong type at the top: null", build_top_null, "failed"),
        Case(
            "wrong-types",
            f"wrong types at the scope, entry, mapping and field levels ({len(WRONG_ENTRIES) + len(TRUTHY_ENTRIES) + 6} bad, 2 good)",
            build_wrong_types,
            "imported",
        ),
        Case("not-utf8", "latin-1 bytes inside a name", build_not_utf8, "failed"),
        Case("utf16", "the file saved as UTF-16 (with its BOM)", build_utf16, "failed"),
        Case("deep-arrays", "metadata nesting 10,000 arrays deep", build_deep_arrays, "failed"),
        Case("deep-objects", "10,000 nested objects at the top", build_deep_objects, "failed"),
        Case("huge-string", f"a {mb} MB file: one good entry, one {mb} MB metadata string", build_huge_string(huge), "imported"),
        Case("huge-truncated", f"a {mb} MB file of ~{huge // 1000:,} entries, truncated", build_huge_truncated(huge), "failed"),
        Case("blocked-truncated", "blocked_models.json truncated (mappings file fine)", build_blocked_truncated, "blocked_failed"),
        Case("blocked-wrong-type", 'blocked_models.json {"blocked": "gpt-4o"}', build_blocked_wrong_type, "blocked_failed"),
        Case("directory", "model_mappings.json is a directory", build_directory(MAPPINGS), "failed_not_regular"),
        Case("blocked-directory", "blocked_models.json is a directory", build_directory(BLOCKED), "blocked_failed"),
        Case("fifo", "model_mappings.json is a FIFO no one writes", build_fifo(MAPPINGS), "failed_not_regular", 60),
        Case("blocked-fifo", "blocked_models.json is a FIFO no one writes", build_fifo(BLOCKED), "blocked_failed", 60),
    ]


# ------------------------------------------------------------------------------ main ----


def snapshot_files(d: Path) -> Dict[str, Any]:
    return {n: common.fingerprint(d / n) for n in os.listdir(d)}


def run_case(sc: common.Scenario, case: Case) -> None:
    d = sc.tmp / case.name
    storage = d / "storage"
    storage.mkdir(parents=True)
    t = time.monotonic()
    expected = case.build(storage)
    build_s = time.monotonic() - t
    before = snapshot_files(storage)
    size = sum(v["size"] for v in before.values() if "sha256" in v)
    db = d / "app.db"
    p = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--case-child", str(db), str(storage)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=common.python_env(),
    )
    t = time.monotonic()
    label = f"{case.name} ({case.what}, {size / 1e6:.2f} MB)"
    try:
        out_b, err_b = p.communicate(timeout=case.timeout_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        sc.check(False, f"{label}: the child hung (no answer within {case.timeout_s:.0f} s)")
        return
    took = time.monotonic() - t
    if p.returncode != 0:
        sc.check(False, f"{label}: child {common.describe_exit(p.returncode)}: {err_b.decode()[-500:]}")
        return
    out = common.last_json_line(out_b.decode())
    after = snapshot_files(storage)
    report = out["report"] or {}
    errors = report.get("errors", [])
    file_errors = {e["key"]: e["reason"] for e in errors if e["key"] in (MAPPINGS, BLOCKED)}
    sc.say(
        f"{label}: status {report.get('status')}, imported {report.get('imported_count')}, skipped {report.get('skipped_count')}, "
        f"blocked_status {report.get('blocked_status')}; open {out['open_s']:.2f} s, child {took:.2f} s, child peak RSS {out['peak_rss_mib']:.0f} MiB"
    )
    for key, reason in file_errors.items():
        sc.say(f"    {key}: {reason[:160]}")
    unchanged = {n: v for n, v in before.items()} == {n: after[n] for n in before if n in after} and all(n in after for n in before)
    ok = unchanged
    problems: List[str] = [] if unchanged else ["legacy file changed (sha256/inode/mtime)"]
    new_files = sorted(set(after) - set(before))
    marker = MARKER in after

    if case.expect in ("failed", "failed_io", "failed_not_regular"):
        reason = file_errors.get(MAPPINGS, "")
        code = {"failed_io": "io_error", "failed_not_regular": "legacy_not_a_regular_file"}.get(case.expect, "legacy_invalid_json")
        if report.get("status") != "failed" or not reason.startswith(code):
            problems.append(f"expected status failed with {code}, got {report.get('status')} {reason[:80]!r}")
        if "kind" in expected and not (expected["file"] in reason and expected["kind"] in reason):
            problems.append(f"the reason does not name {expected['file']} and {expected['kind']!r}: {reason[:120]!r}")
        m = POSITION.search(reason)
        if case.expect == "failed":
            if not m:
                problems.append("no line/column in the report")
            elif "position" in expected and (int(m.group(1)), int(m.group(2))) != expected["position"]:
                problems.append(f"position {m.group(1)}:{m.group(2)} is not the bad byte's {expected['position']}")
            elif "lines" in expected and not 1 <= int(m.group(1)) <= expected["lines"]:
                problems.append(f"line {m.group(1)} outside the file's {expected['lines']} lines")
        if out["rows"] != 0:
            problems.append(f"{out['rows']} rows imported from a failed file")
        if out["records"].get("mappings") is not None:
            problems.append(f"a record was written: {out['records']['mappings']}")
        if marker:
            problems.append("a marker file was written")
        if (out["second_report"] or {}).get("status") != "failed":
            problems.append(f"next open did not retry: {(out['second_report'] or {}).get('status')}")
    elif case.expect == "blocked_failed":
        reason = file_errors.get(BLOCKED, "")
        code = "legacy_not_a_regular_file" if "kind" in expected else "legacy_invalid_json"
        if report.get("blocked_status") != "failed" or not reason.startswith(code):
            problems.append(f"expected blocked_status failed with {code}, got {report.get('blocked_status')} {reason[:80]!r}")
        if "kind" in expected and not (expected["file"] in reason and expected["kind"] in reason):
            problems.append(f"the reason does not name {expected['file']} and {expected['kind']!r}: {reason[:120]!r}")
        if out["records"].get("blocked") is not None:
            problems.append("a blocked-import record was written")
        if out["blocked"]:
            problems.append(f"blocked models imported from a failed file: {out['blocked']}")
        if report.get("status") != "imported" or report.get("imported_count") != expected["imported"]:
            problems.append(f"the mappings file (fine) was not imported: {report.get('status')} {report.get('imported_count')}")
        if (out["second_report"] or {}).get("blocked_status") != "failed":
            problems.append("next open did not retry the blocked file")
    else:  # imported, maybe with per-entry errors
        # Skipped entries are in `errors`; imported ones with a correction (an unreadable
        # updated_at replaced by the import time) in `warnings`. Either way: reported.
        reported = {e["key"]: e["reason"] for e in list(errors) + list(report.get("warnings") or [])}
        tolerated = 0
        for k, want in expected.get("truthy", {}).items():
            if k in reported:
                sc.say(f"    {k!r}: {reported[k][:110]}")
            elif k in out["mappings"] and out["mappings"][k]["is_active"] is want:
                tolerated += 1
                sc.say(f"    {k!r}: imported with is_active={want}, Python's truth value, as the backend read it (not reported)")
            else:
                problems.append(f"{k}: neither reported nor imported with is_active={want}: {out['mappings'].get(k)}")
        may = [k for k in expected.get("may_import", []) if k in out["mappings"]]
        for k in may:
            sc.say(
                f"    {k!r}: imported with updated_at {out['mappings'][k]['updated_at']} (the import time), "
                + (f"reported: {reported[k][:80]}" if k in reported else "NOT reported")
            )
        if report.get("status") != "imported" or report.get("imported_count") != expected["imported"] + tolerated + len(may):
            problems.append(
                f"expected imported {expected['imported']} good + {tolerated} read as the backend did + {len(may)} "
                f"with a replaced timestamp, got {report.get('status')} {report.get('imported_count')}"
            )
        wrongly = sorted(
            set(out["mappings"]) - set(expected.get("good", [])) - set(expected.get("truthy", {})) - set(may)
        )
        if case.name == "wrong-types" and wrongly:
            problems.append(f"bad entries imported: {wrongly}")
        missing = [k for k in expected["bad_keys"] if k not in reported]
        if missing:
            problems.append(f"bad entries not reported: {missing}")
        for k in expected["bad_keys"]:
            if k in reported:
                sc.say(f"    {k!r}: {reported[k][:110]}")
        if out["records"].get("mappings") is None:
            problems.append("a successful import recorded nothing")
        if not marker:
            problems.append("a successful import wrote no marker file")
        if case.name == "bom":
            sc.say("    note: the library accepts a UTF-8 BOM (it strips it before parsing), so a BOM file is a successful import")
    if not out["usable"]:
        problems.append("store not usable (upsert + resolve)")
    if out["quick_check"] != ["ok"]:
        problems.append(f"quick_check {out['quick_check']}")
    extra = [n for n in new_files if n != MARKER]
    if extra:
        problems.append(f"files appeared in the storage dir: {extra}")
    ok = not problems
    summary = {
        "failed": "status failed, line/column given, nothing imported or recorded, no marker, retried next open",
        "failed_io": "status failed with io_error, nothing imported or recorded, no marker, retried next open",
        "failed_not_regular": "status failed with legacy_not_a_regular_file naming the file and what it is, nothing imported or recorded, no marker, retried next open",
        "blocked_failed": "blocked import failed and not recorded, mappings imported, retried next open",
        "imported": f"imported {expected.get('imported')}, {len(expected.get('bad_keys', []))} bad entries each reported, record + marker written",
    }[case.expect]
    sc.check(ok, f"{case.name}: {summary}; file unchanged, store usable" if ok else f"{case.name}: " + "; ".join(problems))


def main() -> None:
    sc = common.Scenario("R3", __doc__.splitlines()[0])
    sc.parser.add_argument("--case-child", nargs=2, metavar=("DB", "STORAGE"))
    sc.parser.add_argument("--only", help="comma-separated case names")
    args = sc.parser.parse_args()
    if args.case_child:
        case_child(*args.case_child)
        return
    sc.parse()
    chosen = cases(sc.full)
    if args.only:
        names = set(args.only.split(","))
        chosen = [c for c in chosen if c.name in names]
    for case in chosen:
        run_case(sc, case)
    sc.finish(f"{len(chosen)} broken legacy files: clear reports, files unchanged, stores usable, no marker for a failed file")


if __name__ == "__main__":
    main()

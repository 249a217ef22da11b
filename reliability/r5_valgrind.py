"""R5 memory: the whole Python test suite (bindings/python/tests) once under valgrind memcheck,
reporting invalid accesses, uses of uninitialised memory and leaks attributable to
libmodel_mapping.so (target R5). Slow (minutes): full mode only.

Recipe (what this script runs; run it by hand the same way):

    PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full \\
        --show-leak-kinds=definite,indirect,possible --num-callers=50 \\
        --track-origins=yes --fair-sched=yes \\
        --trace-children=no --child-silent-after-fork=yes \\
        --suppressions=reliability/valgrind-python.supp \\
        --xml=yes --xml-file=/tmp/vg.%p.xml --log-file=/tmp/vg.%p.log \\
        .venv/bin/python -m pytest -rf -p no:cacheprovider bindings/python/tests

``PYTHONMALLOC=malloc`` makes CPython allocate every object with malloc, so memcheck sees them;
the suppressions file only hides allocations and accesses whose innermost caller is CPython, its
extension modules or libffi. A report is *attributed to the library* when any frame of any of its
stacks lies in ``libmodel_mapping.so`` - with ``--track-origins=yes`` that includes the stack that
created an uninitialised value CPython later used; that is the pass criterion (zero).
``--fair-sched=yes`` gives threads the lock in turn: valgrind runs one thread at a time, and with
its default scheduling a thread looping on writes can hold SQLite's lock past a test's 5 s busy
timeout. Reports with no library frame
are CPython's or SQLite-via-``sqlite3``'s and are counted, not judged.

Why not ASan/LSan: ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)`` with ``ASAN_OPTIONS=
detect_leaks=1`` runs CPython under LeakSanitizer, but it only instruments code built with
``-fsanitize=address``; for the Rust library that means ``RUSTFLAGS=-Zsanitizer=address`` and a
nightly toolchain (``cargo +nightly build -Zbuild-std --target x86_64-unknown-linux-gnu``).
Without it LSan reports leaks but sees no invalid access inside the library, so valgrind is the
route here.

Child processes the tests start (``subprocess``) run natively (``--trace-children=no``); a
forked child's reports are silenced (``--child-silent-after-fork``): the fork test's child
leaves with ``os._exit`` and everything it held is "leaked" by design.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

LIB = "libmodel_mapping.so"

# The self-test: three strings the library hands out and the caller never frees.
LEAK_ON_PURPOSE = """
import ctypes
from model_mapping import _ffi
for _ in range(3):
    out = ctypes.c_void_p()
    assert _ffi.lib.mm_echo(b"leak me " * 50, ctypes.byref(out)) == 0
    out = None  # never given back to mm_string_free
"""


def parse(xml_path: Path) -> Dict[str, Any]:
    text = xml_path.read_text(errors="replace")
    # A process killed mid-run leaves an unterminated document.
    if "</valgrindoutput>" not in text:
        text += "</valgrindoutput>"
    root = ET.fromstring(text)
    errors = []
    for err in root.findall("error"):
        kind = err.findtext("kind") or "?"
        what = err.findtext("what") or err.findtext("xwhat/text") or ""
        frames = []
        for stack in err.findall("stack"):
            for fr in stack.findall("frame"):
                frames.append(
                    {
                        "obj": fr.findtext("obj") or "",
                        "fn": fr.findtext("fn") or "",
                        "file": fr.findtext("file") or "",
                        "line": fr.findtext("line") or "",
                    }
                )
        # Where a report comes from: the innermost frame outside valgrind's preload, of the
        # origin stack when there is one (--track-origins), else of the error's own stack.
        stacks = err.findall("stack")
        source = stacks[-1] if len(stacks) > 1 else (stacks[0] if stacks else None)
        source_fns = [
            fr.findtext("fn") or Path(fr.findtext("obj") or "?").name
            for fr in (source.findall("frame") if source is not None else [])
            if "vgpreload" not in (fr.findtext("obj") or "")
        ]
        leaked = err.findtext("xwhat/leakedbytes")
        errors.append(
            {
                "kind": kind,
                "what": what,
                "frames": frames,
                "bytes": int(leaked) if leaked else 0,
                "ours": any(f["obj"].endswith(LIB) for f in frames),
                "source": " <- ".join(source_fns[:3]),
            }
        )
    suppressed = sum(int(p.findtext("count") or 0) for p in root.findall("suppcounts/pair"))
    pid = root.findtext("pid")
    argv = " ".join(a.text or "" for a in root.findall("args/argv/arg"))
    return {"errors": errors, "suppressed": suppressed, "pid": pid, "argv": argv}


def describe(e: Dict[str, Any]) -> str:
    lines = [f"{e['kind']}: {e['what']}"]
    for f in e["frames"][:14]:
        where = f"{f['file']}:{f['line']}" if f["file"] else Path(f["obj"]).name
        lines.append(f"      {f['fn'] or '?'} ({where})")
    return "\n".join(lines)


def main() -> None:
    sc = common.Scenario("R5", __doc__.splitlines()[0])
    sc.parser.add_argument("--pytest-args", default="", help="extra pytest arguments (e.g. -k store)")
    args = sc.parser.parse_args()
    sc.parse()
    valgrind = shutil.which("valgrind")
    if not valgrind:
        sc.skip("valgrind is not installed (apt-get install valgrind)")
        sc.finish("nothing run")
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True).stdout.strip()
    import model_mapping

    lib = Path(model_mapping.__file__).parent / LIB
    tests = common.REPO / "bindings" / "python" / "tests"
    out = sc.tmp
    cmd = [
        valgrind,
        "--tool=memcheck",
        "--leak-check=full",
        "--show-leak-kinds=definite,indirect,possible",
        "--num-callers=50",
        "--track-origins=yes",
        "--fair-sched=yes",
        "--trace-children=no",
        "--child-silent-after-fork=yes",
        f"--suppressions={common.HERE / 'valgrind-python.supp'}",
        "--xml=yes",
        f"--xml-file={out}/vg.%p.xml",
        f"--log-file={out}/vg.%p.log",
        sys.executable,
        "-m",
        "pytest",
        "-rf",
        f"--junitxml={out}/junit.xml",
        "-p",
        "no:cacheprovider",
        *([a for a in args.pytest_args.split() if a]),
        str(tests),
    ]
    env = dict(os.environ, PYTHONMALLOC="malloc")
    env.pop("MODEL_MAPPING_LIB", None)  # the installed copy, as scripts/test-python.sh tests it

    # Self-test first: the same options and suppressions must catch a leak the library makes.
    selftest = out / "selftest"
    selftest.mkdir()
    probe_cmd = [a.replace(str(out) + "/vg.", str(selftest) + "/vg.") for a in cmd[: cmd.index(sys.executable)]]
    subprocess.run(probe_cmd + [sys.executable, "-c", LEAK_ON_PURPOSE], capture_output=True, env=env, timeout=600)
    caught = [
        e for x in selftest.glob("vg.*.xml") for e in parse(x)["errors"]
        if e["ours"] and e["kind"] == "Leak_DefinitelyLost"
    ]
    sc.check(
        bool(caught),
        "self-test: 3 strings from mm_echo never freed are reported as a definite leak with a libmodel_mapping.so frame "
        f"({caught[0]['what'] if caught else 'NOT caught: the setup would hide library leaks'})",
    )
    debug = b".debug_info" in lib.read_bytes()
    sc.say(f"{version}; library {lib} ({lib.stat().st_size // 1024} KiB, {'with' if debug else 'without'} debug info)")
    sc.say("running: PYTHONMALLOC=malloc " + " ".join(cmd))
    sc.say(f"load average {common.load_average()}")
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(common.REPO / "bindings" / "python"))
    took = time.monotonic() - t
    tail = [line for line in p.stdout.strip().splitlines() if line.strip()][-3:]
    sc.say(f"pytest under valgrind: {common.describe_exit(p.returncode)} after {took / 60:.1f} min: {' / '.join(tail)}")
    if p.returncode != 0:
        sc.say("pytest output (tail):\n" + "\n".join(p.stdout.splitlines()[-40:]) + "\n" + p.stderr[-2000:])
    xmls = sorted(out.glob("vg.*.xml"))
    if not xmls:
        sc.check(False, "valgrind wrote no report")
        sc.finish("")
    totals: Counter = Counter()
    sources: Counter = Counter()
    ours: List[Dict[str, Any]] = []
    suppressed = 0
    processes = 0
    for x in xmls:
        try:
            rep = parse(x)
        except ET.ParseError as exc:
            sc.say(f"{x.name}: unreadable XML ({exc}); skipped")
            continue
        if not rep["argv"] and not rep["errors"]:
            continue  # a silenced forked child
        processes += 1
        suppressed += rep["suppressed"]
        for e in rep["errors"]:
            totals[(e["kind"], e["ours"])] += 1
            if e["ours"]:
                ours.append(e)
            else:
                sources[(e["kind"], e["source"])] += 1
    kinds = sorted({k for k, _ in totals})
    sc.say(f"{processes} process report(s); {suppressed} suppressed CPython reports")
    for k in kinds:
        sc.say(f"  {k}: {totals[(k, True)]} with a libmodel_mapping.so frame, {totals[(k, False)]} without (CPython/libc/sqlite3 module)")
    for (kind, source), n in sources.most_common(5):
        sc.say(f"  not the library's: {n} x {kind} from {source}")
    for e in ours[:10]:
        sc.say("attributed to the library: " + describe(e))
    leak_bytes = sum(e["bytes"] for e in ours if e["kind"].startswith("Leak_"))
    # pytest exits 0 (all passed) or 1 (some failed); anything else (a signal, valgrind's own
    # failure, an internal pytest error) means the suite did not run to its end.
    sc.check(
        p.returncode in (0, 1) and "passed" in " ".join(tail),
        f"the Python test suite ran to its end under valgrind, no crash ({' '.join(tail[-1:])})",
    )
    failures = []  # (test, message) from the JUnit report
    junit = out / "junit.xml"
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            for bad in list(case.findall("failure")) + list(case.findall("error")):
                failures.append((f"{case.get('classname')}::{case.get('name')}", bad.get("message") or ""))
    timing = [(t, m) for t, m in failures if "database is locked" in m]
    for test, message in timing:
        sc.say(
            f"NOTE: {test} failed under valgrind ({message[:80]}): the test's 5 s busy timeout against a thread "
            "looping on writes does not survive valgrind's slowdown (SQLite's busy handler is not fair); "
            "not a memory error, it passes natively"
        )
    other = [(t, m[:100]) for t, m in failures if (t, m) not in timing]
    sc.check(not other, f"tests failing under valgrind for another reason than a busy timeout: {len(other)} {other[:3]}")
    invalid = [e for e in ours if not e["kind"].startswith("Leak_")]
    leaks = [e for e in ours if e["kind"].startswith("Leak_")]
    sc.check(not invalid, f"invalid reads/writes/frees and uninitialised uses with a libmodel_mapping.so frame: {len(invalid)}")
    sc.check(not leaks, f"leaks (definite, indirect, possible) with a libmodel_mapping.so frame: {len(leaks)} ({leak_bytes} bytes)")
    # Keep the raw reports next to the run when asked, they are large.
    if sc.keep:
        sc.say(f"raw reports kept in {out}")
    sc.finish(
        f"Python test suite under valgrind memcheck in {took / 60:.1f} min: 0 errors and 0 leaks attributable to libmodel_mapping.so "
        f"({sum(v for (k, o), v in totals.items() if not o)} unattributed CPython reports, {suppressed} suppressed)"
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Instruction counts per call of the Python hot paths and of the library's writes, under
valgrind's callgrind (``perf`` hardware counters do not work on these machines).

    .venv/bin/python bindings/python/benchmarks/profile_hot_path.py --callgrind [VARIANT ...]

For each variant it runs this script twice under ``valgrind --tool=callgrind`` — once with a
small number of calls and once with a larger one, the same setup both times — and divides the
difference by the difference in calls: the instructions of one call, with the setup (imports,
building the database, opening the store) cancelled out. It then does the same per function
(``callgrind_annotate --inclusive=yes``) and prints the functions that cost most per call.

Without ``--callgrind`` it runs one variant in-process: ``profile_hot_path.py VARIANT COUNT``
(what valgrind runs). Variants: see ``VARIANTS``. The database is N = 10,000 mappings built as
``bench.py`` builds it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402  (the data sets and the echo baseline, shared with bench.py)
from model_mapping import ModelMappingService, Store  # noqa: E402

N = 10_000
KEY = f"key{N // 2}"

# name -> (calls in the small run, calls in the large run, description)
VARIANTS: Dict[str, Tuple[int, int, str]] = {
    "echo": (2000, 12000, "mm_echo the way Store.resolve_model_key calls (bench.echo_like_resolve)"),
    "store_bounded": (2000, 12000, "Store.resolve_model_key, max_staleness_ms=1000"),
    "store_strict": (2000, 12000, "Store.resolve_model_key, strict (PRAGMA data_version per call)"),
    "svc_strict": (2000, 12000, "await ModelMappingService.resolve_model_key, strict"),
    "svc_rfm": (2000, 12000, "await ModelMappingService.resolve_for_message(user_id, mapping_key)"),
    "json_loads": (2000, 12000, "json.loads of the resolve result alone (Python side of the JSON)"),
    "store_strict_decoded": (2000, 12000, "Store.resolve_model_key, strict, with the memo of "
                             "decoded results emptied before each call (bench.decoded_resolver)"),
    "upsert": (20, 120, "Store.upsert into the 10,000-row table, synchronous=FULL"),
    "open": (1, 3, "Store(db) on 10,000 rows (open only; closed afterwards)"),
    "bulk_import": (1, 2, "Store.import_items of 10,000 items into a fresh database"),
    "legacy_import": (1, 2, "Store(fresh db, storage_dir) importing a 10,000-entry legacy dir"),
}


def run_variant(name: str, count: int, work: Path) -> None:
    db = work / "p.db"
    bench.build_sqlite(db, N)
    blocked_dir = work / "blocked"
    bench.write_blocked(blocked_dir)
    Store(db, storage_dir=blocked_dir).close()  # the library's tables and the blocked list

    if name in ("echo", "store_bounded", "store_strict", "store_strict_decoded", "json_loads"):
        store = Store(db, max_staleness_ms=1000 if name == "store_bounded" else None)
        fn: Callable[[], Any]
        if name == "store_strict_decoded":
            decoded = bench.decoded_resolver(store)
            fn = lambda: decoded(KEY)  # noqa: E731
        elif name == "echo":
            fn = lambda: bench.echo_like_resolve(KEY)  # noqa: E731
        elif name == "json_loads":
            raw = json.dumps(store.resolve_model_key(KEY)).encode()
            loads = json.loads
            fn = lambda: loads(raw)  # noqa: E731
        else:
            resolve = store.resolve_model_key
            fn = lambda: resolve(KEY)  # noqa: E731
        for _ in range(100):
            fn()
        for _ in range(count):
            fn()
        store.close()
    elif name in ("svc_strict", "svc_rfm"):
        svc = ModelMappingService(bench.Stub(), str(db), blocked_dir)

        async def loop() -> None:
            if name == "svc_strict":
                for _ in range(100):
                    await svc.resolve_model_key(KEY)
                for _ in range(count):
                    await svc.resolve_model_key(KEY)
            else:
                for _ in range(100):
                    await svc.resolve_for_message(user_id="7", mapping_key=KEY)
                for _ in range(count):
                    await svc.resolve_for_message(user_id="7", mapping_key=KEY)

        asyncio.run(loop())
        svc.close()
    elif name == "upsert":
        store = Store(db, synchronous="full")
        for i in range(5 + count):
            store.upsert({"id": f"mapping:key{i}", "default_model": "model-x",
                          "candidates": ["model-y"], "metadata": {"temperature": 0.2}})
        store.close()
    elif name == "open":
        for _ in range(count):
            Store(db).close()
    elif name == "bulk_import":
        items = [dict(bench.mapping_fields(i), id=f"mapping:key{i}", updated_at=bench.UPDATED_AT)
                 for i in range(N)]
        for i in range(count):
            store = Store(work / f"bulk_{i}.db")
            report = store.import_items(items)
            assert report["imported_count"] == N, report
            store.close()
    elif name == "legacy_import":
        source = work / "legacy_src"
        bench.build_legacy(source, N)
        for i in range(count):
            storage = work / f"legacy_{i}"
            storage.mkdir()
            for f in ("model_mappings.json", "blocked_models.json"):
                shutil.copyfile(source / f, storage / f)
            store = Store(work / f"legacy_{i}.db", storage_dir=storage)
            assert (store.last_migration() or {}).get("imported_count") == N + 1
            store.close()
    else:
        raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")


_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.+?)\s*$")


def annotate(out_file: Path) -> Dict[str, int]:
    """function -> inclusive Ir, from callgrind_annotate."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", str(out_file)],
        check=True, capture_output=True, text=True,
    ).stdout
    funcs: Dict[str, int] = {}
    started = False
    for line in text.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started or line.startswith("---"):
            continue
        if not line.strip():
            if funcs:
                break  # the end of the function table
            continue
        m = _LINE.match(line)
        if m and "=>" not in line:
            name = m.group(2)
            name = re.sub(r"\s*\[[^\]]*\]$", "", name)  # drop the object file
            name = re.sub(r"\s*\(\d[\d,]*x\)$", "", name)  # drop a call count
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(",", ""))
    return funcs


def short(fn: str) -> str:
    """``/long/path/Objects/call.c:PyObject_Vectorcall`` -> ``call.c:PyObject_Vectorcall``."""
    path, sep, func = fn.rpartition(":")
    if not sep or "/" not in path:
        return fn[:160]
    return f"{path.rsplit('/', 1)[-1]}:{func}"[:160]


def total_ir(out_file: Path) -> int:
    for line in out_file.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out_file}")


def callgrind(variants: List[str], top: int, keep: Path, reuse: bool = False) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("MODEL_MAPPING_LIB", None)
    for name in variants:
        small, large, what = VARIANTS[name]
        outs = []
        for count in (small, large):
            out = keep / f"callgrind.{name}.{count}.out"
            outs.append(out)
            if reuse and out.is_file():
                continue
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                 sys.executable, os.path.abspath(__file__), name, str(count)],
                check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        calls = large - small
        per_call = (total_ir(outs[1]) - total_ir(outs[0])) / calls
        print(f"\n== {name}: {what}")
        print(f"   {per_call:,.0f} instructions per call ({small} vs {large} calls; "
              f"files {outs[1]})")
        a, b = annotate(outs[0]), annotate(outs[1])
        rows = []
        for fn in set(a) | set(b):
            d = (b.get(fn, 0) - a.get(fn, 0)) / calls
            if d > per_call * 0.02:
                rows.append((d, fn))
        rows.sort(reverse=True)
        print("   inclusive instructions per call, by function (top entries):")
        shown = 0
        for d, fn in rows:
            if d >= per_call * 0.98:  # the callers every call runs under (main, eval loop)
                continue
            print(f"   {d:>12,.0f}  {100 * d / per_call:5.1f}%  {short(fn)}")
            shown += 1
            if shown >= top:
                break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callgrind", action="store_true",
                        help="profile the named variants (default: all) under callgrind")
    parser.add_argument("--top", type=int, default=30, help="functions to print per variant")
    parser.add_argument("--out", default=None,
                        help="where to keep the callgrind.out files (default: a temporary dir)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --out: annotate callgrind.out files already there instead of "
                             "running valgrind again")
    parser.add_argument("args", nargs="*")
    args = parser.parse_args()
    if args.callgrind:
        names = args.args or list(VARIANTS)
        unknown = [n for n in names if n not in VARIANTS]
        if unknown:
            parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
        keep = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mm-callgrind-"))
        callgrind(names, args.top, keep, args.reuse)
        return 0
    if len(args.args) != 2:
        parser.error("usage: profile_hot_path.py VARIANT COUNT  (or --callgrind [VARIANT ...])")
    work = Path(tempfile.mkdtemp(prefix="mm-prof-"))
    try:
        run_variant(args.args[0], int(args.args[1]), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

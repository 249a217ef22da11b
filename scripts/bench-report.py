#!/usr/bin/env python3
"""Prints the target P1, P4, P5, P6 and P7 ratios (and the change feed's costs) of the last
`cargo bench --bench store` run.

Reads criterion's ``target/criterion/**/new/{benchmark,estimates}.json`` (the median point
estimate of each benchmark, in nanoseconds) and prints, as Markdown tables:

- P1 strict, N = 1,000 and 10,000: each resolve variant / a bare ``PRAGMA data_version``
  (target <= 1.3); P1 bounded: each / a ``HashMap<String, _>`` lookup (target <= 5). Judged on
  the paired measurement ``benches/store.rs`` writes to ``target/criterion/paired.json``
  (reference and variant alternating in short blocks in one loop, the median of the per-round
  ratios), which a change of load on a shared machine cannot skew; criterion's own medians of
  ``p1_strict/N/*`` and ``p1_bounded/N/*``, measured one after another, are printed too, for
  reference;
- P4: 10,000 x ``p4/rusqlite_upsert_commit_10000`` (one plain committed upsert per row, the
  backend's way) / ``p4/legacy_import_10000`` (target >= 100x), and the durable upsert against
  the rusqlite one (target <= 1: "no slower"), judged on the paired
  ``p4/durable_upsert_vs_rusqlite`` (the two alternate call by call, so a slow minute of the
  disk's fsync cannot land on one only); criterion's ratio is printed for reference;
- P4 with the change feed in place: the legacy import / SQLite's floor (the same rows prebuilt,
  inserted in one transaction; target <= 3), paired ``p4/legacy_import_vs_floor`` and
  criterion's ``p4/sqlite_floor_insert_10000``;
- P5: ``p5/open/10000`` (target <= 50 ms);
- P6 (Rust side): ``p6_busy/N/resolve_after_host_commit``, a strict resolve after the host
  committed a row to an unrelated table / the same on a quiet database (target <= 4); the
  commit itself is not timed in it (its median is printed); two references split it: the
  same after the host's commit with ``synchronous=OFF``, and after an fsync of another file;
- P7: ``p7_refresh/*``, a full reload's next resolve / the next resolve after one change
  (target >= 50, i.e. <= 1/50);
- the change feed: ``feed_write/*`` (the backend's upsert with the triggers / without + one
  extra row insert, target <= 1; / without, for reference) and ``feed_read/*`` (a resolve with
  the feed / without, threshold chosen here <= 1.1);
- the other reads (``reads/N/*``) and ``p4/bulk_import_10000`` for reference.

Every ratio is between two measurements of the same run. Usage::

    cargo bench --bench store && python3 scripts/bench-report.py [--criterion-dir DIR]

Exit status: 0 when the numbers were found and printed (met or missed); 1 when a benchmark the
report needs is missing; with ``--check``, also 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

SIZES = (1000, 10000)
P1_STRICT_MAX = 1.3
P1_BOUNDED_MAX = 5.0
P4_MIN = 100.0
P5_MAX_NS = 50e6
P4_ROWS = 10_000
P4_FLOOR_MAX = 3.0
P6_QUIET_MAX = 4.0
P7_MIN = 50.0
FEED_WRITE_MAX = 1.0
FEED_READ_MAX = 1.1


def load(criterion_dir: Path) -> Dict[str, float]:
    """full_id ("p1_strict/1000/resolve_hit") -> median point estimate in ns."""
    medians: Dict[str, float] = {}
    for bench_file in criterion_dir.glob("**/new/benchmark.json"):
        estimates_file = bench_file.with_name("estimates.json")
        if not estimates_file.is_file():
            continue
        try:
            full_id = json.loads(bench_file.read_text())["full_id"]
            median = json.loads(estimates_file.read_text())["median"]["point_estimate"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"bench-report: skipping {bench_file.parent}: {exc}", file=sys.stderr)
            continue
        medians[full_id] = float(median)
    return medians


def fmt_time(ns: float) -> str:
    if ns >= 1e9:
        return f"{ns / 1e9:.3f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


class Report:
    def __init__(self, medians: Dict[str, float]) -> None:
        self.m = medians
        self.missing: List[str] = []
        self.missed: List[str] = []

    def get(self, full_id: str) -> Optional[float]:
        value = self.m.get(full_id)
        if value is None:
            self.missing.append(full_id)
        return value

    def variants(self, group: str, baseline: str) -> List[str]:
        prefix = group + "/"
        return sorted(
            k[len(prefix):]
            for k in self.m
            if k.startswith(prefix) and "/" not in k[len(prefix):] and k[len(prefix):] != baseline
        )

    def p1(self, kind: str, baseline: str, limit: float, label: str) -> None:
        """Criterion's medians, measured one benchmark after another (for reference: P1 is
        judged on the paired measurement, which a change of load cannot skew)."""
        print(f"\n### P1 {kind}, criterion (sequential, reference): resolve_model_key / {baseline} "
              f"(target ≤ {limit:g}×)\n")
        print(f"| N | benchmark | median | {baseline} | ratio | target |")
        print("|---:|---|---:|---:|---:|---|")
        for n in SIZES:
            group = f"p1_{kind}/{n}"
            base = self.get(f"{group}/{baseline}")
            names = self.variants(group, baseline)
            if base is None or not names:
                if not names:
                    self.missing.append(f"{group}/resolve_*")
                continue
            for name in names:
                value = self.m[f"{group}/{name}"]
                ratio = value / base
                ok = ratio <= limit
                print(
                    f"| {n:,} | {name} | {fmt_time(value)} | {fmt_time(base)} | "
                    f"{ratio:.2f}× | {verdict(ok)} (≤ {limit:g}×) |"
                )

    def p1_paired(self, paired: Dict[str, Any]) -> None:
        """P1 judged on the paired measurement (reference and variant alternating in one loop)."""
        for kind, baseline, limit in (("strict", "pragma_data_version", P1_STRICT_MAX),
                                      ("bounded", "hashmap_lookup", P1_BOUNDED_MAX)):
            print(f"\n### P1 {kind}, paired: resolve_model_key / {baseline} alternating in one loop "
                  f"(target ≤ {limit:g}×)\n")
            print(f"| N | benchmark | resolve | {baseline} | ratio (median of rounds) | target |")
            print("|---:|---|---:|---:|---:|---|")
            for n in SIZES:
                prefix = f"p1_{kind}/{n}/"
                names = sorted(k for k in paired if k.startswith(prefix))
                if not names:
                    self.missing.append(f"paired {prefix}*")
                for k in names:
                    r = paired[k]
                    ok = r["ratio"] <= limit
                    if not ok:
                        self.missed.append(f"P1 {kind} {n} {k[len(prefix):]} (paired): "
                                           f"{r['ratio']:.2f}× > {limit:g}×")
                    print(f"| {n:,} | {k[len(prefix):]} | {fmt_time(r['variant_ns'])} | "
                          f"{fmt_time(r['baseline_ns'])} | {r['ratio']:.2f}× | "
                          f"{verdict(ok)} (≤ {limit:g}×) |")

    def p4(self, paired: Dict[str, Any]) -> None:
        print(f"\n### P4: legacy import of {P4_ROWS:,} entries vs {P4_ROWS:,} committed upserts "
              f"(target ≥ {P4_MIN:g}×); one durable upsert vs a plain one (target ≤ 1×)\n")
        upsert = self.get("p4/durable_upsert_10000")
        raw = self.get("p4/rusqlite_upsert_commit_10000")
        legacy = self.get("p4/legacy_import_10000")
        bulk = self.m.get("p4/bulk_import_10000")
        print("| benchmark | median |")
        print("|---|---:|")
        if raw is not None:
            print(f"| rusqlite_upsert_commit_10000 (plain INSERT ... ON CONFLICT + COMMIT, WAL, "
                  f"synchronous=FULL: the backend's per-row way) | {fmt_time(raw)} |")
            print(f"| {P4_ROWS:,} × rusqlite_upsert_commit_10000 | {fmt_time(raw * P4_ROWS)} |")
        if upsert is not None:
            print(f"| durable_upsert_10000 (Store::upsert, synchronous=FULL) | {fmt_time(upsert)} |")
        if legacy is not None:
            print(f"| legacy_import_10000 (open a fresh store with the storage dir) | {fmt_time(legacy)} |")
        if bulk is not None:
            print(f"| bulk_import_10000 (import_items, one transaction) | {fmt_time(bulk)} |")
        print()
        if raw is not None and legacy is not None:
            speedup = raw * P4_ROWS / legacy
            ok = speedup >= P4_MIN
            if not ok:
                self.missed.append(f"P4 import: {speedup:.0f}× < {P4_MIN:g}×")
            print(f"P4 import speed-up, {P4_ROWS:,} × rusqlite_upsert_commit / legacy_import: "
                  f"**{speedup:,.1f}×** — {verdict(ok)} (≥ {P4_MIN:g}×)")
        if upsert is not None and legacy is not None:
            print(f"(for reference, {P4_ROWS:,} × the library's own durable_upsert / legacy_import: "
                  f"{upsert * P4_ROWS / legacy:,.1f}×)")
        pair = paired.get("p4/durable_upsert_vs_rusqlite")
        if pair is None:
            self.missing.append("paired p4/durable_upsert_vs_rusqlite")
        else:
            ratio = pair["ratio"]
            ok = ratio <= 1.0
            if not ok:
                self.missed.append(f"P4 durable upsert (paired): {ratio:.2f}× a plain upsert > 1×")
            print(f"\nP4 durable upsert, paired ({pair['rounds']} rounds, one call of each per "
                  f"round, order flipped every round): Store::upsert "
                  f"{fmt_time(pair['variant_ns'])} / rusqlite upsert+commit "
                  f"{fmt_time(pair['baseline_ns'])} = **{ratio:.2f}×** (median of per-round "
                  f"ratios) — {verdict(ok)} (≤ 1×, \"no slower\")")
        if upsert is not None and raw is not None:
            print(f"(criterion, sequential, for reference: durable_upsert / rusqlite_upsert_commit "
                  f"= {upsert / raw:.2f}×)")

    def p4_floor(self, paired: Dict[str, Any]) -> None:
        print(f"\n### P4 with the change feed in place: legacy import vs SQLite's floor "
              f"(target ≤ {P4_FLOOR_MAX:g}×)\n")
        floor = self.get("p4/sqlite_floor_insert_10000")
        legacy = self.m.get("p4/legacy_import_10000")
        if floor is not None and legacy is not None:
            print(f"criterion (sequential): legacy_import_10000 {fmt_time(legacy)} / "
                  f"sqlite_floor_insert_10000 {fmt_time(floor)} = {legacy / floor:.2f}×")
        pair = paired.get("p4/legacy_import_vs_floor")
        if pair is None:
            self.missing.append("paired p4/legacy_import_vs_floor")
            return
        ok = pair["ratio"] <= P4_FLOOR_MAX
        if not ok:
            self.missed.append(f"P4 import vs floor (paired): {pair['ratio']:.2f}× > {P4_FLOOR_MAX:g}×")
        print(f"\nPaired ({pair['rounds']} rounds, one of each, order flipped): legacy import "
              f"{fmt_time(pair['variant_ns'])} / floor {fmt_time(pair['baseline_ns'])} = "
              f"**{pair['ratio']:.2f}×** — {verdict(ok)} (≤ {P4_FLOOR_MAX:g}×)")

    def paired_rows(self, paired: Dict[str, Any], title: str, rows: List[Tuple[str, str, str,
                                                                               str, Any]]) -> None:
        """rows: (key, variant label, baseline label, op, limit); the ratio is variant/baseline
        (op "<=") or its inverse, baseline/variant (op ">=")."""
        print(f"\n### {title}\n")
        print("| measurement | variant | baseline | ratio (median of rounds) | target |")
        print("|---|---:|---:|---:|---|")
        for key, vlabel, blabel, op, limit in rows:
            r = paired.get(key)
            if r is None:
                self.missing.append(f"paired {key}")
                continue
            ratio = r["ratio"] if op == "<=" else 1.0 / r["ratio"]
            shown = f"{ratio:.3f}×" if ratio < 100 else f"{ratio:,.0f}×"
            if limit is None:
                target = "(reference)"
            else:
                ok = ratio <= limit if op == "<=" else ratio >= limit
                if not ok:
                    self.missed.append(f"{key}: {shown} (target {op} {limit:g}×)")
                target = f"{verdict(ok)} ({'≤' if op == '<=' else '≥'} {limit:g}×)"
            print(f"| {key} ({vlabel} / {blabel}{'' if op == '<=' else ', inverted'}) | "
                  f"{fmt_time(r['variant_ns'])} | {fmt_time(r['baseline_ns'])} | {shown} | {target} |")

    def feed(self, paired: Dict[str, Any]) -> None:
        rows = []
        for n in SIZES:
            rows.append((f"p6_busy/{n}/resolve_after_host_commit", "resolve after a host commit",
                         "resolve, quiet", "<=", P6_QUIET_MAX))
            rows.append((f"p6_busy/{n}/resolve_after_host_commit_without_fsync",
                         "resolve after a host commit with synchronous=OFF", "resolve, quiet",
                         "<=", None))
            rows.append((f"p6_busy/{n}/resolve_after_unrelated_fsync",
                         "resolve after an fsync of another file, no commit", "resolve, quiet",
                         "<=", None))
        self.paired_rows(paired, "P6 busy host (Rust): strict resolve after the host commits one "
                         "row to an unrelated table / on a quiet database (only the resolve timed)",
                         rows)
        for n in SIZES:
            c = paired.get(f"p6_busy/{n}/host_commit")
            if c is not None:
                print(f"\nN = {n:,}: the host's commit itself (untimed step): median "
                      f"{fmt_time(c['median_ns'])} over {c['samples']} commits")
        self.paired_rows(paired, "P7 incremental refresh (Rust, 10,000 mappings): the next "
                         "resolve after a full reload / after one change (target ≥ 50×, i.e. "
                         "≤ 1/50 of a full reload)", [
                             ("p7_refresh/one_mapping_vs_full_reload", "one mapping changed",
                              "full reload", ">=", P7_MIN),
                             ("p7_refresh/blocked_list_vs_full_reload", "blocked list changed",
                              "full reload", ">=", P7_MIN),
                         ])
        self.paired_rows(paired, "Change feed (Rust): the backend's upsert with the triggers / "
                         "without them, and / without them plus one extra row insert", [
                             ("feed_write/durable_upsert_triggers_vs_none", "triggers", "none",
                              "<=", None),
                             ("feed_write/durable_upsert_triggers_vs_one_extra_insert", "triggers",
                              "none + one insert", "<=", FEED_WRITE_MAX),
                             ("feed_write/nosync_upsert_triggers_vs_none", "triggers", "none",
                              "<=", None),
                             ("feed_write/nosync_upsert_triggers_vs_one_extra_insert", "triggers",
                              "none + one insert", "<=", FEED_WRITE_MAX),
                         ])
        self.paired_rows(paired, "Change feed (Rust): history and the resolve path (threshold "
                         f"chosen here: ≤ {FEED_READ_MAX:g}×, 'nothing' with noise allowance)", [
                             ("feed_read/quiet_resolve_feed_vs_none", "feed + 10,000 history",
                              "feed dropped", "<=", FEED_READ_MAX),
                             ("feed_read/quiet_resolve_feed_vs_feed_aa_control", "feed",
                              "feed, another copy (A/A control)", "<=", None),
                             ("feed_read/busy_resolve_history_vs_empty_log",
                              "10,000 history, busy", "empty log, busy", "<=", FEED_READ_MAX),
                         ])

    def p5(self) -> None:
        print(f"\n### P5: open a store on 10,000 rows (target ≤ {P5_MAX_NS / 1e6:g} ms)\n")
        value = self.get("p5/open/10000")
        if value is None:
            return
        ok = value <= P5_MAX_NS
        if not ok:
            self.missed.append(f"P5 open: {fmt_time(value)} > 50 ms")
        print(f"p5/open/10000: **{fmt_time(value)}** — {verdict(ok)} (≤ 50 ms)")

    def reads(self) -> None:
        rows = []
        for n in SIZES:
            prefix = f"reads/{n}/"
            for k in sorted(self.m):
                if k.startswith(prefix):
                    rows.append((n, k[len(prefix):], self.m[k]))
        if not rows:
            return
        print("\n### Other reads (reference, no target)\n")
        print("| N | benchmark | median |")
        print("|---:|---|---:|")
        for n, name, value in rows:
            print(f"| {n:,} | {name} | {fmt_time(value)} |")


def main(argv: Optional[List[str]] = None) -> int:
    root = Path(__file__).resolve().parent.parent
    default_dir = Path(os.environ.get("CARGO_TARGET_DIR", root / "target")) / "criterion"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--criterion-dir", type=Path, default=default_dir,
                        help=f"criterion's output directory (default: {default_dir})")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (benchmarks are not tests: off by default)")
    args = parser.parse_args(argv)

    medians = load(args.criterion_dir)
    if not medians:
        print(f"bench-report: no criterion results under {args.criterion_dir}; "
              "run `cargo bench --bench store` first", file=sys.stderr)
        return 1
    report = Report(medians)
    print(f"## Rust benchmarks (criterion medians, {args.criterion_dir})")
    paired_file = args.criterion_dir / "paired.json"
    try:
        paired = json.loads(paired_file.read_text())["results"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"bench-report: no paired results ({paired_file}: {exc})", file=sys.stderr)
        report.missing.append(str(paired_file))
        paired = {}
    if paired:
        report.p1_paired(paired)
    report.p1("strict", "pragma_data_version", P1_STRICT_MAX, "strict")
    report.p1("bounded", "hashmap_lookup", P1_BOUNDED_MAX, "bounded")
    report.p4(paired)
    report.p4_floor(paired)
    report.p5()
    report.feed(paired)
    report.reads()
    print()
    if report.missed:
        print("Targets missed: " + "; ".join(report.missed))
    else:
        print("All targets reported here are met.")
    if report.missing:
        print("bench-report: missing benchmarks: " + ", ".join(report.missing), file=sys.stderr)
        return 1
    return 1 if (args.check and report.missed) else 0


if __name__ == "__main__":
    sys.exit(main())

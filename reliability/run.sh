#!/usr/bin/env bash
# The reliability suite (target R1-R7, B11/B14 fuzz, B16 fork): see reliability/README.md.
#
#   bash reliability/run.sh [--quick|--full] [--only R1,R3,...] [--keep]
#
# --quick (the default; what scripts/test-all.sh runs in CI): every scenario at small sizes, a few
#         seconds each. --full: the sizes of targets R1-R5 (R1 30 s, R2 100,000-entry migration and
#         20+20 kills, R3 200 MB file) plus R5, the Python test suite under valgrind (minutes).
# Needs the .venv that scripts/test-python.sh creates (the binding installed, aiosqlite).
# Exit status: 0 when every scenario passed, 1 when one failed, 2 when the setup is missing.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/reliability"

mode=quick
only=""
keep=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) mode=quick ;;
        --full) mode=full ;;
        --only) only="${2:-}"; shift ;;
        --only=*) only="${1#--only=}" ;;
        --keep) keep=(--keep) ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

PY="${PYTHON:-$ROOT/.venv/bin/python}"
if [ ! -x "$PY" ]; then
    echo "run.sh: $PY not found: run 'bash scripts/test-python.sh' first (it creates .venv and installs the binding)" >&2
    exit 2
fi
if ! "$PY" -c "import model_mapping, aiosqlite" 2>/dev/null; then
    echo "run.sh: $PY cannot import model_mapping and aiosqlite: run 'bash scripts/test-python.sh' first" >&2
    exit 2
fi

# name, script, per-scenario timeout (quick, full)
scenarios=(
    "R1 r1_load.py 300 900"
    "R2 r2_crash.py 300 1800"
    "R3 r3_legacy_files.py 300 1800"
    "R4 r4_bad_db.py 300 900"
    "FORK fork.py 120 300"
    "FORKLOSS fork_loss.py 600 1800"
    "FUZZ fuzz_batch.py 120 600"
    "R6 r6_reads_never_wait.py 120 300"
    "R7 r7_feed_abuse.py 300 1200"
)
if [ "$mode" = full ]; then
    scenarios+=("R5 r5_valgrind.py 0 7200")
fi

echo "reliability suite, $mode mode: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - <<'EOF'
import sqlite3, sys
import model_mapping
from model_mapping import _ffi
print(f"python {sys.version.split()[0]} ({sys.executable}); model_mapping {model_mapping.version()} from {_ffi.lib._name}; "
      f"SQLite {model_mapping.sqlite_version()} (python's sqlite3: {sqlite3.sqlite_version}); uid {__import__('os').geteuid()}")
EOF

declare -a results=()
failed=0
for entry in "${scenarios[@]}"; do
    read -r name script quick_limit full_limit <<<"$entry"
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then
        continue
    fi
    limit=$quick_limit
    [ "$mode" = full ] && limit=$full_limit
    printf '\n==== %s (%s, %s mode, time limit %ss)\n' "$name" "$script" "$mode" "$limit"
    start=$(date +%s)
    timeout --signal=KILL "$limit" "$PY" "$HERE/$script" "--$mode" "${keep[@]}"
    status=$?
    took=$(( $(date +%s) - start ))
    case $status in
        0) verdict=PASS ;;
        137) verdict="FAIL (killed after the ${limit}s limit)"; failed=1 ;;
        *) verdict="FAIL (exit $status)"; failed=1 ;;
    esac
    results+=("$(printf '%-5s %-32s %5ss' "$name" "$verdict" "$took")")
done

printf '\n==== reliability summary (%s mode)\n' "$mode"
printf '%s\n' "${results[@]}"
exit $failed

"""Shared helpers of the reliability scenarios (target R1-R7).

Every scenario is a script run by ``reliability/run.sh`` with ``--quick`` or ``--full``. It prints
what it did and what it found (counts), one line per finding, and ends with one verdict line
``<NAME> PASS: ...`` or ``<NAME> FAIL: ...`` (exit status 0 or 1). A check that cannot run here
prints ``SKIPPED: <why>`` and never counts as a pass of that check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


class Scenario:
    """Collects findings and failures of one scenario and prints its verdict."""

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.failures: List[str] = []
        self.skipped: List[str] = []
        self.started = time.monotonic()
        parser = argparse.ArgumentParser(description=description)
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--quick", action="store_true", help="CI sizes (the default)")
        group.add_argument("--full", action="store_true", help="the sizes of targets R1-R5")
        parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
        self.parser = parser

    def parse(self, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
        args = self.parser.parse_args(argv)
        self.full = bool(args.full)
        self.mode = "full" if self.full else "quick"
        self.keep = bool(args.keep)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"mm-{self.name.lower()}-"))
        # Readable by an unprivileged user, for the scenarios that drop privileges.
        os.chmod(self.tmp, 0o755)
        self.say(f"mode {self.mode}, temporary directory {self.tmp}, pid {os.getpid()}")
        return args

    def say(self, text: str) -> None:
        print(f"[{self.name}] {text}", flush=True)

    def check(self, ok: bool, what: str) -> bool:
        """Records one pass criterion: prints ``ok``/``FAIL`` with the finding."""
        self.say(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            self.failures.append(what)
        return ok

    def skip(self, what: str) -> None:
        self.say("SKIPPED: " + what)
        self.skipped.append(what)

    def finish(self, summary: str) -> None:
        elapsed = time.monotonic() - self.started
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        skipped = f"; {len(self.skipped)} check(s) SKIPPED" if self.skipped else ""
        if self.failures:
            print(
                f"{self.name} FAIL: {len(self.failures)} criterion(s) failed ({elapsed:.1f} s): "
                + " | ".join(self.failures),
                flush=True,
            )
            sys.exit(1)
        print(f"{self.name} PASS: {summary}{skipped} ({elapsed:.1f} s)", flush=True)
        sys.exit(0)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: Path) -> Dict[str, Any]:
    """What must not change about a file: bytes, inode, mtime, size, mode (or the listing of a
    directory)."""
    st = os.lstat(path)
    out: Dict[str, Any] = {
        "inode": st.st_ino,
        "mtime_ns": st.st_mtime_ns,
        "size": st.st_size,
        "mode": oct(st.st_mode),
    }
    if stat.S_ISDIR(st.st_mode):
        out["listing"] = sorted(os.listdir(path))
    elif stat.S_ISREG(st.st_mode):  # never open a FIFO (it waits for a writer) or a device
        try:
            out["sha256"] = sha256(Path(path))
        except PermissionError:
            out["sha256"] = "unreadable-by-harness"
    return out


def listing(directory: Path) -> List[str]:
    return sorted(os.listdir(directory))


def python_env() -> Dict[str, str]:
    """The environment for child Python processes: the binding as installed in the venv."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def last_json_line(text: str) -> Optional[Any]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


class NoPrompts:
    """The least ``ai_service`` the drop-in takes (its prompt records); no prompt is resolved
    in the scenarios that use it."""

    def get_prompt(self, prompt_id: Any) -> Any:
        raise LookupError(prompt_id)

    def update_prompt(self, prompt_id: Any, payload: Any) -> Any:
        raise LookupError(prompt_id)

    def list_prompts(self, *, page: int, page_size: int) -> Any:
        return [], 0

"""`mypy --strict` on a user's script passes, and the result types catch a wrong use
(`model: int = r["resolved_model"]`). Skipped where mypy is not installed (the test script
installs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent  # bindings/python: the package as the tests import it


def _mypy(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
         "--cache-dir", str(tmp_path / "cache"), str(path)],
        capture_output=True, text=True, cwd=PACKAGE_ROOT, timeout=600,
    )


def test_a_user_script_passes_mypy_strict(tmp_path):
    r = _mypy(HERE / "typecheck" / "user_script.py", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_result_types_catch_a_wrong_use(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from model_mapping import Store\n"
        "def f(s: Store) -> None:\n"
        "    r = s.resolve_model_key('xai')\n"
        "    model: int = r['resolved_model']\n"
        "    s.resolve_for_message('7')\n"
    )
    r = _mypy(bad, tmp_path)
    assert r.returncode == 1
    assert 'Incompatible types in assignment (expression has type "str | None"' in r.stdout, r.stdout
    assert "Too many positional arguments" in r.stdout, r.stdout

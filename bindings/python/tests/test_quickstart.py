"""The Python quickstart runs and resolves what the sample data says it should."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO_ROOT

QUICKSTART = REPO_ROOT / "examples" / "python" / "quickstart.py"


def test_quickstart_runs(tmp_path):
    db = tmp_path / "quick.db"
    storage = tmp_path / "storage"
    import shutil

    shutil.copytree(REPO_ROOT / "examples" / "data" / "ai_runtime", storage)
    before = {p.name: p.read_bytes() for p in storage.iterdir()}
    r = subprocess.run(
        [sys.executable, str(QUICKSTART), str(db), str(storage)],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert '"status": "imported"' in out
    lines = {line.split("->")[0].strip(): line.split("->", 1)[1].strip() for line in out.splitlines() if "->" in line}
    xai = json.loads(lines["xai"])
    assert xai["resolved_model"] == "grok-3" and xai["hit"] is True  # grok-4 is blocked
    assert json.loads(lines["mapping:claude"])["resolved_model"] == "claude-sonnet-4-5"
    assert json.loads(lines["tenant:deepseek"])["resolved_model"] == "deepseek-reasoner"  # blocked default
    assert json.loads(lines["llama3:8b"]) == {"resolved_model": "llama3:8b", "hit": False}
    assert json.loads(lines["prompt:1"])["scope_type"] == "prompt"
    assert json.loads(lines["user 42"])["model"] == "claude-opus-4-5-20251101"
    assert json.loads(lines["user 7, key xai"])["model"] == "grok-3"
    assert json.loads(lines["user 7, prompt 1"])["hit"]["source"] == "prompt"
    assert "reopened: migration status already_done" in out
    # The legacy files are never modified (only the marker file is added).
    for name, data in before.items():
        assert (storage / name).read_bytes() == data

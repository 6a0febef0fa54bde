"""`dvc status` stays clean when only Python's byte-code caches changed: a stage whose deps name a
code directory (serve/contract, serve/core) must not rerun because an import wrote __pycache__."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def dvc(cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_byte_code_caches_do_not_make_a_code_dependency_stale(tmp_path):
    shutil.copy(REPO_ROOT / ".dvcignore", tmp_path / ".dvcignore")
    code = tmp_path / "serve" / "contract"
    code.mkdir(parents=True)
    (code / "tools.py").write_text("TOOLS = []\n")
    stage = {
        "cmd": f"{sys.executable} -c \"open('out.txt', 'w').write('x')\"",
        "deps": ["serve/contract"],
        "outs": ["out.txt"],
    }
    (tmp_path / "dvc.yaml").write_text(json.dumps({"stages": {"synthesize": stage}}))
    dvc(tmp_path, "init", "--no-scm", "-q")
    dvc(tmp_path, "repro", "-q")

    cache = code / "__pycache__"
    cache.mkdir()
    (cache / "tools.cpython-311.pyc").write_bytes(b"\x00byte code")
    assert json.loads(dvc(tmp_path, "status", "--json")) == {}

    (code / "tools.py").write_text("TOOLS = ['search_products']\n")  # a real change still counts
    assert "synthesize" in json.loads(dvc(tmp_path, "status", "--json"))

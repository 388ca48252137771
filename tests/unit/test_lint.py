"""The Python linters, as configured in pyproject.toml: ruff over the whole tree and
mypy (strict) over the core. Their output is the failure message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing():
    checked = run("ruff", "check", "--output-format", "concise", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_mypy_finds_nothing_in_the_core():
    checked = run("mypy")
    assert checked.returncode == 0, checked.stdout + checked.stderr

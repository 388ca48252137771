"""eslint (eslint.config.mjs) finds nothing in the page's, the workers' and the service
worker's JavaScript."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"


def test_eslint_reports_nothing():
    if not ESLINT.exists():
        pytest.skip("node_modules/.bin/eslint is missing: run `npm ci` (build.py does)")
    lint = subprocess.run([str(ESLINT), "--max-warnings", "0", "web", "service_worker.js"],
                          cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr

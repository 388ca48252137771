"""The scikit-image and PyWavelets wheels that the build ships, checked inside Pyodide.

wasm/check_in_node.mjs loads dist/pyodide's packages in Pyodide under Node.js the way
the page does, imports every compiled module and compares each module the app uses
with CPython running the official wheels (tolerances are in wasm/skimage_checks.py).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import require_classical_in_page

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_skimage_modules_run_in_pyodide_like_cpython(site):
    require_classical_in_page(json.loads((ROOT / "dist" / "build.json").read_text()))
    out = subprocess.run(["node", str(ROOT / "wasm" / "check_in_node.mjs"), "--ref-python", sys.executable],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report[-4000:]
    imports = re.search(r"imports: (\d+)/(\d+) compiled modules import", report)
    assert imports and imports[1] == imports[2] and int(imports[2]) >= 58, report[-4000:]
    summary = re.search(r"^(\d+) passed, (\d+) failed$", report, re.M)
    assert summary and summary[2] == "0" and int(summary[1]) >= 60, report[-4000:]

"""Darkroom's site build, one module per job; ``python build.py`` runs it.

- ``assemble``: dist/ itself (app archive, web files, build.json, service worker)
- ``pyodide_files``: Pyodide's core, its verified wheels and the interpreter's snapshot
- ``model_files``: the verified model files and their manifest
- ``icons``: the web manifest's PNG icons
- ``server``: the static server with the headers the page needs
"""

import sys
from pathlib import Path

# The build shares the CLI's code (model manifest, tool catalog): this checkout's
# darkroom, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "py"))

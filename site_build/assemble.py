"""``dist/`` as a whole: ``build()`` runs every job in order and adds what ties their
files together: the app archive, the web files, ``build.json``, the service worker and
the static hosts' header configs."""

from __future__ import annotations

import hashlib
import html
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

from darkroom.engine import early_start
from darkroom.models import ModelSpec, sha256_file
from darkroom.tools import catalog, registry
from site_build.common import DIST, NODE_MODULES, ROOT, log
from site_build.headers import HEADERS, META_CONTENT_SECURITY_POLICY
from site_build.icons import write_icons
from site_build.model_files import copy_models
from site_build.pyodide_files import PYODIDE_CORE, copy_pyodide, lock_closure, python_snapshot

WEB = ROOT / "web"
# Static hosts that read their header rules from the site itself (Netlify and Cloudflare
# Pages, Vercel); deploy/ also holds the nginx and Caddy snippets, which live elsewhere.
HOST_CONFIGS = ("_headers", "vercel.json")
# WASM sessions use the plain build; WebGPU sessions load the asyncify build on first use.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
             "ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm")


def ensure_node_modules() -> None:
    """`npm ci` when node_modules is missing or older than the lockfile."""
    stamp = NODE_MODULES / ".package-lock.json"
    if stamp.is_file() and stamp.stat().st_mtime >= (ROOT / "package-lock.json").stat().st_mtime:
        return
    log("npm ci")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)


def copy_ort() -> None:
    """onnxruntime-web's files the model worker loads, into a clean ``dist/ort``."""
    shutil.rmtree(DIST / "ort", ignore_errors=True)
    (DIST / "ort").mkdir()
    for name in ORT_FILES:
        shutil.copy2(NODE_MODULES / "onnxruntime-web" / "dist" / name, DIST / "ort" / name)


def package_app() -> str:
    """Zip the darkroom package (named by its content hash, so caches never go stale)."""
    files = sorted(p for p in (ROOT / "py").rglob("*.py") if "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(ROOT / "py")).encode() + path.read_bytes())
    name = f"py/darkroom-{digest.hexdigest()[:12]}.zip"
    (DIST / "py").mkdir(parents=True, exist_ok=True)
    for old in (DIST / "py").glob("darkroom-*.zip"):
        old.unlink()
    with zipfile.ZipFile(DIST / name, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, path.relative_to(ROOT / "py"))
    return name


def copy_web_files() -> list[str]:
    """Copy every file under web/ into dist/; returns their paths relative to web/, sorted."""
    names = sorted(p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file())
    for name in names:
        (DIST / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(WEB / name, DIST / name)
    # The first visit comes before the service worker that adds the policy header, so
    # the page carries the policy too, as far as a <meta> tag can.
    page = DIST / "index.html"
    page.write_text(page.read_text().replace("__CONTENT_SECURITY_POLICY__", html.escape(META_CONTENT_SECURITY_POLICY)))
    return names


def copy_host_configs() -> None:
    """The header configs that static hosts read from the site, from deploy/ into dist/."""
    for name in HOST_CONFIGS:
        shutil.copy2(ROOT / "deploy" / name, DIST / name)


def hash_build(shipped: list, web_files: list[str]) -> str:
    """Twelve hex digits that change whenever what the page loads changes.

    Parameters
    ----------
    shipped : list
        JSON-able names of what ships; the hashed or versioned ones stand for their bytes.
    web_files : list of str
        The web files, whose bytes are hashed (their names do not change with them).
    """
    digest = hashlib.sha256(json.dumps(shipped).encode() + b"".join((WEB / n).read_bytes() for n in web_files))
    return digest.hexdigest()[:12]


def early_starts(shipped: dict[str, ModelSpec]) -> dict:
    """Per tool, the model the page may load and run before Python is ready (engine.early_start)."""
    return {tool.id: hint for tool in registry().values() if (hint := early_start(tool, shipped))}


def boot_files(app_archive: str, packages: list[str], snapshot: Path | None) -> dict:
    """The files the Python worker needs before it is ready, with sizes for its progress
    bar: ``core``, what ``loadPyodide`` reads (with the interpreter's snapshot), and
    ``packages``, what it loads next (the wheels and the app archive), fetched while
    Pyodide starts."""
    lock = json.loads((DIST / "pyodide" / "pyodide-lock.json").read_text())
    core = [DIST / "pyodide" / name for name in PYODIDE_CORE if name != "pyodide-lock.json"]
    core += [snapshot] if snapshot else []
    wheels = [DIST / "pyodide" / lock["packages"][name]["file_name"] for name in lock_closure(lock, tuple(packages))]
    return {"core": _served(core), "packages": _served([*wheels, DIST / app_archive])}


def described(path: Path | None) -> dict | None:
    """A file of dist/ as the page fetches and verifies it: ``{"url", "bytes", "sha256"}``."""
    if path is None:
        return None
    return {**_served([path])[0], "sha256": sha256_file(path)}


def _served(paths: list[Path]) -> list[dict]:
    """Files of dist/ as the page fetches them: ``{"url", "bytes"}``."""
    return [{"url": "./" + p.relative_to(DIST).as_posix(), "bytes": p.stat().st_size} for p in paths]


def write_service_worker(build_id: str, web_files: list[str]) -> None:
    """The service worker, keyed by ``build_id``, precaching the app shell (page and icons)
    and adding the headers the page needs to what it serves."""
    icons = [f"./icons/{p.name}" for p in sorted((DIST / "icons").glob("*.png"))]
    shell = ["./"] + [f"./{name}" for name in web_files] + icons
    service_worker = (ROOT / "service_worker.js").read_text().replace("__BUILD_ID__", build_id)
    service_worker = service_worker.replace("__PRECACHE__", json.dumps(shell))
    service_worker = service_worker.replace("__HEADERS__", json.dumps(HEADERS, indent=2))
    (DIST / "service_worker.js").write_text(service_worker)


def build(wheel_dir: Path | None = None, optional_models: bool = False) -> Path:
    """Build ``dist/`` from this checkout; returns its path.

    Parameters
    ----------
    wheel_dir : Path, optional
        A folder of Pyodide wheels to try first (each is still verified).
    optional_models : bool
        Also ship the optional models.
    """
    ensure_node_modules()
    DIST.mkdir(exist_ok=True)
    packages, classical_in_page = copy_pyodide(wheel_dir)
    snapshot = python_snapshot()
    copy_ort()
    shipped = {spec.id: spec for spec in copy_models(optional_models)}
    app_archive = package_app()
    web_files = copy_web_files()
    copy_host_configs()
    write_icons()
    build_id = hash_build([app_archive, packages, list(shipped), snapshot and snapshot.name, HEADERS], web_files)
    info = {"build": build_id, "appArchive": app_archive, "pyodidePackages": packages,
            "classicalInPage": classical_in_page, "bootFiles": boot_files(app_archive, packages, snapshot),
            "pythonSnapshot": described(snapshot),
            "catalog": catalog(shipped), "earlyStart": early_starts(shipped)}
    (DIST / "build.json").write_text(json.dumps(info, indent=2))
    write_service_worker(build_id, web_files)
    log(f"dist/ ready (build {build_id}; Pyodide packages: {', '.join(packages)})")
    return DIST

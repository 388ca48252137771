"""Benchmark: every suite tool in the page (WASM, the tier headless Chromium gets) and
in the CLI (onnxruntime CPU), on a 1 MP and a 12 MP photo (or 48 MP).

    .venv/bin/python bench/suite.py [--sizes 1mp,12mp,48mp] [--cases upscale,denoise,...] [--no-cli] [--classical]

--classical runs every tool that has a model on its classical path instead. The page's
seconds a megapixel are the figures tools declare as their ``Pace``.

Prints one row per tool and size: the path and model that ran, wall time (and a
megapixel), the engine's
infer / process / classical phases, and the page's peak Chromium memory (sum of PSS).
Each page run is warm (the model is downloaded and its session created by a first,
small run). A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import build  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from site_build.common import DIST  # noqa: E402
from site_build.server import make_server  # noqa: E402
from skeleton import ChromiumMemory  # noqa: E402

SIZES = {"1mp": (1024, 1024), "12mp": (4000, 3000), "48mp": (8000, 6000)}
#: Tool, params (page and CLI alike; an explicit model keeps 12 MP upscales to minutes).
CASES = {
    "upscale": ("upscale", {"scale": "2"}),
    "upscale-slim": ("upscale", {"scale": "2", "model": "esrgan-slim-x2"}),
    "upscale-x4": ("upscale", {"scale": "4"}),
    "denoise": ("denoise", {}),
    "deblur": ("deblur", {}),
    "find-faces": ("find-faces", {}),
    "cutout": ("remove-background", {}),
    "portrait-cutout": ("remove-background", {"subject": "portrait", "output": "mask"}),
    "portrait-blur": ("portrait-blur", {}),
    "new-background": ("generate-background", {}),
    "remove-object": ("remove-object", {"mask": "painted"}),  # a block of 1 % of the photo
    "colorize": ("colorize", {}),
    "restore-faces": ("restore-faces", {}),
    "tag": ("tag", {}),
    "convert": ("convert", {"format": "webp", "quality": 80}),
}
#: remove-object's painted share of each side (10 % x 10 % = 1 % of the photo).
PAINTED_SIDE = 0.1

RUN = """async ([tool, b64, params]) => {
  const decode = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const bytes = decode(b64);
  for (const [name, value] of Object.entries(params)) {
    if (value && value.png) params[name] = new Blob([decode(value.png)], { type: "image/png" });
  }
  const started = performance.now();
  try {
    const { provenance } = await window.darkroom.run(tool, new Blob([bytes]), params);
    return { wallMs: performance.now() - started, provenance };
  } catch (err) {
    return { wallMs: performance.now() - started, error: err.message };
  }
}"""


def photo(case: str, size: tuple[int, int]) -> bytes:
    """scikit-image's astronaut resized to ``size`` and damaged as the tool expects, as JPEG."""
    from skimage import data

    pixels = np.asarray(Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC), dtype=np.float64)
    rng = np.random.default_rng(0)
    if case == "denoise":
        pixels = pixels + rng.normal(0, 20, pixels.shape)
    if case == "deblur":
        pixels = ndimage.gaussian_filter(pixels, (2, 2, 0))
    if case == "restore-faces":
        pixels = pixels + rng.normal(0, 12, pixels.shape)
    if case == "colorize":
        pixels = pixels.mean(axis=2, keepdims=True).repeat(3, axis=2)
    path = Path(tempfile.mkdtemp()) / "photo.jpg"
    Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).save(path, quality=92)
    return path.read_bytes()


def painted(size: tuple[int, int]) -> bytes:
    """remove-object's mask: a white block (``PAINTED_SIDE`` of each side) right of centre, as PNG."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    top, left = int(height * 0.2), int(width * 0.6)
    mask[top:top + int(height * PAINTED_SIDE), left:left + int(width * PAINTED_SIDE)] = 255
    path = Path(tempfile.mkdtemp()) / "mask.png"
    Image.fromarray(mask).save(path)
    return path.read_bytes()


def with_masks(params: dict, size: tuple[int, int]) -> dict:
    """``params`` with each ``"painted"`` value replaced by the mask, base64 PNG for the page."""
    return {name: {"png": base64.b64encode(painted(size)).decode()} if value == "painted" else value
            for name, value in params.items()}


def phases(provenance: dict) -> str:
    t = provenance["timings_ms"]
    return " ".join(f"{k} {t[k] / 1000:.2f}" for k in ("load", "infer", "process", "classical") if k in t)


def bench_page(page, tool: str, params: dict, jpeg: bytes) -> dict:
    with ChromiumMemory() as memory:
        reply = page.evaluate(RUN, [tool, base64.b64encode(jpeg).decode(), params])
    if "error" in reply:  # a refusal (or a failure), said in words
        return {"what": f"refused: {reply['error']}", "wall_s": reply["wallMs"] / 1000, "phases": "-",
                "peak_mb": memory.peak_mb}
    provenance = reply["provenance"]
    what = provenance["model"] or f"classical ({provenance['method']})"
    return {"what": f"{what} @{provenance['backend']}", "wall_s": reply["wallMs"] / 1000,
            "phases": phases(provenance), "peak_mb": memory.peak_mb}


def bench_cli(tool: str, params: dict, jpeg: bytes) -> dict:
    flags = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, value in params.items():
            if isinstance(value, dict):  # a mask: the CLI reads it from a file
                (Path(tmp) / f"{name}.png").write_bytes(base64.b64decode(value["png"]))
                value = Path(tmp) / f"{name}.png"
            flags += [f"--{name}", str(value)]
        suffix = f".{params['format']}" if "format" in params else ".png"
        source, target = Path(tmp) / "in.jpg", Path(tmp) / f"out{suffix}"
        source.write_bytes(jpeg)
        started = time.perf_counter()
        darkroom = ROOT / ".venv" / "bin" / "darkroom"
        out = subprocess.run([str(darkroom), tool, str(source), str(target), "--json", *flags],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - started
    provenance = json.loads(out.stdout.strip().splitlines()[-1])
    what = provenance["model"] or "classical"
    return {"what": f"{what} @{provenance['backend']}", "wall_s": wall, "phases": phases(provenance)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1mp,12mp")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--classical", action="store_true")
    args = parser.parse_args()
    from darkroom.tools import registry

    tools = registry()
    from playwright.sync_api import sync_playwright

    build.build()
    server = make_server(DIST)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print("case | size | page: what ran | wall s | s/MP | phases s | peak MB | CLI: what ran | wall s | phases s",
          flush=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(3_600_000)
        page.goto(url)
        page.evaluate("window.darkroom.ready")
        for case in args.cases.split(","):
            tool, params = CASES[case]
            if args.classical and tools[tool].run_model is not None:
                params = {**params, "classical": True}
            warm_up = with_masks(params, (64, 64))
            page.evaluate(RUN, [tool, base64.b64encode(photo(case, (64, 64))).decode(), warm_up])
            for size_name in args.sizes.split(","):
                jpeg, sized = photo(case, SIZES[size_name]), with_masks(params, SIZES[size_name])
                p = bench_page(page, tool, sized, jpeg)
                if args.no_cli:
                    c = {"what": "-", "wall_s": float("nan"), "phases": "-"}
                else:
                    c = bench_cli(tool, sized, jpeg)
                per_mp = p["wall_s"] / (SIZES[size_name][0] * SIZES[size_name][1] / 1e6)
                print(f"{case} | {size_name} | {p['what']} | {p['wall_s']:.2f} | {per_mp:.2f} | {p['phases']} | "
                      f"{p['peak_mb']:.0f} | "
                      f"{c['what']} | {c['wall_s']:.2f} | {c['phases']}", flush=True)
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()

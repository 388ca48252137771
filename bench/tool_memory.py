"""Benchmark: each tool's peak working memory per megapixel, on CPython.

    .venv/bin/python bench/tool_memory.py [--sizes 1,4] [--cases deblur,tag,...] [--paths classical,model]

Runs each suite tool (``bench/suite.py``'s cases) through the shared run path
(``host.run_file``: decode, tool, encode) on photos of the given megapixels, once a
path, each run in a fresh interpreter, and prints the peak of the memory Python allocated (``tracemalloc``: numpy's
arrays included, onnxruntime's own arena not, as in the page, where models run in
another worker) and the slope between the sizes, in bytes a pixel. The slope is what a
tool's limit is set from. A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))
sys.path.insert(0, str(ROOT / "bench"))

from darkroom import models  # noqa: E402
from darkroom.host import ImageFile, run_file  # noqa: E402
from darkroom.runtime import CpuRuntime  # noqa: E402
from darkroom.tiers import DEFAULT as DEFAULT_TIER  # noqa: E402
from darkroom.tools import registry  # noqa: E402
from suite import CASES, painted, photo  # noqa: E402


def in_memory(data: bytes) -> ImageFile:
    async def read() -> bytes:
        return data

    return ImageFile(len(data), read)


def measure(case: str, megapixels: float, path: str, photo_path: str, mask_path: str) -> dict:
    """One run of ``case`` on the photo at ``photo_path``: peak bytes, seconds, what ran.

    ``traced``: the peak of what Python allocated (numpy included; not Pillow's own
    image buffers, nor onnxruntime's arena). ``resident``: the process's peak resident
    memory above what it held before the run: everything, onnxruntime's arena too,
    which in the page lives in the model worker instead.
    """
    tool_id, params = CASES[case]
    tool = registry()[tool_id]
    jpeg = Path(photo_path).read_bytes()
    masks = {name: in_memory(Path(mask_path).read_bytes()) for name, value in params.items() if value == "painted"}
    given = {name: value for name, value in params.items() if value != "painted"}
    if path == "classical" and tool.run_model is not None:
        given = {**given, "classical": True}
    manifest = models.load_manifest()
    gc.collect()
    tracemalloc.reset_peak()
    traced_before, _ = tracemalloc.get_traced_memory()
    resident_before = reset_resident_peak()
    started = time.perf_counter()
    finished = asyncio.run(run_file(tool, in_memory(jpeg), given, masks=masks, runtime=CpuRuntime(),
                                    models=manifest, tier=DEFAULT_TIER))
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    resident_peak = status_kb("VmHWM") * 1024
    provenance = finished.result.provenance
    width, height = provenance.input_size
    return {"pixels": width * height, "traced": traced_peak - traced_before,
            "resident": resident_peak - resident_before, "seconds": seconds,
            "what": provenance.model or f"classical ({provenance.method or provenance.library})"}


def status_kb(field: str) -> int:
    """A field of /proc/self/status, in kB (Linux)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))


def reset_resident_peak() -> int:
    """Starts this process's resident peak (VmHWM) afresh at what it holds now, and
    returns that, in bytes (getrusage's peak would include the parent's, from before exec)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return status_kb("VmRSS") * 1024


def measured(case: str, megapixels: float, path: str) -> dict:
    """``measure`` in a fresh interpreter, so no run inherits another's heap and the
    photo's making does not set the peak."""
    side = round((megapixels * 1e6 / 12) ** 0.5)
    size = (4 * side, 3 * side)
    with tempfile.TemporaryDirectory() as tmp:
        photo_path, mask_path = Path(tmp) / "photo.jpg", Path(tmp) / "mask.png"
        photo_path.write_bytes(photo(case, size))
        mask_path.write_bytes(painted(size))
        one = json.dumps([case, megapixels, path, str(photo_path), str(mask_path)])
        out = subprocess.run([sys.executable, __file__, "--one", one], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def slope(runs: list[dict], key: str) -> float:
    """Bytes a pixel: between the smallest and the largest photo, or of the one photo."""
    first, last = runs[0], runs[-1]
    if len(runs) == 1:
        return last[key] / last["pixels"]
    return (last[key] - first[key]) / (last["pixels"] - first["pixels"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4", help="photo sizes in megapixels, comma-separated (default 1,4)")
    parser.add_argument("--cases", default=",".join(CASES), help="suite cases (default: all)")
    parser.add_argument("--paths", default="classical,model", help="which paths to measure (default both)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # [case, megapixels, path]: one run, as JSON
    args = parser.parse_args()
    if args.one:
        tracemalloc.start()
        print(json.dumps(measure(*json.loads(args.one))))
        return
    sizes = [float(s) for s in args.sizes.split(",")]
    print("case | path | what ran | " + " | ".join(f"traced / resident MB @{s:g} MP | s" for s in sizes)
          + " | bytes/pixel (slope): traced / resident")
    for case in args.cases.split(","):
        tool = registry()[CASES[case][0]]
        for path in args.paths.split(","):
            if path == "model" and tool.run_model is None:
                continue
            runs = [measured(case, size, path) for size in sizes]
            if path == "model" and runs[-1]["what"].startswith("classical"):
                continue  # no model of this tool runs here: the classical row says it all
            slopes = [slope(runs, key) for key in ("traced", "resident")]
            cells = " | ".join(f"{r['traced'] / 2**20:.0f} / {r['resident'] / 2**20:.0f} | {r['seconds']:.1f}"
                               for r in runs)
            print(f"{case} | {path} | {runs[-1]['what'][:60]} | {cells} | {slopes[0]:.1f} / {slopes[1]:.1f}",
                  flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: every upscale model against the classical path on natural photos.

    .venv/bin/python bench/upscale_quality.py [--models span-x2,...] [--scales 2,4] [--side 256]

Each photo (scikit-image's astronaut, coffee, chelsea, rocket and motorcycle, a centre
crop of ``--side`` px) is the truth; its bicubic downscale is upscaled back by each
model that serves the scale (CLI runtime, onnxruntime on the CPU) and by the classical
path (bicubic + unsharp mask). Prints PSNR and SSIM against the truth, the gain over the
classical path, and the CPU's seconds a megapixel of input. A benchmark: it prints
numbers and asserts nothing (tests/unit/test_upscale.py holds "auto" to them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from darkroom import engine, imaging, models
from darkroom.runtime import CpuRuntime
from darkroom.tiers import DEFAULT
from darkroom.tools import registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import NATURAL_PHOTOS, bicubic_shrink, natural_crop  # noqa: E402


def upscale(pixels: np.ndarray, params: dict, runtime) -> tuple[np.ndarray, float]:
    image = imaging.Decoded(pixels, "PNG", ())
    started = time.perf_counter()
    result = asyncio.run(engine.run_tool(registry()["upscale"], image, params, runtime=runtime,
                                         models=models.load_manifest(), tier=DEFAULT))
    return result.pixels, time.perf_counter() - started


def scores(result: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    return (peak_signal_noise_ratio(truth, result, data_range=255),
            structural_similarity(truth, result, channel_axis=2, data_range=255))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tool = registry()["upscale"]
    parser.add_argument("--models", default=",".join(tool.models + tool.chosen_only))
    parser.add_argument("--scales", default="2,4")
    parser.add_argument("--side", type=int, default=256)
    args = parser.parse_args()
    manifest = models.load_manifest()
    runtime = CpuRuntime()
    print("scale | model | photo | PSNR dB | SSIM | gain over classical dB | CPU s/MP in", flush=True)
    for scale in map(int, args.scales.split(",")):
        for name in NATURAL_PHOTOS:
            truth = natural_crop(name, args.side)
            small = bicubic_shrink(truth, scale)
            classical, _ = upscale(small, {"scale": str(scale), "classical": True}, None)
            base_psnr, base_ssim = scores(classical, truth)
            print(f"x{scale} | classical | {name} | {base_psnr:.2f} | {base_ssim:.4f} | - | -", flush=True)
            for model_id in args.models.split(","):
                spec = manifest[model_id]
                params = {"scale": str(scale), "model": model_id, **{k: v for k, v in spec.params.items()
                                                                      if k != "scale"}}
                if not spec.serves(params):
                    continue
                upscale(small[:32, :32], params, runtime)  # loads the session: not part of the pace
                result, seconds = upscale(small, params, runtime)
                psnr, ssim = scores(result, truth)
                per_mp = seconds / (small.shape[0] * small.shape[1] / 1e6)
                print(f"x{scale} | {model_id} | {name} | {psnr:.2f} | {ssim:.4f} | {psnr - base_psnr:+.2f} | "
                      f"{per_mp:.1f}", flush=True)


if __name__ == "__main__":
    main()

"""Upscale x2 or x4: ESRGAN (UpscalerJS) when a model can run, bicubic + unsharp mask otherwise.

Your own model: any RGB NCHW network that enlarges by a whole factor (ESRGAN-style
exports); its factor is measured on one tile and must be the chosen scale.
"""

from __future__ import annotations

import numpy as np

from ...byom import Signature, TensorRule
from ...models import ModelError
from ...tensors import from_output, to_input, to_uint8
from ...tiling import UNIT_RANGE_NCHW, image_model, tile_side, tiled
from ...tool import Footprint, Output, Pace, Param, ParamError, Rate, Tool

#: Past this the result would not fit comfortably in a browser tab (3 bytes a pixel, plus tiles).
MAX_OUTPUT_PIXELS = 64_000_000
MODEL_TILE, MODEL_OVERLAP = 192, 16
CLASSICAL_TILE, CLASSICAL_OVERLAP = 512, 16


def check(pixels: np.ndarray, params: dict) -> None:
    """Refuse an output too large to hold, before any work starts."""
    scale = int(params["scale"])
    height, width = pixels.shape[:2]
    if height * width * scale * scale > MAX_OUTPUT_PIXELS:
        raise ParamError(f"A {width}x{height} photo upscaled x{scale} would be {width * scale}x{height * scale} "
                         f"pixels, more than the {MAX_OUTPUT_PIXELS // 1_000_000} MP this tool makes; "
                         "crop it or choose a smaller scale.")


def sharpen_upscale(window: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upscale of a window, then an unsharp mask to restore edge contrast.

    Parameters
    ----------
    window : ndarray
        uint8 (h, w, C).
    scale : int

    Returns
    -------
    ndarray
        float32 (h * scale, w * scale, C) in [0, 255].
    """
    from skimage.filters import unsharp_mask
    from skimage.transform import resize

    h, w = window.shape[:2]
    # Anti-aliasing only matters when shrinking; an upscale's cubic spline is smooth already.
    big = resize(window / 255.0, (h * scale, w * scale), order=3, mode="symmetric",
                 anti_aliasing=False)
    # channel_axis=2, not -1: scikit-image 0.25.0's unsharp_mask slices channel -1 on axis 0.
    sharp = unsharp_mask(big, radius=0.5 * scale, amount=0.6, channel_axis=2)
    return (np.clip(sharp, 0, 1) * 255).astype(np.float32)


async def classical(pixels: np.ndarray, params: dict) -> Output:
    """Tile by tile, so a 12 MP photo never needs its upscale in float64 at once."""
    scale = int(params["scale"])
    height, width, channels = pixels.shape

    async def run_tile(window):
        return sharpen_upscale(window, scale)

    out = np.empty((height * scale, width * scale, channels), dtype=np.uint8)
    await tiled(pixels, run_tile, tile=CLASSICAL_TILE, overlap=CLASSICAL_OVERLAP, scale=scale,
                out=out, store=to_uint8)
    return Output(out, method="bicubic resize + unsharp mask")


#: UpscalerJS's ESRGAN exports: RGB in [0, 1], NCHW; the output's size is the scale's.
SIGNATURE = Signature(
    inputs=(TensorRule("image", "float32", (1, 3, "H", "W")),),
    outputs=(TensorRule("result", "float32", (1, 3, None, None)),),
    normalisation=UNIT_RANGE_NCHW,
    sizes={"H": MODEL_TILE, "W": MODEL_TILE},
)


async def measured_scale(spec, infer) -> int:
    """How many times a model enlarges: the output side of one grey tile over its input side."""
    side = tile_side(spec, MODEL_TILE)
    grey = np.full((side, side, 3), 128, np.uint8)
    return from_output(spec, await infer(to_input(spec, grey))).shape[0] // side


async def run_model(spec, infer, pixels, params, progress):
    if spec.variant == "user":  # the manifest's models say their scale; a user's is measured
        scale = await measured_scale(spec, infer)
        if scale != int(params["scale"]):
            raise ModelError(f"it enlarges x{scale}, not x{params['scale']}; choose scale {scale} to use it")
    return await image_model(spec, infer, pixels, tile=tile_side(spec, MODEL_TILE), overlap=MODEL_OVERLAP,
                             scale=int(params["scale"]), progress=progress)


TOOL = Tool(
    id="upscale",
    title="Upscale",
    group="Enhance",
    description="Enlarge a photo 2x or 4x with detail restored.",
    params=(Param("scale", "Scale", "choice", "2", ("2", "4"), help="How many times wider and taller."),),
    models=("esrgan-thick-x2", "esrgan-thick-x4", "esrgan-medium-x2", "esrgan-medium-x4",
            "esrgan-slim-x2", "esrgan-slim-x4"),
    classical=classical,
    run_model=run_model,
    check=check,
    signature=SIGNATURE,
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): at 4 MP (×2): classical 95 resident, model 38 traced
    # (esrgan-medium-x2); ×4's 64 MP output limit binds first.
    footprint=Footprint(classical=95, model=40),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(17.2), wasm={"esrgan-slim-x2": Rate(24.0)}),
)

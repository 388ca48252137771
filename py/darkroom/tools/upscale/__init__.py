"""Upscale x2 or x4: SPAN (faithful) or Real-ESRGAN (photo look) when a model can run,
bicubic + unsharp mask otherwise.

Your own model: any RGB NCHW network that enlarges by a whole factor (ESRGAN-style
exports); its factor is measured on one small tile and must be the chosen scale or a
multiple of it (a x4 model makes x2 by reducing each tile).
"""

from __future__ import annotations

import numpy as np

from ...byom import Signature, TensorRule
from ...models import ModelError
from ...tensors import from_output, to_input, to_uint8
from ...tiling import UNIT_RANGE_NCHW, fitted_tile, image_model, tile_side, tiled
from ...tool import Footprint, Output, Pace, Param, ParamError, Rate, Tool

#: Past this the result would not fit comfortably in a browser tab (3 bytes a pixel, plus tiles).
MAX_OUTPUT_PIXELS = 64_000_000
MODEL_TILE, MODEL_OVERLAP = 192, 16
#: A model's own factor, where the manifest does not give it, is measured on a grey tile this small.
PROBE_SIDE = 16
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
    side = fitted_tile(pixels, CLASSICAL_TILE, CLASSICAL_OVERLAP)
    await tiled(pixels, run_tile, tile=side, overlap=CLASSICAL_OVERLAP, scale=scale, out=out, store=to_uint8)
    return Output(out, method="bicubic resize + unsharp mask")


#: UpscalerJS's ESRGAN exports: RGB in [0, 1], NCHW; the output's size is the scale's.
SIGNATURE = Signature(
    inputs=(TensorRule("image", "float32", (1, 3, "H", "W")),),
    outputs=(TensorRule("result", "float32", (1, 3, None, None)),),
    normalisation=UNIT_RANGE_NCHW,
    sizes={"H": MODEL_TILE, "W": MODEL_TILE},
)


async def measured_scale(spec, infer) -> int:
    """How many times a model enlarges: the output side of one small grey tile over its input side."""
    side = tile_side(spec, PROBE_SIDE)
    grey = np.full((side, side, 3), 128, np.uint8)
    return from_output(spec, await infer(to_input(spec, grey))).shape[0] // side


async def run_model(spec, infer, pixels, params, progress):
    wanted = int(params["scale"])
    # A manifest model that serves one scale names it; one that serves several (a x4 model
    # that also makes x2) and a user's model are measured.
    native = int(spec.params["scale"]) if "scale" in spec.params else await measured_scale(spec, infer)
    if native < wanted or native % wanted:
        raise ModelError(f"it enlarges x{native}, which cannot make x{wanted}; choose scale {native} to use it")
    side = fitted_tile(pixels, MODEL_TILE, MODEL_OVERLAP)
    upscaled = await image_model(spec, infer, pixels, tile=tile_side(spec, side), overlap=MODEL_OVERLAP,
                                 scale=wanted, native_scale=native, progress=progress)
    notes = []
    if native != wanted:
        notes.append(f"The model enlarges x{native}; each tile was reduced to x{wanted} with a Lanczos filter.")
    if params["look"] == "photo":
        notes.append("Generative detail: textures are the model's, not the photo's.")
    return Output(upscaled, notes=tuple(notes))


TOOL = Tool(
    id="upscale",
    title="Upscale",
    group="Enhance",
    description="Enlarge a photo 2x or 4x with detail restored.",
    params=(Param("scale", "Scale", "choice", "2", ("2", "4"), help="How many times wider and taller."),
            Param("look", "Look", "choice", "fidelity", ("fidelity", "photo"),
                  help="Fidelity stays faithful to the photo; photo invents sharper textures (Real-ESRGAN).")),
    # "auto" runs only models that beat the classical path on every photo of
    # bench/upscale_quality.py (the photo look by its own measure: texture restored);
    # UpscalerJS's ESRGANs each lose on some, so they run only when chosen.
    models=("span-x2", "span-x4", "realesrgan-x4plus"),
    chosen_only=("esrgan-thick-x4", "esrgan-thick-x2", "esrgan-medium-x4", "esrgan-medium-x2", "esrgan-slim-x4",
                 "esrgan-slim-x2"),
    classical=classical,
    run_model=run_model,
    check=check,
    signature=SIGNATURE,
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): at 4 MP (×2): classical 95 resident, model 38 traced
    # (esrgan-medium-x2); ×4's 64 MP output limit binds first.
    footprint=Footprint(classical=95, model=40),
    # Seconds in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path): at 12 MP, SPAN at 1 MP,
    # Real-ESRGAN on a 128 px photo (27 s: half an hour a megapixel, so on lite it runs only when chosen).
    pace=Pace(classical=Rate(17.2), wasm={"span-x2": Rate(48.0), "span-x4": Rate(52.3), "esrgan-slim-x2": Rate(24.0),
                                          "realesrgan-x4plus": Rate(1630.0)}),
)

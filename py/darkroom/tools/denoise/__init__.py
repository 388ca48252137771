"""Denoise: MAXIM (trained on real camera noise) when built in, non-local means otherwise."""

from __future__ import annotations

import numpy as np

from ...noise import estimate_noise
from ...tensors import to_uint8
from ...tiling import UNIT_RANGE_NHWC, image_model, same_size_signature, tile_side, tiled
from ...tool import Footprint, Output, Pace, Param, Rate, Tool

DEFAULT_STRENGTH = 0.8
MODEL_TILE, MODEL_OVERLAP = 256, 32
# Non-local means compares 5x5 patches up to 6 px away: 32 px of overlap hides every seam.
CLASSICAL_TILE, CLASSICAL_OVERLAP = 512, 32
#: Below this estimated noise (in 0..1 units, i.e. 1/255) there is nothing worth removing.
NOISE_FLOOR = 1 / 255


def nl_means(window: np.ndarray, sigma: float, strength: float) -> np.ndarray:
    """Non-local means on one window.

    Parameters
    ----------
    window : ndarray
        uint8 (h, w, 3).
    sigma : float
        Noise standard deviation in [0, 1] units.
    strength : float
        0..1; the filter's ``h`` goes from 0.4 to 0.9 sigma (0.8 sigma at the default).

    Returns
    -------
    ndarray
        float32 (h, w, 3) in [0, 255].
    """
    from skimage.restoration import denoise_nl_means

    h = (0.4 + 0.5 * strength) * sigma
    out = denoise_nl_means(window.astype(np.float32) / 255, h=h, sigma=sigma, patch_size=5, patch_distance=6,
                           fast_mode=True, channel_axis=-1)
    return out * np.float32(255)


async def classical(pixels: np.ndarray, params: dict) -> Output:
    rgb = pixels[..., :3]
    sigma = estimate_noise(rgb)
    if sigma < NOISE_FLOOR:
        return Output(pixels.copy(), method=f"nothing changed: estimated noise {sigma * 255:.1f}/255 is below 1/255")

    async def run_tile(window):
        return nl_means(window, sigma, params["strength"])

    out = pixels.copy()
    await tiled(rgb, run_tile, tile=CLASSICAL_TILE, overlap=CLASSICAL_OVERLAP, out=out[..., :3], store=to_uint8)
    return Output(out, method=f"non-local means (noise estimated at {sigma * 255:.1f}/255)")


async def run_model(spec, infer, pixels, params, progress):
    cleaned = await image_model(spec, infer, pixels, tile=tile_side(spec, MODEL_TILE), overlap=MODEL_OVERLAP,
                                progress=progress)
    # Strength below the default keeps some of the original grain.
    mix = min(1.0, params["strength"] / DEFAULT_STRENGTH)
    return to_uint8(pixels * np.float32(1 - mix) + cleaned * np.float32(mix))


TOOL = Tool(
    id="denoise",
    title="Denoise",
    group="Retouch",
    description="Remove sensor noise and grain.",
    params=(Param("strength", "Strength", "number", DEFAULT_STRENGTH,
                  help="How much noise to remove; lower keeps more texture."),),
    models=("maxim-denoise",),
    classical=classical,
    run_model=run_model,
    signature=same_size_signature(UNIT_RANGE_NHWC, MODEL_TILE),
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 19 resident; the optional MAXIM model is not
    # measured.
    footprint=Footprint(classical=20),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(2.9)),
)

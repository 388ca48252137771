"""Deblur: MAXIM when built in; otherwise Richardson-Lucy with a blur size measured from
the photo's own edges (a Gaussian model of defocus; motion blur is beyond it)."""

from __future__ import annotations

import numpy as np

from ...tensors import to_uint8
from ...tiling import UNIT_RANGE_NHWC, image_model, same_size_signature, tile_side, tiled
from ...tool import Footprint, Output, Pace, Rate, Tool

MODEL_TILE, MODEL_OVERLAP = 256, 32
CLASSICAL_TILE = 512
ITERATIONS = 30
#: The blur kernel's radius in standard deviations.
TRUNCATE = 3.0
#: What the estimator reports on a sharp photo: the Sobel kernel's and Canny's own
#: smoothing (measured on scikit-image's astronaut; 1.44/1.87/2.66/3.98 px for true 0.8/1.5/2.5/4).
ESTIMATOR_BASELINE = 1.18
#: Below this Gaussian sigma (px) a photo is sharp enough: deconvolution would only add ringing.
SHARP_ENOUGH = 0.5
REBLUR_SIGMA = 1.0
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # Rec. 601


def estimate_blur(rgb: np.ndarray) -> float:
    """Gaussian blur sigma of a photo, in pixels, from how its edges respond to re-blurring.

    At an edge blurred by sigma, blurring again by ``s`` lowers the gradient by
    ``R = sqrt(sigma^2 + s^2) / sigma``, so ``sigma = s / sqrt(R^2 - 1)`` (Zhuo and Sim's
    defocus estimate); the median over Canny edges is robust to texture.

    Parameters
    ----------
    rgb : ndarray
        uint8 (H, W, 3); large photos are measured on a centre crop.

    Returns
    -------
    float
        Estimated sigma in pixels, 0 for a sharp photo or one with no edges.
    """
    from scipy import ndimage
    from skimage.color import rgb2gray
    from skimage.feature import canny

    h, w = rgb.shape[:2]
    crop = rgb[max(0, h // 2 - 512):h // 2 + 512, max(0, w // 2 - 512):w // 2 + 512]
    grey = rgb2gray(crop)
    edges = canny(grey, sigma=2.0)
    if edges.sum() < 50:
        return 0.0

    def gradient(image):
        return np.hypot(ndimage.sobel(image, 0), ndimage.sobel(image, 1))[edges]

    ratio = gradient(grey) / np.maximum(gradient(ndimage.gaussian_filter(grey, REBLUR_SIGMA)), 1e-9)
    ratio = ratio[ratio > 1.001]
    if ratio.size == 0:
        return 0.0
    measured = float(np.median(REBLUR_SIGMA / np.sqrt(ratio ** 2 - 1)))
    return float(np.sqrt(max(measured ** 2 - ESTIMATOR_BASELINE ** 2, 0.0)))


def richardson_lucy(window: np.ndarray, sigma: float) -> np.ndarray:
    """Richardson-Lucy deconvolution of a uint8 window's luminance, for a Gaussian blur.

    Blur is shared by the channels, so the luminance's correction is added to each one:
    a third of the work of deconvolving R, G and B, and no colour fringes. The Gaussian
    is applied as two 1-D passes (``scipy.ndimage.gaussian_filter``) in float32, where
    scikit-image's ``richardson_lucy`` convolves a 2-D kernel in float64: the same
    iteration about four times faster, which is minutes on a 48 MP photo.

    Parameters
    ----------
    window : ndarray
        uint8 (h, w, 3).
    sigma : float
        The blur's standard deviation in pixels.

    Returns
    -------
    ndarray
        float32 (h, w, 3) in [0, 255].
    """
    from scipy.ndimage import gaussian_filter

    rgb = window.astype(np.float32) / np.float32(255)
    luma = rgb @ LUMA_WEIGHTS.astype(np.float32)
    pad = psf_radius(sigma)  # mirrored margin: deconvolution rings at hard borders
    observed = np.pad(luma, pad, mode="reflect")
    estimate = np.full_like(observed, 0.5)
    ratio = np.empty_like(observed)
    for _ in range(ITERATIONS):
        # The Gaussian is symmetric: its mirror, which the update correlates with, is itself.
        gaussian_filter(estimate, sigma, output=ratio, truncate=TRUNCATE)
        np.divide(observed, np.maximum(ratio, 1e-7, out=ratio), out=ratio)
        estimate *= gaussian_filter(ratio, sigma, output=ratio, truncate=TRUNCATE)
    sharp = np.clip(estimate[pad:-pad, pad:-pad], 0, 1)
    return np.clip(rgb + (sharp - luma)[..., np.newaxis], 0, 1) * np.float32(255)


def psf_radius(sigma: float) -> int:
    """The Gaussian's radius in pixels, as ``gaussian_filter`` truncates it."""
    return int(TRUNCATE * sigma + 0.5)


async def classical(pixels: np.ndarray, params: dict) -> Output:
    rgb = pixels[..., :3]
    sigma = estimate_blur(rgb)
    if sigma < SHARP_ENOUGH:
        return Output(pixels.copy(), method=f"nothing changed: no measurable blur (estimated {sigma:.2f} px)")

    async def run_tile(window):
        return richardson_lucy(window, sigma)

    out = pixels.copy()
    kernel = 2 * psf_radius(sigma) + 1
    await tiled(rgb, run_tile, tile=CLASSICAL_TILE, overlap=2 * kernel, out=out[..., :3], store=to_uint8)
    return Output(out, method=f"Richardson-Lucy deconvolution of luminance, {ITERATIONS} iterations, "
                              f"for a Gaussian blur of {sigma:.1f} px estimated from the edges")


async def run_model(spec, infer, pixels, params, progress):
    return await image_model(spec, infer, pixels, tile=tile_side(spec, MODEL_TILE), overlap=MODEL_OVERLAP,
                             progress=progress)


TOOL = Tool(
    id="deblur",
    title="Deblur",
    group="Retouch",
    description="Sharpen a soft or shaken photo.",
    params=(),
    models=("maxim-deblur",),
    classical=classical,
    run_model=run_model,
    signature=same_size_signature(UNIT_RANGE_NHWC, MODEL_TILE),
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 20 resident; the optional MAXIM model is not
    # measured.
    footprint=Footprint(classical=25),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(1.9)),
)

"""A lens-like background blur: disk-shaped bokeh that grows with distance from the
focus plane, computed in linear light so highlights bloom instead of turning grey.

Only numpy and Pillow, so it runs the same on the model path in the page (where scipy
is not loaded) and on the classical path.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Blur layers between sharp and the full radius; a pixel blends its two nearest.
LAYERS = 5
#: The disk is drawn at most this many pixels wide after downscaling: a wide blur is
#: computed on a smaller image (it is smooth anyway), keeping the cost per layer flat.
WORK_RADIUS = 8.0
#: Highlights (linear luminance above HIGHLIGHT_KNEE) are boosted by up to this factor
#: before blurring and clipped after, so a bright point spreads into a bright disk.
HIGHLIGHT_GAIN = 4.0
HIGHLIGHT_KNEE = 0.75


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """float32 sRGB in [0, 1] to linear light."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


#: Every 8-bit sRGB level in linear light: a lookup instead of a power per pixel.
SRGB_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """float32 linear light in [0, 1] to sRGB."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055).astype(np.float32)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float32 (H, W[, C]) resized to ``size`` = (width, height), channel by channel."""
    if image.ndim == 2:
        return np.asarray(Image.fromarray(image, mode="F").resize(size, Image.Resampling.BILINEAR))
    return np.stack([resize(np.ascontiguousarray(image[..., c]), size) for c in range(image.shape[2])], axis=-1)


def disk_blur(image: np.ndarray, radius: float) -> np.ndarray:
    """Average over a disk of ``radius`` pixels (a lens's out-of-focus point spread).

    Parameters
    ----------
    image : ndarray
        float32 (H, W) or (H, W, C).
    radius : float
        In pixels of ``image``; below 0.5 the image is returned as it is.

    Returns
    -------
    ndarray
        float32, the same shape; edges are extended, not darkened.
    """
    if radius < 0.5:
        return image
    height, width = image.shape[:2]
    shrink = max(1.0, radius / WORK_RADIUS)
    small_size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
    small = resize(image, small_size) if shrink > 1 else image
    r = radius / shrink
    reach = int(np.floor(r))
    pad = [(reach, reach), (reach, reach)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(small, pad, mode="edge")
    h, w = small.shape[:2]
    # The disk row by row: each row of it is a run of pixels, summed from running totals
    # along x (float64, so long rows keep their precision): 2r + 1 steps, not pi r^2.
    running = np.zeros((padded.shape[0], padded.shape[1] + 1) + padded.shape[2:], np.float64)
    np.cumsum(padded, axis=1, out=running[:, 1:])
    total = np.zeros(small.shape, np.float64)
    count = 0
    for dy in range(-reach, reach + 1):
        half = int(np.floor(np.sqrt(max(r * r - dy * dy, 0.0))))
        rows = running[reach + dy:reach + dy + h]
        total += rows[:, reach + half + 1:reach + half + 1 + w] - rows[:, reach - half:reach - half + w]
        count += 2 * half + 1
    blurred = (total / count).astype(np.float32)
    return resize(blurred, (width, height)) if shrink > 1 else blurred


def lens_blur(pixels: np.ndarray, defocus: np.ndarray, radius: float) -> np.ndarray:
    """Blur each pixel by a disk as wide as its defocus asks.

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB; alpha is kept as it is.
    defocus : ndarray
        float32 (H, W) in [0, 1]: 0 in focus (sharp), 1 blurred by the full ``radius``.
    radius : float
        The largest blur radius, in pixels.

    Returns
    -------
    ndarray
        uint8, the shape of ``pixels``.

    Notes
    -----
    Each blur layer is a normalised convolution weighted by defocus, so sharp (subject)
    pixels do not bleed into the blurred background around them. The blurred layers are
    smooth: they are made and blended with each other at the first layer's work size and
    scaled up once, and only the blend with the sharp photo is done at full size.
    """
    height, width = pixels.shape[:2]
    linear = SRGB_TO_LINEAR[pixels[..., :3]]
    defocus = np.clip(defocus.astype(np.float32), 0, 1)
    first_radius = radius / (LAYERS - 1)
    shrink = max(1.0, first_radius / WORK_RADIUS)
    size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    boost = 1 + HIGHLIGHT_GAIN * np.clip((luminance - HIGHLIGHT_KNEE) / (1 - HIGHLIGHT_KNEE), 0, 1)
    # Boosted at full size, so a highlight of a pixel or two keeps its boost when shrunk.
    weight = defocus + np.float32(1e-3)  # the subject still fills in where nothing else is
    weighted = linear * (boost * weight)[..., None]
    if shrink > 1:
        weighted, weight, small_defocus = resize(weighted, size), resize(weight, size), resize(defocus, size)
    else:
        small_defocus = defocus
    level = small_defocus * (LAYERS - 1)
    blurred = previous = None
    for k in range(1, LAYERS):
        layer_radius = first_radius * k / shrink
        layer = disk_blur(weighted, layer_radius) / disk_blur(weight, layer_radius)[..., None]
        if blurred is None:
            blurred = layer
        else:  # pixels between layer k-1 and k blend the two
            mix = np.clip(level - (k - 1), 0, 1)[..., None]
            blurred = np.where((level > k - 1)[..., None], previous * (1 - mix) + layer * mix, blurred)
        previous = layer
    if shrink > 1:
        blurred = resize(blurred, (width, height))
    sharpness = 1 - np.clip(defocus * (LAYERS - 1), 0, 1)[..., None]  # between sharp and layer 1
    out = np.rint(linear_to_srgb(linear * sharpness + blurred * (1 - sharpness)) * 255).astype(np.uint8)
    return np.dstack([out, pixels[..., 3]]) if pixels.shape[2] == 4 else out

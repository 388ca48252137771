"""A lens-like background blur: disk-shaped bokeh that grows with distance from the
focus plane, computed in linear light so highlights bloom instead of turning grey.

Only numpy and Pillow, so it runs the same on the model path in the page (where scipy
is not loaded) and on the classical path.
"""

from __future__ import annotations

import numpy as np

from ...float_image import SRGB_TO_LINEAR, WORK_RADIUS, linear_to_srgb, normalised_disk_blur, resize

#: Blur layers between sharp and the full radius; a pixel blends its two nearest.
LAYERS = 5
#: Highlights (linear luminance above HIGHLIGHT_KNEE) are boosted by up to this factor
#: before blurring and clipped after, so a bright point spreads into a bright disk.
HIGHLIGHT_GAIN = 4.0
HIGHLIGHT_KNEE = 0.75


#: Rows of the photo handled at a time at full size: a band's float copies stay a few
#: MB, so a 48 MP photo needs little more than its own pixels and its defocus map.
BAND_ROWS = 256


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
    smooth: they are made and blended with each other at the first layer's work size,
    and the steps at full size (the highlight boost and weights before shrinking, the
    blend with the sharp photo after) go a band of rows at a time.
    """
    height, width = pixels.shape[:2]
    defocus = np.clip(defocus.astype(np.float32), 0, 1)
    first_radius = radius / (LAYERS - 1)
    shrink = max(1.0, first_radius / WORK_RADIUS)
    size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
    if shrink > 1:
        weighted, weight = _shrunk_weights(pixels, defocus, size)
        small_defocus = resize(defocus, size)
    else:
        weighted, weight = _weights(pixels, defocus)
        small_defocus = defocus
    level = small_defocus * (LAYERS - 1)
    blurred = previous = None
    for k in range(1, LAYERS):
        layer = normalised_disk_blur(weighted, weight, first_radius * k / shrink)
        if blurred is None:
            blurred = layer
        else:  # pixels between layer k-1 and k blend the two
            mix = np.clip(level - (k - 1), 0, 1)[..., None]
            blurred = np.where((level > k - 1)[..., None], previous * (1 - mix) + layer * mix, blurred)
        previous = layer
    assert blurred is not None  # LAYERS > 1
    out = pixels.copy()
    for top in range(0, height, BAND_ROWS):
        rows = slice(top, min(height, top + BAND_ROWS))
        if shrink > 1:  # those rows of the blurred layers scaled up to the photo's size
            scale = blurred.shape[0] / height
            band_blur = resize(blurred, (width, rows.stop - rows.start),
                               (0, rows.start * scale, blurred.shape[1], rows.stop * scale))
        else:
            band_blur = blurred[rows]
        linear = SRGB_TO_LINEAR[pixels[rows, :, :3]]
        sharpness = 1 - np.clip(defocus[rows] * (LAYERS - 1), 0, 1)[..., None]  # between sharp and layer 1
        out[rows, :, :3] = np.rint(linear_to_srgb(linear * sharpness + band_blur * (1 - sharpness)) * 255)
    return out


def _weights(pixels: np.ndarray, defocus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the blur layers average: linear light with highlights boosted, times the
    weight (defocus, never quite 0), and the weight; float32 (h, W, 3) and (h, W)."""
    linear = SRGB_TO_LINEAR[pixels[..., :3]]
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    boost = 1 + HIGHLIGHT_GAIN * np.clip((luminance - HIGHLIGHT_KNEE) / (1 - HIGHLIGHT_KNEE), 0, 1)
    weight = defocus + np.float32(1e-3)  # the subject still fills in where nothing else is
    linear *= (boost * weight)[..., None]
    return linear, weight


def _shrunk_weights(pixels: np.ndarray, defocus: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``_weights`` at full size (so a highlight of a pixel or two keeps its boost), shrunk
    to ``size`` a band at a time: each band of output rows is made from the photo's rows
    the shrinking filter reaches (its support is one output pixel either side)."""
    height, width = pixels.shape[:2]
    small_width, small_height = size
    scale = height / small_height  # photo rows an output row
    band = max(1, int(BAND_ROWS / scale))
    weighted = np.empty((small_height, small_width, 3), np.float32)
    weight = np.empty((small_height, small_width), np.float32)
    for first in range(0, small_height, band):
        last = min(small_height, first + band)
        top = max(0, int(np.floor((first - 1) * scale)) - 1)
        bottom = min(height, int(np.ceil((last + 1) * scale)) + 1)
        band_weighted, band_weight = _weights(pixels[top:bottom], defocus[top:bottom])
        box = (0, first * scale - top, width, last * scale - top)
        weighted[first:last] = resize(band_weighted, (small_width, last - first), box)
        weight[first:last] = resize(band_weight, (small_width, last - first), box)
    return weighted, weight

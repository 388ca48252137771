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
        layer = normalised_disk_blur(weighted, weight, layer_radius)
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

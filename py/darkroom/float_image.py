"""Float images (numpy and Pillow only, so model paths run them in the page without
scipy): sRGB to and from linear light, bilinear resizing of float planes, and the disk
blur of a lens's out-of-focus point spread.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

#: The disk is drawn at most this many pixels wide after downscaling: a wide blur is
#: computed on a smaller image (it is smooth anyway), keeping its cost flat.
WORK_RADIUS = 8.0


def srgb_to_linear(srgb: NDArray[np.float32]) -> NDArray[np.float32]:
    """float32 sRGB in [0, 1] to linear light."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


#: Every 8-bit sRGB level in linear light: a lookup instead of a power per pixel.
SRGB_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255)


def linear_to_srgb(linear: NDArray[np.float32]) -> NDArray[np.float32]:
    """float32 linear light in [0, 1] to sRGB."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055).astype(np.float32)


def resize(image: NDArray[np.float32], size: tuple[int, int],
           box: tuple[float, float, float, float] | None = None) -> NDArray[np.float32]:
    """float32 (H, W[, C]) resized to ``size`` = (width, height), channel by channel.

    ``box`` (left, top, right, bottom, in ``image``'s pixels, fractions allowed) resizes
    only that region: a band of a larger resize, computed alone, equals those rows of
    the whole resize when ``image`` holds the rows its filter reaches.
    """
    if image.ndim == 2:
        return np.asarray(Image.fromarray(image, mode="F").resize(size, Image.Resampling.BILINEAR, box=box))
    return np.stack([resize(np.ascontiguousarray(image[..., c]), size, box) for c in range(image.shape[2])],
                    axis=-1)


def disk_blur(image: NDArray[np.float32], radius: float) -> NDArray[np.float32]:
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


def normalised_disk_blur(weighted: NDArray[np.float32], weight: NDArray[np.float32],
                         radius: float) -> NDArray[np.float32]:
    """A disk average that counts each pixel by its weight (a normalised convolution),
    so pixels of weight 0 (e.g. a subject left out of its background) add nothing.

    Parameters
    ----------
    weighted : ndarray
        float32 (H, W, C): the image already multiplied by ``weight``.
    weight : ndarray
        float32 (H, W), >= 0.
    radius : float

    Returns
    -------
    ndarray
        float32 (H, W, C); where the disk holds no weight at all, about 0.
    """
    total_weight: NDArray[np.float32] = np.maximum(disk_blur(weight, radius), np.float32(1e-6))
    return disk_blur(weighted, radius) / total_weight[..., None]

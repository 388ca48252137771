"""The classical fill: scikit-image's biharmonic inpainting on one crop, at a reduced
scale when the painted area is too large to solve quickly."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ...imaging import to_float_rgb
from ...tensors import to_uint8
from .regions import any_in_blocks

#: Painted pixels solved at full scale. Each one is an unknown of a sparse linear system;
#: measured on a 2-core x86 CPU (CPython): 100 x 100 px 0.09 s, 150 x 150 px 0.23 s, 200 x 200 px 0.6 s,
#: 300 x 300 px 3.0 s; Pyodide is slower. On smooth test images a shrunk fill came out as close to
#: the truth as a full-scale one (closer, even: its edge averages away 8-bit steps).
FULL_SCALE_BUDGET = 25_000


def scale_for(painted: int) -> int:
    """The integer factor a crop with ``painted`` pixels to fill is shrunk by (1 = full
    scale) so that at most ``FULL_SCALE_BUDGET`` remain."""
    return max(1, math.ceil(math.sqrt(painted / FULL_SCALE_BUDGET)))


def inpaint(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting of one crop.

    Parameters
    ----------
    rgb : ndarray
        uint8 (h, w, 3).
    hole : ndarray
        bool (h, w), True where to fill; some pixels must be False.

    Returns
    -------
    ndarray
        uint8 (h, w, 3): the crop, filled (pixels outside ``hole`` as they were).
    """
    from skimage.restoration import inpaint_biharmonic

    return to_uint8(inpaint_biharmonic(to_float_rgb(rgb), hole, channel_axis=-1) * np.float32(255))


def fill_crop(rgb: np.ndarray, hole: np.ndarray, factor: int) -> np.ndarray:
    """Fill ``hole`` in a crop, shrunk by ``factor`` first when it is above 1.

    At a reduced scale, a block of pixels counts as hole when any of its pixels is (so no
    colour of the removed object reaches the fill); the fill is scaled back up bicubically.

    Parameters
    ----------
    rgb : ndarray
        uint8 (h, w, 3).
    hole : ndarray
        bool (h, w); some pixels must be False.
    factor : int
        1 or more; falls back to 1 when the reduced hole would leave nothing to fill from.

    Returns
    -------
    ndarray
        uint8 (h, w, 3); only pixels in ``hole`` are meant to be used.
    """
    if factor > 1:
        small_hole = any_in_blocks(hole, factor)
        if not small_hole.all():
            small = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).reduce(factor))
            filled = Image.fromarray(inpaint(small, small_hole))
            height, width = hole.shape
            # Exactly factor x larger, so block centres land where reduce() took them from.
            size = (small_hole.shape[1] * factor, small_hole.shape[0] * factor)
            return np.asarray(filled.resize(size, Image.Resampling.BICUBIC))[:height, :width]
    return inpaint(rgb, hole)

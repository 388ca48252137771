"""Faces found by scikit-image's LBP frontal-face cascade: boxes, no landmarks, no
confidence. Find faces falls back to it, Restore faces finds its faces with it, and
Tag counts them with it. Needs scikit-image."""

from __future__ import annotations

import numpy as np
from PIL import Image

#: The cascade is trained on ~24 px faces; photos are searched at up to this long side.
CASCADE_MAX_SIDE = 1024
#: The cascade's smallest window, in the pixels it searches.
CASCADE_MIN_FACE = 24


def cascade_faces(pixels: np.ndarray) -> list[dict]:
    """Faces found by scikit-image's LBP frontal-face cascade: ``{"box": [x0, y0, x1, y1],
    "score": None, "keypoints": {}}`` in photo pixels (the cascade gives no confidence).

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4); searched at most ``CASCADE_MAX_SIDE`` px on its long side.
    """
    from skimage import data
    from skimage.feature import Cascade

    height, width = pixels.shape[:2]
    shrink = min(1.0, CASCADE_MAX_SIDE / max(height, width))
    rgb = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    if shrink < 1:
        rgb = rgb.resize((max(1, round(width * shrink)), max(1, round(height * shrink))), Image.Resampling.BOX)
    small = np.asarray(rgb)
    side = min(small.shape[:2])
    if side < CASCADE_MIN_FACE:
        return []
    cascade = Cascade(data.lbp_frontal_face_cascade_filename())
    # Eight overlapping hits before a window counts: fewer lets in textures (measured on astronaut).
    smallest = (CASCADE_MIN_FACE, CASCADE_MIN_FACE)
    found = cascade.detect_multi_scale(img=small, scale_factor=1.2, step_ratio=1, min_size=smallest,
                                       max_size=(side, side), min_neighbor_number=8)
    return [{"box": [d["c"] / shrink, d["r"] / shrink, (d["c"] + d["width"]) / shrink, (d["r"] + d["height"]) / shrink],
             "score": None, "keypoints": {}} for d in found]

"""Where a face is worked on and how the result goes back: a square crop around the
face's box, and a soft-edged (feathered) paste. Shared by the model and classical paths.

Only numpy and Pillow, so the model path runs without scipy in the page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ...tensors import to_uint8

#: The crop's side over the box's longer side. GFPGAN-style restorers are trained on
#: FFHQ-aligned 512 px crops (5-point template: eyes 126 px apart at y 240, mouth at
#: y 371), where the face fills the middle half. Measured on scikit-image's astronaut:
#: BlazeFace's eyes (45 px apart) and mouth (42 px below them) put that crop at
#: 2.0 x the LBP cascade's 85 px box, centred on the box's centre within 7 px (her head is tilted).
ENLARGE = 2.0
#: The paste's soft edge: the weight rises from 0 at the crop's edge to 1 over this
#: fraction of its side, so with ``ENLARGE`` = 2 the face box (the middle half) and
#: a margin of 5 % of the side around it are taken whole.
FEATHER = 0.2


@dataclass(frozen=True)
class Square:
    """A square window in photo pixels; it may reach past the photo's edges.

    Attributes
    ----------
    x0, y0 : int
        Top-left corner (may be negative).
    side : int
        Width and height, >= 1.
    """

    x0: int
    y0: int
    side: int

    def inside(self, width: int, height: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: the part of the square within a ``width`` x ``height``
        photo (clamped; empty when they do not meet)."""
        x0, y0 = min(max(self.x0, 0), width), min(max(self.y0, 0), height)
        return x0, y0, max(x0, min(self.x0 + self.side, width)), max(y0, min(self.y0 + self.side, height))


def face_square(box, enlarge: float = ENLARGE) -> Square:
    """The square crop for a face: centred on its box, ``enlarge`` times its longer side.

    Parameters
    ----------
    box : sequence of float
        ``(x0, y0, x1, y1)`` in photo pixels.
    enlarge : float
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(1, round(enlarge * max(x1 - x0, y1 - y0)))
    return Square(round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2), side)


def take(pixels: np.ndarray, square: Square) -> np.ndarray:
    """The square's pixels; where it reaches past the photo, the photo mirrored at its
    edge (a restorer then sees a plausible surround instead of a black band).

    Parameters
    ----------
    pixels : ndarray
        (H, W, C), any dtype; the square must meet the photo.

    Returns
    -------
    ndarray
        (side, side, C), ``pixels``' dtype.
    """
    x0, y0, x1, y1 = square.inside(pixels.shape[1], pixels.shape[0])
    end_x, end_y = square.x0 + square.side, square.y0 + square.side
    pad = ((y0 - square.y0, end_y - y1), (x0 - square.x0, end_x - x1), (0, 0))
    return np.pad(pixels[y0:y1, x0:x1], pad, mode="symmetric")


def feather(side: int, fraction: float = FEATHER) -> np.ndarray:
    """Paste weights for a square crop: 1 in the middle, easing to near 0 at its edge.

    Returns
    -------
    ndarray
        float32 (side, side), values in (0, 1]; the product of one smoothstep ramp per
        axis, so the corners round off.
    """
    ramp = max(1.0, fraction * side)
    edge = np.minimum(np.arange(side), np.arange(side)[::-1]) + 0.5  # pixel centres' distance to the edge
    t = np.clip(edge / ramp, 0.0, 1.0)
    rise = t * t * (3 - 2 * t)  # smoothstep: no crease where the ramp meets the plateau
    return np.outer(rise, rise).astype(np.float32)


def paste(photo: np.ndarray, square: Square, restored: np.ndarray, strength: float) -> np.ndarray:
    """The photo with ``restored`` blended into ``square`` through ``feather``.

    Parameters
    ----------
    photo : ndarray
        uint8 (H, W, 3|4); alpha is kept.
    square : Square
    restored : ndarray
        uint8 (side, side, 3): the crop after restoration.
    strength : float
        0..1: the restored face's share where the weight is 1.

    Returns
    -------
    ndarray
        A new uint8 array like ``photo``; pixels outside the square are unchanged.
    """
    x0, y0, x1, y1 = square.inside(photo.shape[1], photo.shape[0])
    ox, oy = x0 - square.x0, y0 - square.y0
    weight = feather(square.side)[oy:oy + y1 - y0, ox:ox + x1 - x0, None] * np.float32(strength)
    original = photo[y0:y1, x0:x1, :3].astype(np.float32)
    new = restored[oy:oy + y1 - y0, ox:ox + x1 - x0].astype(np.float32)
    out = photo.copy()
    out[y0:y1, x0:x1, :3] = to_uint8(original + weight * (new - original))
    return out


def resized(rgb: np.ndarray, side: int) -> np.ndarray:
    """uint8 (h, w, 3) resized to (side, side, 3) with Pillow's Lanczos filter."""
    if rgb.shape[:2] == (side, side):
        return rgb
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((side, side), Image.Resampling.LANCZOS))

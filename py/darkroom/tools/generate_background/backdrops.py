"""The backdrops, drawn in linear light at the work size: float32 (h, w, 3) in [0, 1].

Only numpy and Pillow (see ``composite``).
"""

from __future__ import annotations

import numpy as np

from ...float_image import normalised_disk_blur, resize, srgb_to_linear
from ...tool import rgb_of
from .composite import DECODE, subject_extent, to_srgb8

KINDS = ("studio", "solid", "gradient", "blurred")

#: Studio sweep: the chosen colour is where the light falls brightest, along the curve
#: behind the subject; the wall darkens towards the top (to this fraction, linear), the
#: floor a little towards the camera, and both towards the sides (a pool of light).
WALL_TOP = 0.5
FLOOR_FRONT = 0.85
SIDE_FALLOFF = 0.18
#: The curve sits this fraction of the subject's height above its base (it stands on
#: the floor in front of it), kept within HORIZON_RANGE of the frame's height.
HORIZON_ABOVE_BASE = 0.35
HORIZON_RANGE = (0.45, 0.7)
HORIZON_DEFAULT = 0.6
#: Gradient: from the colour at the top to this mix towards black (light colours, whose
#: linear luminance is above MID_GREY) or white (dark ones) at the bottom.
GRADIENT_TINT = 0.45
MID_GREY = 0.18
#: Blurred: the disk's radius as a fraction of the longer side.
BLUR_FRACTION = 0.05
#: Blurred: weight of a pixel is (1 - alpha) ** BLUR_EXCLUSION: mixed edge pixels carry
#: some subject colour, so they count for little.
BLUR_EXCLUSION = 4
_LUMINANCE = np.array([0.2126, 0.7152, 0.0722], np.float32)


def hex_to_linear(colour: str) -> np.ndarray:
    """``"#rrggbb"`` to float32 (3,) linear light."""
    return DECODE[list(rgb_of(colour))]


def linear_to_hex(colour: np.ndarray) -> str:
    """float32 (3,) linear light to ``"#rrggbb"``."""
    return "#" + "".join(f"{v:02x}" for v in to_srgb8(colour))


def solid(shape: tuple[int, int], colour: np.ndarray) -> np.ndarray:
    """The colour everywhere; ``shape`` is (h, w), ``colour`` linear (3,)."""
    return np.tile(colour.astype(np.float32), shape + (1,))


def tint(colour: np.ndarray) -> np.ndarray:
    """The gradient's far colour: darker for a light colour, lighter for a dark one."""
    target = 0.0 if float(colour @ _LUMINANCE) > MID_GREY else 1.0
    return (colour + (target - colour) * GRADIENT_TINT).astype(np.float32)


def gradient(shape: tuple[int, int], colour: np.ndarray) -> np.ndarray:
    """From ``colour`` at the top to :func:`tint` at the bottom, evenly in linear light."""
    h, w = shape
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    rows = colour + (tint(colour) - colour) * t
    return np.repeat(rows, w, axis=1)


def horizon_row(alpha: np.ndarray) -> int:
    """Where a studio sweep curves from floor to wall: above the subject's base.

    Parameters
    ----------
    alpha : ndarray
        float32 (h, w) in [0, 1].
    """
    h = alpha.shape[0]
    extent = subject_extent(alpha)
    if extent is None:
        return round(HORIZON_DEFAULT * (h - 1))
    top, base = extent
    return round(np.clip(base - HORIZON_ABOVE_BASE * (base - top + 1), *(f * (h - 1) for f in HORIZON_RANGE)))


def studio(shape: tuple[int, int], colour: np.ndarray, horizon: int) -> np.ndarray:
    """A photographer's seamless paper sweep, lit from the front.

    Parameters
    ----------
    shape : (h, w)
    colour : ndarray
        float32 (3,) linear: the paper where it is lit brightest.
    horizon : int
        The row where the floor curves up into the wall.

    Returns
    -------
    ndarray
        float32 (h, w, 3). Brightest along the horizon, smooth across it (both sides
        leave it flat, so no line shows), darker up the wall, slightly darker towards
        the bottom and the sides.
    """
    h, w = shape
    y = np.arange(h, dtype=np.float32)
    wall = np.clip((horizon - y) / max(horizon, 1), 0, 1)
    floor = np.clip((y - horizon) / max(h - 1 - horizon, 1), 0, 1)
    rows = (1 - (1 - WALL_TOP) * wall ** 1.5) * (1 - (1 - FLOOR_FRONT) * floor ** 2)
    x = np.linspace(-1, 1, w, dtype=np.float32) if w > 1 else np.zeros(1, np.float32)
    columns = 1 - SIDE_FALLOFF * x ** 2
    return (rows[:, None] * columns[None, :])[..., None] * colour.astype(np.float32)


def blurred(linear: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The photo's own background, heavily blurred with the subject left out.

    A normalised convolution: the disk averages background pixels only, so the subject's
    colours do not bleed into the backdrop around it.

    Parameters
    ----------
    linear : ndarray
        float32 (h, w, 3) linear light.
    alpha : ndarray
        float32 (h, w) in [0, 1].
    """
    radius = BLUR_FRACTION * max(alpha.shape)
    # Where the disk sees no background at all, the subject fills in (hidden under it).
    weight = (1 - alpha) ** BLUR_EXCLUSION + np.float32(1e-4)
    return normalised_disk_blur(linear * weight[..., None], weight, radius)


def fitted(picture: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A picture filling a frame of ``shape`` (h, w): centre-cropped to its aspect and
    resized, in linear light.

    Parameters
    ----------
    picture : ndarray
        float32 (H, W, 3) sRGB in [0, 1] (a generated scene).
    """
    height, width = picture.shape[:2]
    scale = max(shape[0] / height, shape[1] / width)
    keep_h, keep_w = min(height, round(shape[0] / scale)), min(width, round(shape[1] / scale))
    top, left = (height - keep_h) // 2, (width - keep_w) // 2
    cropped = np.ascontiguousarray(picture[top:top + keep_h, left:left + keep_w])
    return resize(srgb_to_linear(cropped), (shape[1], shape[0]))


def draw(kind: str, colour: str, linear: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, str]:
    """The backdrop ``kind`` at the work size, and a phrase naming it for the label.

    Parameters
    ----------
    kind : str
        One of ``KINDS``.
    colour : str
        ``"#rrggbb"`` (not used by ``"blurred"``).
    linear : ndarray
        float32 (h, w, 3): the photo in linear light.
    alpha : ndarray
        float32 (h, w) in [0, 1].
    """
    shape = alpha.shape
    rgb = hex_to_linear(colour)
    if kind == "studio":
        return studio(shape, rgb, horizon_row(alpha)), f"a studio paper sweep in {colour}, lit from the front"
    if kind == "solid":
        return solid(shape, rgb), f"plain {colour}"
    if kind == "gradient":
        return gradient(shape, rgb), f"a gradient from {colour} at the top to {linear_to_hex(tint(rgb))} at the bottom"
    return blurred(linear, alpha), "the photo's own background, heavily blurred with the subject left out"

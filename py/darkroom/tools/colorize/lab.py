"""CIELAB (D65) for colourising: a photo's luminance, and colours built from a given
luminance plus a* b* chroma, kept inside sRGB without changing that luminance.

Only numpy (and the sRGB curves of ``darkroom.float_image``): the model path runs in the
page where scipy and scikit-image are not loaded, and scikit-image's ``rgb2lab`` +
``lab2rgb`` take about 10 s in float64 on a 12 MP photo on a 2-core CPU, and clip
out-of-gamut colours channel by channel, which changes their lightness. Here a colour
outside sRGB is instead moved towards the grey of the same luminance in linear light, so
its luminance (hence L*) is exactly the one asked for.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...float_image import linear_to_srgb, srgb_to_linear

#: Linear sRGB (D65) to CIE XYZ; its Y row is the luminance of each primary.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB).astype(np.float32)
#: The white point is the matrix's own white (within 2e-5 of D65), so a* = b* = 0 is exactly grey.
WHITE = XYZ_FROM_RGB.sum(axis=1)
_EPSILON = 6 / 29
#: Linear light is read back to 8 bits through a table this fine: near black one step
#: is 0.05 of an 8-bit level.
LINEAR_LEVELS = 65536


def _f(t: np.ndarray) -> np.ndarray:
    """CIELAB's companding of a ratio to the white (cube root with a linear toe)."""
    return np.where(t > _EPSILON ** 3, np.cbrt(t),
                    t / np.float32(3 * _EPSILON ** 2) + np.float32(4 / 29)).astype(np.float32)


def _f_inverse(u: np.ndarray) -> np.ndarray:
    linear = np.float32(3 * _EPSILON ** 2) * (u - np.float32(4 / 29))
    return np.where(u > _EPSILON, u * u * u, linear).astype(np.float32)


@lru_cache(maxsize=1)
def _luminance_tables() -> np.ndarray:
    """float32 (3, 256): each channel's 8-bit value to its share of the luminance."""
    linear = srgb_to_linear(np.arange(256, dtype=np.float32) / 255)
    return (XYZ_FROM_RGB[1][:, None] * linear).astype(np.float32)


@lru_cache(maxsize=1)
def _srgb8_table() -> np.ndarray:
    """uint8 (LINEAR_LEVELS,): linear light in steps of 1 / (LINEAR_LEVELS - 1) to 8-bit sRGB."""
    curve = linear_to_srgb(np.linspace(0, 1, LINEAR_LEVELS, dtype=np.float32))
    return np.rint(curve * 255).astype(np.uint8)


def luminance(pixels: np.ndarray) -> np.ndarray:
    """Relative luminance Y of 8-bit sRGB pixels.

    Parameters
    ----------
    pixels : ndarray
        uint8 (..., 3|4); alpha is ignored.

    Returns
    -------
    ndarray
        float32 (...), in [0, 1] (1 = white).
    """
    red, green, blue = _luminance_tables()
    return red[pixels[..., 0]] + green[pixels[..., 1]] + blue[pixels[..., 2]]


def lightness(y: np.ndarray) -> np.ndarray:
    """CIELAB L* in [0, 100] of luminance ``y`` in [0, 1] (float32, any shape)."""
    return np.float32(116) * _f(np.asarray(y, np.float32)) - np.float32(16)


def srgb8_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of 8-bit sRGB colours: uint8 (..., 3) to float32 (..., 3) L*, a*, b*."""
    linear = srgb_to_linear(np.asarray(rgb, np.float32) / 255)
    fx, fy, fz = np.moveaxis(_f(linear @ (XYZ_FROM_RGB / WHITE[:, None]).T.astype(np.float32)), -1, 0)
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def into_gamut(linear: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bring linear RGB into [0, 1] by mixing each colour with the grey of its own
    luminance, as little as needed; the luminance stays ``y``.

    Parameters
    ----------
    linear : ndarray
        float32 (3, ...) linear sRGB, channels first (reductions over a leading axis
        are fast in numpy), whose luminance is ``y``.
    y : ndarray
        float32 (...), in [0, 1].

    Returns
    -------
    ndarray
        A new float32 (3, ...) array in [0, 1] (up to float rounding).
    """
    highest, lowest = linear.max(axis=0), linear.min(axis=0)
    above, below = highest > 1, lowest < 0
    if not (above.any() or below.any()):
        return linear.copy()
    # The share of each colour's offset from grey that stays in [0, 1]: below 1 only on
    # a side the colour exceeds, where the denominator is positive (0 <= y <= 1).
    keep = np.divide(1 - y, highest - y, out=np.ones_like(y), where=above)
    np.minimum(keep, np.divide(y, y - lowest, out=np.ones_like(y), where=below), out=keep)
    offset = linear - y
    offset *= keep
    offset += y
    return offset


def lab_to_srgb8(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """8-bit sRGB colours with luminance ``y`` and chroma ``a``, ``b``.

    Parameters
    ----------
    y : ndarray
        float32 (...), relative luminance in [0, 1] (L* is a function of it alone).
    a, b : ndarray
        float32 (...), CIELAB a* and b* (about -128..127). Colours outside sRGB lose
        chroma (see ``into_gamut``), never luminance.

    Returns
    -------
    ndarray
        uint8 (..., 3).
    """
    y = np.clip(np.asarray(y, np.float32), 0, 1)
    fy = _f(y)
    xyz = np.stack([np.float32(WHITE[0]) * _f_inverse(fy + a / np.float32(500)), y,
                    np.float32(WHITE[2]) * _f_inverse(fy - b / np.float32(200))])
    linear = np.clip(into_gamut(np.tensordot(RGB_FROM_XYZ, xyz, axes=1), y), 0, 1)
    srgb = _srgb8_table()[np.rint(linear * np.float32(LINEAR_LEVELS - 1)).astype(np.uint16)]
    return np.moveaxis(srgb, 0, -1)

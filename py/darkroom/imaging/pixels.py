"""Pixel conversions between sample types: ``uint8`` to float RGB for the tools, and
integer or float samples of any range down to ``uint8`` for decoding."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

SIXTEEN_BIT_NOTE: str = "16-bit image reduced to 8 bits per channel."


def to_float_rgb(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Convert ``uint8`` pixels to float RGB in ``[0, 1]``.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``uint8`` array shaped ``(H, W)``, ``(H, W, 1)``, ``(H, W, 2)``
        (grey + alpha), ``(H, W, 3)`` or ``(H, W, 4)``.

    Returns
    -------
    numpy.ndarray
        C-contiguous ``float32`` array shaped ``(H, W, 3)``; alpha is dropped
        and grey is repeated into three channels.

    Raises
    ------
    ValueError
        If the array is not ``uint8`` or has an unsupported shape.
    """
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ValueError(f"to_float_rgb needs uint8 pixels, got {arr.dtype}.")
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.ndim != 3 or not 1 <= arr.shape[2] <= 4:
        raise ValueError(f"to_float_rgb needs an (H, W) or (H, W, 1-4) array, got {arr.shape}.")
    colour = arr[:, :, :3] if arr.shape[2] >= 3 else np.repeat(arr[:, :, :1], 3, axis=2)
    out = colour.astype(np.float32, order="C")
    out /= np.float32(255)
    return out


def int_to_u8(values: NDArray[np.integer[Any]], *, sixteen_bit: bool) -> tuple[NDArray[np.uint8], str]:
    """Scale integer samples to ``uint8``.

    Parameters
    ----------
    values : numpy.ndarray
        2-D integer samples.
    sixteen_bit : bool
        Whether the samples are known to be 16-bit (0..65535).

    Returns
    -------
    tuple of (numpy.ndarray, str)
        The ``uint8`` samples and a note describing the reduction.
    """
    if sixteen_bit:
        return (np.clip(values, 0, 65535) >> 8).astype(np.uint8), SIXTEEN_BIT_NOTE
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 255:
        return values.astype(np.uint8), "32-bit integer image converted to 8 bits per channel."
    if low >= 0 and high <= 65535:
        return (values >> 8).astype(np.uint8), SIXTEEN_BIT_NOTE
    return _stretch(values, low, high), "32-bit integer image stretched to 8 bits per channel."


def float_to_u8(values: NDArray[np.floating[Any]]) -> tuple[NDArray[np.uint8], str]:
    """Scale floating-point samples to ``uint8``.

    Values in ``[0, 1]`` are treated as normalised, values in ``[0, 255]`` as
    8-bit levels, anything else is stretched from its minimum to its maximum.
    NaN becomes black; infinities become the finite extremes.

    Parameters
    ----------
    values : numpy.ndarray
        2-D float samples.

    Returns
    -------
    tuple of (numpy.ndarray, str)
        The ``uint8`` samples and a note describing the conversion.
    """
    finite = np.isfinite(values)
    low = float(values[finite].min()) if finite.any() else 0.0
    high = float(values[finite].max()) if finite.any() else 0.0
    clean = np.nan_to_num(values.astype(np.float32), nan=min(low, 0.0), posinf=high, neginf=low)
    if low >= 0.0 and high <= 1.0:
        return np.rint(clean * 255).astype(np.uint8), "Floating-point image converted to 8 bits per channel."
    if low >= 0.0 and high <= 255.0:
        return np.rint(clean).astype(np.uint8), "Floating-point image converted to 8 bits per channel."
    return _stretch(clean, low, high), "Floating-point image stretched to 8 bits per channel."


def _stretch(values: NDArray[np.number[Any]], low: float, high: float) -> NDArray[np.uint8]:
    """Map ``[low, high]`` linearly onto ``0..255``.

    Parameters
    ----------
    values : numpy.ndarray
        Numeric samples, all within ``[low, high]``.
    low, high : float
        The range to map; a flat image (``low == high``) becomes black.

    Returns
    -------
    numpy.ndarray
        ``uint8`` samples of the same shape.
    """
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)

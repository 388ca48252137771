"""Pixels to model tensors and back, as a model's manifest entry describes them."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .models import ModelSpec


def _norm(spec: ModelSpec) -> tuple[np.float32, NDArray[np.float32], NDArray[np.float32]]:
    norm = spec.normalisation
    return (np.float32(norm["scale"]), np.asarray(norm["mean"], dtype=np.float32),
            np.asarray(norm["std"], dtype=np.float32))


#: The pixel interface: a model's one input is the photo's RGB pixels as they are.
PIXELS_SHAPE, PIXELS_DTYPE = (1, 0, 0, 3), "uint8"


def takes_pixels(spec: ModelSpec) -> bool:
    """Whether the model takes the photo as it is: one input, uint8 ``[1, H, W, 3]`` RGB
    of any H and W (``0`` in the manifest). Its graph resizes and normalises the pixels
    itself (``models/recipes/pixels_in.py``), so the page can feed it what the browser
    decoded before Python has started. Otherwise the host resizes and applies
    ``normalisation`` (``to_input``)."""
    return len(spec.inputs) == 1 and (spec.inputs[0].shape, spec.inputs[0].dtype) == (PIXELS_SHAPE, PIXELS_DTYPE)


def pixels_input(spec: ModelSpec, pixels: NDArray[np.uint8]) -> dict[str, NDArray[np.uint8]]:
    """The feed of a model that ``takes_pixels``: uint8 ``(1, H, W, 3)``, C-contiguous,
    from uint8 (H, W, 3|4) pixels (alpha dropped; no copy when there is none)."""
    return {spec.inputs[0].name: np.ascontiguousarray(pixels[np.newaxis, ..., :3], dtype=np.uint8)}


def working_size(spec: ModelSpec) -> tuple[int, int]:
    """The (height, width) a single-image NCHW model computes at: its input's, or, for a
    model that ``takes_pixels`` and resizes them in its graph, its first output's (the
    size it resized to; for ISNet the 1024 x 1024 mask)."""
    shape = spec.outputs[0].shape if takes_pixels(spec) else spec.inputs[0].shape
    return shape[-2], shape[-1]


def to_input(spec: ModelSpec, rgb: NDArray[Any]) -> dict[str, NDArray[np.float32]]:
    """The feed for a model's single image input.

    Parameters
    ----------
    spec : ModelSpec
        Gives the input name, ``normalisation`` (``(x * scale - mean) / std``) and layout.
    rgb : ndarray
        (H, W, 3), values in [0, 255] (uint8 or float).

    Returns
    -------
    dict
        ``{input_name: float32 (1, 3, H, W)}`` for NCHW models, ``(1, H, W, 3)`` for NHWC.
    """
    scale, mean, std = _norm(spec)
    x = (np.asarray(rgb, dtype=np.float32) * scale - mean) / std
    if spec.normalisation["layout"] == "NCHW":
        x = x.transpose(2, 0, 1)
    return {spec.inputs[0].name: np.ascontiguousarray(x[np.newaxis])}


def from_output(spec: ModelSpec, outputs: dict[str, NDArray[Any]]) -> NDArray[np.float32]:
    """A model's first output as an image: the input normalisation undone.

    Returns
    -------
    ndarray
        float32 (H, W, C) with values nominally in [0, 255] (not clipped: callers decide).
    """
    scale, mean, std = _norm(spec)
    y: NDArray[np.floating[Any]] = outputs[spec.outputs[0].name][0]
    if spec.normalisation["layout"] == "NCHW":
        y = y.transpose(1, 2, 0)
    return (y * std + mean) / scale


def to_uint8(image: NDArray[np.floating[Any]]) -> NDArray[np.uint8]:
    """Round and clip float pixels in [0, 255] to uint8."""
    rounded: NDArray[np.floating[Any]] = np.clip(np.rint(image), 0, 255)
    return rounded.astype(np.uint8)

"""Pixels to model tensors and back, as a model's manifest entry describes them."""

from __future__ import annotations

import numpy as np

from .models import ModelSpec


def _norm(spec: ModelSpec) -> tuple[np.float32, np.ndarray, np.ndarray]:
    norm = spec.normalisation
    return (np.float32(norm["scale"]), np.asarray(norm["mean"], dtype=np.float32),
            np.asarray(norm["std"], dtype=np.float32))


def to_input(spec: ModelSpec, rgb: np.ndarray) -> dict[str, np.ndarray]:
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


def from_output(spec: ModelSpec, outputs: dict[str, np.ndarray]) -> np.ndarray:
    """A model's first output as an image: the input normalisation undone.

    Returns
    -------
    ndarray
        float32 (H, W, C) with values nominally in [0, 255] (not clipped: callers decide).
    """
    scale, mean, std = _norm(spec)
    y = outputs[spec.outputs[0].name][0]
    if spec.normalisation["layout"] == "NCHW":
        y = y.transpose(1, 2, 0)
    return (y * std + mean) / scale


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip float pixels in [0, 255] to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)

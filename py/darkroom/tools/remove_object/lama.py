"""LaMa's interface, as Carve/LaMa-ONNX exports it (``lama_fp32.onnx``): ``image`` float32
[1, 3, 512, 512] RGB in [0, 1] and ``mask`` float32 [1, 1, 512, 512] (1 = fill) in,
float32 [1, 3, 512, 512] out in [0, 255] (the export multiplies by 255 itself).

One square crop of the photo at a time: resized to the model's side, filled, resized
back; only the painted pixels (grown a little, with a feathered edge) are pasted.
Only numpy and Pillow, so it runs in the page where scipy is not loaded.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from ...byom import Signature, TensorRule
from ...models import ModelSpec
from ...tensors import to_input, to_uint8
from ...tiling import UNIT_RANGE_NCHW
from .regions import grow

SIGNATURE = Signature(
    inputs=(TensorRule("image", "float32", (1, 3, "S", "S")), TensorRule("mask", "float32", (1, 1, "S", "S"))),
    outputs=(TensorRule("result", "float32", (1, 3, "S", "S")),),
    normalisation=UNIT_RANGE_NCHW,
    sizes={"S": 512},
)
#: The hole the model fills reaches this many model pixels past the paint: edges of the
#: object the brush missed, and the blur of resizing, are filled too.
GROW = 4
#: The pasted area reaches this many model pixels past the paint at full weight, then
#: fades out over as many again (still inside what the model filled).
FEATHER = 2


def model_side(spec: ModelSpec) -> int:
    """The side of the square the model sees (512 for LaMa-ONNX)."""
    return spec.inputs[0].shape[2]


def _to_side(square: np.ndarray, side: int) -> np.ndarray:
    """uint8 (s, s, 3) resized to (side, side, 3), antialiased when shrinking."""
    return np.asarray(Image.fromarray(square).resize((side, side), Image.Resampling.BICUBIC))


def _covered(mask: np.ndarray, side: int) -> np.ndarray:
    """bool (s, s) resized to (side, side): True wherever the source has any True pixel."""
    area = Image.fromarray(mask.astype(np.uint8) * np.uint8(255)).resize((side, side), Image.Resampling.BOX)
    return np.asarray(area) > 0


def feeds(spec: ModelSpec, rgb: np.ndarray, hole: np.ndarray) -> dict[str, np.ndarray]:
    """The model's inputs for one square crop.

    Parameters
    ----------
    spec : ModelSpec
        Inputs ``image`` then ``mask``, square, as ``SIGNATURE``.
    rgb : ndarray
        uint8 (s, s, 3), the crop (``s`` >= the model's side).
    hole : ndarray
        bool (s, s), True where to fill.

    Returns
    -------
    dict
        ``{image: float32 (1, 3, n, n) in [0, 1], mask: float32 (1, 1, n, n) in {0, 1}}``;
        the hole is blanked in the image too, as LaMa was trained to see it.
    """
    side = model_side(spec)
    hole_in = grow(_covered(hole, side), GROW)
    image = _to_side(rgb, side) * (~hole_in)[..., None].astype(np.float32)
    return {**to_input(spec, image), spec.inputs[1].name: hole_in.astype(np.float32)[None, None]}


def filled(spec: ModelSpec, outputs: dict[str, np.ndarray], size: int) -> np.ndarray:
    """The model's answer as an image: uint8 (size, size, 3) (outputs are in [0, 255])."""
    answer = to_uint8(outputs[spec.outputs[0].name][0].transpose(1, 2, 0))
    return np.asarray(Image.fromarray(answer).resize((size, size), Image.Resampling.BICUBIC))


def paste_weight(own: np.ndarray, side: int) -> np.ndarray:
    """How much of the model's answer each pixel of a square crop takes.

    Parameters
    ----------
    own : ndarray
        bool (s, s): the painted pixels this crop is for.
    side : int
        The model's side: growing and feathering happen at its scale.

    Returns
    -------
    ndarray
        float32 (s, s) in [0, 1]: 1 on ``own`` and up to ``FEATHER`` model pixels around
        it, fading to 0 over ``FEATHER`` more; 0 elsewhere (those pixels stay as they are).
    """
    spread = Image.fromarray(grow(_covered(own, side), FEATHER).astype(np.uint8) * np.uint8(255))
    soft = spread.filter(ImageFilter.BoxBlur(FEATHER)).resize(own.shape[::-1], Image.Resampling.BILINEAR)
    return np.maximum(np.asarray(soft, dtype=np.float32) / 255, own)

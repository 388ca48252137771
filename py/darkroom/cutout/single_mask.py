"""Models with one image in and one mask out (ISNet, U²-Net, MediaPipe's selfie
segmenter, most salient-object models): their feed, and their mask as the photo's alpha.

A depth model has the same image-in interface, so its feed comes from here too."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..byom import Signature, TensorRule
from ..float_image import resize
from ..models import ModelSpec
from ..tensors import pixels_input, takes_pixels, to_input

# Model outputs below / above these are haze and noise, not partial coverage.
ALPHA_FLOOR = 0.03
ALPHA_CEIL = 0.97

# ISNet's published ONNX interface (also U²-Net's and most salient-object models'):
# an NCHW RGB image in, a one-channel mask in [0, 1] out at the same size.
SIGNATURE = Signature(
    inputs=(TensorRule("image", "float32", (1, 3, "H", "W")),),
    outputs=(TensorRule("mask", "float32", (1, 1, "H", "W")),),
    normalisation={"layout": "NCHW", "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [1.0, 1.0, 1.0]},
    sizes={"H": 1024, "W": 1024},
)


def prepare(spec: ModelSpec, pixels: np.ndarray, params: dict | None = None) -> dict[str, np.ndarray]:
    """The feed: the photo itself for a model that resizes and normalises in its graph
    (``tensors.takes_pixels``: the shipped ISNets), else resized with Pillow's bilinear
    filter to the model's input size and normalised (users' own models, depth models).

    Parameters
    ----------
    spec : ModelSpec
        Gives the input name and either the pixel interface or a (1, 3, H, W) shape and
        the normalisation.
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB; alpha, if any, is ignored.

    Returns
    -------
    dict
        ``{input_name: uint8 (1, H, W, 3)}`` (the photo's size) or
        ``{input_name: float32 (1, 3, H, W)}`` (the model's size).
    """
    if takes_pixels(spec):
        return pixels_input(spec, pixels)
    _, _, height, width = spec.inputs[0].shape
    rgb = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    return to_input(spec, np.asarray(rgb.resize((width, height), Image.Resampling.BILINEAR)))


def mask_to_alpha(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bring a model mask back to the photo's size and clean its edges.

    Parameters
    ----------
    mask : ndarray
        float32 (h, w), values in [0, 1].
    size : (width, height)
        The photo's size.

    Returns
    -------
    ndarray
        float32 (height, width) alpha in [0, 1].
    """
    alpha = (resize(np.asarray(mask, dtype=np.float32), size) - ALPHA_FLOOR) / (ALPHA_CEIL - ALPHA_FLOOR)
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def alpha_from_outputs(spec: ModelSpec, outputs: dict[str, np.ndarray], pixels: np.ndarray) -> np.ndarray:
    """The full-resolution alpha from the model's first output, float32 (H, W) in [0, 1]."""
    mask = outputs[spec.outputs[0].name].reshape(spec.outputs[0].shape[-2:])
    return mask_to_alpha(mask, (pixels.shape[1], pixels.shape[0]))


async def subject_alpha(spec: ModelSpec, infer, pixels: np.ndarray) -> np.ndarray:
    """One run of the mask model ``spec`` through ``infer`` (``tool.Infer``): the
    subject's alpha, float32 (H, W) in [0, 1], at the size of ``pixels`` (uint8 (H, W, 3|4))."""
    return alpha_from_outputs(spec, await infer(prepare(spec, pixels)), pixels)

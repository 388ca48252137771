"""Background removal: ISNet when a model can run, a scikit-image cut-out otherwise."""

from __future__ import annotations

import numpy as np

from ...cutout import single_mask
from ...cutout.single_mask import SIGNATURE
from ...tool import Footprint, Output, Pace, Param, Rate, Tool, model_scale_notes, rgb_of, single_pass

OUTPUTS = ("cutout", "mask", "color")


def compose(pixels: np.ndarray, alpha: np.ndarray, params: dict) -> np.ndarray:
    """The requested output from the photo and its subject alpha.

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB photo; an existing alpha channel is respected.
    alpha : ndarray
        float32 (H, W) in [0, 1], 1 = subject.
    params : dict
        ``output``: ``"cutout"`` -> uint8 (H, W, 4) RGBA; ``"mask"`` -> uint8 (H, W);
        ``"color"`` -> uint8 (H, W, 3), the subject over ``params["color"]``.
    """
    if pixels.shape[2] == 4:
        alpha = alpha * (pixels[..., 3] / np.float32(255))
    if params["output"] == "mask":
        return np.rint(alpha * 255).astype(np.uint8)
    rgb = pixels[..., :3]
    if params["output"] == "cutout":
        return np.dstack([rgb, np.rint(alpha * 255).astype(np.uint8)])
    backdrop = np.array(rgb_of(params["color"]), dtype=np.float32)
    a = alpha[..., np.newaxis]
    return np.rint(rgb * a + backdrop * (1 - a)).astype(np.uint8)


def _classical(pixels: np.ndarray, params: dict) -> np.ndarray:
    from ...cutout.classical import estimate_alpha  # needs scikit-image
    from ...imaging import to_float_rgb

    return compose(pixels, estimate_alpha(to_float_rgb(pixels)), params)


def _finish(spec, outputs, pixels, params) -> Output:
    return Output(compose(pixels, single_mask.alpha_from_outputs(spec, outputs, pixels), params),
                  notes=model_scale_notes(spec, pixels, "The mask"))


TOOL = Tool(
    id="remove-background",
    title="Remove background",
    group="Cut out & background",
    description="Cut the subject out of a photo.",
    params=(
        Param("output", "Output", "choice", "cutout", OUTPUTS,
              help="cutout: transparent PNG; mask: the alpha mask alone; color: the subject on a colour."),
        Param("color", "Backdrop colour", "color", "#ffffff", help="Used when output is color.",
              shown_when=("output", ("color",))),
        Param("subject", "Subject", "choice", "general", ("general", "portrait"),
              help="portrait: people; on the lite tier a small portrait model then runs in milliseconds."),
    ),
    # The selfie model serves portraits only, and only where ISNet is too heavy (manifest tiers).
    models=("selfie-segmenter", "isnet-fp16", "isnet-quint8"),
    classical=_classical,
    run_model=single_pass(single_mask.prepare, _finish),
    signature=SIGNATURE,
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 32 resident, model 14 traced (ISNet; its session
    # lives in the model worker).
    footprint=Footprint(classical=35, model=15),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(0.24), wasm={"isnet-quint8": Rate(0.16, fixed=9.0), "selfie-segmenter": Rate(0.08)}),
)

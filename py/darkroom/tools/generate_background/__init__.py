"""New background: the subject cut out and set on a new backdrop with a soft contact
shadow, composited in linear light.

The cut-out is ISNet's mask when a model can run (the manifest's ISNet or your own
model with its interface), else the scikit-image cut-out of remove-background's
classical path. The backdrop is drawn, never generated: a studio paper sweep, a plain
colour, a gradient, or the photo's own background blurred; the label says so.

Not here: a generative backdrop (e.g. SD-Turbo painting a scene from a prompt). It needs
a multi-part model (text encoder, UNet, VAE decoder) that neither the manifest nor
bring-your-own (one ONNX file each) can hold yet, and no registry package here ships
such weights.
"""

from __future__ import annotations

import numpy as np

from ...imaging import to_float_rgb
from .. import Output, Param, Tool, model_scale_notes, single_pass
from ..remove_background import SIGNATURE as CUTOUT_SIGNATURE
from ..remove_background import isnet
from . import backdrops, composite

DEFAULT_COLOUR = "#e6e6e6"


def compose(pixels: np.ndarray, alpha: np.ndarray, params: dict) -> tuple[np.ndarray, tuple[str, ...]]:
    """The subject over the requested backdrop, and label notes on how it was made.

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB photo; an existing alpha channel is respected.
    alpha : ndarray
        float32 (H, W) in [0, 1], 1 = subject.
    params : dict
        ``backdrop`` (one of ``backdrops.KINDS``), ``color`` (``"#rrggbb"``), ``shadow`` (bool).

    Returns
    -------
    rgb : ndarray
        uint8 (H, W, 3).
    notes : tuple of str
    """
    alpha = alpha.astype(np.float32, copy=False)
    if pixels.shape[2] == 4:
        alpha = alpha * (pixels[..., 3] / np.float32(255))
    if (alpha >= 1).all():
        return np.ascontiguousarray(pixels[..., :3]), (
            "No background could be told apart from the subject, so the photo is kept as it is.",)
    size = composite.work_size(pixels.shape)
    linear, small_alpha = composite.shrink(pixels, alpha, size)
    backdrop, described = backdrops.draw(params["backdrop"], params["color"], linear, small_alpha)
    notes = [f"The backdrop is drawn, not generated: {described}."]
    if params["shadow"]:
        factor, no_shadow = composite.contact_shadow(small_alpha)
        if factor is None:
            notes.append(no_shadow)
        else:
            backdrop *= factor[..., None]
    fg_mean, bg_mean = composite.edge_colours(linear, small_alpha)
    if size != (pixels.shape[1], pixels.shape[0]):
        notes.append(f"The backdrop, shadow and local edge colours were computed at {size[0]} × {size[1]} and "
                     f"scaled to {pixels.shape[1]} × {pixels.shape[0]}; the subject keeps its own pixels.")
    return composite.composite(pixels, alpha, backdrop, fg_mean, bg_mean), tuple(notes)


def _finish(spec, outputs, pixels: np.ndarray, params: dict) -> Output:
    rgb, notes = compose(pixels, isnet.alpha_from_outputs(spec, outputs, pixels), params)
    return Output(rgb, notes=(*model_scale_notes(spec, pixels, "The mask"), *notes))


def classical(pixels: np.ndarray, params: dict) -> Output:
    from ..remove_background.classical import estimate_alpha  # needs scikit-image

    rgb, notes = compose(pixels, estimate_alpha(to_float_rgb(pixels)), params)
    return Output(rgb, notes=notes, method="cut-out (a fitted backdrop model and a watershed) "
                                          "composited over a drawn backdrop in linear light")


TOOL = Tool(
    id="generate-background",
    title="New background",
    group="Cut out & background",
    description="Put the subject on a new backdrop (a studio sweep, a colour, a gradient or its own "
                "background blurred) with a soft contact shadow.",
    params=(
        Param("backdrop", "Backdrop", "choice", "studio", backdrops.KINDS,
              help="studio: a seamless paper sweep; solid: one colour; gradient: the colour fading to a tint; "
                   "blurred: the photo's own background, heavily blurred."),
        Param("color", "Colour", "color", DEFAULT_COLOUR, help="The backdrop's colour.",
              shown_when=("backdrop", tuple(kind for kind in backdrops.KINDS if kind != "blurred"))),
        Param("shadow", "Contact shadow", "bool", True,
              help="A soft shadow under the subject where it stands (not when it runs off the bottom edge)."),
    ),
    # Every model this tool runs is a cut-out mask with ISNet's interface (its signature):
    # the manifest's ISNet, or your own model checked against the same signature.
    models=("isnet-quint8", "isnet-fp16"),
    classical=classical,
    run_model=single_pass(isnet.prepare, _finish),
    signature=CUTOUT_SIGNATURE,
)

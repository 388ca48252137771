"""Portrait blur: a lens-like background blur that grows with distance.

Where the distance comes from, best first:

* a depth model (your own, with Depth-Anything's interface: relative inverse depth,
  larger = nearer), focused on the nearest part of the scene;
* without one, ISNet's subject mask stands in for depth (the subject sharp, the rest
  equally far), and the label says so;
* the classical path: the scikit-image cut-out's mask, the same way.
"""

from __future__ import annotations

import numpy as np

from ...byom import Signature, TensorRule
from ...cutout import single_mask
from ...float_image import resize
from ...imaging import to_float_rgb
from ...tool import Footprint, Output, Pace, Param, Rate, Tool, model_scale_notes
from . import lens

#: The blur radius at strength 1, as a fraction of the photo's longer side.
MAX_RADIUS_FRACTION = 0.03
DEFAULT_STRENGTH = 0.5
#: A depth model focuses where the nearest this fraction of the scene is.
FOCUS_QUANTILE = 0.9

SIGNATURE = Signature(
    inputs=(TensorRule("image", "float32", (1, 3, "H", "W")),),
    outputs=(TensorRule("depth", "float32", (1, "H", "W")),),
    # ImageNet statistics, as Depth Anything's exports expect.
    normalisation={"layout": "NCHW", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    sizes={"H": 518, "W": 518},
)


def blur_radius(pixels: np.ndarray, strength: float) -> float:
    """The largest blur radius in pixels for this photo and strength."""
    return float(strength) * MAX_RADIUS_FRACTION * max(pixels.shape[:2])


def defocus_from_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Defocus in [0, 1] from relative inverse depth (larger = nearer).

    Parameters
    ----------
    depth : ndarray
        float32 (h, w), any range.
    size : (width, height)
        The photo's size.

    Returns
    -------
    ndarray
        float32 (height, width): 0 at and in front of the focus plane (the nearest
        ``1 - FOCUS_QUANTILE`` of the scene), rising to 1 at the farthest point.
    """
    full = resize(np.asarray(depth, np.float32), size)
    focus, far = np.quantile(full, FOCUS_QUANTILE), float(full.min())
    if focus - far <= 1e-6:
        return np.zeros_like(full)  # a flat scene: nothing to blur by distance
    return np.clip((focus - full) / (focus - far), 0, 1).astype(np.float32)


async def run_model(spec, infer, pixels: np.ndarray, params: dict, progress) -> Output:
    radius = blur_radius(pixels, params["strength"])
    size = (pixels.shape[1], pixels.shape[0])
    if spec.tool == "remove-background":
        alpha = await single_mask.subject_alpha(spec, infer, pixels)
        notes = (f"No depth model is installed: {spec.id}'s subject mask stands in for depth, so the subject "
                 "is sharp and everything else equally blurred.", *model_scale_notes(spec, pixels, "The mask"))
        defocus = 1 - alpha
    else:
        outputs = await infer(single_mask.prepare(spec, pixels))  # resize to the input and normalise
        defocus = defocus_from_depth(outputs[spec.outputs[0].name][0], size)
        notes = (f"Depth from {spec.id}, focused on the nearest {1 - FOCUS_QUANTILE:.0%} of the scene.",
                 *model_scale_notes(spec, pixels, "The depth map"))
    progress(1, 1)
    return Output(lens.lens_blur(pixels, defocus, radius), notes=notes)


def classical(pixels: np.ndarray, params: dict) -> Output:
    from ...cutout.classical import estimate_alpha  # needs scikit-image

    alpha = estimate_alpha(to_float_rgb(pixels))
    return Output(lens.lens_blur(pixels, 1 - alpha, blur_radius(pixels, params["strength"])),
                  method="the classical cut-out's subject mask as depth; disk-shaped lens blur in linear light")


TOOL = Tool(
    id="portrait-blur",
    title="Portrait blur",
    group="Cut out & background",
    description="Blur the background like a wide-open lens, keeping the subject sharp.",
    params=(Param("strength", "Strength", "number", DEFAULT_STRENGTH,
                  help="How wide the background blur is (at 1, 3 % of the photo's longer side)."),),
    # Segmentation models stand in for depth until a depth model is installed.
    models=("isnet-quint8", "isnet-fp16"),
    classical=classical,
    run_model=run_model,
    signature=SIGNATURE,
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 39 resident, model 40 traced (ISNet's mask as
    # depth).
    footprint=Footprint(classical=40, model=40),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(1.45), wasm={"isnet-quint8": Rate(0.47, fixed=8.8)}),
)

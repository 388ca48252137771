"""Remove object: fill what the user painted over from its surroundings.

* Model path: your own inpainting model with LaMa's interface (Carve/LaMa-ONNX), run on
  a square crop around each painted region (one square for regions that fit in one).
* Classical path: scikit-image's biharmonic inpainting on a crop around each region: a
  smooth fill, good for blemishes, wires and small things on plain backgrounds; it
  invents no texture.

Either way only painted pixels change (the model's paste also takes a feathered edge a
few pixels wide), and alpha is kept.
"""

from __future__ import annotations

import numpy as np

from ...tensors import to_uint8
from ...tool import Footprint, Output, Pace, Param, ParamError, Rate, Tool
from . import biharmonic, lama
from .regions import Box, bounding, grown, merge_boxes, painted_boxes, square_around, square_side

PAINT_FIRST = "Paint over what to remove first."
#: Painted regions with less than this many empty rows or columns between them are
#: filled together.
GAP = 16
#: A classical crop reaches this many working pixels past its region: the biharmonic
#: equation needs only 2, the rest keeps the fill's colour range local.
CLASSICAL_MARGIN = 8
#: A model crop adds this fraction of the region's longer side on each side as context.
MODEL_CONTEXT = 0.5
METHOD = "biharmonic inpainting, a smooth fill continued from the pixels around each painted area"


def check(pixels: np.ndarray, params: dict) -> None:
    """Refuse a missing, empty, wrongly sized or all-covering mask."""
    mask = params["mask"]
    if mask is None:
        raise ParamError(PAINT_FIRST)
    height, width = pixels.shape[:2]
    if mask.shape != (height, width):
        raise ParamError(f"The mask is {mask.shape[1]} × {mask.shape[0]} pixels but the photo is "
                         f"{width} × {height}; paint the mask on this photo.")
    if not mask.any():
        raise ParamError(PAINT_FIRST)
    if mask.all():
        raise ParamError("The whole photo is painted over; leave some of it unpainted to fill from.")


def _own(parts: list[Box], area: Box, remaining: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool ``size``: the still-unfilled painted pixels of ``parts``, placed in ``area``'s
    coordinates (``size`` may exceed ``area`` where a crop is padded)."""
    own = np.zeros(size, dtype=bool)
    for part in parts:
        own[part.within(area).slices] = remaining[part.slices]
    return own


def classical(pixels: np.ndarray, params: dict) -> Output:
    mask = params["mask"]
    out = pixels.copy()
    remaining = mask.copy()
    notes = []
    regions = painted_boxes(mask, GAP)
    for box in regions:
        factor = biharmonic.scale_for(int(mask[box.slices].sum()))
        area = grown(box, CLASSICAL_MARGIN * factor, mask.shape)
        own = _own([box], area, remaining, (area.height, area.width))
        # Other regions inside the crop are still holes: the fill never takes their colour.
        fill = biharmonic.fill_crop(out[area.slices][..., :3], remaining[area.slices], factor)
        out[area.slices][..., :3][own] = fill[own]
        remaining[box.slices] = False
        if factor > 1:
            notes.append(f"The {box.width} × {box.height} px area at ({box.left}, {box.top}) was filled at "
                         f"1/{factor} scale and scaled back up: biharmonic inpainting solves for every pixel, "
                         "which is slow on large areas.")
    summary = (f"Filled {len(regions)} painted areas, each from a crop of its surroundings." if len(regions) > 1
               else "Filled the painted area from a crop of its surroundings.")
    return Output(out, method=METHOD, notes=(summary, *notes))


def model_crops(mask: np.ndarray, side: int) -> list[tuple[list[Box], Box, int]]:
    """The square crops the model fills, one per group of painted regions.

    Regions share a crop when one square no larger than the larger of their own holds
    them both.

    Parameters
    ----------
    mask : ndarray
        bool (H, W), some pixels painted.
    side : int
        The model's input side.

    Returns
    -------
    list of (parts, area, square)
        ``parts`` the painted boxes the crop is for, ``area`` the crop in the photo, and
        ``square`` its side before it was cut to the photo (the crop is padded back to it).
    """
    shape = mask.shape

    def sides(boxes: np.ndarray) -> np.ndarray:
        longest = np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1])
        return square_side(longest, MODEL_CONTEXT, side, shape)

    def joinable(one, others, unions):
        return sides(unions) <= np.maximum(sides(one), sides(others))

    crops = []
    for parts in merge_boxes(painted_boxes(mask, GAP), joinable):
        box = bounding(parts)
        square = int(square_side(max(box.height, box.width), MODEL_CONTEXT, side, shape))
        crops.append((parts, square_around(box, square, shape), square))
    return crops


def _padded(crop: np.ndarray, square: int) -> np.ndarray:
    """``crop`` mirrored past its bottom and right edges to ``square`` x ``square``."""
    pad = [(0, square - crop.shape[0]), (0, square - crop.shape[1])] + [(0, 0)] * (crop.ndim - 2)
    return np.pad(crop, pad, mode="symmetric")


def _describe(area: Box, square: int, side: int) -> str:
    scale = f"scaled down {square / side:.1f}×" if square > side else "at full resolution"
    padded = " (mirrored past the photo's edge to a square)" if (area.height, area.width) != (square, square) else ""
    return f"{square} × {square} at ({area.left}, {area.top}), {scale}{padded}"


async def run_model(spec, infer, pixels: np.ndarray, params: dict, progress) -> Output:
    mask = params["mask"]
    side = lama.model_side(spec)
    crops = model_crops(mask, side)
    out = pixels.copy()
    remaining = mask.copy()
    for done, (parts, area, square) in enumerate(crops, 1):
        height, width = area.height, area.width
        # Painted pixels not yet filled (other regions' too) are holes, never context.
        feeds = lama.feeds(spec, _padded(out[area.slices][..., :3], square), _padded(remaining[area.slices], square))
        answer = lama.filled(spec, await infer(feeds), square)[:height, :width]
        weight = lama.paste_weight(_own(parts, area, remaining, (square, square)), side)[:height, :width]
        changed = weight > 0
        rgb = out[area.slices][..., :3]
        mix = weight[changed][:, None]
        rgb[changed] = to_uint8(rgb[changed] * (1 - mix) + answer[changed] * mix)
        for part in parts:
            remaining[part.slices] = False
        progress(done, len(crops))
    seen = "; ".join(_describe(area, square, side) for _, area, square in crops)
    count = f"{len(crops)} square crop{'s' if len(crops) > 1 else ''}"
    return Output(out, notes=(f"The model filled {count} around the painted areas, each seen at {side} × {side}: "
                              f"{seen}.",), parts_noted=True)


TOOL = Tool(
    id="remove-object",
    title="Remove object",
    group="Retouch",
    description="Paint over something and fill it in from its surroundings.",
    params=(Param("mask", "Area to remove", "mask", None,
                  help="Paint over what to remove (white in a mask file); it is filled from the pixels around it."),),
    models=(),
    classical=classical,
    run_model=run_model,
    check=check,
    signature=lama.SIGNATURE,
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 15 resident; LaMa (the user's) runs on crops
    # around the painted areas.
    footprint=Footprint(classical=15),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(0.3)),
)

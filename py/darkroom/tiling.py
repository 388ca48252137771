"""Run a fixed-size model over an image of any size: overlapping tiles, blended seams.

Tiles overlap by at least ``overlap`` pixels; inside an overlap each tile's weight
ramps down towards its own edge (where a network sees the least context), and the
weighted outputs are normalised, so seams vanish. Rows of tiles are processed top to
bottom and finished rows are written out at once: only one row of tiles is held in
float, so memory stays bounded for 12-50 MP photos.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .byom import Signature, TensorRule
from .models import ModelSpec
from .tensors import from_output, to_input, to_uint8
from .tool import Infer, Progress

_Scalar = TypeVar("_Scalar", bound=np.generic)

#: Pixels in [0, 1], channels first: UpscalerJS's ESRGAN, DDColor and LaMa exports.
UNIT_RANGE_NCHW: dict[str, Any] = {"layout": "NCHW", "scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
#: Pixels in [0, 1], channels last: the convention of MAXIM's TensorFlow export.
UNIT_RANGE_NHWC: dict[str, Any] = {**UNIT_RANGE_NCHW, "layout": "NHWC"}


def same_size_signature(normalisation: dict[str, Any], tile: int) -> Signature:
    """The interface ``image_model`` runs at scale 1 (denoisers, deblurrers): one RGB
    image in, one out at the same size, in ``normalisation``'s layout; a model that
    leaves H and W open gets ``tile`` x ``tile`` tiles."""
    shape = (1, 3, "H", "W") if normalisation["layout"] == "NCHW" else (1, "H", "W", 3)
    return Signature(inputs=(TensorRule("image", "float32", shape),), outputs=(TensorRule("result", "float32", shape),),
                     normalisation=normalisation, sizes={"H": tile, "W": tile})


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering ``[0, length)``, evenly spread.

    Parameters
    ----------
    length : int
        Image side in pixels.
    tile : int
        Tile side; ``length <= tile`` gives one tile at 0.
    overlap : int
        Least overlap between neighbours, ``0 <= overlap < tile``.

    Returns
    -------
    list of int
        Increasing offsets; the last tile ends exactly at ``length``.
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be in [0, {tile})")
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def edge_weights(size: int, ramp: int, ramp_start: bool, ramp_end: bool) -> NDArray[np.float32]:
    """1-D blending weights for one tile side: 1 inside, a linear ramp towards an edge
    that another tile overlaps, never 0 (so every pixel has some weight).

    Returns
    -------
    ndarray
        float32 (size,), values in (0, 1].
    """
    weights = np.ones(size, dtype=np.float32)
    if ramp > 0:
        rise = (np.arange(min(ramp, size), dtype=np.float32) + 0.5) / ramp
        if ramp_start:
            weights[: rise.size] = np.minimum(weights[: rise.size], rise)
        if ramp_end:
            weights[size - rise.size:] = np.minimum(weights[size - rise.size:], rise[::-1])
    return weights


def _padded(window: NDArray[_Scalar], tile: int) -> NDArray[_Scalar]:
    """``window`` grown to ``tile`` x ``tile`` by mirroring, for images smaller than a tile."""
    extra_y, extra_x = tile - window.shape[0], tile - window.shape[1]
    if extra_y == 0 and extra_x == 0:
        return window
    pad = [(0, extra_y), (0, extra_x)] + [(0, 0)] * (window.ndim - 2)
    return np.pad(window, pad, mode="symmetric")


async def tiled(
    image: NDArray[Any],
    run_tile: Callable[[NDArray[Any]], Awaitable[NDArray[Any]]],
    *,
    tile: int,
    overlap: int,
    scale: int = 1,
    out: NDArray[Any] | None = None,
    store: Callable[[NDArray[np.float32]], NDArray[Any]] | None = None,
    progress: Progress | None = None,
) -> NDArray[Any]:
    """Apply ``run_tile`` to overlapping ``tile`` x ``tile`` windows of ``image``.

    Parameters
    ----------
    image : ndarray
        (H, W) or (H, W, C), any dtype: windows are passed to ``run_tile`` as they are.
    run_tile : async callable
        Takes a (tile, tile[, C]) window (mirror-padded where the image is smaller than
        a tile) and returns float32 (tile * scale, tile * scale, C_out).
    tile, overlap : int
        Window side and least overlap, in input pixels.
    scale : int
        Output pixels per input pixel (an upscaler's factor).
    out : ndarray, optional
        (H * scale, W * scale, C_out) array to fill; float32 when not given.
    store : callable, optional
        Converts a finished float32 band before it is written to ``out`` (e.g. to uint8),
        so ``out`` can be compact.
    progress : callable(done, total), optional
        Called after each tile.

    Returns
    -------
    ndarray
        ``out``: the blended result.
    """
    height, width = image.shape[:2]
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    out_h, out_w, tile_out, ramp = height * scale, width * scale, tile * scale, overlap * scale
    total, done = len(ys) * len(xs), 0
    band: NDArray[np.float32] | None = None
    band_weight: NDArray[np.float32] | None = None
    for row, y in enumerate(ys):
        span_y = min(tile, height - y) * scale
        wy = edge_weights(span_y, ramp, row > 0, row < len(ys) - 1)
        for col, x in enumerate(xs):
            window = image[y:y + tile, x:x + tile]
            result = np.asarray(await run_tile(_padded(window, tile)), dtype=np.float32)
            if result.shape[:2] != (tile_out, tile_out):
                raise ValueError(f"run_tile returned {result.shape[:2]}, expected {(tile_out, tile_out)}")
            if band is None or band_weight is None:  # the first tile (sets both at once)
                channels = result.shape[2:]
                band = np.zeros((tile_out, out_w) + channels, dtype=np.float32)
                band_weight = np.zeros((tile_out, out_w), dtype=np.float32)
                if out is None:
                    out = np.empty((out_h, out_w) + channels, dtype=np.float32)
            span_x = min(tile, width - x) * scale
            weight = np.outer(wy, edge_weights(span_x, ramp, col > 0, col < len(xs) - 1))
            ox = x * scale
            part = result[:span_y, :span_x]
            band[:span_y, ox:ox + span_x] += part * (weight[..., None] if part.ndim == 3 else weight)
            band_weight[:span_y, ox:ox + span_x] += weight
            done += 1
            if progress:
                progress(done, total)
        # tile_starts never returns an empty list, so the row's first tile has set them.
        assert band is not None and band_weight is not None and out is not None
        # Rows above the next row of tiles are final: write them and slide the band.
        oy = y * scale
        final = (ys[row + 1] - y) * scale if row + 1 < len(ys) else span_y
        normalised = band[:final] / (band_weight[:final, :, None] if band.ndim == 3 else band_weight[:final])
        out[oy:oy + final] = store(normalised) if store else normalised
        band = np.concatenate([band[final:], np.zeros_like(band[:final])])
        band_weight = np.concatenate([band_weight[final:], np.zeros_like(band_weight[:final])])
    assert out is not None  # as above: there is at least one row of tiles
    return out


def fitted_tile(pixels: NDArray[Any], tile: int, overlap: int) -> int:
    """``tile``, or the photo's longer side where that is smaller (never below twice
    ``overlap``): a small photo is not mirror-padded out to a whole tile, whose cost is
    its pixels, not the photo's."""
    return max(min(tile, max(pixels.shape[:2])), 2 * overlap)


def tile_side(spec: ModelSpec, default: int) -> int:
    """The model's fixed input side, or ``default`` for a model with dynamic H and W."""
    side = spec.inputs[0].shape[2 if spec.normalisation["layout"] == "NCHW" else 1]
    return side or default


async def image_model(
    spec: ModelSpec,
    infer: Infer,
    pixels: NDArray[np.uint8],
    *,
    tile: int,
    overlap: int,
    scale: int = 1,
    native_scale: int | None = None,
    progress: Progress | None = None,
) -> NDArray[np.uint8]:
    """Run an image-to-image model (denoise, deblur, upscale) tile by tile.

    Parameters
    ----------
    spec : ModelSpec
        One image input and one image output, normalised as the manifest says.
    infer : async callable
        One run of the loaded model.
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB. An alpha channel is not shown to the model: it is kept,
        or resized with Pillow's bicubic filter when ``scale > 1``.
    tile, overlap, scale : int
        Tile side and overlap in input pixels; the result's pixels per input pixel.
    native_scale : int, optional
        The model's own output pixels per input pixel, when larger than ``scale`` (a x4
        model asked for x2): each tile's output is reduced to ``scale`` with a Lanczos
        filter before the tiles are blended, so the full native-size image never exists.
    progress : callable(done, total), optional

    Returns
    -------
    ndarray
        uint8 (H * scale, W * scale, 3|4).
    """

    async def run_tile(window: NDArray[np.uint8]) -> NDArray[np.float32]:
        result = from_output(spec, await infer(to_input(spec, window)))
        if native_scale and native_scale != scale:
            size = (window.shape[1] * scale, window.shape[0] * scale)
            result = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(result[..., c]), "F").resize(
                size, Image.Resampling.LANCZOS)) for c in range(result.shape[2])], axis=-1)
        return result

    height, width = pixels.shape[:2]
    out = np.empty((height * scale, width * scale, pixels.shape[2]), dtype=np.uint8)
    await tiled(pixels[..., :3], run_tile, tile=tile, overlap=overlap, scale=scale,
                out=out[..., :3], store=to_uint8, progress=progress)
    if pixels.shape[2] == 4:
        alpha = Image.fromarray(np.ascontiguousarray(pixels[..., 3]))
        out[..., 3] = np.asarray(alpha.resize((width * scale, height * scale), Image.Resampling.BICUBIC))
    return out

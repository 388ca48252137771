"""Colorize a black-and-white photo.

* Model path: DDColor (piddnad/DDColor), your own ONNX export. It sees the photo's
  luminance as a grey RGB image at its input size (512 x 512 in the published exports)
  and predicts CIELAB a* b*; the tool scales that chroma to the photo's size and puts it
  under the photo's own full-resolution L*, as DDColor's own pipeline does.
* Classical path: a gradient map. Each brightness level gets the colour a palette has at
  that lightness, with the photo's own luminance kept; a tint, not a recognition of what
  is in the photo, and labelled as an approximation.

A photo that already has colour is treated as its luminance alone, and the label says so.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...byom import Signature, TensorRule
from ...float_image import linear_to_srgb, resize
from ...tensors import to_input
from ...tiling import UNIT_RANGE_NCHW
from ...tool import Footprint, Output, Pace, Param, Rate, Tool, model_scale_notes, rgb_of
from . import lab

#: Palette stops, dark to light, as sRGB colours: each is reproduced at its own lightness
#: and the chroma between stops follows L* linearly.
PALETTES = {
    "sepia": ("#3b2412", "#8a5a32", "#d2aa78", "#f4e6cc"),
    "warm": ("#4a1c10", "#b5582a", "#e8b060", "#fff0c8"),
    "cool": ("#0a1e3c", "#245a8c", "#7fb0cf", "#e2f0f6"),
    "natural": ("#1f2a24", "#4d5a3a", "#a8785c", "#d9c2a8", "#eef0f2"),
}
PALETTE_WORDS = {
    "sepia": "sepia browns",
    "warm": "warm reds, oranges and golds",
    "cool": "cool blues",
    "natural": "greenish shadows, skin-and-earth mid-tones and pale highlights",
}
DEFAULT_PALETTE = "sepia"
#: A photo has colour when more than COLOUR_SHARE of its pixels have channels further
#: apart than COLOUR_SPREAD levels (a grey JPEG's chroma noise stays well below).
COLOUR_SPREAD = 16
COLOUR_SHARE = 0.01
#: Colour detection looks at about this many pixels, spread over the photo.
SAMPLE_PIXELS = 250_000
#: Rows composed at once on the model path: bounds the float32 working set.
BAND_ROWS = 256
COLOUR_NOTE = ("The photo already had colour; it was treated as black and white (only its luminance was "
               "used), so its own colours were replaced.")

SIGNATURE = Signature(
    inputs=(TensorRule("grey image", "float32", (1, 3, "H", "W")),),
    outputs=(TensorRule("ab", "float32", (1, 2, "H", "W")),),
    # DDColor (do_normalize=False): RGB in [0, 1], no mean or std.
    normalisation=UNIT_RANGE_NCHW,
    sizes={"H": 512, "W": 512},
)


def has_colour(pixels: np.ndarray) -> bool:
    """Whether a photo is more than grey (see ``COLOUR_SPREAD``, ``COLOUR_SHARE``).

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4); judged on an even sample of about ``SAMPLE_PIXELS`` pixels.
    """
    step = max(1, int(np.sqrt(pixels.shape[0] * pixels.shape[1] / SAMPLE_PIXELS)))
    sample = pixels[::step, ::step, :3]
    spread = sample.max(axis=-1).astype(np.int16) - sample.min(axis=-1)
    return bool((spread > COLOUR_SPREAD).mean() > COLOUR_SHARE)


def _with_alpha(rgb: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, pixels[..., 3]]) if pixels.shape[2] == 4 else rgb


def _colour_notes(pixels: np.ndarray) -> tuple[str, ...]:
    return (COLOUR_NOTE,) if has_colour(pixels) else ()


@lru_cache(maxsize=len(PALETTES))
def gradient_map(palette: str) -> np.ndarray:
    """The palette's colour for every luminance level.

    Returns
    -------
    ndarray
        uint8 (``lab.LINEAR_LEVELS``, 3): row ``i`` is the colour of luminance
        ``i / (LINEAR_LEVELS - 1)``, with that luminance and the palette's a* b* at its L*
        (held at the end stops' beyond them; less where sRGB has no room).
    """
    stops = np.array([rgb_of(code) for code in PALETTES[palette]], np.uint8)
    stop_lab = lab.srgb8_to_lab(stops)
    stop_l, stop_a, stop_b = stop_lab[np.argsort(stop_lab[:, 0])].T
    y = np.linspace(0, 1, lab.LINEAR_LEVELS, dtype=np.float32)
    level_l = lab.lightness(y)
    a = np.interp(level_l, stop_l, stop_a).astype(np.float32)
    b = np.interp(level_l, stop_l, stop_b).astype(np.float32)
    return lab.lab_to_srgb8(y, a, b)


def classical(pixels: np.ndarray, params: dict) -> Output:
    palette = params["palette"]
    levels = np.rint(lab.luminance(pixels) * np.float32(lab.LINEAR_LEVELS - 1)).astype(np.uint16)
    method = (f"gradient map with the {palette} palette ({PALETTE_WORDS[palette]}): each brightness level gets "
              "the palette's colour and the photo's own brightness is kept. An approximation: it does not "
              "recognise what is in the photo")
    return Output(_with_alpha(gradient_map(palette)[levels], pixels), method=method, notes=_colour_notes(pixels))


def model_input(spec, y: np.ndarray) -> dict[str, np.ndarray]:
    """DDColor's feed: the photo's luminance as grey sRGB (L* with a* = b* = 0, back to
    RGB) at the model's input size.

    Parameters
    ----------
    spec : ModelSpec
        An NCHW model with a fixed (H, W) input.
    y : ndarray
        float32 (H, W), the photo's luminance in [0, 1]; resized in linear light.

    Returns
    -------
    dict
        ``{input_name: float32 (1, 3, h, w)}``, values in [0, 1].
    """
    height, width = spec.inputs[0].shape[2:4]
    grey = linear_to_srgb(resize(y, (width, height))) * np.float32(255)
    return to_input(spec, np.repeat(grey[..., None], 3, axis=2))


def chroma_at(ab: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The model's a* and b* planes, float32 (2, h, w), scaled bilinearly to ``size``
    = (width, height); returns two float32 (height, width) planes."""
    a, b = (resize(np.ascontiguousarray(plane, np.float32), size) for plane in ab)
    return a, b


async def run_model(spec, infer, pixels: np.ndarray, params: dict, progress) -> Output:
    height, width = pixels.shape[:2]
    y = lab.luminance(pixels)
    outputs = await infer(model_input(spec, y))
    progress(1, 1)
    a, b = chroma_at(outputs[spec.outputs[0].name][0], (width, height))
    rgb = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, BAND_ROWS):
        rows = slice(top, top + BAND_ROWS)
        rgb[rows] = lab.lab_to_srgb8(y[rows], a[rows], b[rows])
    notes = (*model_scale_notes(spec, pixels, "The colour"),
             "Only the colour came from the model: it was combined with the photo's own full-resolution "
             "luminance, so detail and brightness are the photo's.", *_colour_notes(pixels))
    return Output(_with_alpha(rgb, pixels), notes=notes)


TOOL = Tool(
    id="colorize",
    title="Colorize",
    group="Enhance",
    description="Add colour to a black-and-white photo.",
    params=(Param("palette", "Palette", "choice", DEFAULT_PALETTE, tuple(PALETTES),
                  help="Colours for the classical tint by brightness (a gradient map). "
                       "An AI model picks its own colours and ignores this."),),
    models=(),  # no DDColor export is in any registry package here: users bring their own
    classical=classical,
    run_model=run_model,
    signature=SIGNATURE,
    # numpy and Pillow only: nothing to load in the page.
    classical_packages=(),
    library="numpy",
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 11 resident; DDColor (the user's) runs at its
    # fixed input size.
    footprint=Footprint(classical=15),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(0.3)),
)

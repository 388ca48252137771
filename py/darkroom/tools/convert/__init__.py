"""Convert: write the photo as JPEG, PNG or WebP (AVIF where this build's Pillow can
write it), at a chosen quality, with or without its metadata. No model: the pixels
pass through unchanged; the host encodes them as the ``Output.encoding`` says."""

from __future__ import annotations

import numpy as np

from ...imaging import OUTPUT_FORMATS, Encoding
from ...tool import Footprint, Output, Pace, Param, Rate, Tool

DEFAULT_QUALITY = 85


def classical(pixels: np.ndarray, params: dict) -> Output:
    encoding = Encoding(params["format"], round(params["quality"]), keep_metadata=not params["strip_metadata"])
    name = OUTPUT_FORMATS[encoding.format].title
    how = "lossless" if encoding.format == "png" else f"at quality {encoding.quality}"
    return Output(pixels, method=f"re-encoding as {name} {how}", encoding=encoding)


TOOL = Tool(
    id="convert",
    title="Convert",
    group="Export",
    description="Save the photo as JPEG, PNG or WebP, smaller or sharper, with or without its metadata.",
    params=(
        Param("format", "Format", "choice", "jpeg", tuple(OUTPUT_FORMATS),
              help="JPEG for photos everywhere, WebP for smaller files, PNG for exact pixels."),
        Param("quality", "Quality", "number", DEFAULT_QUALITY, minimum=1, maximum=100, step=1,
              help="Lower makes a smaller file with more artefacts (JPEG and WebP; PNG is lossless)."),
        Param("strip_metadata", "Remove metadata", "bool", True,
              help="Leave out camera, date and GPS location (EXIF); colours are always written as sRGB."),
    ),
    models=(),
    classical=classical,
    classical_packages=(),
    library="Pillow",
    rerun_on_change=True,  # the size follows the quality slider
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): 16 resident, re-encoding as WebP.
    footprint=Footprint(classical=20),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(0.2)),
)

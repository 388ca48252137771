"""Tag a photo.

* Model path: your own CLIP model (its image and text encoders, two ONNX files) tags
  what the photo shows, chosen among fixed labels (``clip``, ``prompts``); the plain
  measurements below come alongside under "measures", kept apart from CLIP's tags.
  Faces are not counted there: the cascade needs scikit-image, which this path does not
  load in the page (find-faces counts them).
* Classical path: plain measurements named as such — dominant colours, brightness,
  sharpness, orientation, "document-like", faces found. It does not recognise content.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ...face_cascade import cascade_faces
from ...tool import Footprint, Output, Pace, Rate, Tool
from . import clip

#: Measurements run on a copy this long on its longer side: fast, and enough for them.
WORK_SIDE = 512
#: A few colour names, by sRGB value, for the dominant colours.
COLOUR_NAMES = {
    "black": (20, 20, 20), "grey": (128, 128, 128), "white": (240, 240, 240), "red": (200, 40, 40),
    "orange": (230, 130, 40), "yellow": (230, 210, 60), "green": (60, 160, 70), "teal": (40, 150, 150),
    "blue": (50, 90, 200), "purple": (130, 60, 160), "pink": (230, 140, 170), "brown": (120, 80, 50),
    "beige": (215, 195, 160),
}
#: Variance of the Laplacian (on 0..255 grey at WORK_SIDE) below which a photo reads as soft.
SOFT_BELOW = 60.0


def _name(rgb: np.ndarray) -> str:
    names, values = zip(*COLOUR_NAMES.items(), strict=True)
    return names[int(np.argmin(((np.asarray(values) - rgb) ** 2).sum(axis=1)))]


def measure(pixels: np.ndarray) -> dict:
    """Plain measurements of a photo.

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB; alpha is ignored.

    Returns
    -------
    dict
        ``orientation``, ``brightness`` (mean luma in [0, 1]), ``sharpness`` (variance
        of the Laplacian), ``colours`` (up to 3 of ``{"hex", "name", "share"}``, most
        common first) and ``document_like`` (bool: mostly white, grey ink).
    """
    height, width = pixels.shape[:2]
    small = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    small.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    rgb = np.asarray(small, dtype=np.float32)
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    laplacian = (4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:])
    sharpness = float(laplacian.var()) if laplacian.size else 0.0
    palette = small.quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    counts = sorted(palette.getcolors(), reverse=True)
    entries = np.asarray(palette.getpalette()[:3 * 5], dtype=np.int64).reshape(-1, 3)
    total = sum(count for count, _ in counts)
    colours = [{"hex": "#" + "".join(f"{channel:02x}" for channel in entries[index]), "name": _name(entries[index]),
                "share": round(count / total, 3)} for count, index in counts[:3]]
    saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
    document_like = bool((luma > 200).mean() > 0.6 and (saturation < 30).mean() > 0.9)
    ratio = width / height
    orientation = "landscape" if ratio > 1.1 else "portrait" if ratio < 1 / 1.1 else "square"
    return {"orientation": orientation, "brightness": round(float(luma.mean()) / 255, 3),
            "sharpness": round(sharpness, 1), "colours": colours, "document_like": document_like}


def tags_from(measures: dict, faces: int) -> list[str]:
    """Words for the measurements, in a fixed order."""
    brightness = measures["brightness"]
    tags = [measures["orientation"], "dark" if brightness < 0.25 else "bright" if brightness > 0.7 else "mid-tone",
            "soft" if measures["sharpness"] < SOFT_BELOW else "sharp"]
    tags += [colour["name"] for colour in measures["colours"] if colour["share"] >= 0.15]
    if measures["document_like"]:
        tags.append("document-like")
    tags.append(f"{faces} face{'s' if faces != 1 else ''}" if faces else "no faces")
    return list(dict.fromkeys(tags))  # a colour named twice is one tag


def classical(pixels: np.ndarray, params: dict) -> Output:
    measures = measure(pixels)
    faces = cascade_faces(pixels)
    return Output(pixels, data={"tags": tags_from(measures, len(faces)), "measures": measures, "faces": faces},
                  method="measurements (colour, brightness, sharpness, layout) and the LBP face cascade; "
                         "not a content recogniser")


async def run_model(spec, infer, pixels: np.ndarray, params: dict, progress) -> Output:
    tags, scores, notes = await clip.zero_shot(spec, infer, pixels, progress)
    return Output(pixels, data={"tags": tags, "scores": scores, "measures": measure(pixels)},
                  notes=(*notes, "The measures (colours, light, sharpness, layout) are plain measurements, "
                                 "not the model's."), parts_noted=True)


TOOL = Tool(
    id="tag",
    title="Tag",
    group="Analyse",
    description="Tag what a photo shows with your own CLIP model; without one, describe it in plain "
                "measurements: colours, light, sharpness, layout, faces.",
    params=(),
    models=(),
    classical=classical,
    run_model=run_model,
    signature=clip.SIGNATURE,
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 10 resident: it measures a shrunk copy.
    footprint=Footprint(classical=10),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(0.5)),
)

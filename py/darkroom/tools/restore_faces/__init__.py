"""Restore faces: each face the LBP cascade finds is cropped to a square, restored, and
blended back with a soft edge.

* Model path: your own GFPGAN-style ONNX model (GFPGAN v1.4 exports, RestoreFormer):
  one RGB 512 x 512 crop in [-1, 1] in, the restored crop out in the same form.
* Classical path: non-local means denoising and a gentle unsharp mask per face.

Faces are found by scikit-image's LBP frontal-face cascade on both paths: the engine
gives a model path one model, and it is the restorer.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from ...byom import Signature, TensorRule
from ...face_cascade import CASCADE_MAX_SIDE, CASCADE_MIN_FACE, cascade_faces
from ...models import ModelError
from ...tensors import from_output, to_input, to_uint8
from ...tool import Footprint, Output, Pace, Param, Rate, Tool
from . import geometry

DEFAULT_STRENGTH = 0.8

#: GFPGAN v1.4's ONNX exports: "input" float32 [1, 3, 512, 512], RGB, (x / 255 - 0.5) / 0.5;
#: the first output float32 [1, 3, 512, 512] in [-1, 1]. RestoreFormer's exports share it.
SIGNATURE = Signature(
    inputs=(TensorRule("image", "float32", (1, 3, 512, 512)),),
    outputs=(TensorRule("restored", "float32", (1, 3, 512, 512)),),
    normalisation={"layout": "NCHW", "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
)


def find_faces(pixels: np.ndarray) -> tuple[list[dict], bool]:
    """Faces from the LBP cascade (``cascade_faces``); when it finds none, once more on a
    3 x 3 median-filtered copy at the size it searches.

    Noise breaks up the patterns the cascade looks for. Measured on the astronaut with
    Gaussian noise of 15, 20, 25 and 30/255 (ten copies each), the second search found
    the face in 38 of 40 copies against 29 of 40 without it, adding one false face; at
    0-10/255 nothing changed.

    Returns
    -------
    faces : list of dict
        As ``cascade_faces`` gives them, in photo pixels.
    smoothed : bool
        Whether they were found on the median-filtered copy.
    """
    faces = cascade_faces(pixels)
    if faces:
        return faces, False
    height, width = pixels.shape[:2]
    small = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    if max(height, width) > CASCADE_MAX_SIDE:  # filter at the searched size: 12 MP would take seconds
        shrink = CASCADE_MAX_SIDE / max(height, width)
        small = small.resize((max(1, round(width * shrink)), max(1, round(height * shrink))), Image.Resampling.BOX)
    found = cascade_faces(np.asarray(small.filter(ImageFilter.MedianFilter(3))))
    sx, sy = width / small.width, height / small.height
    return [{**face, "box": [face["box"][0] * sx, face["box"][1] * sy, face["box"][2] * sx, face["box"][3] * sy]}
            for face in found], bool(found)


def found_note(pixels: np.ndarray, faces: list[dict], smoothed: bool) -> str:
    """Says how many faces the cascade found, how, and which it cannot see."""
    smallest = math.ceil(CASCADE_MIN_FACE * max(1.0, max(pixels.shape[:2]) / CASCADE_MAX_SIDE))
    if not faces:
        count, how = "No face", ", on the photo or on a median-filtered copy"
    else:
        count = f"{len(faces)} face{'s' if len(faces) != 1 else ''}"
        how = " on a median-filtered copy, after none on the photo itself" if smoothed else ""
    return (f"{count} found by scikit-image's LBP frontal-face cascade{how} (frontal faces only; "
            f"faces narrower than about {smallest} pixels are missed).")


def sides_text(sides: list[int]) -> str:
    """``"170 px"`` or ``"86–340 px"``."""
    low, high = min(sides), max(sides)
    return f"{low} px" if low == high else f"{low}–{high} px"


def noise_text(sigmas: list[float]) -> str:
    """Noise estimates in [0, 1] units as ``"4.1/255"`` or ``"3.0–9.5/255"``."""
    low, high = f"{min(sigmas) * 255:.1f}", f"{max(sigmas) * 255:.1f}"
    return f"{low}/255" if low == high else f"{low}–{high}/255"


def unchanged(pixels: np.ndarray, why: str) -> Output:
    """The photo as it came, for a photo with no face."""
    return Output(pixels.copy(), data={"faces": []}, method="nothing changed: no face found",
                  notes=(found_note(pixels, [], False), f"The photo is unchanged{why}."))


async def run_model(spec, infer, pixels: np.ndarray, params: dict, progress) -> Output:
    try:
        faces, smoothed = find_faces(pixels)
    except ImportError as exc:  # a build without scikit-image for the page
        raise ModelError(f"finding faces needs scikit-image, which is not loaded here ({exc})") from exc
    if not faces:
        return unchanged(pixels, f": {spec.id} did not run")
    model_side = spec.inputs[0].shape[2]
    out, sides = pixels, []
    for done, face in enumerate(faces, 1):
        square = geometry.face_square(face["box"])
        feeds = to_input(spec, geometry.resized(geometry.take(pixels[..., :3], square), model_side))
        restored = geometry.resized(to_uint8(from_output(spec, await infer(feeds))), square.side)
        out = geometry.paste(out, square, restored, params["strength"])
        sides.append(square.side)
        progress(done, len(faces))
    crops = (f"Each face was cropped to a square {geometry.ENLARGE:g}× its box ({sides_text(sides)}), "
             f"scaled to {model_side} × {model_side} for the model and back, and blended in with a soft edge.")
    return Output(out, data={"faces": faces}, notes=(found_note(pixels, faces, smoothed), crops), parts_noted=True)


def classical(pixels: np.ndarray, params: dict) -> Output:
    from .cleanup import SMALL_SCALE, clean_face, work_side

    faces, smoothed = find_faces(pixels)
    if not faces:
        return unchanged(pixels, "")
    out, sides, sigmas = pixels, [], []
    for face in faces:
        square = geometry.face_square(face["box"])
        restored, sigma = clean_face(geometry.take(pixels[..., :3], square))
        out = geometry.paste(out, square, restored, params["strength"])
        sides.append(square.side)
        sigmas.append(sigma)
    notes = [found_note(pixels, faces, smoothed),
             f"Each face was cropped to a square {geometry.ENLARGE:g}× its box ({sides_text(sides)}) "
             "and blended back with a soft edge."]
    enlarged = [side for side in sides if work_side(side) > side]
    reduced = [side for side in sides if work_side(side) < side]
    if enlarged:
        notes.append(f"Crops of {sides_text(enlarged)} were denoised at {SMALL_SCALE:g}× their size "
                     "(measured cleaner).")
    if reduced:
        notes.append(f"Crops of {sides_text(reduced)} were denoised at {work_side(max(reduced))} px "
                     "and scaled back, to keep the time down.")
    method = (f"non-local means denoising (noise {noise_text(sigmas)}) and an unsharp mask on each face "
              "the LBP cascade found, soft-edged")
    return Output(out, data={"faces": faces}, method=method, notes=tuple(notes))


TOOL = Tool(
    id="restore-faces",
    title="Restore faces",
    group="Retouch",
    description="Clean up each face in a photo (less noise, crisper detail) and blend it back softly.",
    params=(Param("strength", "Strength", "number", DEFAULT_STRENGTH,
                  help="How much of the restored face replaces the original."),),
    models=(),
    classical=classical,
    run_model=run_model,
    signature=SIGNATURE,
    model_packages=("scipy", "scikit-image"),  # the LBP cascade finds the faces
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 14 resident, most of it the cascade's search; a
    # face's crop is small.
    footprint=Footprint(classical=15),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(0.95)),
)

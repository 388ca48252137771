"""Find faces: BlazeFace (boxes + 6 landmarks) when a model can run, scikit-image's LBP
cascade (boxes only) otherwise. The result is the photo with the faces marked, plus
the boxes as data for the tools that build on them."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from ...byom import Signature, TensorRule
from ...tool import Output, Tool
from ...tensors import to_input
from . import blazeface

#: BlazeFace short-range sees the whole photo at 128 px: measured with the astronaut's face
#: pasted at several sizes and places, it is found from about 18 % of the longer side up
#: and missed at 17 % and below.
MIN_FACE_FRACTION = 0.18
#: The cascade is trained on ~24 px faces; photos are searched at up to this long side.
CASCADE_MAX_SIDE = 1024
MARK_COLOUR = (255, 214, 0)


def draw(pixels: np.ndarray, faces: list[dict]) -> np.ndarray:
    """The photo with each face's box and landmarks drawn on it, uint8 (H, W, 3|4)."""
    image = Image.fromarray(pixels)
    pen = ImageDraw.Draw(image)
    width = max(2, round(max(pixels.shape[:2]) / 300))
    colour = MARK_COLOUR + ((255,) if pixels.shape[2] == 4 else ())
    for found in faces:
        pen.rectangle(found["box"], outline=colour, width=width)
        for x, y in found["keypoints"].values():
            pen.ellipse([x - width, y - width, x + width, y + width], fill=colour)
    return np.asarray(image)


def cascade_faces(pixels: np.ndarray) -> list[dict]:
    """Faces found by scikit-image's LBP frontal-face cascade: ``{"box": [x0, y0, x1, y1],
    "score": None, "keypoints": {}}`` in photo pixels (the cascade gives no confidence).

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4); searched at most ``CASCADE_MAX_SIDE`` px on its long side.
    """
    from skimage import data
    from skimage.feature import Cascade

    height, width = pixels.shape[:2]
    shrink = min(1.0, CASCADE_MAX_SIDE / max(height, width))
    rgb = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    if shrink < 1:
        rgb = rgb.resize((max(1, round(width * shrink)), max(1, round(height * shrink))), Image.Resampling.BOX)
    small = np.asarray(rgb)
    side = min(small.shape[:2])
    if side < 24:
        return []
    cascade = Cascade(data.lbp_frontal_face_cascade_filename())
    # Eight overlapping hits before a window counts: fewer lets in textures (measured on astronaut).
    found = cascade.detect_multi_scale(img=small, scale_factor=1.2, step_ratio=1, min_size=(24, 24),
                                       max_size=(side, side), min_neighbor_number=8)
    return [{"box": [d["c"] / shrink, d["r"] / shrink, (d["c"] + d["width"]) / shrink, (d["r"] + d["height"]) / shrink],
             "score": None, "keypoints": {}} for d in found]


def classical(pixels: np.ndarray, params: dict) -> Output:
    faces = cascade_faces(pixels)
    return Output(draw(pixels, faces), data={"faces": faces}, method="LBP frontal-face cascade (boxes only)")


async def run_model(spec, infer, pixels, params, progress):
    square, letterbox = blazeface.prepare_square(pixels, spec.inputs[0].shape[-1])
    outputs = await infer(to_input(spec, square))
    progress(1, 1)
    regressors, classificators = (outputs[tensor.name] for tensor in spec.outputs)  # names differ in user models
    found = blazeface.decode(regressors, classificators)
    faces = [detection.to_dict() for detection in blazeface.to_photo(found, letterbox)]
    side = spec.inputs[0].shape[-1]
    note = (f"Searched the whole photo at {side} × {side}: faces narrower than about "
            f"{math.ceil(letterbox.side * MIN_FACE_FRACTION)} pixels are often missed.")
    return Output(draw(pixels, faces), data={"faces": faces}, notes=(note,))


TOOL = Tool(
    id="find-faces",
    title="Find faces",
    group="Analyse",
    description="Mark every face, with eyes, nose and mouth where a model can run.",
    params=(),
    models=("blazeface-short",),
    classical=classical,
    run_model=run_model,
    # MediaPipe BlazeFace (short range)'s interface: its 896 anchors are built into decoding.
    signature=Signature(
        inputs=(TensorRule("image", "float32", (1, 3, blazeface.INPUT_SIZE, blazeface.INPUT_SIZE)),),
        outputs=(TensorRule("regressors", "float32", (1, blazeface.NUM_ANCHORS, 16)),
                 TensorRule("classificators", "float32", (1, blazeface.NUM_ANCHORS, 1))),
        normalisation={"layout": "NCHW", "scale": 2 / 255, "mean": [1.0, 1.0, 1.0], "std": [1.0, 1.0, 1.0]},
    ),
)

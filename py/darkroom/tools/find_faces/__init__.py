"""Find faces: BlazeFace (boxes + 6 landmarks) when a model can run, scikit-image's LBP
cascade (boxes only) otherwise. The result is the photo with the faces marked, plus
the boxes as data for the tools that build on them."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from ...byom import Signature, TensorRule
from ...face_cascade import cascade_faces
from ...tensors import to_input
from ...tool import Footprint, Output, Pace, Rate, Tool
from . import blazeface

#: BlazeFace short-range sees the whole photo at 128 px: measured with the astronaut's face
#: pasted at several sizes and places, it is found from about 18 % of the longer side up
#: and missed at 17 % and below.
MIN_FACE_FRACTION = 0.18
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
    # Peak bytes a pixel at 16 MP (bench/tool_memory.py): classical 13 resident, model 9 traced (BlazeFace; 17 with
    # its session).
    footprint=Footprint(classical=15, model=15),
    # Seconds at 12 MP in the page (bench/suite.py, WASM, 2 cores; --classical for the classical path).
    pace=Pace(classical=Rate(0.65), wasm={"blazeface-short": Rate(0.11)}),
)

"""BlazeFace short-range: the pre- and post-processing around the ONNX model, in numpy.

The model (``blazeface-short`` in the manifest) takes a 128x128 RGB square in [-1, 1]
and returns, for each of 896 fixed anchors, 16 regression values (box centre offset,
box size, six keypoints) and one score logit. This module

* letterboxes a photo to that square (``prepare_square``),
* builds the anchors exactly as MediaPipe's SSD anchor calculator does for this model
  (``anchors``),
* decodes the raw outputs into scored boxes with keypoints and merges overlapping
  ones with MediaPipe's weighted non-maximum suppression (``decode``),
* maps the results back to photo pixels (``to_photo``).

It needs numpy and Pillow only, so it runs unchanged in Pyodide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

INPUT_SIZE = 128
#: Feature-map strides of the anchor layers (layers with equal strides share a grid).
STRIDES = (8, 16, 16, 16)
NUM_ANCHORS = 896
#: The six keypoints, in the model's order, from the subject's point of view.
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear_tragion", "left_ear_tragion")
#: Raw outputs are in input pixels; dividing by these gives anchor-relative units.
_SCALE = float(INPUT_SIZE)
_SCORE_CLIP = 100.0


@dataclass
class Detection:
    """One face, in normalised coordinates of the model's square input (0..1) or, after
    ``to_photo``, in photo pixels.

    Attributes
    ----------
    box : tuple of float
        ``(xmin, ymin, xmax, ymax)``.
    score : float
        Face probability in [0, 1] (sigmoid of the model's logit).
    keypoints : ndarray
        float (6, 2) ``(x, y)`` rows in ``KEYPOINTS`` order; (0, 2) for a detector
        that finds boxes only.
    """

    box: tuple
    score: float
    keypoints: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        """Plain JSON-able data: box, score and named keypoints."""
        return {
            "box": [float(v) for v in self.box],
            "score": float(self.score),
            "keypoints": {name: [float(x), float(y)] for name, (x, y) in zip(KEYPOINTS, self.keypoints, strict=True)},
        }


@dataclass(frozen=True)
class Letterbox:
    """How a photo was placed in the model's square: centred, scaled to fit, padded.

    Attributes
    ----------
    width, height : int
        The photo's size in pixels.
    side : int
        Side of the padded square, in photo pixels (``max(width, height)``).
    pad_x, pad_y : int
        Photo pixels of padding on the left and at the top.
    """

    width: int
    height: int
    side: int
    pad_x: int
    pad_y: int


def anchors(input_size: int = INPUT_SIZE, strides=STRIDES) -> np.ndarray:
    """The SSD anchor centres of BlazeFace short-range.

    Consecutive layers with the same stride share one grid; each layer contributes two
    anchors per cell (aspect ratio 1 and the interpolated scale), so strides
    ``[8, 16, 16, 16]`` give 2 anchors per cell on 16x16 and 6 per cell on 8x8: 896.
    With a fixed anchor size every anchor is 1 x 1, so only the centres are returned.

    Parameters
    ----------
    input_size : int
        Side of the square model input.
    strides : sequence of int

    Returns
    -------
    ndarray
        float32 (N, 2) ``(x_centre, y_centre)`` in [0, 1], in the model's output order:
        grid by grid, row by row, cell by cell, anchor by anchor.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 0
        while layer < len(strides) and strides[layer] == stride:
            same += 1
            layer += 1
        per_cell = 2 * same
        cells = -(-input_size // stride)
        grid = (np.arange(cells, dtype=np.float64) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_boxes(regressors: np.ndarray, anchor_centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw regressors to boxes and keypoints, in normalised square coordinates.

    Parameters
    ----------
    regressors : ndarray
        (1, N, 16) or (N, 16): ``x, y, w, h`` of the box (centre offset and size, in
        input pixels relative to the anchor) then ``x, y`` for six keypoints.
    anchor_centres : ndarray, optional
        (N, 2), default ``anchors()``.

    Returns
    -------
    boxes : ndarray
        float64 (N, 4) ``(xmin, ymin, xmax, ymax)``.
    keypoints : ndarray
        float64 (N, 6, 2).
    """
    raw = np.asarray(regressors, dtype=np.float64).reshape(-1, 16)
    centre = (anchors() if anchor_centres is None else anchor_centres).astype(np.float64)
    if len(centre) != len(raw):
        raise ValueError(f"{len(raw)} regressor rows for {len(centre)} anchors")
    # Anchors have a fixed size of 1, so offsets and sizes only need the pixel scale.
    xy = raw[:, 0:2] / _SCALE + centre
    half = raw[:, 2:4] / _SCALE / 2
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) / _SCALE + centre[:, None, :]
    return boxes, keypoints


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one ``(xmin, ymin, xmax, ymax)`` box with (M, 4) boxes."""
    lo = np.maximum(box[:2], others[:, :2])
    hi = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)

    def area(b: np.ndarray) -> np.ndarray:
        return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)

    union = area(box) + area(others) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3) -> list[Detection]:
    """MediaPipe's weighted non-maximum suppression.

    Take the best remaining detection and every remaining one overlapping it by more
    than ``iou_threshold`` (itself included); replace the group by one detection whose
    box and keypoints are the score-weighted mean of the group's, with the best score.
    Repeat on what is left.

    Parameters
    ----------
    boxes : ndarray
        (M, 4) ``(xmin, ymin, xmax, ymax)``.
    keypoints : ndarray
        (M, K, 2).
    scores : ndarray
        (M,) probabilities.
    iou_threshold : float

    Returns
    -------
    list of Detection
        Best first.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    remaining = order
    out = []
    while remaining.size:
        best = remaining[0]
        overlap = iou(boxes[best], boxes[remaining]) > iou_threshold
        overlap[0] = True
        group = remaining[overlap]
        weights = scores[group] / scores[group].sum()
        box = (weights[:, None] * boxes[group]).sum(axis=0)
        kps = (weights[:, None, None] * keypoints[group]).sum(axis=0)
        out.append(Detection(box=tuple(float(v) for v in box), score=float(scores[best]), keypoints=kps))
        remaining = remaining[~overlap]
    return out


def decode(regressors: np.ndarray, classificators: np.ndarray, score_threshold: float = 0.5,
           iou_threshold: float = 0.3) -> list[Detection]:
    """Faces from the raw model outputs.

    Parameters
    ----------
    regressors : ndarray
        (1, 896, 16) model output ``regressors``.
    classificators : ndarray
        (1, 896, 1) model output ``classificators`` (logits).
    score_threshold : float
        Minimum face probability.
    iou_threshold : float
        Overlap above which detections are merged (weighted NMS).

    Returns
    -------
    list of Detection
        Normalised to the square model input, best first.
    """
    logits = np.asarray(classificators, dtype=np.float64).reshape(-1)
    scores = _sigmoid(np.clip(logits, -_SCORE_CLIP, _SCORE_CLIP))
    boxes, keypoints = decode_boxes(regressors)
    keep = scores >= score_threshold
    return weighted_nms(boxes[keep], keypoints[keep], scores[keep], iou_threshold)


def prepare_square(pixels: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """Letterbox a photo into the model's square: centred on black, aspect kept, then
    area-averaged (Pillow's box filter) down to ``size`` x ``size``.

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4) photo; alpha is ignored.
    size : int

    Returns
    -------
    square : ndarray
        float32 (size, size, 3) in [0, 255] (apply the manifest normalisation next).
    letterbox : Letterbox
        What ``to_photo`` needs to map results back.
    """
    height, width = pixels.shape[:2]
    side = max(height, width)
    box = Letterbox(width=width, height=height, side=side, pad_x=(side - width) // 2, pad_y=(side - height) // 2)
    # The box filter of the whole side x side padded square, computed only over the
    # model pixels the photo touches, from the photo plus black margins one model pixel
    # wide (never past the square's edge, where Pillow's filter is cut off): the same
    # sums without a side**2 canvas (1.6 GB for a 20000 px panorama). Float ("F")
    # images average without uint8 rounding.
    pitch = side / size
    left, top = min(math.ceil(pitch), box.pad_x), min(math.ceil(pitch), box.pad_y)
    right = min(math.ceil(pitch), side - box.pad_x - width)
    bottom = min(math.ceil(pitch), side - box.pad_y - height)
    x0, x1 = math.floor(box.pad_x / pitch), min(size, math.ceil((box.pad_x + width) / pitch))
    y0, y1 = math.floor(box.pad_y / pitch), min(size, math.ceil((box.pad_y + height) / pitch))
    shift_x, shift_y = left - box.pad_x, top - box.pad_y  # square coordinates -> canvas coordinates
    source = (x0 * pitch + shift_x, y0 * pitch + shift_y, x1 * pitch + shift_x, y1 * pitch + shift_y)
    square = np.zeros((size, size, 3), dtype=np.float32)
    for c in range(3):
        canvas = Image.new("F", (left + width + right, top + height + bottom))
        canvas.paste(Image.fromarray(pixels[..., c].astype(np.float32), mode="F"), (left, top))
        square[y0:y1, x0:x1, c] = np.asarray(canvas.resize((x1 - x0, y1 - y0), Image.Resampling.BOX, box=source))
    return square, box


def to_photo(detections: list[Detection], letterbox: Letterbox, clip: bool = True) -> list[Detection]:
    """Map detections from the normalised square back to photo pixel coordinates.

    Parameters
    ----------
    detections : list of Detection
        As returned by ``decode``.
    letterbox : Letterbox
        As returned by ``prepare_square``.
    clip : bool
        Clip boxes to the photo (keypoints are left as they are).

    Returns
    -------
    list of Detection
        New detections with ``box`` and ``keypoints`` in pixels (x right, y down).
    """
    offset = np.array([letterbox.pad_x, letterbox.pad_y], dtype=np.float64)
    out = []
    for det in detections:
        box = np.asarray(det.box, dtype=np.float64).reshape(2, 2) * letterbox.side - offset
        if clip:
            box = np.clip(box, 0, [letterbox.width, letterbox.height])
        kps = np.asarray(det.keypoints, dtype=np.float64) * letterbox.side - offset
        out.append(Detection(box=tuple(float(v) for v in box.ravel()), score=det.score, keypoints=kps))
    return out

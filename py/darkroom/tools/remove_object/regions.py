"""Where to work: boxes around the painted regions and the crops that give them context.

Only numpy: the model path uses this in the page, where scipy is not loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    """A rectangle of pixels, rows ``top:bottom`` and columns ``left:right`` (ends excluded)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def within(self, outer: Box) -> Box:
        """This box in the coordinates of ``outer`` (which contains it)."""
        return Box(self.top - outer.top, self.left - outer.left, self.bottom - outer.top, self.right - outer.left)


def _runs(occupied: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the stretches of ``occupied`` (bool (n,), at least one True),
    split only where at least ``gap`` False entries lie between two True ones."""
    index = np.flatnonzero(occupied)
    breaks = np.flatnonzero(np.diff(index) > gap)
    starts = np.concatenate([index[:1], index[breaks + 1]])
    stops = np.concatenate([index[breaks], index[-1:]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def painted_boxes(mask: np.ndarray, gap: int) -> list[Box]:
    """Tight boxes around the groups of painted pixels, found by cutting the mask along
    empty bands of rows or columns at least ``gap`` wide, again inside each part, until
    no such band is left.

    Each connected painted region lies in exactly one box; regions closer than ``gap``
    in both directions share one. The boxes do not overlap.

    Parameters
    ----------
    mask : ndarray
        bool (H, W), True where painted; at least one pixel painted.
    gap : int
        Width of the empty band, in pixels, that keeps two regions apart.

    Returns
    -------
    list of Box
        Sorted top to bottom, then left to right.
    """
    boxes = []
    pending = [Box(0, 0, *mask.shape)]
    while pending:
        box = pending.pop()
        part = mask[box.slices]
        rows, cols = _runs(part.any(axis=1), gap), _runs(part.any(axis=0), gap)
        if len(rows) > 1:
            pending += [Box(box.top + start, box.left, box.top + stop, box.right) for start, stop in rows]
        elif len(cols) > 1:
            pending += [Box(box.top, box.left + start, box.bottom, box.left + stop) for start, stop in cols]
        else:
            (row_start, row_stop), (col_start, col_stop) = rows[0], cols[0]
            boxes.append(Box(box.top + row_start, box.left + col_start, box.top + row_stop, box.left + col_stop))
    return sorted(boxes)


def merge_boxes(boxes: list[Box],
                joinable: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> list[list[Box]]:
    """Group boxes while ``joinable`` allows two groups to share one crop.

    Parameters
    ----------
    boxes : list of Box
    joinable : callable(a, others, unions) -> ndarray
        ``a`` int (4,) one group's bounding box, ``others`` int (n, 4) every group's,
        ``unions`` int (n, 4) the bounding box of ``a`` with each; returns bool (n,):
        whether ``a``'s group may join each.

    Returns
    -------
    list of list of Box
        The groups, each a list of the given boxes; no two groups are joinable.
    """
    table = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    groups = [[box] for box in boxes]
    changed = True
    while changed:
        changed = False
        i = 0
        while i < len(table):
            unions = np.concatenate([np.minimum(table[i, :2], table[:, :2]), np.maximum(table[i, 2:], table[:, 2:])],
                                    axis=1)
            ok = joinable(table[i], table, unions)
            ok[i] = False
            if not ok.any():
                i += 1
                continue
            j = int(np.flatnonzero(ok)[0])
            table[i] = unions[j]
            groups[i] += groups.pop(j)
            table = np.delete(table, j, axis=0)
            i -= j < i  # the joined group moved up one row; it is tested again with its new extent
            changed = True
    return groups


def bounding(boxes: list[Box]) -> Box:
    """The smallest box holding all of ``boxes``."""
    return Box(min(b.top for b in boxes), min(b.left for b in boxes),
               max(b.bottom for b in boxes), max(b.right for b in boxes))


def grown(box: Box, margin: int, shape: tuple[int, ...]) -> Box:
    """``box`` with ``margin`` pixels more on every side, clamped to an image of ``shape``."""
    return Box(max(0, box.top - margin), max(0, box.left - margin),
               min(shape[0], box.bottom + margin), min(shape[1], box.right + margin))


def square_side(longest: np.ndarray | int, context: float, least: int, shape: tuple[int, ...]) -> np.ndarray | int:
    """The side of the square crop around boxes whose longer side is ``longest``.

    ``longest * (1 + 2 * context)`` (``context`` of the box's side on each side), at least
    ``least`` (the model's input: smaller regions are seen at full resolution) and at most
    the photo's longer side (a larger square would only add padding).
    """
    wanted = np.maximum(least, np.ceil(np.asarray(longest) * (1 + 2 * context)).astype(np.int64))
    return np.minimum(wanted, max(least, *shape[:2]))


def square_around(box: Box, side: int, shape: tuple[int, ...]) -> Box:
    """A ``side`` x ``side`` square centred on ``box``, moved inside an image of ``shape``.

    Where the image is smaller than ``side``, the square is cut to the image on that axis.
    """
    def span(start: int, stop: int, length: int) -> tuple[int, int]:
        begin = min(max(0, math.floor((start + stop - side) / 2)), max(0, length - side))
        return begin, min(length, begin + side)

    (top, bottom), (left, right) = span(box.top, box.bottom, shape[0]), span(box.left, box.right, shape[1])
    return Box(top, left, bottom, right)


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` (bool (H, W)) dilated by a (2 * radius + 1)-pixel square."""
    out = mask.copy()
    for axis in (0, 1):
        source = out.copy()
        for shift in range(1, radius + 1):
            ahead = [slice(None)] * 2
            behind = [slice(None)] * 2
            ahead[axis], behind[axis] = slice(shift, None), slice(None, -shift)
            out[tuple(ahead)] |= source[tuple(behind)]
            out[tuple(behind)] |= source[tuple(ahead)]
    return out


def any_in_blocks(mask: np.ndarray, factor: int) -> np.ndarray:
    """``mask`` (bool (H, W)) reduced by an integer ``factor``: True where any pixel of the
    ``factor`` x ``factor`` block is; bool (ceil(H / factor), ceil(W / factor)).

    The blocks are those of Pillow's ``Image.reduce``, so the two stay aligned.
    """
    height, width = mask.shape
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.zeros((rows * factor, cols * factor), dtype=bool)
    padded[:height, :width] = mask
    return padded.reshape(rows, factor, cols, factor).any(axis=(1, 3))

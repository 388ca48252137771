"""Put a cut-out subject over a backdrop in linear light: edge colours freed of the old
background, a soft contact shadow, and the alpha-over itself.

Everything smooth (backdrop, shadow, local edge colours) is computed at a work size
(longer side at most ``WORK_SIDE``) and scaled up strip by strip while compositing, so
a 12 MP photo is never held in float all at once. Only numpy and Pillow: the model
path in the page runs without scipy.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ... import float_image

#: Longer side of the work size.
WORK_SIDE = 1024
#: Full-size rows composited at a time.
STRIP_ROWS = 256
#: Alpha above which a pixel belongs to the subject's body (for its extent and footing).
SUBJECT = 0.5
#: sRGB uint8 -> linear float32, by table.
DECODE = float_image.SRGB_TO_LINEAR
#: Linear is quantised to this many steps on the way back to uint8 sRGB; the error stays
#: under 0.03 of a level (the steepest slope of the sRGB curve is 12.92), so a colour
#: that goes in comes out exactly.
ENCODE_STEPS = 65535
ENCODE = np.rint(float_image.linear_to_srgb(np.arange(ENCODE_STEPS + 1, dtype=np.float32) / ENCODE_STEPS) * 255
                 ).astype(np.uint8)
#: Blur-fusion radii for the local foreground/background colour means: a wide pass as a
#: fraction of the work size's longer side (the paper's 90 px on ~1500 px photos), then
#: a narrow one in work pixels.
FUSION_WIDE = 0.06
FUSION_NARROW = 3.0
#: Columns whose lowest point is within this fraction of the subject's height above its
#: base stand on the floor (the shadow fades out as they lift off).
FOOTING = 0.04
#: Contact shadow layers: (vertical radius as a fraction of the subject's height, how many
#: times wider than tall, darkness at the centre). A tight dark core where the subject
#: touches, and a wider, fainter ambient occlusion around it.
SHADOW_LAYERS = ((0.012, 6.0, 0.55), (0.04, 4.0, 0.3))


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    """float32 linear light (any range; clipped to [0, 1]) to uint8 sRGB, same shape."""
    return ENCODE[np.rint(np.clip(linear, 0, 1) * ENCODE_STEPS).astype(np.uint16)]


def work_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) of the work size for a photo of ``shape`` (H, W, ...)."""
    height, width = shape[:2]
    scale = max(1.0, max(height, width) / WORK_SIDE)
    return max(1, round(width / scale)), max(1, round(height / scale))


def shrink(pixels: np.ndarray, alpha: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The photo in linear light and its alpha at ``size`` (width, height).

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB; alpha is ignored.
    alpha : ndarray
        float32 (H, W) in [0, 1].

    Returns
    -------
    linear : ndarray
        float32 (h, w, 3), averaged in linear light.
    alpha : ndarray
        float32 (h, w).
    """
    if size == (alpha.shape[1], alpha.shape[0]):
        return DECODE[pixels[..., :3]], alpha.astype(np.float32, copy=False)
    # One channel at a time: a full-size float copy of the photo is never needed.
    linear = np.stack([float_image.resize(DECODE[pixels[..., c]], size) for c in range(3)], axis=-1)
    return linear, float_image.resize(alpha.astype(np.float32, copy=False), size)


def upsample_rows(small: np.ndarray, shape: tuple[int, int], start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``small`` scaled bilinearly to ``shape`` (H, W).

    Strips taken this way join seamlessly: each reads the source region it covers.

    Parameters
    ----------
    small : ndarray
        float32 (h, w) or (h, w, C).

    Returns
    -------
    ndarray
        float32 (stop - start, W) or (stop - start, W, C).
    """
    height, width = shape
    h, w = small.shape[:2]
    if (h, w) == (height, width):
        return small[start:stop]
    if small.ndim == 3:
        return np.stack([upsample_rows(np.ascontiguousarray(small[..., c]), shape, start, stop)
                         for c in range(small.shape[2])], axis=-1)
    # Only the source rows the strip reads (bilinear reaches one row out; two for margin).
    top = max(0, int(start * h / height) - 2)
    bottom = min(h, int(np.ceil(stop * h / height)) + 2)
    piece = Image.fromarray(np.ascontiguousarray(small[top:bottom]), mode="F")
    box = (0, start * h / height - top, w, stop * h / height - top)
    return np.asarray(piece.resize((width, stop - start), Image.Resampling.BILINEAR, box=box))


def subject_extent(alpha: np.ndarray) -> tuple[int, int] | None:
    """(top, base): the first and last rows of the subject's body, or None without one."""
    rows = np.flatnonzero((alpha > SUBJECT).any(axis=1))
    return (int(rows[0]), int(rows[-1])) if rows.size else None


def _local_means(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Disk means of ``fg`` weighted by alpha and of ``bg`` weighted by 1 - alpha."""
    a = alpha[..., None]
    fg_mean = float_image.normalised_disk_blur(fg * a, alpha, radius)
    bg_mean = float_image.normalised_disk_blur(bg * (1 - a), 1 - alpha, radius)
    return fg_mean, bg_mean


def refine(image: np.ndarray, alpha: np.ndarray, fg_mean: np.ndarray, bg_mean: np.ndarray) -> np.ndarray:
    """One blur-fusion step: the foreground colour that, mixed with the local background
    by alpha, best explains the observed colour.

    Parameters
    ----------
    image, fg_mean, bg_mean : ndarray
        float32 (..., 3) linear light.
    alpha : ndarray
        float32 (..., 1) in [0, 1].

    Returns
    -------
    ndarray
        float32 (..., 3) in [0, 1]; equals ``image`` where alpha is 1.
    """
    return np.clip(fg_mean + alpha * (image - alpha * fg_mean - (1 - alpha) * bg_mean), 0, 1)


def edge_colours(linear: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local foreground and background colour means for freeing the subject's edges of
    the old background (Forte & Pitié's blur fusion, "Approximate fast foreground colour
    estimation", ICIP 2021: a wide pass, then a narrow one on its estimates).

    Parameters
    ----------
    linear : ndarray
        float32 (h, w, 3) photo in linear light at the work size.
    alpha : ndarray
        float32 (h, w) in [0, 1].

    Returns
    -------
    fg_mean, bg_mean : ndarray
        float32 (h, w, 3), for :func:`refine` at full size.
    """
    fg_mean, bg_mean = _local_means(linear, linear, alpha, FUSION_WIDE * max(alpha.shape))
    return _local_means(refine(linear, alpha[..., None], fg_mean, bg_mean), bg_mean, alpha, FUSION_NARROW)


def _squashed_blur(image: np.ndarray, radius: float, squash: float) -> np.ndarray:
    """A disk blur stretched into an ellipse ``squash`` times wider than tall.

    Parameters
    ----------
    image : ndarray
        float32 (h, w).
    radius : float
        The ellipse's vertical radius, in pixels.
    """
    h, w = image.shape
    narrow = float_image.resize(image, (max(1, round(w / squash)), h))  # antialiased: a thin line keeps its weight
    return float_image.resize(float_image.disk_blur(narrow, radius), (w, h))


def contact_shadow(alpha: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """A soft shadow where the subject stands, to multiply the backdrop by.

    The line where each column of the subject ends (weighted by how near it is to the
    subject's base: feet and wheels, not a raised arm) is set a little below itself and
    spread into a flat ellipse, twice: a tight dark core and a wide faint one.

    Parameters
    ----------
    alpha : ndarray
        float32 (h, w) in [0, 1].

    Returns
    -------
    factor : ndarray or None
        float32 (h, w) in (0, 1], 1 where there is no shadow.
    reason : str or None
        Why there is no shadow, as a label sentence: no subject, or a subject running off
        the bottom edge (where it meets the floor is out of the picture; a shadow along
        the frame's edge would look like a smudge).
    """
    extent = subject_extent(alpha)
    if extent is None:
        return None, "No contact shadow: no subject was found."
    body = alpha > SUBJECT
    if body[-1].any():
        return None, ("No contact shadow: the subject runs off the bottom edge, "
                      "so where it stands is out of the picture.")
    top, base = extent
    height = base - top + 1
    columns = np.flatnonzero(body.any(axis=0))
    lowest = alpha.shape[0] - 1 - np.argmax(body[::-1, columns], axis=0)
    footing = np.clip(1 - (base - lowest) / max(FOOTING * height, 1.0), 0, 1).astype(np.float32)
    factor = np.ones_like(alpha)
    for radius_fraction, squash, darkness in SHADOW_LAYERS:
        radius = max(radius_fraction * height, 1.0)
        line = np.zeros_like(alpha)
        line[np.minimum(lowest + round(radius / 2), alpha.shape[0] - 1), columns] = footing
        spread = _squashed_blur(line, radius, squash)
        factor *= 1 - darkness * spread / spread.max()
    return factor, None


def composite(pixels: np.ndarray, alpha: np.ndarray, backdrop: np.ndarray,
              fg_mean: np.ndarray, bg_mean: np.ndarray) -> np.ndarray:
    """The subject over the backdrop in linear light, strip by strip.

    Parameters
    ----------
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB photo; its alpha is ignored (fold it into ``alpha``).
    alpha : ndarray
        float32 (H, W) in [0, 1].
    backdrop, fg_mean, bg_mean : ndarray
        float32 (h, w, 3) linear light at the work size (see :func:`edge_colours`).

    Returns
    -------
    ndarray
        uint8 (H, W, 3) sRGB: the photo's own pixels where alpha is 1, the backdrop
        where it is 0.
    """
    shape = alpha.shape
    out = np.empty(shape + (3,), np.uint8)
    for start in range(0, shape[0], STRIP_ROWS):
        stop = min(start + STRIP_ROWS, shape[0])
        a = alpha[start:stop, :, None]
        subject = DECODE[pixels[start:stop, :, :3]]
        edge = np.nonzero((a[..., 0] > 0) & (a[..., 0] < 1))
        if edge[0].size:
            fg, bg = (upsample_rows(mean, shape, start, stop)[edge] for mean in (fg_mean, bg_mean))
            subject[edge] = refine(subject[edge], a[edge], fg, bg)
        out[start:stop] = to_srgb8(subject * a + upsample_rows(backdrop, shape, start, stop) * (1 - a))
    return out

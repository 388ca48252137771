"""Classical (non-AI) subject cut-out for product-style photos.

This is the fallback used when no neural matting model can run. It targets a
subject on a plain or simple backdrop: a solid colour, a smooth gradient or
vignette, light paper texture / sensor noise, optionally with a soft cast
shadow, which is treated as *background*.

Pipeline (at a reduced "work" resolution, except the last step):

1. Downscale (integer block mean, then an anti-aliased resize) and convert to
   CIELAB, lightly smoothed to suppress paper texture.
2. Model the backdrop by robustly fitting a quadratic 2-D polynomial per Lab
   channel to the pixels of a thin frame along the image border; outliers
   (a subject touching an edge, a shadow reaching the border) are rejected
   iteratively.
3. Score each pixel's difference from the modelled backdrop twice: a plain
   colour distance, and a *shadow-tolerant* distance in which a darkening
   that keeps the backdrop's chromaticity (what a cast shadow does) costs
   little, up to a maximum shadow depth.
4. Marker-based watershed on the Lab gradient: sure background (low distance,
   connected to the border), sure subject (high shadow-tolerant distance) and
   "shadow candidates" (differ only by a shadow-like darkening). A candidate
   region is kept as subject only if it meets the backdrop along a *sharp*
   edge; soft-edged ones are shadows and go to the background.
5. Clean up: fill enclosed holes (interior highlights that match the
   backdrop stay opaque), drop specks.
6. Soft edges: a thin ring along the mask boundary is left undecided (a
   trimap); local linear colour models, learnt at work resolution from the
   confident pixels on both sides (a weighted guided filter), are applied
   to the full-resolution photo inside the ring. The edge follows the real
   image detail, anti-aliasing becomes fractional alpha, and the backdrop
   colour right next to the subject gets alpha 0 (no halo).

Behaviour on degenerate input: whenever no subject can be separated from a
backdrop -- images smaller than 8 px on a side (including 1x1 and 1xN), a
uniform image, a frame whose border is not a consistent backdrop (e.g. the
subject fills the picture) or a scene where nothing differs from the
backdrop -- the result is all ones (keep everything), so the fallback never
erases a photo. Non-finite input values are treated as 0.

Known limitations: a neutral grey subject whose lightness is within the
shadow range of the backdrop (roughly L* > 60 on white) *and* has soft edges
is taken for a shadow; hard-edged cast shadows are kept as subject; enclosed
see-through gaps (a mug handle) are filled like highlights; subjects whose
colour is within a few Delta-E of the backdrop are not found.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage import color, filters, measure, morphology, segmentation, transform

__all__ = ["estimate_alpha"]

# Images smaller than this on either side carry no usable border/backdrop.
_MIN_SIDE = 8
# Deepest darkening still accepted as a cast shadow, as a ratio of (L* + 16),
# i.e. of the cube root of luminance: 0.65 ~ a shadow passing 27 % of the
# light (white L*=100 falls to L*~59, sRGB 1.0 -> ~0.56).
_SHADOW_K_MIN = 0.65
# Weight of a shadow-like darkening relative to a chroma difference.
_SHADOW_WEIGHT = 0.15
# Weight of "brighter than the backdrop" (no shadow explains that).
_BRIGHT_WEIGHT = 1.0
# Fraction of the border that must match the fitted backdrop for it to count
# (a subject may cover the rest, e.g. standing on the bottom edge and
# cropped left and right).
_MIN_BORDER_INLIERS = 0.3
# Residual (Delta-E) within which a border pixel counts as explained when
# backdrop hypotheses are compared.
_BACKDROP_TOL = 6.0
# A candidate (shadow-like) region is subject if its edge against the
# backdrop is at least this sharp (Sobel magnitude / local contrast, see
# _sharpness). Measured on a step: 0.45 crisp, 0.36 / 0.24 / 0.18 / 0.15 /
# 0.11 for a Gaussian blur of 1 / 2 / 3 / 4 / 10 work pixels.
_SHARP_EDGE_RATIO = 0.2
# Window (work pixels) over which the local contrast of an edge is measured;
# wider separates soft ramps from crisp edges more, but mixes in more
# neighbouring detail.
_CONTRAST_WINDOW = 15
# Half-width (work pixels) of the uncertain ring around the mask boundary
# that is re-decided from colour at full resolution; it must cover the
# segmentation's own boundary error (about a pixel).
_RING = 2
# Window radius (work pixels, > _RING) and regularisation (sRGB^2) of the
# local colour models.
_GUIDE_RADIUS = 4
_GUIDE_EPS = 1e-4
# Smallest accepted work size: below this the border frame is meaningless.
_MIN_WORK_SIZE = 32


# --------------------------------------------------------------------------
# input / resampling
# --------------------------------------------------------------------------


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    """Coerce input to a float32 (H, W, 3) array, without copying if possible.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) float image in [0, 1]; (H, W), (H, W, 1) and (H, W, 4) and
        integer dtypes are tolerated.

    Returns
    -------
    ndarray
        float32 (H, W, 3). Values are *not* clipped here (done on the small
        work copy) to avoid a full-resolution copy.
    """
    a = np.asarray(rgb)
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    elif a.dtype != np.float32:
        a = a.astype(np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {np.shape(rgb)}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] >= 3:
        a = a[..., :3]
    else:
        raise ValueError(f"expected an (H, W, 3) image, got shape {np.shape(rgb)}")
    return a


def _downscale(img: np.ndarray, work_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Anti-aliased downscale so the longest side is about ``work_size``.

    A large integer factor is done first as a block mean (fast and already
    anti-aliased), the remainder with ``skimage.transform.resize``.

    Parameters
    ----------
    img : ndarray
        float32 (H, W, 3).
    work_size : int
        Target longest side; the short side is kept at >= ``_MIN_WORK_SIZE``
        pixels where the image has them (long thin strips).

    Returns
    -------
    small : ndarray
        float32 (h, w, 3), finite and clipped to [0, 1].
    extent : (int, int)
        Height and width of the full-resolution region the small image covers
        (the block mean crops at most ``factor - 1`` pixels at the bottom and
        right edge).
    """
    h0, w0 = img.shape[:2]
    scale = max(h0, w0) / float(work_size)
    # Keep the short side of a panorama-like strip usable.
    scale = min(scale, min(h0, w0) / float(_MIN_WORK_SIZE))
    f = int(scale) if scale >= 2 else 1
    if f > 1:
        hc, wc = (h0 // f) * f, (w0 // f) * f
        v = img[:hc, :wc]
        # Two reductions over contiguous axes: much faster than mean(axis=(1, 3)).
        rows = v.reshape(hc // f, f, wc * 3).sum(axis=1, dtype=np.float32)
        small = rows.reshape(hc // f, wc // f, f, 3).sum(axis=2) / np.float32(f * f)
    else:
        hc, wc = h0, w0
        small = np.array(img, dtype=np.float32)
    small = np.nan_to_num(small, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(small, 0.0, 1.0, out=small)
    if scale > 1:
        target = (max(1, round(hc / scale)), max(1, round(wc / scale)))
        if target != small.shape[:2]:
            small = transform.resize(
                small, target, order=1, anti_aliasing=True, preserve_range=True
            ).astype(np.float32)
    return small, (hc, wc)


def _bilinear_taps(n_out: int, n_src: int, extent: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights for 1-D linear upsampling.

    Output pixel centres ``0 .. n_out-1`` are mapped to source coordinates
    assuming the ``n_src`` source samples evenly cover ``[0, extent)``.

    Parameters
    ----------
    n_out : int
        Output length (full resolution).
    n_src : int
        Source length (work resolution).
    extent : int
        Full-resolution length covered by the source samples.

    Returns
    -------
    i0, i1 : ndarray
        int source indices.
    t : ndarray
        float32 weight of ``i1``.
    """
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_src / float(extent)) - 0.5
    pos = np.clip(pos, 0.0, n_src - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_src - 1)
    return i0, i1, (pos - i0).astype(np.float32)


# --------------------------------------------------------------------------
# backdrop model
# --------------------------------------------------------------------------


def _border_sides(shape: tuple[int, int]) -> np.ndarray:
    """Boolean frames of the four image sides.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.

    Returns
    -------
    ndarray
        bool (4, h, w): top, bottom, left and right strips, each ~1.5 % of
        the short side wide (>= 2 px). Their union is the border frame.
    """
    h, w = shape
    b = max(2, int(round(0.015 * min(h, w))))
    m = np.zeros((4, h, w), dtype=bool)
    m[0, :b], m[1, -b:], m[2, :, :b], m[3, :, -b:] = True, True, True, True
    return m


def _poly_design(y: np.ndarray, x: np.ndarray, degree: int) -> np.ndarray:
    """Design matrix of 2-D monomials ``y**i * x**j``, ordered by total degree.

    Parameters
    ----------
    y, x : ndarray
        Normalised coordinates in [-1, 1], same shape.
    degree : int
        Highest total degree ``i + j``.

    Returns
    -------
    ndarray
        float64 (y.size, n_terms); the first 1, 3, 6, ... columns are the
        design of degree 0, 1, 2, ...
    """
    y = y.reshape(-1).astype(np.float64)
    x = x.reshape(-1).astype(np.float64)
    cols = [y**i * x**(d - i) for d in range(degree + 1) for i in range(d + 1)]
    return np.stack(cols, axis=1)


def _norm_coords(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates normalised to [-1, 1] (broadcastable grids)."""
    h, w = shape
    y = np.linspace(-1.0, 1.0, h)[:, None] if h > 1 else np.zeros((1, 1))
    x = np.linspace(-1.0, 1.0, w)[None, :] if w > 1 else np.zeros((1, 1))
    return y, x


def _robust_fit(samples: np.ndarray, design: np.ndarray, seed: np.ndarray):
    """Iteratively re-selected least-squares fit, grown from a seed set.

    The model degree rises from constant to the full design over the first
    iterations, so a seed on one side of the frame (which cannot pin down a
    quadratic) first recruits matching pixels elsewhere.

    Parameters
    ----------
    samples : ndarray
        float64 (n, 3) Lab values of the border pixels.
    design : ndarray
        float64 (n, k) polynomial design, columns ordered by degree.
    seed : ndarray
        bool (n,) pixels assumed to be backdrop to start with.

    Returns
    -------
    coef : ndarray or None
        (k, 3) coefficients (zero-padded if a lower degree was used), or None
        if the seed was empty.
    resid : ndarray
        float64 (n,) Delta-E residuals of the final fit.
    inliers : ndarray
        bool (n,) final inlier set.
    """
    k = design.shape[1]
    if not seed.any():
        return None, None, None
    resid = np.linalg.norm(samples - np.median(samples[seed], axis=0), axis=1)
    inl = seed & (resid <= np.median(resid[seed]))
    stages = [1] + [min(3, k)] + [k] * 5
    coef = np.zeros((k, 3))
    for m in stages:
        m = min(m, max(1, int(inl.sum()) // 3))  # never fewer samples than terms
        coef = np.zeros((k, 3))
        # Normal equations: a k x k system (k <= 6, coordinates in [-1, 1] keep
        # it well conditioned) is far cheaper than an SVD of the samples.
        a = design[inl, :m]
        gram = a.T @ a
        gram += 1e-9 * np.trace(gram) * np.eye(m)
        coef[:m] = np.linalg.solve(gram, a.T @ samples[inl])
        resid = np.linalg.norm(samples - design @ coef, axis=1)
        sigma = 1.4826 * np.median(resid[inl])
        # Floor: smoothed clean backdrops have sigma ~0 (looser while the
        # model is still too simple); cap: a backdrop noisier than this is
        # not a plain backdrop.
        floor = 4.0 if m == k else 8.0
        new = resid <= min(max(3.0 * sigma, floor), 15.0)
        if m == k and np.array_equal(new, inl):
            break
        if not new.any():
            break
        inl = new
    return coef, resid, inl


def _fit_backdrop(lab: np.ndarray, sides: np.ndarray, degree: int = 2):
    """Robust low-order polynomial model of the backdrop from border pixels.

    Several hypotheses are grown (from the whole frame and from each side,
    so a subject covering much of the frame cannot hijack the fit); the one
    explaining the most border pixels to within a few Delta-E wins -- a
    plain backdrop is explained tightly, a textured subject is not.

    Parameters
    ----------
    lab : ndarray
        float32 (h, w, 3) smoothed CIELAB work image.
    sides : ndarray
        bool (4, h, w) side strips from :func:`_border_sides`.
    degree : int
        Polynomial degree (2 handles linear gradients and vignettes).

    Returns
    -------
    model : ndarray or None
        float32 (h, w, 3) backdrop Lab colour at every pixel, or None when the
        border is not a consistent backdrop (see ``_MIN_BORDER_INLIERS``).
    noise : float
        Robust scale (Delta-E) of the inlier residuals.
    """
    border = sides.any(axis=0)
    h, w = border.shape
    yy, xx = _norm_coords((h, w))
    full_y, full_x = np.broadcast_to(yy, (h, w)), np.broadcast_to(xx, (h, w))
    # A few thousand evenly spread border pixels pin down six coefficients
    # just as well as all of them, at a fraction of the cost.
    n_all = int(border.sum())
    take = np.linspace(0, n_all - 1, min(n_all, 4096)).astype(np.intp)
    samples = lab[border][take].astype(np.float64)
    design = _poly_design(full_y[border][take], full_x[border][take], degree)
    seeds = [np.ones(take.size, dtype=bool)] + [sd[border][take] for sd in sides]

    best, best_score = None, -1
    for seed in seeds:
        coef, resid, inl = _robust_fit(samples, design, seed)
        if coef is None:
            continue
        score = int(np.count_nonzero(resid <= _BACKDROP_TOL))
        if score > best_score:
            best, best_score = (coef, resid, inl), score
    if best is None:
        return None, 0.0
    coef, resid, inl = best
    if inl.mean() < _MIN_BORDER_INLIERS:
        return None, 0.0
    noise = float(1.4826 * np.median(resid[inl]))
    model = (_poly_design(full_y, full_x, degree) @ coef).reshape(h, w, 3)
    return model.astype(np.float32), noise


# --------------------------------------------------------------------------
# scoring and segmentation
# --------------------------------------------------------------------------


def _distances(lab: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain and shadow-tolerant colour distance to the backdrop model.

    A cast shadow scales the backdrop's light, which in CIELAB scales
    ``L* + 16``, ``a*`` and ``b*`` by about the same factor ``k``. The
    shadow-tolerant distance therefore compares the chroma against the
    backdrop darkened to the pixel's lightness and charges a darkening down to
    ``_SHADOW_K_MIN`` only at ``_SHADOW_WEIGHT``; darker than that counts in
    full (a dark subject on white stays far from the backdrop).

    Parameters
    ----------
    lab, bg : ndarray
        float32 (h, w, 3) image and backdrop model in CIELAB.

    Returns
    -------
    d_full : ndarray
        float32 (h, w) Delta-E 1976 to the backdrop.
    d_shadow : ndarray
        float32 (h, w) shadow-tolerant distance (same units).
    """
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    Lb, ab, bb = bg[..., 0], bg[..., 1], bg[..., 2]
    d_full = np.sqrt((L - Lb) ** 2 + (a - ab) ** 2 + (b - bb) ** 2)

    lb16 = np.maximum(Lb + 16.0, 1.0)
    k = np.clip((L + 16.0) / lb16, 0.0, 1.0)  # brighter: compare chroma as is
    chroma = np.hypot(a - k * ab, b - k * bb)
    darker = np.maximum(Lb - L, 0.0)
    depth = (1.0 - _SHADOW_K_MIN) * lb16  # deepest shadow, in L* units
    light = (_SHADOW_WEIGHT * np.minimum(darker, depth)
             + np.maximum(darker - depth, 0.0)
             + _BRIGHT_WEIGHT * np.maximum(L - Lb, 0.0))
    d_shadow = np.hypot(chroma, light)
    return d_full.astype(np.float32), d_shadow.astype(np.float32)


def _gradient(lab: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude (Delta-E per pixel, Sobel) of a Lab image.

    Parameters
    ----------
    lab : ndarray
        float32 (h, w, 3).

    Returns
    -------
    ndarray
        float32 (h, w).
    """
    g2 = sum(filters.sobel(lab[..., c]) ** 2 for c in range(3))
    return np.sqrt(g2).astype(np.float32)


def _border_connected(mask: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` in components that touch ``border``."""
    lbl, n = ndi.label(mask)
    if n == 0:
        return mask
    keep = np.zeros(n + 1, dtype=bool)
    keep[np.unique(lbl[border & mask])] = True
    keep[0] = False
    return keep[lbl]


def _segment(lab: np.ndarray, grad: np.ndarray, d_full: np.ndarray, d_shadow: np.ndarray,
             border: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Marker-based watershed separating subject from backdrop and shadows.

    Parameters
    ----------
    lab : ndarray
        float32 (h, w, 3) smoothed CIELAB work image.
    grad : ndarray
        float32 (h, w) its gradient magnitude (the watershed relief).
    d_full, d_shadow : ndarray
        float32 (h, w) distances from :func:`_distances`.
    border : ndarray
        bool (h, w) border frame.
    noise : float
        Robust Delta-E scale of the backdrop residual.

    Returns
    -------
    fg : ndarray
        bool (h, w) subject mask (may be empty).
    confident : ndarray
        bool (h, w) pixels whose side is known from colour alone: the
        watershed markers, as opposed to pixels the flooding assigned.
    """
    # Thresholds scale with the backdrop's own noise so paper texture does
    # not seed subject markers; the floors cover model error on clean shots.
    t_low = max(3.0, 3.0 * noise)
    t_high = max(12.0, 2.5 * t_low)

    sharp = _sharpness(lab, grad, max(t_low, 0.5 * t_high))
    # Split shadow candidates at sharp edges (a grey subject inside its own
    # shadow): only soft/flat pixels seed candidate regions.
    flat = sharp < _SHARP_EDGE_RATIO

    sure_bg = _border_connected(d_full < t_low, border)
    sure_fg = _core(d_shadow, t_high) & ~sure_bg
    cand = _core(d_full, t_high) & ~sure_fg & ~sure_bg & flat
    # Noise-sized fragments would only add decisions, not information.
    cand = morphology.remove_small_objects(cand, min_size=9)

    markers = np.zeros(d_full.shape, dtype=np.int32)
    markers[sure_bg] = 1
    markers[sure_fg] = 2
    cand_lbl, n_cand = ndi.label(cand)
    markers[cand] = cand_lbl[cand] + 2
    if not sure_bg.any() or not (sure_fg.any() or n_cand):
        # Nothing to separate: the caller keeps the whole image.
        return np.zeros(d_full.shape, dtype=bool), sure_bg | sure_fg

    labels = segmentation.watershed(grad, markers)
    fg = labels == 2
    if n_cand:
        fg |= _sharp_candidates(labels, n_cand, sharp)
    return fg, sure_bg | sure_fg | cand


def _core(d: np.ndarray, t: float) -> np.ndarray:
    """Pixels clearly inside a region of high distance ``d``.

    On the smoothed image a high-contrast edge spreads a pixel or two into
    the backdrop, so a fixed threshold would seed markers past the edge.
    Also requiring at least half the local maximum keeps only the inner side
    of the edge midpoint, and still marks the centre of thin parts.

    Parameters
    ----------
    d : ndarray
        float32 (h, w) distance map.
    t : float
        Absolute threshold.

    Returns
    -------
    ndarray
        bool (h, w).
    """
    return (d >= t) & (d >= 0.5 * ndi.maximum_filter(d, size=5))


def _sharp_candidates(labels: np.ndarray, n_cand: int, sharpness: np.ndarray) -> np.ndarray:
    """Keep shadow-like regions that are bounded by a sharp edge.

    A cast shadow fades into the backdrop over many pixels; an object edge
    is a step of about a pixel. Starting from the backdrop region, each
    candidate region touching the (growing) background is judged by the
    sharpness along that boundary: soft ones join the background, so a shadow
    split into several regions is peeled off piece by piece; sharp ones are
    subject. Candidates never reached (enclosed by subject) are subject.

    Parameters
    ----------
    labels : ndarray
        int (h, w) watershed labels: 1 backdrop, 2 subject, 3.. candidates.
    n_cand : int
        Number of candidate labels.
    sharpness : ndarray
        float32 (h, w) gradient divided by local contrast (see
        :func:`_sharpness`).

    Returns
    -------
    ndarray
        bool (h, w) union of the candidate regions judged to be subject.
    """
    state = np.zeros(labels.max() + 1, dtype=np.int8)  # 0 open, 1 subject, -1 background
    state[1], state[2] = -1, 1
    se = np.ones((3, 3), dtype=bool)
    cand = labels >= 3
    for _ in range(min(n_cand, 64)):  # bounded: each pass peels one layer
        bg_now = state[labels] == -1
        open_c = cand & (state[labels] == 0)
        # Boundary band on both sides: the gradient peak of a sharp edge may
        # fall on either side of the watershed line.
        inner = open_c & ndi.binary_dilation(bg_now, se)
        near_c = ndi.grey_dilation(np.where(open_c, labels, 0), footprint=se)
        outer = bg_now & (near_c >= 3)
        band = np.where(inner, labels, 0)
        band[outer] = near_c[outer]
        touched = np.unique(band[band > 0])
        if touched.size == 0:
            break
        # Upper quartile: the edge line is a thin subset of the band.
        sharp = np.asarray(ndi.labeled_comprehension(
            sharpness, band, touched, lambda v: np.percentile(v, 75), np.float64, 0.0))
        state[touched] = np.where(sharp >= _SHARP_EDGE_RATIO, 1, -1)
    return cand & (state[labels] >= 0)


def _sharpness(lab: np.ndarray, grad: np.ndarray, floor: float) -> np.ndarray:
    """Edge sharpness: gradient relative to the local colour contrast.

    The ratio depends on how blurred an edge is, not on its height, so it
    tells soft shadow edges from object edges however dark the shadow or
    the object (values: see ``_SHARP_EDGE_RATIO``).

    Parameters
    ----------
    lab : ndarray
        float32 (h, w, 3) smoothed CIELAB image.
    grad : ndarray
        float32 (h, w) its Sobel gradient magnitude.
    floor : float
        Minimum contrast (Delta-E), so noise on flat areas does not count.

    Returns
    -------
    ndarray
        float32 (h, w).
    """
    size = (_CONTRAST_WINDOW, _CONTRAST_WINDOW)
    rng2 = sum((ndi.maximum_filter(lab[..., c], size=size)
                - ndi.minimum_filter(lab[..., c], size=size)) ** 2 for c in range(3))
    return (grad / np.maximum(np.sqrt(rng2), floor)).astype(np.float32)


def _cleanup(fg: np.ndarray) -> np.ndarray:
    """Fill enclosed holes and drop insignificant specks.

    Parameters
    ----------
    fg : ndarray
        bool (h, w) raw subject mask.

    Returns
    -------
    ndarray
        bool (h, w) cleaned mask (may be empty).
    """
    # Interior highlights that match the backdrop are enclosed: keep them.
    fg = ndi.binary_fill_holes(fg)
    min_size = max(16, int(0.0005 * fg.size))
    fg = morphology.remove_small_objects(fg, min_size=min_size)
    lbl = measure.label(fg, connectivity=2)
    if lbl.max() > 1:
        areas = np.bincount(lbl.ravel())
        areas[0] = 0
        # Several products (or a detached thin part) may share a shot, but a
        # component under 1 % of the largest is dust or backdrop clutter.
        fg = (areas >= 0.01 * areas.max())[lbl]
    return fg


# --------------------------------------------------------------------------
# soft alpha at full resolution
# --------------------------------------------------------------------------


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window (edges by reflection)."""
    size = (2 * r + 1, 2 * r + 1) + (1,) * (x.ndim - 2)
    return ndi.uniform_filter(x, size=size, mode="reflect")


def _matting_coefficients(guide: np.ndarray, p: np.ndarray, known: np.ndarray,
                          r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Local linear colour models of alpha, learnt from confident pixels only.

    A guided filter (He et al.) whose window statistics are weighted by
    ``known``: each window fits ``alpha ~ a . rgb + b`` to the confident
    subject (p = 1) and backdrop (p = 0) pixels in it, then coefficients are
    averaged over the windows that saw *both* classes. Leaving the uncertain
    ring out of the fit is what keeps the backdrop colour at alpha 0 right
    next to the subject (no halo), even if the mask is off by a pixel there.

    Parameters
    ----------
    guide : ndarray
        float32 (h, w, 3) guide image in [0, 1].
    p : ndarray
        float32 (h, w) binary mask (1 = subject).
    known : ndarray
        bool (h, w) pixels whose label is trusted.
    r : int
        Window radius in pixels; must exceed the uncertain ring's half-width.
    eps : float
        Regularisation of the colour covariance.

    Returns
    -------
    a : ndarray
        float32 (h, w, 3) colour coefficients.
    b : ndarray
        float32 (h, w) offsets; where no window saw both classes, ``a = 0``
        and ``b = p``.
    """
    guide64 = guide.astype(np.float64)
    wt = known.astype(np.float64)
    pw = p.astype(np.float64) * wt
    n = np.maximum(_box(wt, r), 1e-12)
    mean_guide = _box(guide64 * wt[..., None], r) / n[..., None]
    mp = _box(pw, r) / n
    # A window is usable if it holds a fair share of both classes.
    both = (n > 0.25) & (mp > 0.05) & (mp < 0.95)
    a = np.zeros_like(guide64)
    if both.any():
        cov_guide_p = _box(guide64 * pw[..., None], r)[both] / n[both, None] - mean_guide[both] * mp[both, None]
        iw = guide64 * wt[..., None]
        var = np.empty(cov_guide_p.shape + (3,))
        for i in range(3):
            for j in range(i, 3):
                v = _box(iw[..., i] * guide64[..., j], r)[both] / n[both]
                var[:, i, j] = var[:, j, i] = v - mean_guide[both, i] * mean_guide[both, j]
        var += eps * np.eye(3)
        a[both] = np.linalg.solve(var, cov_guide_p[..., None])[..., 0]
    b = mp - np.einsum("...c,...c->...", a, mean_guide)
    # Average over usable windows only; elsewhere fall back to the mask.
    cnt = _box(both.astype(np.float64), r)
    ok = cnt > 1e-6
    a_bar = np.where(ok[..., None], _box(a * both[..., None], r) / np.maximum(cnt, 1e-6)[..., None], 0.0)
    b_bar = np.where(ok, _box(b * both, r) / np.maximum(cnt, 1e-6), p)
    return a_bar.astype(np.float32), b_bar.astype(np.float32)


def _full_res_alpha(mask: np.ndarray, confident: np.ndarray, small: np.ndarray,
                    img: np.ndarray, extent: tuple[int, int]) -> np.ndarray:
    """Soft full-resolution alpha from the work-resolution mask.

    Pixels near the mask boundary that were not labelled from colour alone
    form an uncertain ring (a trimap). Local colour models learnt at work
    resolution from the confident pixels (see
    :func:`_matting_coefficients`) are interpolated to full resolution and
    applied to the full-resolution photo inside the ring, so the edge follows
    the real image detail (anti-aliasing, fine shapes) instead of the coarse
    work grid. Outside the ring alpha is exactly 0 or 1.

    Parameters
    ----------
    mask : ndarray
        bool (h, w) subject mask at work resolution.
    confident : ndarray
        bool (h, w) pixels whose side is known from colour (markers).
    small : ndarray
        float32 (h, w, 3) work image (the guide).
    img : ndarray
        float32 (H, W, 3) full-resolution image.
    extent : (int, int)
        Full-resolution region covered by the work image.

    Returns
    -------
    ndarray
        float32 (H, W) alpha in [0, 1].
    """
    H, W = img.shape[:2]
    h, w = mask.shape
    maskf = mask.astype(np.float32)
    se = np.ones((3, 3), dtype=bool)
    # border_value=1: the image frame is not an object boundary (a product
    # standing on the bottom edge stays opaque to the edge).
    far_fg = ndi.binary_erosion(mask, se, iterations=_RING, border_value=1)
    far_bg = ~ndi.binary_dilation(mask, se, iterations=_RING)
    # Marker pixels are trusted closer to the edge (but not on it, where
    # smoothing blurs colours): this keeps thin parts, which have no pixel
    # far from an edge, learnable.
    on_edge = ndi.binary_dilation(mask, se) & ~ndi.binary_erosion(mask, se, border_value=1)
    ring = ~(far_fg | far_bg | (confident & ~on_edge))
    coef = np.zeros((h, w, 4), dtype=np.float32)
    coef[..., 3] = maskf
    if ring.any():
        # Fit only over the ring's bounding box plus the windows' reach.
        ys, xs = np.nonzero(ring)
        pad = 2 * _GUIDE_RADIUS + 1
        y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, h)
        x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, w)
        ca, cb = _matting_coefficients(small[y0:y1, x0:x1], maskf[y0:y1, x0:x1],
                                       ~ring[y0:y1, x0:x1], r=_GUIDE_RADIUS, eps=_GUIDE_EPS)
        coef[y0:y1, x0:x1, :3] = ca
        coef[y0:y1, x0:x1, 3] = cb

    if (h, w) == (H, W):
        # No resampling: the sanitised work copy is the full-resolution image.
        alpha = maskf
        rows, cols = np.nonzero(ring)
        c = coef[ring]
        pix = small[ring]
    else:
        # Nearest work pixel decides sure subject / backdrop / ring...
        yn = np.clip(np.round((np.arange(H) + 0.5) * (h / extent[0]) - 0.5), 0, h - 1).astype(np.intp)
        xn = np.clip(np.round((np.arange(W) + 0.5) * (w / extent[1]) - 0.5), 0, w - 1).astype(np.intp)
        alpha = maskf[yn][:, xn]
        # ...and the ring is evaluated from the full-resolution photo.
        rows, cols = np.nonzero(ring[yn][:, xn])
        c = _sample_bilinear(coef, rows, cols, _bilinear_taps(H, h, extent[0]),
                             _bilinear_taps(W, w, extent[1]))
        pix = np.nan_to_num(img[rows, cols], nan=0.0, posinf=1.0, neginf=0.0)
    vals = np.einsum("nc,nc->n", c[:, :3], pix) + c[:, 3]
    alpha[rows, cols] = np.clip(vals, 0.0, 1.0)
    return alpha


def _sample_bilinear(arr: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                     taps_y, taps_x) -> np.ndarray:
    """Bilinearly sample work-resolution maps at scattered full-res pixels.

    Parameters
    ----------
    arr : ndarray
        float32 (h, w, C).
    rows, cols : ndarray
        Full-resolution pixel indices.
    taps_y, taps_x : tuple
        Results of :func:`_bilinear_taps`.

    Returns
    -------
    ndarray
        float32 (n, C), one row per (row, col).
    """
    y0, y1, ty = (t[rows] for t in taps_y)
    x0, x1, tx = (t[cols] for t in taps_x)
    tx = tx[:, None]
    top = arr[y0, x0]
    top += (arr[y0, x1] - top) * tx
    bot = arr[y1, x0]
    bot += (arr[y1, x1] - bot) * tx
    return top + (bot - top) * ty[:, None]


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def estimate_alpha(rgb: np.ndarray, *, work_size: int = 512) -> np.ndarray:
    """Estimate a subject alpha matte without a neural model.

    Parameters
    ----------
    rgb : ndarray
        float32 (H, W, 3) image in [0, 1], sRGB. Non-finite values are treated
        as 0; other float dtypes, integer images, greyscale and RGBA are
        accepted and converted.
    work_size : int, optional
        Longest side of the internal working copy (at least 32). Larger is
        slower and finds finer detail; edges are refined at full resolution
        either way.

    Returns
    -------
    ndarray
        float32 (H, W) alpha in [0, 1], 1 = subject, soft at the edges. All
        ones when no subject can be separated from a backdrop (tiny, uniform
        or all-subject images); see the module docstring.
    """
    img = _as_rgb(rgb)
    H, W = img.shape[:2]
    keep_all = np.ones((H, W), dtype=np.float32)
    if min(H, W) < _MIN_SIDE:
        return keep_all

    small, extent = _downscale(img, max(int(work_size), _MIN_WORK_SIZE))
    if min(small.shape[:2]) < _MIN_SIDE:
        return keep_all
    # Light smoothing: paper texture and noise must not look like edges or
    # subject; the full-resolution matting step restores edge detail.
    lab = ndi.gaussian_filter(color.rgb2lab(small).astype(np.float32), sigma=(1.0, 1.0, 0))
    grad = _gradient(lab)

    sides = _border_sides(lab.shape[:2])
    border = sides.any(axis=0)
    bg, noise = _fit_backdrop(lab, sides)
    if bg is None:
        return keep_all
    d_full, d_shadow = _distances(lab, bg)
    fg, confident = _segment(lab, grad, d_full, d_shadow, border, noise)
    fg = _cleanup(fg)
    if not fg.any() or fg.all():
        return keep_all
    return _full_res_alpha(fg, confident, small, img, extent)

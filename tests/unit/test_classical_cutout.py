"""Classical background removal on composed product-style shots.

Every test image is built here from a known subject coverage, so the exact
mask is known. The bar is IoU >= 0.9 between ``estimate_alpha(img) >= 0.5``
and that mask.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from darkroom.cutout.classical import estimate_alpha

IOU_MIN = 0.9
SEED = 20240611


# --------------------------------------------------------------------------
# scene composition
# --------------------------------------------------------------------------


def _grid(h, w):
    return np.mgrid[0:h, 0:w].astype(np.float32)


def ellipse(h, w, cy, cx, ry, rx, angle=0.0):
    """Anti-aliased (about 1 px) coverage of a rotated ellipse, float32 (h, w)."""
    y, x = _grid(h, w)
    c, s = np.cos(angle), np.sin(angle)
    u = ((x - cx) * c + (y - cy) * s) / rx
    v = (-(x - cx) * s + (y - cy) * c) / ry
    rho = np.sqrt(u * u + v * v)
    return np.clip((1.0 - rho) * min(rx, ry) + 0.5, 0.0, 1.0)


def rounded_box(h, w, top, left, bottom, right, radius):
    """Anti-aliased coverage of a rounded rectangle (signed-distance based)."""
    y, x = _grid(h, w)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    hy, hx = (bottom - top) / 2 - radius, (right - left) / 2 - radius
    qy, qx = np.abs(y - cy) - hy, np.abs(x - cx) - hx
    outside = np.hypot(np.maximum(qy, 0), np.maximum(qx, 0))
    inside = np.minimum(np.maximum(qy, qx), 0)
    sdf = outside + inside - radius
    return np.clip(0.5 - sdf, 0.0, 1.0)


def blob(h, w, cy, cx, radius, rng, lobes=5, wobble=0.22):
    """Anti-aliased irregular star-ish blob: radius modulated by sinusoids."""
    y, x = _grid(h, w)
    theta = np.arctan2(y - cy, x - cx)
    rho = np.hypot(y - cy, x - cx)
    r = np.ones_like(theta)
    for k in range(2, 2 + lobes):
        r += wobble / k * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    return np.clip(radius * r - rho + 0.5, 0.0, 1.0)


def texture(h, w, rng, lo, hi, stripes=True):
    """Colourful texture: smooth colour noise plus stripes, each channel in [lo_c, hi_c]."""
    lo = np.asarray(lo, np.float32)
    hi = np.asarray(hi, np.float32)
    noise = ndi.gaussian_filter(rng.standard_normal((h, w, 3)), sigma=(4, 4, 0))
    noise += 0.3 * rng.standard_normal((h, w, 3))  # fine grain
    noise = (noise - noise.min()) / (np.ptp(noise) + 1e-9)
    if stripes:
        y, x = _grid(h, w)
        band = 0.5 + 0.5 * np.sin((x * 0.8 + y * 0.5) / 5.0)
        noise = 0.6 * noise + 0.4 * band[..., None] * np.array([1.0, 0.3, 0.7])
        noise = (noise - noise.min()) / (np.ptp(noise) + 1e-9)
    return (lo + (hi - lo) * noise).astype(np.float32)


def solid(h, w, rgb):
    return np.broadcast_to(np.asarray(rgb, np.float32), (h, w, 3)).copy()


def shadowed(backdrop, caster, sigma, depth):
    """Darken ``backdrop`` by a soft shadow: ``caster`` blurred by ``sigma``, at most ``depth``."""
    shade = ndi.gaussian_filter(caster, sigma)
    shade = depth * shade / shade.max()
    return backdrop * (1 - shade)[..., None]


def compose(backdrop, cover, subject):
    """Alpha-blend ``subject`` over ``backdrop`` with coverage ``cover``."""
    a = cover[..., None]
    return np.clip(backdrop * (1 - a) + subject * a, 0, 1).astype(np.float32)


def add_highlights(subject, cover, colour, spots):
    """Paint soft highlights of ``colour`` inside the subject, e.g. the backdrop's colour."""
    h, w = cover.shape
    out = subject.copy()
    for cy, cx, ry, rx in spots:
        m = ellipse(h, w, cy, cx, ry, rx)[..., None]
        out = out * (1 - m) + np.asarray(colour, np.float32) * m
    return out


def iou(alpha, cover):
    pred = alpha >= 0.5
    true = cover >= 0.5
    union = np.logical_or(pred, true).sum()
    return float(np.logical_and(pred, true).sum() / max(union, 1))


def scene(name):
    """Build one named scene; returns (image, true coverage)."""
    rng = np.random.default_rng(SEED + sum(map(ord, name)))
    if name == "white_backdrop_with_highlights":
        h, w = 480, 640
        cover = ellipse(h, w, 240, 330, 150, 210, angle=0.3)
        subj = texture(h, w, rng, (0.1, 0.2, 0.5), (0.9, 0.6, 0.9))
        # Specular highlights the colour of the backdrop, inside the subject.
        subj = add_highlights(subj, cover, (0.97, 0.97, 0.97),
                              [(190, 280, 14, 40), (290, 400, 10, 22), (230, 200, 8, 8)])
        return compose(solid(h, w, (0.97, 0.97, 0.97)), cover, subj), cover
    if name == "coloured_backdrop":
        h, w = 500, 500
        cover = rounded_box(h, w, 110, 140, 400, 370, 40)
        bg = (0.45, 0.72, 0.78)  # teal studio paper
        subj = texture(h, w, rng, (0.7, 0.2, 0.1), (1.0, 0.8, 0.3))
        subj = add_highlights(subj, cover, bg, [(200, 250, 12, 30)])
        return compose(solid(h, w, bg), cover, subj), cover
    if name == "gradient_vignette_backdrop":
        h, w = 450, 700
        y, x = _grid(h, w)
        top, bottom = np.array([0.62, 0.72, 0.9]), np.array([0.95, 0.95, 0.97])
        t = (y / (h - 1))[..., None]
        bg = top * (1 - t) + bottom * t
        r2 = ((y - h / 2) / (h / 2)) ** 2 + ((x - w / 2) / (w / 2)) ** 2
        bg = bg * (1 - 0.18 * r2 / 2)[..., None]  # vignette: corners ~18 % darker
        cover = blob(h, w, 230, 340, 150, rng)
        subj = texture(h, w, rng, (0.5, 0.05, 0.05), (0.95, 0.5, 0.3))
        return compose(bg.astype(np.float32), cover, subj), cover
    if name == "paper_noise_backdrop":
        h, w = 600, 450
        bg = solid(h, w, (0.92, 0.9, 0.86))
        bg += 0.025 * ndi.gaussian_filter(rng.standard_normal((h, w)), 1.5)[..., None] * 3
        bg += 0.03 * rng.standard_normal((h, w, 3))  # per-pixel grain
        cover = blob(h, w, 300, 225, 140, rng, lobes=4)
        subj = texture(h, w, rng, (0.1, 0.35, 0.15), (0.5, 0.85, 0.45))
        subj += 0.03 * rng.standard_normal((h, w, 3))
        return compose(bg, cover, subj), cover
    if name == "white_with_soft_shadow":
        h, w = 500, 700
        cover = rounded_box(h, w, 120, 230, 360, 430, 30)
        subj = texture(h, w, rng, (0.15, 0.3, 0.6), (0.6, 0.75, 0.95))
        # Cast shadow: a blurred ellipse offset down-right from the subject,
        # darkening the backdrop by up to ~38 %.
        bg = shadowed(solid(h, w, (0.96, 0.96, 0.95)), ellipse(h, w, 330, 420, 70, 190), sigma=14, depth=0.38)
        bg += 0.01 * rng.standard_normal((h, w, 3))
        return compose(bg, cover, subj), cover
    if name == "contact_shadow_under_subject":
        h, w = 520, 520
        cover = ellipse(h, w, 230, 260, 150, 110)
        subj = texture(h, w, rng, (0.6, 0.1, 0.3), (0.95, 0.5, 0.7))
        # Soft shadow pooled beneath the object, wider than it.
        bg = shadowed(solid(h, w, (0.98, 0.98, 0.98)), ellipse(h, w, 385, 265, 35, 150), sigma=10, depth=0.4)
        return compose(bg, cover, subj), cover
    if name == "dark_subject_on_white":
        h, w = 480, 560
        cover = blob(h, w, 240, 280, 160, rng)
        subj = texture(h, w, rng, (0.03, 0.03, 0.05), (0.22, 0.2, 0.25))
        # The dark subject also casts a soft shadow: dark vs shadow must be told apart.
        bg = shadowed(solid(h, w, (0.97, 0.97, 0.97)), ellipse(h, w, 300, 360, 120, 170), sigma=12, depth=0.3)
        return compose(bg, cover, subj), cover
    if name == "light_subject_on_dark_grey":
        h, w = 400, 600
        cover = ellipse(h, w, 200, 290, 130, 190, angle=-0.4)
        subj = texture(h, w, rng, (0.7, 0.7, 0.6), (1.0, 0.95, 0.9))
        return compose(solid(h, w, (0.22, 0.22, 0.23)), cover, subj), cover
    if name == "subject_touching_bottom_edge":
        h, w = 500, 600
        # A product standing on the bottom edge: its base is cut by the frame.
        cover = rounded_box(h, w, 170, 180, 560, 430, 50)
        subj = texture(h, w, rng, (0.2, 0.1, 0.4), (0.8, 0.5, 0.95))
        bg = solid(h, w, (0.93, 0.93, 0.9))
        return compose(bg, cover, subj), cover
    if name == "grey_subject_in_own_shadow":
        h, w = 480, 640
        # A neutral grey object is itself "darker with the same chroma": only
        # its crisp outline tells it from the soft shadow it casts.
        cover = ellipse(h, w, 230, 300, 140, 180)
        subj = texture(h, w, rng, (0.5, 0.5, 0.5), (0.62, 0.62, 0.62), stripes=False)
        bg = shadowed(solid(h, w, (0.97, 0.97, 0.97)), ellipse(h, w, 300, 380, 130, 200), sigma=12, depth=0.35)
        return compose(bg, cover, subj), cover
    if name == "shadow_reaching_frame_edge":
        h, w = 480, 640
        cover = blob(h, w, 220, 300, 130, rng)
        subj = texture(h, w, rng, (0.1, 0.4, 0.3), (0.5, 0.9, 0.6))
        bg = shadowed(solid(h, w, (0.95, 0.94, 0.92)), ellipse(h, w, 390, 430, 150, 300), sigma=15, depth=0.4)
        return compose(bg, cover, subj), cover
    if name == "subject_touching_three_edges":
        h, w = 400, 600
        # A close-up cropped left, right and bottom: most of the frame's
        # border is subject, only the top and upper sides show the backdrop.
        cover = rounded_box(h, w, 150, -50, 500, 650, 40)
        subj = texture(h, w, rng, (0.6, 0.1, 0.1), (1.0, 0.5, 0.4))
        return compose(solid(h, w, (0.95, 0.95, 0.95)), cover, subj), cover
    if name == "thin_parts":
        h, w = 480, 640
        # A body with a thin handle and a separate thin rod (a few px wide).
        body = ellipse(h, w, 300, 320, 100, 130)
        handle = rounded_box(h, w, 40, 317, 300, 323, 2.99)
        rod = rounded_box(h, w, 60, 497, 300, 501, 1.99)
        cover = np.maximum(np.maximum(body, handle), rod)
        subj = texture(h, w, rng, (0.1, 0.3, 0.6), (0.6, 0.8, 1.0))
        return compose(solid(h, w, (0.96, 0.96, 0.96)), cover, subj), cover
    raise KeyError(name)


SCENES = [
    "white_backdrop_with_highlights",
    "coloured_backdrop",
    "gradient_vignette_backdrop",
    "paper_noise_backdrop",
    "white_with_soft_shadow",
    "contact_shadow_under_subject",
    "dark_subject_on_white",
    "light_subject_on_dark_grey",
    "subject_touching_bottom_edge",
    "grey_subject_in_own_shadow",
    "shadow_reaching_frame_edge",
    "subject_touching_three_edges",
    "thin_parts",
]


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENES)
def test_scene_iou(name):
    img, cover = scene(name)
    alpha = estimate_alpha(img)
    score = iou(alpha, cover)
    assert score >= IOU_MIN, f"{name}: IoU {score:.4f} < {IOU_MIN}"


def test_shadow_is_background():
    """The shadowed backdrop outside the subject is cut away, not kept."""
    img, cover = scene("white_with_soft_shadow")
    alpha = estimate_alpha(img)
    outside = cover < 0.5
    darkened = outside & (img.mean(axis=2) < 0.8)  # clearly in shadow
    assert darkened.sum() > 2000  # the scene does contain a real shadow
    kept = float((alpha[darkened] >= 0.5).mean())
    assert kept < 0.05, f"{kept:.1%} of shadow pixels kept as subject"


def test_no_halo_around_subject():
    """Backdrop pixels just outside the subject are fully transparent."""
    for name in ("white_backdrop_with_highlights", "light_subject_on_dark_grey"):
        img, cover = scene(name)
        alpha = estimate_alpha(img)
        dist = ndi.distance_transform_edt(cover < 0.01)
        ring = (dist >= 2) & (dist <= 6)
        halo = float(alpha[ring].mean())
        assert halo < 0.02, f"{name}: mean alpha {halo:.3f} 2-6 px outside the subject"


def test_thin_parts_are_kept():
    """A 6 px handle and a free-standing 4 px rod survive the cut-out."""
    img, cover = scene("thin_parts")
    alpha = estimate_alpha(img)
    h, w = cover.shape
    handle = rounded_box(h, w, 40, 317, 300, 323, 2.99) >= 0.5
    rod = rounded_box(h, w, 60, 497, 300, 501, 1.99) >= 0.5
    for part, mask in (("handle", handle), ("rod", rod)):
        kept = float((alpha[mask] >= 0.5).mean())
        assert kept >= 0.9, f"only {kept:.1%} of the {part} kept"


def test_downscaled_path_matches_at_full_resolution():
    """A larger shot processed at a small work size still cuts out cleanly."""
    rng = np.random.default_rng(SEED)
    h, w = 900, 1200
    cover = blob(h, w, 450, 600, 300, rng)
    subj = texture(h, w, rng, (0.6, 0.3, 0.0), (1.0, 0.7, 0.3))
    img = compose(solid(h, w, (0.95, 0.95, 0.95)), cover, subj)
    alpha = estimate_alpha(img, work_size=256)
    assert alpha.shape == (h, w)
    score = iou(alpha, cover)
    assert score >= 0.95, f"IoU {score:.4f} < 0.95 with work_size=256"


def test_output_shape_dtype_range():
    img, _ = scene("coloured_backdrop")
    alpha = estimate_alpha(img)
    assert alpha.shape == img.shape[:2]
    assert alpha.dtype == np.float32
    assert np.isfinite(alpha).all()
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    # A soft edge, not a hard binary mask.
    assert ((alpha > 0.02) & (alpha < 0.98)).any()


def test_input_not_modified():
    img, _ = scene("white_with_soft_shadow")
    before = img.copy()
    estimate_alpha(img)
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 50, 3), (50, 1, 3), (3, 7, 3), (0, 10, 3)])
def test_tiny_images_keep_everything(shape):
    img = np.full(shape, 0.5, np.float32)
    alpha = estimate_alpha(img)
    assert alpha.shape == shape[:2]
    assert alpha.dtype == np.float32
    assert np.all(alpha == 1.0)


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_uniform_image_keeps_everything(value):
    alpha = estimate_alpha(np.full((120, 160, 3), value, np.float32))
    assert alpha.shape == (120, 160)
    assert np.isfinite(alpha).all()
    assert np.all(alpha == 1.0)


def test_all_subject_image_keeps_everything():
    """No backdrop along the border: nothing is removed."""
    rng = np.random.default_rng(SEED)
    img = texture(300, 400, rng, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    alpha = estimate_alpha(img)
    assert np.isfinite(alpha).all()
    assert float(alpha.mean()) > 0.99


def test_non_finite_input_is_tolerated():
    img, _ = scene("light_subject_on_dark_grey")
    img = img.copy()
    img[10:20, 10:20] = np.nan
    img[50, 50] = np.inf
    alpha = estimate_alpha(img)
    assert np.isfinite(alpha).all()
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0

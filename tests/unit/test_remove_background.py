"""Background removal: ISNet pre/post-processing, output composition, and the real models."""

import asyncio

import numpy as np
import pytest

from darkroom import imaging, models
from darkroom.byom import UserFile, user_spec
from darkroom.cutout import single_mask
from darkroom.engine import run_tool
from darkroom.models import TensorSpec
from darkroom.runtime import CpuRuntime
from darkroom.tensors import takes_pixels, working_size
from darkroom.tiers import DEFAULT as DEFAULT_TIER
from darkroom.tool import model_scale_notes
from darkroom.tools import registry
from darkroom.tools.remove_background import SIGNATURE, compose
from helpers import iou, require_models


@pytest.fixture(scope="module")
def manifest():
    return models.load_manifest()


@pytest.fixture(scope="module")
def spec():
    """A model with ISNet's published interface, as a user's own model has it: float32
    NCHW 1024 x 1024 in, normalised by the host."""
    found = UserFile("my-isnet.onnx", "0" * 64, 1, (TensorSpec("input", (1, 3, 1024, 1024), "float32"),),
                     (TensorSpec("output", (1, 1, 1024, 1024), "float32"),))
    return user_spec("remove-background", SIGNATURE, [found])


@pytest.fixture(scope="module")
def pixel_spec(manifest):
    """A model that takes the photo's pixels and resizes them itself (tensors.takes_pixels):
    the shipped ISNet."""
    return manifest["isnet-fp16"]


def solid(width, height, rgb, alpha=None):
    pixels = np.empty((height, width, 3 if alpha is None else 4), np.uint8)
    pixels[..., :3] = rgb
    if alpha is not None:
        pixels[..., 3] = alpha
    return pixels


# --------------------------------------------------------------------------
# single_mask.prepare


def test_prepare_shape_dtype_and_name(spec):
    feeds = single_mask.prepare(spec, solid(37, 23, (10, 20, 30)), {})
    assert list(feeds) == ["input"]
    x = feeds["input"]
    assert x.shape == (1, 3, 1024, 1024)
    assert x.dtype == np.float32
    assert x.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("value, expected", [(255, 0.5), (0, -0.5)])
def test_prepare_normalises_white_and_black(spec, value, expected):
    x = single_mask.prepare(spec, solid(40, 30, (value, value, value)), {})["input"]
    np.testing.assert_allclose(x, expected, atol=1e-6)


def test_prepare_keeps_rgb_channel_order(spec):
    x = single_mask.prepare(spec, solid(16, 16, (255, 0, 0)), {})["input"]
    np.testing.assert_allclose(x[0, 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(x[0, 1], -0.5, atol=1e-6)
    np.testing.assert_allclose(x[0, 2], -0.5, atol=1e-6)


def test_prepare_mid_grey(spec):
    x = single_mask.prepare(spec, solid(8, 8, (51, 102, 204)), {})["input"]
    np.testing.assert_allclose(x[0, :, 500, 500], [51 / 255 - 0.5, 102 / 255 - 0.5, 204 / 255 - 0.5], atol=1e-6)


def test_prepare_ignores_alpha(spec):
    rgba = solid(20, 10, (0, 128, 255), alpha=0)
    rgba[:, :10, 3] = 255
    with_alpha = single_mask.prepare(spec, rgba, {})["input"]
    without = single_mask.prepare(spec, np.ascontiguousarray(rgba[..., :3]), {})["input"]
    np.testing.assert_array_equal(with_alpha, without)
    assert with_alpha.shape == (1, 3, 1024, 1024)


def test_prepare_keeps_orientation(spec):
    # A wide image: top half white, bottom half black; and one split left/right.
    top_bottom = np.zeros((20, 60, 3), np.uint8)
    top_bottom[:10] = 255
    x = single_mask.prepare(spec, top_bottom, {})["input"][0, 0]
    np.testing.assert_allclose(x[:400], 0.5, atol=1e-6)
    np.testing.assert_allclose(x[624:], -0.5, atol=1e-6)
    left_right = np.zeros((60, 20, 3), np.uint8)
    left_right[:, :10] = 255
    x = single_mask.prepare(spec, left_right, {})["input"][0, 0]
    np.testing.assert_allclose(x[:, :400], 0.5, atol=1e-6)
    np.testing.assert_allclose(x[:, 624:], -0.5, atol=1e-6)


def test_a_float_model_is_not_fed_pixels(spec):
    assert not takes_pixels(spec)
    assert working_size(spec) == (1024, 1024)


def test_prepare_feeds_the_photo_itself_to_a_model_that_takes_pixels(pixel_spec):
    assert takes_pixels(pixel_spec)
    photo = np.random.default_rng(0).integers(0, 256, (333, 1001, 3), dtype=np.uint8)
    feeds = single_mask.prepare(pixel_spec, photo, {})
    assert list(feeds) == ["image"]
    x = feeds["image"]
    assert x.shape == (1, 333, 1001, 3) and x.dtype == np.uint8 and x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(x[0], photo)
    assert np.shares_memory(x, photo)  # no copy of a 48 MP photo


def test_prepare_drops_alpha_for_a_model_that_takes_pixels(pixel_spec):
    rgba = solid(20, 10, (0, 128, 255), alpha=7)
    x = single_mask.prepare(pixel_spec, rgba, {})["image"]
    assert x.shape == (1, 10, 20, 3) and x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(x[0], rgba[..., :3])


def test_scale_note_names_the_size_a_pixel_model_resized_to(pixel_spec, spec):
    assert working_size(pixel_spec) == (1024, 1024)
    photo = np.empty((3000, 4000, 3), np.uint8)
    assert model_scale_notes(pixel_spec, photo, "The mask") == (
        "The mask was computed at 1024 × 1024 and scaled to 4000 × 3000.",)
    assert model_scale_notes(pixel_spec, photo, "The mask") == model_scale_notes(spec, photo, "The mask")
    assert model_scale_notes(pixel_spec, np.empty((1024, 1024, 3), np.uint8), "The mask") == ()


# --------------------------------------------------------------------------
# single_mask.mask_to_alpha and alpha_from_outputs


def test_mask_to_alpha_size_is_width_height():
    alpha = single_mask.mask_to_alpha(np.full((1024, 1024), 0.5, np.float32), (30, 20))
    assert alpha.shape == (20, 30)
    assert alpha.dtype == np.float32


@pytest.mark.parametrize("value, expected", [
    (0.02, 0.0),   # below the floor: haze -> clear
    (0.98, 1.0),   # above the ceiling: noise -> opaque
    (0.5, 0.5),    # the middle stays the middle
    (0.25, (0.25 - 0.03) / 0.94),
    (-0.4, 0.0),   # out-of-range model output is clipped
    (1.7, 1.0),
    (0.0, 0.0),
    (1.0, 1.0),
])
def test_mask_to_alpha_floor_ceil_and_clip(value, expected):
    alpha = single_mask.mask_to_alpha(np.full((64, 64), value, np.float32), (17, 9))
    np.testing.assert_allclose(alpha, expected, atol=1e-6)


def test_mask_to_alpha_scales_structure():
    mask = np.zeros((1024, 1024), np.float32)
    mask[:, :512] = 1.0
    alpha = single_mask.mask_to_alpha(mask, (100, 50))
    assert alpha.shape == (50, 100)
    np.testing.assert_array_equal(alpha[:, :45], 1.0)
    np.testing.assert_array_equal(alpha[:, 55:], 0.0)
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_alpha_from_outputs_uses_manifest_output(spec):
    mask = np.zeros((1, 1, 1024, 1024), np.float32)
    mask[..., :256, :] = 0.99  # top quarter
    pixels = solid(40, 80, (1, 2, 3))
    alpha = single_mask.alpha_from_outputs(spec, {"output": mask}, pixels)
    assert alpha.shape == (80, 40)
    np.testing.assert_array_equal(alpha[:18], 1.0)
    np.testing.assert_array_equal(alpha[22:], 0.0)


# --------------------------------------------------------------------------
# compose


@pytest.fixture
def photo():
    """2 x 3 RGB photo with distinct pixels."""
    return np.array([[[10, 20, 30], [40, 50, 60], [70, 80, 90]],
                     [[100, 110, 120], [130, 140, 150], [200, 210, 220]]], np.uint8)


@pytest.fixture
def alpha():
    return np.array([[0.0, 0.5, 1.0], [1.0, 0.25, 0.0]], np.float32)


def test_compose_cutout(photo, alpha):
    out = compose(photo, alpha, {"output": "cutout", "color": "#ffffff"})
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., :3], photo)
    np.testing.assert_array_equal(out[..., 3], [[0, 128, 255], [255, 64, 0]])


def test_compose_mask(photo, alpha):
    out = compose(photo, alpha, {"output": "mask", "color": "#ffffff"})
    assert out.shape == (2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 128, 255], [255, 64, 0]])


def test_compose_color(photo, alpha):
    out = compose(photo, alpha, {"output": "color", "color": "#00ff80"})
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [0, 255, 128])          # alpha 0: the backdrop
    np.testing.assert_array_equal(out[0, 2], photo[0, 2])            # alpha 1: the photo
    np.testing.assert_array_equal(out[0, 1], [20, 152, 94])          # (40+0)/2, (50+255)/2, (60+128)/2
    expected = np.rint(photo[1, 1] * 0.25 + np.array([0, 255, 128]) * 0.75)
    np.testing.assert_array_equal(out[1, 1], expected)


def test_compose_respects_existing_alpha(photo, alpha):
    existing = np.array([[255, 255, 128], [0, 255, 255]], np.uint8)
    rgba = np.dstack([photo, existing])
    cutout = compose(rgba, alpha, {"output": "cutout", "color": "#ffffff"})
    np.testing.assert_array_equal(cutout[..., :3], photo)
    # subject alpha times the photo's own alpha
    np.testing.assert_array_equal(cutout[..., 3], [[0, 128, 128], [0, 64, 0]])
    mask = compose(rgba, alpha, {"output": "mask", "color": "#ffffff"})
    np.testing.assert_array_equal(mask, cutout[..., 3])
    color = compose(rgba, alpha, {"output": "color", "color": "#0000ff"})
    assert color.shape == (2, 3, 3)
    np.testing.assert_array_equal(color[1, 0], [0, 0, 255])          # transparent in the photo -> backdrop
    # alpha 0.25: 0.25 * (130, 140, 150) + 0.75 * (0, 0, 255) = (32.5, 35, 228.75), rounded half to even
    np.testing.assert_array_equal(color[1, 1], [32, 35, 229])


# --------------------------------------------------------------------------
# The real ISNet models on a real photograph (CPU runtime)


@pytest.fixture(scope="module")
def cpu_runtime():
    require_models("isnet-fp16", "isnet-quint8")
    return CpuRuntime()


@pytest.fixture(scope="module")
def astronaut_masks(cpu_runtime, astronaut_photo, manifest):
    """{model id: (uint8 (512, 512) mask, provenance)} from one run of each real model."""
    tool = registry()["remove-background"]
    image = imaging.decode(astronaut_photo)
    results = {}
    for model_id in ("isnet-fp16", "isnet-quint8"):
        result = asyncio.run(run_tool(tool, image, {"model": model_id, "output": "mask"}, runtime=cpu_runtime,
                                      models=manifest, tier=DEFAULT_TIER))
        results[model_id] = (result.pixels, result.provenance)
    return results


@pytest.mark.parametrize("model_id", ["isnet-fp16", "isnet-quint8"])
def test_real_model_ran(astronaut_masks, model_id):
    mask, provenance = astronaut_masks[model_id]
    assert provenance.path == "model", provenance.reason
    assert provenance.model == model_id
    assert provenance.backend == "cpu"
    assert mask.shape == (512, 512) and mask.dtype == np.uint8


@pytest.mark.parametrize("model_id", ["isnet-fp16", "isnet-quint8"])
def test_real_model_separates_astronaut_from_background(astronaut_masks, model_id):
    alpha = astronaut_masks[model_id][0] / 255.0
    # Looked at once (fp16 and quint8 alike): the orange suit and the face are
    # fully opaque; the flag on the left and the wall with the shuttle model
    # on the right are fully transparent.
    suit = alpha[300:480, 60:260]
    face = alpha[60:140, 190:260]
    flag = alpha[0:200, 0:90]
    wall = alpha[0:250, 340:512]
    assert (suit > 0.5).mean() > 0.98
    assert suit.mean() > 0.95
    assert (face > 0.5).mean() > 0.98
    assert (flag < 0.5).mean() > 0.98
    assert flag.mean() < 0.05
    assert (wall < 0.5).mean() > 0.98
    # About half the frame is subject (measured 0.535).
    assert 0.45 < (alpha > 0.5).mean() < 0.62


def test_fp16_and_quint8_agree(astronaut_masks):
    fp16 = astronaut_masks["isnet-fp16"][0] > 127
    quint8 = astronaut_masks["isnet-quint8"][0] > 127
    # Measured IoU 0.9995 on this photo; 0.98 leaves margin for onnxruntime / CPU differences.
    assert iou(fp16, quint8) >= 0.98

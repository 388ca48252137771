"""Portrait blur: the lens blur's properties, the depth mapping, and the three paths
(ISNet's mask as depth, a depth model with Depth-Anything's interface, classical)."""

from __future__ import annotations

import numpy as np
import pytest

from darkroom import float_image
from darkroom.runtime import CpuRuntime, add_user_model
from darkroom.tools import registry
from darkroom.tools.portrait_blur import defocus_from_depth, lens
from helpers import require_models, run_tool
from standins import vertical_depth_model


def test_a_point_spreads_into_a_disk_of_the_radius():
    image = np.zeros((41, 41), np.float32)
    image[20, 20] = 1.0
    blurred = float_image.disk_blur(image, 5.0)
    lit = blurred > 0
    assert abs(lit.sum() - np.pi * 25) < 8  # a disk of radius 5 covers ~79 pixels
    assert abs(blurred.sum() - 1.0) < 1e-5
    assert lit[20, 15] and lit[20, 25] and not lit[20, 14] and not lit[14, 14]  # round, not square


def test_wide_blurs_work_on_a_smaller_image_and_keep_the_mean():
    rng = np.random.default_rng(0)
    image = rng.random((300, 400, 3), dtype=np.float32)
    blurred = float_image.disk_blur(image, 40.0)
    assert blurred.shape == image.shape
    assert abs(blurred.mean() - image.mean()) < 0.01 and blurred.std() < 0.2 * image.std()


def test_in_focus_pixels_are_unchanged():
    pixels = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    out = lens.lens_blur(pixels, np.zeros((32, 48), np.float32), 10.0)
    assert np.abs(out.astype(int) - pixels).max() <= 1  # sRGB -> linear -> sRGB rounding


def test_alpha_is_kept():
    pixels = np.random.default_rng(2).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    out = lens.lens_blur(pixels, np.ones((16, 16), np.float32), 4.0)
    np.testing.assert_array_equal(out[..., 3], pixels[..., 3])


def test_highlights_bloom_instead_of_turning_grey():
    """A small bright light on a dark ground: blurred in linear light with the highlight
    boost, its disk stays bright; blurred naively in sRGB it would fade to grey."""
    pixels = np.full((64, 64, 3), 20, np.uint8)
    pixels[30:34, 30:34] = 255
    out = lens.lens_blur(pixels, np.ones((64, 64), np.float32), 8.0)
    naive = float_image.disk_blur(pixels.astype(np.float32), 8.0)
    assert out[32, 32].mean() > 1.5 * naive[32, 32].mean()
    assert out[32, 32].mean() > 150


def test_the_sharp_subject_does_not_bleed_into_the_blur_around_it():
    pixels = np.full((80, 80, 3), 30, np.uint8)
    pixels[20:60, 20:60] = 240  # a bright subject
    defocus = np.ones((80, 80), np.float32)
    defocus[20:60, 20:60] = 0
    out = lens.lens_blur(pixels, defocus, 12.0)
    ring = out[10:18, 30:50]  # background just above the subject
    assert ring.mean() < 45, "subject colour leaked into the background"
    np.testing.assert_allclose(out[25:55, 25:55], pixels[25:55, 25:55], atol=1)


def test_defocus_from_depth_focuses_on_the_nearest_tenth():
    depth = np.tile(np.linspace(0, 10, 101, dtype=np.float32), (5, 1))  # larger = nearer
    defocus = defocus_from_depth(depth, (101, 5))
    assert defocus[:, -5:].max() == 0  # the nearest 10 % (and nearer) are in focus
    assert defocus[0, 0] == pytest.approx(1.0)  # the farthest point is fully blurred
    assert np.all(np.diff(defocus[0]) <= 1e-6)  # nearer never blurs more
    assert defocus_from_depth(np.ones((4, 4), np.float32), (8, 8)).max() == 0  # flat: nothing to do


def sharpness(image: np.ndarray) -> float:
    grey = image[..., :3].astype(np.float32).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def test_isnet_mask_stands_in_for_depth_and_says_so():
    from skimage import data

    require_models("isnet-fp16", "isnet-quint8")
    astronaut = data.astronaut()
    result = run_tool("portrait-blur", astronaut, {"strength": 1.0}, runtime=CpuRuntime())
    p = result.provenance
    assert p.path == "model" and p.model.startswith("isnet-")
    assert "subject mask stands in for depth" in p.notes[0]
    # The astronaut (centre) stays as sharp as she was; the backdrop (top-right) softens.
    assert sharpness(result.pixels[150:350, 180:330]) > 0.9 * sharpness(astronaut[150:350, 180:330])
    assert sharpness(result.pixels[0:100, 400:512]) < 0.6 * sharpness(astronaut[0:100, 400:512])


def test_classical_path_blurs_the_background_of_a_product_shot():
    pixels = np.full((120, 160, 3), 235, np.uint8)
    pixels += np.random.default_rng(3).integers(0, 20, pixels.shape, dtype=np.uint8)  # textured backdrop
    pixels[30:90, 50:110] = (180, 40, 40)
    result = run_tool("portrait-blur", pixels, {"classical": True, "strength": 1.0})
    assert result.provenance.path == "classical" and "cut-out" in result.provenance.method
    assert sharpness(result.pixels[0:20]) < 0.5 * sharpness(pixels[0:20])


def test_a_depth_model_blurs_with_distance(tmp_path, monkeypatch):
    """Stand-in depth model (see ``standins.vertical_depth_model``) through the engine as a user model."""
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))

    tool = registry()["portrait-blur"]
    path = tmp_path / "depth.onnx"
    vertical_depth_model(path)
    spec = add_user_model(tool.id, tool.signature, [path])
    pixels = np.random.default_rng(4).integers(0, 256, (200, 120, 3), dtype=np.uint8)
    import asyncio

    from darkroom import engine, imaging
    from darkroom.tiers import DEFAULT

    result = asyncio.run(engine.run_tool(tool, imaging.Decoded(pixels, "PNG", ()), {"model": spec.id, "strength": 1.0},
                                         runtime=CpuRuntime(), models={spec.id: spec}, tier=DEFAULT))
    p = result.provenance
    assert p.model == spec.id and p.notes[0] == f"Depth from {spec.id}, focused on the nearest 10% of the scene."
    top, bottom = result.pixels[:40], result.pixels[-15:]
    assert sharpness(top) < 0.5 * sharpness(pixels[:40])  # far: blurred
    assert np.abs(bottom.astype(int) - pixels[-15:]).max() <= 1  # near: in focus

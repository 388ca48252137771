"""remove-object: where the crops go, the biharmonic fill's quality on images made here,
a stand-in with LaMa-ONNX's interface run as the user's own model, the mask checks, the
refusal of models with another interface, and the CLI."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from PIL import Image

from darkroom import byom, cli, engine, imaging, models
from darkroom.models import ModelError
from darkroom.runtime import CpuRuntime, add_user_model, read_signature
from darkroom.tiers import DEFAULT
from darkroom.tools import registry
from darkroom.tools.remove_object import GAP, biharmonic, lama, model_crops, run_model
from darkroom.tools.remove_object.regions import Box, grow, grown, painted_boxes
from helpers import psnr, run_tool
from standins import brightness_mask_model, constant_fill_model

TOOL = registry()["remove-object"]
COLOUR = (0.2, 0.6, 0.9)
FILL = np.rint(np.asarray(COLOUR) * 255).astype(int)  # what the stand-in paints, in 0..255


def smooth_image(height: int, width: int) -> np.ndarray:
    """Gradients and slow waves (periods of 300 px and more), uint8 (height, width, 3)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    rgb = np.dstack([110 + 70 * np.sin(xx / 60), 120 + 50 * np.cos(yy / 50), 40 + 0.25 * (xx + yy)])
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def painted(shape, *boxes) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for top, left, bottom, right in boxes:
        mask[top:bottom, left:right] = True
    return mask


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))


# --------------------------------------------------------------------------
# Geometry


def test_regions_closer_than_the_gap_share_a_box_and_far_ones_do_not():
    mask = painted((200, 300), (10, 10, 30, 30), (10, 40, 30, 60), (100, 200, 120, 230))
    assert painted_boxes(mask, GAP) == [Box(10, 10, 30, 60), Box(100, 200, 120, 230)]


def test_every_painted_pixel_lies_in_exactly_one_tight_box():
    rng = np.random.default_rng(7)
    mask = np.zeros((300, 400), dtype=bool)
    for _ in range(12):
        y, x, h, w = rng.integers(0, 280), rng.integers(0, 380), rng.integers(1, 40), rng.integers(1, 40)
        mask[y:y + h, x:x + w] = True
    boxes = painted_boxes(mask, GAP)
    cover = np.zeros(mask.shape, dtype=int)
    for box in boxes:
        cover[box.slices] += 1
        part = mask[box.slices]
        assert part[0].any() and part[-1].any() and part[:, 0].any() and part[:, -1].any()  # tight
    assert cover.max() == 1 and cover[mask].min() == 1


def test_classical_crops_add_the_margin_and_stop_at_the_photo_edges():
    assert grown(Box(2, 50, 20, 80), 8, (100, 90)) == Box(0, 42, 28, 88)
    assert grown(Box(40, 40, 60, 60), 8, (100, 100)) == Box(32, 32, 68, 68)


def test_a_small_region_gets_a_native_square_centred_on_it():
    (parts, area, square), = model_crops(painted((2000, 3000), (900, 1400, 960, 1500)), 512)
    assert parts == [Box(900, 1400, 960, 1500)] and square == 512
    assert area == Box(674, 1194, 1186, 1706)  # centred: (900 + 960 - 512) / 2 = 674


def test_a_square_near_a_corner_moves_inside_the_photo():
    (_, area, square), = model_crops(painted((2000, 3000), (5, 2950, 40, 2990)), 512)
    assert (square, area) == (512, Box(0, 2488, 512, 3000))


def test_a_large_region_gets_twice_its_side_as_context():
    (_, area, square), = model_crops(painted((2000, 3000), (800, 1000, 1200, 1600)), 512)
    assert square == 1200  # the longer side, 600, plus half of it on each side
    assert area == Box(400, 700, 1600, 1900)


def test_on_a_photo_smaller_than_the_square_the_crop_is_the_photo():
    (_, area, square), = model_crops(painted((300, 400), (100, 150, 140, 200)), 512)
    assert (square, area) == (512, Box(0, 0, 300, 400))


def test_regions_share_a_square_only_when_it_costs_no_resolution():
    near = model_crops(painted((2000, 3000), (500, 500, 540, 540), (500, 700, 540, 740)), 512)
    assert len(near) == 1 and near[0][2] == 512  # 240 px across in all: fits one 512 square
    far = model_crops(painted((2000, 3000), (500, 500, 540, 540), (500, 900, 540, 940)), 512)
    assert [square for _, _, square in far] == [512, 512]  # together they would need 880
    inside = model_crops(painted((2000, 3000), (500, 500, 900, 1100), (920, 700, 940, 720)), 512)
    assert len(inside) == 1 and inside[0][2] == 1200  # the small one fits in the big one's square


def test_grow_is_a_square_dilation():
    mask = painted((9, 9), (4, 4, 5, 5))
    np.testing.assert_array_equal(grow(mask, 2), painted((9, 9), (2, 2, 7, 7)))


# --------------------------------------------------------------------------
# The classical path


def test_classical_fill_of_a_smooth_image_is_close_and_nothing_else_changes():
    truth = smooth_image(240, 320)
    mask = painted(truth.shape[:2], (90, 130, 130, 170))
    damaged = truth.copy()
    damaged[mask] = (255, 0, 0)  # the object to remove
    result = run_tool("remove-object", damaged, {"mask": mask})
    quality = psnr(result.pixels[mask], truth[mask])
    print(f"biharmonic fill, 40 x 40 hole: {quality:.1f} dB")
    assert quality > 30
    np.testing.assert_array_equal(result.pixels[~mask], damaged[~mask])
    p = result.provenance
    assert p.path == "classical" and p.method.startswith("biharmonic inpainting")
    assert "not AI" in p.label()
    assert "model ships with Darkroom; you can add your own ONNX model." in p.reason
    assert p.notes == ["Filled the painted area from a crop of its surroundings."]


def test_a_large_area_is_filled_at_a_reduced_scale_and_says_so():
    truth = smooth_image(400, 400)
    mask = painted(truth.shape[:2], (70, 70, 330, 330))  # 67,600 px: above the budget
    damaged = truth.copy()
    damaged[mask] = 0
    result = run_tool("remove-object", damaged, {"mask": mask, "classical": True})
    quality = psnr(result.pixels[mask], truth[mask])
    print(f"biharmonic fill at 1/2 scale, 260 x 260 hole: {quality:.1f} dB")
    assert quality > 30
    np.testing.assert_array_equal(result.pixels[~mask], damaged[~mask])
    assert ("The 260 × 260 px area at (70, 70) was filled at 1/2 scale and scaled back up: biharmonic "
            "inpainting solves for every pixel, which is slow on large areas.") in result.provenance.notes


def test_the_reduced_scale_keeps_the_work_within_the_budget():
    assert biharmonic.scale_for(biharmonic.FULL_SCALE_BUDGET) == 1
    assert biharmonic.scale_for(biharmonic.FULL_SCALE_BUDGET + 1) == 2
    assert biharmonic.scale_for(1500 * 1000) == 8
    assert 1500 * 1000 / 8 ** 2 <= biharmonic.FULL_SCALE_BUDGET < 1500 * 1000 / 7 ** 2


def test_alpha_is_kept():
    rgba = np.dstack([smooth_image(120, 160), np.tile(np.arange(160, dtype=np.uint8), (120, 1))])
    mask = painted(rgba.shape[:2], (40, 60, 70, 100))
    out = run_tool("remove-object", rgba, {"mask": mask, "classical": True}).pixels
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


# --------------------------------------------------------------------------
# The model path: a stand-in with LaMa-ONNX's interface, as the user's own model


def user_model(tmp_path, **options):
    path = tmp_path / "lama_fp32.onnx"
    constant_fill_model(path, COLOUR, **options)
    spec = add_user_model(TOOL.id, TOOL.signature, [path])
    return spec


def run_user_model(spec, pixels, mask, progress=None):
    return asyncio.run(engine.run_tool(TOOL, imaging.Decoded(pixels, "PNG", ()), {"model": spec.id, "mask": mask},
                                       runtime=CpuRuntime(), models={spec.id: spec}, tier=DEFAULT, progress=progress))


def far_from(mask: np.ndarray, pixels: int) -> np.ndarray:
    return ~grow(mask, pixels)


def test_standin_fills_the_painted_pixels_and_leaves_the_rest(tmp_path, cache):
    pixels = np.random.default_rng(3).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    mask = painted(pixels.shape[:2], (100, 150, 140, 200))
    spec = user_model(tmp_path)
    result = run_user_model(spec, pixels, mask)
    p = result.provenance
    assert (p.path, p.model, p.variant) == ("model", spec.id, "user") and spec.id.startswith("user:lama_fp32@")
    assert p.notes == ["The model filled 1 square crop around the painted areas, each seen at 512 × 512: "
                       "512 × 512 at (0, 0), at full resolution (mirrored past the photo's edge to a square)."]
    assert np.abs(result.pixels[mask].astype(int) - FILL).max() <= 1
    # At full resolution the paste reaches 2 * FEATHER px past the paint; beyond, nothing changes.
    untouched = far_from(mask, 2 * lama.FEATHER + 1)
    np.testing.assert_array_equal(result.pixels[untouched], pixels[untouched])


def test_standin_runs_one_crop_per_far_region_with_progress(tmp_path, cache):
    pixels = np.random.default_rng(4).integers(0, 256, (1200, 1600, 4), dtype=np.uint8)
    small, large = (100, 100, 140, 160), (700, 1000, 1100, 1250)
    mask = painted(pixels.shape[:2], small, large)
    spec = user_model(tmp_path)
    calls = []
    result = run_user_model(spec, pixels, mask, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    assert ("The model filled 2 square crops around the painted areas, each seen at 512 × 512: 512 × 512 at (0, 0), "
            "at full resolution; 800 × 800 at (725, 400), scaled down 1.6×.") in result.provenance.notes
    assert not any("tiles" in note for note in result.provenance.notes)  # crops, not tiles
    assert np.abs(result.pixels[..., :3][mask].astype(int) - FILL).max() <= 1
    # Scaled down 1.6x, the paste reaches 2 * FEATHER model px past the paint, one more
    # where the paint covers part of a model pixel and one more for the bilinear resize:
    # 6 model px, under 10 photo px.
    untouched = far_from(mask, 10)
    np.testing.assert_array_equal(result.pixels[untouched], pixels[untouched])
    np.testing.assert_array_equal(result.pixels[..., 3], pixels[..., 3])


def test_standin_with_open_sizes_is_fed_512(tmp_path, cache):
    spec = user_model(tmp_path, side=None)
    assert spec.inputs[0].shape == (1, 3, 512, 512) and spec.inputs[1].shape == (1, 1, 512, 512)
    pixels = smooth_image(200, 200)
    mask = painted(pixels.shape[:2], (50, 50, 90, 90))
    assert np.abs(run_user_model(spec, pixels, mask).pixels[mask].astype(int) - FILL).max() <= 1


def lama_spec():
    """LaMa-ONNX's tensors as onnxruntime reads them from lama_fp32.onnx (batch left open)."""
    return byom.user_spec(TOOL.id, TOOL.signature, [byom.UserFile("lama_fp32.onnx", "0" * 64, 1,
                          (models.TensorSpec("image", (0, 3, 512, 512), "float32"),
                           models.TensorSpec("mask", (0, 1, 512, 512), "float32")),
                          (models.TensorSpec("output", (0, 3, 512, 512), "float32"),))])


def test_the_model_sees_the_hole_blanked_and_its_edge_grown():
    spec = lama_spec()
    rgb = np.full((1024, 1024, 3), 255, np.uint8)
    hole = painted((1024, 1024), (400, 400, 600, 600))
    given = lama.feeds(spec, rgb, hole)
    fill = given["mask"][0, 0].astype(bool)
    assert given["image"].shape == (1, 3, 512, 512) and given["image"].max() == 1.0
    np.testing.assert_array_equal(fill, painted((512, 512), (200 - lama.GROW, 200 - lama.GROW,
                                                             300 + lama.GROW, 300 + lama.GROW)))
    assert given["image"][0][:, fill].max() == 0


def test_other_unfilled_regions_are_holes_and_filled_ones_are_context():
    """Two regions too far apart to share a square, the second inside the first's."""
    pixels = np.full((1200, 1600, 3), 128, np.uint8)
    mask = painted(pixels.shape[:2], (300, 300, 340, 340), (520, 300, 560, 340))
    seen = []

    async def infer(feeds):
        seen.append(feeds["mask"][0, 0].astype(bool))
        return {"output": (feeds["image"] * (1 - feeds["mask"]) + 0.5 * feeds["mask"]) * 255}

    asyncio.run(run_model(lama_spec(), infer, pixels, {"mask": mask}, lambda done, total: None))
    first, second = seen  # squares at rows 64 and 284, both from column 64, at full resolution
    assert first[520 - 64:560 - 64, 300 - 64:340 - 64].all()  # the second region is a hole here
    assert not second[300 - 284:340 - 284, 300 - 64:340 - 64].any()  # the first is filled by now


# --------------------------------------------------------------------------
# The mask and the model are checked before anything runs


@pytest.mark.parametrize("mask", [None, np.zeros((30, 40), bool)], ids=["missing", "empty"])
def test_no_painted_pixels_asks_to_paint_first(mask):
    params = {} if mask is None else {"mask": mask}
    with pytest.raises(engine.ToolError, match=r"^Paint over what to remove first\.$"):
        run_tool("remove-object", np.zeros((30, 40, 3), np.uint8), params)


def test_a_mask_of_another_size_names_both_sizes():
    with pytest.raises(engine.ToolError) as caught:
        run_tool("remove-object", np.zeros((30, 40, 3), np.uint8), {"mask": np.ones((10, 20), bool)})
    assert str(caught.value) == "The mask is 20 × 10 pixels but the photo is 40 × 30; paint the mask on this photo."


def test_a_fully_painted_photo_is_refused():
    with pytest.raises(engine.ToolError, match="The whole photo is painted over"):
        run_tool("remove-object", np.zeros((30, 40, 3), np.uint8), {"mask": np.ones((30, 40), bool)})


def test_a_model_without_the_mask_input_is_refused(tmp_path):
    path = tmp_path / "isnet.onnx"
    brightness_mask_model(path)
    with pytest.raises(ModelError) as caught:
        byom.user_spec(TOOL.id, TOOL.signature, [byom.UserFile(path.name, "0" * 64, 1, *read_signature(path))])
    assert str(caught.value).startswith(
        "This model does not fit: it has 1 input(s), the tool needs 2. The tool needs inputs image: float32 "
        "[1, 3, S, S]; mask: float32 [1, 1, S, S] — outputs result: float32 [1, 3, S, S]")


def test_a_uint8_inpainting_model_is_refused(tmp_path):
    """MI-GAN's ONNX pipeline takes and returns uint8 (and crops and blends itself)."""
    path = tmp_path / "migan.onnx"
    constant_fill_model(path, dtype="uint8", side=None)
    with pytest.raises(ModelError, match=r"^This model does not fit: image 'image' is uint8, not float32\."):
        byom.user_spec(TOOL.id, TOOL.signature, [byom.UserFile(path.name, "0" * 64, 1, *read_signature(path))])


# --------------------------------------------------------------------------
# The CLI (``--mask``: a PNG, white = remove)


@pytest.fixture()
def photo_and_mask(tmp_path):
    truth = smooth_image(120, 160)
    mask = painted(truth.shape[:2], (40, 60, 70, 100))
    damaged = truth.copy()
    damaged[mask] = (250, 20, 20)
    photo, mask_file = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(damaged).save(photo)
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_file)
    return photo, mask_file, damaged, mask


def test_cli_classical_with_a_mask_file(tmp_path, photo_and_mask, capsys):
    photo, mask_file, damaged, mask = photo_and_mask
    out = tmp_path / "out.png"
    assert cli.main(["remove-object", str(photo), str(out), "--mask", str(mask_file), "--classical", "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert provenance["path"] == "classical" and "biharmonic inpainting" in provenance["label"]
    result = np.asarray(Image.open(out))
    np.testing.assert_array_equal(result[~mask], damaged[~mask])
    assert result[mask][:, 0].max() < 200  # the red is gone


def test_cli_runs_a_standin_model_file(tmp_path, photo_and_mask, cache, capsys):
    photo, mask_file, damaged, mask = photo_and_mask
    model, out = tmp_path / "lama_fp32.onnx", tmp_path / "out.png"
    constant_fill_model(model, COLOUR)
    assert cli.main(["remove-object", str(photo), str(out), "--mask", str(mask_file),
                     "--model-file", str(model), "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert provenance["path"] == "model" and provenance["model"].startswith("user:lama_fp32@")
    assert provenance["label"].startswith(f"AI model {provenance['model']} on cpu")
    assert np.abs(np.asarray(Image.open(out))[mask].astype(int) - FILL).max() <= 1


def test_cli_without_a_mask_asks_to_paint_first(tmp_path, photo_and_mask, capsys):
    photo = photo_and_mask[0]
    assert cli.main(["remove-object", str(photo), str(tmp_path / "out.png"), "--classical"]) == 1
    assert capsys.readouterr().err.strip() == "darkroom: Paint over what to remove first."

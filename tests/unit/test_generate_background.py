"""New background: each backdrop's geometry and colours, the compositing, the contact
shadow, and the three ways in (the classical cut-out, a stand-in with ISNet's interface
through the engine, the CLI).

Most tests give ``compose`` a known alpha, so the backdrop and compositing are checked
against exact answers without depending on a cut-out.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from onnx import TensorProto
from PIL import Image

from darkroom import cli, engine, float_image, imaging, models, tiers
from darkroom.runtime import CpuRuntime, add_user_model
from darkroom.tiers import DEFAULT
from darkroom.tools import registry
from darkroom.tools.generate_background import backdrops, compose, composite, generate
from darkroom.tools.generate_background.scenes import SCENES
from helpers import psnr, run_tool
from standins import brightness_mask_model, sd_turbo_standin_colour, sd_turbo_standin_models

TOOL = registry()["generate-background"]
NO_SHADOW = {"backdrop": "solid", "color": "#2050a0", "shadow": False}


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)


def block_subject(height=120, width=160, box=(30, 90, 50, 110), colour=(220, 30, 30), ground=(30, 60, 200)):
    """A textured ground with a flat subject in ``box`` (top, bottom, left, right) and its
    exact alpha (1 inside, 0 outside)."""
    rng = np.random.default_rng(0)
    pixels = (np.array(ground) + rng.integers(0, 20, (height, width, 3))).astype(np.uint8)
    top, bottom, left, right = box
    pixels[top:bottom, left:right] = colour
    alpha = np.zeros((height, width), np.float32)
    alpha[top:bottom, left:right] = 1
    return pixels, alpha


# --- compositing and the backdrops --------------------------------------------------


def test_alpha_one_keeps_the_subject_and_alpha_zero_shows_exactly_the_solid_colour():
    pixels, alpha = block_subject()
    out, notes = compose(pixels, alpha, NO_SHADOW)
    assert out.shape == pixels.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[alpha == 1], pixels[alpha == 1])
    assert (out[alpha == 0] == rgb("#2050a0")).all()
    assert notes == ("The backdrop is drawn, not generated: plain #2050a0.",)


def test_a_large_photo_is_composited_in_strips_from_a_work_size_and_says_so():
    pixels, alpha = block_subject(1100, 1500, box=(300, 800, 500, 1000))
    out, notes = compose(pixels, alpha, NO_SHADOW)
    np.testing.assert_array_equal(out[alpha == 1], pixels[alpha == 1])
    assert (out[alpha == 0] == rgb("#2050a0")).all()  # a scaled-up constant stays exact
    assert ("The backdrop, shadow and local edge colours were computed at 1024 × 751 and scaled to 1500 × 1100; "
            "the subject keeps its own pixels.") in notes


def test_strips_join_without_seams():
    small = np.random.default_rng(1).random((77, 103, 3), dtype=np.float32)
    whole = float_image.resize(small, (1500, 1100))
    strips = np.concatenate([composite.upsample_rows(small, (1100, 1500), start, min(start + 256, 1100))
                             for start in range(0, 1100, 256)])
    np.testing.assert_allclose(strips, whole, atol=1e-5)


def test_edge_colours_are_freed_of_the_old_background():
    """A red subject fading into blue over 4 px, put on white: the edge should mix red
    with white (the known answer), not carry a blue fringe as a plain alpha-over does."""
    width = 400
    alpha = np.tile(np.clip((np.arange(width, dtype=np.float32) - 200) / 4, 0, 1), (64, 1))
    a = alpha[..., None]
    red, blue, white = (composite.DECODE[c] for c in ([200, 30, 30], [20, 40, 200], [255, 255, 255]))
    photo = composite.to_srgb8(a * red + (1 - a) * blue)
    ideal = composite.to_srgb8(a * red + (1 - a) * white)
    naive = composite.to_srgb8(a * composite.DECODE[photo] + (1 - a) * white)
    out, _ = compose(photo, alpha, {"backdrop": "solid", "color": "#ffffff", "shadow": False})
    edge = (alpha > 0) & (alpha < 1)
    error = np.abs(out.astype(int) - ideal)[edge].mean()
    naive_error = np.abs(naive.astype(int) - ideal)[edge].mean()
    assert naive_error > 10 and error < 1.5, (error, naive_error)


def test_an_existing_alpha_channel_is_respected():
    pixels, alpha = block_subject()
    rgba = np.dstack([pixels, np.full(alpha.shape, 255, np.uint8)])
    rgba[40:50, 60:70, 3] = 0  # a transparent hole in the subject
    out, _ = compose(rgba, alpha, NO_SHADOW)
    assert (out[40:50, 60:70] == rgb("#2050a0")).all()
    np.testing.assert_array_equal(out[60:80, 60:100], pixels[60:80, 60:100])


def test_a_photo_that_is_all_subject_is_kept_as_it_is():
    pixels, _ = block_subject()
    out, notes = compose(pixels, np.ones(pixels.shape[:2], np.float32), {**NO_SHADOW, "shadow": True})
    np.testing.assert_array_equal(out, pixels)
    assert notes == ("No background could be told apart from the subject, so the photo is kept as it is.",)


@pytest.mark.parametrize("colour, darker", [("#e0d0c0", True), ("#203040", False)])
def test_gradient_runs_monotonically_from_the_colour_to_a_tint(colour, darker):
    pixels, alpha = block_subject()
    out, notes = compose(pixels, np.zeros_like(alpha), {"backdrop": "gradient", "color": colour, "shadow": False})
    assert (out[0] == rgb(colour)).all()
    steps = np.diff(out.astype(int), axis=0)
    assert (steps <= 0).all() if darker else (steps >= 0).all()
    assert (out[:, 0] == out[:, -1]).all()  # it runs top to bottom only
    bottom = composite.DECODE[out[-1, 0]] @ np.array([0.2126, 0.7152, 0.0722])
    top = composite.DECODE[rgb(colour)] @ np.array([0.2126, 0.7152, 0.0722])
    assert (bottom < 0.7 * top) if darker else (bottom > 1.5 * top)
    assert notes[0] == (f"The backdrop is drawn, not generated: a gradient from {colour} at the top to "
                        f"#{''.join(f'{v:02x}' for v in out[-1, 0])} at the bottom.")


def test_studio_sweep_curves_from_floor_to_wall_behind_the_subject():
    colour = "#4080c0"
    pixels, alpha = block_subject(300, 400, box=(60, 240, 150, 250))
    out, _ = compose(pixels, alpha, {"backdrop": "studio", "color": colour, "shadow": False})
    linear = composite.DECODE[out].astype(np.float64)
    column = linear[:, 40, 1]  # well left of the subject
    horizon = backdrops.horizon_row(alpha)
    brightest = np.flatnonzero(column == column.max())  # a plateau: the sweep is flat at the curve
    assert brightest.min() <= horizon <= brightest.max()
    assert 240 - 0.5 * 180 < horizon < 240  # the curve is behind the subject, above its base
    wall, floor = column[:horizon + 1], column[horizon:]
    assert (np.diff(wall) >= -1e-4).all() and (np.diff(floor) <= 1e-4).all()  # brightest at the curve
    assert wall[0] < 0.6 * column[horizon] and floor[-1] > 0.8 * column[horizon]  # the wall falls off more
    assert np.abs(np.diff(out[:, 40].astype(int), axis=0)).max() <= 2  # smooth: no line at the horizon
    assert linear[horizon, 200 - 100 - 50, 1] < linear[horizon, 200 - 90, 1]  # a pool of light in the middle
    assert linear[horizon, 5, 1] < linear[horizon, 90, 1]
    # The paper's colour throughout (channel ratios kept), exactly the colour where it is brightest.
    ratios = linear[:, 40] / linear[:, 40, 1:2]
    np.testing.assert_allclose(ratios, np.broadcast_to(ratios[horizon], ratios.shape), rtol=0.05)
    paper = backdrops.hex_to_linear(colour)
    np.testing.assert_allclose(backdrops.studio((300, 401), paper, horizon)[horizon, 200], paper)


def test_blurred_backdrop_keeps_the_subject_colour_out():
    """A red subject on a blue ground: the blurred ground right next to the subject stays
    blue (a plain blur of the photo would turn it purple)."""
    pixels, alpha = block_subject()
    out, notes = compose(pixels, alpha, {"backdrop": "blurred", "color": "#ffffff", "shadow": False})
    ring = out[22:28, 50:110].reshape(-1, 3).mean(axis=0)  # just above the subject
    ground = pixels[22:28, 50:110].reshape(-1, 3).mean(axis=0)
    plain = composite.to_srgb8(float_image.disk_blur(composite.DECODE[pixels], backdrops.BLUR_FRACTION * 160))
    assert np.abs(ring - ground).max() < 3
    assert plain[22:28, 50:110, 0].mean() > ground[0] + 30  # the check would catch a bleed
    texture = pixels[alpha == 0].std(axis=0)
    assert (out[alpha == 0].std(axis=0) < 0.5 * texture).all()  # heavily blurred
    assert "the photo's own background, heavily blurred with the subject left out" in notes[0]


# --- the contact shadow -------------------------------------------------------------


def test_shadow_only_darkens_the_backdrop_below_the_subject():
    pixels, alpha = block_subject(200, 240, box=(40, 150, 80, 160))
    params = {"backdrop": "studio", "color": "#e6e6e6"}
    plain, _ = compose(pixels, alpha, {**params, "shadow": False})
    shaded, notes = compose(pixels, alpha, {**params, "shadow": True})
    darkening = plain.astype(int) - shaded.astype(int)
    assert darkening.min() >= 0  # never lighter
    np.testing.assert_array_equal(shaded[alpha == 1], pixels[alpha == 1])  # never over the subject
    rows = darkening.max(axis=(1, 2))
    assert rows[151:160].max() >= 20  # a clear shadow right under the base (row 149)
    assert rows[:149 - 11].max() == 0  # nothing above the lowest tenth of the subject
    visible = darkening.sum(axis=2)
    centre = (visible.sum(axis=1) * np.arange(200)).sum() / visible.sum()
    assert 149 <= centre < 149 + 15  # it lies under the base
    columns = np.flatnonzero(visible.max(axis=0))
    assert columns.min() < 80 and columns.max() > 159  # a little wider than the subject, not the frame
    assert columns.min() > 20 and columns.max() < 220
    assert len(notes) == 1  # the backdrop note only


def test_the_shadow_follows_what_stands_on_the_floor():
    """Two legs and a raised arm: shadow under the legs, none under the arm."""
    pixels = np.full((200, 300, 3), 128, np.uint8)
    alpha = np.zeros((200, 300), np.float32)
    alpha[40:150, 100:120] = alpha[40:150, 160:180] = 1  # legs down to row 149
    alpha[40:60, 100:280] = 1  # an arm held out to column 279, 90 rows above the floor
    plain, _ = compose(pixels, alpha, {"backdrop": "solid", "color": "#e6e6e6", "shadow": False})
    shaded, _ = compose(pixels, alpha, {"backdrop": "solid", "color": "#e6e6e6", "shadow": True})
    under = (plain.astype(int) - shaded.astype(int))[150:160].max(axis=(0, 2))
    assert under[105:115].min() >= 15 and under[165:175].min() >= 15
    assert under[240:].max() == 0


def test_no_shadow_when_the_subject_runs_off_the_bottom_edge():
    pixels, alpha = block_subject(box=(30, 120, 50, 110))
    plain, _ = compose(pixels, alpha, {**NO_SHADOW})
    shaded, notes = compose(pixels, alpha, {**NO_SHADOW, "shadow": True})
    np.testing.assert_array_equal(plain, shaded)
    assert notes[-1] == ("No contact shadow: the subject runs off the bottom edge, "
                         "so where it stands is out of the picture.")


# --- the paths ----------------------------------------------------------------------


def product_shot():
    """A red oval on a light, slightly textured backdrop, and its true mask."""
    rng = np.random.default_rng(3)
    pixels = (np.full((180, 240, 3), 235) + rng.integers(0, 15, (180, 240, 3))).astype(np.uint8)
    yy, xx = np.mgrid[:180, :240]
    mask = ((xx - 120) / 45) ** 2 + ((yy - 95) / 60) ** 2 < 1
    pixels[mask] = (170, 40, 40)
    return pixels, mask


def test_classical_path_cuts_out_and_labels_the_drawn_backdrop():
    pixels, mask = product_shot()
    result = run_tool("generate-background", pixels, {"classical": True, **NO_SHADOW})
    ideal = np.where(mask[..., None], pixels, rgb("#2050a0"))
    assert psnr(result.pixels, ideal) > 40
    p = result.provenance
    assert p.path == "classical" and p.method.startswith("cut-out")
    assert "not AI" in p.label() and "drawn backdrop" in p.label()
    assert p.notes == ["The backdrop is drawn, not generated: plain #2050a0."]


def bright_subject_photo():
    """Bright (mean RGB > 153, the stand-in's subject) on a dark ground."""
    pixels = np.full((96, 128, 3), (30, 60, 120), np.uint8)
    pixels[20:70, 40:90] = (250, 220, 120)
    return pixels


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))


def test_standin_with_isnets_interface_runs_through_the_engine(tmp_path, cache):
    """Your own model with ISNet's interface (stand-in: a brightness mask, H and W open)."""
    path = tmp_path / "standin.onnx"
    brightness_mask_model(path, side=None, extra_outputs=2)
    spec = add_user_model(TOOL.id, TOOL.signature, [path])
    pixels = bright_subject_photo()
    result = asyncio.run(engine.run_tool(TOOL, imaging.Decoded(pixels, "PNG", ()), {"model": spec.id, **NO_SHADOW},
                                         runtime=CpuRuntime(), models={spec.id: spec}, tier=DEFAULT))
    p = result.provenance
    assert (p.path, p.model, p.variant) == ("model", spec.id, "user") and spec.id.startswith("user:standin@")
    assert p.notes == ["The mask was computed at 1024 × 1024 and scaled to 128 × 96.",
                       "The backdrop is drawn, not generated: plain #2050a0."]
    np.testing.assert_array_equal(result.pixels[25:65, 45:85], pixels[25:65, 45:85])
    assert (result.pixels[:15] == rgb("#2050a0")).all() and (result.pixels[80:] == rgb("#2050a0")).all()


def test_the_engine_runs_remove_backgrounds_isnet_for_this_tool():
    """ISNet belongs to remove-background; this tool lists it, so it may name it."""
    manifest = models.load_manifest()
    assert [s.id for s in engine.candidates(TOOL, TOOL.resolve({}), manifest)] == ["isnet-quint8", "isnet-fp16"]
    assert engine.candidates(TOOL, TOOL.resolve({"model": "isnet-fp16"}), manifest)[0].tool == "remove-background"


@pytest.fixture()
def photo_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(bright_subject_photo()).save(path)
    return path


def test_cli_runs_the_classical_path_and_a_standin_model(tmp_path, cache, photo_file, capsys):
    out = tmp_path / "out.png"
    common = [TOOL.id, str(photo_file), str(out), "--backdrop", "solid", "--color", "#2050a0", "--json"]
    assert cli.main([*common, "--classical"]) == 0
    label, provenance = capsys.readouterr().out.strip().splitlines()
    data = json.loads(provenance)
    assert data["path"] == "classical" and label.startswith("Classical fallback (scikit-image cut-out")
    assert "The backdrop is drawn, not generated: plain #2050a0." in data["notes"]
    assert np.asarray(Image.open(out)).shape == (96, 128, 3)
    assert cli.main([*common, "--classical", "--no-shadow"]) == 0
    capsys.readouterr()
    assert (np.asarray(Image.open(out))[70:] == rgb("#2050a0")).all()  # no shadow under the subject (rows 70-72)

    model = tmp_path / "standin.onnx"
    brightness_mask_model(model)
    assert cli.main([*common, "--model-file", str(model)]) == 0
    label, provenance = capsys.readouterr().out.strip().splitlines()
    data = json.loads(provenance)
    assert data["path"] == "model"
    assert label.startswith(f"AI model user:standin@{models.sha256_file(model)[:12]} on cpu")
    assert "The backdrop is drawn, not generated: plain #2050a0." in data["notes"]
    written = np.asarray(Image.open(out))
    assert (written[:15] == rgb("#2050a0")).all() and (written[30:60, 50:80] == (250, 220, 120)).all()


def test_cli_refuses_a_model_with_the_wrong_signature(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "rgb-out.onnx"
    brightness_mask_model(model, out_channels=3)
    out = tmp_path / "out.png"
    assert cli.main([TOOL.id, str(photo_file), str(out), "--model-file", str(model)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("darkroom: This model does not fit: mask 'mask' has 3 in dimension 1, not 1. "
                           "The tool needs inputs image: float32 [1, 3, H, W] — outputs mask: float32 [1, 1, H, W]")
    assert not out.exists()


# --- generated backdrops: your own SD-Turbo, the companion of the cut-out ---------------


def test_the_one_step_starts_at_sd_turbos_published_noise_level():
    """14.6146: the sigma onnxruntime's SD-Turbo example hard-codes for timestep 999."""
    assert generate.sigma_at(generate.TIMESTEP) == pytest.approx(14.6146, abs=1e-4)
    assert generate.sigma_at(0) == pytest.approx(0.0292, abs=1e-4)


def test_prompts_are_padded_with_id_0_to_the_encoders_length():
    ids = generate.token_ids("beach", 77, "int32")
    (_, _, committed), = [scene for scene in SCENES if scene[0] == "beach"]
    assert ids.shape == (1, 77) and ids.dtype == np.int32
    assert tuple(ids[0, :len(committed)]) == committed and not ids[0, len(committed):].any()
    with pytest.raises(models.ModelError, match="its text encoder reads 8 tokens; the prompt of beach has"):
        generate.token_ids("beach", 8, "int64")


def test_a_generated_picture_fills_the_frame_centre_cropped():
    picture = np.zeros((512, 512, 3), np.float32)
    picture[:, :128] = 1  # a white band on the left quarter is cropped away for a tall frame
    picture[:, 128:384, 0] = 1
    tall = backdrops.fitted(picture, (200, 100))
    assert tall.shape == (200, 100, 3)
    assert np.allclose(tall[:, 2:-2], (1, 0, 0), atol=1e-6)
    assert np.allclose(backdrops.fitted(picture, (100, 200))[:, :40], 1, atol=1e-6)  # a wide frame keeps it


@pytest.fixture()
def generator_files(tmp_path):
    paths = [tmp_path / f"{part}.onnx" for part in ("text_encoder", "unet", "vae_decoder")]
    sd_turbo_standin_models(*paths)
    return paths


def test_a_generator_is_refused_when_a_part_does_not_fit(tmp_path, cache, generator_files):
    wrong = tmp_path / "cutout.onnx"
    brightness_mask_model(wrong)
    with pytest.raises(models.ModelError, match=r"^No file fits the (text|unet|vae) part"):
        add_user_model(TOOL.id, TOOL.user_signature("generator"), [generator_files[0], generator_files[1], wrong])
    with pytest.raises(models.ModelError, match="This model comes in 3 files"):
        add_user_model(TOOL.id, TOOL.user_signature("generator"), generator_files[:2])


def generated(tmp_path, generator_files, params, *, tier=DEFAULT, runtime=None, timestep_float=False, float16=False):
    """Run the tool with a stand-in cut-out and the stand-in generator; the Result."""
    cutout = tmp_path / "cutout.onnx"
    brightness_mask_model(cutout)
    if timestep_float or float16:
        timestep_dtype = TensorProto.FLOAT if timestep_float else TensorProto.INT64
        sd_turbo_standin_models(*generator_files, timestep_dtype=timestep_dtype, float16=float16)
    mask = add_user_model(TOOL.id, TOOL.signature, [cutout])
    painter = add_user_model(TOOL.id, TOOL.user_signature("generator"), list(reversed(generator_files)))
    return asyncio.run(engine.run_tool(
        TOOL, imaging.Decoded(bright_subject_photo(), "PNG", ()),
        {"model": mask.id, "generator": painter.id, "backdrop": "generated", "shadow": False, **params},
        runtime=runtime or CpuRuntime(), models={mask.id: mask, painter.id: painter}, tier=tier)), mask, painter


@pytest.mark.parametrize("scene", ["garden", "office"])
def test_standin_generator_paints_the_scenes_colour_behind_the_subject(tmp_path, cache, generator_files, scene):
    """The stand-in's picture has a known colour per prompt; a wrong noise level, input
    scaling, timestep, padding or VAE scaling in the sampler gives another."""
    result, mask, painter = generated(tmp_path, generator_files, {"scene": scene, "variation": 7})
    expected = sd_turbo_standin_colour(dict((name, ids) for name, _, ids in SCENES)[scene])
    backdrop = result.pixels[:15].reshape(-1, 3) / 255
    assert np.abs(backdrop.mean(axis=0) - expected).max() < 0.03
    np.testing.assert_array_equal(result.pixels[25:65, 45:85], bright_subject_photo()[25:65, 45:85])
    p = result.provenance
    assert (p.path, p.model, p.companion, p.reason) == ("model", mask.id, painter.id, None)
    assert painter.id.startswith("user:text_encoder@")
    assert f'from the prompt "{generate.prompt_of(scene)}" (variation 7) at 512 × 512' in p.notes[-1]
    assert "Processed in" not in " ".join(p.notes)


def test_a_timestep_taken_as_float32_fits_too(tmp_path, cache, generator_files):
    result, _, painter = generated(tmp_path, generator_files, {"scene": "garden"}, timestep_float=True)
    assert painter.parts["unet"].inputs[1].dtype == "float32"
    expected = sd_turbo_standin_colour(dict((name, ids) for name, _, ids in SCENES)["garden"])
    assert np.abs(result.pixels[:15].reshape(-1, 3).mean(axis=0) / 255 - expected).max() < 0.03


def test_an_export_with_float16_inputs_and_outputs_fits_too(tmp_path, cache, generator_files):
    """optimum's fp16 export keeps float16 at its edges: every feed is cast to it."""
    result, _, painter = generated(tmp_path, generator_files, {"scene": "city"}, float16=True)
    assert [t.dtype for t in painter.parts["unet"].inputs] == ["float16", "int64", "float16"]
    expected = sd_turbo_standin_colour(dict((name, ids) for name, _, ids in SCENES)["city"])
    assert np.abs(result.pixels[:15].reshape(-1, 3).mean(axis=0) / 255 - expected).max() < 0.03
    assert result.provenance.companion == painter.id


def test_a_variation_paints_the_scene_again_exactly_and_another_differently(tmp_path, cache, generator_files):
    first = generated(tmp_path, generator_files, {"scene": "beach", "variation": 3})[0].pixels
    again = generated(tmp_path, generator_files, {"scene": "beach", "variation": 3})[0].pixels
    other = generated(tmp_path, generator_files, {"scene": "beach", "variation": 4})[0].pixels
    np.testing.assert_array_equal(first, again)
    assert np.abs(first[:15].astype(int) - other[:15]).max() > 3


class TieredRuntime(CpuRuntime):
    """onnxruntime on the CPU planned like the page: by tier, from the manifest's backends,
    with a WebGPU adapter that lacks shader-f16 (as headless Chromium's SwiftShader)."""

    def plan(self, candidates, tier):
        return tiers.plan(candidates, tier, frozenset())


def test_the_generator_runs_only_on_the_pro_tier_and_the_label_says_why(tmp_path, cache, generator_files):
    lite = tiers.Tier("lite", ("Modest CPU.",))
    result, mask, painter = generated(tmp_path, generator_files, {}, tier=lite, runtime=TieredRuntime())
    p = result.provenance
    assert p.model == mask.id and p.reason == (
        f"{painter.id} runs on the pro tier only, and this run's tier is lite; you may choose the tier yourself.")
    assert p.notes[-1].startswith("No backdrop was generated (the label says why). "
                                  "The backdrop is drawn, not generated: a studio paper sweep")
    pro = tiers.override(lite, "pro")
    p = generated(tmp_path, generator_files, {}, tier=pro, runtime=TieredRuntime())[0].provenance
    # Before the cut-out alone on WebGPU, which the adapter could run.
    assert (p.model, p.companion, p.backend) == (mask.id, painter.id, "wasm")
    assert p.reason == (f"Fell back to {mask.id}+{painter.id}@wasm: {mask.id}+{painter.id}@webgpu skipped: "
                        "the WebGPU adapter lacks shader-f16.")


def test_a_failing_generator_falls_back_to_the_drawn_backdrop(tmp_path, cache, generator_files):
    class NoUnet(CpuRuntime):
        async def load(self, spec, backend="cpu"):
            if spec.id.endswith("/unet"):
                from darkroom.runtime import RuntimeFailure
                raise RuntimeFailure("out of memory")
            return await super().load(spec, backend)

    result, mask, painter = generated(tmp_path, generator_files, {}, runtime=NoUnet())
    p = result.provenance
    assert p.model == mask.id
    assert p.reason == f"Fell back to {mask.id}@cpu: {mask.id}+{painter.id}@cpu failed: out of memory."
    assert p.notes[-1].startswith("No backdrop was generated (the label says why).")


def test_without_a_generator_the_label_says_none_ships(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "standin.onnx"
    brightness_mask_model(model)
    out = tmp_path / "out.png"
    assert cli.main([TOOL.id, str(photo_file), str(out), "--backdrop", "generated", "--model-file", str(model)]) == 0
    assert capsys.readouterr().out.strip().endswith(
        "No image generator ships with Darkroom; you can add your own (3 ONNX files: text, unet, vae).")
    result = run_tool(TOOL.id, bright_subject_photo(), {"classical": True, "backdrop": "generated"})
    assert result.provenance.notes[-1].startswith(
        "No backdrop was generated (the classical path runs no generator). The backdrop is drawn, not generated: "
        "a studio paper sweep")


def test_cli_takes_the_generators_three_files_in_any_order(tmp_path, cache, photo_file, generator_files, capsys):
    model, out = tmp_path / "standin.onnx", tmp_path / "out.png"
    brightness_mask_model(model)
    files = [arg for path in (generator_files[2], generator_files[0], generator_files[1])
             for arg in ("--generator-file", str(path))]
    assert cli.main([TOOL.id, str(photo_file), str(out), "--backdrop", "generated", "--scene", "office",
                     "--model-file", str(model), *files, "--json"]) == 0
    label, provenance = capsys.readouterr().out.strip().splitlines()
    assert label.startswith("AI models user:standin@") and " + user:text_encoder@" in label
    assert json.loads(provenance)["reason"] is None
    expected = sd_turbo_standin_colour(dict((name, ids) for name, _, ids in SCENES)["office"])
    assert np.abs(np.asarray(Image.open(out))[:15].reshape(-1, 3).mean(axis=0) / 255 - expected).max() < 0.03


def test_joined_models_run_where_both_may():
    manifest = models.load_manifest()
    spec, painter = manifest["isnet-quint8"], generator_spec()
    both = engine.joined(spec, painter, "generator")
    assert both.backends == {"webgpu": {"tiers": ["pro"], "features": ["shader-f16"]},
                             "wasm": {"tiers": ["pro"], "features": []},
                             "cpu": {}}
    assert set(both.sessions) == {None, "text", "unet", "vae"} and both.sessions[None] is spec
    assert both.files == spec.files + painter.files


def generator_spec():
    from darkroom import byom
    from darkroom.models import TensorSpec

    def found(name, inputs, outputs):
        specs = lambda tensors: tuple(TensorSpec(n, shape, dtype) for n, shape, dtype in tensors)  # noqa: E731
        return byom.UserFile(name, name[0] * 64, 10, specs(inputs), specs(outputs))

    latent = (1, 4, 0, 0)
    return byom.user_spec(TOOL.id, generate.SIGNATURE, [
        found("text.onnx", [("input_ids", (1, 0), "int32")], [("last_hidden_state", (1, 0, 1024), "float32")]),
        found("unet.onnx", [("sample", latent, "float32"), ("timestep", (1,), "int64"),
                            ("encoder_hidden_states", (1, 0, 1024), "float32")], [("out_sample", latent, "float32")]),
        found("vae.onnx", [("latent_sample", latent, "float32")], [("sample", (1, 3, 0, 0), "float32")])])

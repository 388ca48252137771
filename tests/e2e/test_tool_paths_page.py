"""Issue 9's tools in the real page, both paths each: the classical one, and the model
path run by a stand-in with the real export's interface (tests/standins.py) picked
through the file chooser as the user's own model. Every run is read back from the page
with its label."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from darkroom import models
from darkroom.tools.generate_background.scenes import SCENES
from helpers import require_classical_in_page
from pagekit import RUN_ENDED, add_model, open_tool, run_in_page
from standins import (
    CLIP_RED,
    ab_conv_model,
    brightness_mask_model,
    clip_standin_models,
    clip_standin_table,
    colour_matrix_face_model,
    constant_fill_model,
    nearest_upscale_model,
    sd_turbo_standin_colour,
    sd_turbo_standin_models,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


def save(tmp_path, name, pixels):
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path


def use_model(page, path) -> str:
    """The user's model picked and selected; returns its id as the label will name it."""
    report = add_model(page, path)
    model_id = f"user:{path.stem}@{models.sha256_file(path)[:12]}"
    assert " fits: " in report and model_id in report, report
    assert page.get_by_test_id("param-model").input_value() == model_id
    return model_id


def paint(page, x0, y0, x1, y1):
    """One brush stroke over the photo, in fractions of its width and height."""
    box = page.get_by_test_id("mask-canvas").bounding_box()
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=8)
    page.mouse.up()


def test_colorize_standin_ddcolor_then_the_palette_approximation(app, tmp_path, astronaut):
    page, _ = app
    grey = np.repeat(np.asarray(Image.fromarray(astronaut).convert("L"))[..., None], 3, axis=2)
    open_tool(page, "colorize", save(tmp_path, "grey.png", grey))
    model = tmp_path / "ddcolor_standin.onnx"
    ab_conv_model(model, ab=(30.0, 40.0), side=None)  # a warm orange everywhere
    model_id = use_model(page, model)
    provenance, out, _ = run_in_page(page)
    assert (provenance["path"], provenance["model"], provenance["backend"]) == ("model", model_id, "wasm")
    assert any(note.startswith("Only the colour came from the model") for note in provenance["notes"])
    assert out[..., 0].mean() > out[..., 2].mean() + 20  # orange, not grey
    page.get_by_test_id("param-model").select_option("auto")
    provenance, out, _ = run_in_page(page)
    assert provenance["path"] == "classical" and "approximation" in provenance["method"]
    assert "No colorize model ships with Darkroom" in provenance["reason"]
    assert provenance["label"].startswith("Classical fallback (numpy gradient map")


def test_restore_faces_standin_gfpgan_then_classical(app, tmp_path, astronaut):
    page, _ = app
    require_classical_in_page(page.evaluate("window.darkroom.ready.then((h) => h.build)"))
    open_tool(page, "restore-faces", save(tmp_path, "astronaut.png", astronaut))
    model = tmp_path / "gfpgan_standin.onnx"
    colour_matrix_face_model(model, matrix=-np.eye(3))  # a negative: easy to see where it pasted
    model_id = use_model(page, model)
    provenance, out, findings = run_in_page(page)
    assert provenance["path"] == "model" and provenance["model"] == model_id
    assert "(177, 71)–(262, 156)" in findings  # the LBP cascade's box on her face (CPython finds the same)
    assert not any("tiles" in note for note in provenance["notes"])
    face = (slice(110, 200), slice(180, 260))  # the astronaut's face
    assert np.abs(out[face].astype(int) - astronaut[face]).mean() > 60  # inverted there
    np.testing.assert_array_equal(out[:40, :40], astronaut[:40, :40])  # untouched far away
    page.get_by_test_id("param-classical").check()
    provenance, out, _ = run_in_page(page)
    assert provenance["path"] == "classical" and "non-local means" in provenance["method"]
    assert 0 < np.abs(out[face].astype(int) - astronaut[face]).mean() < 10


def test_remove_object_paint_then_classical_fill_then_a_standin_lama(app, tmp_path, astronaut):
    page, _ = app
    require_classical_in_page(page.evaluate("window.darkroom.ready.then((h) => h.build)"))
    open_tool(page, "remove-object", save(tmp_path, "astronaut.png", astronaut))
    page.get_by_test_id("run").click()
    assert page.wait_for_function(RUN_ENDED).json_value() == "Paint over what to remove first."
    paint(page, 0.80, 0.10, 0.85, 0.25)
    assert page.get_by_test_id("mask-status").text_content().startswith("Painted.")
    provenance, out, _ = run_in_page(page)
    assert provenance["path"] == "classical" and "biharmonic" in provenance["method"]
    changed = np.abs(out.astype(int) - astronaut).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 500 and 0.75 * 512 < xs.mean() < 0.9 * 512 and 0.05 * 512 < ys.mean() < 0.3 * 512
    assert page.get_by_test_id("mask-canvas").is_hidden()  # the strokes step aside for the result
    page.get_by_test_id("mask-edit").click()
    assert page.get_by_test_id("mask-canvas").is_visible()

    model = tmp_path / "lama_standin.onnx"
    constant_fill_model(model, colour=(0.2, 0.6, 0.9), side=None)
    model_id = use_model(page, model)
    provenance, out, _ = run_in_page(page)
    assert provenance["path"] == "model" and provenance["model"] == model_id
    filled = out[changed]  # the same stroke, still painted
    assert np.abs(filled.astype(int) - (51, 153, 230)).mean() < 12
    page.get_by_test_id("mask-clear").click()
    page.get_by_test_id("run").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=run]').disabled")
    assert page.get_by_test_id("error").text_content() == "Paint over what to remove first."


def test_new_background_standin_cutout_then_classical(app, tmp_path):
    page, _ = app
    pixels = np.full((120, 160, 3), 40, np.uint8)
    pixels[30:120, 50:110] = 230  # a bright subject standing on the bottom edge
    open_tool(page, "generate-background", save(tmp_path, "subject.png", pixels))
    page.get_by_test_id("param-backdrop").select_option("solid")
    page.get_by_test_id("param-color").fill("#336699")
    page.get_by_test_id("param-shadow").uncheck()
    model = tmp_path / "isnet_standin.onnx"
    brightness_mask_model(model, side=None)
    model_id = use_model(page, model)
    provenance, out, _ = run_in_page(page)
    assert provenance["path"] == "model" and provenance["model"] == model_id
    assert any(note.startswith("The backdrop is drawn, not generated") for note in provenance["notes"])
    np.testing.assert_array_equal(out[5, 5], (0x33, 0x66, 0x99))
    assert out[80, 80].min() > 220
    page.get_by_test_id("param-backdrop").select_option("blurred")
    assert page.get_by_test_id("param-color").is_hidden()  # blurred uses no colour
    require_classical_in_page(page.evaluate("window.darkroom.ready.then((h) => h.build)"))
    page.get_by_test_id("param-classical").check()
    provenance, _, _ = run_in_page(page)
    assert provenance["path"] == "classical" and "drawn backdrop" in provenance["method"]


def test_new_background_generated_by_a_users_sd_turbo_on_the_pro_tier_only(app, tmp_path):
    """A stand-in SD-Turbo (three files, the web export's interface) picked as the image
    generator: on the recommended lite tier it does not run and the label says why; with
    the pro tier chosen it runs on WASM (this adapter lacks shader-f16) and paints the scene."""
    page, _ = app
    pixels = np.full((120, 160, 3), 40, np.uint8)
    pixels[30:120, 50:110] = 230
    open_tool(page, "generate-background", save(tmp_path, "subject.png", pixels))
    assert page.get_by_test_id("generator-file").is_hidden()
    page.get_by_test_id("param-backdrop").select_option("generated")
    assert page.get_by_test_id("param-color").is_hidden() and page.get_by_test_id("generator-file").is_visible()
    page.wait_for_function("() => document.querySelector('[data-testid=generator-tier-note]').textContent !== ''")
    assert page.get_by_test_id("generator-tier-note").inner_text() == (
        "It runs on the pro tier only; this device's tier is lite. Choose a tier above to try it anyway.")
    page.get_by_test_id("param-scene").select_option("garden")
    assert page.get_by_test_id("param-generator").evaluate("(select) => select.selectedOptions[0].text") == (
        "none (add yours below)")
    model = tmp_path / "isnet_standin.onnx"
    brightness_mask_model(model, side=None)
    cutout = use_model(page, model)
    parts = [tmp_path / f"{name}.onnx" for name in ("text_encoder", "unet", "vae_decoder")]
    sd_turbo_standin_models(*parts)
    page.get_by_test_id("generator-file").set_input_files([str(parts[1]), str(parts[2]), str(parts[0])])
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=generator-file-report]').textContent.startsWith('Checking')")
    report = page.get_by_test_id("generator-file-report").inner_text()
    generator = page.get_by_test_id("param-generator").input_value()
    assert generator.startswith("user:text_encoder@") and " fits: " in report and generator in report, report

    provenance, out, _ = run_in_page(page)
    assert provenance["model"] == cutout and provenance["tier"] == "lite"
    assert f"{generator} runs on the pro tier only, and this run's tier is lite" in provenance["reason"]
    assert any(note.startswith("No backdrop was generated (the label says why).") for note in provenance["notes"])

    page.get_by_test_id("tier-select").select_option("pro")
    page.wait_for_function("() => document.querySelector('[data-testid=tier-reasons]').textContent.startsWith('pro')")
    assert page.get_by_test_id("generator-tier-note").is_hidden()  # empty: the pro tier runs it
    provenance, out, _ = run_in_page(page)
    assert (provenance["model"], provenance["companion"], provenance["backend"]) == (cutout, generator, "wasm"), (
        provenance["reason"], provenance["fallback_chain"])
    assert "webgpu skipped: the WebGPU adapter lacks shader-f16" in provenance["reason"]
    what_ran = page.eval_on_selector_all(".provenance-details dt",
                                         "(dts) => dts.map((dt) => [dt.textContent, dt.nextSibling.textContent])")
    assert ["with model", generator] in what_ran, what_ran
    assert any('from the prompt "a green garden' in note for note in provenance["notes"])
    expected = sd_turbo_standin_colour(dict((name, ids) for name, _, ids in SCENES)["garden"])
    assert np.abs(out[:15, :40].reshape(-1, 3).mean(axis=0) / 255 - expected).max() < 0.03
    assert out[80, 80].min() > 220  # the subject stays

    # An export with float16 inputs and outputs: its tensors cross the bridge as float16.
    half = tmp_path / "half"
    half.mkdir()
    parts = [half / part.name for part in parts]
    sd_turbo_standin_models(*parts, float16=True)
    page.get_by_test_id("generator-file").set_input_files([str(part) for part in parts])
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=generator-file-report]').textContent.startsWith('Checking')")
    assert "unet.onnx: inputs sample float16 [" in page.get_by_test_id("generator-file-report").inner_text()
    generator = page.get_by_test_id("param-generator").input_value()
    provenance, out, _ = run_in_page(page)
    assert (provenance["model"], provenance["companion"]) == (cutout, generator), (
        provenance["reason"], provenance["fallback_chain"])
    assert np.abs(out[:15, :40].reshape(-1, 3).mean(axis=0) / 255 - expected).max() < 0.03


def test_upscale_runs_a_users_upscaler_at_its_measured_scale(app, tmp_path):
    page, _ = app
    pixels = np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    open_tool(page, "upscale", save(tmp_path, "small.png", pixels))
    model = tmp_path / "nearest_x2.onnx"
    nearest_upscale_model(model, factor=2)
    model_id = use_model(page, model)
    provenance, out, _ = run_in_page(page)
    assert provenance["path"] == "model" and provenance["model"] == model_id
    np.testing.assert_array_equal(out, pixels.repeat(2, 0).repeat(2, 1))


def test_tag_runs_a_users_clip_given_as_two_files_at_once(app, tmp_path):
    """A model in parts: both stand-in encoders picked together, in the file chooser's order."""
    page, _ = app
    open_tool(page, "tag", save(tmp_path, "red.png", np.full((90, 120, 3), CLIP_RED, np.uint8)))
    vision, text = tmp_path / "vision_model.onnx", tmp_path / "text_model.onnx"
    clip_standin_models(vision, text, clip_standin_table())
    page.get_by_test_id("model-file").set_input_files([str(text), str(vision)])
    page.wait_for_function("() => !document.querySelector('[data-testid=model-file-report]')"
                           ".textContent.startsWith('Checking')")
    report = page.get_by_test_id("model-file-report").inner_text()
    assert report.startswith(
        "text_model.onnx + vision_model.onnx fits: text_model.onnx: inputs input_ids int64"), report
    model_id = page.get_by_test_id("param-model").input_value()
    assert model_id.startswith("user:vision_model@") and model_id in report
    provenance, _, findings = run_in_page(page)
    assert provenance["path"] == "model" and provenance["model"] == model_id
    assert findings.startswith("Tags: sunset (") and not any("tiles" in note for note in provenance["notes"])

    page.get_by_test_id("model-file").set_input_files([str(vision)])  # one part alone is not the model
    page.wait_for_function("() => !document.querySelector('[data-testid=model-file-report]')"
                           ".textContent.startsWith('Checking')")
    assert page.get_by_test_id("model-file-report").inner_text() == (
        "This model comes in 2 files (image, text); you picked 1.")

"""Bring your own model in the page: a stand-in ONNX file with ISNet's interface
(tests/standins.py) picked through the file chooser, checked, stored, run and labelled
as the user's; a file with the wrong interface refused with the reason."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from darkroom import models
from pagekit import READ_RESULT, RUN_ENDED, add_model, open_app
from standins import brightness_mask_model

pytestmark = pytest.mark.e2e


def photo_file(tmp_path):
    pixels = np.full((48, 64, 3), 40, np.uint8)
    pixels[12:36, 16:48] = 230  # a bright square subject on a dark ground
    path = tmp_path / "square.png"
    Image.fromarray(pixels).save(path)
    return path


def run_mask(page) -> tuple[dict, np.ndarray]:
    page.get_by_test_id("param-output").select_option("mask")
    page.get_by_test_id("run").click()
    assert page.wait_for_function(RUN_ENDED).json_value() == "ok"
    provenance = json.loads(page.get_by_test_id("provenance").get_attribute("data-provenance"))
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(page.evaluate(READ_RESULT)))))
    return provenance, mask


def test_users_model_is_checked_stored_run_and_labelled(browser, site, tmp_path):
    model = tmp_path / "my net.onnx"
    brightness_mask_model(model, side=None, extra_outputs=2)
    model_id = f"user:my_net@{models.sha256_file(model)[:12]}"
    context = browser.new_context()
    try:
        page, log = open_app(context, site)
        report = add_model(page, model)
        assert report.startswith("my net.onnx fits: inputs input float32 [1, 3, ?, ?]; "
                                 "outputs mask float32 [1, 1, ?, ?]")
        assert model_id in report
        assert page.get_by_test_id("param-model").input_value() == model_id
        page.get_by_test_id("file-input").set_input_files(str(photo_file(tmp_path)))
        provenance, mask = run_mask(page)
        assert (provenance["model"], provenance["variant"], provenance["backend"]) == (model_id, "user", "wasm")
        assert model_id in page.get_by_test_id("provenance").inner_text()
        assert mask[20:28, 24:40].min() == 255 and mask[:8].max() == 0

        # It is still there after a reload, from this device's storage.
        page.reload()
        page.wait_for_function("() => window.darkroom !== undefined")
        page.evaluate("window.darkroom.ready")
        page.wait_for_function("() => [...document.querySelector('[data-testid=param-model]').options]"
                               f".some((o) => o.value === {model_id!r})")
        page.get_by_test_id("param-model").select_option(model_id)
        provenance, _ = run_mask(page)
        assert provenance["model"] == model_id and provenance["path"] == "model"
        assert not log.errors, log.errors
    finally:
        context.close()


def test_a_model_with_the_wrong_interface_is_refused(app, tmp_path):
    page, _ = app
    model = tmp_path / "rgb.onnx"
    brightness_mask_model(model, out_channels=3)
    report = add_model(page, model)
    assert report.startswith("This model does not fit: mask 'mask' has 3 in dimension 1, not 1.")
    assert "error" in page.get_by_test_id("model-file-report").get_attribute("class")
    assert page.get_by_test_id("param-model").input_value() == "auto"

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not protobuf")
    assert add_model(page, junk).startswith("This file is not a model onnxruntime-web can load")


def test_users_model_still_runs_after_the_worker_restarts(browser, site, tmp_path):
    """A worker that dies is replaced by a fresh one, which must be told the user's
    models again: the one picked before the crash runs on the retry."""
    model = tmp_path / "mine.onnx"
    brightness_mask_model(model, side=None)
    model_id = f"user:mine@{models.sha256_file(model)[:12]}"
    context = browser.new_context()
    try:
        page, log = open_app(context, site)
        add_model(page, model)
        page.get_by_test_id("file-input").set_input_files(str(photo_file(tmp_path)))
        assert run_mask(page)[0]["model"] == model_id

        page.evaluate(f"window.darkroom.injectFault('crash', {model_id!r})")
        page.get_by_test_id("run").click()
        page.get_by_test_id("retry").wait_for(state="visible")
        assert "The processing worker stopped" in page.get_by_test_id("error").inner_text()
        page.evaluate("document.querySelector('.result').hidden = true")  # the result from before the crash
        page.get_by_test_id("retry").click()
        page.wait_for_function("() => document.querySelector('[data-testid=error]').hidden")
        assert page.wait_for_function(RUN_ENDED).json_value() == "ok"
        provenance = json.loads(page.get_by_test_id("provenance").get_attribute("data-provenance"))
        assert (provenance["model"], provenance["path"]) == (model_id, "model")
        # The crash itself reached the console; that one was provoked on purpose.
        assert not [e for e in log.errors if "injected crash" not in e], log.errors
    finally:
        context.close()

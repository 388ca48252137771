"""Device probe and tiers in headless Chromium, whose WebGPU adapter is SwiftShader."""

import numpy as np
import pytest

from helpers import iou
from pagekit import run_hook

pytestmark = pytest.mark.e2e


def test_probe_sees_swiftshader_and_picks_lite(app, astronaut_photo):
    page, _ = app
    probe = page.evaluate("window.darkroom.probe()")
    adapter = probe["webgpu"]["adapter"]
    assert probe["webgpu"]["available"] and adapter["architecture"] == "swiftshader" and adapter["isFallbackAdapter"]
    assert "shader-f16" not in probe["webgpu"]["features"]
    assert probe["crossOriginIsolated"] and probe["wasm"]["threads"] and probe["wasm"]["simd"]

    tier = page.evaluate("window.darkroom.tier()")
    assert tier["name"] == "lite" and not tier["overridden"]
    assert "software renderer (swiftshader)" in tier["reasons"][0]
    assert "software renderer" in page.get_by_test_id("tier-reasons").inner_text()
    assert "swiftshader" in page.get_by_test_id("probe").text_content()  # inside a closed <details>
    assert page.get_by_test_id("tier-intro").is_visible()

    reply = run_hook(page, astronaut_photo, {})
    provenance = reply["provenance"]
    assert (provenance["tier"], provenance["backend"], provenance["model"]) == ("lite", "wasm", "isnet-quint8")
    assert "Tier lite: The WebGPU adapter is a software renderer (swiftshader)" in provenance["label"]


def test_forced_pro_runs_isnet_on_webgpu_and_agrees_with_wasm(app, site, astronaut_photo):
    page, requests = app
    on_gpu = run_hook(page, astronaut_photo, {"tier": "pro", "output": "mask"})
    provenance = on_gpu["provenance"]
    assert provenance["path"] == "model" and provenance["backend"] == "webgpu", provenance
    assert provenance["tier"] == "pro" and provenance["tier_overridden"]
    assert "on webgpu" in provenance["label"] and "chosen by you" in provenance["label"]
    # SwiftShader has no shader-f16, so the fp16 model is skipped, and the chain says so.
    assert provenance["fallback_chain"] == ["isnet-fp16@webgpu skipped: the WebGPU adapter lacks shader-f16",
                                            "isnet-quint8@webgpu ran"]

    on_wasm = run_hook(page, astronaut_photo, {"model": provenance["model"], "output": "mask"})
    assert on_wasm["provenance"]["backend"] == "wasm" and not on_wasm["provenance"]["tier_overridden"]
    agreement = iou(np.asarray(on_gpu["image"]) >= 128, np.asarray(on_wasm["image"]) >= 128)
    assert agreement >= 0.98, f"WebGPU vs WASM mask IoU {agreement:.4f}"
    assert requests.foreign(site) == []


def test_tier_choice_is_remembered_and_flagged(app):
    page, _ = app
    page.get_by_test_id("tier-select").select_option("standard")
    page.wait_for_function("() => document.querySelector('[data-testid=tier-reasons]')"
                           ".textContent.startsWith('standard')")
    assert "chosen by you" in page.get_by_test_id("tier-reasons").inner_text()
    assert "may be slow" in page.get_by_test_id("tier-reasons").inner_text()  # standard is above lite
    page.reload()
    page.evaluate("window.darkroom.ready")
    assert page.get_by_test_id("tier-select").input_value() == "standard"
    tier = page.evaluate("window.darkroom.tier()")
    assert tier["name"] == "standard" and tier["overridden"] and tier["recommended"] == "lite"

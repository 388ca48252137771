"""Background removal through the real page: the real ISNet model on WASM."""

import asyncio
import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from darkroom import imaging, models
from darkroom.engine import run_tool
from darkroom.runtime import CpuRuntime
from darkroom.tiers import DEFAULT
from darkroom.tools import registry
from helpers import iou, require_classical_in_page
from pagekit import READ_RESULT, RUN_ENDED, run_hook

pytestmark = pytest.mark.e2e

def cpython_alpha(photo: bytes, model_id: str) -> np.ndarray:
    """The same model on the CPU through onnxruntime (in a thread: Playwright owns this one's event loop)."""
    job = run_tool(registry()["remove-background"], imaging.decode(photo), {"model": model_id},
                   runtime=CpuRuntime(), models=models.load_manifest(), tier=DEFAULT)
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, job).result()
    assert result.provenance.path == "model"
    return result.pixels[..., 3]


def test_page_cuts_out_with_isnet_on_wasm(app, site, tmp_path, cat_photo):
    page, requests = app
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(cat_photo)
    page.get_by_test_id("file-input").set_input_files(str(photo))
    page.get_by_test_id("run").click()
    outcome = page.wait_for_function(RUN_ENDED).json_value()
    assert outcome == "ok", f"the page showed an error: {outcome}"

    label = page.get_by_test_id("provenance")
    provenance = json.loads(label.get_attribute("data-provenance"))
    assert provenance["path"] == "model"
    assert provenance["model"].startswith("isnet-")
    assert provenance["backend"] == "wasm"
    assert provenance["input_size"] == [451, 300]
    assert "isnet" in label.inner_text().lower() and "wasm" in label.inner_text()

    result = Image.open(io.BytesIO(base64.b64decode(page.evaluate(READ_RESULT))))
    assert result.format == "PNG" and result.mode == "RGBA"
    assert result.size == (451, 300)

    browser_mask = np.asarray(result)[..., 3] >= 128
    reference_mask = cpython_alpha(cat_photo, provenance["model"]) >= 128
    assert 0.2 < browser_mask.mean() < 0.95, "the cat should be a real part of the frame, not all or nothing"
    agreement = iou(browser_mask, reference_mask)
    assert agreement >= 0.98, f"browser vs CPython mask IoU {agreement:.4f}"
    assert page.get_by_test_id("download").get_attribute("href").startswith("blob:")
    assert requests.foreign(site) == [], f"requests left 127.0.0.1: {requests.foreign(site)}"


def test_hook_runs_the_other_variant_and_survives_bad_input(app, site, astronaut_photo):
    page, requests = app
    bad = run_hook(page, b"this is not an image", {})
    assert "not an image" in bad["error"]
    reply = run_hook(page, astronaut_photo, {"model": "isnet-fp16", "output": "mask"})
    assert reply["provenance"]["model"] == "isnet-fp16" and reply["provenance"]["backend"] == "wasm"
    assert reply["image"].mode == "L" and reply["image"].size == (512, 512)
    browser_mask = np.asarray(reply["image"]) >= 128
    agreement = iou(browser_mask, cpython_alpha(astronaut_photo, "isnet-fp16") >= 128)
    assert agreement >= 0.98, f"fp16 browser vs CPython mask IoU {agreement:.4f}"
    assert requests.foreign(site) == []


def test_page_stays_responsive_while_the_model_runs(app, astronaut_photo):
    page, _ = app
    # Longest gap between main-thread timer ticks while a full model run is in flight.
    longest_gap_ms = page.evaluate("""async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      let last = performance.now(), longest = 0, running = true;
      const tick = () => { const now = performance.now(); longest = Math.max(longest, now - last); last = now;
                           if (running) setTimeout(tick, 10); };
      tick();
      await window.darkroom.run('remove-background', new Blob([bytes]), {});
      running = false;
      return longest;
    }""", base64.b64encode(astronaut_photo).decode())
    assert longest_gap_ms < 250, f"the main thread was blocked for {longest_gap_ms:.0f} ms"


def product_shot() -> bytes:
    """A textured object on a white sweep with a soft shadow, as PNG (lossless, so both
    hosts see identical pixels)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:360, 0:480]
    subject = ((yy - 170) / 110.0) ** 2 + ((xx - 230) / 150.0) ** 2 <= 1
    shadow = ndi.gaussian_filter((((yy - 250) / 60.0) ** 2 + ((xx - 300) / 170.0) ** 2 <= 1).astype(float), 12)
    backdrop = 0.96 * (1 - 0.35 * shadow / shadow.max())[..., None] * np.ones(3)
    texture = np.stack([0.6 + 0.3 * np.sin(xx / 7.0),
                        0.2 + 0.1 * rng.random(xx.shape),
                        0.3 + 0.2 * np.cos(yy / 5.0)], -1)
    pixels = np.where(subject[..., None], texture, backdrop)
    return imaging.encode_png(np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8))


def test_classical_path_in_page_matches_cpython(app, site):
    page, requests = app
    require_classical_in_page(page.evaluate("fetch('./build.json').then((r) => r.json())"))
    photo = product_shot()
    reply = run_hook(page, photo, {"classical": True, "output": "mask"})
    assert reply["provenance"]["path"] == "classical" and reply["provenance"]["backend"] == "python"
    assert "not AI" in reply["provenance"]["label"]
    in_page = np.asarray(reply["image"], dtype=np.int16)
    job = run_tool(registry()["remove-background"], imaging.decode(photo), {"classical": True, "output": "mask"},
                   runtime=None, models=models.load_manifest(), tier=DEFAULT)
    with ThreadPoolExecutor(1) as pool:
        reference = pool.submit(asyncio.run, job).result().pixels.astype(np.int16)
    # wasm libm and BLAS round differently from x86, so a handful of edge pixels may differ
    # by more than one level; the masks must still be the same mask.
    close = np.abs(in_page - reference) <= 1
    assert close.mean() >= 0.999, f"only {close.mean():.4%} of alpha values within 1/255 of CPython"
    assert iou(in_page >= 128, reference >= 128) >= 0.999
    assert requests.foreign(site) == []

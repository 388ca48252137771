"""Background removal through the real page: the real ISNet model on WASM."""

import asyncio
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from helpers import iou
from darkroom import imaging, models
from darkroom.engine import run_tool
from darkroom.runtime import CpuRuntime
from darkroom.tiers import DEFAULT
from darkroom.tools import registry

pytestmark = pytest.mark.e2e

READ_RESULT = """async () => {
  const img = document.querySelector('[data-testid=result-image]');
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ''; for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}"""


def cpython_alpha(photo: bytes, model_id: str) -> np.ndarray:
    manifest = models.load_manifest()
    result = asyncio.run(run_tool(registry()["remove-background"], imaging.decode(photo), {"model": model_id},
                                  runtime=CpuRuntime(), models=manifest, tier=DEFAULT))
    assert result.provenance.path == "model"
    return result.pixels[..., 3]


def test_page_cuts_out_with_isnet_on_wasm(app, site, tmp_path, cat_photo):
    page, requests = app
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(cat_photo)
    page.get_by_test_id("file-input").set_input_files(str(photo))
    page.get_by_test_id("run").click()
    label = page.get_by_test_id("provenance")
    label.wait_for(state="visible")

    provenance = json.loads(label.get_attribute("data-provenance"))
    assert provenance["path"] == "model"
    assert provenance["model"].startswith("isnet-")
    assert provenance["backend"] == "wasm"
    assert "isnet" in label.inner_text().lower() and "wasm" in label.inner_text()

    png = base64.b64decode(page.evaluate(READ_RESULT))
    result = Image.open(io.BytesIO(png))
    assert result.format == "PNG" and result.mode == "RGBA"
    assert result.size == (451, 300)

    browser_mask = np.asarray(result)[..., 3] >= 128
    reference_mask = cpython_alpha(cat_photo, provenance["model"]) >= 128
    assert 0.2 < browser_mask.mean() < 0.95, "the cat should be a real part of the frame, not all or nothing"
    agreement = iou(browser_mask, reference_mask)
    assert agreement >= 0.98, f"browser vs CPython mask IoU {agreement:.4f}"
    assert requests.foreign(site) == [], f"requests left 127.0.0.1: {requests.foreign(site)}"

"""The first run on a fresh page: started at once, before Python is ready.

The page asks for a cut-out the moment ``window.darkroom`` exists (as a user who drops a
photo while the page loads). The model worker loads ISNet and runs it on the browser's
decode of the photo while Pyodide boots; Python then decodes, plans and labels the run
as always, and uses that early result only when its own model input is byte for byte
the one the early inference had.
"""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from helpers import iou
from pagekit import PageLog, run_hook

pytestmark = pytest.mark.e2e

EARLY_NOTE = "started on the browser's decode of the photo"

# Runs remove-background as soon as the automation API exists, before Python is ready.
FIRST_RUN = """(() => {
  const bytes = Uint8Array.from(atob(%s), (c) => c.charCodeAt(0));
  const go = async () => {
    if (!window.darkroom) return setTimeout(go, 5);
    try {
      const { blob, provenance } = await window.darkroom.run('remove-background', new Blob([bytes]), {output: 'mask'});
      const out = new Uint8Array(await blob.arrayBuffer());
      let s = ''; for (const b of out) s += String.fromCharCode(b);
      window.__firstRun = { file: btoa(s), provenance };
    } catch (err) { window.__firstRun = { error: err.message }; }
  };
  go();
  // Every status line the page shows while it starts.
  window.__statuses = [];
  document.addEventListener('DOMContentLoaded', () => {
    const status = document.querySelector('[data-testid=status]');
    new MutationObserver(() => window.__statuses.push(status.textContent))
      .observe(status, {childList: true, characterData: true, subtree: true});
  });
})()"""


def first_run(browser, site, photo: bytes) -> tuple[dict, object, PageLog]:
    """Opens the app in a fresh context that runs ``photo`` at once; returns the first
    run's reply (``image`` added), the page and its log."""
    context = browser.new_context()
    context.add_init_script(FIRST_RUN % json.dumps(base64.b64encode(photo).decode()))
    log = PageLog()
    context.on("request", log.record)
    page = context.new_page()
    page.on("pageerror", lambda exc: log.errors.append(str(exc)))
    page.on("console", lambda message: message.type == "error" and log.errors.append(message.text))
    page.goto(site)
    page.wait_for_function("() => window.__firstRun !== undefined", timeout=300_000)
    reply = page.evaluate("window.__firstRun")
    assert "error" not in reply, reply.get("error")
    reply["image"] = Image.open(io.BytesIO(base64.b64decode(reply["file"])))
    return reply, page, log


def test_first_cut_out_starts_before_python_and_matches_a_later_run(browser, site, astronaut_photo):
    reply, page, log = first_run(browser, site, astronaut_photo)
    provenance = reply["provenance"]
    assert (provenance["path"], provenance["model"], provenance["backend"]) == ("model", "isnet-quint8", "wasm")
    early = [note for note in provenance["notes"] if EARLY_NOTE in note]
    assert len(early) == 1, provenance["notes"]
    assert "checked to be identical" in early[0]
    # While it started, the status line said what was being fetched and prepared.
    statuses = page.evaluate("window.__statuses")
    assert any("Downloading the Python runtime" in text for text in statuses), statuses
    assert any("isnet-quint8" in text for text in statuses), statuses

    # The same photo again, now with Python ready: the model runs on Python's own input.
    again = run_hook(page, astronaut_photo, {"output": "mask"})
    assert not any(EARLY_NOTE in note for note in again["provenance"]["notes"])
    first, second = np.asarray(reply["image"]), np.asarray(again["image"])
    assert first.shape == second.shape == (512, 512)
    assert np.abs(first.astype(int) - second).max() <= 1
    assert iou(first >= 128, second >= 128) >= 0.999
    assert not log.errors, log.errors
    page.context.close()


def test_a_photo_the_browser_decodes_differently_runs_afresh(browser, site):
    """Translucent pixels lose precision in the browser's premultiplied canvas, so its
    decode differs from Pillow's: the early result must not be used."""
    rng = np.random.default_rng(3)
    rgba = np.dstack([rng.integers(0, 256, (96, 128, 3)), np.full((96, 128), 7)]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    reply, page, log = first_run(browser, site, buffer.getvalue())
    provenance = reply["provenance"]
    assert (provenance["path"], provenance["model"]) == ("model", "isnet-quint8")
    assert not any(EARLY_NOTE in note for note in provenance["notes"]), provenance["notes"]
    assert reply["image"].size == (128, 96)
    assert not log.errors, log.errors
    page.context.close()

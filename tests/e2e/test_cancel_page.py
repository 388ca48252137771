"""A long run says how long it will take before it starts, and Cancel (or Esc) stops it
in seconds: the photo stays, no error is shown, and the same worker runs the next photo."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pagekit import open_tool, run_hook

pytestmark = pytest.mark.e2e


@pytest.fixture()
def blurred_photo(tmp_path):
    """A 24 MP blurred photo: deblur's measured pace puts it well past 20 s."""
    from skimage import data

    pixels = np.asarray(Image.fromarray(data.astronaut()).resize((6000, 4000), Image.Resampling.BICUBIC))
    blurred = ndimage.gaussian_filter(pixels, (2, 2, 0))
    path = tmp_path / "blurred.jpg"
    Image.fromarray(blurred).save(path, quality=90)
    return path


def test_a_long_run_shows_its_estimate_and_cancel_stops_it(app, blurred_photo):
    page, _ = app
    open_tool(page, "deblur", blurred_photo)
    page.get_by_test_id("run").click()
    estimate = page.get_by_test_id("estimate")
    estimate.wait_for(state="visible", timeout=60_000)
    said = re.fullmatch(r"This will take about (\d+) (s|min) for a 24 MP photo \(at the pace measured on a 2-core "
                        r"laptop\)\. You can cancel it \(Esc\)\.", estimate.inner_text())
    assert said, estimate.inner_text()
    assert int(said.group(1)) * (60 if said.group(2) == "min" else 1) >= 20
    assert page.get_by_test_id("cancel").is_visible()

    asked = time.monotonic()
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent.startsWith('Cancelled')",
                           timeout=30_000)
    print(f"cancelled {time.monotonic() - asked:.1f} s after Esc")
    assert page.locator(".progress").is_hidden()
    assert page.get_by_test_id("error").is_hidden()  # a cancel is not a failure
    assert page.evaluate("document.querySelector('.before').naturalWidth") == 6000  # the photo is kept
    assert not page.get_by_test_id("run").is_disabled()

    # The same worker goes on: Python was interrupted, not restarted.
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(small, "PNG")
    reply = run_hook(page, small.getvalue(), {}, tool="convert")
    assert "error" not in reply, reply
    assert "Restarting" not in page.get_by_test_id("status").inner_text()

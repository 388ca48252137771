"""Every bad-input corpus case (tests/corpus.py) through the page: a result or one clear
line, and the page still works after each (a normal photo succeeds next).

One page serves the whole corpus, as one user dropping file after file would. The
cases run through ``find-faces`` (BlazeFace on onnxruntime-web: a real model, fast
enough to run 45 cases and 45 normal photos in a minute or two).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from corpus import CASES, Case, photo, save
from darkroom import imaging
from pagekit import open_app, run_hook

TOOL = "find-faces"
TALLY: dict[str, int] = {"cases": 0, "results": 0, "clear errors": 0, "crashes": 0}
NORMAL = save(Image.fromarray(photo(96, 128)), "JPEG")


@pytest.fixture(scope="module")
def page(browser, site):
    context = browser.new_context()
    page, log = open_app(context, site)
    yield page
    context.close()
    assert not log.errors, f"errors in the page: {log.errors}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_through_the_page(page, case: Case):
    TALLY["cases"] += 1
    TALLY["crashes"] += 1  # until the page has answered either way
    reply = run_hook(page, case.make(), {}, tool=TOOL)
    TALLY["crashes"] -= 1
    expect, says = case.outcome("page")
    if expect == "result":
        assert "error" not in reply, reply["error"]
        assert reply["image"].size == tuple(reply["provenance"]["output_size"])
        assert reply["provenance"]["path"] == "model"
        assert says.lower() in " ".join(reply["provenance"]["notes"]).lower()
        TALLY["results"] += 1
    else:
        assert "error" in reply, f"expected an error, got a result: {reply['provenance']}"
        message = reply["error"]
        assert "\n" not in message and says.lower() in message.lower(), message
        assert "Something went wrong inside Darkroom" not in message  # that is the crash wording
        TALLY["clear errors"] += 1
    after = run_hook(page, NORMAL, {}, tool=TOOL)
    assert "error" not in after, f"a normal photo failed after {case.name}: {after.get('error')}"


def test_colour_profile_is_applied_by_the_browser_like_littlecms_does(page):
    """Pyodide's Pillow has no littlecms, so the page lets the browser apply the profile:
    its pixels must match CPython's littlecms conversion, not the unconverted ones."""
    case = next(c for c in CASES if c.name == "icc-display-profile")
    data = case.make()
    reply = run_hook(page, data, {}, tool=TOOL)
    assert reply["provenance"]["notes"][0] == "Converted from the embedded colour profile to sRGB by the browser."
    in_page = np.asarray(reply["image"].convert("RGB"), dtype=np.float32)
    managed = imaging.decode(data).pixels.astype(np.float32)  # CPython: littlecms
    unmanaged = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)
    assert np.abs(in_page - managed).mean() < 3.0
    assert np.abs(in_page - unmanaged).mean() > 10.0  # the profile swaps red and green


def jpeg(orientation: int = 1) -> bytes:
    """A 4:2:0 JPEG of a real photo, with an EXIF orientation."""
    from skimage import data

    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()[:300, :400]).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", [1, 6, 3], ids=["upright", "rotated-90", "rotated-180"])
def test_jpeg_pixels_in_the_page_are_the_clis(page, orientation):
    """JPEG's inverse DCT is the decoder's choice: the page takes the browser's, which
    equals the CLI's (CPython Pillow), so both start from the same pixels."""
    data = jpeg(orientation)
    reply = run_hook(page, data, {"format": "png"}, tool="convert")
    in_page = np.asarray(reply["image"])
    reference = imaging.decode(data).pixels
    assert in_page.shape == reference.shape
    assert np.array_equal(in_page, reference), f"{(in_page != reference).mean():.3f} of the samples differ"


def test_byte_limit_is_checked_before_the_file_is_read(page):
    reply = run_hook(page, NORMAL, {"limits": {"maxMegabytes": 0.001}}, tool=TOOL)
    assert reply.get("error") == f"The file is {len(NORMAL):,} bytes; the limit is 1,048 bytes."
    reply = run_hook(page, NORMAL, {"limits": {"maxMegapixels": 0.001}}, tool=TOOL)
    assert reply.get("error") == "The image is 128 × 96 pixels (12,288 pixels); the limit is 1,000 pixels."
    assert "error" not in run_hook(page, NORMAL, {}, tool=TOOL)


def test_corpus_tally(capsys):
    """Prints the counts (run after the cases: pytest keeps file order)."""
    with capsys.disabled():
        print("\ncorpus through the page: " + ", ".join(f"{k} {v}" for k, v in TALLY.items()))
    assert TALLY["crashes"] == 0
    assert TALLY["cases"] == 0 or TALLY["results"] + TALLY["clear errors"] == TALLY["cases"]

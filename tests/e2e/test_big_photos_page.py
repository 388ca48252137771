"""A photo too large for a tool's memory in the page is refused before it is decoded,
with that tool's own limit; the same page then runs a photo that fits."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from pagekit import run_hook

pytestmark = pytest.mark.e2e


def flat_png(width: int, height: int) -> bytes:
    """A flat PNG: a few hundred KB on disk however many pixels its header declares."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(out, "PNG", compress_level=9)
    return out.getvalue()


# The lighter tool's 90 MP result, opened by the test to check it, trips Pillow's warning.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_photo_beyond_the_tools_limit_is_refused_up_front_and_the_next_runs(app):
    page, _ = app
    reply = run_hook(page, flat_png(10_000, 9_000), {}, tool="portrait-blur")  # 90 MP
    limit = re.fullmatch(r"Portrait blur can take photos up to (\d+) MP in this browser \(it needs about 40 bytes "
                         r"a pixel\); this one is 90 MP\. Crop it, or run it with Darkroom's command line "
                         r"\(darkroom portrait-blur\), which can use all of the computer's memory\.",
                         reply.get("error", ""))
    assert limit, reply.get("error") or reply.get("provenance")
    print(f"portrait-blur's limit in this page: {limit.group(1)} MP")
    assert 50 <= int(limit.group(1)) < 90  # the page's heap over the tool's 40 bytes a pixel
    # A lighter tool takes the same photo: the limit is the tool's, not the page's.
    assert "error" not in run_hook(page, flat_png(10_000, 9_000), {"format": "jpeg"}, tool="convert")
    assert run_hook(page, flat_png(64, 48), {}, tool="portrait-blur")["image"].size == (64, 48)

"""Tag's classical path: plain measurements, checked on images made to have them."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from darkroom.tools.tag import measure, tags_from
from helpers import run_tool


def page_of_text() -> np.ndarray:
    page = Image.new("RGB", (600, 800), (250, 250, 247))
    draw = ImageDraw.Draw(page)
    for y in range(60, 760, 28):
        draw.rectangle((60, y, 540, y + 10), fill=(40, 40, 40))
    return np.asarray(page)


def test_a_page_of_text_is_document_like_and_a_photo_is_not():
    from skimage import data

    assert measure(page_of_text())["document_like"] is True
    assert measure(data.astronaut())["document_like"] is False


def test_orientation_brightness_and_colours():
    halves = np.zeros((100, 300, 3), np.uint8)
    halves[:, :150] = (200, 40, 40)
    halves[:, 150:] = (50, 90, 200)
    m = measure(halves)
    assert m["orientation"] == "landscape"
    assert {c["name"] for c in m["colours"][:2]} == {"red", "blue"}
    assert all(abs(c["share"] - 0.5) < 0.05 for c in m["colours"][:2])
    assert measure(np.full((300, 100, 3), 10, np.uint8))["orientation"] == "portrait"
    assert tags_from(measure(np.full((100, 100, 3), 10, np.uint8)), 0)[:2] == ["square", "dark"]


def test_blur_reads_as_soft():
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    soft = np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(4)))
    assert "sharp" in tags_from(measure(noise), 0) and "soft" in tags_from(measure(soft), 0)


def test_tag_runs_classically_and_says_it_is_no_recogniser():
    from skimage import data

    result = run_tool("tag", data.astronaut(), {})
    p = result.provenance
    assert p.path == "classical" and "no AI model yet" in p.reason and "not a content recogniser" in p.method
    assert result.data["tags"][0] == "square" and len(result.data["faces"]) >= 1
    assert any(tag.endswith("face") or tag.endswith("faces") for tag in result.data["tags"])
    np.testing.assert_array_equal(result.pixels, data.astronaut())

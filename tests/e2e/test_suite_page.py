"""The suite in the real page: the tool list, and each new tool's run with its label."""

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from darkroom import imaging
from darkroom.runtime import CpuRuntime
from darkroom.tiling import tile_starts
from darkroom.tools import registry, upscale
from helpers import iou, jpeg_bytes, psnr, require_classical_in_page, run_tool
from pagekit import READ_RESULT, RUN_ENDED, open_tool, run_hook, run_in_page

pytestmark = pytest.mark.e2e

# Every progress message the page shows, collected as it changes.
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const text = document.querySelector('.progress-text');
  new MutationObserver(() => window.progressSeen.push(text.textContent))
    .observe(text, { childList: true, characterData: true, subtree: true });
}"""


def png_bytes(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def cpython(tool_id, pixels, params):
    """The same tool with onnxruntime on the CPU (in a thread: Playwright owns this one's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run_tool, tool_id, pixels, params, CpuRuntime()).result()


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


def test_every_tool_has_a_place_in_the_page(app):
    page, _ = app
    for tool in registry().values():
        page.get_by_test_id(f"tool-{tool.id}").click()
        assert page.locator(".tool-title").text_content() == tool.title
        assert page.get_by_test_id("run").text_content() == tool.title
        for param in tool.all_params():
            assert page.get_by_test_id(f"param-{param.name}").count() == 1, (tool.id, param.name)
    # The last tool chosen is remembered; a link can name one.
    page.reload()
    page.evaluate("window.darkroom.ready")
    assert page.locator(".tool-title").text_content() == list(registry().values())[-1].title
    page.goto(page.url.split("#")[0] + "#upscale")
    page.evaluate("window.darkroom.ready")
    page.wait_for_function("() => document.querySelector('.tool-title').textContent === 'Upscale'")


def test_upscale_in_the_page_tiles_with_progress_and_matches_cpython(app, tmp_path, astronaut):
    page, _ = app
    photo = np.ascontiguousarray(astronaut[100:340, 120:420])  # 300 x 240: several tiles
    path = tmp_path / "small.png"
    path.write_bytes(png_bytes(photo))
    page.get_by_test_id("tool-upscale").click()
    page.get_by_test_id("param-scale").select_option("2")
    page.get_by_test_id("file-input").set_input_files(str(path))
    page.evaluate(WATCH_PROGRESS)
    page.get_by_test_id("run").click()
    assert page.wait_for_function(RUN_ENDED).json_value() == "ok"

    provenance = json.loads(page.get_by_test_id("provenance").get_attribute("data-provenance"))
    # Headless Chromium's adapter is SwiftShader: the lite tier, whose x2 model is SPAN.
    assert (provenance["path"], provenance["model"], provenance["backend"]) == ("model", "span-x2", "wasm")
    assert provenance["output_size"] == [600, 480]
    assert page.get_by_test_id("provenance").text_content().startswith("AI model span-x2 on wasm")
    tiles = len(tile_starts(300, upscale.MODEL_TILE, upscale.MODEL_OVERLAP)) * len(
        tile_starts(240, upscale.MODEL_TILE, upscale.MODEL_OVERLAP))
    seen = page.evaluate("window.progressSeen")
    assert tiles > 1 and f"Upscale: part {tiles} of {tiles}" in seen and f"Upscale: part 1 of {tiles}" in seen

    result = np.asarray(Image.open(io.BytesIO(base64.b64decode(page.evaluate(READ_RESULT)))))
    reference = cpython("upscale", photo, {"scale": "2", "model": "span-x2"}).pixels
    difference = np.abs(result.astype(int) - reference)
    print(f"upscale page vs CPython: mean {difference.mean():.4f}, max {difference.max()}")
    assert difference.mean() < 0.05 and difference.max() <= 3


def test_find_faces_in_the_page_with_landmarks(app, astronaut):
    page, _ = app
    reply = run_hook(page, jpeg_bytes(astronaut), {}, tool="find-faces")
    provenance = reply["provenance"]
    assert (provenance["path"], provenance["model"], provenance["backend"]) == ("model", "blazeface-short", "wasm")
    (face,) = reply["data"]["faces"]
    reference = cpython("find-faces", imaging.decode(jpeg_bytes(astronaut)).pixels, {}).data["faces"][0]
    np.testing.assert_allclose(face["box"], reference["box"], atol=0.5)
    assert set(face["keypoints"]) == set(reference["keypoints"])


def test_find_faces_findings_are_shown(app, tmp_path, astronaut):
    page, _ = app
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(astronaut))
    page.get_by_test_id("tool-find-faces").click()
    page.get_by_test_id("file-input").set_input_files(str(path))
    page.get_by_test_id("run").click()
    assert page.wait_for_function(RUN_ENDED).json_value() == "ok"
    findings = page.get_by_test_id("findings")
    assert findings.text_content().startswith("Found 1 face: (")
    assert len(json.loads(findings.get_attribute("data-findings"))["faces"]) == 1


def test_portrait_on_the_lite_tier_runs_the_selfie_model(app, astronaut_photo):
    page, _ = app
    reply = run_hook(page, astronaut_photo, {"subject": "portrait", "output": "mask"})
    provenance = reply["provenance"]
    assert (provenance["model"], provenance["tier"], provenance["backend"]) == ("selfie-segmenter", "lite", "wasm")
    mask = np.asarray(reply["image"]) > 127
    assert mask[100:160, 195:255].all()  # the face is subject
    reference = cpython("remove-background", imaging.decode(astronaut_photo).pixels,
                        {"subject": "portrait", "output": "mask", "model": "selfie-segmenter"}).pixels > 127
    assert iou(mask, reference) > 0.99


def test_portrait_blur_in_the_page_uses_isnets_mask_for_depth_and_matches_cpython(app, astronaut_photo):
    page, _ = app
    reply = run_hook(page, astronaut_photo, {"strength": 1.0}, tool="portrait-blur")
    provenance = reply["provenance"]
    assert (provenance["model"], provenance["backend"]) == ("isnet-quint8", "wasm")
    assert "isnet-quint8's subject mask stands in for depth" in provenance["notes"][0]
    in_page = np.asarray(reply["image"].convert("RGB"), dtype=np.int16)
    reference = cpython("portrait-blur", imaging.decode(astronaut_photo).pixels,
                        {"strength": 1.0, "model": "isnet-quint8"}).pixels.astype(np.int16)
    assert np.abs(in_page - reference).mean() < 1.0  # same mask, same numpy blur


def test_tag_in_the_page_shows_its_measurements(app, site, astronaut):
    page, _ = app
    require_classical_in_page(page.evaluate("fetch('./build.json').then((r) => r.json())"))
    reply = run_hook(page, jpeg_bytes(astronaut), {}, tool="tag")
    assert reply["provenance"]["path"] == "classical" and "not a content recogniser" in reply["provenance"]["method"]
    reference = cpython("tag", imaging.decode(jpeg_bytes(astronaut)).pixels, {})
    assert reply["data"]["tags"] == reference.data["tags"]


@pytest.mark.parametrize("tool_id", ["denoise", "deblur"])
def test_restoration_without_its_optional_model_says_so(app, site, astronaut, tool_id):
    """Default builds leave the MAXIM models out: the label says so and names the method."""
    page, _ = app
    require_classical_in_page(page.evaluate("window.darkroom.ready.then((h) => h.build)"))
    clean = np.ascontiguousarray(astronaut[:256, :256])
    rng = np.random.default_rng(0)
    if tool_id == "denoise":
        damaged = np.clip(np.rint(clean + rng.normal(0, 20, clean.shape)), 0, 255).astype(np.uint8)
    else:
        damaged = np.clip(np.rint(ndimage.gaussian_filter(clean.astype(float), (2, 2, 0))), 0, 255).astype(np.uint8)
    reply = run_hook(page, png_bytes(damaged), {}, tool=tool_id)
    provenance = reply["provenance"]
    assert provenance["path"] == "classical" and provenance["backend"] == "python"
    assert f"No {tool_id} model for these settings is installed here." in provenance["reason"]
    method = "non-local means" if tool_id == "denoise" else "Richardson-Lucy"
    assert f"Classical fallback (scikit-image {method}" in provenance["label"]
    restored = np.asarray(reply["image"])
    print(f"{tool_id} in page: {psnr(damaged, clean):.2f} -> {psnr(restored, clean):.2f} dB")
    assert psnr(restored, clean) > psnr(damaged, clean) + 2


def test_tools_are_usable_before_python_starts_and_a_failed_start_says_so(browser, site, tmp_path, astronaut):
    """The picker comes from build.json, not from Python: with the service worker blocked
    (its registration never settles) and Pyodide's binary refused,
    the tools and their controls still appear and take a photo, and the page says that
    Darkroom could not start instead of waiting for ever."""
    context = browser.new_context(service_workers="block")  # so the route sees the worker's fetches
    context.route("**/pyodide.asm.wasm", lambda route: route.abort())
    page = context.new_page()
    page.goto(site + "#upscale")
    page.wait_for_function("() => document.querySelector('[data-testid=tool-upscale][aria-pressed=true]')")
    assert page.get_by_test_id("param-scale").count() == 1
    page.get_by_test_id("tool-denoise").click()
    assert page.locator(".tool-title").text_content() == "Denoise"
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(astronaut[:64, :64]))
    page.get_by_test_id("file-input").set_input_files(str(path))
    assert page.get_by_test_id("run").is_enabled()
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent === 'Failed to start'")
    assert page.get_by_test_id("error").text_content().startswith("Darkroom could not start")
    context.close()


def test_the_tools_are_listed_under_their_groups_with_the_flagship_first(app):
    from darkroom.tool import GROUPS

    page, _ = app
    groups = page.get_by_test_id("tool-group")
    headings = [groups.nth(i).locator("h3").text_content() for i in range(groups.count())]
    assert headings == [group for group in GROUPS if any(t.group == group for t in registry().values())]
    for i, group in enumerate(headings):
        listed = groups.nth(i).locator("button").evaluate_all("(buttons) => buttons.map((b) => b.dataset.tool)")
        assert sorted(listed) == sorted(t.id for t in registry().values() if t.group == group)
    first = groups.nth(0).locator("button").first
    assert first.get_attribute("data-tool") == "remove-background"


def test_convert_in_the_page_writes_the_chosen_format_and_shows_its_size(app, tmp_path, astronaut):
    page, _ = app
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(png_bytes(astronaut))
    open_tool(page, "convert", photo)
    page.get_by_test_id("param-format").select_option("webp")
    page.get_by_test_id("param-quality").fill("50")
    provenance, out, _ = run_in_page(page)
    assert provenance["label"].startswith("Classical (Pillow re-encoding as WebP at quality 50, not AI)")
    written = base64.b64decode(page.evaluate(READ_RESULT))
    assert Image.open(io.BytesIO(written)).format == "WEBP"
    assert psnr(out[..., :3], astronaut) > 28
    size = page.get_by_test_id("result-size").text_content()
    share = round(100 * len(written) / photo.stat().st_size)
    assert size.startswith("WebP, ") and f"({share} % of the original's" in size
    assert page.get_by_test_id("download").get_attribute("download") == "astronaut-convert.webp"
    assert page.get_by_test_id("download").text_content().startswith("Download WebP · ")

    # With a result shown, a new setting runs again by itself: the size follows the slider.
    page.get_by_test_id("param-quality").fill("10")
    page.wait_for_function("() => document.querySelector('[data-testid=provenance]')"
                           ".textContent.includes('quality 10')")
    smaller = base64.b64decode(page.evaluate(READ_RESULT))
    assert len(smaller) < 0.6 * len(written)
    assert page.get_by_test_id("result-size").text_content() != size

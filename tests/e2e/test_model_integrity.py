"""A model file that arrives altered or truncated is never run, and the good file is
used once the server serves it again."""

import json
import threading

import pytest

from darkroom import models
from helpers import require_classical_in_page
from pagekit import make_faulty_server, open_app, run_hook

pytestmark = pytest.mark.e2e
MODEL = "/models/isnet-quint8.onnx"
MODEL_BYTES = models.load_manifest()["isnet-quint8"].files[0].bytes


@pytest.fixture()
def faulty_site(site):
    from site_build.common import DIST

    require_classical_in_page(json.loads((DIST / "build.json").read_text()))
    server, faults, hits = make_faulty_server(DIST)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", faults, hits
    server.shutdown()


@pytest.mark.parametrize("fault, problem", [("flip", "failed sha256 verification"),
                                            ("truncate", f"is truncated ({MODEL_BYTES // 2} of {MODEL_BYTES} bytes)")])
def test_a_bad_model_download_is_rejected_then_the_good_file_is_used(browser, faulty_site, cat_photo, fault, problem):
    url, faults, hits = faulty_site
    faults[MODEL] = fault
    context = browser.new_context()
    page, log = open_app(context, url)
    rejected = run_hook(page, cat_photo, {"output": "mask"})["provenance"]
    assert rejected["path"] == "classical", rejected
    assert f"isnet-quint8.onnx {problem} twice; it was discarded and not run" in rejected["reason"]
    assert "Ran the classical fallback instead" in rejected["label"]
    assert hits[MODEL] >= 2, "one automatic retry"

    faults.clear()
    fixed = run_hook(page, cat_photo, {"output": "mask"})["provenance"]
    assert (fixed["path"], fixed["model"], fixed["backend"]) == ("model", "isnet-quint8", "wasm"), fixed
    context.close()
    assert not log.errors, log.errors


def test_works_offline_after_the_first_visit(browser, site, cat_photo):
    context = browser.new_context()
    page, log = open_app(context, site)
    online = run_hook(page, cat_photo, {"output": "mask"})["provenance"]
    assert online["path"] == "model", online

    context.set_offline(True)
    page.reload()
    page.evaluate("window.darkroom.ready")
    offline = run_hook(page, cat_photo, {"output": "mask"})["provenance"]
    assert (offline["path"], offline["model"], offline["backend"]) == ("model", online["model"], "wasm"), offline
    context.close()
    assert log.foreign(site) == [], log.foreign(site)
    assert not log.errors, log.errors


def test_storage_panel_lists_deletes_and_prunes_models(app, cat_photo):
    page, _ = app
    page.get_by_text("Storage", exact=True).click()
    model = page.locator("[data-testid=storage-models] li[data-model='isnet-quint8.onnx']")
    model.wait_for()  # the default model is fetched right after boot
    assert "42.3 MB" in model.inner_text()
    assert "Storage is" in page.get_by_test_id("storage-summary").inner_text()

    model.get_by_role("button", name="Delete").click()
    page.get_by_text("No models downloaded yet.").wait_for()
    # The session already in memory keeps working; the file is gone from storage.
    assert run_hook(page, cat_photo, {"output": "mask"})["provenance"]["path"] == "model"

    # A file the current manifest no longer lists (an older release's) is dropped at boot,
    # and the deleted model is downloaded (and verified) again by the next visit.
    page.evaluate("""async () => (await caches.open('darkroom-models-v1'))
        .put('./models/isnet-old.onnx?sha256=' + '0'.repeat(64),
             new Response('old', {headers: {'content-length': '3'}}))""")
    page.reload()
    page.evaluate("window.darkroom.ready")
    page.get_by_text("Storage", exact=True).click()
    page.locator("[data-testid=storage-models] li[data-model='isnet-quint8.onnx']").wait_for()
    names = page.evaluate("""async () => (await (await caches.open('darkroom-models-v1')).keys())
        .map((r) => new URL(r.url).pathname.split('/').pop())""")
    assert names == ["isnet-quint8.onnx"], names


def test_a_broken_connection_resumes_where_it_stopped(browser, faulty_site, cat_photo):
    url, faults, hits = faulty_site
    faults[MODEL] = "drop"
    context = browser.new_context()
    page, log = open_app(context, url)
    provenance = run_hook(page, cat_photo, {"output": "mask"})["provenance"]
    assert (provenance["path"], provenance["model"]) == ("model", "isnet-quint8"), provenance
    assert hits[MODEL + " range"] == 1, "the second half came by a ranged request, not a new download"
    assert hits[MODEL] == 2
    context.close()
    assert not log.errors, log.errors


def test_python_starts_from_its_verified_snapshot_and_without_an_altered_one(browser, faulty_site, cat_photo):
    from site_build.common import DIST

    url, faults, _ = faulty_site
    snapshot = json.loads((DIST / "build.json").read_text())["pythonSnapshot"]
    context = browser.new_context()
    page, log = open_app(context, url)
    assert page.evaluate("window.darkroom.ready")["timings"]["snapshot"] == "used"
    context.close()

    faults[snapshot["url"].lstrip(".")] = "flip"
    context = browser.new_context()
    page, log = open_app(context, url)
    assert page.evaluate("window.darkroom.ready")["timings"]["snapshot"] == "not used"
    reply = run_hook(page, cat_photo, {"output": "mask"})
    assert reply["provenance"]["path"] == "model", reply
    context.close()
    assert not log.errors, log.errors

"""A model file that arrives altered or truncated is never run, and the good file is
used once the server serves it again."""

import json
import threading

import pytest

from helpers import require_classical_in_page
from pagekit import make_faulty_server, open_app, run_hook

pytestmark = pytest.mark.e2e
MODEL = "/models/isnet-quint8.onnx"


@pytest.fixture()
def faulty_site(site):
    import build

    require_classical_in_page(json.loads((build.DIST / "build.json").read_text()))
    server, faults, hits = make_faulty_server(build.DIST)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", faults, hits
    server.shutdown()


@pytest.mark.parametrize("fault, problem", [("flip", "failed sha256 verification"),
                                            ("truncate", "is truncated (22171218 of 44342436 bytes)")])
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

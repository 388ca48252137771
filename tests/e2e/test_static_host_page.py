"""dist/ on a plain static host (Python's http.server, no headers at all): the service
worker brings cross-origin isolation and the Content-Security-Policy, after at most one
reload, and the app works as under the dev server, offline too."""

import threading

import numpy as np
import pytest

from helpers import iou
from pagekit import main_frame_loads, make_plain_server, open_app, run_hook

pytestmark = pytest.mark.e2e


def start(directory):
    server = make_plain_server(directory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def plain_site(site):
    """dist/ (built by ``site``) served with no extra headers; yields its base URL."""
    from site_build.common import DIST

    server = start(DIST)
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """Another origin (another port) with a file the app must never reach; yields its URL."""
    root = tmp_path_factory.mktemp("elsewhere")
    (root / "x.txt").write_text("sent")
    server = start(root)
    yield f"http://127.0.0.1:{server.server_address[1]}/x.txt"
    server.shutdown()


@pytest.fixture(scope="module")
def plain_app(browser, plain_site):
    """The app on the plain host in a fresh context: (page, PageLog, main-frame loads)."""
    context = browser.new_context()
    loads = main_frame_loads(context)
    page, log = open_app(context, plain_site)
    yield page, log, loads
    context.close()


# The "This device" panel as {term: definition}.
PROBE_PANEL = """() => Object.fromEntries([...document.querySelectorAll('[data-testid=probe] dt')]
  .map((term) => [term.textContent, term.nextElementSibling.textContent]))"""

# Sends a no-cors fetch to `url` from this global scope (page or worker): whether it was
# sent or blocked, and the blocked URI of the securitypolicyviolation event it raised.
TRY_TO_SEND = """async (url) => {
  const violation = new Promise((resolve) => {
    self.addEventListener('securitypolicyviolation', (e) => resolve(e.blockedURI), { once: true });
    setTimeout(() => resolve(null), 5000);
  });
  const outcome = await fetch(url, { mode: 'no-cors', cache: 'no-store' }).then(() => 'sent', () => 'blocked');
  return { outcome, violation: await violation };
}"""


def test_isolated_with_wasm_threads_after_at_most_one_reload(plain_app):
    page, log, loads = plain_app
    # Without headers the first load cannot be isolated: exactly one reload, then no loop.
    assert len(loads) == 2, f"the page loaded {len(loads)} times: {loads}"
    assert page.evaluate("self.crossOriginIsolated") is True
    probe = page.evaluate("window.darkroom.probe()")  # made in the Python worker
    assert probe["crossOriginIsolated"] is True
    assert probe["wasm"]["threads"] is True and probe["wasm"]["numThreads"] > 1, probe["wasm"]
    reasons = page.evaluate("window.darkroom.tier()")["reasons"]
    assert not any("not cross-origin isolated" in reason for reason in reasons), reasons
    panel = page.evaluate(PROBE_PANEL)
    assert panel["cross-origin isolated"] == "yes" and panel["WASM"].endswith(f"{probe['wasm']['numThreads']} threads")
    assert not log.errors, log.errors


def test_the_policy_blocks_other_origins_from_the_page_and_the_python_worker(plain_app, elsewhere):
    page, log, _ = plain_app
    python_worker = next(w for w in page.workers if w.url.endswith("/worker.js"))
    assert python_worker.evaluate("self.crossOriginIsolated") is True
    for where in (page, python_worker):
        reply = where.evaluate(TRY_TO_SEND, elsewhere)
        assert reply == {"outcome": "blocked", "violation": elsewhere}, (where, reply)
    assert [url for url in log.urls if url.startswith(elsewhere)] == []
    log.errors[:] = [e for e in log.errors if "Content Security Policy" not in e]
    assert not log.errors, log.errors


def test_background_removal_matches_the_dev_server(plain_app, app, astronaut_photo):
    plain = run_hook(plain_app[0], astronaut_photo, {})
    dev = run_hook(app[0], astronaut_photo, {})
    for reply in (plain, dev):
        assert "image" in reply, reply.get("error")
        assert reply["provenance"]["path"] == "model" and reply["provenance"]["backend"] == "wasm"
    assert plain["provenance"]["model"] == dev["provenance"]["model"]
    agreement = iou(np.asarray(plain["image"])[..., 3] >= 128, np.asarray(dev["image"])[..., 3] >= 128)
    assert agreement >= 0.999, f"plain host vs dev server mask IoU {agreement:.4f}"


def test_offline_reload_still_works_isolated(plain_app):
    page, log, _ = plain_app
    page.context.set_offline(True)
    try:
        page.reload()
        page.wait_for_function("() => window.darkroom !== undefined")
        page.evaluate("window.darkroom.ready")
        assert page.evaluate("self.crossOriginIsolated") is True  # the cached responses got the headers
    finally:
        page.context.set_offline(False)
    assert not log.errors, log.errors


def test_without_a_service_worker_it_runs_on_one_thread_and_says_why(browser, plain_site):
    context = browser.new_context(service_workers="block")
    try:
        page, log = open_app(context, plain_site)
        probe = page.evaluate("window.darkroom.probe()")
        assert (probe["crossOriginIsolated"], probe["wasm"]["numThreads"]) == (False, 1)
        reasons = page.evaluate("window.darkroom.tier()")["reasons"]
        assert reasons[0] == ("WASM on 1 thread: this page is not cross-origin isolated "
                              "(the host sends no COOP/COEP)."), reasons
        assert page.evaluate(PROBE_PANEL)["cross-origin isolated"] == "no"
        assert not log.errors, log.errors
    finally:
        context.close()

"""Failures in the middle of work, reloads, and what leaves the page.

Faults are injected through ``window.darkroom.injectFault`` (bridge.js): a model load
or an inference that fails the way a real one does, or a worker that dies in the middle
of an inference. The page must keep the photo and earlier results, say what happened,
and offer a way on.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from corpus import photo, save
from pagekit import RUN_ENDED, open_app, run_hook

pytestmark = pytest.mark.e2e

PHOTO = save(Image.fromarray(photo(96, 128)), "JPEG")


def provenance_of(page) -> dict:
    return json.loads(page.get_by_test_id("provenance").get_attribute("data-provenance"))


def run_in_ui(page) -> str:
    """Clicks the run button and waits for the run to end: "ok" or the error text."""
    page.evaluate("document.querySelector('.result').hidden = true;"
                  " document.querySelector('[data-testid=error]').hidden = true")
    page.get_by_test_id("run").click()
    return page.wait_for_function(RUN_ENDED).json_value()


def pick_photo(page, tmp_path, name="family.jpg") -> None:
    path = tmp_path / name
    path.write_bytes(PHOTO)
    page.get_by_test_id("file-input").set_input_files(str(path))


def test_model_load_and_inference_failures_fall_back_then_recover(app):
    page, _ = app
    page.evaluate("window.darkroom.injectFault('load', 'blazeface-short')")
    reply = run_hook(page, PHOTO, {}, tool="find-faces")
    assert reply["provenance"]["path"] == "classical"
    assert "injected fault: the session could not be created" in reply["provenance"]["reason"]
    assert "classical" in reply["provenance"]["label"].lower()
    # The failure is not remembered: the next run loads the model.
    assert run_hook(page, PHOTO, {}, tool="find-faces")["provenance"]["path"] == "model"

    page.evaluate("window.darkroom.injectFault('infer', 'blazeface-short')")
    reply = run_hook(page, PHOTO, {}, tool="find-faces")
    assert reply["provenance"]["path"] == "classical"
    assert "injected fault: inference failed" in reply["provenance"]["reason"]
    assert run_hook(page, PHOTO, {}, tool="find-faces")["provenance"]["path"] == "model"


def test_onnxruntime_out_of_memory_falls_back_and_the_next_run_has_the_model_again(app):
    """onnxruntime-web's WebAssembly aborts when a memory grow fails, and stays unusable;
    the injected abort leaves the model worker the same way, so only its replacement
    lets the next run use the model again, with the Python worker untouched."""
    page, _ = app
    page.evaluate("window.darkroom.injectFault('abort', 'blazeface-short')")
    reply = run_hook(page, PHOTO, {}, tool="find-faces")
    assert reply["provenance"]["path"] == "classical"
    assert "onnxruntime-web ran out of memory running blazeface-short" in reply["provenance"]["reason"]
    assert "its worker was replaced" in reply["provenance"]["reason"]
    again = run_hook(page, PHOTO, {}, tool="find-faces")["provenance"]
    assert (again["path"], again["model"], again["reason"]) == ("model", "blazeface-short", None)
    assert "Restarting" not in page.get_by_test_id("status").inner_text()


def test_worker_crash_mid_run_keeps_the_work_and_retry_succeeds(app, tmp_path):
    page, log = app
    page.get_by_test_id("tool-find-faces").click()
    pick_photo(page, tmp_path)
    assert run_in_ui(page) == "ok"
    first_result = page.get_by_test_id("result-image").get_attribute("src")

    page.evaluate("window.darkroom.injectFault('crash', 'blazeface-short')")
    page.get_by_test_id("run").click()
    error = page.get_by_test_id("error")
    error.wait_for(state="visible")
    assert "The processing worker stopped" in error.inner_text() and "restarted" in error.inner_text()
    # The photo and the earlier result are still on screen, and there is a way on.
    assert page.locator(".before").get_attribute("src").startswith("blob:")
    assert page.locator(".result").is_visible()
    assert page.get_by_test_id("result-image").get_attribute("src") == first_result
    assert page.get_by_test_id("retry").is_visible() and page.get_by_test_id("retry-classical").is_visible()

    page.get_by_test_id("retry").click()
    page.wait_for_function("() => document.querySelector('[data-testid=error]').hidden")
    assert page.wait_for_function(RUN_ENDED).json_value() == "ok"
    assert provenance_of(page)["path"] == "model"
    # The crash itself reached the console; that one was provoked on purpose.
    log.errors[:] = [e for e in log.errors if "injected crash" not in e]


def test_retry_with_the_classical_path(app, tmp_path):
    page, log = app
    page.get_by_test_id("tool-find-faces").click()
    pick_photo(page, tmp_path)
    page.evaluate("window.darkroom.injectFault('crash', 'blazeface-short')")
    page.get_by_test_id("run").click()
    page.get_by_test_id("retry-classical").wait_for(state="visible")
    page.get_by_test_id("retry-classical").click()
    page.wait_for_function("() => document.querySelector('[data-testid=error]').hidden")
    assert page.wait_for_function(RUN_ENDED).json_value() == "ok"
    assert provenance_of(page)["path"] == "classical"
    log.errors[:] = [e for e in log.errors if "injected crash" not in e]


def test_reload_restores_the_photo_and_result_until_cleared(browser, site, tmp_path):
    context = browser.new_context()
    try:
        page, log = open_app(context, site)
        page.get_by_test_id("tool-find-faces").click()
        pick_photo(page, tmp_path, "holiday.jpg")
        assert run_in_ui(page) == "ok"
        label = page.get_by_test_id("provenance").inner_text()

        page.reload()
        page.wait_for_function("() => !document.querySelector('.result').hidden")
        assert page.get_by_test_id("provenance").inner_text() == label
        assert page.locator(".dims").inner_text().startswith("holiday.jpg")
        assert page.get_by_test_id("tool-find-faces").get_attribute("aria-pressed") == "true"
        assert page.evaluate("document.querySelector('[data-testid=result-image]').naturalWidth") == 128
        # The restored photo runs again as any photo does.
        assert run_in_ui(page) == "ok"

        page.get_by_test_id("clear").click()
        assert not page.locator(".compare").is_visible()
        page.reload()
        page.wait_for_function("() => window.darkroom !== undefined")
        page.evaluate("window.darkroom.ready")
        assert not page.locator(".compare").is_visible() and not page.locator(".result").is_visible()
        assert not log.errors, log.errors
    finally:
        context.close()


SAVED_PHOTO = """() => new Promise((resolve) => {
  const opened = indexedDB.open("darkroom");
  opened.onsuccess = () => {
    const read = opened.result.transaction("work").objectStore("work").get("input");
    read.onsuccess = () => { opened.result.close(); resolve(read.result !== undefined); };
  };
})"""


def test_a_clear_cut_short_by_a_reload_still_clears(browser, site, tmp_path):
    """A reload aborts an IndexedDB transaction that has not committed; a Clear it cut
    short must not bring the photo back."""
    context = browser.new_context()
    try:
        page, log = open_app(context, site)
        pick_photo(page, tmp_path, "holiday.jpg")
        page.wait_for_function(SAVED_PHOTO)
        # What the reload would do to the clear's transaction, made certain.
        page.evaluate("() => { IDBObjectStore.prototype.clear = function () { this.transaction.abort(); }; }")
        page.get_by_test_id("clear").click()
        page.reload()
        page.wait_for_function("() => window.darkroom !== undefined")
        page.evaluate("window.darkroom.ready")
        assert not page.locator(".compare").is_visible()
        assert not page.evaluate(SAVED_PHOTO)
    finally:
        context.close()


def test_nothing_leaves_the_page(app, site, tmp_path, cat_photo):
    """Every request a full session makes (boot, model download, runs, a download of the
    result) goes to this origin, is a GET or HEAD, and carries no body."""
    page, log = app
    path = tmp_path / "cat.jpg"
    path.write_bytes(cat_photo)
    page.get_by_test_id("file-input").set_input_files(str(path))
    assert run_in_ui(page) == "ok"
    with page.expect_download() as download:
        page.get_by_test_id("download").click()
    assert download.value.path().stat().st_size > 0
    assert log.sent, "no requests were recorded at all"
    assert log.foreign(site) == [], log.foreign(site)
    assert log.uploads() == [], log.uploads()


@pytest.mark.parametrize("models, tier", [("{not json", "ultra"), ('{"an": "object"}', ""), ("[null, 3]", "auto")],
                         ids=["garbled", "not-a-list", "bad-entries"])
def test_damaged_saved_settings_do_not_break_the_page(browser, site, tmp_path, models, tier):
    """What an older version or a hand edit left in localStorage is ignored: the controls
    are built, the tier works and a run succeeds."""
    context = browser.new_context()
    context.add_init_script(f"""localStorage.setItem("darkroom.userModels", {json.dumps(models)});
      {f'localStorage.setItem("darkroom.tier", {json.dumps(tier)});' if tier else ''}""")
    page, log = open_app(context, site)
    page.wait_for_function("() => document.querySelector('[data-testid=param-model]')")
    assert page.evaluate("window.darkroom.tier()")["name"] == "lite"
    pick_photo(page, tmp_path)
    assert run_in_ui(page) == "ok"
    assert provenance_of(page)["path"] == "model"
    context.close()
    assert not log.errors, log.errors


# Before the page's own scripts: every call of `op` the page makes to the Python worker
# fails inside the worker (the worker knows no such operation), and promise rejections
# nobody handled are recorded.
FAIL_CALLS = """(op) => {
  window.unhandledRejections = [];
  window.addEventListener("unhandledrejection", (event) => window.unhandledRejections.push(String(event.reason)));
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, transfer) {
    return post.call(this, message?.op === op ? { ...message, op: `${op} (made to fail)` } : message, transfer);
  };
}"""

# One of the user's own models, as the page keeps it: registered with the worker at start.
SAVED_MODEL = [{"tool": "remove-background", "slot": "model", "id": "user:mine@0123456789ab", "name": "mine.onnx",
                "files": []}]


def delete_a_model(page) -> None:
    """Runs a tool (which downloads its model), then deletes that model under Storage."""
    reply = run_hook(page, PHOTO, {}, tool="find-faces")
    assert reply.get("provenance", {}).get("path") == "model", reply
    page.locator(".storage-details summary").click()
    page.locator("[data-testid=storage-models] button").first.click()


@pytest.mark.parametrize("op, action, message", [
    ("tier", None, "Darkroom could not read the tier: "),
    ("storage", None, "Darkroom could not read the storage: "),
    ("registerUserModels", None, "Darkroom could not register your own models: "),
    ("deleteModels", delete_a_model, "Darkroom could not delete models: "),
])
def test_a_failed_call_is_reported_not_left_unhandled(browser, site, op, action, message):
    """Calls the page makes outside a run (the tier, the storage, the user's models)
    can fail like any other: each failure says so in the page, and the page goes on."""
    context = browser.new_context()
    if op == "registerUserModels":
        context.add_init_script(f"localStorage.setItem('darkroom.userModels', {json.dumps(json.dumps(SAVED_MODEL))})")
    context.add_init_script(f"({FAIL_CALLS})({json.dumps(op)})")
    try:
        page, log = open_app(context, site)
        if action:
            action(page)
        # Either way, this ends once the failure is out: unhandled, or said.
        page.wait_for_function("() => window.unhandledRejections.length"
                               " || !document.querySelector('[data-testid=error]').hidden")
        assert page.evaluate("window.unhandledRejections") == []
        assert page.get_by_test_id("error").inner_text().startswith(message)
        assert run_hook(page, PHOTO, {}, tool="find-faces")["provenance"]["path"] == "model"
        # The worker's own report of the failure reached the console; it was provoked on purpose.
        assert not [e for e in log.errors if "is not a function" not in e], log.errors
    finally:
        context.close()

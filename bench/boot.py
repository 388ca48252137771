"""Benchmark: how fast the page boots, on a cold cache and on a warm (service-worker) one.

    .venv/bin/python bench/boot.py [--runs 5] [--no-build]

Each run opens the built site in a fresh headless Chromium context (empty HTTP cache,
no service worker: the cold visit), waits until it is interactive and the model
warm-up that the page starts on its own has finished, runs one classical tool, then
closes the tab and opens the site again in a new tab of the same context (the warm
visit: the service worker controls the page from its first request and its caches
hold every file the Python worker fetched) and does the same. Prints the median of
each stage over the runs, in ms since navigation start (``performance.now()`` of the
page), and the bytes the server sent until ``window.darkroom.ready`` (model files
apart), for the model warm-up and for the classical run. A benchmark, not a test: it
prints numbers and asserts nothing.

Stages, all read from signals the page already has:

first paint, first contentful paint
    ``PerformancePaintTiming``.
drop zone wired
    ``domContentLoadedEventEnd``: app.js is a module script, so it has run by then,
    and its ``wireInput()`` makes the file input, the drop zone and paste accept a
    photo from the start.
service worker controls the page
    ``controllerchange`` (cold) or a controller at document creation (warm). app.js
    starts the Python worker only after this, so that the first visit's downloads
    land in the service worker's cache.
Python worker created
    The page's ``new Worker(...)`` call, seen through a wrapped ``Worker`` constructor.
worker scripts loaded
    Derived: ``ready`` minus the worker's own ``timings.totalMs``, i.e. when its
    ``boot()`` started, after importing pyodide.mjs and bridge.js (which starts the
    model worker with onnxruntime-web).
runtime downloaded
    The worker's ``progress`` event of stage ``python``: its byte-counted prefetch of
    ``build.json``'s ``bootFiles.core`` (what ``loadPyodide`` reads; files already in
    the service worker's cache are skipped) has ended. numpy, Pillow and the app
    archive download after it, while Pyodide starts.
Pyodide ready
    The first ``progress`` event of stage ``packages``, posted right after
    ``loadPyodide()`` resolves.
numpy + Pillow + darkroom ready
    The worker's reply to ``hello``, which resolves ``window.darkroom.ready``.
interactive
    The tool picker holds a chosen tool (a ``[data-testid=tools]`` button with
    ``aria-pressed=true``): from then on a tool can be picked, its controls set and a
    dropped photo run. app.js builds the picker from ``build.json``'s catalog, without
    Python; a run started before ``ready`` waits for it, showing the boot's progress.
default tool's model loaded
    The worker's reply to the ``warm`` call that choosing the tool makes: its model
    downloaded (cold) or read from Cache Storage (warm), verified, session created.

Worker messages are timed when the page receives them, on the page's clock, so the
worker's own clock (another ``timeOrigin``) needs no conversion; the page's main thread
is idle while the worker boots, so the delivery delay is well under a millisecond.

The classical run (``window.darkroom.run('denoise', photo, {classical: true})`` on a
256 x 256 noisy photo) reports ``provenance.timings_ms.packages``: loading scipy and
scikit-image into Pyodide, which the page does on the first classical run only.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import statistics
import sys
import threading
from functools import partial
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import build  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from site_build.common import DIST  # noqa: E402
from site_build.server import Handler  # noqa: E402

TIMEOUT_MS = 600_000
# The page downloads and loads the default tool's model once it is interactive; the
# warm visit and the classical run wait for that, so neither competes with it.
WARM_UP_TIMEOUT_MS = 300_000

# Runs in every page before its own scripts (a CDP-injected script: the page's CSP does
# not apply). Records the first time of each boot stage in window.__darkroomBoot.
RECORDER = """(() => {
  const boot = { stages: {}, timings: null, controllerAtStart: false };
  window.__darkroomBoot = boot;
  const mark = (name) => { if (!(name in boot.stages)) boot.stages[name] = performance.now(); };
  if (navigator.serviceWorker) {
    boot.controllerAtStart = Boolean(navigator.serviceWorker.controller);
    if (boot.controllerAtStart) mark('sw-controls');
    navigator.serviceWorker.addEventListener('controllerchange', () => mark('sw-controls'));
  }
  // Requests are remembered by id to tell which reply answers which op. Listeners
  // added in the constructor run before app.js's onmessage handler.
  const ops = new Map();
  const PageWorker = window.Worker;
  window.Worker = class extends PageWorker {
    constructor(...args) {
      super(...args);
      mark('worker-created');
      this.addEventListener('message', ({ data }) => {
        if (data.type === 'progress') return mark(`progress:${data.stage}`);
        const op = ops.get(data.id);
        if (op === 'hello' && data.ok) {
          mark('ready');
          boot.timings = data.value.timings;
        }
        if (op === 'warm') mark('warmed');
      });
    }
    postMessage(message, ...rest) {
      if (message && message.op) ops.set(message.id, message.op);
      return super.postMessage(message, ...rest);
    }
  };
  const observer = new MutationObserver(() => {
    if (document.querySelector('[data-testid=tools] button[aria-pressed=true]')) {
      mark('interactive');
      observer.disconnect();
    }
  });
  observer.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-pressed'] });
})()"""

READ_BOOT = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
  return { ...window.__darkroomBoot, paint, domContentLoaded: nav.domContentLoadedEventEnd };
}"""

# Interactive, or the page gave up (its error box shows why).
INTERACTIVE_OR_FAILED = """() => window.__darkroomBoot.stages.interactive !== undefined
  || document.querySelector('[data-testid=error]')?.hidden === false"""
FAILURE = "() => document.querySelector('[data-testid=error]').textContent"
READY_OR_FAILED = """() => window.__darkroomBoot.stages.ready !== undefined
  || document.querySelector('[data-testid=error]')?.hidden === false"""

# The worker answered the page's "warm" call (the model download and session creation).
WARMED_UP = "() => window.__darkroomBoot.stages.warmed !== undefined"

CLASSICAL_RUN = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const started = performance.now();
  try {
    const { provenance } = await window.darkroom.run('denoise', new Blob([bytes]), { classical: true });
    return { wallMs: performance.now() - started, timings: provenance.timings_ms };
  } catch (err) { return { error: err.message }; }
}"""

# (label, how to read it from a visit's record); None when the visit lacks the signal.
STAGES = [
    ("first paint", lambda v: v["paint"].get("first-paint")),
    ("first contentful paint", lambda v: v["paint"].get("first-contentful-paint")),
    ("drop zone wired (DOMContentLoaded)", lambda v: v["domContentLoaded"]),
    ("service worker controls the page", lambda v: v["stages"].get("sw-controls")),
    ("Python worker created", lambda v: v["stages"].get("worker-created")),
    ("worker scripts loaded (boot() starts)", lambda v: v["stages"]["ready"] - v["timings"]["totalMs"]),
    ("runtime downloaded (prefetch done)", lambda v: v["stages"].get("progress:python")),
    ("Pyodide ready", lambda v: v["stages"].get("progress:packages")),
    ("numpy + Pillow + darkroom ready", lambda v: v["stages"].get("ready")),
    ("interactive (tool picker built)", lambda v: v["stages"].get("interactive")),
    ("default tool's model loaded (warm-up)", lambda v: v["stages"].get("warmed")),
]

# The worker's own durations from hello.timings (its clock, from boot() start).
WORKER_TIMINGS = [
    ("build.json + prefetch + loadPyodide", "pyodideMs"),
    ("loadPackage numpy, Pillow", "packagesMs"),
    ("app archive, bridge, import darkroom", "appMs"),
    ("total", "totalMs"),
]


class ByteCounter:
    """Bytes of response bodies the server sent (200/206, not 304s) and requests answered,
    kept apart for model files (``.onnx``) and everything else.

    The page starts downloading its default model in the very task that makes it
    interactive, before this script can read the counter, so model bytes are told
    apart by path rather than by time.
    """

    def __init__(self) -> None:
        self._counts = self._zero()
        self._lock = threading.Lock()

    @staticmethod
    def _zero() -> dict[str, int]:
        return {"bytes": 0, "requests": 0, "model_bytes": 0}

    def add(self, path: str, nbytes: int = 0, requests: int = 0) -> None:
        with self._lock:
            self._counts["model_bytes" if path.split("?")[0].endswith(".onnx") else "bytes"] += nbytes
            self._counts["requests"] += requests

    def take(self) -> dict[str, int]:
        """The counts since the last call."""
        with self._lock:
            taken, self._counts = self._counts, self._zero()
        return taken


def counting_server(root: Path, counter: ByteCounter) -> http.server.ThreadingHTTPServer:
    """The dev server (``site_build.server``) for ``root``, also counting what it sends into ``counter``.

    Counting at the server sees every request of the page, its workers and its service
    worker alike, and only what really crossed the network.
    """

    class CountingHandler(Handler):
        def send_response(self, code, message=None):
            counter.add(self.path, requests=1)
            super().send_response(code, message)

        def send_header(self, keyword, value):
            if keyword.lower() == "content-length":
                counter.add(self.path, nbytes=int(value))
            super().send_header(keyword, value)

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(CountingHandler, directory=str(root)))


def noisy_photo(side: int = 256) -> str:
    """A small noisy gradient as base64 JPEG: noise, so the denoiser has work to do."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(40, 215, side, dtype=np.float32)
    rgb = np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1), np.full((side, side), 128.0)], -1)
    rgb = np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    out = BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=92)
    return base64.b64encode(out.getvalue()).decode()


def visit(context, url: str, counter: ByteCounter, photo: str, errors: list[str]) -> dict:
    """Open ``url`` in a new tab of ``context``, as a user would; returns the boot
    record plus bytes, requests and the first classical run, then closes the tab."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    counter.take()
    page.goto(url)
    page.wait_for_function(INTERACTIVE_OR_FAILED, polling=100)
    if "interactive" not in page.evaluate(READ_BOOT)["stages"]:
        raise RuntimeError(f"the page did not start: {page.evaluate(FAILURE)}")
    # Interactive comes before Python is ready (the picker is built from build.json).
    page.wait_for_function(READY_OR_FAILED, polling=100)
    record = page.evaluate(READ_BOOT)
    if record["timings"] is None:
        raise RuntimeError(f"Python did not start: {page.evaluate(FAILURE)}")
    boot = counter.take()
    record["bytes"], record["requests"] = boot["bytes"], boot["requests"]
    try:
        page.wait_for_function(WARMED_UP, timeout=WARM_UP_TIMEOUT_MS, polling=250)
    except Exception:  # noqa: BLE001  (a hung download: measure on, and say so)
        errors.append("the model warm-up did not end in time; measured on regardless")
    record["stages"]["warmed"] = page.evaluate("() => window.__darkroomBoot.stages.warmed")
    warm_up = counter.take()
    record["warm_up_bytes"] = boot["model_bytes"] + warm_up["model_bytes"] + warm_up["bytes"]
    record["classical"] = page.evaluate(CLASSICAL_RUN, photo)
    classical = counter.take()
    record["classical_bytes"] = classical["bytes"] + classical["model_bytes"]
    page.close()
    return record


def bench_run(browser, url: str, counter: ByteCounter, photo: str, errors: list[str]) -> tuple[dict, dict]:
    """One cold visit in a fresh context, then one warm visit in the same context."""
    context = browser.new_context()
    context.add_init_script(RECORDER)
    cold = visit(context, url, counter, photo, errors)
    warm = visit(context, url, counter, photo, errors)
    context.close()
    return cold, warm


def median(values) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def cell(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    return "—" if value is None else f"{value / scale:,.{digits}f}"


def classical_ms(record: dict, key: str) -> float | None:
    run = record["classical"]
    if "error" in run:
        return None
    return run["wallMs"] if key == "wall" else run["timings"].get(key)


def _safe(pick, record: dict) -> float | None:
    try:
        return pick(record)
    except (KeyError, TypeError):
        return None


def report(cold: list[dict], warm: list[dict], url: str) -> None:
    """Prints the stage table, bytes and the classical run, medians over the runs."""
    def row(label: str, pick, scale: float = 1.0, digits: int = 0) -> None:
        print(f"{label} | {cell(median(pick(r) for r in cold), scale, digits)} | "
              f"{cell(median(pick(r) for r in warm), scale, digits)}")

    print(f"\nboot of {url}, median of {len(cold)} runs, ms since navigation start")
    print("(cold: fresh context, no cache, no service worker; warm: second visit, service worker controlling)")
    print("stage | cold median ms | warm median ms")
    for label, pick in STAGES:
        row(label, lambda r, pick=pick: _safe(pick, r))
    print("\nsent by the server | cold median | warm median")
    row("MB until ready (model files excluded)", lambda r: r["bytes"], 2**20, 1)
    row("requests until ready (304s included)", lambda r: r["requests"])
    row("MB for the default tool's model warm-up", lambda r: r["warm_up_bytes"], 2**20, 1)
    row("MB for the first classical run", lambda r: r["classical_bytes"], 2**20, 1)
    print("\ninside the worker (its hello.timings) | cold median ms | warm median ms")
    for label, key in WORKER_TIMINGS:
        row(label, lambda r, key=key: r["timings"][key])
    print("\nfirst classical run (denoise, 256 x 256) | cold median ms | warm median ms")
    row("load scipy + scikit-image (timings_ms.packages)", lambda r: classical_ms(r, "packages"))
    row("classical phase (scikit-image imports + work)", lambda r: classical_ms(r, "classical"))
    row("whole run (page wall time)", lambda r: classical_ms(r, "wall"))
    uncontrolled = sum(not r["controllerAtStart"] for r in warm)
    if uncontrolled:
        print(f"\nnote: {uncontrolled} of {len(warm)} warm visits started without a service worker controller")
    for record in cold + warm:
        if "error" in record["classical"]:
            print(f"note: a classical run failed: {record['classical']['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold + warm visit pairs (default 5)")
    parser.add_argument("--no-build", action="store_true", help="serve dist/ as it is")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if not args.no_build:
        build.build()
    counter = ByteCounter()
    server = counting_server(DIST, counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    photo, errors, cold, warm = noisy_photo(), [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.runs):
            first, second = bench_run(browser, url, counter, photo, errors)
            cold.append(first)
            warm.append(second)
        browser.close()
    server.shutdown()
    report(cold, warm, url)
    for error in dict.fromkeys(errors):
        print(f"page error: {error}")


if __name__ == "__main__":
    main()

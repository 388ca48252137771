"""Benchmark: what the page's renderer memory at rest (booted, a photo held, before the
first run) is made of, built up layer by layer.

    .venv/bin/python bench/rest_memory.py [--repeats 1] [--no-build]

Each layer opens in a fresh browser context of one headless Chromium; once it is up
and has settled (3 s; 5 s for the real app), the PSS of the renderer process(es) that
appeared for it is read 3 times 0.5 s apart and the median kept (with ``--repeats N``,
the median over N contexts). Each context also gets a renderer for Chromium's own UI
(``--top-chrome-webui``, 40-80 MB): not the page's, so shown apart and not counted
(bench/vs_imgly/run.py's ``renderers()`` counts it for both pages). Layers 1-7 are test
pages written to a temporary folder and served at /bench/ by the same server as dist/
(same origin, same COOP/COEP and CSP), so they load dist/'s own files exactly as the
app does:

1. blank page: a tiny HTML page of that origin, no scripts.
2. + Pyodide: a module worker that imports pyodide/pyodide.mjs and runs ``loadPyodide``,
   from the interpreter snapshot when build.json has ``pythonSnapshot`` (as
   web/worker.js ``startPython`` does, without its sha256 check), else plain; the
   table says which.
3. + ``loadPackage`` of build.json's ``pyodidePackages`` (numpy, Pillow).
4. + the app's Python: build.json's ``appArchive`` unpacked into site-packages and
   ``import darkroom.browser`` (web/worker.js ``boot()``, without making a BrowserApp).
5. onnxruntime-web alone (the blank page + a module worker): ort/ort.wasm.min.mjs,
   2 threads, a session of the tiny models/blazeface-short.onnx with the app's session
   options (web/model_worker.js): the ORT runtime itself.
6. + a session of models/isnet-quint8.onnx (the default model) in that worker.
7. layers 4 and 6 together, in two workers, as the app has them.
8. the real app: dist/ opened (tests/e2e/pagekit.py ``open_app``), a 1 MP photo set
   through its file input, the status line "Ready…" and the default tool's model
   warm-up answered (bench/boot.py's recorder), then 5 s at rest. Its
   ``performance.measureUserAgentSpecificMemory()`` breakdown per realm (page, workers)
   is printed too.

"added" is a layer's PSS minus that of the layer it builds on (the "on" column). A
benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import http.server
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import build  # noqa: E402
from boot import RECORDER, WARMED_UP  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS, open_app  # noqa: E402
from site_build.common import DIST  # noqa: E402
from site_build.server import Handler  # noqa: E402
from skeleton import chromium_processes, is_page_renderer, photo, pss_mb  # noqa: E402
from vs_imgly.run import print_table, renderers, serve  # noqa: E402

EXTRA_ARGS = [
    # No pre-launched spare renderer, so the renderer that appears for a page is its own.
    "--disable-features=SpareRendererForSitePerProcess",
    # measureUserAgentSpecificMemory() answers at once instead of at the next GC.
    "--enable-blink-features=ForceEagerMeasureMemory",
]
TIMEOUT_MS = 600_000
PREFIX = "bench"  # the test pages' folder in URLs

# --- the test pages (no inline scripts: the CSP allows 'self' scripts only) ---------------

PAGES = {
    "blank.html": "<!doctype html><meta charset=utf-8><title>blank</title><p>blank</p>\n",
    "layer.html": ("<!doctype html><meta charset=utf-8><title>layer</title>"
                   "<script type=module src=layer.js></script><p>layer</p>\n"),
    # ?python=pyodide|packages|app starts the Python worker up to that stage; ?models=a,b
    # the ORT worker with those sessions. window.__layer: {replies} or {error} once up.
    "layer.js": """
const query = new URLSearchParams(location.search);
window.__workers = []; // referenced, so no worker is collected
function started(url, message) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(url, { type: "module" });
    window.__workers.push(worker);
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
    worker.onerror = (event) => reject(new Error(`${url}: ${event.message || "failed to start"}`));
    worker.postMessage(message);
  });
}
const jobs = [];
if (query.get("python")) jobs.push(started("./python_worker.js", { stage: query.get("python") }));
if (query.get("models")) jobs.push(started("./ort_worker.js", { models: query.get("models").split(",") }));
Promise.all(jobs).then((replies) => { window.__layer = { replies }; },
  (err) => { window.__layer = { error: String(err.message || err) }; });
""",
    "python_worker.js": """
import { loadPyodide } from "../pyodide/pyodide.mjs";
const STAGES = ["pyodide", "packages", "app"];
const QUIET = { messageCallback: () => {}, errorCallback: console.warn };
const atRoot = (path) => new URL(path, new URL("../", import.meta.url)).href; // build.json's paths are dist/'s

async function startPython(snapshot) {
  const indexURL = atRoot("./pyodide/");
  if (!snapshot) return { pyodide: await loadPyodide({ indexURL }), snapshot: "plain (no snapshot in build.json)" };
  const bytes = new Uint8Array(await (await fetch(atRoot(snapshot.url))).arrayBuffer());
  const pyodide = await loadPyodide({ indexURL, _loadSnapshot: bytes });
  pyodide.runPython("import random; random.seed()");
  return { pyodide, snapshot: "from its snapshot" };
}

self.onmessage = async ({ data: { stage } }) => {
  try {
    const started = performance.now();
    const upTo = STAGES.indexOf(stage);
    const build = await (await fetch(atRoot("./build.json"))).json();
    const { pyodide, snapshot } = await startPython(build.pythonSnapshot);
    self.pyodide = pyodide; // kept
    if (upTo >= 1) await pyodide.loadPackage(build.pyodidePackages, QUIET);
    if (upTo >= 2) {
      const app = await (await fetch(atRoot(build.appArchive))).arrayBuffer();
      pyodide.unpackArchive(app, "zip", { extractDir: pyodide.runPython("import site; site.getsitepackages()[0]") });
      pyodide.pyimport("darkroom.browser");
    }
    self.postMessage({ worker: "python", snapshot, packages: build.pyodidePackages, ms: performance.now() - started });
  } catch (err) {
    self.postMessage({ error: `python worker: ${err.message || err}` });
  }
};
""",
    "ort_worker.js": """
import * as ort from "../ort/ort.wasm.min.mjs";
ort.env.wasm.wasmPaths = new URL("../ort/", import.meta.url).href;
ort.env.wasm.numThreads = 2;
ort.env.logLevel = "error";
self.sessions = []; // kept

self.onmessage = async ({ data: { models } }) => {
  try {
    const started = performance.now();
    for (const model of models) {
      const bytes = new Uint8Array(await (await fetch(`../models/${model}.onnx`)).arrayBuffer());
      self.sessions.push(await ort.InferenceSession.create(bytes, {  // web/model_worker.js's options
        executionProviders: ["wasm"], graphOptimizationLevel: "all", enableMemPattern: false, logSeverityLevel: 3,
      }));
    }
    self.postMessage({ worker: "ort", models, threads: ort.env.wasm.numThreads, ms: performance.now() - started });
  } catch (err) {
    self.postMessage({ error: `ort worker: ${err.message || err}` });
  }
};
""",
}


def write_pages(folder: Path) -> None:
    for name, text in PAGES.items():
        (folder / name).write_text(text.lstrip())


class BenchHandler(Handler):
    """dist/ with the dev server's headers; /bench/... from the test pages' folder."""

    def __init__(self, *args, pages: Path, **kwargs) -> None:
        self.pages = pages
        super().__init__(*args, directory=str(DIST), **kwargs)

    def translate_path(self, path: str) -> str:
        local = Path(super().translate_path(path))  # normalised, under dist/
        bench = DIST / PREFIX
        return str(self.pages / local.relative_to(bench)) if local.is_relative_to(bench) else str(local)


# --- the layers ------------------------------------------------------------------------

BOTH_MODELS = "blazeface-short,isnet-quint8"


@dataclass(frozen=True)
class Layer:
    label: str
    path: str  # under the server's root; "" is the real app
    on: int | None = None  # the layer (1-based) this one adds to
    settle_s: float = 3.0


LAYERS = [
    Layer("blank page", f"{PREFIX}/blank.html"),
    Layer("+ Pyodide", f"{PREFIX}/layer.html?python=pyodide", 1),
    Layer("+ loadPackage", f"{PREFIX}/layer.html?python=packages", 2),
    Layer("+ import darkroom.browser", f"{PREFIX}/layer.html?python=app", 3),
    Layer("ORT worker + blazeface session", f"{PREFIX}/layer.html?models=blazeface-short", 1),
    Layer("+ isnet-quint8 session", f"{PREFIX}/layer.html?models={BOTH_MODELS}", 5),
    Layer("4 and 6 together", f"{PREFIX}/layer.html?python=app&models={BOTH_MODELS}", 4),
    Layer("real app, 1 MP photo held", "", 7, settle_s=5.0),
]


def new_renderers(before: set[int]) -> tuple[set[int], set[int]]:
    """Renderers not in ``before``: (the page's, Chromium's own WebUI ones). Each new
    context gets a ``--top-chrome-webui`` renderer of its own besides the page's."""
    new = {pid: cmd for pid, cmd in chromium_processes().items() if "--type=renderer" in cmd and pid not in before}
    pages = {pid for pid, cmd in new.items() if is_page_renderer(cmd)}
    return pages, set(new) - pages


def median_pss(*groups: set[int], readings: int = 3, gap_s: float = 0.5) -> list[float]:
    """Per group of pids, the median of ``readings`` sums of their PSS, ``gap_s`` apart."""
    values = []
    for i in range(readings):
        if i:
            time.sleep(gap_s)
        values.append([sum(pss_mb(pid) for pid in group) for group in groups])
    return [statistics.median(column) for column in zip(*values, strict=True)]


UA_MEMORY = """async () => {
  if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
  const { bytes, breakdown } = await performance.measureUserAgentSpecificMemory();
  return { bytes, breakdown: breakdown.map((b) => ({ bytes: b.bytes, types: b.types,
    realms: b.attribution.map((a) => `${a.scope} ${a.url}`) })) };
}"""

LAYER_UP = "() => window.__layer !== undefined"
READY = "() => document.querySelector('[data-testid=status]').textContent.startsWith('Ready')"


def open_test_page(context, url: str):
    """A test page up; returns (page, its workers' replies: ``{}`` for the blank page)."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    if "layer.html" not in url:
        return page, {}
    page.wait_for_function(LAYER_UP, polling=200)
    return page, page.evaluate("() => window.__layer")


def open_real_app(context, url: str):
    """The app booted, a 1 MP photo set, "Ready" and its model warm-up answered; returns
    (page, its console errors)."""
    context.add_init_script(RECORDER)
    page, log = open_app(context, url)
    page.get_by_test_id("file-input").set_input_files(
        {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": photo((1024, 1024))})
    page.wait_for_function("() => document.querySelector('.before').naturalWidth > 0")
    page.wait_for_function(READY, polling=200)
    page.wait_for_function(WARMED_UP, polling=200)
    return page, {"errors": log.errors}


def measure(browser, base_url: str, layer: Layer) -> dict:
    """One layer in a fresh context: its renderers' PSS at rest and what it reported
    (the real app: also its measureUserAgentSpecificMemory(), read after the PSS)."""
    before = renderers()
    context = browser.new_context()
    started = time.monotonic()
    try:
        url = base_url + layer.path
        page, reply = open_test_page(context, url) if layer.path else open_real_app(context, url)
        up_s = time.monotonic() - started
        time.sleep(layer.settle_s)
        pids, webui = new_renderers(before)
        pss, webui_pss = median_pss(pids, webui)
        result = {"pss_mb": pss, "webui_mb": webui_pss, "renderers": len(pids), "up_s": up_s, "reply": reply}
        if not layer.path:
            reply["ua_memory"] = page.evaluate(UA_MEMORY)
        return result
    finally:
        context.close()


# --- report ----------------------------------------------------------------------------

def describe(layer: Layer, runs: list[dict], packages: list[str]) -> str:
    """What ran, from the workers' replies (the first run's)."""
    reply = runs[0]["reply"]
    if "error" in reply:
        return f"ERROR: {reply['error']}"
    notes = []
    for r in reply.get("replies", []):
        if r["worker"] == "python":
            notes.append(f"Python {r['snapshot']}")
        else:
            notes.append(f"ORT {r['threads']} threads, sessions {', '.join(r['models'])}")
    if reply.get("errors"):
        notes.append(f"console errors: {reply['errors'][:2]}")
    label = layer.label.replace("loadPackage", f"loadPackage({', '.join(packages)})")
    return f"{label} ({'; '.join(notes)})" if notes else label


def report(results: list[list[dict]], packages: list[str]) -> None:
    pss = [statistics.median(r["pss_mb"] for r in runs) for runs in results]
    rows = []
    for i, (layer, runs) in enumerate(zip(LAYERS, results, strict=True)):
        added = f"{pss[i] - pss[layer.on - 1]:+.0f}" if layer.on else "-"
        spread = " / ".join(f"{r['pss_mb']:.0f}" for r in runs) if len(runs) > 1 else ""
        rows.append([str(i + 1), describe(layer, runs, packages), f"{pss[i]:.0f}" + (f" ({spread})" if spread else ""),
                     str(layer.on or "-"), added, str(runs[0]["renderers"]),
                     f"{statistics.median(r['webui_mb'] for r in runs):.0f}",
                     f"{statistics.median(r['up_s'] for r in runs):.1f}"])
    print()
    print_table(["#", "layer", "renderer PSS MB", "on", "added by this layer MB", "renderers",
                 "WebUI renderer MB (not counted)", "up in s"], rows)
    print(f"\nlayers 4 and 6 each over the blank page: {pss[3] - pss[0]:.0f} + {pss[5] - pss[0]:.0f} MB ="
          f" {pss[3] + pss[5] - 2 * pss[0]:.0f} MB; together (7): {pss[6] - pss[0]:.0f} MB; the real app (8):"
          f" {pss[7] - pss[0]:.0f} MB over the blank page")


def report_ua_memory(ua: dict | None) -> None:
    """The real app's measureUserAgentSpecificMemory(), summed per realm."""
    if not ua:
        print("\nmeasureUserAgentSpecificMemory: not available (not crossOriginIsolated?)")
        return
    realms: dict[str, list] = {}
    for entry in ua["breakdown"]:
        realm = realms.setdefault(", ".join(entry["realms"]) or "(unattributed)", [0, set()])
        realm[0] += entry["bytes"]
        realm[1].update(entry["types"])
    print(f"\nreal app, measureUserAgentSpecificMemory(): {ua['bytes'] / 2**20:.1f} MB in all")
    rows = [[name, f"{b / 2**20:.1f}", ", ".join(sorted(types)) or "-"]
            for name, (b, types) in sorted(realms.items(), key=lambda kv: -kv[1][0]) if b]
    print_table(["realm (scope url)", "MB", "types"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="fresh contexts per layer (default 1)")
    parser.add_argument("--no-build", action="store_true", help="use dist/ as it is (skip build.build())")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if not args.no_build or not (DIST / "index.html").exists():
        build.build()
    packages = json.loads((DIST / "build.json").read_text())["pyodidePackages"]
    with tempfile.TemporaryDirectory() as folder:
        write_pages(Path(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(BenchHandler, pages=Path(folder)))
        base_url = serve(server)
        results: list[list[dict]] = [[] for _ in LAYERS]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + EXTRA_ARGS)
            print(f"Chromium {browser.version}; {base_url}", flush=True)
            for repeat in range(args.repeats):
                for i, layer in enumerate(LAYERS):
                    print(f"  layer {i + 1} ({layer.label}), run {repeat + 1}/{args.repeats}", flush=True)
                    results[i].append(measure(browser, base_url, layer))
            browser.close()
        server.shutdown()
    report(results, packages)
    report_ua_memory(results[-1][-1]["reply"]["ua_memory"])


if __name__ == "__main__":
    main()

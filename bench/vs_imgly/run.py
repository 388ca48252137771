"""Benchmark: Darkroom's background removal next to @imgly/background-removal 1.7.0, both
in the same headless Chromium, on WASM with the same threads, with the same ISNet weights.

    .venv/bin/python bench/vs_imgly/run.py [--sizes 1mp,4mp,12mp] [--runs 5] [--variants quint8,fp16] [--first-runs 3]

First result ("page open -> first mask", 1 MP photo, the first variant): the photo is in
the page before it loads (an init script), which asks for a mask as soon as the page's
API exists; the time is the page's performance.now() when the mask Blob resolves, i.e.
since navigation start. Cold is a fresh browser context (empty HTTP cache, no service
worker, no Cache Storage); warm is that page reloaded in the same context. Median of
--first-runs, alternating ours and imgly.

Later runs: per photo size and model variant, both pages are opened fresh (each in its
own browser context, so nothing is cached) and kept open: one cold run each (model
download from 127.0.0.1, session creation, inference), then later runs alternating ours,
imgly, ours, imgly... Wall time is measured in the page with performance.now() around the
call, from the JPEG Blob in to the mask Blob out. Memory is the PSS of the page's
renderer process(es) (the summary table) and of those plus the shared browser / GPU /
utility processes, but not the other page's renderer (details). PSS is read whenever
their RSS, sampled every 50 ms, reaches a new high. Each page's memory is also read for a
second at rest (booted, photo held) before its first run; the growth of its renderer
from there is set against the issue's goal, model size + 6x the decoded RGBA image. IoU
compares the two masks thresholded at 0.5, at full resolution. A benchmark, not a test:
it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.server
import io
import json
import shutil
import statistics
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "py"))

import build  # noqa: E402
from darkroom import models  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS, PageLog  # noqa: E402
from site_build.assemble import ensure_node_modules  # noqa: E402
from site_build.common import DIST, NODE_MODULES  # noqa: E402
from site_build.server import Handler, make_server  # noqa: E402
from skeleton import ChromiumMemory, chromium_processes, is_page_renderer, photo  # noqa: E402

SIZES = {"1mp": (1024, 1024), "4mp": (2304, 1728), "12mp": (4000, 3000)}
#: variant -> (our model id, imgly's model name)
VARIANTS = {"quint8": ("isnet-quint8", "isnet_quint8"), "fp16": ("isnet-fp16", "isnet_fp16")}
#: per side: the page's API object; a first result asks for a mask as soon as it exists
APIS = {"ours": "window.darkroom", "imgly": "window.imglyRun"}
MB = 1024 * 1024
BUNDLE = HERE / "build" / "imgly.bundle.js"
#: imgly's publicPath (served at /build/data/), made by make_imgly_data()
IMGLY_DATA = HERE / "build" / "data"
IMGLY_PACKAGE = HERE / "node_modules" / "@imgly" / "background-removal" / "package.json"
#: the data package our own build already pins (package.json): its chunks are the model bytes
DATA_DIST = NODE_MODULES / "@imgly" / "background-removal-data" / "dist"
ORT_DIST = HERE / "node_modules" / "onnxruntime-web" / "dist"
#: imgly 1.7.0's model resources -> the 1.4.5 data package's resources with the same bytes
MODEL_RESOURCES = {"/models/isnet_quint8": "/models/small", "/models/isnet_fp16": "/models/medium"}
#: onnxruntime-web files imgly 1.7.0 loads as /onnxruntime-web/<name> (.jsep ones for device "gpu")
ORT_RESOURCES = {f"ort-wasm-simd-threaded{jsep}.{ext}": mime for jsep in ("", ".jsep")
                 for ext, mime in (("wasm", "application/wasm"), ("mjs", "text/javascript"))}
CHUNK_BYTES = 4 * MB  # as in the 1.4.5 data package
EXTRA_ARGS = [
    # Nothing but 127.0.0.1 resolves, so no request can leave the machine even if tried.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # measureUserAgentSpecificMemory() answers at once instead of at the next GC.
    "--enable-blink-features=ForceEagerMeasureMemory",
    # No pre-launched spare renderer, so the renderer that appears when a page opens is its own.
    "--disable-features=SpareRendererForSitePerProcess",
]

# A page-side helper: Blob -> base64 (for the mask, read after the clock stopped).
B64 = """async (blob) => {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}"""

SET_PHOTO = """([b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  window.__benchPhoto = new Blob([bytes], { type: 'image/jpeg' });
  return bytes.length;
}"""

RUN_OURS = f"""async ([params, wantMask]) => {{
  const toB64 = {B64};
  try {{
    const started = performance.now();
    const {{ blob, provenance }} = await window.darkroom.run('remove-background', window.__benchPhoto, params);
    const wallMs = performance.now() - started;
    return {{ wallMs, provenance, mask: wantMask ? await toB64(blob) : null,
             heapMB: performance.memory ? performance.memory.usedJSHeapSize / {MB} : null }};
  }} catch (err) {{ return {{ error: String((err && err.message) || err) }}; }}
}}"""

RUN_IMGLY = f"""async ([params, wantMask]) => {{
  const toB64 = {B64};
  try {{
    const r = await window.imglyRun(window.__benchPhoto, params);
    const mask = wantMask ? await toB64(r.blob) : null;
    delete r.blob;
    return {{ ...r, mask, heapMB: performance.memory ? performance.memory.usedJSHeapSize / {MB} : null }};
  }} catch (err) {{ return {{ error: String((err && err.message) || err) }}; }}
}}"""

UA_MEMORY = f"""async () => {{
  if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
  try {{ return (await performance.measureUserAgentSpecificMemory()).bytes / {MB}; }} catch {{ return null; }}
}}"""

# An init script (it runs before the page's own scripts; CDP injects it, so the page's CSP
# does not apply): the photo is in the page from the start, and a mask is asked for as
# soon as the API exists. Sets window.__firstResult = {ms (performance.now(), i.e. since
# navigation start, when the mask Blob resolved), ...the reply but its blob} or {error}.
FIRST_RESULT = """((b64, params) => {{
  if (!location.protocol.startsWith('http')) return;  // about:blank, before the navigation
  const photo = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], {{ type: 'image/jpeg' }});
  const start = async () => {{
    try {{
      const {{ blob, ...reply }} = await {call};
      window.__firstResult = {{ ms: performance.now(), ...reply }};
    }} catch (err) {{ window.__firstResult = {{ error: String((err && err.message) || err) }}; }}
  }};
  const poll = () => ({api} === undefined ? setTimeout(poll, 5) : start());
  poll();
}})({b64}, {params})"""
FIRST_CALLS = {"ours": "window.darkroom.run('remove-background', photo, params)",
               "imgly": "window.imglyRun(photo, params)"}


# --- setup ----------------------------------------------------------------------------

def up_to_date(target: Path, sources: list[Path]) -> bool:
    return target.exists() and target.stat().st_mtime >= max(p.stat().st_mtime for p in sources)


def ensure_imgly_bundle() -> None:
    """npm ci (if node_modules is missing or older than the lockfile) and esbuild (if the
    bundle is stale)."""
    if not up_to_date(HERE / "node_modules" / ".package-lock.json", [HERE / "package-lock.json"]):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    if up_to_date(BUNDLE, [HERE / "imgly_entry.js", HERE / "package-lock.json"]):
        return
    subprocess.run([str(HERE / "node_modules" / ".bin" / "esbuild"), "imgly_entry.js", "--bundle", "--format=esm",
                    "--platform=browser", f"--outfile={BUNDLE.relative_to(HERE)}", "--log-level=warning"],
                   cwd=HERE, check=True)


def make_imgly_data() -> None:
    """imgly 1.7.0's publicPath, build/data/ (unless up to date): a resources.json in
    1.7.0's format, ``{key: {chunks: [{name, offsets: [start, end]}], size, mime}}``, where
    imgly fetches each chunk from ``new URL(name, publicPath)`` and checks its size. The
    models are 1.4.5's chunks (each named by its sha256, symlinked) under 1.7.0's keys;
    onnxruntime-web 1.21.0's own wasm and mjs files are cut into chunks here."""
    target = IMGLY_DATA / "resources.json"
    if up_to_date(target, [DATA_DIST / "resources.json", HERE / "package-lock.json", Path(__file__)]):
        return
    shutil.rmtree(IMGLY_DATA, ignore_errors=True)
    IMGLY_DATA.mkdir(parents=True)
    old = json.loads((DATA_DIST / "resources.json").read_text())
    resources = {key: linked_chunks(old[old_key]) for key, old_key in MODEL_RESOURCES.items()}
    resources |= {f"/onnxruntime-web/{name}": chunked(ORT_DIST / name, mime) for name, mime in ORT_RESOURCES.items()}
    target.write_text(json.dumps(resources, indent=1))


def linked_chunks(entry: dict) -> dict:
    """A 1.4.5 resources.json entry (chunks keyed ``hash``) as a 1.7.0 one, its chunks
    symlinked into IMGLY_DATA."""
    for chunk in entry["chunks"]:
        (IMGLY_DATA / chunk["hash"]).symlink_to(DATA_DIST / chunk["hash"])
    return {"chunks": [{"name": c["hash"], "offsets": c["offsets"]} for c in entry["chunks"]],
            "size": entry["size"], "mime": "application/octet-stream"}


def chunked(path: Path, mime: str) -> dict:
    """``path`` cut into CHUNK_BYTES pieces in IMGLY_DATA, each named by its sha256; its
    resources.json entry."""
    data, chunks = path.read_bytes(), []
    for start in range(0, len(data), CHUNK_BYTES):
        piece = data[start:start + CHUNK_BYTES]
        name = hashlib.sha256(piece).hexdigest()
        (IMGLY_DATA / name).write_bytes(piece)
        chunks.append({"name": name, "offsets": [start, start + len(piece)]})
    return {"chunks": chunks, "size": len(data), "mime": mime}


class ImglyHandler(Handler):
    """bench/vs_imgly/ at / (imgly's data at /build/data/), with the same cross-origin
    isolation headers as our server and a CSP that lets nothing but this origin be fetched
    (imgly imports onnxruntime's mjs from a blob: URL, which starts its threads as blob:
    workers, and ndarray compiles with eval)."""

    CSP = "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval' blob:",  # ndarray compiles with new Function
        "worker-src 'self' blob:",
        "connect-src 'self' blob: data:",
        "img-src 'self' blob: data:",
        "object-src 'none'",
        "base-uri 'self'",
    ])

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Security-Policy", self.CSP)
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        http.server.SimpleHTTPRequestHandler.end_headers(self)


def serve(server: http.server.ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


# --- memory: ChromiumMemory, per page ---------------------------------------------------

def renderers() -> set[int]:
    return {pid for pid, cmd in chromium_processes().items() if is_page_renderer(cmd)}


class PageMemory(ChromiumMemory):
    """ChromiumMemory for one of two open pages: ``peak_mb`` is the peak PSS of our
    Chromium's processes minus the other page's renderer(s); ``peak_renderer_mb`` that
    of this page's renderer(s) alone (including renderers that appear while sampling)."""

    def __init__(self, own: set[int], other: set[int]) -> None:
        super().__init__()
        self.own, self.other = own, other
        self.known = renderers()
        self.peak_renderer_mb = 0.0

    def processes(self) -> dict[int, str]:
        return {pid: cmd for pid, cmd in chromium_processes().items() if pid not in self.other}

    def record(self, pss: dict[int, float], procs: dict[int, str]) -> None:
        super().record(pss, procs)
        mine = [pid for pid, cmd in procs.items()
                if pid in self.own or (is_page_renderer(cmd) and pid not in self.known)]
        self.peak_renderer_mb = max(self.peak_renderer_mb, sum(pss[pid] for pid in mine))


# --- the two pages -------------------------------------------------------------------

def params_for(name: str, variant: str) -> dict:
    """What a side is asked for: a mask with the variant's model, on WASM."""
    our_model, imgly_model = VARIANTS[variant]
    return {"output": "mask", "model": our_model} if name == "ours" else {"model": imgly_model, "device": "cpu"}


def first_params(name: str, variant: str) -> dict:
    """What a side's first result asks for. Ours asks as a new user does (the defaults:
    "auto" picks the model) when the page's own choice on a GPU-less device, its build's
    early start, is the variant's model; the report says what ran."""
    early = json.loads((DIST / "build.json").read_text())["earlyStart"].get("remove-background", {})
    if name == "ours" and early.get("model") == VARIANTS[variant][0]:
        return {"output": "mask"}
    return params_for(name, variant)


class Side:
    """One page (ours or imgly) in its own browser context: it logs every request (a
    pagekit.PageLog), knows its renderer process(es) and keeps its runs. ``init_script``
    (FIRST_RESULT) runs in the page before its own scripts, on every load."""

    def __init__(self, browser, name: str, url: str, params: dict, init_script: str | None = None) -> None:
        self.name, self.url, self.params = name, url, params
        self.run_js = RUN_OURS if name == "ours" else RUN_IMGLY
        self.log = PageLog()
        before = renderers()
        self.context = browser.new_context()
        if init_script:
            self.context.add_init_script(init_script)
        self.context.on("request", self.log.record)
        self.page = self.context.new_page()
        self.page.set_default_timeout(900_000)
        self.page.on("pageerror", lambda exc: self.log.errors.append(str(exc)))
        self.page.on("console", lambda msg: msg.type == "error" and self.log.errors.append(msg.text))
        self.page.goto(url)
        self.hello = self.wait_ready()
        self.renderers = renderers() - before
        self.runs: list[dict] = []
        self.peak_mb = self.peak_renderer_mb = None  # sampled by run(sample_memory=True)

    def wait_ready(self) -> dict:
        """Waits for the page's API; its hello (ours: boot timings, probe) once ready."""
        # a function, not an expression: our page's CSP forbids eval
        self.page.wait_for_function(f"() => {APIS[self.name]} !== undefined", polling=100)
        return self.page.evaluate("window.darkroom.ready" if self.name == "ours" else "window.imglyReady")

    def first_result(self, reload: bool = False) -> dict:
        """The mask the init script FIRST_RESULT asked for: ``{ms, ...}`` since navigation
        start, or ``{error}``; with ``reload``, of the page reloaded first (warm)."""
        if reload:
            self.page.reload()
            self.hello = self.wait_ready()
        self.page.wait_for_function("() => window.__firstResult !== undefined", polling=100)
        return {**self.page.evaluate("() => window.__firstResult"), "boot": self.hello.get("timings")}

    def measure_idle(self, other: Side) -> None:
        """The page's memory at rest, booted and holding the photo, before any run."""
        with PageMemory(self.renderers, other.renderers) as memory:
            self.page.wait_for_timeout(1000)
        self.idle_mb, self.idle_renderer_mb = memory.peak_mb, memory.peak_renderer_mb

    def set_photo(self, jpeg: bytes) -> None:
        self.page.evaluate(SET_PHOTO, [base64.b64encode(jpeg).decode()])

    def run(self, other: Side, want_mask: bool = False, sample_memory: bool = True) -> dict:
        memory = PageMemory(self.renderers, other.renderers) if sample_memory else None
        with memory or contextlib.nullcontext():
            reply = self.page.evaluate(self.run_js, [self.params, want_mask])
        if memory:
            self.peak_mb = max(self.peak_mb or 0.0, memory.peak_mb)
            self.peak_renderer_mb = max(self.peak_renderer_mb or 0.0, memory.peak_renderer_mb)
        self.runs.append(reply)
        return reply

    def foreign(self) -> list[str]:
        return self.log.foreign(self.url)

    def close(self) -> None:
        self.context.close()


def mask_of(b64: str) -> np.ndarray:
    """The alpha (or grey) channel of a mask PNG, as uint8."""
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    if image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info:
        return np.asarray(image.convert("RGBA"))[..., 3]
    return np.asarray(image.convert("L"))


def compare(ours_b64: str, imgly_b64: str, size: tuple[int, int]) -> dict:
    a, b = mask_of(ours_b64), mask_of(imgly_b64)
    shapes = f"ours {a.shape[1]}x{a.shape[0]}, imgly {b.shape[1]}x{b.shape[0]}, photo {size[0]}x{size[1]}"
    if a.shape != b.shape:
        return {"iou": float("nan"), "mae": float("nan"), "shapes": shapes}
    fa, fb = a >= 128, b >= 128  # alpha > 0.5
    union = np.logical_or(fa, fb).sum()
    iou = float(np.logical_and(fa, fb).sum() / union) if union else 1.0
    mae = float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255)
    return {"iou": iou, "mae": mae, "shapes": shapes, "fg_ours": float(fa.mean()), "fg_imgly": float(fb.mean())}


def median_phases(timings: list[dict]) -> dict:
    """Per phase, the median over runs (0 where a run lacks it)."""
    keys = sorted({k for t in timings for k in t})
    return {k: statistics.median(t.get(k, 0) for t in timings) for k in keys}


def phases_of(name: str, reply: dict) -> dict:
    return reply["provenance"].get("timings_ms", {}) if name == "ours" else reply.get("timings", {})


def bench(browser, urls: dict, size_name: str, variant: str, runs: int, sample_memory: bool = True) -> dict:
    """Both pages open for one size and variant: memory at rest, a cold run each (masks
    kept for the IoU), then ``runs`` later runs alternating ours, imgly."""
    size = SIZES[size_name]
    jpeg = photo(size)
    ours, imgly = (Side(browser, name, urls[name], params_for(name, variant)) for name in ("ours", "imgly"))
    for side, other in ((ours, imgly), (imgly, ours)):
        side.set_photo(jpeg)
        side.measure_idle(other)
    print(f"  {size_name} {variant}: cold runs", flush=True)
    cold = {"ours": ours.run(imgly, True, sample_memory), "imgly": imgly.run(ours, True, sample_memory)}
    for i in range(runs):
        print(f"  {size_name} {variant}: warm run {i + 1}/{runs} (ours, imgly)", flush=True)
        if "error" not in cold["ours"]:
            ours.run(imgly, sample_memory=sample_memory)
        if "error" not in cold["imgly"]:
            imgly.run(ours, sample_memory=sample_memory)
    model_mb = models.load_manifest()[VARIANTS[variant][0]].files[0].bytes / MB
    result = {"size": size_name, "pixels": size, "variant": variant, "jpeg_bytes": len(jpeg),
              # the memory goal: model size + 6x the decoded (RGBA) image
              "budget_mb": model_mb + 6 * size[0] * size[1] * 4 / MB,
              "boot_ms": ours.hello.get("timings", {}).get("totalMs"),
              "ours_probe": ours.hello.get("probe"), "imgly_hello": imgly.hello}
    for side in (ours, imgly):
        ua_memory_mb = side.page.evaluate(UA_MEMORY)
        side.close()
        warm = [r for r in side.runs[1:] if "error" not in r]
        result[side.name] = {
            "cold": {k: v for k, v in side.runs[0].items() if k != "mask"},
            "warm_wall_ms": [r["wallMs"] for r in warm],
            "warm_median_ms": statistics.median(r["wallMs"] for r in warm) if warm else None,
            "warm_phases_ms": median_phases([phases_of(side.name, r) for r in warm]),
            "peak_mb": side.peak_mb, "peak_renderer_mb": side.peak_renderer_mb,
            "idle_mb": side.idle_mb, "idle_renderer_mb": side.idle_renderer_mb,
            "heap_mb": max((r.get("heapMB") or 0 for r in side.runs), default=None),
            "ua_memory_mb": ua_memory_mb,
            "renderers": sorted(side.renderers),
            "foreign_requests": side.foreign(), "errors": side.log.errors,
        }
    if cold["ours"].get("mask") and cold["imgly"].get("mask"):
        result["agreement"] = compare(cold["ours"]["mask"], cold["imgly"]["mask"], size)
    return result


def first_result_script(name: str, jpeg: bytes, params: dict) -> str:
    """FIRST_RESULT for one side, with the photo and the params in it."""
    return FIRST_RESULT.format(call=FIRST_CALLS[name], api=APIS[name],
                               b64=json.dumps(base64.b64encode(jpeg).decode()), params=json.dumps(params))


def first_results(browser, urls: dict, variant: str, runs: int) -> dict:
    """Page open -> first mask (1 MP), ``runs`` times alternating ours and imgly: cold in a
    fresh context, then warm in that context's page reloaded. Per side: every reply
    (``{ms, ...}`` or ``{error}``), the medians and the requests that left the origin."""
    jpeg = photo(SIZES["1mp"])
    result = {"variant": variant, "jpeg_bytes": len(jpeg)}
    sides = {name: {"cold": [], "warm": [], "foreign_requests": [], "errors": []} for name in APIS}
    for i in range(runs):
        for name, out in sides.items():
            print(f"  first result {i + 1}/{runs}: {name}, cold and warm", flush=True)
            params = first_params(name, variant)
            side = Side(browser, name, urls[name], params, first_result_script(name, jpeg, params))
            out["cold"].append(side.first_result())
            out["warm"].append(side.first_result(reload=True))
            side.close()
            out["foreign_requests"] += side.foreign()
            out["errors"] += side.log.errors
    for name, out in sides.items():
        for kind in ("cold", "warm"):
            ms = [r["ms"] for r in out[kind] if "error" not in r]
            out[f"{kind}_median_ms"] = statistics.median(ms) if ms else None
        result[name] = out
    return result


# --- report --------------------------------------------------------------------------

def seconds(ms, unit: str = "") -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}{unit}"


def what_ours_ran(result: dict) -> str:
    cold = result["ours"]["cold"]
    if "error" in cold:
        return f"ERROR: {cold['error']}"
    p = cold["provenance"]
    return f"{p.get('model')}@{p.get('backend')}"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, its columns padded to their widest cell."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) + " |")


def compared(measure: str, ours, imgly, fmt, unit: str) -> list[str]:
    """A summary row: both values (None: not measured) and their ratio."""
    ratio = f"{ours / imgly:.2f}" if ours and imgly else "-"
    return [measure, fmt(ours, unit), fmt(imgly, unit), ratio]


def megapixels(size_name: str) -> str:
    return f"{size_name[:-2]} MP"


def summary_rows(first: dict | None, results: list[dict], runs: int) -> list[list[str]]:
    """First mask (cold, warm), later runs per size and variant, then memory: at rest on
    the largest photo per variant, and the peak of each 12 MP run."""
    rows = []
    if first:
        for kind in ("cold", "warm"):
            rows.append(compared(f"page open → first mask, {kind}, median of {len(first['ours'][kind])}"
                                 f" (1 MP, {first['variant']})",
                                 first["ours"][f"{kind}_median_ms"], first["imgly"][f"{kind}_median_ms"],
                                 seconds, " s"))
    for r in results:
        rows.append(compared(f"later runs, {megapixels(r['size'])} {r['variant']}, median of {runs}",
                             r["ours"]["warm_median_ms"], r["imgly"]["warm_median_ms"], seconds, " s"))
    largest = {}
    for r in sorted(results, key=lambda r: r["pixels"][0] * r["pixels"][1]):
        largest[r["variant"]] = r
    for variant, r in largest.items():
        rows.append(compared(f"renderer memory at rest (booted, {megapixels(r['size'])} photo held), {variant}",
                             r["ours"]["idle_renderer_mb"], r["imgly"]["idle_renderer_mb"], fmt_mb, " MB"))
    for r in results:
        if r["size"] == "12mp":
            rows.append(compared(f"peak renderer memory during a 12 MP run, {r['variant']}",
                                 r["ours"]["peak_renderer_mb"], r["imgly"]["peak_renderer_mb"], fmt_mb, " MB"))
    return rows


def report(first: dict | None, results: list[dict], runs: int) -> None:
    print()
    print_table(["measure", "ours", f"imgly {json.loads(IMGLY_PACKAGE.read_text())['version']}", "ours / imgly"],
                summary_rows(first, results, runs))
    print("\nheadless Chromium, WASM. First mask: from navigation start, the photo already in the page; cold = a"
          " fresh browser context, warm = that page reloaded (HTTP cache; ours also its service worker and Cache"
          " Storage). Later runs: the same page kept open. Memory: PSS of the page's renderer process(es).")
    if first:
        report_first(first)
    if results:
        report_runs(results, runs)
    foreign = sum(len(r[s]["foreign_requests"]) for r in [*results, *([first] if first else [])] for s in APIS)
    print(f"\nrequests that left the page's own 127.0.0.1 origin: {foreign}")


def report_first(first: dict) -> None:
    print(f"\nfirst mask, details (1 MP JPEG {first['jpeg_bytes'] / 1024:.0f} KiB, {first['variant']})")
    for name in APIS:
        side = first[name]
        for kind in ("cold", "warm"):
            replies = side[kind]
            errors = [r["error"] for r in replies if "error" in r]
            ok = [r for r in replies if "error" not in r]
            extra = ""
            if name == "ours":
                ran = sorted({f"{r['provenance'].get('model')}@{r['provenance'].get('backend')}" for r in ok})
                boot = [r["boot"]["totalMs"] for r in ok if r.get("boot")]
                extra = f"ran {', '.join(ran) or '-'}; Python worker boot {fmt_runs(boot)} s; "
            phases = fmt_phases(median_phases([phases_of(name, r) for r in ok]))
            print(f"  {name} {kind}: {fmt_runs([r['ms'] for r in ok])} s; {extra}run phases (median) {phases}"
                  + (f"; ERRORS: {errors}" if errors else ""))
        print_problems(name, side)


def print_problems(name: str, side: dict) -> None:
    """Requests that left the page's origin, and console / page errors, if any."""
    if side["foreign_requests"]:
        print(f"  {name}: REQUESTS OFF ITS ORIGIN: {side['foreign_requests'][:5]}")
    if side["errors"]:
        print(f"  {name}: console/page errors: {side['errors'][:3]}")


def report_runs(results: list[dict], runs: int) -> None:
    print(f"\nper size and variant: cold = the first run in a fresh context (model download, session), warm ="
          f" median of {runs} later runs")
    header = ["size", "variant", "ours cold s", "imgly cold s", "ours warm median s", "imgly warm median s",
              "ratio ours/imgly", "peak MB ours", "peak MB imgly", "IoU"]
    rows = []
    for r in results:
        o, i = r["ours"], r["imgly"]
        ratio = (f"{o['warm_median_ms'] / i['warm_median_ms']:.2f}"
                 if o["warm_median_ms"] and i["warm_median_ms"] else "-")
        agreement = r.get("agreement", {})
        iou = f"{agreement['iou']:.4f}" if "iou" in agreement else "-"
        variant = r["variant"]
        ran = what_ours_ran(r)
        if not ran.startswith(VARIANTS[variant][0] + "@wasm"):
            variant += f" (ours ran {ran})"
        rows.append([r["size"], variant, seconds(o["cold"].get("wallMs")), seconds(i["cold"].get("wallMs")),
                     seconds(o["warm_median_ms"]), seconds(i["warm_median_ms"]), ratio,
                     fmt_mb(o["peak_mb"], ""), fmt_mb(i["peak_mb"], ""), iou])
    print_table(header, rows)

    print("\ndetails")
    for r in results:
        o, i = r["ours"], r["imgly"]
        print(f"- {r['size']} {r['variant']} ({r['pixels'][0]}x{r['pixels'][1]},"
              f" JPEG {r['jpeg_bytes'] / 1024:.0f} KiB)")
        print(f"  ours:  ran {what_ours_ran(r)}; Pyodide boot {seconds(r['boot_ms'])} s (not in cold);"
              f" cold phases {fmt_phases(o['cold'].get('provenance', {}).get('timings_ms', {}))};"
              f" warm phases {fmt_phases(o['warm_phases_ms'])}; warm runs {fmt_runs(o['warm_wall_ms'])}")
        ic = i["cold"]
        our_threads = (r["ours_probe"] or {}).get("wasm", {}).get("numThreads")
        ran = "ERROR: " + ic["error"] if "error" in ic else (
            f"{ic['model']}@{ic['backend']} (onnxruntime-web {ic['ort']['version']}, {ic['ort']['numThreads']} threads"
            f" (ours {our_threads}), proxy worker {ic['ort']['proxy']},"
            f" crossOriginIsolated {ic['crossOriginIsolated']})")
        print(f"  imgly: ran {ran}; cold phases {fmt_phases(ic.get('timings', {}))};"
              f" warm phases {fmt_phases(i['warm_phases_ms'])}; warm runs {fmt_runs(i['warm_wall_ms'])}")
        for name, side in (("ours", o), ("imgly", i)):
            growth = (side["peak_renderer_mb"] - side["idle_renderer_mb"]) if side["peak_renderer_mb"] else None
            print(f"  {name} memory: peak {fmt_mb(side['peak_mb'])} (page + shared Chromium processes; idle before the"
                  f" runs {fmt_mb(side['idle_mb'])}), renderer alone {fmt_mb(side['peak_renderer_mb'])} (idle"
                  f" {fmt_mb(side['idle_renderer_mb'])}, so the runs added {fmt_mb(growth)} against the goal's"
                  f" {fmt_mb(r['budget_mb'])}), JS heap {fmt_mb(side['heap_mb'])},"
                  f" measureUserAgentSpecificMemory {fmt_mb(side['ua_memory_mb'])} after the runs")
        if "agreement" in r:
            a = r["agreement"]
            extra = (f", mean |alpha difference| {a['mae']:.4f},"
                     f" foreground ours {a['fg_ours']:.3f} imgly {a['fg_imgly']:.3f}"
                     if "fg_ours" in a else "")
            print(f"  masks: {a['shapes']}; IoU at 0.5 {a['iou']:.4f}{extra}")
        for name, side in (("ours", o), ("imgly", i)):
            print_problems(name, side)


def fmt_phases(t: dict) -> str:
    return ", ".join(f"{k} {v / 1000:.2f}" for k, v in t.items() if isinstance(v, (int, float))) or "-"


def fmt_runs(ms: list) -> str:
    return " ".join(f"{m / 1000:.2f}" for m in ms) or "-"


def fmt_mb(mb, unit: str = " MB") -> str:
    return "-" if mb is None else f"{mb:.0f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1mp,4mp,12mp", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per page, size and variant (default 5)")
    parser.add_argument("--variants", default="quint8,fp16", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--no-build", action="store_true", help="use dist/ as it is (skip build.build())")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--no-memory", action="store_true",
                        help="do not sample memory during runs (reading PSS costs CPU the runs then lack)")
    parser.add_argument("--first-runs", type=int, default=3,
                        help="page open -> first mask, cold and warm, per side (default 3; 0 skips it)")
    args = parser.parse_args()
    sizes, variants = args.sizes.split(","), args.variants.split(",")
    for name in sizes:
        if name not in SIZES:
            parser.error(f"unknown size {name}")
    for name in variants:
        if name not in VARIANTS:
            parser.error(f"unknown variant {name}")
    from playwright.sync_api import sync_playwright

    ensure_imgly_bundle()
    if not args.no_build or not (DIST / "index.html").exists():
        build.build()
    ensure_node_modules()  # the 1.4.5 data package, whose chunks imgly's publicPath links to
    make_imgly_data()
    ours_server = make_server(DIST)
    imgly_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                   lambda *a, **kw: ImglyHandler(*a, directory=str(HERE), **kw))
    urls = {"ours": serve(ours_server), "imgly": serve(imgly_server) + "imgly.html"}
    first, results = None, []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + EXTRA_ARGS)
        print(f"Chromium {browser.version}; ours {urls['ours']}, imgly {urls['imgly']}", flush=True)
        if args.first_runs > 0:
            first = first_results(browser, urls, variants[0], args.first_runs)
        for size_name in sizes:
            for variant in variants:
                results.append(bench(browser, urls, size_name, variant, args.runs, not args.no_memory))
        browser.close()
    ours_server.shutdown()
    imgly_server.shutdown()
    report(first, results, args.runs)
    if args.json:
        args.json.write_text(json.dumps({"first_result": first, "runs": results}, indent=1))


if __name__ == "__main__":
    main()

"""Benchmark: Darkroom's background removal next to @imgly/background-removal, both in
the same headless Chromium, on WASM with the same threads, with the same ISNet weights.

    .venv/bin/python bench/vs_imgly/run.py [--sizes 1mp,4mp,12mp] [--runs 5] [--variants quint8,fp16]

Per photo size and model variant, both pages are opened fresh (each in its own browser
context, so nothing is cached) and kept open: one cold run each (model download from
127.0.0.1, session creation, inference), then warm runs alternating ours, imgly, ours,
imgly... Wall time is measured in the page with performance.now() around the call, from
the JPEG Blob in to the mask Blob out. Memory is the peak PSS of the page's Chromium
processes: its renderer plus the shared browser / GPU / utility processes, but not the
other page's renderer. PSS is read whenever their RSS, sampled every 50 ms, reaches a new
high. Each page's memory is also read for a second at rest (booted, photo held) before
its first run; the growth of its renderer from there is set against the issue's goal,
model size + 6x the decoded RGBA image. IoU compares the two masks thresholded at 0.5,
at full resolution. A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.server
import io
import json
import posixpath
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from skeleton import ChromiumMemory, chromium_processes, photo  # noqa: E402

SIZES = {"1mp": (1024, 1024), "4mp": (2304, 1728), "12mp": (4000, 3000)}
#: variant -> (our model id, imgly's model name)
VARIANTS = {"quint8": ("isnet-quint8", "isnet_quint8"), "fp16": ("isnet-fp16", "isnet_fp16")}
#: imgly's publicPath: the data package our own build already pins (package.json).
DATA_DIST = build.NODE_MODULES / "@imgly" / "background-removal-data" / "dist"
BUNDLE = HERE / "build" / "imgly.bundle.js"
EXTRA_ARGS = [
    # Nothing but 127.0.0.1 resolves, so no request can leave the machine even if tried.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # measureUserAgentSpecificMemory() answers at once instead of at the next GC.
    "--enable-blink-features=ForceEagerMeasureMemory",
    # No pre-launched spare renderer, so the renderer that appears when a page opens is its own.
    "--disable-features=SpareRendererForSitePerProcess",
]
MB = 1024 * 1024

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


# --- setup ----------------------------------------------------------------------------

def ensure_imgly_bundle() -> None:
    """npm ci (if node_modules is missing) and esbuild (if the bundle is stale)."""
    if not (HERE / "node_modules" / "@imgly" / "background-removal").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    sources = [HERE / "imgly_entry.js", HERE / "package-lock.json"]
    if BUNDLE.exists() and BUNDLE.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return
    subprocess.run([str(HERE / "node_modules" / ".bin" / "esbuild"), "imgly_entry.js", "--bundle", "--format=esm",
                    "--platform=browser", f"--outfile={BUNDLE.relative_to(HERE)}", "--log-level=warning"],
                   cwd=HERE, check=True)


class ImglyHandler(build.Handler):
    """bench/vs_imgly/ at /, the imgly data package's dist/ at /data/; the same
    cross-origin isolation headers as our server, and a CSP that lets nothing but this
    origin be fetched (imgly needs blob: workers and scripts for onnxruntime, and eval for
    ndarray)."""

    CSP = "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval' blob:",  # ndarray compiles with new Function
        "worker-src 'self' blob:",
        "connect-src 'self' blob: data:",
        "img-src 'self' blob: data:",
        "object-src 'none'",
        "base-uri 'self'",
    ])

    def translate_path(self, path: str) -> str:
        clean = unquote(urlsplit(path).path)
        if clean.startswith("/data/"):
            rel = posixpath.normpath(clean[len("/data/"):]).lstrip("/")
            if rel.startswith(".."):
                return str(HERE / "no-such-file")
            return str(DATA_DIST / rel)
        return super().translate_path(path)

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
    return {pid for pid, cmd in chromium_processes().items() if "--type=renderer" in cmd}


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
                if pid in self.own or ("--type=renderer" in cmd and pid not in self.known)]
        self.peak_renderer_mb = max(self.peak_renderer_mb, sum(pss[pid] for pid in mine))


# --- the two pages -------------------------------------------------------------------

class Side:
    """One page (ours or imgly) in its own browser context, kept open for one size and
    variant: it logs every request, knows its renderer process(es) and keeps its runs."""

    def __init__(self, browser, name: str, url: str, run_js: str, params: dict) -> None:
        self.name, self.run_js, self.params = name, run_js, params
        self.origin = urlsplit(url).netloc
        self.urls: list[str] = []
        self.errors: list[str] = []
        before = renderers()
        self.context = browser.new_context()
        self.context.on("request", lambda request: self.urls.append(request.url))
        self.page = self.context.new_page()
        self.page.set_default_timeout(900_000)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.goto(url)
        if name == "ours":
            self.page.wait_for_function("() => window.darkroom !== undefined")  # a function: CSP forbids eval
            self.hello = self.page.evaluate("window.darkroom.ready")
        else:
            self.page.wait_for_function("() => window.imglyRun !== undefined")
            self.hello = self.page.evaluate("window.imglyReady")
        self.renderers = renderers() - before
        self.runs: list[dict] = []
        self.peak_mb = self.peak_renderer_mb = 0.0

    def measure_idle(self, other: "Side") -> None:
        """The page's memory at rest, booted and holding the photo, before any run."""
        with PageMemory(self.renderers, other.renderers) as memory:
            self.page.wait_for_timeout(1000)
        self.idle_mb, self.idle_renderer_mb = memory.peak_mb, memory.peak_renderer_mb

    def set_photo(self, jpeg: bytes) -> None:
        self.page.evaluate(SET_PHOTO, [base64.b64encode(jpeg).decode()])

    def run(self, other: "Side", want_mask: bool = False, sample_memory: bool = True) -> dict:
        memory = PageMemory(self.renderers, other.renderers) if sample_memory else None
        with memory or contextlib.nullcontext():
            reply = self.page.evaluate(self.run_js, [self.params, want_mask])
        if memory:
            self.peak_mb = max(self.peak_mb, memory.peak_mb)
            self.peak_renderer_mb = max(self.peak_renderer_mb, memory.peak_renderer_mb)
        self.runs.append(reply)
        return reply

    def foreign(self) -> list[str]:
        return [u for u in self.urls if urlsplit(u).scheme not in ("blob", "data") and urlsplit(u).netloc != self.origin]

    def close(self) -> None:
        self.ua_memory_mb = self.page.evaluate(UA_MEMORY)
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


def bench(browser, urls: dict, size_name: str, variant: str, runs: int, sample_memory: bool = True) -> dict:
    size = SIZES[size_name]
    our_model, imgly_model = VARIANTS[variant]
    jpeg = photo(size)
    ours = Side(browser, "ours", urls["ours"], RUN_OURS, {"output": "mask", "model": our_model})
    imgly = Side(browser, "imgly", urls["imgly"], RUN_IMGLY, {"model": imgly_model, "device": "cpu"})
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
    model_mb = models.load_manifest()[our_model].files[0].bytes / MB
    result = {"size": size_name, "pixels": size, "variant": variant, "jpeg_bytes": len(jpeg),
              # the memory goal: model size + 6x the decoded (RGBA) image
              "budget_mb": model_mb + 6 * size[0] * size[1] * 4 / MB,
              "boot_ms": ours.hello.get("timings", {}).get("totalMs") if isinstance(ours.hello, dict) else None,
              "imgly_hello": imgly.hello}
    for side in (ours, imgly):
        side.close()
        warm = [r for r in side.runs[1:] if "error" not in r]
        result[side.name] = {
            "cold": {k: v for k, v in side.runs[0].items() if k != "mask"},
            "warm_wall_ms": [r["wallMs"] for r in warm],
            "warm_median_ms": statistics.median(r["wallMs"] for r in warm) if warm else None,
            "peak_mb": side.peak_mb, "peak_renderer_mb": side.peak_renderer_mb,
            "idle_mb": side.idle_mb, "idle_renderer_mb": side.idle_renderer_mb,
            "heap_mb": max((r.get("heapMB") or 0 for r in side.runs), default=None),
            "ua_memory_mb": side.ua_memory_mb,
            "renderers": sorted(side.renderers),
            "foreign_requests": side.foreign(), "errors": side.errors,
        }
        if side.name == "ours" and warm:
            keys = sorted({k for r in warm for k in r["provenance"].get("timings_ms", {})})
            result["ours"]["warm_phases_ms"] = {k: statistics.median(r["provenance"]["timings_ms"].get(k, 0) for r in warm)
                                                for k in keys}
        if side.name == "imgly" and warm:
            keys = sorted({k for r in warm for k in r.get("timings", {})})
            result["imgly"]["warm_phases_ms"] = {k: statistics.median(r["timings"].get(k, 0) for r in warm) for k in keys}
    if "mask" in cold["ours"] and "mask" in cold["imgly"] and cold["ours"]["mask"] and cold["imgly"]["mask"]:
        result["agreement"] = compare(cold["ours"]["mask"], cold["imgly"]["mask"], size)
    return result


# --- report --------------------------------------------------------------------------

def seconds(ms) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}"


def what_ours_ran(result: dict) -> str:
    cold = result["ours"]["cold"]
    if "error" in cold:
        return f"ERROR: {cold['error']}"
    p = cold["provenance"]
    return f"{p.get('model')}@{p.get('backend')}"


def report(results: list[dict], runs: int) -> None:
    print(f"\nbackground removal, Darkroom (ours) vs @imgly/background-removal, headless Chromium, WASM;"
          f" cold = first run in a fresh context, warm = median of {runs}")
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
                     f"{o['peak_mb']:.0f}", f"{i['peak_mb']:.0f}", iou])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(x).ljust(w) for x, w in zip(row, widths)))

    print("\ndetails")
    for r in results:
        o, i = r["ours"], r["imgly"]
        print(f"- {r['size']} {r['variant']} ({r['pixels'][0]}x{r['pixels'][1]}, JPEG {r['jpeg_bytes'] / 1024:.0f} KiB)")
        print(f"  ours:  ran {what_ours_ran(r)}; Pyodide boot {seconds(r['boot_ms'])} s (not in cold);"
              f" cold phases {fmt_phases(o['cold'].get('provenance', {}).get('timings_ms', {}))};"
              f" warm phases {fmt_phases(o.get('warm_phases_ms', {}))}; warm runs {fmt_runs(o['warm_wall_ms'])}")
        ic = i["cold"]
        ran = "ERROR: " + ic["error"] if "error" in ic else (
            f"{ic['model']}@{ic['backend']} (onnxruntime-web {ic['ort']['version']}, {ic['ort']['numThreads']} threads,"
            f" simd {ic['ort']['simd']}, proxy worker {ic['ort']['proxy']}, crossOriginIsolated {ic['crossOriginIsolated']})")
        print(f"  imgly: ran {ran}; cold phases {fmt_phases(ic.get('timings', {}))};"
              f" warm phases {fmt_phases(i.get('warm_phases_ms', {}))}; warm runs {fmt_runs(i['warm_wall_ms'])}")
        for name, side in (("ours", o), ("imgly", i)):
            growth = side["peak_renderer_mb"] - side["idle_renderer_mb"]
            print(f"  {name} memory: peak {side['peak_mb']:.0f} MB (page + shared Chromium processes; idle before the"
                  f" runs {side['idle_mb']:.0f}), renderer alone {side['peak_renderer_mb']:.0f} MB (idle"
                  f" {side['idle_renderer_mb']:.0f}, so the runs added {growth:.0f} MB against the goal's"
                  f" {r['budget_mb']:.0f} MB), JS heap {fmt_mb(side['heap_mb'])},"
                  f" measureUserAgentSpecificMemory {fmt_mb(side['ua_memory_mb'])} after the runs")
        if "agreement" in r:
            a = r["agreement"]
            extra = (f", mean |alpha difference| {a['mae']:.4f}, foreground ours {a['fg_ours']:.3f} imgly {a['fg_imgly']:.3f}"
                     if "fg_ours" in a else "")
            print(f"  masks: {a['shapes']}; IoU at 0.5 {a['iou']:.4f}{extra}")
        for name, side in (("ours", o), ("imgly", i)):
            if side["foreign_requests"]:
                print(f"  {name}: REQUESTS OFF ITS ORIGIN: {side['foreign_requests'][:5]}")
            if side["errors"]:
                print(f"  {name}: console/page errors: {side['errors'][:3]}")
    foreign = sum(len(r[s]["foreign_requests"]) for r in results for s in ("ours", "imgly"))
    print(f"\nrequests that left the page's own 127.0.0.1 origin: {foreign}")


def fmt_phases(t: dict) -> str:
    return ", ".join(f"{k} {v / 1000:.2f}" for k, v in t.items() if isinstance(v, (int, float))) or "-"


def fmt_runs(ms: list) -> str:
    return " ".join(f"{m / 1000:.2f}" for m in ms) or "-"


def fmt_mb(mb) -> str:
    return "-" if mb is None else f"{mb:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1mp,4mp,12mp", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per page, size and variant (default 5)")
    parser.add_argument("--variants", default="quint8,fp16", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--no-build", action="store_true", help="use dist/ as it is (skip build.build())")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--no-memory", action="store_true",
                        help="do not sample memory during runs (reading PSS costs CPU the runs then lack)")
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
    if not args.no_build or not (build.DIST / "index.html").exists():
        build.build()
    build.ensure_node_modules()  # imgly's publicPath serves the data package from here
    ours_server = build.make_server(build.DIST)
    imgly_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                   lambda *a, **kw: ImglyHandler(*a, directory=str(HERE), **kw))
    urls = {"ours": serve(ours_server), "imgly": serve(imgly_server) + "imgly.html"}
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + EXTRA_ARGS)
        print(f"Chromium {browser.version}; ours {urls['ours']}, imgly {urls['imgly']}", flush=True)
        for size_name in sizes:
            for variant in variants:
                results.append(bench(browser, urls, size_name, variant, args.runs, not args.no_memory))
        browser.close()
    ours_server.shutdown()
    imgly_server.shutdown()
    report(results, args.runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

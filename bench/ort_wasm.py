"""Benchmark: ISNet in onnxruntime-web's WASM backend alone, without the app around it.

    .venv/bin/python bench/ort_wasm.py [--variants quint8,fp16,fp32] [--threads 2] [--runs 3] [--profile]

Answers "which ISNet variant should WASM run, with how many threads, and where does its
time go?" for this machine. The page loads the same onnxruntime-web build that dist/
ships (dist/ort/, so run build.py or another bench first) into headless Chromium with
cross-origin isolation, creates one session per variant and thread count, runs it once
to warm up, then ``--runs`` times alternating between variants. The input is a real
photo (bench/skeleton.py's, 1024 x 1024, decoded by darkroom.imaging) fed as the models
take it: its uint8 pixels as ``image`` [1, H, W, 3]; each graph resizes them to
1024 x 1024 and normalises them itself (models/recipes/pixels_in.py), so the times
include that pre-processing (about 20 ms of a warm run in a profile: this photo needs no
resizing; bench/skeleton.py's 1 MP photo is the same).

Variants: ``quint8`` and ``fp16`` are the manifest's files (sha256-verified from the
CLI cache); ``fp32`` is derived from ``fp16`` here by upcasting its weights, because
onnxruntime's CPU kernels have no fp16 convolution and run fp16 models with a cast
around every layer. ``--profile`` turns on onnxruntime's profiler (its JSON arrives on
the console) and prints the per-op-type kernel time of the last run. A benchmark, not a
test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "py"))

from darkroom import imaging, models, tensors  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from site_build.common import DIST  # noqa: E402
from site_build.server import make_server  # noqa: E402
from skeleton import photo  # noqa: E402

PHOTO_SIZE = (1024, 1024)

PAGE = """<!doctype html><meta charset="utf-8"><script type="module" src="./probe.js"></script>"""
PROFILE_END = "bench: end of profile"
PROBE = """
import * as ort from "./ort/ort.wasm.min.mjs";
ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
ort.env.wasm.numThreads = Number(new URLSearchParams(location.search).get("threads"));
ort.env.logLevel = "error";
const PROFILE_END = "__PROFILE_END__";
// feed: { input, shape, output }; the photo's uint8 pixels are in ./photo.rgb.
window.probe = async (variants, runs, profile, feed) => {
  const pixels = new Uint8Array(await (await fetch("./photo.rgb")).arrayBuffer());
  const feeds = { [feed.input]: new ort.Tensor("uint8", pixels, feed.shape) };
  const results = {};
  const sessions = {};
  for (const variant of variants) {
    const bytes = new Uint8Array(await (await fetch(`./models/${variant}.onnx`)).arrayBuffer());
    let started = performance.now();
    sessions[variant] = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"],
      graphOptimizationLevel: "all", enableProfiling: profile });
    results[variant] = { createMs: performance.now() - started, runsMs: [] };
    started = performance.now();
    await sessions[variant].run(feeds, [feed.output]);
    results[variant].firstRunMs = performance.now() - started;
  }
  for (let i = 0; i < runs; i++) {
    for (const variant of variants) {
      const started = performance.now();
      await sessions[variant].run(feeds, [feed.output]);
      results[variant].runsMs.push(performance.now() - started);
    }
  }
  for (const variant of variants) {
    if (profile) {
      sessions[variant].endProfiling(); // onnxruntime-web prints the profile JSON to the console, line by line
      console.log(`${PROFILE_END} ${variant}`);
    }
    await sessions[variant].release();
  }
  return results;
};
window.probeReady = true;
"""


def upcast_fp16(source: Path, target: Path) -> None:
    """Write ``source`` with every fp16 weight, constant, cast target and value type as
    fp32: the same network, without onnxruntime's per-layer casts on CPUs.

    Only float16 is touched, so the pixel pre-processing in front of the network (uint8
    Resize, Cast to float32, then float32 Transpose, Mul, Sub, Div) and the uint8 input
    stay as they are."""
    model = onnx.load(source)
    graph = model.graph
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT16:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), init.name))
    for node in graph.node:
        for attr in node.attribute:
            if attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float32), attr.t.name))
    for value in [*graph.value_info, *graph.input, *graph.output]:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    onnx.save(model, target)


def variant_specs(variants: list[str]) -> dict[str, models.ModelSpec]:
    """Each variant's manifest entry (fp32's is fp16's, which it is derived from), checked
    to take a photo's pixels and to share one input and output."""
    manifest = models.load_manifest()
    specs = {v: manifest["isnet-fp16" if v == "fp32" else f"isnet-{v}"] for v in variants}
    for spec in specs.values():
        if not tensors.takes_pixels(spec):
            raise SystemExit(f"{spec.id} does not take a photo's pixels ([1, H, W, 3] uint8);"
                             " this benchmark feeds them")
    if len({(s.inputs[0].name, s.outputs[0].name) for s in specs.values()}) > 1:
        raise SystemExit("the variants' input or output names differ; the probe feeds them all the same")
    return specs


def stage_site(site: Path, specs: dict[str, models.ModelSpec], pixels: np.ndarray) -> None:
    """The probe page, dist/'s onnxruntime-web, each variant's model file and the input
    ``pixels`` (raw bytes, photo.rgb), linked or written into ``site``."""
    if not (DIST / "ort" / "ort.wasm.min.mjs").exists():
        raise SystemExit("dist/ort/ is missing: run `.venv/bin/python build.py` first")
    (site / "index.html").write_text(PAGE)
    (site / "probe.js").write_text(PROBE.replace("__PROFILE_END__", PROFILE_END))
    (site / "photo.rgb").write_bytes(pixels.tobytes())
    (site / "ort").symlink_to(DIST / "ort")
    (site / "models").mkdir()
    for variant, spec in specs.items():
        path = models.fetch(spec, search_dirs=[ROOT])  # verified against the manifest's sha256
        if variant == "fp32":
            upcast_fp16(path, site / "models" / "fp32.onnx")
        else:
            (site / "models" / f"{variant}.onnx").symlink_to(path)


def op_profiles(console: list[str]) -> dict[str, dict[str, tuple[int, float]]]:
    """{variant: {op type: (nodes, ms)}} for the last ``model_run`` of each profile JSON
    on the console (each followed by a ``PROFILE_END variant`` line)."""
    profiles, lines = {}, []
    for line in console:
        if not line.startswith(PROFILE_END):
            lines.append(line)
            continue
        text = "\n".join(lines)
        lines = []
        events = json.loads(text[text.find("[\n{"):text.rfind("]") + 1])
        last = [e for e in events if e.get("name") == "model_run"][-1]
        begin, finish = last["ts"], last["ts"] + last["dur"]
        totals: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and begin <= event["ts"] <= finish:
                entry = totals[event["args"]["op_name"]]
                entry[0] += 1
                entry[1] += event["dur"] / 1000
        profiles[line[len(PROFILE_END):].strip()] = {
            op: (n, ms) for op, (n, ms) in sorted(totals.items(), key=lambda kv: -kv[1][1])}
    return profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="quint8,fp16,fp32", help="comma-separated, of quint8, fp16, fp32")
    parser.add_argument("--threads", default="2", help="comma-separated WASM thread counts (default 2)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant after one warm-up")
    parser.add_argument("--profile", action="store_true", help="print onnxruntime's per-op-type time of the last run")
    args = parser.parse_args()
    variants = args.variants.split(",")
    if set(variants) - {"quint8", "fp16", "fp32"}:
        parser.error("variants are quint8, fp16 and fp32")
    from playwright.sync_api import sync_playwright

    specs = variant_specs(variants)
    spec = specs[variants[0]]
    ((input_name, pixels),) = tensors.pixels_input(spec, imaging.decode(photo(PHOTO_SIZE)).pixels).items()
    feed = {"input": input_name, "shape": list(pixels.shape), "output": spec.outputs[0].name}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        site = Path(tmp)
        stage_site(site, specs, pixels)
        server = make_server(site)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        shape, working = ("x".join(map(str, dims)) for dims in (pixels.shape, tensors.working_size(spec)))
        print(f"Chromium {browser.version}, onnxruntime-web from dist/ort, input {input_name} uint8 {shape} "
              f"(a photo; the graph resizes it to {working} and normalises it)", flush=True)
        for threads in args.threads.split(","):
            page = browser.new_page()
            page.set_default_timeout(1_800_000)
            console: list[str] = []
            page.on("console", lambda message, lines=console: lines.append(message.text))
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/?threads={threads}")
            page.wait_for_function("() => window.probeReady === true")  # a function: the CSP forbids eval
            if not page.evaluate("self.crossOriginIsolated"):
                print("  warning: the page is not cross-origin isolated, so onnxruntime runs on one thread")
            results = page.evaluate("([v, r, p, f]) => window.probe(v, r, p, f)",
                                    [variants, args.runs, args.profile, feed])
            for variant, r in results.items():
                rows.append([variant, threads, f"{r['createMs'] / 1000:.2f}", f"{r['firstRunMs'] / 1000:.2f}",
                             f"{statistics.median(r['runsMs']) / 1000:.2f}",
                             " ".join(f"{m / 1000:.2f}" for m in r["runsMs"])])
            for variant, ops in op_profiles(console).items():
                total = sum(ms for _, ms in ops.values())
                print(f"{variant}, {threads} threads: onnxruntime kernel time {total / 1000:.2f} s in the last run")
                for op, (n, ms) in ops.items():
                    print(f"  {op:22s} {n:4d} nodes {ms / 1000:7.2f} s {ms / total:6.1%}")
            page.close()
        browser.close()
        server.shutdown()
    header = ["variant", "threads", "session s", "first run s", "median run s", "runs s"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()

// The @imgly/background-removal side of bench/vs_imgly: bundled by run.py with esbuild
// into build/imgly.bundle.js and loaded by imgly.html.
//
//   await window.imglyReady
//   const { blob, wallMs, timings, ... } = await window.imglyRun(jpegBlob, { model: "isnet_quint8", device: "cpu" })
//
// `blob` is imgly's mask (segmentForeground, PNG; the mask is its alpha channel).
// All resources (model chunks and onnxruntime-web's wasm) come from ./data/ on this
// page's own server, a copy of @imgly/background-removal-data's dist/ -- never a CDN.
import { segmentForeground } from "@imgly/background-removal";
import * as ort from "onnxruntime-web";

// Names the newer imgly API (and the brief) uses, mapped onto 1.4.5's "small"/"medium".
const MODELS = { isnet_quint8: "small", small: "small", isnet_fp16: "medium", medium: "medium" };
const PUBLIC_PATH = new URL("./data/", location.href).href;

let marks = null; // progress events of the run in flight: key -> time of its last event

// One constant config per model, so imgly's memoised session (keyed on the JSON of the
// config; the progress function is not part of it) is reused by warm runs.
function configFor(model) {
  return {
    publicPath: PUBLIC_PATH,
    model,
    proxyToWorker: true, // imgly's default: onnxruntime runs in its proxy worker
    debug: false,
    output: { format: "image/png", quality: 0.8 },
    progress: (key, current, total) => {
      if (!marks) return;
      const t = performance.now();
      if (key.startsWith("fetch:")) marks.fetchEnd = Math.max(marks.fetchEnd ?? 0, t);
      if (key === "compute:inference") marks[current === 0 ? "inferStart" : "inferEnd"] = t;
    },
  };
}

window.imglyRun = async (blob, { model = "isnet_quint8", device = "cpu" } = {}) => {
  if (device !== "cpu") throw new Error(`@imgly/background-removal 1.4.5 runs on the CPU (WASM) only, not ${device}`);
  const imglyModel = MODELS[model];
  if (!imglyModel) throw new Error(`unknown model ${model}`);
  const config = configFor(imglyModel);
  marks = {};
  const started = performance.now();
  const mask = await segmentForeground(blob, config);
  const ended = performance.now();
  const m = marks;
  marks = null;
  const timings = {};
  if (m.fetchEnd) timings.fetch = m.fetchEnd - started; // cold runs only: resources.json + chunks
  if (m.inferStart) {
    // cold: fetch end -> inference start is session creation + decode; warm: decode only
    timings.before_infer = m.inferStart - (m.fetchEnd ?? started);
    timings.infer = m.inferEnd - m.inferStart; // resize to 1024, ort run, resize back
    timings.encode = ended - m.inferEnd; // mask -> RGBA -> PNG (OffscreenCanvas)
  }
  return {
    blob: mask,
    wallMs: ended - started,
    timings,
    model: imglyModel,
    backend: "wasm",
    ort: {
      version: ort.env.versions?.web ?? "?",
      numThreads: ort.env.wasm.numThreads,
      simd: ort.env.wasm.simd,
      proxy: ort.env.wasm.proxy,
    },
    crossOriginIsolated: self.crossOriginIsolated,
  };
};

window.imglyReady = Promise.resolve({ crossOriginIsolated: self.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency });

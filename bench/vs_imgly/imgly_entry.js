// The @imgly/background-removal (1.7.0) side of bench/vs_imgly: bundled by run.py with
// esbuild into build/imgly.bundle.js and loaded by imgly.html.
//
//   await window.imglyReady
//   const { blob, wallMs, timings, ... } = await window.imglyRun(jpegBlob, { model: "isnet_quint8", device: "cpu" })
//
// `blob` is imgly's mask (segmentForeground, PNG; the mask is its alpha channel).
// All resources (model chunks, onnxruntime-web's wasm and mjs) come from ./build/data/ on
// this page's own server, made by run.py from @imgly/background-removal-data 1.4.5 and
// onnxruntime-web 1.21.0 -- never from a CDN.
import { segmentForeground } from "@imgly/background-removal";
import * as ort from "onnxruntime-web";

const PUBLIC_PATH = new URL("./build/data/", location.href).href;

let marks = null; // times of the run in flight: key -> performance.now() of its last event
const mark = (key) => {
  if (marks) marks[key] = performance.now();
};

// imgly 1.7.0's segmentForeground reports only its downloads through `progress`, so session
// creation and inference are timed where imgly calls onnxruntime-web (the same module
// instance: esbuild bundles it once).
const create = ort.InferenceSession.create;
ort.InferenceSession.create = async (...args) => {
  mark("sessionStart");
  try {
    return await create.apply(ort.InferenceSession, args);
  } finally {
    mark("sessionEnd");
  }
};
const run = ort.InferenceSession.prototype.run;
ort.InferenceSession.prototype.run = async function (...args) {
  mark("inferStart");
  try {
    return await run.apply(this, args);
  } finally {
    mark("inferEnd");
  }
};

// One constant config per model and device, so imgly's memoised session (keyed on the JSON
// of the config; the progress function is not part of it) is reused by later runs.
// proxyToWorker stays at 1.7.0's default (false; imgly ignores it on the CPU anyway), and
// imgly sets onnxruntime's threads to navigator.hardwareConcurrency itself.
function configFor(model, device) {
  return {
    publicPath: PUBLIC_PATH,
    model,
    device,
    debug: false,
    output: { format: "image/png", quality: 0.8 },
    progress: (key) => {
      if (key.startsWith("fetch:")) mark("fetchEnd");
    },
  };
}

// Phases of one run from its marks; a later run has no fetch and no session creation.
function phases(m, started, ended) {
  const timings = {};
  if (m.fetchEnd) timings.fetch = m.fetchEnd - started; // model, then wasm, then mjs: resources.json + chunks each
  if (m.sessionStart) timings.session = m.sessionEnd - m.sessionStart; // wasm instantiation + session creation
  if (m.inferStart) {
    timings.before_infer = m.inferStart - (m.sessionEnd ?? started); // decode + resize to 1024 + tensor
    timings.infer = m.inferEnd - m.inferStart; // onnxruntime's run
    timings.after_infer = ended - m.inferEnd; // resize the mask back + RGBA -> PNG
  }
  return timings;
}

window.imglyRun = async (blob, { model = "isnet_quint8", device = "cpu" } = {}) => {
  marks = {};
  const started = performance.now();
  const mask = await segmentForeground(blob, configFor(model, device));
  const ended = performance.now();
  const timings = phases(marks, started, ended);
  marks = null;
  return {
    blob: mask,
    wallMs: ended - started,
    timings,
    model,
    backend: device === "cpu" ? "wasm" : device,
    ort: {
      version: ort.env.versions?.web ?? "?",
      numThreads: ort.env.wasm.numThreads,
      proxy: ort.env.wasm.proxy,
    },
    crossOriginIsolated: self.crossOriginIsolated,
  };
};

window.imglyReady = Promise.resolve({ crossOriginIsolated: self.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency });

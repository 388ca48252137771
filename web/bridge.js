// The JavaScript half of the Runtime boundary, loaded in the Python worker.
// It owns what only JavaScript can do: the device probe, the browser's image decoder,
// the model store (model_store.js) and onnxruntime-web sessions, which live in a model
// worker of their own (model_worker.js) so inference and Python never share a thread.
// Python calls it through darkroom/browser.py; expected failures come back as
// {error: {kind, message}} so Python can tell an unverified file from a runtime failure.
import { sha256 } from "./model_store.js";
import { WASM_THREADS, adapterLimits, decodeImage, rgbOf, rgbaOf } from "./platform.js";
import { WorkerCalls } from "./rpc.js";

export { byteProgress, deleteModels, pruneModels, storageReport, storeModel } from "./model_store.js";

let progressSink = () => {};

export function setProgressSink(sink) {
  progressSink = sink;
}

// --- the model worker ----------------------------------------------------------------
const modelCalls = new WorkerCalls((event) => progressSink(event));
let modelWorker = null;

function startModelWorker() {
  modelWorker = new Worker(new URL("./model_worker.js", import.meta.url), { type: "module" });
  modelCalls.connect(modelWorker);
  // The model worker dying outright is this worker dying: the page then restarts both,
  // keeping the photo and results.
  modelWorker.onerror = (event) => {
    event.preventDefault();
    setTimeout(() => { throw new Error(`the model worker stopped (${event.message || "unknown error"})`); });
  };
}

startModelWorker();

// onnxruntime's WebAssembly aborted (out of memory) but the model worker still answers:
// a fresh model worker replaces it, so the next run finds as much memory as in a fresh
// page, and Python (told by the reply's kind, "aborted") drops its sessions, not its work.
function replaceModelWorker() {
  modelWorker.terminate();
  modelCalls.failAll(new Error("the model worker was replaced after running out of memory"));
  loads.clear();
  startModelWorker();
}

const ask = (op, args, transfer) => modelCalls.call(op, args, transfer);

export function injectFault(where, model = "") {
  return ask("injectFault", { where, model });
}

// Loads by "model@backend", kept on this side: the model worker cannot answer while an
// inference holds its thread, and a session that is ready need not wait for that.
const loads = new Map();

function load(spec, backend) {
  const key = `${spec.id}@${backend}`;
  if (!loads.has(key)) {
    const reply = ask("loadModel", { spec, backend });
    loads.set(key, reply);
    reply.then((r) => { if (r.error) loads.delete(key); }, () => loads.delete(key));
  }
  return loads.get(key);
}

export async function loadModel(specJson, backend) {
  return load(JSON.parse(specJson), backend);
}

// Before Python is ready: load `spec` on `backend`, and start its inference on `blob`
// (a photo) if it takes the photo's pixels as they are. Never fails.
export async function early(spec, backend, blob, maxPixels) {
  try {
    const loaded = await load(spec, backend);
    if (!loaded.error && blob) await ask("early", { handle: loaded.handle, spec, blob, maxPixels });
  } catch (err) {
    console.warn("early start failed:", err);
  }
}

// By the typed array Pyodide gives for a buffer: format codes differ by platform (int32
// is "l" on wasm32, where a C long has 32 bits).
const DTYPES = { Float32Array: "float32", Int8Array: "int8", Uint8Array: "uint8", Int32Array: "int32", BigInt64Array: "int64" };

// `feeds` maps input names to PyProxies of numpy arrays; each is copied once into a
// buffer that moves (without a further copy) to the model worker.
export async function run(handle, feeds, outputNames) {
  const sent = {};
  for (const [name, array] of Object.entries(feeds)) {
    // Pyodide gives float16 no typed array: its bits go as Uint16Array, which onnxruntime-web takes.
    const numpyType = array.dtype;
    const half = numpyType.name === "float16";
    numpyType.destroy();
    const view = array.getBuffer(half ? "u16" : undefined);
    try {
      const dtype = half ? "float16" : DTYPES[view.data.constructor.name];
      if (!dtype) return { error: { kind: "runtime", message: `input ${name} is a ${view.data.constructor.name}, which no model here takes` } };
      sent[name] = { dtype, dims: view.shape, data: view.data.slice() };
    } finally {
      view.release();
    }
  }
  const asked = performance.timeOrigin + performance.now();
  const reply = await ask("run", { handle, feeds: sent, outputNames: Array.from(outputNames) }, Object.values(sent).map((feed) => feed.data.buffer));
  if (reply.error?.kind === "aborted") replaceModelWorker();
  // An early result: how long before this run asked for it its inference had started.
  if (reply.early) reply.early.aheadMs = asked - reply.early.startedAt;
  return reply;
}

export async function release(handle) {
  for (const [key, reply] of loads) if ((await reply).handle === handle) loads.delete(key);
  await ask("release", { handle });
}

// A user's ONNX file: its sha256 and the tensors onnxruntime-web reads from it (an open
// dimension is 0), or {error} when onnxruntime-web cannot load it at all.
export async function inspectModel(bytes) {
  const found = await ask("inspect", { bytes: bytes.slice() });
  return found.error ? found : { sha256: await sha256(bytes), ...found };
}

// --- the device probe -------------------------------------------------------------
// WASM SIMD: a module whose only function uses v128 validates only where SIMD exists.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0,
  65, 0, 253, 15, 253, 98, 11]);

async function probeWebGpu() {
  if (!("gpu" in navigator)) return { available: false, error: "navigator.gpu is missing" };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { available: false, error: "no adapter was offered" };
    const info = adapter.info || {};
    return {
      available: true,
      adapter: { vendor: info.vendor || "", architecture: info.architecture || "", device: info.device || "",
        description: info.description || "", isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) },
      features: Array.from(adapter.features).sort(),
      limits: adapterLimits(adapter),
    };
  } catch (err) {
    return { available: false, error: `requesting an adapter failed: ${err.message}` };
  }
}

// Never throws: a broken GPU is a fact in the report, not a crash.
export async function probe() {
  let simd = false;
  try { simd = WebAssembly.validate(SIMD_PROBE); } catch { /* reported as false */ }
  return {
    webgpu: await probeWebGpu(),
    deviceMemory: navigator.deviceMemory ?? null,
    hardwareConcurrency: navigator.hardwareConcurrency || 1,
    crossOriginIsolated: Boolean(self.crossOriginIsolated),
    wasm: { simd, threads: typeof SharedArrayBuffer !== "undefined" && Boolean(self.crossOriginIsolated), numThreads: WASM_THREADS },
    userAgent: navigator.userAgent,
  };
}

// The browser's own image decoder, for the formats Pillow in Pyodide cannot read (AVIF),
// colour profiles and JPEG's pixels. Returns {width, height, pixels(), rgb()}, where
// pixels() resolves to straight-alpha sRGB RGBA bytes and rgb() to RGB bytes (either,
// once, and only after Python has checked the size), or {error}.
export async function decodeWithBrowser(blob) {
  const { bitmap, error } = await decodeImage(blob);
  if (error) return { error };
  return { width: bitmap.width, height: bitmap.height, pixels: async () => rgbaOf(bitmap), rgb: async () => rgbOf(bitmap) };
}

// onnxruntime-web's home: sessions on WASM or WebGPU, in a worker of their own so that an
// inference and Python (booting, or pre/post-processing in the Python worker) never
// take turns on one thread. Started and spoken to only by bridge.js.
//
// Protocol: {id, op, ...} in, {id, ok, value|error} out (output buffers transferred);
// {type: "progress", ...} events while downloading and loading.
import * as ortWasm from "./ort/ort.wasm.min.mjs";
import { VerificationError, verifiedBytes } from "./model_store.js";
import { WASM_THREADS, adapterLimits, decodeImage, rgbOf } from "./platform.js";

const ORT_DIR = new URL("./ort/", import.meta.url).href;
const sessions = new Map(); // handle -> {session, ort, gpu, model, queue, early}
let nextHandle = 1;
let ortGpu = null; // the WebGPU build of onnxruntime-web, imported on first use (27 MB of wasm)
let gpu = null; // {device, lost: null | reason}

const progress = (event) => self.postMessage({ type: "progress", ...event });

// Fault injection for the recovery tests (window.darkroom.injectFault): the next load
// or inference (of `model`, or of any model) fails the way a real one does, the worker
// dies mid-inference, or onnxruntime's WebAssembly aborts (a failed memory grow), after
// which, as after a real abort, nothing more runs in this worker.
const FAULTS = new Set(["load", "infer", "crash", "abort"]);
let armedFault = null; // {where, model}
let aborted = null; // the abort that left onnxruntime's WebAssembly unusable

// onnxruntime-web's WebAssembly is built without C++ exceptions: running out of memory
// (a failed memory grow, bad_alloc) aborts the whole module, not just the call.
const isAbort = (err) => err instanceof WebAssembly.RuntimeError
  || /Aborted\(|out of memory|bad_alloc|Maximum memory size|memory access out of bounds/i.test(err.message || "");

function faultDue(where, model) {
  if (!armedFault || armedFault.where !== where || (armedFault.model && armedFault.model !== model)) return false;
  armedFault = null;
  return true;
}

function configure(ort) {
  ort.env.wasm.wasmPaths = ORT_DIR;
  ort.env.wasm.numThreads = WASM_THREADS;
  // onnxruntime's warnings (e.g. shape ops placed on the CPU) reach the console as errors.
  ort.env.logLevel = "error";
}

configure(ortWasm);

// One device for all WebGPU sessions, asking for the adapter's real limits rather than
// the small defaults; recreated after a loss.
async function gpuDevice() {
  if (gpu && !gpu.lost) return gpu.device;
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  const requiredLimits = adapterLimits(adapter);
  const requiredFeatures = adapter.features.has("shader-f16") ? ["shader-f16"] : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const state = { device, lost: null };
  device.lost.then((info) => { state.lost = info.message || info.reason || "device lost"; });
  gpu = state;
  return device;
}

async function runtimeFor(backend) {
  if (backend === "wasm") return ortWasm;
  if (!ortGpu) {
    ortGpu = await import("./ort/ort.webgpu.min.mjs");
    configure(ortGpu);
  }
  return ortGpu;
}

async function loadModel({ spec, backend }) {
  let bytes;
  try {
    bytes = await verifiedBytes(spec.files[0], progress);
  } catch (err) {
    return { error: { kind: err instanceof VerificationError ? "unverified" : "download", message: err.message } };
  }
  const started = performance.now();
  try {
    if (faultDue("load", spec.id)) throw new Error("injected fault: the session could not be created");
    progress({ stage: "session", model: spec.id, backend });
    const ort = await runtimeFor(backend);
    const provider = backend === "webgpu" ? { name: "webgpu", device: await gpuDevice() } : "wasm";
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: "all",
      // Without one preplanned block for all activations, WASM memory (which never
      // shrinks) peaks about 150 MB lower for ISNet at the same speed.
      enableMemPattern: false,
      logSeverityLevel: 3, // errors only: its warnings are not the user's business
    });
    const handle = nextHandle++;
    sessions.set(handle, { session, ort, gpu: backend === "webgpu" ? gpu : null, model: spec.id,
      queue: Promise.resolve(), early: null });
    return { handle, backend, loadMs: performance.now() - started };
  } catch (err) {
    return { error: { kind: "runtime", message: `onnxruntime-web could not load ${spec.id} on ${backend}: ${err.message}` } };
  }
}

// Float16 has no typed array Pyodide can read: its bits travel as Uint16Array.
function outputOf({ data, dims, type }) {
  const bits = type === "float16" ? new Uint16Array(data.buffer, data.byteOffset, data.length) : data;
  const owned = bits.byteOffset === 0 && bits.byteLength === bits.buffer.byteLength ? bits : bits.slice();
  return { data: owned, dims: Array.from(dims), type };
}

// `feeds`: {name: {dtype, dims, data}}. Runs of one session wait for each other.
function infer(entry, feeds, outputNames) {
  const run = entry.queue.then(async () => {
    try {
      if (entry.gpu && entry.gpu.lost) throw new Error(`the GPU device was lost (${entry.gpu.lost})`);
      if (aborted) throw aborted;
      if (faultDue("infer", entry.model)) throw new Error("injected fault: inference failed");
      if (faultDue("abort", entry.model)) throw new WebAssembly.RuntimeError("Aborted(OOM) (injected fault)");
      if (faultDue("crash", entry.model)) {
        setTimeout(() => { throw new Error("injected crash"); }); // uncaught, as a WebAssembly abort would be
        return new Promise(() => {}); // and the run never finishes
      }
      const tensors = Object.fromEntries(Object.entries(feeds).map(([name, { dtype, dims, data }]) => [name, new entry.ort.Tensor(dtype, data, dims)]));
      const started = performance.now();
      const results = await entry.session.run(tensors, outputNames);
      const outputs = Object.fromEntries(outputNames.map((name) => [name, outputOf(results[name])]));
      return { outputs, inferMs: performance.now() - started };
    } catch (err) {
      if (isAbort(err)) {
        aborted = err;
        return { error: { kind: "aborted", message: `onnxruntime-web ran out of memory running ${entry.model} (${err.message})` } };
      }
      return { error: { kind: "runtime", message: `onnxruntime-web failed running the model: ${err.message}` } };
    }
  });
  entry.queue = run;
  return run;
}

function sameBytes(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  const words = a.byteLength % 4 === 0 && a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0;
  const [x, y] = words ? [new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4), new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4)]
    : [new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function sameFeeds(a, b) {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => b[name] && a[name].dtype === b[name].dtype
    && a[name].dims.join() === b[name].dims.join() && sameBytes(a[name].data, b[name].data));
}

// A run's result is the early inference's when its feeds are byte for byte the ones the
// early inference had (so the result cannot differ); otherwise the model runs afresh.
async function run({ handle, feeds, outputNames }) {
  const entry = sessions.get(handle);
  if (!entry) return { error: { kind: "runtime", message: "the model session is gone; run again" } };
  const early = entry.early;
  entry.early = null;
  if (early && sameFeeds(early.feeds, feeds)) {
    const reply = await early.reply;
    if (!reply.error) return { ...reply, early: { startedAt: early.startedAt } };
  }
  return infer(entry, feeds, outputNames);
}

// The photo as the browser decodes it (EXIF orientation applied, straight alpha), as
// uint8 RGB [1, H, W, 3]; null when it cannot be decoded or exceeds maxPixels.
async function browserPixels(blob, maxPixels) {
  const { bitmap } = await decodeImage(blob);
  if (!bitmap) return null; // Python's own decoder will say what is wrong with the file
  const { width, height } = bitmap;
  if (width * height > maxPixels) {
    bitmap.close();
    return null;
  }
  return { dtype: "uint8", dims: [1, height, width, 3], data: rgbOf(bitmap) };
}

// A model whose one input is the photo itself, uint8 RGB [1, H, W, 3] at any size.
const takesPixels = (spec) => spec.inputs.length === 1 && spec.inputs[0].dtype === "uint8" && spec.inputs[0].shape.length === 4
  && spec.inputs[0].shape[3] === 3;

// Before Python is ready: start the inference of a loaded model that takes the photo's
// pixels as they are, on the browser's decode of the photo. Python still decides,
// decodes, checks and labels; the result is used only when its feeds match (see run).
async function early({ handle, spec, blob, maxPixels }) {
  const entry = sessions.get(handle);
  if (!entry || !takesPixels(spec)) return;
  const startedAt = performance.timeOrigin + performance.now(); // comparable across workers
  const pixels = await browserPixels(blob, maxPixels);
  if (!pixels) return;
  const feeds = { [spec.inputs[0].name]: pixels };
  entry.early = { feeds, startedAt, reply: infer(entry, feeds, spec.outputs.map((o) => o.name)) };
}

// A user's ONNX file: the tensors onnxruntime-web reads from it (an open dimension is
// 0), or {error} when onnxruntime-web cannot load it at all.
async function inspect({ bytes }) {
  let session;
  try {
    session = await ortWasm.InferenceSession.create(bytes, { executionProviders: ["wasm"], logSeverityLevel: 3 });
  } catch (err) {
    return { error: `This file is not a model onnxruntime-web can load (${err.message}).` };
  }
  const describe = (list) => list.map((m) => ({
    name: m.name,
    dtype: m.isTensor ? m.type : "not a tensor",
    shape: m.isTensor ? m.shape.map((d) => (typeof d === "number" && d > 0 ? d : 0)) : [],
  }));
  const found = { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
  await session.release();
  return found;
}

async function release({ handle }) {
  const entry = sessions.get(handle);
  sessions.delete(handle);
  if (!entry) return;
  await entry.session.release().catch(() => {}); // a lost device cannot release cleanly
}

const handlers = {
  injectFault({ where, model }) {
    if (!FAULTS.has(where)) throw new Error(`unknown fault ${where}; one of ${[...FAULTS].join(", ")}`);
    armedFault = { where, model };
  },
  loadModel,
  run,
  early,
  inspect,
  release,
};

// A run's output tensors move to the Python worker without a copy.
const transferables = (value) => Object.values(value?.outputs || {}).filter((output) => ArrayBuffer.isView(output?.data)).map((output) => output.data.buffer);

self.onmessage = async ({ data }) => {
  const { id, op, ...args } = data;
  try {
    const value = await handlers[op](args);
    self.postMessage({ id, ok: true, value }, transferables(value));
  } catch (err) {
    self.postMessage({ id, ok: false, error: err.message || String(err) });
  }
};

// The JavaScript half of the Runtime boundary, loaded in the Python worker.
// It owns what only JavaScript can do: the device probe, verified model downloads
// (sha256-checked + Cache Storage) and onnxruntime-web sessions on WASM or WebGPU.
// Python calls it through darkroom/browser.py; expected failures come back as
// {error: {kind, message}} so Python can tell an unverified file from a runtime failure.
import * as ortWasm from "./ort/ort.wasm.min.mjs";

const MODEL_CACHE = "darkroom-models-v1";
const ORT_DIR = new URL("./ort/", import.meta.url).href;
// Threads need cross-origin isolation (SharedArrayBuffer).
const THREADS = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
// Limits worth raising from the WebGPU defaults for big convolutions.
const GPU_LIMITS = ["maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ", "maxStorageBuffersPerShaderStage"];
const MB = 1024 * 1024;
const sessions = new Map();
let nextHandle = 1;
let progressSink = () => {};
let ortGpu = null; // the WebGPU build of onnxruntime-web, imported on first use (27 MB of wasm)
let gpu = null; // {device, lost: null | reason}

class VerificationError extends Error {}

// Fault injection for the recovery tests (window.darkroom.injectFault): the next load
// or inference (of `model`, or of any model) fails the way a real one does, or the
// worker dies mid-inference.
const FAULTS = new Set(["load", "infer", "crash"]);
let armedFault = null; // {where, model}

export function injectFault(where, model = "") {
  if (!FAULTS.has(where)) throw new Error(`unknown fault ${where}; one of ${[...FAULTS].join(", ")}`);
  armedFault = { where, model };
}

function faultDue(where, model) {
  if (!armedFault || armedFault.where !== where || (armedFault.model && armedFault.model !== model)) return false;
  armedFault = null;
  return true;
}

configure(ortWasm);

function configure(ort) {
  ort.env.wasm.wasmPaths = ORT_DIR;
  ort.env.wasm.numThreads = THREADS;
  // onnxruntime's warnings (e.g. shape ops placed on the CPU) reach the console as errors.
  ort.env.logLevel = "error";
}

export function setProgressSink(sink) {
  progressSink = sink;
}

// A callback for a download of `total` bytes that reports bytes, percent and speed.
export function byteProgress(report, stage, file, total) {
  const started = performance.now();
  return (loaded) => {
    const seconds = (performance.now() - started) / 1000;
    report({ stage, file, loaded, total, bytesPerSecond: loaded / Math.max(seconds, 1e-3) });
  };
}

function adapterLimits(adapter) {
  return Object.fromEntries(GPU_LIMITS.map((key) => [key, adapter.limits[key]]));
}

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
    wasm: { simd, threads: typeof SharedArrayBuffer !== "undefined" && Boolean(self.crossOriginIsolated), numThreads: THREADS },
    userAgent: navigator.userAgent,
  };
}

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

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Collects a model file into one buffer of the manifest's size, so bytes may arrive over
// several responses and an oversized file is cut off early. The sha256 is taken once the
// file is complete, by SubtleCrypto: 0.15 s for ISNet's 88 MB in headless Chromium here,
// against 1.6 s for a JavaScript sha256 on every model load. Its transient copy of the
// buffer comes before inference, below the run's peak memory.
class VerifyingSink {
  constructor(file) {
    this.file = file;
    this.bytes = new Uint8Array(file.bytes);
    this.loaded = 0;
    this.problem = null;
  }

  // Reads a response body into the sink; stops early once the file is known to be bad.
  async pump(response, onProgress = () => {}) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (this.loaded + value.byteLength > this.bytes.byteLength) {
        await reader.cancel();
        this.problem = "is larger than the manifest says";
        return;
      }
      this.bytes.set(value, this.loaded);
      this.loaded += value.byteLength;
      onProgress(this.loaded);
    }
  }

  // {bytes} when the file is complete and its sha256 matches, else {problem}.
  async result() {
    if (this.problem) return { problem: this.problem };
    if (this.loaded !== this.file.bytes) return { problem: `is truncated (${this.loaded} of ${this.file.bytes} bytes)` };
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", this.bytes));
    if (hex(digest) !== this.file.sha256) return { problem: "failed sha256 verification" };
    return { bytes: this.bytes };
  }
}

const MAX_RESUMES = 3;

// Downloads with progress; a connection that breaks mid-file resumes from the last byte
// when the server accepts ranges.
async function download(file) {
  const url = new URL(`./models/${file.name}`, import.meta.url);
  const sink = new VerifyingSink(file);
  const progress = byteProgress(progressSink, "model", file.name, file.bytes);
  let response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`download of ${file.name} failed: HTTP ${response.status}`);
  for (let resumes = 0; ; resumes++) {
    try {
      await sink.pump(response, progress);
      return await sink.result();
    } catch (broken) {
      if (resumes === MAX_RESUMES || response.headers.get("accept-ranges") !== "bytes") throw broken;
      progressSink({ stage: "retry", message: `connection lost at ${(sink.loaded / MB).toFixed(1)} MB; resuming ${file.name}` });
      response = await fetch(url, { cache: "no-store", headers: { Range: `bytes=${sink.loaded}-` } });
      if (response.status !== 206) throw broken;
    }
  }
}

// The only way model bytes reach onnxruntime: from the cache or the network, and
// always checked against the manifest's size and sha256 first.
const cacheKey = (file) => new URL(`./models/${file.name}?sha256=${file.sha256}`, import.meta.url).href;
const USER_FILE = "user-"; // a user's own model: only ever in the cache, never on the server

async function verifiedBytes(file) {
  const cache = await caches.open(MODEL_CACHE);
  const key = cacheKey(file);
  const cached = await cache.match(key);
  if (cached) {
    const sink = new VerifyingSink(file);
    await sink.pump(cached);
    const { bytes } = await sink.result();
    if (bytes) return bytes;
    await cache.delete(key); // damaged on disk: fetch it again
  }
  if (file.name.startsWith(USER_FILE)) {
    throw new VerificationError(`your model ${file.name} is no longer stored on this device; add it again`);
  }
  // A bad download is retried once (a flaky connection), then reported; never run.
  for (let attempt = 1; ; attempt++) {
    const { bytes, problem } = await download(file);
    if (bytes) {
      await storeModel(file, bytes);
      return bytes;
    }
    if (attempt === 2) throw new VerificationError(`${file.name} ${problem} twice; it was discarded and not run`);
    progressSink({ stage: "retry", message: `${file.name} ${problem}; discarded, downloading it again` });
  }
}

// The browser's own image decoder, for the formats Pillow in Pyodide cannot read (AVIF).
// Returns {width, height, pixels()} where pixels() resolves to straight-alpha sRGB RGBA
// bytes (asked for only once Python has checked the size), or {error}.
export async function decodeWithBrowser(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", premultiplyAlpha: "none" });
  } catch (err) {
    return { error: err.message || String(err) };
  }
  const { width, height } = bitmap;
  return {
    width,
    height,
    pixels: async () => {
      const canvas = new OffscreenCanvas(width, height);
      const context = canvas.getContext("2d", { colorSpace: "srgb" });
      context.drawImage(bitmap, 0, 0);
      bitmap.close();
      return new Uint8Array(context.getImageData(0, 0, width, height).data.buffer);
    },
  };
}

// --- the model store: what is cached, how much space it takes, deleting ------------------
async function cachedModels() {
  const cache = await caches.open(MODEL_CACHE);
  const entries = [];
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    const response = await cache.match(request);
    entries.push({ request, name: url.pathname.split("/").pop(), sha256: url.searchParams.get("sha256"),
      bytes: Number(response.headers.get("content-length")) || 0 });
  }
  return { cache, entries };
}

export async function storageReport() {
  const { entries } = await cachedModels();
  const estimate = navigator.storage?.estimate ? await navigator.storage.estimate() : {};
  return {
    models: entries.map(({ name, sha256, bytes }) => ({ name, sha256, bytes })),
    usage: estimate.usage ?? null,
    quota: estimate.quota ?? null,
  };
}

// Deletes one cached model file by name, or all of them when name is empty.
export async function deleteModels(name) {
  const { cache, entries } = await cachedModels();
  for (const entry of entries) if (!name || entry.name === name) await cache.delete(entry.request);
}

// A new release keeps the model files whose sha256 it still lists, and the user's own
// models, and drops the rest.
export async function pruneModels(manifest) {
  const wanted = new Set(Object.values(manifest.models).flatMap((m) => m.files.map((f) => `${f.name}:${f.sha256}`)));
  const { cache, entries } = await cachedModels();
  for (const entry of entries) {
    if (!entry.name.startsWith(USER_FILE) && !wanted.has(`${entry.name}:${entry.sha256}`)) await cache.delete(entry.request);
  }
}

// A user's ONNX file: its sha256 and the tensors onnxruntime-web reads from it (an open
// dimension is 0), or {error} when onnxruntime-web cannot load it at all.
export async function inspectModel(bytes) {
  const sha256 = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
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
  const found = { sha256, inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
  await session.release();
  return found;
}

// Keeps a model file ({name, sha256}) where verifiedBytes looks first: a verified
// download, or a checked user model (verified against its sha256 before every session,
// like every model).
export async function storeModel(file, bytes) {
  const cache = await caches.open(MODEL_CACHE);
  await cache.put(cacheKey(file), new Response(bytes, {
    headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) },
  }));
}

export async function loadModel(specJson, backend) {
  const spec = JSON.parse(specJson);
  let bytes;
  try {
    bytes = await verifiedBytes(spec.files[0]);
  } catch (err) {
    return { error: { kind: err instanceof VerificationError ? "unverified" : "download", message: err.message } };
  }
  const started = performance.now();
  try {
    if (faultDue("load", spec.id)) throw new Error("injected fault: the session could not be created");
    progressSink({ stage: "session", model: spec.id, backend });
    const ort = await runtimeFor(backend);
    const provider = backend === "webgpu" ? { name: "webgpu", device: await gpuDevice() } : "wasm";
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3, // errors only: its warnings are not the user's business
    });
    const handle = nextHandle++;
    sessions.set(handle, { session, ort, gpu: backend === "webgpu" ? gpu : null, model: spec.id });
    return { handle, backend, loadMs: performance.now() - started };
  } catch (err) {
    return { error: { kind: "runtime", message: `onnxruntime-web could not load ${spec.id} on ${backend}: ${err.message}` } };
  }
}

// By the typed array Pyodide gives for a buffer: format codes differ by platform (int32
// is "l" on wasm32, where a C long has 32 bits).
const DTYPES = { Float32Array: "float32", Int8Array: "int8", Uint8Array: "uint8", Int32Array: "int32", BigInt64Array: "int64" };

// `feeds` maps input names to PyProxies of numpy arrays; their memory is read in
// place (no copy on this side), and released once onnxruntime has taken its copy.
export async function run(handle, feeds, outputNames) {
  const { session, ort, gpu: device, model } = sessions.get(handle);
  const views = [];
  try {
    if (device && device.lost) throw new Error(`the GPU device was lost (${device.lost})`);
    if (faultDue("infer", model)) throw new Error("injected fault: inference failed");
    if (faultDue("crash", model)) {
      setTimeout(() => { throw new Error("injected crash"); }); // uncaught, as a WebAssembly abort would be
      return new Promise(() => {}); // and the run never finishes
    }
    const tensors = {};
    for (const [name, array] of Object.entries(feeds)) {
      // Pyodide gives float16 no typed array: its bits go as Uint16Array, which onnxruntime-web takes.
      const numpyType = array.dtype;
      const half = numpyType.name === "float16";
      numpyType.destroy();
      const view = array.getBuffer(half ? "u16" : undefined);
      views.push(view);
      const dtype = half ? "float16" : DTYPES[view.data.constructor.name];
      if (!dtype) throw new Error(`input ${name} is a ${view.data.constructor.name}, which no model here takes`);
      tensors[name] = new ort.Tensor(dtype, view.data, view.shape);
    }
    const results = await session.run(tensors, outputNames);
    const outputs = {};
    for (const name of outputNames) {
      const { data, dims, type } = results[name];
      // Chromium's Float16Array is a typed array Pyodide cannot read: hand over its bits.
      const bits = type === "float16" ? new Uint16Array(data.buffer, data.byteOffset, data.length) : data;
      outputs[name] = { data: bits, dims: Array.from(dims), type };
    }
    return { outputs };
  } catch (err) {
    return { error: { kind: "runtime", message: `onnxruntime-web failed running the model: ${err.message}` } };
  } finally {
    for (const view of views) view.release();
  }
}

export async function release(handle) {
  const entry = sessions.get(handle);
  sessions.delete(handle);
  if (entry) await entry.session.release().catch(() => {}); // a lost device cannot release cleanly
}

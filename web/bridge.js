// The JavaScript half of the Runtime boundary, loaded in the Python worker.
// It owns what only JavaScript can do: verified model downloads (SubtleCrypto +
// Cache Storage) and onnxruntime-web sessions. Python calls it through
// darkroom/browser.py; expected failures come back as {error: {kind, message}}
// so Python can tell an unverified file from a runtime failure.
import * as ort from "./ort/ort.wasm.min.mjs";

const MODEL_CACHE = "darkroom-models-v1";
const sessions = new Map();
let nextHandle = 1;
let progressSink = () => {};

class VerificationError extends Error {}

ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
// Threads need cross-origin isolation (SharedArrayBuffer); leave one core for the page.
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;

export function setProgressSink(sink) {
  progressSink = sink;
}

export function wasmThreads() {
  return ort.env.wasm.numThreads;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function matchesManifest(bytes, file) {
  if (bytes.byteLength !== file.bytes) return false;
  return hex(await crypto.subtle.digest("SHA-256", bytes)) === file.sha256;
}

// Streams the file into one preallocated buffer, reporting progress as it goes.
async function download(file) {
  const response = await fetch(new URL(`./models/${file.name}`, import.meta.url), { cache: "no-store" });
  if (!response.ok) throw new Error(`download of ${file.name} failed: HTTP ${response.status}`);
  const bytes = new Uint8Array(file.bytes);
  const reader = response.body.getReader();
  const started = performance.now();
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > bytes.byteLength) {
      await reader.cancel();
      throw new VerificationError(`${file.name} is larger than the manifest says; it was discarded and not run`);
    }
    bytes.set(value, loaded);
    loaded += value.byteLength;
    const seconds = (performance.now() - started) / 1000;
    progressSink({ stage: "model", file: file.name, loaded, total: file.bytes, bytesPerSecond: loaded / Math.max(seconds, 1e-3) });
  }
  return loaded === bytes.byteLength ? bytes : bytes.subarray(0, loaded);
}

// The only way model bytes reach onnxruntime: from the cache or the network, and
// always checked against the manifest's size and sha256 first.
async function verifiedBytes(file) {
  const cache = await caches.open(MODEL_CACHE);
  const key = new URL(`./models/${file.name}?sha256=${file.sha256}`, import.meta.url).href;
  const cached = await cache.match(key);
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    if (await matchesManifest(bytes, file)) return { bytes, from: "cache" };
    await cache.delete(key);
  }
  const bytes = await download(file);
  if (!(await matchesManifest(bytes, file))) {
    const what = bytes.byteLength === file.bytes ? "failed sha256 verification" : `is truncated (${bytes.byteLength} of ${file.bytes} bytes)`;
    throw new VerificationError(`${file.name} ${what}; it was discarded and not run`);
  }
  await cache.put(key, new Response(bytes, { headers: { "content-type": "application/octet-stream" } }));
  return { bytes, from: "network" };
}

export async function loadModel(specJson, backend) {
  const spec = JSON.parse(specJson);
  let bytes;
  try {
    ({ bytes } = await verifiedBytes(spec.files[0]));
  } catch (err) {
    return { error: { kind: err instanceof VerificationError ? "unverified" : "download", message: err.message } };
  }
  const started = performance.now();
  try {
    progressSink({ stage: "session", model: spec.id });
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: [backend],
      graphOptimizationLevel: "all",
    });
    const handle = nextHandle++;
    sessions.set(handle, session);
    return { handle, backend, loadMs: performance.now() - started };
  } catch (err) {
    return { error: { kind: "runtime", message: `onnxruntime-web could not load ${spec.id}: ${err.message}` } };
  }
}

const DTYPES = { f: "float32", "<f": "float32", b: "int8", B: "uint8", i: "int32", "<i": "int32" };

// `feeds` maps input names to PyProxies of numpy arrays; their memory is read in
// place (no copy on this side), and released once onnxruntime has taken its copy.
export async function run(handle, feeds, outputNames) {
  const session = sessions.get(handle);
  const views = [];
  try {
    const tensors = {};
    for (const [name, array] of Object.entries(feeds)) {
      const view = array.getBuffer();
      views.push(view);
      tensors[name] = new ort.Tensor(DTYPES[view.format], view.data, view.shape);
    }
    const results = await session.run(tensors, outputNames);
    const outputs = {};
    for (const name of outputNames) {
      outputs[name] = { data: results[name].data, dims: Array.from(results[name].dims) };
    }
    return { outputs };
  } catch (err) {
    return { error: { kind: "runtime", message: `onnxruntime-web failed running the model: ${err.message}` } };
  } finally {
    for (const view of views) view.release();
  }
}

export async function release(handle) {
  const session = sessions.get(handle);
  sessions.delete(handle);
  if (session) await session.release();
}

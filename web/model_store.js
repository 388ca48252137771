// Model files on this device: verified downloads and the user's own models in Cache
// Storage, keyed by sha256. Shared by the Python worker (storage panel, user models)
// and the model worker (which reads a file only through verifiedBytes).

const MODEL_CACHE = "darkroom-models-v1";
const MB = 1024 * 1024;
const MAX_RESUMES = 3;
export const USER_FILE = "user-"; // a user's own model: only ever in the cache, never on the server

export class VerificationError extends Error {}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256(bytes) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

// A callback for a download of `total` bytes that reports bytes, percent and speed.
export function byteProgress(report, stage, file, total) {
  const started = performance.now();
  return (loaded) => {
    const seconds = (performance.now() - started) / 1000;
    report({ stage, file, loaded, total, bytesPerSecond: loaded / Math.max(seconds, 1e-3) });
  };
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
    if (await sha256(this.bytes) !== this.file.sha256) return { problem: "failed sha256 verification" };
    return { bytes: this.bytes };
  }
}

// Downloads with progress; a connection that breaks mid-file resumes from the last byte
// when the server accepts ranges.
async function download(file, report) {
  const url = new URL(`./models/${file.name}`, import.meta.url);
  const sink = new VerifyingSink(file);
  const progress = byteProgress(report, "model", file.name, file.bytes);
  let response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`download of ${file.name} failed: HTTP ${response.status}`);
  for (let resumes = 0; ; resumes++) {
    try {
      await sink.pump(response, progress);
      return await sink.result();
    } catch (broken) {
      if (resumes === MAX_RESUMES || response.headers.get("accept-ranges") !== "bytes") throw broken;
      report({ stage: "retry", message: `connection lost at ${(sink.loaded / MB).toFixed(1)} MB; resuming ${file.name}` });
      response = await fetch(url, { cache: "no-store", headers: { Range: `bytes=${sink.loaded}-` } });
      if (response.status !== 206) throw broken;
    }
  }
}

const cacheKey = (file) => new URL(`./models/${file.name}?sha256=${file.sha256}`, import.meta.url).href;

// The only way model bytes reach onnxruntime: from the cache or the network, and
// always checked against the manifest's size and sha256 first. `report` receives
// download progress and retry events.
export async function verifiedBytes(file, report) {
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
    const { bytes, problem } = await download(file, report);
    if (bytes) {
      await storeModel(file, bytes);
      return bytes;
    }
    if (attempt === 2) throw new VerificationError(`${file.name} ${problem} twice; it was discarded and not run`);
    report({ stage: "retry", message: `${file.name} ${problem}; discarded, downloading it again` });
  }
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
    models: entries.map(({ name, sha256: digest, bytes }) => ({ name, sha256: digest, bytes })),
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

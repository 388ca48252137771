// Python's home: Pyodide and the darkroom package live in this worker (onnxruntime-web
// in the model worker bridge.js starts), so decoding, models and post-processing never
// block the page.
// Protocol: the page posts {id, op, ...}; the worker answers {id, ok, value|error}
// and sends {type: "progress", ...} events while booting and downloading.
import { loadPyodide } from "./pyodide/pyodide.mjs";
import * as bridge from "./bridge.js";
import { sha256 } from "./model_store.js";

const post = (message, transfer = []) => self.postMessage(message, transfer);
const progress = (event) => post({ type: "progress", ...event });
bridge.setProgressSink(progress);
const QUIET = { messageCallback: () => {}, errorCallback: console.warn }; // Pyodide's package log

// Fetch the runtime's files not yet in this origin's caches once, with byte progress;
// Pyodide then gets them from the service worker's cache.
async function prefetch(files, report) {
  const missing = [];
  for (const file of files) if (!(await caches.match(new URL(file.url, self.location.href).href))) missing.push(file);
  await Promise.all(missing.map(async (file) => {
    const response = await fetch(file.url);
    if (!response.ok) throw new Error(`${file.url}: HTTP ${response.status}`);
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      report(value.byteLength);
    }
  }));
}

// One byte count over all the runtime's files.
function runtimeProgress(files) {
  const total = files.reduce((sum, file) => sum + file.bytes, 0);
  const report = bridge.byteProgress(progress, "runtime", "the Python runtime", total);
  let loaded = 0;
  return (bytes) => report(loaded += bytes);
}

const fetchJson = async (url) => (await fetch(url)).json();
const built = fetchJson("./build.json");
const probed = bridge.probe(); // alongside the downloads; it never throws
let python = null; // the BrowserApp, once booted
// The page's Cancel: a shared byte Pyodide polls, raising KeyboardInterrupt in Python when
// it reads 2 (null where the page is not cross-origin isolated and cannot share memory).
let interrupt = null;

// While Python starts, the model a tool's run will most likely try first can already
// load, and, given a photo, run on the browser's decode of it (build.json's earlyStart,
// computed by Python's own planner). Only on a device without a usable GPU, whose tier
// is then lite or standard; Python still plans, decodes, checks and labels the run.
// Never fails: it is only a head start.
async function startEarly(tool, params, blob = null) {
  const [build, probe] = await Promise.all([built, probed]).catch(() => []);
  const hint = build?.earlyStart[tool];
  if (python || !hint) return;
  const gpu = probe.webgpu;
  const tier = params.tier || "auto";
  if ((gpu.available && !gpu.adapter.isFallbackAdapter) || params.limits) return;
  if (tier === "auto" ? probe.deviceMemory !== null && probe.deviceMemory < hint.minDeviceMemoryGB : !hint.tiers.includes(tier)) return;
  if (Object.entries(hint.params).some(([name, value]) => name in params && params[name] !== value)) return;
  await bridge.early(build.catalog.models[hint.model], hint.backend, blob, hint.maxPixels);
}

// The interpreter's verified snapshot (build.py), or null: it is only a shortcut.
async function verifiedSnapshot(file) {
  if (!file) return null;
  try {
    const bytes = new Uint8Array(await (await fetch(file.url)).arrayBuffer());
    if (bytes.byteLength === file.bytes && await sha256(bytes) === file.sha256) return bytes;
    console.warn(`${file.url} failed its sha256 check; Python starts without it`);
  } catch (err) {
    console.warn(`${file.url} could not be read (${err.message}); Python starts without it`);
  }
  return null;
}

// Pyodide from the interpreter's snapshot when there is a good one, else the long way.
// Returns {pyodide, snapshot: "used", "not used" (it failed) or "none" (the build has none)}.
async function startPython(file) {
  const indexURL = new URL("./pyodide/", import.meta.url).href;
  const bytes = await verifiedSnapshot(file);
  if (bytes) {
    try {
      const pyodide = await loadPyodide({ indexURL, _loadSnapshot: bytes });
      pyodide.runPython("import random; random.seed()"); // the snapshot's was seeded for reproducibility
      return { pyodide, snapshot: "used" };
    } catch (err) {
      console.warn("Python could not start from its snapshot; starting without it:", err);
    }
  }
  return { pyodide: await loadPyodide({ indexURL }), snapshot: file ? "not used" : "none" };
}

async function boot() {
  const marks = { start: performance.now() };
  const build = await built;
  const { core, packages } = build.bootFiles;
  const report = runtimeProgress([...core, ...packages]);
  await prefetch(core, report);
  // The wheels and the app download while Pyodide starts.
  const packagesFetched = prefetch(packages, report);
  progress({ stage: "python", message: "Starting Python" });
  const { pyodide, snapshot } = await startPython(build.pythonSnapshot);
  marks.pyodide = performance.now();
  progress({ stage: "packages", message: `Loading ${build.pyodidePackages.join(", ")}` });
  await packagesFetched;
  await pyodide.loadPackage(build.pyodidePackages, QUIET);
  marks.packages = performance.now();
  const app = await (await fetch(build.appArchive)).arrayBuffer();
  pyodide.unpackArchive(app, "zip", { extractDir: pyodide.runPython("import site; site.getsitepackages()[0]") });
  pyodide.registerJsModule("darkroom_bridge", bridge);
  const manifest = await (await fetch("./models/manifest.json")).text();
  await bridge.pruneModels(JSON.parse(manifest));
  const { BrowserApp } = pyodide.pyimport("darkroom.browser");
  // Packages for the classical tools load on first use, so they cost nothing at boot.
  const loadPackages = async (names) => {
    if (!build.classicalInPage) return; // the import then fails and the tool says why
    progress({ stage: "packages", message: `Loading ${names.join(", ")} for the classical path` });
    await pyodide.loadPackage(names, QUIET);
  };
  const probe = await probed;
  const darkroom = BrowserApp(bridge, manifest, JSON.stringify(probe), loadPackages, progress);
  python = darkroom;
  marks.ready = performance.now();
  const timings = {
    pyodideMs: marks.pyodide - marks.start,
    packagesMs: marks.packages - marks.pyodide,
    appMs: marks.ready - marks.packages,
    totalMs: marks.ready - marks.start,
    snapshot,
  };
  return { darkroom, build, timings, probe, pyodide };
}

const booted = boot();

const handlers = {
  async hello() {
    const { darkroom, build, timings, probe } = await booted;
    return { build, timings, probe, tier: JSON.parse(darkroom.tier_json()) };
  },
  async probe() {
    return (await booted).probe;
  },
  async tier({ name }) {
    return JSON.parse((await booted).darkroom.tier_json(name || "auto"));
  },
  async storage() {
    return bridge.storageReport();
  },
  async deleteModels({ name }) {
    await bridge.deleteModels(name || "");
    return bridge.storageReport();
  },
  async warm({ tool, tier, params }) {
    startEarly(tool, { ...params, tier });
    const { darkroom } = await booted;
    return darkroom.warm(tool, tier || "auto", JSON.stringify(params || {}));
  },
  // A user's own model for `tool` as its `slot` ("model", or a companion such as
  // "generator"; a File, or one a part for a model in parts): read, checked against the
  // tool, stored; or {error}.
  async addUserModel({ tool, slot = "model", blobs }) {
    const { darkroom } = await booted;
    const files = []; // {file: what Python and the page are told of it, bytes}
    for (const blob of blobs) {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const found = await bridge.inspectModel(bytes);
      if (found.error) return { error: blobs.length > 1 ? `${blob.name}: ${found.error}` : found.error };
      files.push({ file: { name: blob.name, sha256: found.sha256, size: bytes.byteLength, found }, bytes });
    }
    const described = files.map(({ file }) => file);
    const added = JSON.parse(darkroom.register_user_model(tool, JSON.stringify(described), slot));
    if (added.error) return { error: added.error };
    for (const { file, bytes } of files) await bridge.storeModel({ name: `user-${file.sha256}.onnx`, sha256: file.sha256 }, bytes);
    return { ...added, tool, slot, files: described };
  },
  // User models added on earlier visits (their files are in the model cache).
  async registerUserModels({ models }) {
    const { darkroom } = await booted;
    return models.map((m) => JSON.parse(darkroom.register_user_model(m.tool, JSON.stringify(m.files), m.slot || "model")));
  },
  async interruptWith({ buffer }) {
    interrupt = buffer;
    (await booted).pyodide.setInterruptBuffer(buffer);
  },
  async injectFault({ where, model }) {
    await bridge.injectFault(where, model);
    return where;
  },
  // A Blob among the params (a painted mask) travels beside the JSON.
  async run({ tool, blob, params }) {
    startEarly(tool, params || {}, blob);
    const { darkroom } = await booted;
    const entries = Object.entries(params || {});
    const blobs = Object.fromEntries(entries.filter(([, value]) => value instanceof Blob));
    const plain = Object.fromEntries(entries.filter(([, value]) => !(value instanceof Blob)));
    if (interrupt) interrupt[0] = 0; // a Cancel pressed after the last run ended is not for this one
    let reply;
    try {
      reply = await darkroom.run(tool, blob, JSON.stringify(plain), blobs);
    } finally {
      if (interrupt) interrupt[0] = 0;
    }
    if (reply.cancelled) return { cancelled: true };
    if (reply.error) return { error: reply.error };
    return { file: reply.file, mime: reply.mime, provenance: JSON.parse(reply.provenance), data: JSON.parse(reply.data) };
  },
};

self.onmessage = async ({ data }) => {
  const { id, op, ...args } = data;
  try {
    const value = await handlers[op](args);
    post({ id, ok: true, value }, value && value.file ? [value.file.buffer] : []);
  } catch (err) {
    // A Python traceback's last line names the failure; the whole of it goes to the console.
    console.error(err);
    const lines = String(err && err.message ? err.message : err).trim().split("\n");
    post({ id, ok: false, error: `Something went wrong inside Darkroom: ${lines[lines.length - 1]}` });
  }
};

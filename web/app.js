// The page: input (pick, drop, paste), the tool panel built from the tool's spec,
// progress, the before/after view and the provenance label. All work happens in
// worker.js; this file only talks to it and draws.

import { maskPainter } from "./mask_painter.js";
import { clearSaved, loadSaved, saveInput, saveResult } from "./saved.js";

const DEFAULT_TOOL = "remove-background";
const TOOL_KEY = "darkroom.tool";
const $ = (selector) => document.querySelector(selector);

// --- worker RPC --------------------------------------------------------------
// The service worker must control the page before the Python worker starts: then all
// that the worker downloads on the very first visit is kept for offline use.
// Registration can also hang (a blocked or broken service worker): then the app starts
// without offline support rather than not at all.
const within = (promise, ms) => Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve("timeout"), ms))]);

async function controlledByServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    const registered = navigator.serviceWorker.register("./service_worker.js").then(() => navigator.serviceWorker.ready);
    if (await within(registered, 10000) === "timeout") throw new Error("the service worker did not register");
    if (!navigator.serviceWorker.controller) {
      await within(new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true })), 3000);
    }
  } catch (err) {
    console.warn("offline support unavailable:", err);
  }
}

const pending = new Map();
let nextId = 1;

// The Python worker. If it dies (a crash in WebAssembly, out of memory), the calls it
// owed fail with a clear message and a fresh worker starts at once: the photo and the
// results live on this page, so nothing is lost and the user can simply run again.
function startWorker() {
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = ({ data }) => {
    if (data.type === "progress") return showProgress(data);
    const waiter = pending.get(data.id);
    pending.delete(data.id);
    if (data.ok) waiter.resolve(data.value);
    else waiter.reject(new Error(data.error));
  };
  worker.onerror = (event) => {
    event.preventDefault();
    worker.terminate();
    const reason = event.message || "unknown error";
    const error = new Error(`The processing worker stopped (${reason}). It has been restarted; your photo and results are kept, so run again.`);
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
    setStatus("Restarting the processing worker…");
    workerStarted = Promise.resolve(startWorker());
    call("hello").then((reply) => setStatus(`Ready again in ${(reply.timings.totalMs / 1000).toFixed(1)} s · tier ${reply.tier.name}`),
      (err) => showError(`Darkroom could not restart: ${err.message}`));
  };
  return worker;
}

let workerStarted = controlledByServiceWorker().then(startWorker);

async function call(op, args = {}, transfer = []) {
  const worker = await workerStarted;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, ...args }, transfer);
  });
}

// --- automation hooks (stable: tests and power users rely on them) -------------
const TIER_KEY = "darkroom.tier";
const INTRO_KEY = "darkroom.tierIntroSeen";
// A stored value that names no tier (another version, a hand edit) means "auto".
const chosenTier = () => {
  const stored = localStorage.getItem(TIER_KEY);
  return stored && Object.hasOwn(TIER_MEANING, stored) ? stored : "auto";
};

// params.tier overrides the tier for this run only; otherwise the page's choice applies.
// params.limits ({maxMegapixels, maxMegabytes}) overrides the input limits. The Blob
// itself goes to the worker (no copy), which checks its size before reading it.
async function run(tool, blob, params = {}) {
  const withTier = { tier: chosenTier(), ...params };
  const reply = await call("run", { tool, blob, params: withTier });
  if (reply.error) throw new Error(reply.error);
  return { blob: new Blob([reply.file], { type: reply.mime }), provenance: reply.provenance, data: reply.data };
}

const ready = call("hello");
window.darkroom = {
  ready,
  run,
  probe: () => call("probe"),
  // Fault injection for tests of recovery: the next "load" or "infer" of `model` (any
  // model when empty) fails, or the worker "crash"es in the middle of that inference.
  injectFault: (where, model = "") => call("injectFault", { where, model }),
  tier: async () => {
    const { name, reasons, recommended, overridden } = await call("tier", { name: chosenTier() });
    return { name, reasons, recommended, overridden };
  },
};

// --- progress and status ----------------------------------------------------------
const MB = 1024 * 1024;

// What an event says is happening, in words, e.g. "downloading isnet-quint8.onnx, 12.0 of 42.3 MB (28%, 9.1 MB/s)".
function describeEvent(event) {
  if (event.stage === "model" || event.stage === "runtime") {
    const percent = Math.floor((100 * event.loaded) / event.total);
    return `Downloading ${event.file}: ${(event.loaded / MB).toFixed(1)} of ${(event.total / MB).toFixed(1)} MB (${percent}%, ${(event.bytesPerSecond / MB).toFixed(1)} MB/s)`;
  }
  return event.message || (event.stage === "session" ? `Preparing ${event.model}…` : "Working…");
}

// Until Python is ready, the status line says what each worker is fetching or preparing
// (Python's runtime and the first model load side by side), so a slow first visit never
// looks frozen.
const BOOT_LANES = { runtime: "python", python: "python", packages: "python", model: "model", session: "model", retry: "model" };
const bootActivity = {};
let booting = true; // until Python is ready, or failed to start (downloads may still report after that)

function showBootActivity(event) {
  const lane = BOOT_LANES[event.stage];
  if (!booting || !lane) return;
  bootActivity[lane] = describeEvent(event);
  setStatus(`Starting… ${Object.values(bootActivity).join(" · ")}`);
}

function showProgress(event) {
  showBootActivity(event);
  const box = $(".progress");
  const bar = box.querySelector("progress");
  box.hidden = false;
  if (event.stage === "model" || event.stage === "runtime") bar.value = event.loaded / event.total;
  else if (event.stage === "work") bar.value = event.done / event.total;
  else bar.removeAttribute("value");
  box.querySelector(".progress-text").textContent = describeEvent(event);
}

function hideProgress() {
  $(".progress").hidden = true;
}

function setStatus(text) {
  $("[data-testid=status]").textContent = text;
}

// A failed run offers to run again, or to take the classical path when the AI one failed.
function showError(message, { retry = false } = {}) {
  const box = $("[data-testid=error]");
  box.textContent = message;
  box.hidden = !message;
  const actions = $(".error-actions");
  actions.hidden = !(message && retry && current);
  $("[data-testid=retry-classical]").hidden = !toolSpec || !toolSpec.params.some((p) => p.name === "classical");
}

// --- the tool panel, built from the tool's declared parameters ---------------------
let painter = null; // the mask painter of a tool with a "mask" parameter

function buildControls(tool) {
  const form = $(".params");
  form.replaceChildren();
  painter?.remove();
  painter = null;
  for (const param of tool.params) {
    const label = document.createElement("label");
    label.textContent = param.label;
    if (param.kind === "mask") {
      painter = maskPainter($(".compare-frame"), $(".before"));
      painter.controls.dataset.testid = `param-${param.name}`;
      label.title = param.help;
      form.append(label, painter.controls);
      continue;
    }
    let input;
    if (param.kind === "choice") {
      input = document.createElement("select");
      // Only the models this build ships can be picked, and the user's own.
      const choices = param.name === "model" ? param.choices.filter((c) => c === "auto" || c in build.catalog.models) : param.choices;
      // A companion slot with no shipped model has nothing behind "auto" but what you add.
      const nothingShips = param.open_prefix && param.name !== "model" && choices.length === 1;
      for (const choice of choices) {
        input.append(new Option(nothingShips ? "none (add yours below)" : choice, choice, false, choice === param.default));
      }
      if (param.open_prefix) {
        const saved = savedUserModels().filter((m) => m.tool === tool.id && m.slot === param.name);
        for (const model of saved) input.append(new Option(`your ${model.name}`, model.id));
      }
    } else if (param.kind === "number") {
      input = Object.assign(document.createElement("input"), {
        type: "range", min: param.minimum, max: param.maximum, step: param.step, value: param.default,
      });
      const shown = Object.assign(document.createElement("output"), { value: param.default });
      input.addEventListener("input", () => { shown.value = input.value; });
      label.append(shown);
    } else {
      input = document.createElement("input");
      input.type = param.kind === "bool" ? "checkbox" : "color";
      if (param.kind === "bool") input.checked = param.default;
      else input.value = param.default;
    }
    input.name = param.name;
    input.title = param.help;
    if (param.name === "classical" && !build.classicalInPage) {
      input.disabled = true;
      input.title = "Unavailable in this build: scikit-image has no browser build here.";
    }
    input.dataset.testid = `param-${param.name}`;
    label.append(input);
    form.append(label);
    if (param.open_prefix) form.append(userModelPicker(tool, param, input));
  }
  const sync = () => {
    for (const param of tool.params.filter((p) => p.shown_when)) {
      const { param: other, values } = param.shown_when;
      const label = form.elements[param.name].closest("label");
      label.hidden = !values.includes(form.elements[other].value);
      const picker = label.nextElementSibling; // a user-model picker follows its select
      if (picker?.classList.contains("user-model")) picker.hidden = label.hidden;
    }
    for (const param of tool.params.filter((p) => p.open_prefix && form.elements.classical)) {
      form.elements[param.name].disabled = form.elements.classical.checked;
    }
  };
  form.onchange = () => {
    sync();
    warm(); // e.g. another scale needs another model
    if (tool.rerun_on_change && !$(".result").hidden) rerun();
  };
  sync();
}

// --- your own model ----------------------------------------------------------------------
// The models a user added, kept in localStorage ({tool, slot, id, name, files: [{name,
// sha256, size, found}]}; slot: the parameter that picks it, "model" or a companion's);
// their files live in the model cache, verified by sha256 before every session. Entries
// from before models in parts held one file's fields themselves, from before companions no slot.
const USER_MODELS_KEY = "darkroom.userModels";
// A damaged entry (not JSON, not a list, not models) is ignored rather than breaking the controls.
function savedUserModels() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(USER_MODELS_KEY) || "[]");
  } catch {
    return [];
  }
  return (Array.isArray(saved) ? saved : [])
    .filter((model) => model && typeof model === "object" && typeof model.id === "string" && typeof model.tool === "string")
    .map(({ sha256, size, found, ...model }) => (model.files ? model : { ...model, files: [{ name: model.name, sha256, size, found }] }))
    .map((model) => ({ slot: "model", ...model }));
}

function userModelPicker(tool, param, select) {
  const box = Object.assign(document.createElement("div"), { className: "user-model" });
  const { needs, parts, tiers } = tool.user_models[param.name];
  const whose = param.name === "model" ? "Your own model" : `Your own ${param.label.toLowerCase()}`;
  const label = Object.assign(document.createElement("label"), {
    textContent: parts.length ? `${whose} (${parts.length} .onnx files: ${parts.join(", ")})` : `${whose} (.onnx)`,
  });
  const file = Object.assign(document.createElement("input"), { type: "file", accept: ".onnx", multiple: parts.length > 1 });
  file.dataset.testid = `${param.name}-file`;
  const report = Object.assign(document.createElement("p"), { className: "user-model-report", textContent: `It needs ${needs}.` });
  report.dataset.testid = `${param.name}-file-report`;
  file.addEventListener("change", async () => {
    const picked = [...file.files];
    if (!picked.length) return;
    const name = picked.map((f) => f.name).join(" + ");
    report.classList.remove("error");
    report.textContent = `Checking ${name}…`;
    try {
      const added = await call("addUserModel", { tool: tool.id, slot: param.name, blobs: picked });
      if (added.error) throw new Error(added.error);
      const { id, files } = added;
      localStorage.setItem(USER_MODELS_KEY, JSON.stringify([...savedUserModels().filter((m) => m.id !== id),
        { tool: tool.id, slot: param.name, id, name, files }]));
      if (![...select.options].some((option) => option.value === id)) select.append(new Option(`your ${name}`, id));
      select.value = id;
      const tensors = (list) => list.map((t) => `${t.name} ${t.dtype} [${t.shape.map((d) => d || "?").join(", ")}]`).join("; ");
      const found = files.map((f) => `${files.length > 1 ? `${f.name}: ` : ""}inputs ${tensors(f.found.inputs)}; outputs ${tensors(f.found.outputs)}`);
      report.textContent = `${name} fits: ${found.join(" | ")}. Stored on this device as ${id}; runs will say so.`;
    } catch (err) {
      report.classList.add("error");
      report.textContent = err.message;
    }
  });
  label.append(file);
  box.append(label, report);
  if (tiers.length < Object.keys(TIER_MEANING).length) {
    const note = Object.assign(document.createElement("p"), { className: "tier-note" });
    note.dataset.tiers = tiers.join(" ");
    note.dataset.testid = `${param.name}-tier-note`;
    box.append(note);
    showTierNote(note);
  }
  return box;
}

// A model that only some tiers run says so up front while another tier is in use.
let tierInUse = null; // known once Python has started

function showTierNote(note) {
  const tiers = note.dataset.tiers.split(" ");
  note.textContent = !tierInUse || tiers.includes(tierInUse) ? "" :
    `It runs on the ${tiers.join(" or ")} tier only; this device's tier is ${tierInUse}. Choose a tier above to try it anyway.`;
}

function readParams(tool) {
  const form = $(".params");
  const params = {};
  for (const param of tool.params.filter((p) => p.kind !== "mask")) {
    const input = form.elements[param.name];
    params[param.name] = param.kind === "bool" ? input.checked : param.kind === "number" ? Number(input.value) : input.value;
  }
  return params;
}

// --- choosing a tool -------------------------------------------------------------------
// build.json (written by build.py) lists the tools and shipped models, so the picker
// and controls appear at once; a run started before Python is ready waits for it.
let build = null;

function warm() {
  if (!toolSpec) return Promise.resolve();
  return call("warm", { tool: toolSpec.id, tier: chosenTier(), params: readParams(toolSpec) })
    .catch((err) => console.warn("model warm-up failed; the run will retry:", err))
    .finally(() => { if (!running) hideProgress(); call("storage").then(showStorage); });
}

function chooseTool(id) {
  const { tools } = build.catalog;
  toolSpec = tools.find((tool) => tool.id === id) || tools.find((tool) => tool.id === DEFAULT_TOOL);
  localStorage.setItem(TOOL_KEY, toolSpec.id);
  for (const button of document.querySelectorAll(".tools button")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === toolSpec.id));
  }
  $(".tool-title").textContent = toolSpec.title;
  $(".tool-description").textContent = toolSpec.description;
  const runButton = $("[data-testid=run]");
  runButton.textContent = toolSpec.title;
  runButton.disabled = !current || running;
  buildControls(toolSpec);
  $(".result").hidden = true;
  warm();
}

// The tools under their group's heading, in the catalog's group order.
function buildToolList() {
  const nav = $(".tools");
  nav.replaceChildren();
  for (const group of build.catalog.groups) {
    // The flagship leads its group.
    const members = build.catalog.tools.filter((tool) => tool.group === group)
      .sort((a, b) => (b.id === DEFAULT_TOOL) - (a.id === DEFAULT_TOOL));
    if (!members.length) continue;
    const section = Object.assign(document.createElement("div"), { className: "tool-group" });
    const heading = Object.assign(document.createElement("h3"), { textContent: group, id: `group-${members[0].id}` });
    section.setAttribute("role", "group");
    section.setAttribute("aria-labelledby", heading.id);
    section.dataset.testid = "tool-group";
    const buttons = Object.assign(document.createElement("div"), { className: "tool-buttons" });
    for (const tool of members) {
      const button = Object.assign(document.createElement("button"), { type: "button", textContent: tool.title, title: tool.description });
      button.dataset.tool = tool.id;
      button.dataset.testid = `tool-${tool.id}`;
      button.addEventListener("click", () => chooseTool(tool.id));
      buttons.append(button);
    }
    section.append(heading, buttons);
    nav.append(section);
  }
}

// --- input ------------------------------------------------------------------------
let current = null; // {blob, name, url}
let resultUrl = null;

// Kept work is a convenience: a browser that refuses IndexedDB (some private modes)
// still runs everything, it just says so once.
function keep(promise) {
  promise.catch((err) => setStatus(`Your photo will not survive a reload here: ${err.message || err}`));
}

function setInput(blob, name, { restoring = false } = {}) {
  if (!blob) return;
  if (current) URL.revokeObjectURL(current.url);
  current = { blob, name: name || "image", url: URL.createObjectURL(blob) };
  if (!restoring) keep(saveInput({ blob, name: current.name }));
  showError("");
  $(".result").hidden = true;
  const before = $(".before");
  before.src = current.url;
  before.onerror = () => $(".dims").textContent = `${current.name} — the browser cannot preview this file; Darkroom will still try to read it.`;
  before.onload = () => $(".dims").textContent = `${current.name} — ${before.naturalWidth} × ${before.naturalHeight}`;
  $(".after").hidden = true;
  $(".split").hidden = true;
  painter?.show(true);
  $(".compare").hidden = false;
  $(".stage").classList.add("has-image");
  $("[data-testid=run]").disabled = !toolSpec;
  $("[data-testid=clear]").hidden = false;
}

// Forget the photo and its result, here and in storage.
function clearInput() {
  if (current) URL.revokeObjectURL(current.url);
  current = null;
  showError("");
  $(".result").hidden = true;
  $(".compare").hidden = true;
  $(".stage").classList.remove("has-image");
  $("[data-testid=run]").disabled = true;
  $("[data-testid=clear]").hidden = true;
  keep(clearSaved());
}

// Puts back the photo and result of the last visit (after the tool list exists).
async function restoreSaved() {
  let saved;
  try {
    saved = await loadSaved();
  } catch (err) {
    return setStatus(`Your last photo could not be restored: ${err.message || err}`);
  }
  if (!saved.input || current) return; // nothing kept, or the user was quicker
  if (saved.result) chooseTool(saved.result.tool);
  setInput(saved.input.blob, saved.input.name, { restoring: true });
  if (saved.result) await showResult(saved.result);
}

function wireInput() {
  const input = $("[data-testid=file-input]");
  input.addEventListener("change", () => setInput(input.files[0], input.files[0]?.name));
  const drop = $(".drop");
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    document.addEventListener(type, () => drop.classList.remove("over"));
  }
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) setInput(file, file.name);
  });
  document.addEventListener("paste", (event) => {
    const item = [...event.clipboardData.items].find((entry) => entry.kind === "file");
    if (item) setInput(item.getAsFile(), "pasted image");
  });
  $(".split").addEventListener("input", (event) => {
    $(".compare-frame").style.setProperty("--split", `${event.target.value}%`);
  });
}

// --- running -------------------------------------------------------------------------
let toolSpec = null;
let running = false;

// Replaces a <dl>'s content with [term, description] rows.
function fillDefinitions(dl, rows) {
  dl.replaceChildren();
  for (const [key, value] of rows) {
    dl.append(Object.assign(document.createElement("dt"), { textContent: key }));
    dl.append(Object.assign(document.createElement("dd"), { textContent: value }));
  }
}

function describeProvenance(provenance) {
  const t = provenance.timings_ms;
  const rows = [
    ["path", provenance.path === "model" ? "AI model" : "classical (not AI)"],
    ["model", provenance.model ? `${provenance.model} (${provenance.variant})` : "—"],
    ["backend", provenance.backend],
    ["tier", provenance.tier + (provenance.tier_overridden ? " (chosen by you)" : "")],
    ["reason", provenance.reason || "—"],
    ["method", provenance.method || "—"],
    ["timings", Object.entries(t).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(", ")],
    ["size", `${provenance.input_size.join(" × ")} → ${provenance.output_size.join(" × ")}`],
    ...provenance.notes.map((note) => ["note", note]),
    ...provenance.fallback_chain.map((step) => ["attempt", step]),
  ];
  fillDefinitions($(".provenance-details dl"), rows);
}

// A change made while a run is working is run once that run ends.
let rerunWanted = false;

function rerun() {
  if (running) rerunWanted = true;
  else runCurrent();
}

async function runCurrent(overrides = {}) {
  if (!current || !toolSpec || running) return;
  running = true;
  const button = $("[data-testid=run]");
  button.disabled = true;
  showError("");
  showProgress({ stage: "run", message: "Working…" });
  try {
    const params = { ...readParams(toolSpec), ...overrides };
    const mask = toolSpec.params.find((p) => p.kind === "mask");
    if (mask && painter) {
      const painted = await painter.blob();
      if (painted) params[mask.name] = painted;
    }
    const { blob, provenance, data } = await run(toolSpec.id, current.blob, params);
    const result = { blob, provenance, data, tool: toolSpec.id };
    await showResult(result);
    keep(saveResult(result));
  } catch (err) {
    showError(err.message, { retry: true });
  } finally {
    hideProgress();
    running = false;
    button.disabled = !current;
    if (rerunWanted) {
      rerunWanted = false;
      runCurrent();
    }
  }
}

async function showResult({ blob, provenance, data }) {
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = URL.createObjectURL(blob);
  const after = $(".after");
  await new Promise((resolve, reject) => {
    after.onload = resolve;
    after.onerror = () => reject(new Error("The result could not be displayed."));
    after.src = resultUrl;
  });
  after.hidden = false;
  $(".split").hidden = false;
  painter?.show(false);
  const label = $("[data-testid=provenance]");
  label.textContent = provenance.label;
  label.dataset.provenance = JSON.stringify(provenance);
  label.classList.toggle("classical", provenance.path !== "model");
  describeProvenance(provenance);
  showFindings(data);
  const download = $("[data-testid=download]");
  const { title: kind, extension } = build.catalog.formats[blob.type] || build.catalog.formats["image/png"];
  download.href = resultUrl;
  download.download = `${current.name.replace(/\.[^.]+$/, "")}-${provenance.tool}.${extension}`;
  const share = current.blob.size ? ` (${Math.round((100 * blob.size) / current.blob.size)} % of the original's ${formatBytes(current.blob.size)})` : "";
  download.textContent = `Download ${kind} · ${formatBytes(blob.size)}`;
  download.title = `${formatBytes(blob.size)}${share}`;
  $("[data-testid=result-size]").textContent = `${kind}, ${formatBytes(blob.size)}${share}`;
  $(".result").hidden = false;
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// What a tool found besides its image (face boxes), in words; the JSON stays on the element.
function showFindings(data) {
  const box = $("[data-testid=findings]");
  box.dataset.findings = JSON.stringify(data);
  box.hidden = !data;
  if (!data) return;
  const faces = data.faces || [];
  // A model's tags carry their probability; plain measurements have none.
  const tag = (name) => (data.scores && name in data.scores ? `${name} (${Math.round(data.scores[name] * 100)} %)` : name);
  box.textContent = data.tags ? `Tags: ${data.tags.map(tag).join(", ") || "none above the threshold"}` : faces.length
    ? `Found ${faces.length} face${faces.length > 1 ? "s" : ""}: ` + faces.map((f) => {
      const [x0, y0, x1, y1] = f.box.map(Math.round);
      return `(${x0}, ${y0})–(${x1}, ${y1})${f.score === null ? "" : ` ${Math.round(f.score * 100)}%`}`;
    }).join("; ")
    : "No faces found.";
}

function wireShortcuts() {
  $("[data-testid=run]").addEventListener("click", () => runCurrent());
  $("[data-testid=retry]").addEventListener("click", () => runCurrent());
  $("[data-testid=retry-classical]").addEventListener("click", () => runCurrent({ classical: true }));
  $("[data-testid=clear]").addEventListener("click", clearInput);
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey)) return;
    const key = event.key.toLowerCase();
    if (key === "enter") { event.preventDefault(); runCurrent(); }
    if (key === "o") { event.preventDefault(); $("[data-testid=file-input]").click(); }
    if (key === "s" && !$(".result").hidden) { event.preventDefault(); $("[data-testid=download]").click(); }
  });
}

// --- tier and device -------------------------------------------------------------------
const GB = 1024 * MB;

function describeProbe(probe) {
  const gpu = probe.webgpu;
  const adapter = gpu.available ? gpu.adapter : null;
  const rows = [
    ["WebGPU", adapter ? [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(" · ") || "unnamed adapter" : `none (${gpu.error})`],
  ];
  if (adapter) {
    rows.push(["fallback adapter", adapter.isFallbackAdapter ? "yes (software)" : "no"]);
    rows.push(["shader-f16", gpu.features.includes("shader-f16") ? "yes" : "no"]);
    rows.push(["max buffer", `${(gpu.limits.maxBufferSize / GB).toFixed(2)} GB`]);
    rows.push(["max storage binding", `${(gpu.limits.maxStorageBufferBindingSize / GB).toFixed(2)} GB`]);
  }
  rows.push(["memory", probe.deviceMemory ? `${probe.deviceMemory} GB (as the browser reports it)` : "not reported"]);
  rows.push(["CPU threads", String(probe.hardwareConcurrency)]);
  rows.push(["WASM", `${probe.wasm.simd ? "SIMD" : "no SIMD"}, ${probe.wasm.threads ? `${probe.wasm.numThreads} threads` : "no threads"}`]);
  rows.push(["cross-origin isolated", probe.crossOriginIsolated ? "yes" : "no"]);
  fillDefinitions($("[data-testid=probe]"), rows);
}

const TIER_MEANING = {
  lite: "small models on the CPU (WASM), classical algorithms where a model would be too slow",
  standard: "compact models, on the GPU where one is usable",
  pro: "full models on the GPU, and the generative tools",
};

async function showTier() {
  const tier = await call("tier", { name: chosenTier() });
  const reasons = $("[data-testid=tier-reasons]");
  reasons.textContent = `${tier.name}${tier.overridden ? "" : " (recommended)"}: ${tier.reasons.join(" ")}`;
  reasons.classList.toggle("risk", tier.overridden);
  $("[data-testid=tier-select] option[value=auto]").textContent = `auto (${tier.recommended})`;
  tierInUse = tier.name;
  document.querySelectorAll(".tier-note").forEach(showTierNote);
  return tier;
}

function wireTier(hello) {
  const select = $("[data-testid=tier-select]");
  select.value = chosenTier();
  select.disabled = false;
  select.addEventListener("change", async () => {
    if (select.value === "auto") localStorage.removeItem(TIER_KEY);
    else localStorage.setItem(TIER_KEY, select.value);
    await showTier();
    warm(); // fetch what the new tier runs
  });
  describeProbe(hello.probe);
  showTier();
  if (!localStorage.getItem(INTRO_KEY)) {
    const intro = $("[data-testid=tier-intro]");
    const tier = hello.tier;
    intro.querySelector(".intro-text").textContent =
      `This device was rated ${tier.name}: ${tier.reasons[0]} That means ${TIER_MEANING[tier.name]}. ` +
      "Every result says what ran. You can change the tier below.";
    intro.hidden = false;
    intro.querySelector(".intro-ok").addEventListener("click", () => {
      localStorage.setItem(INTRO_KEY, "1");
      intro.hidden = true;
    });
  }
}

// --- storage: cached models, space used, persistence -----------------------------------
let persistence = "not requested";

function showStorage(report) {
  const used = report.usage === null ? "unknown" : `${(report.usage / MB).toFixed(0)} MB`;
  const quota = report.quota === null ? "unknown" : `${(report.quota / GB).toFixed(1)} GB`;
  $("[data-testid=storage-summary]").textContent = `Using ${used} of ${quota} available. Storage is ${persistence}.`;
  const list = $("[data-testid=storage-models]");
  list.replaceChildren();
  for (const model of report.models) {
    const item = document.createElement("li");
    item.dataset.model = model.name;
    const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
    remove.addEventListener("click", async () => showStorage(await call("deleteModels", { name: model.name })));
    item.append(`${model.name} · ${(model.bytes / MB).toFixed(1)} MB`, remove);
    list.append(item);
  }
  if (!report.models.length) list.append(Object.assign(document.createElement("li"), { textContent: "No models downloaded yet." }));
  $("[data-testid=storage-clear]").disabled = !report.models.length;
}

async function wireStorage() {
  if (navigator.storage?.persist) {
    // Persistent storage keeps downloaded models when the browser is short of space.
    persistence = (await navigator.storage.persist()) ? "persistent" : "best-effort (the browser may clear it when short of space)";
  }
  $("[data-testid=storage-clear]").addEventListener("click", async () => showStorage(await call("deleteModels", { name: "" })));
  $(".storage-details").addEventListener("toggle", async (event) => {
    if (event.target.open) showStorage(await call("storage"));
  });
  showStorage(await call("storage"));
}

// --- installed app: install prompt, and images opened with Darkroom from the OS --------
function wireInstall() {
  const button = $("[data-testid=install]");
  let deferred = null;
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault(); // offer it from our own button instead of the browser's bar
    deferred = event;
    button.hidden = false;
  });
  button.addEventListener("click", async () => {
    button.hidden = true;
    await deferred?.prompt();
    deferred = null;
  });
  window.addEventListener("appinstalled", () => { button.hidden = true; });
  if ("launchQueue" in window) {
    window.launchQueue.setConsumer(async ({ files }) => {
      if (!files || !files.length) return;
      const file = await files[0].getFile();
      setInput(file, file.name);
    });
  }
}

// --- boot ----------------------------------------------------------------------------
wireInput();
wireShortcuts();
wireInstall();

fetch("./build.json").then((response) => {
  if (!response.ok) throw new Error(`build.json: HTTP ${response.status}`);
  return response.json();
}).then((info) => {
  build = info;
  buildToolList();
  if (booting && !Object.keys(bootActivity).length) setStatus("Starting Python… pick a tool and a photo meanwhile");
  // A link may name the tool (#upscale); otherwise the last one used. Choosing it also
  // fetches and verifies its model once Python is up, so the first run does not wait.
  chooseTool(location.hash.slice(1) || localStorage.getItem(TOOL_KEY) || DEFAULT_TOOL);
  window.addEventListener("hashchange", () => chooseTool(location.hash.slice(1)));
  return restoreSaved();
}).catch((err) => showError(`Darkroom could not load its tool list: ${err.message}`));

let hello = null;
ready.then((reply) => {
  booting = false;
  hello = reply;
  if (!running) hideProgress();
  setStatus(`Ready in ${(hello.timings.totalMs / 1000).toFixed(1)} s · tier ${hello.tier.name}`);
  wireTier(hello);
  wireStorage();
  const userModels = savedUserModels();
  if (userModels.length) call("registerUserModels", { models: userModels });
}, (err) => {
  booting = false;
  setStatus("Failed to start");
  showError(`Darkroom could not start: ${err.message}`);
});

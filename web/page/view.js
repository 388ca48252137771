// The photo and its result: input (pick, drop, paste), the before/after view, the
// provenance label, what the tool found, and the download.
import { clearSaved, saveInput } from "../saved.js";
import { $, fillDefinitions, formatBytes } from "./dom.js";
import { state } from "./state.js";
import { setStatus, showError } from "./status.js";

// Kept work is a convenience: a browser that refuses IndexedDB (some private modes)
// still runs everything, it just says so once.
export function keep(promise) {
  promise.catch((err) => setStatus(`Your photo will not survive a reload here: ${err.message || err}`));
}

export function setInput(blob, name, { restoring = false } = {}) {
  if (!blob) return;
  if (state.input) URL.revokeObjectURL(state.input.url);
  const input = { blob, name: name || "image", url: URL.createObjectURL(blob) };
  state.input = input;
  if (!restoring) keep(saveInput({ blob, name: input.name }));
  showError("");
  $(".result").hidden = true;
  const before = $(".before");
  before.src = input.url;
  before.onerror = () => $(".dims").textContent = `${input.name} — the browser cannot preview this file; Darkroom will still try to read it.`;
  before.onload = () => $(".dims").textContent = `${input.name} — ${before.naturalWidth} × ${before.naturalHeight}`;
  $(".after").hidden = true;
  $(".split").hidden = true;
  state.painter?.show(true);
  $(".compare").hidden = false;
  $(".stage").classList.add("has-image");
  $("[data-testid=run]").disabled = !state.tool;
  $("[data-testid=clear]").hidden = false;
}

// Forget the photo and its result, here and in storage.
export function clearInput() {
  if (state.input) URL.revokeObjectURL(state.input.url);
  state.input = null;
  showError("");
  $(".result").hidden = true;
  $(".compare").hidden = true;
  $(".stage").classList.remove("has-image");
  $("[data-testid=run]").disabled = true;
  $("[data-testid=clear]").hidden = true;
  keep(clearSaved());
}

export function wireInput() {
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

function describeProvenance(provenance) {
  const t = provenance.timings_ms;
  const rows = [
    ["path", provenance.path === "model" ? "AI model" : "classical (not AI)"],
    ["model", provenance.model ? `${provenance.model} (${provenance.variant})` : "—"],
    ...(provenance.companion ? [["with model", provenance.companion]] : []),
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

// What a tool found besides its image (face boxes, tags), in words: its own
// tools/<id>.js says them; a tool without one shows none. The JSON stays on the element.
async function showFindings(tool, data) {
  const box = $("[data-testid=findings]");
  box.dataset.findings = JSON.stringify(data);
  box.hidden = true;
  if (!data || !state.build.catalog.tools.some((t) => t.id === tool)) return; // a restored result's tool may be gone from this version
  const { describeFindings } = await import(`../tools/${tool}.js`).catch(() => ({}));
  if (!describeFindings) return;
  box.textContent = describeFindings(data);
  box.hidden = false;
}

function offerDownload(blob, provenance) {
  const { input } = state;
  const download = $("[data-testid=download]");
  const { title: kind, extension } = state.build.catalog.formats[blob.type] || state.build.catalog.formats["image/png"];
  download.href = state.resultUrl;
  download.download = `${input.name.replace(/\.[^.]+$/, "")}-${provenance.tool}.${extension}`;
  const share = input.blob.size ? ` (${Math.round((100 * blob.size) / input.blob.size)} % of the original's ${formatBytes(input.blob.size)})` : "";
  download.textContent = `Download ${kind} · ${formatBytes(blob.size)}`;
  download.title = `${formatBytes(blob.size)}${share}`;
  $("[data-testid=result-size]").textContent = `${kind}, ${formatBytes(blob.size)}${share}`;
}

// A run's result ({blob, provenance, data, tool}) beside the photo, labelled.
export async function showResult({ blob, provenance, data, tool }) {
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  const after = $(".after");
  await new Promise((resolve, reject) => {
    after.onload = resolve;
    after.onerror = () => reject(new Error("The result could not be displayed."));
    after.src = state.resultUrl;
  });
  after.hidden = false;
  $(".split").hidden = false;
  state.painter?.show(false);
  const label = $("[data-testid=provenance]");
  label.textContent = provenance.label;
  label.dataset.provenance = JSON.stringify(provenance);
  label.classList.toggle("classical", provenance.path !== "model");
  describeProvenance(provenance);
  await showFindings(tool, data);
  offerDownload(blob, provenance);
  $(".result").hidden = false;
}

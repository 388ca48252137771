// The status line, the progress bar and the error box.
import { $, MB } from "./dom.js";
import { state } from "./state.js";

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

function showBootActivity(event) {
  const lane = BOOT_LANES[event.stage];
  if (!state.booting || !lane) return;
  state.bootActivity[lane] = describeEvent(event);
  setStatus(`Starting… ${Object.values(state.bootActivity).join(" · ")}`);
}

// A run expected to take longer than this says so before it starts.
const LONG_RUN_SECONDS = 20;

// "about 40 s", "about 3 min", "about 1 h 5 min".
function roughly(seconds) {
  if (seconds < 90) return `about ${Math.max(5, Math.round(seconds / 5) * 5)} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `about ${minutes} min` : `about ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function showEstimate({ seconds, megapixels, measuredHere }) {
  const line = $("[data-testid=estimate]");
  line.hidden = seconds < LONG_RUN_SECONDS;
  const source = measuredHere ? "at the pace it ran on this computer" : "at the pace measured on a 2-core laptop";
  const size = megapixels < 10 ? megapixels.toFixed(1) : megapixels.toFixed(0);
  line.textContent = `This will take ${roughly(seconds)} for a ${size} MP photo (${source}). You can cancel it (Esc).`;
}

export function showProgress(event) {
  showBootActivity(event);
  if (event.stage === "estimate") return showEstimate(event);
  const box = $(".progress");
  const bar = box.querySelector("progress");
  box.hidden = false;
  box.querySelector(".cancel").hidden = !state.running; // downloads while booting are not a run
  if (event.stage === "model" || event.stage === "runtime") bar.value = event.loaded / event.total;
  else if (event.stage === "work") bar.value = event.done / event.total;
  else bar.removeAttribute("value");
  box.querySelector(".progress-text").textContent = describeEvent(event);
}

export function hideProgress() {
  $(".progress").hidden = true;
  $("[data-testid=estimate]").hidden = true;
}

export function setStatus(text) {
  $("[data-testid=status]").textContent = text;
}

// A failed run offers to run again, or to take the classical path when the AI one failed.
export function showError(message, { retry = false } = {}) {
  const box = $("[data-testid=error]");
  box.textContent = message;
  box.hidden = !message;
  const actions = $(".error-actions");
  actions.hidden = !(message && retry && state.input);
  $("[data-testid=retry-classical]").hidden = !state.tool || !state.tool.params.some((p) => p.name === "classical");
}

// For a promise's rejection: what could not be done, and why, in the error box. No
// failure is left unsaid, and the page goes on.
export const failed = (couldNot) => (err) => showError(`Darkroom could not ${couldNot}: ${err.message || err}`);

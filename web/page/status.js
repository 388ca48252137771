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

export function showProgress(event) {
  showBootActivity(event);
  const box = $(".progress");
  const bar = box.querySelector("progress");
  box.hidden = false;
  if (event.stage === "model" || event.stage === "runtime") bar.value = event.loaded / event.total;
  else if (event.stage === "work") bar.value = event.done / event.total;
  else bar.removeAttribute("value");
  box.querySelector(".progress-text").textContent = describeEvent(event);
}

export function hideProgress() {
  $(".progress").hidden = true;
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

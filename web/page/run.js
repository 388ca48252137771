// Running the chosen tool on the photo: from its button, again after a failure, again
// after a change, and from the keyboard.
import { saveResult } from "../saved.js";
import { run } from "./api.js";
import { readParams } from "./controls.js";
import { $ } from "./dom.js";
import { state } from "./state.js";
import { Cancelled, cancel } from "./python.js";
import { hideProgress, setStatus, showError, showProgress } from "./status.js";
import { clearInput, keep, showResult } from "./view.js";

export function rerun() {
  if (state.running) state.rerunWanted = true;
  else runCurrent();
}

async function runCurrent(overrides = {}) {
  const { tool, input } = state;
  if (!input || !tool || state.running) return;
  state.running = true;
  const button = $("[data-testid=run]");
  button.disabled = true;
  showError("");
  showProgress({ stage: "run", message: "Working…" });
  try {
    const params = { ...readParams(tool), ...overrides };
    const mask = tool.params.find((p) => p.kind === "mask");
    if (mask && state.painter) {
      const painted = await state.painter.blob();
      if (painted) params[mask.name] = painted;
    }
    const { blob, provenance, data } = await run(tool.id, input.blob, params);
    const result = { blob, provenance, data, tool: tool.id };
    await showResult(result);
    keep(saveResult(result));
  } catch (err) {
    if (err instanceof Cancelled) setStatus(err.message);
    else showError(err.message, { retry: true });
  } finally {
    hideProgress();
    state.running = false;
    button.disabled = !state.input;
    if (state.rerunWanted) {
      state.rerunWanted = false;
      runCurrent();
    }
  }
}

function cancelRun() {
  if (!state.running) return;
  state.rerunWanted = false; // a change queued behind the cancelled run is cancelled with it
  showProgress({ stage: "run", message: "Cancelling…" });
  cancel();
}

export function wireShortcuts() {
  $("[data-testid=run]").addEventListener("click", () => runCurrent());
  $("[data-testid=retry]").addEventListener("click", () => runCurrent());
  $("[data-testid=retry-classical]").addEventListener("click", () => runCurrent({ classical: true }));
  $("[data-testid=clear]").addEventListener("click", clearInput);
  $("[data-testid=cancel]").addEventListener("click", cancelRun);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.running) { event.preventDefault(); cancelRun(); }
    if (!(event.ctrlKey || event.metaKey)) return;
    const key = event.key.toLowerCase();
    if (key === "enter") { event.preventDefault(); runCurrent(); }
    if (key === "o") { event.preventDefault(); $("[data-testid=file-input]").click(); }
    if (key === "s" && !$(".result").hidden) { event.preventDefault(); $("[data-testid=download]").click(); }
  });
}

// Running the chosen tool on the photo: from its button, again after a failure, again
// after a change, and from the keyboard.
import { saveResult } from "../saved.js";
import { run } from "./api.js";
import { readParams } from "./controls.js";
import { $ } from "./dom.js";
import { state } from "./state.js";
import { hideProgress, showError, showProgress } from "./status.js";
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
    showError(err.message, { retry: true });
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

export function wireShortcuts() {
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

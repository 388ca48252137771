// The page: input (pick, drop, paste), the tool panel built from the tool's spec,
// progress, the before/after view and the provenance label. All work happens in
// worker.js; the modules in page/ only talk to it and draw, sharing one state object
// (page/state.js). This file wires them up at boot.
import { loadSaved } from "./saved.js";
import { installApi } from "./page/api.js";
import { built } from "./page/build_info.js";
import { wireInstall } from "./page/install.js";
import { ready } from "./page/python.js";
import { wireShortcuts } from "./page/run.js";
import { lastTool } from "./page/settings.js";
import { state } from "./page/state.js";
import { failed, hideProgress, setStatus } from "./page/status.js";
import { wireStorage } from "./page/storage.js";
import { wireTier } from "./page/tier.js";
import { DEFAULT_TOOL, buildToolList, chooseTool, warm } from "./page/tools.js";
import { setInput, showResult, wireInput } from "./page/view.js";

// Puts back the photo and result of the last visit (after the tool list exists).
async function restoreSaved() {
  let saved;
  try {
    saved = await loadSaved();
  } catch (err) {
    return setStatus(`Your last photo could not be restored: ${err.message || err}`);
  }
  if (!saved.input || state.input) return; // nothing kept, or the user was quicker
  if (saved.result) chooseTool(saved.result.tool);
  setInput(saved.input.blob, saved.input.name, { restoring: true });
  if (saved.result) await showResult(saved.result).catch(failed("show your last result"));
}

installApi();
wireInput();
wireShortcuts();
wireInstall();

built.then((info) => {
  state.build = info;
  buildToolList();
  if (state.booting && !Object.keys(state.bootActivity).length) setStatus("Starting Python… pick a tool and a photo meanwhile");
  // A link may name the tool (#upscale); otherwise the last one used. Choosing it also
  // fetches and verifies its model once Python is up, so the first run does not wait.
  chooseTool(location.hash.slice(1) || lastTool() || DEFAULT_TOOL);
  window.addEventListener("hashchange", () => chooseTool(location.hash.slice(1)));
  return restoreSaved();
}).catch(failed("load its tool list"));

ready.then((hello) => {
  state.booting = false;
  if (!state.running) hideProgress();
  setStatus(`Ready in ${(hello.timings.totalMs / 1000).toFixed(1)} s · tier ${hello.tier.name}`);
  wireTier(hello, warm).catch(failed("show the tiers")); // warm: fetch what the new tier runs
  wireStorage().catch(failed("set up its storage"));
}, (err) => {
  state.booting = false;
  setStatus("Failed to start");
  failed("start")(err);
});

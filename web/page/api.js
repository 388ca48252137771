// The automation hooks on window.darkroom (stable: tests and power users rely on them).
import { call, Cancelled, cancel, ready } from "./python.js";
import { chosenTier } from "./tier.js";

// params.tier overrides the tier for this run only; otherwise the page's choice applies.
// params.limits ({maxMegapixels, maxMegabytes}) overrides the input limits. The Blob
// itself goes to the worker (no copy), which checks its size before reading it.
export async function run(tool, blob, params = {}) {
  const withTier = { tier: await chosenTier(), ...params };
  const reply = await call("run", { tool, blob, params: withTier });
  if (reply.cancelled) throw new Cancelled();
  if (reply.error) throw new Error(reply.error);
  return { blob: new Blob([reply.file], { type: reply.mime }), provenance: reply.provenance, data: reply.data };
}

export function installApi() {
  window.darkroom = {
    ready,
    run,
    // Stops the run in progress: its promise rejects with a Cancelled error.
    cancel,
    probe: () => call("probe"),
    // Fault injection for tests of recovery: the next "load" or "infer" of `model` (any
    // model when empty) fails, or the worker "crash"es in the middle of that inference.
    injectFault: (where, model = "") => call("injectFault", { where, model }),
    tier: async () => {
      const { name, reasons, recommended, overridden } = await call("tier", { name: await chosenTier() });
      return { name, reasons, recommended, overridden };
    },
  };
}

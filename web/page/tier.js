// The tier (what kind of models run) and the device probe behind its recommendation.
import { built } from "./build_info.js";
import { $, GB, fillDefinitions } from "./dom.js";
import { call } from "./python.js";
import { introSeen, markIntroSeen, storedTier, storeTier } from "./settings.js";
import { state } from "./state.js";
import { failed } from "./status.js";

// The tier the user chose, or "auto". A stored value that names no tier in build.json
// (another version, a hand edit) means "auto".
export async function chosenTier() {
  const stored = storedTier();
  const { tiers } = (await built).catalog;
  return stored && Object.hasOwn(tiers, stored) ? stored : "auto";
}

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

// A model that only some tiers run says so up front while another tier is in use.
export function showTierNote(note) {
  const tiers = note.dataset.tiers.split(" ");
  note.textContent = !state.tierInUse || tiers.includes(state.tierInUse) ? "" :
    `It runs on the ${tiers.join(" or ")} tier only; this device's tier is ${state.tierInUse}. Choose a tier above to try it anyway.`;
}

async function showTier() {
  const tier = await call("tier", { name: await chosenTier() });
  const reasons = $("[data-testid=tier-reasons]");
  reasons.textContent = `${tier.name}${tier.overridden ? "" : " (recommended)"}: ${tier.reasons.join(" ")}`;
  reasons.classList.toggle("risk", tier.overridden);
  $("[data-testid=tier-select] option[value=auto]").textContent = `auto (${tier.recommended})`;
  state.tierInUse = tier.name;
  document.querySelectorAll(".tier-note").forEach(showTierNote);
}

// Once Python has started (`hello`); `onChange` runs after the user picked another tier.
export async function wireTier(hello, onChange) {
  const { tiers } = (await built).catalog; // {name: what it means}
  const select = $("[data-testid=tier-select]");
  for (const name of Object.keys(tiers)) select.append(new Option(name, name));
  select.value = await chosenTier();
  select.disabled = false;
  select.addEventListener("change", () => {
    storeTier(select.value);
    showTier().then(onChange, failed("read the tier"));
  });
  describeProbe(hello.probe);
  showTier().catch(failed("read the tier"));
  if (!introSeen()) {
    const intro = $("[data-testid=tier-intro]");
    const tier = hello.tier;
    intro.querySelector(".intro-text").textContent =
      `This device was rated ${tier.name}: ${tier.reasons[0]} That means ${tiers[tier.name]}. ` +
      "Every result says what ran. You can change the tier below.";
    intro.hidden = false;
    intro.querySelector(".intro-ok").addEventListener("click", () => {
      markIntroSeen();
      intro.hidden = true;
    });
  }
}

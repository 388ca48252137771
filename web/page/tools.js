// Choosing a tool: the tool list from build.json (so the picker and controls appear at
// once; a run started before Python is ready waits for it), and its model warmed up.
import { buildControls, readParams } from "./controls.js";
import { $ } from "./dom.js";
import { call } from "./python.js";
import { rerun } from "./run.js";
import { rememberTool } from "./settings.js";
import { state } from "./state.js";
import { refreshStorage } from "./storage.js";
import { hideProgress } from "./status.js";
import { chosenTier } from "./tier.js";

export const DEFAULT_TOOL = "remove-background";

// Fetches and verifies what the chosen tool will run, so the first run does not wait.
export async function warm() {
  const { tool } = state;
  if (!tool) return;
  const params = readParams(tool);
  try {
    await call("warm", { tool: tool.id, tier: await chosenTier(), params });
  } catch (err) {
    console.warn("model warm-up failed; the run will retry:", err);
  }
  if (!state.running) hideProgress();
  refreshStorage();
}

export function chooseTool(id) {
  const { tools } = state.build.catalog;
  const tool = tools.find((t) => t.id === id) || tools.find((t) => t.id === DEFAULT_TOOL);
  state.tool = tool;
  rememberTool(tool.id);
  for (const button of document.querySelectorAll(".tools button")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === tool.id));
  }
  $(".tool-title").textContent = tool.title;
  $(".tool-description").textContent = tool.description;
  const runButton = $("[data-testid=run]");
  runButton.textContent = tool.title;
  runButton.disabled = !state.input || state.running;
  buildControls(tool, () => {
    warm(); // e.g. another scale needs another model
    if (tool.rerun_on_change && !$(".result").hidden) rerun();
  });
  $(".result").hidden = true;
  warm();
}

// The tools under their group's heading, in the catalog's group order.
export function buildToolList() {
  const nav = $(".tools");
  nav.replaceChildren();
  for (const group of state.build.catalog.groups) {
    // The flagship leads its group.
    const members = state.build.catalog.tools.filter((tool) => tool.group === group)
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

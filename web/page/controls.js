// The tool panel, built from the tool's declared parameters.
import { maskPainter } from "../mask_painter.js";
import { $ } from "./dom.js";
import { savedUserModels } from "./settings.js";
import { state } from "./state.js";
import { userModelPicker } from "./user_models.js";

function choiceInput(tool, param) {
  const input = document.createElement("select");
  // Only the models this build ships can be picked, and the user's own.
  const choices = param.name === "model" ? param.choices.filter((c) => c === "auto" || c in state.build.catalog.models) : param.choices;
  // A companion slot with no shipped model has nothing behind "auto" but what you add.
  const nothingShips = param.open_prefix && param.name !== "model" && choices.length === 1;
  for (const choice of choices) {
    input.append(new Option(nothingShips ? "none (add yours below)" : choice, choice, false, choice === param.default));
  }
  if (param.open_prefix) {
    const saved = savedUserModels().filter((m) => m.tool === tool.id && m.slot === param.name);
    for (const model of saved) input.append(new Option(`your ${model.name}`, model.id));
  }
  return input;
}

// A slider that shows its value in `label`.
function numberInput(param, label) {
  const input = Object.assign(document.createElement("input"), {
    type: "range", min: param.minimum, max: param.maximum, step: param.step, value: param.default,
  });
  const shown = Object.assign(document.createElement("output"), { value: param.default });
  input.addEventListener("input", () => { shown.value = input.value; });
  label.append(shown);
  return input;
}

function plainInput(param) {
  const input = document.createElement("input");
  input.type = param.kind === "bool" ? "checkbox" : "color";
  if (param.kind === "bool") input.checked = param.default;
  else input.value = param.default;
  return input;
}

// Shows the parameters that apply to the others' values, and disables model choices
// while the classical path is asked for.
function syncControls(tool, form) {
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
}

// `onChange` runs after the user changed a parameter.
export function buildControls(tool, onChange) {
  const form = $(".params");
  form.replaceChildren();
  state.painter?.remove();
  state.painter = null;
  for (const param of tool.params) {
    const label = document.createElement("label");
    label.textContent = param.label;
    if (param.kind === "mask") {
      state.painter = maskPainter($(".compare-frame"), $(".before"));
      state.painter.controls.dataset.testid = `param-${param.name}`;
      label.title = param.help;
      form.append(label, state.painter.controls);
      continue;
    }
    const input = param.kind === "choice" ? choiceInput(tool, param) : param.kind === "number" ? numberInput(param, label) : plainInput(param);
    input.name = param.name;
    input.title = param.help;
    if (param.name === "classical" && !state.build.classicalInPage) {
      input.disabled = true;
      input.title = "Unavailable in this build: scikit-image has no browser build here.";
    }
    input.dataset.testid = `param-${param.name}`;
    label.append(input);
    form.append(label);
    if (param.open_prefix) form.append(userModelPicker(tool, param, input));
  }
  form.onchange = () => {
    syncControls(tool, form);
    onChange();
  };
  syncControls(tool, form);
}

export function readParams(tool) {
  const form = $(".params");
  const params = {};
  for (const param of tool.params.filter((p) => p.kind !== "mask")) {
    const input = form.elements[param.name];
    params[param.name] = param.kind === "bool" ? input.checked : param.kind === "number" ? Number(input.value) : input.value;
  }
  return params;
}

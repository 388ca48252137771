// The user's own ONNX models: picked beside a tool's model (or companion) choice,
// checked by Python against what the tool feeds it, stored on this device.
import { call } from "./python.js";
import { saveUserModel } from "./settings.js";
import { state } from "./state.js";
import { showTierNote } from "./tier.js";

// Picks, checks and stores a model for `param` of `tool`, then selects it in `select`.
export function userModelPicker(tool, param, select) {
  const box = Object.assign(document.createElement("div"), { className: "user-model" });
  const { needs, parts, tiers } = tool.user_models[param.name];
  const whose = param.name === "model" ? "Your own model" : `Your own ${param.label.toLowerCase()}`;
  const label = Object.assign(document.createElement("label"), {
    textContent: parts.length ? `${whose} (${parts.length} .onnx files: ${parts.join(", ")})` : `${whose} (.onnx)`,
  });
  const file = Object.assign(document.createElement("input"), { type: "file", accept: ".onnx", multiple: parts.length > 1 });
  file.dataset.testid = `${param.name}-file`;
  const report = Object.assign(document.createElement("p"), { className: "user-model-report", textContent: `It needs ${needs}.` });
  report.dataset.testid = `${param.name}-file-report`;
  file.addEventListener("change", async () => {
    const picked = [...file.files];
    if (!picked.length) return;
    const name = picked.map((f) => f.name).join(" + ");
    report.classList.remove("error");
    report.textContent = `Checking ${name}…`;
    try {
      const added = await call("addUserModel", { tool: tool.id, slot: param.name, blobs: picked });
      if (added.error) throw new Error(added.error);
      const { id, files } = added;
      saveUserModel({ tool: tool.id, slot: param.name, id, name, files });
      if (![...select.options].some((option) => option.value === id)) select.append(new Option(`your ${name}`, id));
      select.value = id;
      const tensors = (list) => list.map((t) => `${t.name} ${t.dtype} [${t.shape.map((d) => d || "?").join(", ")}]`).join("; ");
      const found = files.map((f) => `${files.length > 1 ? `${f.name}: ` : ""}inputs ${tensors(f.found.inputs)}; outputs ${tensors(f.found.outputs)}`);
      report.textContent = `${name} fits: ${found.join(" | ")}. Stored on this device as ${id}; runs will say so.`;
    } catch (err) {
      report.classList.add("error");
      report.textContent = err.message;
    }
  });
  label.append(file);
  box.append(label, report);
  if (tiers.length < Object.keys(state.build.catalog.tiers).length) {
    const note = Object.assign(document.createElement("p"), { className: "tier-note" });
    note.dataset.tiers = tiers.join(" ");
    note.dataset.testid = `${param.name}-tier-note`;
    box.append(note);
    showTierNote(note);
  }
  return box;
}

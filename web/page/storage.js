// Storage: the cached models, the space used, and whether it persists.
import { $, GB, MB } from "./dom.js";
import { call } from "./python.js";
import { state } from "./state.js";
import { failed } from "./status.js";

// Deletes one cached model by name, or all of them when name is empty.
const deleteModels = (name) => call("deleteModels", { name }).then(showStorage, failed("delete models"));

function showStorage(report) {
  const used = report.usage === null ? "unknown" : `${(report.usage / MB).toFixed(0)} MB`;
  const quota = report.quota === null ? "unknown" : `${(report.quota / GB).toFixed(1)} GB`;
  $("[data-testid=storage-summary]").textContent = `Using ${used} of ${quota} available. Storage is ${state.persistence}.`;
  const list = $("[data-testid=storage-models]");
  list.replaceChildren();
  for (const model of report.models) {
    const item = document.createElement("li");
    item.dataset.model = model.name;
    const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
    remove.addEventListener("click", () => deleteModels(model.name));
    item.append(`${model.name} · ${(model.bytes / MB).toFixed(1)} MB`, remove);
    list.append(item);
  }
  if (!report.models.length) list.append(Object.assign(document.createElement("li"), { textContent: "No models downloaded yet." }));
  $("[data-testid=storage-clear]").disabled = !report.models.length;
}

export const refreshStorage = () => call("storage").then(showStorage, failed("read the storage"));

export async function wireStorage() {
  if (navigator.storage?.persist) {
    // Persistent storage keeps downloaded models when the browser is short of space.
    state.persistence = (await navigator.storage.persist()) ? "persistent" : "best-effort (the browser may clear it when short of space)";
  }
  $("[data-testid=storage-clear]").addEventListener("click", () => deleteModels(""));
  $(".storage-details").addEventListener("toggle", (event) => {
    if (event.target.open) refreshStorage();
  });
  await refreshStorage();
}

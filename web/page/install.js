// The installed app: the install prompt, and images opened with Darkroom from the OS.
import { $ } from "./dom.js";
import { failed } from "./status.js";
import { setInput } from "./view.js";

export function wireInstall() {
  const button = $("[data-testid=install]");
  let deferred = null;
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault(); // offer it from our own button instead of the browser's bar
    deferred = event;
    button.hidden = false;
  });
  button.addEventListener("click", () => {
    button.hidden = true;
    deferred?.prompt().catch(failed("offer to install the app"));
    deferred = null; // a prompt is shown once
  });
  window.addEventListener("appinstalled", () => { button.hidden = true; });
  if ("launchQueue" in window) {
    window.launchQueue.setConsumer(({ files }) => {
      if (!files || !files.length) return;
      files[0].getFile().then((file) => setInput(file, file.name), failed("open the file"));
    });
  }
}

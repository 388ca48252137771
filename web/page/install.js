// The installed app: the install prompt, and images opened with Darkroom from the OS.
import { $ } from "./dom.js";
import { setInput } from "./view.js";

export function wireInstall() {
  const button = $("[data-testid=install]");
  let deferred = null;
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault(); // offer it from our own button instead of the browser's bar
    deferred = event;
    button.hidden = false;
  });
  button.addEventListener("click", async () => {
    button.hidden = true;
    await deferred?.prompt();
    deferred = null;
  });
  window.addEventListener("appinstalled", () => { button.hidden = true; });
  if ("launchQueue" in window) {
    window.launchQueue.setConsumer(async ({ files }) => {
      if (!files || !files.length) return;
      const file = await files[0].getFile();
      setInput(file, file.name);
    });
  }
}

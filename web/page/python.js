// The Python worker (worker.js), from the page: started once the service worker controls
// the page, restarted when it dies, and called with call(op, args).
import { WorkerCalls } from "../rpc.js";
import { savedUserModels } from "./settings.js";
import { failed, setStatus, showProgress } from "./status.js";

// The service worker must control the page before the Python worker starts: then all
// that the worker downloads on the very first visit is kept for offline use.
// Registration can also hang (a blocked or broken service worker): then the app starts
// without offline support rather than not at all.
const within = (promise, ms) => Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve("timeout"), ms))]);

async function controlledByServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    const registered = navigator.serviceWorker.register("./service_worker.js").then(() => navigator.serviceWorker.ready);
    if (await within(registered, 10000) === "timeout") throw new Error("the service worker did not register");
    if (!navigator.serviceWorker.controller) {
      await within(new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true })), 3000);
    }
  } catch (err) {
    console.warn("offline support unavailable:", err);
  }
}

// On a host that sends no COOP/COEP headers, the page is cross-origin isolated (WASM
// threads) only when the service worker, which adds them, served it: so the first visit
// reloads once the worker controls the page, before the Python worker starts and any
// work could be lost. Once per tab session: if isolation still fails, the app runs on
// one thread and the tier's reasons say why.
const RELOADED_KEY = "darkroom.reloadedForIsolation";

function reloadingForIsolation() {
  if (self.crossOriginIsolated || !navigator.serviceWorker?.controller || sessionStorage.getItem(RELOADED_KEY)) return false;
  sessionStorage.setItem(RELOADED_KEY, "1");
  location.reload();
  return true;
}

const calls = new WorkerCalls(showProgress);
let worker = null;

// A run the user cancelled; the page says so instead of showing an error.
export class Cancelled extends Error {
  constructor() {
    super("Cancelled. Your photo is kept; run again when you like.");
  }
}

// Cancel stops Python between two steps of its work when the page can share memory with
// the worker (cross-origin isolated); otherwise the worker is stopped and a fresh one starts.
const interrupt = self.crossOriginIsolated ? new Uint8Array(new SharedArrayBuffer(1)) : null;

// A new worker knows none of the user's own models: each is told of them first, so that
// any run it is asked for (a retry after a crash, one sent before Python is ready) finds them.
function registerUserModels() {
  const models = savedUserModels();
  if (models.length) calls.call("registerUserModels", { models }).catch(failed("register your own models"));
}

// If the worker dies (a crash in WebAssembly, out of memory), the calls it owed fail
// with a clear message and a fresh worker starts at once: the photo and the results
// live on this page, so nothing is lost and the user can simply run again.
function startWorker() {
  worker = new Worker(new URL("../worker.js", import.meta.url), { type: "module" });
  calls.connect(worker);
  if (interrupt) calls.call("interruptWith", { buffer: interrupt }).catch(failed("set up Cancel"));
  registerUserModels();
  worker.onerror = (event) => {
    event.preventDefault();
    const reason = event.message || "unknown error";
    restartWorker(new Error(`The processing worker stopped (${reason}). It has been restarted; your photo and results are kept, so run again.`));
  };
}

function restartWorker(error) {
  worker.terminate();
  calls.failAll(error);
  setStatus("Restarting the processing worker…");
  startWorker();
  calls.call("hello").then((reply) => setStatus(`Ready again in ${(reply.timings.totalMs / 1000).toFixed(1)} s · tier ${reply.tier.name}`),
    failed("restart"));
}

// Stops the run in progress; its call then fails with Cancelled.
export function cancel() {
  if (interrupt) Atomics.store(interrupt, 0, 2); // 2 is SIGINT: Python raises KeyboardInterrupt
  else restartWorker(new Cancelled());
}

// The worker starts as soon as this module loads; calls made before wait for it (and,
// while the page reloads for isolation, wait for good).
const started = controlledByServiceWorker().then(() => (reloadingForIsolation() ? new Promise(() => {}) : startWorker()));

export async function call(op, args = {}, transfer = []) {
  await started;
  return calls.call(op, args, transfer);
}

// Python's first hello: {build, timings, probe, tier} once it is ready.
export const ready = call("hello");

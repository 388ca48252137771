// eslint for the page's and the workers' own JavaScript (tests/unit/test_eslint.py runs it).
// Each file gets the globals of where it runs: the page, a worker, the service worker.
import js from "@eslint/js";
import globals from "globals";

// Loaded in the Python worker or the model worker, never in the page.
const WORKER_FILES = ["web/worker.js", "web/model_worker.js", "web/bridge.js", "web/model_store.js", "web/platform.js"];
// Imported by the page and by a worker alike.
const SHARED_FILES = ["web/rpc.js"];

export default [
  // Built, installed or bundled by others: not ours to lint.
  { ignores: ["dist/", ".venv/", "**/node_modules/", "bench/vs_imgly/build/"] },
  js.configs.recommended,
  {
    files: ["web/**/*.js", "service_worker.js", "bench/vs_imgly/imgly_entry.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module" },
  },
  {
    // The benchmark's page side, bundled for imgly.html by run.py.
    files: ["web/**/*.js", "bench/vs_imgly/imgly_entry.js"],
    ignores: [...WORKER_FILES, ...SHARED_FILES],
    languageOptions: { globals: globals.browser },
  },
  {
    files: WORKER_FILES,
    languageOptions: { globals: globals.worker },
  },
  {
    files: SHARED_FILES,
    languageOptions: { globals: { ...globals.browser, ...globals.worker } },
  },
  {
    files: ["service_worker.js"],
    // build.py writes the precache list and the headers in place of __PRECACHE__ and __HEADERS__.
    languageOptions: { sourceType: "script", globals: { ...globals.serviceworker, __PRECACHE__: "readonly", __HEADERS__: "readonly" } },
  },
  {
    // The build's Node scripts.
    files: ["wasm/**/*.mjs"],
    languageOptions: { globals: globals.node },
  },
];

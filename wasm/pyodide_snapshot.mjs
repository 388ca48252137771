#!/usr/bin/env node
// Writes a memory snapshot of Pyodide's interpreter right after start-up, for the page's
// loadPyodide({_loadSnapshot}): restoring it skips most of Python's own initialisation
// (about 1.1 s of the 1.5 s loadPyodide takes here). build.py runs it with Node on the
// Pyodide it ships and records the file's sha256; the page verifies it before use.
//
//   node wasm/pyodide_snapshot.mjs PYODIDE_DIR OUT_FILE
//
// Only the bare interpreter: Pyodide 0.27's snapshot holds linear memory alone, not the
// dynamic libraries (numpy's, Pillow's) that loadPackage links in, so those load after.
// The same inputs give the same bytes: the clock reads 0 (file times in the heap), hash
// randomisation is off and `random` is seeded; the page reseeds `random` after restoring.
import fs from "node:fs";
import path from "node:path";

const [pyodideDir, out] = process.argv.slice(2);
if (!pyodideDir || !out) {
  console.error("usage: node wasm/pyodide_snapshot.mjs PYODIDE_DIR OUT_FILE");
  process.exit(2);
}
Date.now = () => 0;
const { loadPyodide } = await import(path.join(path.resolve(pyodideDir), "pyodide.mjs"));
const pyodide = await loadPyodide({
  indexURL: path.resolve(pyodideDir) + path.sep,
  packageCacheDir: path.resolve(pyodideDir),
  env: { PYTHONHASHSEED: "0" },
  _makeSnapshot: true,
});
pyodide.runPython("import random; random.seed(0)");
fs.writeFileSync(out, pyodide.makeMemorySnapshot());

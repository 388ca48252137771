#!/usr/bin/env node
// Load the scikit-image / PyWavelets wheels that build.py shipped in dist/pyodide, in
// Pyodide under Node.js, exactly as the page loads them (through dist's derived lock, so
// Pyodide checks every file's sha256), and compare skimage_checks.py's results with
// CPython running the official wheels.
//
//   node wasm/check_in_node.mjs [--pyodide-dir DIR] [--ref-python PY]
//
// --pyodide-dir  the built site's Pyodide folder (default: dist/pyodide)
// --ref-python   CPython with numpy 2.0.2, scipy 1.14.1, scikit-image 0.25.0, PyWavelets 1.8.0
//                (default: $PYTHON or python3; the project's .venv has them)
// Exit code 0 only when every module imports and every check is within tolerance.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(HERE);

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function referenceResults(refPython) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "darkroom-ref-")), "ref.npz");
  const info = execFileSync(refPython, [path.join(HERE, "skimage_checks.py"), "--out", out], { encoding: "utf8" });
  return [fs.readFileSync(out), info.trim()];
}

async function main() {
  const refPython = arg("--ref-python", process.env.PYTHON || "python3");
  const pyodideDir = path.resolve(arg("--pyodide-dir", path.join(REPO, "dist", "pyodide")));
  const [refBytes, refInfo] = referenceResults(refPython);
  console.log(`reference: ${refPython}\n  ${refInfo}`);

  const { loadPyodide } = await import(path.join(pyodideDir, "pyodide.mjs"));
  const started = Date.now();
  const py = await loadPyodide({ indexURL: pyodideDir + path.sep, packageCacheDir: pyodideDir });
  await py.loadPackage(["scipy", "scikit-image", "pywavelets"], { messageCallback: () => {} });
  console.log(`pyodide ${py.version}: packages loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  py.FS.mkdirTree("/check");
  py.FS.writeFile("/check/skimage_checks.py", fs.readFileSync(path.join(HERE, "skimage_checks.py")));
  py.FS.writeFile("/check/ref.npz", refBytes);
  const report = py.runPython(`
import importlib, json, sys, time, traceback
sys.path.insert(0, "/check")
import skimage, pywt, skimage_checks as sc

# 1. every compiled module of both wheels imports
imports = {}
for dist in ("scikit_image", "pywavelets"):
    files = [f for f in importlib.metadata.files(dist) if str(f).endswith(".so")]
    for f in files:
        name = str(f).split(".cpython")[0].replace("/", ".")
        try:
            importlib.import_module(name)
            imports[name] = "ok"
        except Exception as exc:
            imports[name] = f"{type(exc).__name__}: {exc}"

# 2. the numeric checks against CPython's results
t0 = time.perf_counter()
results, errors = sc.run_all()
seconds = time.perf_counter() - t0
reference, ref_errors = sc.load_npz(open("/check/ref.npz", "rb").read())
rows = sc.compare(reference, ref_errors, results, errors)
json.dumps({"skimage": skimage.__version__, "pywt": pywt.__version__, "imports": imports,
            "rows": rows, "seconds": seconds})
`);
  const { skimage, pywt, imports, rows, seconds } = JSON.parse(report);
  console.log(`skimage ${skimage}, pywt ${pywt}; checks ran in ${seconds.toFixed(1)} s in Pyodide`);
  const badImports = Object.entries(imports).filter(([, v]) => v !== "ok");
  console.log(`imports: ${Object.keys(imports).length - badImports.length}/${Object.keys(imports).length} compiled modules import`);
  badImports.forEach(([k, v]) => console.log(`  FAIL import ${k}: ${v}`));
  for (const r of rows) {
    const diff = r.diff === null ? "-" : r.diff.toExponential(2);
    console.log(`  ${r.ok ? "ok  " : "FAIL"} ${r.check.padEnd(36)} max|diff| ${diff.padStart(9)}  tol ${r.tol}${r.note ? "  " + r.note : ""}`);
  }
  const failed = rows.filter((r) => !r.ok).length + badImports.length;
  console.log(`${rows.length - rows.filter((r) => !r.ok).length} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});

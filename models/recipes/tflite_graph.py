"""Recipe: convert a float TFLite graph (as MediaPipe ships them) to an NCHW ONNX model.

No TensorFlow is involved: the flatbuffer is read with the pure-Python ``tflite``
package and the ONNX graph is written with ``onnx.helper``. Only the operators that
Darkroom's MediaPipe models use are supported; anything else raises ``RecipeError``
naming the operator, so a new model cannot be converted half-right.

Conventions of the result

* Opset 17, IR version 8, ``producer_name`` "darkroom", no timestamps: converting the
  same ``.tflite`` twice gives byte-identical files.
* The (single) input is named ``input`` and is float32 ``[1, C, H, W]``.
* Every rank-4 activation is kept in NCHW order. Weights are transposed when the
  model is converted; activations are only transposed at run time where the TFLite
  graph depends on NHWC memory order (a RESHAPE of a rank-4 tensor).
* Rank-4 graph outputs are NCHW; other outputs keep the TFLite shape. Output names are
  the TFLite names, except where ``OUTPUT_NAMES`` renames them.
* fp16 / int8 constant weights behind DEQUANTIZE are folded to float32 constants.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from recipe_kit import IR_VERSION, OPSET, PRODUCER, RecipeError

#: Graph output names per ``.tflite`` file name, in the order of the TFLite outputs.
OUTPUT_NAMES = {
    "selfie_segmentation.tflite": ("mask",),
    "selfie_segmentation_landscape.tflite": ("mask",),
}

# tflite schema enums (schema.fbs); the values are fixed by the file format.
_PAD_SAME, _PAD_VALID = 0, 1
# TfLitePadding (builtin_op_data.h), used in the custom op's raw params struct.
_TFLITE_PADDING = {1: _PAD_SAME, 2: _PAD_VALID}
_ACT_NONE, _ACT_RELU, _ACT_RELU_N1_TO_1, _ACT_RELU6, _ACT_TANH = 0, 1, 2, 3, 4
_TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
# NHWC axis -> NCHW axis for rank-4 activations.
_NHWC_TO_NCHW_AXIS = (0, 2, 3, 1)


def build(package_dir, resource, out_path):
    """Convert the ``.tflite`` file ``resource`` of an unpacked npm package to ONNX.

    Parameters
    ----------
    package_dir : path-like
        Root of the unpacked npm package.
    resource : str
        Path of the ``.tflite`` file inside the package, e.g.
        ``"selfie_segmentation.tflite"``.
    out_path : path-like
        Where the ONNX file is written.

    Raises
    ------
    RecipeError
        The file is missing or not a TFLite model, or uses an operator or tensor type
        this converter does not handle.
    """
    path = Path(package_dir) / resource.lstrip("/")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise RecipeError(f"{resource} is not in the package") from exc
    model = convert(data, output_names=OUTPUT_NAMES.get(path.name), graph_name=path.stem)
    Path(out_path).write_bytes(model.SerializeToString())


def convert(data, output_names=None, graph_name="tflite_graph"):
    """Convert the bytes of a ``.tflite`` model to an ``onnx.ModelProto``.

    Parameters
    ----------
    data : bytes
        The flatbuffer.
    output_names : sequence of str, optional
        Names for the graph outputs, in TFLite order (default: the TFLite names).
    graph_name : str
        Name stored in the ONNX graph.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    RecipeError
        See ``build``.
    """
    import onnx

    converter = _Converter(data, output_names)
    graph = converter.run(graph_name)
    model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version="tflite_graph 1",
    )
    model.ir_version = IR_VERSION
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise RecipeError(f"the converted graph is not valid ONNX: {exc}") from exc
    return model


def _clean(name):
    return re.sub(r"[^A-Za-z0-9_./:-]", "_", name) or "t"


def _same_pads(in_size, kernel, stride, dilation=1):
    """TFLite SAME padding for one spatial axis: (before, after); the extra pixel goes after."""
    effective = (kernel - 1) * dilation + 1
    out = -(-in_size // stride)
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


class _Converter:
    """One pass over the (single) subgraph, emitting ONNX nodes in TFLite order."""

    def __init__(self, data, output_names):
        import tflite

        self.tflite = tflite
        try:
            self.model = tflite.Model.GetRootAsModel(data, 0)
            if self.model.SubgraphsLength() != 1:
                raise RecipeError(f"expected one subgraph, found {self.model.SubgraphsLength()}")
            self.graph = self.model.Subgraphs(0)
        except RecipeError:
            raise
        except Exception as exc:  # a truncated or foreign file fails inside flatbuffers
            raise RecipeError(f"not a TFLite flatbuffer ({exc!r})") from exc
        self.output_names = tuple(output_names) if output_names else None
        self.nodes = []
        self.initializers = []
        self.used_names = set()
        #: tflite tensor index -> numpy array (NHWC / TFLite order) for constants.
        self.consts = {}
        #: tflite tensor index -> (onnx value name, is_nchw) for run-time values.
        self.values = {}
        self.transposed = {}
        self._load_constants()

    # ----- names, constants ---------------------------------------------------------
    def unique(self, base):
        base = _clean(base)
        name, k = base, 1
        while name in self.used_names:
            k += 1
            name = f"{base}__{k}"
        self.used_names.add(name)
        return name

    def tensor(self, index):
        return self.graph.Tensors(index)

    def tensor_name(self, index):
        return self.tensor(index).Name().decode("utf-8", "replace")

    def shape(self, index):
        t = self.tensor(index)
        return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def _load_constants(self):
        for i in range(self.graph.TensorsLength()):
            t = self.tensor(i)
            buf = self.model.Buffers(t.Buffer())
            if buf is None:
                continue
            if buf.DataLength() == 0:
                if buf.Offset() > 1:
                    raise RecipeError("TFLite models with external buffers are not supported")
                continue
            dtype = _TENSOR_DTYPES.get(t.Type())
            if dtype is None:
                raise RecipeError(f"constant {self.tensor_name(i)} has unsupported tensor type {t.Type()}")
            if t.Sparsity() is not None:
                raise RecipeError(f"constant {self.tensor_name(i)} is sparse; sparse tensors are not supported")
            raw = buf.DataAsNumpy().tobytes()
            flat = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
            if flat.size != int(np.prod(self.shape(i), dtype=np.int64)):
                raise RecipeError(f"constant {self.tensor_name(i)} holds {flat.size} values for shape {self.shape(i)}")
            self.consts[i] = flat.reshape(self.shape(i))

    def const(self, index, what="operand"):
        if index not in self.consts:
            raise RecipeError(f"{what} {self.tensor_name(index)} must be a constant")
        return self.consts[index]

    def float_const(self, index, what="weights"):
        arr = self.const(index, what)
        if arr.dtype != np.float32:
            raise RecipeError(f"{what} {self.tensor_name(index)} is {arr.dtype}, expected float32")
        return arr

    def add_initializer(self, base, array):
        from onnx import numpy_helper

        name = self.unique(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type, inputs, outputs, name, **attrs):
        import onnx

        self.nodes.append(onnx.helper.make_node(op_type, inputs, outputs, name=self.unique(name), **attrs))

    # ----- run-time values ----------------------------------------------------------
    def value(self, index):
        """(onnx name, is_nchw) of a run-time tensor; constants are materialised as is."""
        if index in self.values:
            return self.values[index]
        if index in self.consts:
            arr = self.consts[index]
            nchw = arr.ndim == 4
            if nchw:
                arr = arr.transpose(0, 3, 1, 2)
            self.values[index] = (self.add_initializer(self.tensor_name(index), arr), nchw)
            return self.values[index]
        raise RecipeError(f"tensor {self.tensor_name(index)} is used before it is produced")

    def nhwc(self, index):
        """Name of a run-time tensor in TFLite (NHWC) order, adding one Transpose if needed."""
        name, nchw = self.value(index)
        if not nchw:
            return name
        if index not in self.transposed:
            out = self.unique(f"{name}__nhwc")
            self.node("Transpose", [name], [out], f"{name}__to_nhwc", perm=[0, 2, 3, 1])
            self.transposed[index] = out
        return self.transposed[index]

    def nchw4(self, index, op):
        name, nchw = self.value(index)
        if not nchw:
            raise RecipeError(f"{op}: input {self.tensor_name(index)} must be a rank-4 NHWC tensor")
        return name

    def out_name(self, index):
        if index in self.graph_output_names:
            return self.graph_output_names[index]
        return self.unique(self.tensor_name(index))

    def set_output(self, index, name, nchw):
        self.values[index] = (name, nchw)

    def emit_activation(self, act, x, out_index, tag):
        """Apply a fused activation to value ``x``; return the final name."""
        if act == _ACT_NONE:
            return x
        out = self.out_name(out_index)
        if act == _ACT_RELU:
            self.node("Relu", [x], [out], f"{tag}__relu")
        elif act in (_ACT_RELU6, _ACT_RELU_N1_TO_1):
            lo, hi = (0.0, 6.0) if act == _ACT_RELU6 else (-1.0, 1.0)
            lo_n = self.add_initializer(f"{tag}__min", np.array(lo, np.float32))
            hi_n = self.add_initializer(f"{tag}__max", np.array(hi, np.float32))
            self.node("Clip", [x, lo_n, hi_n], [out], f"{tag}__clip")
        elif act == _ACT_TANH:
            self.node("Tanh", [x], [out], f"{tag}__tanh")
        else:
            raise RecipeError(f"{tag}: fused activation {act} is not supported")
        return out

    def pre_activation_name(self, act, out_index, tag):
        """Output name for an op's own result: the tensor's name, or a temporary one if an
        activation follows."""
        if act == _ACT_NONE:
            return self.out_name(out_index)
        return self.unique(f"{tag}__preact")

    def options(self, op, cls):
        table = op.BuiltinOptions()
        opts = cls()
        if table is not None:
            opts.Init(table.Bytes, table.Pos)
        return opts

    # ----- the pass -----------------------------------------------------------------
    def run(self, graph_name):
        import onnx
        from onnx import TensorProto

        g = self.graph
        inputs = [int(i) for i in g.InputsAsNumpy()]
        outputs = [int(i) for i in g.OutputsAsNumpy()]
        if self.output_names and len(self.output_names) != len(outputs):
            raise RecipeError(f"expected {len(self.output_names)} outputs, the model has {len(outputs)}")
        names = self.output_names or [self.tensor_name(i) for i in outputs]
        self.used_names.add("input")
        self.graph_output_names = {}
        for index, name in zip(outputs, names, strict=True):
            self.graph_output_names[index] = _clean(name)
            self.used_names.add(_clean(name))

        graph_inputs = []
        for index in inputs:
            shape = self.shape(index)
            if self.tensor(index).Type() != 0:
                raise RecipeError(f"input {self.tensor_name(index)} is not float32")
            name = "input" if len(inputs) == 1 else self.unique(self.tensor_name(index))
            nchw = len(shape) == 4
            onnx_shape = [shape[0], shape[3], shape[1], shape[2]] if nchw else list(shape)
            graph_inputs.append(onnx.helper.make_tensor_value_info(name, TensorProto.FLOAT, onnx_shape))
            self.values[index] = (name, nchw)

        for k in range(g.OperatorsLength()):
            self.convert_op(k, g.Operators(k))

        graph_outputs = []
        for index in outputs:
            want = self.graph_output_names[index]
            name, nchw = self.value(index)
            if name != want:  # e.g. an output that is also an input of another op
                self.node("Identity", [name], [want], f"{want}__output")
            shape = self.shape(index)
            onnx_shape = [shape[0], shape[3], shape[1], shape[2]] if nchw else list(shape)
            graph_outputs.append(onnx.helper.make_tensor_value_info(want, TensorProto.FLOAT, onnx_shape))
        return onnx.helper.make_graph(self.nodes, _clean(graph_name), graph_inputs, graph_outputs,
                                      initializer=self.initializers)

    def opcode_name(self, op):
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == self.tflite.BuiltinOperator.CUSTOM:
            return "CUSTOM:" + (code.CustomCode() or b"").decode("utf-8", "replace")
        from tflite.utils import BUILTIN_OPCODE2NAME

        return BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}")

    def convert_op(self, k, op):
        opname = self.opcode_name(op)
        handler = _HANDLERS.get(opname)
        if handler is None:
            raise RecipeError(f"operator {opname} (op #{k}) is not supported by the tflite_graph recipe")
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()]
        for i in outs:
            if self.tensor(i).Type() != 0 and opname != "DEQUANTIZE":
                raise RecipeError(f"{opname} (op #{k}) has a non-float32 output; quantised graphs are not supported")
        handler(self, op, ins, outs, f"{k:03d}_{opname.split(':')[-1].lower()}")


# ----- operator handlers (self: _Converter, op, input indices, output indices, tag) -----

def _dequantize(c, op, ins, outs, tag):
    if ins[0] not in c.consts:
        raise RecipeError(f"{tag}: DEQUANTIZE of a run-time tensor is not supported")
    arr = c.consts[ins[0]]
    if arr.dtype == np.float16:
        c.consts[outs[0]] = arr.astype(np.float32)
        return
    q = c.tensor(ins[0]).Quantization()
    if q is None or q.ScaleLength() == 0:
        raise RecipeError(f"{tag}: {arr.dtype} constant without quantisation parameters")
    scale = q.ScaleAsNumpy().astype(np.float32)
    zero = q.ZeroPointAsNumpy().astype(np.float32) if q.ZeroPointLength() else np.zeros_like(scale)
    if scale.size > 1:
        shape = [1] * arr.ndim
        shape[q.QuantizedDimension()] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    c.consts[outs[0]] = ((arr.astype(np.float32) - zero) * scale).astype(np.float32)


def _conv_common(c, op, ins, outs, tag, depthwise):
    t = c.tflite
    opts = c.options(op, t.DepthwiseConv2DOptions if depthwise else t.Conv2DOptions)
    x = c.nchw4(ins[0], tag)
    w = c.float_const(ins[1], f"{tag} weights")
    in_shape = c.shape(ins[0])
    if depthwise:
        # [1, kh, kw, C*M] -> [C*M, 1, kh, kw]; out channel c*M+m reads input channel c,
        # which is ONNX's group order with group = C.
        group = in_shape[3]
        weights = w.transpose(3, 0, 1, 2)
    else:
        group = 1
        weights = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
    kh, kw = w.shape[1], w.shape[2]
    sh, sw = opts.StrideH(), opts.StrideW()
    dh, dw = max(opts.DilationHFactor(), 1), max(opts.DilationWFactor(), 1)
    if opts.Padding() == _PAD_SAME:
        (pt, pb), (pl, pr) = _same_pads(in_shape[1], kh, sh, dh), _same_pads(in_shape[2], kw, sw, dw)
    else:
        pt = pb = pl = pr = 0
    conv_in = [x, c.add_initializer(c.tensor_name(ins[1]), weights)]
    if len(ins) > 2 and ins[2] >= 0:
        conv_in.append(c.add_initializer(c.tensor_name(ins[2]), c.float_const(ins[2], f"{tag} bias")))
    act = opts.FusedActivationFunction()
    y = c.pre_activation_name(act, outs[0], tag)
    c.node("Conv", conv_in, [y], tag, kernel_shape=[kh, kw], strides=[sh, sw],
           dilations=[dh, dw], pads=[pt, pl, pb, pr], group=group)
    c.set_output(outs[0], c.emit_activation(act, y, outs[0], tag), True)


def _conv2d(c, op, ins, outs, tag):
    _conv_common(c, op, ins, outs, tag, depthwise=False)


def _depthwise(c, op, ins, outs, tag):
    _conv_common(c, op, ins, outs, tag, depthwise=True)


def _transpose_conv_bias(c, op, ins, outs, tag):
    """MediaPipe's ``Convolution2DTransposeBias``: TFLite TRANSPOSE_CONV plus a bias.

    Inputs are (input, weights [O, kh, kw, I], bias [O]); the custom options are a raw
    ``TfLiteTransposeConvParams`` struct: int32 padding (TfLitePadding: 1 SAME,
    2 VALID), int32 stride_width, int32 stride_height (little-endian).
    """
    raw = op.CustomOptionsAsNumpy().tobytes() if op.CustomOptionsLength() else b""
    if len(raw) < 12:
        raise RecipeError(f"{tag}: custom options are {len(raw)} bytes, expected a 12-byte params struct")
    padding, stride_w, stride_h = np.frombuffer(raw[:12], dtype="<i4").tolist()
    if padding not in _TFLITE_PADDING or stride_w < 1 or stride_h < 1:
        raise RecipeError(f"{tag}: unexpected params padding={padding} strides={stride_w}x{stride_h}")
    x = c.nchw4(ins[0], tag)
    w = c.float_const(ins[1], f"{tag} weights")
    _, in_h, in_w, _ = c.shape(ins[0])
    _, out_h, out_w, _ = c.shape(outs[0])
    kh, kw = w.shape[1], w.shape[2]
    pads_begin, pads_end, out_pad = [], [], []
    for in_size, out_size, k, s in ((in_h, out_h, kh, stride_h), (in_w, out_w, kw, stride_w)):
        full = (in_size - 1) * s + k  # the uncropped transposed-conv output
        if _TFLITE_PADDING[padding] == _PAD_SAME:
            # TFLite crops total//2 at the start; the rest of the overhang is dropped at the end.
            total = max(full - out_size, 0)
            begin = total // 2
        else:
            begin = 0
        end = full - out_size - begin
        extra = 0
        if end < 0:  # output larger than the full result: grow at the end
            extra, end = -end, 0
            if extra >= s:
                raise RecipeError(f"{tag}: output size {out_size} does not fit input {in_size}")
        pads_begin.append(begin)
        pads_end.append(end)
        out_pad.append(extra)
    weights = w.transpose(3, 0, 1, 2)  # [O, kh, kw, I] -> [I, O, kh, kw]
    conv_in = [x, c.add_initializer(c.tensor_name(ins[1]), weights)]
    if len(ins) > 2 and ins[2] >= 0:
        conv_in.append(c.add_initializer(c.tensor_name(ins[2]), c.float_const(ins[2], f"{tag} bias")))
    attrs = dict(kernel_shape=[kh, kw], strides=[stride_h, stride_w], pads=pads_begin + pads_end)
    if any(out_pad):
        attrs["output_padding"] = out_pad
    y = c.out_name(outs[0])
    c.node("ConvTranspose", conv_in, [y], tag, **attrs)
    c.set_output(outs[0], y, True)


def _binary_operand(c, index, rank4, tag):
    """An operand of ADD/MUL in the layout of the result (NCHW when ``rank4``)."""
    if index in c.consts:
        arr = c.float_const(index, f"{tag} operand")
        if rank4:  # NHWC broadcasting aligns trailing axes: pad to rank 4, then to NCHW
            if arr.ndim > 4:
                raise RecipeError(f"{tag}: rank-{arr.ndim} constant operand")
            arr = arr.reshape((1,) * (4 - arr.ndim) + arr.shape).transpose(0, 3, 1, 2)
        return c.add_initializer(c.tensor_name(index), arr)
    if rank4:
        name, nchw = c.value(index)
        if not nchw:
            raise RecipeError(f"{tag}: mixes a rank-4 tensor with a lower-rank run-time tensor")
        return name
    return c.nhwc(index)


def _binary(onnx_op, options_cls_name):
    def handler(c, op, ins, outs, tag):
        opts = c.options(op, getattr(c.tflite, options_cls_name))
        rank4 = len(c.shape(outs[0])) == 4 and any(
            i not in c.consts and c.value(i)[1] for i in ins)
        a = _binary_operand(c, ins[0], rank4, tag)
        b = _binary_operand(c, ins[1], rank4, tag)
        act = opts.FusedActivationFunction()
        y = c.pre_activation_name(act, outs[0], tag)
        c.node(onnx_op, [a, b], [y], tag)
        c.set_output(outs[0], c.emit_activation(act, y, outs[0], tag), rank4)

    return handler


def _unary(onnx_op):
    def handler(c, op, ins, outs, tag):
        name, nchw = c.value(ins[0])
        y = c.out_name(outs[0])
        c.node(onnx_op, [name], [y], tag)
        c.set_output(outs[0], y, nchw)

    return handler


def _hard_swish(c, op, ins, outs, tag):
    # x * relu6(x + 3) / 6, as x * HardSigmoid(x; 1/6, 1/2): both ops run on every
    # onnxruntime-web backend.
    name, nchw = c.value(ins[0])
    gate = c.unique(f"{tag}__gate")
    c.node("HardSigmoid", [name], [gate], f"{tag}__hardsigmoid", alpha=1.0 / 6.0, beta=0.5)
    y = c.out_name(outs[0])
    c.node("Mul", [name, gate], [y], tag)
    c.set_output(outs[0], y, nchw)


def _prelu(c, op, ins, outs, tag):
    name, nchw = c.value(ins[0])
    alpha = c.float_const(ins[1], f"{tag} alpha")
    if nchw:
        alpha = alpha.reshape((1,) * (4 - alpha.ndim) + alpha.shape).transpose(0, 3, 1, 2)[0]
    y = c.out_name(outs[0])
    c.node("PRelu", [name, c.add_initializer(c.tensor_name(ins[1]), alpha)], [y], tag)
    c.set_output(outs[0], y, nchw)


def _pool(onnx_op):
    def handler(c, op, ins, outs, tag):
        opts = c.options(op, c.tflite.Pool2DOptions)
        x = c.nchw4(ins[0], tag)
        _, h, w, _ = c.shape(ins[0])
        fh, fw, sh, sw = opts.FilterHeight(), opts.FilterWidth(), opts.StrideH(), opts.StrideW()
        act = opts.FusedActivationFunction()
        y = c.pre_activation_name(act, outs[0], tag)
        if (fh, fw) == (h, w) and opts.Padding() == _PAD_VALID:
            c.node("Global" + onnx_op, [x], [y], tag)
        else:
            if opts.Padding() == _PAD_SAME:
                (pt, pb), (pl, pr) = _same_pads(h, fh, sh), _same_pads(w, fw, sw)
            else:
                pt = pb = pl = pr = 0
            attrs = dict(kernel_shape=[fh, fw], strides=[sh, sw], pads=[pt, pl, pb, pr])
            if onnx_op == "AveragePool":
                attrs["count_include_pad"] = 0  # TFLite averages only the real pixels
            c.node(onnx_op, [x], [y], tag, **attrs)
        c.set_output(outs[0], c.emit_activation(act, y, outs[0], tag), True)

    return handler


def _pad(c, op, ins, outs, tag):
    pads = c.const(ins[1], f"{tag} paddings").astype(np.int64).reshape(-1, 2)
    name, nchw = c.value(ins[0])
    if nchw:
        pads = pads[[0, 3, 1, 2]]  # rows N, H, W, C -> N, C, H, W
    inputs = [name, c.add_initializer(f"{tag}__pads", np.concatenate([pads[:, 0], pads[:, 1]]))]
    if len(ins) > 2 and ins[2] >= 0:  # PADV2's constant value
        inputs.append(c.add_initializer(f"{tag}__value", c.float_const(ins[2]).reshape(())))
    y = c.out_name(outs[0])
    c.node("Pad", inputs, [y], tag, mode="constant")
    c.set_output(outs[0], y, nchw)


def _reshape(c, op, ins, outs, tag):
    # A reshape reads memory in TFLite's NHWC order, so the input must be NHWC here.
    x = c.nhwc(ins[0])
    shape = c.shape(outs[0])
    if not shape or min(shape) <= 0:
        raise RecipeError(f"{tag}: the output shape {shape} is not static")
    shape_name = c.add_initializer(f"{tag}__shape", np.array(shape, np.int64))
    if len(shape) == 4:
        tmp = c.unique(f"{tag}__nhwc")
        c.node("Reshape", [x, shape_name], [tmp], tag)
        y = c.out_name(outs[0])
        c.node("Transpose", [tmp], [y], f"{tag}__to_nchw", perm=[0, 3, 1, 2])
        c.set_output(outs[0], y, True)
    else:
        y = c.out_name(outs[0])
        c.node("Reshape", [x, shape_name], [y], tag)
        c.set_output(outs[0], y, False)


def _concatenation(c, op, ins, outs, tag):
    opts = c.options(op, c.tflite.ConcatenationOptions)
    rank = len(c.shape(outs[0]))
    axis = opts.Axis() % rank
    all_nchw = rank == 4 and all(i in c.consts or c.value(i)[1] for i in ins)
    if all_nchw:
        names = [c.value(i)[0] for i in ins]
        axis = _NHWC_TO_NCHW_AXIS[axis]
    else:
        names = [c.nhwc(i) for i in ins]
    act = opts.FusedActivationFunction()
    y = c.pre_activation_name(act, outs[0], tag)
    c.node("Concat", names, [y], tag, axis=axis)
    c.set_output(outs[0], c.emit_activation(act, y, outs[0], tag), all_nchw)


def _resize_bilinear(c, op, ins, outs, tag):
    opts = c.options(op, c.tflite.ResizeBilinearOptions)
    x = c.nchw4(ins[0], tag)
    n, _, _, ch = c.shape(ins[0])
    out_h, out_w = (int(v) for v in c.const(ins[1], f"{tag} size"))
    if opts.AlignCorners():
        mode = "align_corners"
    elif opts.HalfPixelCenters():
        mode = "half_pixel"  # onnxruntime clamps to the edge as TFLite does
    else:
        mode = "asymmetric"
    sizes = c.add_initializer(f"{tag}__sizes", np.array([n, ch, out_h, out_w], np.int64))
    y = c.out_name(outs[0])
    c.node("Resize", [x, "", "", sizes], [y], tag, mode="linear", coordinate_transformation_mode=mode)
    c.set_output(outs[0], y, True)


_HANDLERS = {
    "DEQUANTIZE": _dequantize,
    "CONV_2D": _conv2d,
    "DEPTHWISE_CONV_2D": _depthwise,
    "CUSTOM:Convolution2DTransposeBias": _transpose_conv_bias,
    "ADD": _binary("Add", "AddOptions"),
    "MUL": _binary("Mul", "MulOptions"),
    "RELU": _unary("Relu"),
    "LOGISTIC": _unary("Sigmoid"),
    "HARD_SWISH": _hard_swish,
    "PRELU": _prelu,
    "MAX_POOL_2D": _pool("MaxPool"),
    "AVERAGE_POOL_2D": _pool("AveragePool"),
    "PAD": _pad,
    "RESHAPE": _reshape,
    "CONCATENATION": _concatenation,
    "RESIZE_BILINEAR": _resize_bilinear,
}

#: Operators the recipe converts (for documentation and tests).
SUPPORTED_OPS = tuple(sorted(_HANDLERS))

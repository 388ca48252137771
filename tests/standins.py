"""Stand-in ONNX models the tests build: the published interface of a tool's model
(same inputs, outputs, dtypes and shapes) around a computation simple enough to check
exactly. They stand in for real weights that no registry here provides."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def brightness_mask_model(path, *, side: int | None = 64, out_channels: int = 1, extra_outputs: int = 0) -> None:
    """A stand-in with ISNet's signature (``[1, 3, H, W]`` float32 in, ``[1, 1, H, W]``
    out, ``side=None`` leaves H and W open): sigmoid(40 * (mean RGB - 0.1)), so with
    ISNet's normalisation (x / 255 - 0.5) pixels brighter than ~153 are subject."""
    dims = [1, 3, side, side] if side else [1, 3, "H", "W"]
    out_dims = [1, out_channels] + dims[2:]
    weight = np.full((out_channels, 3, 1, 1), 40 / 3, np.float32)
    bias = np.full((out_channels,), -4.0, np.float32)
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["mask"])]
    outputs = [helper.make_tensor_value_info("mask", TensorProto.FLOAT, out_dims)]
    for i in range(extra_outputs):  # like ISNet's side outputs
        nodes.append(helper.make_node("Identity", ["mask"], [f"side{i}"]))
        outputs.append(helper.make_tensor_value_info(f"side{i}", TensorProto.FLOAT, out_dims))
    graph = helper.make_graph(nodes, "standin", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              outputs, [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="darkroom-tests")
    model.ir_version = 8
    onnx.save(model, path)


def identity_image_model(path, *, layout: str = "NHWC") -> None:
    """A stand-in with a same-size image-to-image interface (MAXIM's: ``[1, H, W, 3]``
    float32 in and out, H and W open) that returns its input."""
    dims = [1, "H", "W", 3] if layout == "NHWC" else [1, 3, "H", "W"]
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["restored"])], "identity",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("restored", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="darkroom-tests")
    model.ir_version = 8
    onnx.save(model, path)

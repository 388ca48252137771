"""Stand-in ONNX models the tests build: the published interface of a tool's model
(same inputs, outputs, dtypes and shapes) around a computation simple enough to check
exactly. They stand in for real weights that no registry here provides."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph, path) -> None:
    """``graph`` as an ONNX file onnxruntime and onnxruntime-web both load (opset 17, IR 8)."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="darkroom-tests")
    model.ir_version = 8
    onnx.save(model, path)


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
    _save(graph, path)


def identity_image_model(path, *, layout: str = "NHWC") -> None:
    """A stand-in with a same-size image-to-image interface (MAXIM's: ``[1, H, W, 3]``
    float32 in and out, H and W open) that returns its input."""
    dims = [1, "H", "W", 3] if layout == "NHWC" else [1, 3, "H", "W"]
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["restored"])], "identity",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("restored", TensorProto.FLOAT, dims)])
    _save(graph, path)


def constant_fill_model(path, colour=(0.2, 0.6, 0.9), *, side: int | None = 512, dtype: str = "float32") -> None:
    """A stand-in with LaMa-ONNX's interface (``image`` [1, 3, S, S] in [0, 1], ``mask``
    [1, 1, S, S], 1 = fill; out [1, 3, S, S] in [0, 255]; ``side=None`` leaves S open):
    ``(image * (1 - mask) + colour * mask) * 255``, so the hole takes ``colour`` and the
    rest comes back as it went in. ``dtype="uint8"`` gives MI-GAN's uint8 tensors instead."""
    elem = {"float32": TensorProto.FLOAT, "uint8": TensorProto.UINT8}[dtype]
    dims = [side or "S", side or "S"]
    nodes = [helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
             helper.make_node("Sub", ["one", "m"], ["keep"]),
             helper.make_node("Mul", ["x", "keep"], ["kept"]),
             helper.make_node("Mul", ["m", "colour"], ["paint"]),
             helper.make_node("Add", ["kept", "paint"], ["unit"]),
             helper.make_node("Mul", ["unit", "full"], ["levels"]),
             helper.make_node("Cast", ["levels"], ["output"], to=elem)]
    graph = helper.make_graph(
        nodes, "constant-fill",
        [helper.make_tensor_value_info("image", elem, [1, 3, *dims]),
         helper.make_tensor_value_info("mask", elem, [1, 1, *dims])],
        [helper.make_tensor_value_info("output", elem, [1, 3, *dims])],
        [numpy_helper.from_array(np.array(1, np.float32), "one"),
         numpy_helper.from_array(np.array(255, np.float32), "full"),
         numpy_helper.from_array(np.asarray(colour, np.float32).reshape(1, 3, 1, 1), "colour")])
    _save(graph, path)


def ab_conv_model(path, *, ab=(0.0, 0.0), weight=None, side: int | None = 512) -> None:
    """A stand-in with DDColor's ONNX signature (``input`` [1, 3, 512, 512] float32, grey
    RGB in [0, 1]; ``output`` [1, 2, 512, 512], CIELAB a* b*; ``side=None`` leaves H and W
    open): a 1x1 Conv with bias ``ab`` and weight ``weight`` ((len(ab), 3), default zeros,
    i.e. a constant a* b* everywhere). ``len(ab) != 2`` makes a model of the wrong shape."""
    dims = [1, 3, side, side] if side else [1, 3, "H", "W"]
    weight = np.zeros((len(ab), 3), np.float32) if weight is None else np.asarray(weight, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["output"])], "ab",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, len(ab)] + dims[2:])],
        [numpy_helper.from_array(weight.reshape(len(ab), 3, 1, 1), "w"),
         numpy_helper.from_array(np.asarray(ab, np.float32), "b")])
    _save(graph, path)


def colour_matrix_face_model(path, *, matrix=None, side: int = 512) -> None:
    """A stand-in with GFPGAN v1.4's ONNX signature (``input`` [1, 3, 512, 512] float32,
    RGB in [-1, 1]; ``output`` the same): a 1x1 Conv applying ``matrix`` (3 x 3, default
    identity) to every pixel's colour, so ``-np.eye(3)`` inverts the picture and zeros
    give flat grey. Another ``side`` makes a model of the wrong shape."""
    weight = np.eye(3, dtype=np.float32) if matrix is None else np.asarray(matrix, np.float32)
    dims = [1, 3, side, side]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["output"])], "face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)],
        [numpy_helper.from_array(weight.reshape(3, 3, 1, 1), "w")])
    _save(graph, path)


def nearest_upscale_model(path, *, factor: int = 2) -> None:
    """A stand-in with an ESRGAN-style upscaler's interface (``[1, 3, H, W]`` float32 in,
    ``[1, 3, H*factor, W*factor]`` out, sizes open): nearest-neighbour enlargement."""
    scales = np.array([1, 1, factor, factor], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Resize", ["image", "", "scales"], ["enlarged"], mode="nearest")], "nearest",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("enlarged", TensorProto.FLOAT, [1, 3, None, None])],
        [numpy_helper.from_array(scales, "scales")])
    _save(graph, path)


def vertical_depth_model(path) -> None:
    """A stand-in with Depth-Anything's interface ([1, 3, H, W] in, [1, H, W] out):
    "depth" is the image's vertical position (bottom = near), so the top blurs."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["grey"], axes=[1], keepdims=0),
         helper.make_node("Shape", ["grey"], ["shape"]),
         helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                          value=numpy_helper.from_array(np.ones(1, np.float32))),
         helper.make_node("CumSum", ["ones", "axis"], ["depth"])],
        "depth", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, "H", "W"])],
        [numpy_helper.from_array(np.array(1, np.int64), "axis")])
    _save(graph, path)


def clip_standin_models(vision_path, text_path, table, *, projection=None, text_batch="batch_size") -> None:
    """Stand-ins for CLIP's two ONNX files with the interface of Hugging Face's exports
    (Xenova's ``onnx/vision_model.onnx`` and ``onnx/text_model.onnx``):

    * vision: ``pixel_values`` float32 [batch_size, num_channels, height, width] ->
      ``image_embeds`` [batch_size, D]: each channel's mean times ``projection`` (3, D;
      default: the identity padded with zeros to the table's D);
    * text: ``input_ids`` int64 [batch_size, sequence_length] -> ``text_embeds``
      [batch_size, D']: the sum of the ``table`` rows (49408, D') of its tokens.
      ``text_batch=1`` fixes the batch to 1, as some exports do.
    """
    table = np.asarray(table, np.float32)
    if projection is None:
        projection = np.eye(3, table.shape[1], dtype=np.float32)
    else:
        projection = np.asarray(projection, np.float32)
    vision = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values"], ["means"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["means", "projection"], ["image_embeds"])], "clip-vision",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                       ["batch_size", "num_channels", "height", "width"])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", projection.shape[1]])],
        [numpy_helper.from_array(projection, "projection")])
    _save(vision, vision_path)
    text = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["rows"], axis=0),
         helper.make_node("ReduceSum", ["rows", "sequence_axis"], ["text_embeds"], keepdims=0)], "clip-text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [text_batch, "sequence_length"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, [text_batch, table.shape[1]])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([1], np.int64), "sequence_axis")])
    _save(text, text_path)


#: The stand-in CLIP pair's colours (see ``clip_standin_table``).
CLIP_RED, CLIP_BLUE = (230, 30, 30), (30, 60, 200)


def clip_normalised(rgb) -> np.ndarray:
    """CLIP's input values for a colour: (x / 255 - mean) / std with OpenAI CLIP's published
    statistics (written out here, not read from the tool, so a wrong constant there fails)."""
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    return (np.asarray(rgb) / 255 - mean) / std


def clip_standin_table(dim: int = 8) -> np.ndarray:
    """Token embeddings for ``clip_standin_models``' text encoder: small noise, so every
    prompt's embedding differs; the one word "sunset"'s prompt has beyond "a photo of the
    dog." points where a ``CLIP_RED`` photo's embedding does, and "sea"'s where a
    ``CLIP_BLUE`` one's does (the stand-in vision encoder embeds a photo as its mean
    normalised colour, padded with zeros)."""
    from darkroom.tools.tag.prompts import PROMPTS

    ids = {label: set(tokens) for label, _, tokens in PROMPTS}
    table = np.random.default_rng(0).normal(0, 0.05, (49408, dim)).astype(np.float32)
    table[0] = 0  # the padding adds nothing
    for label, rgb in (("sunset", CLIP_RED), ("sea", CLIP_BLUE)):
        (word,) = ids[label] - ids["dog"] - {518}  # 518: "the"
        direction = np.zeros(dim)
        direction[:3] = clip_normalised(rgb)
        table[word] = 5 * direction / np.linalg.norm(direction)
    return table


#: The stand-in SD-Turbo's constants (see ``sd_turbo_standin_models``), written out here
#: rather than read from the tool, so a wrong constant there fails the tests.
SD_SIGMA = 14.6146  # the noise level of training timestep 999 in SD's scaled-linear schedule
SD_VAE_SCALING = 0.18215
_SD_RNG = np.random.default_rng(11)
SD_TOKEN_WEIGHTS = _SD_RNG.uniform(0.001, 0.01, 1024).astype(np.float32)
SD_PROJECTION = _SD_RNG.normal(0, 0.6, (1024, 4)).astype(np.float32)


def _half_io(graph):
    """``graph`` with its float32 inputs and outputs declared float16 and cast at the edges,
    as an fp16 export that keeps fp16 inputs and outputs (optimum's) has them."""
    renamed, first, last = {}, [], []
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            renamed[value.name] = f"{value.name}_float"
            first.append(helper.make_node("Cast", [value.name], [renamed[value.name]], to=TensorProto.FLOAT))
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    for value in graph.output:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            renamed[value.name] = f"{value.name}_float"
            last.append(helper.make_node("Cast", [renamed[value.name]], [value.name], to=TensorProto.FLOAT16))
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    for node in graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
        node.output[:] = [renamed.get(name, name) for name in node.output]
    nodes = [*first, *graph.node, *last]
    del graph.node[:]
    graph.node.extend(nodes)
    return graph


def sd_turbo_standin_models(text_path, unet_path, vae_path, *, timestep_dtype=TensorProto.INT64,
                            float16: bool = False) -> None:
    """Stand-ins for SD-Turbo's three ONNX files with the interface of the web export that
    onnxruntime's ``js/sd-turbo`` example runs (dimensions left open as there):

    * text: ``input_ids`` int32 [batch, sequence] -> ``last_hidden_state`` [batch,
      sequence, 1024] = sin(id * ``SD_TOKEN_WEIGHTS``), so padding (id 0) adds zeros;
    * unet: ``sample`` [1, 4, h, w], ``timestep`` int64 [1], ``encoder_hidden_states`` ->
      ``out_sample``: the noise that one Euler step from ``SD_SIGMA`` turns into the clean
      latent x0 = (mean over positions of the states) @ ``SD_PROJECTION`` * timestep / 999
      per channel, plus 0.05 * the scaled input (a trace of the noise, so variations differ);
    * vae: ``latent_sample`` [1, 4, h, w] -> ``sample`` [1, 3, 8h, 8w] = tanh of the first
      three channels times ``SD_VAE_SCALING``, each latent pixel an 8 × 8 block.

    A sampler that gets the noise level, the input scaling, the timestep, the padding or
    the VAE scaling wrong produces another colour than ``sd_turbo_standin_colour``.
    ``float16=True`` declares every float input and output float16.
    """
    edges = _half_io if float16 else (lambda graph: graph)
    text = helper.make_graph(
        [helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["ids", "last_axis"], ["column"]),
         helper.make_node("Mul", ["column", "weights"], ["phase"]),
         helper.make_node("Sin", ["phase"], ["last_hidden_state"])], "sd-text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch_size", "sequence_length"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["batch_size", "sequence_length", 1024])],
        [numpy_helper.from_array(SD_TOKEN_WEIGHTS, "weights"),
         numpy_helper.from_array(np.array([2], np.int64), "last_axis")])
    _save(edges(text), text_path)
    input_scale = np.float32((SD_SIGMA ** 2 + 1) ** 0.5)
    latent_dims = ["batch_size", "num_channels", "height", "width"]
    unet = helper.make_graph(
        [helper.make_node("ReduceMean", ["encoder_hidden_states"], ["pooled"], axes=[1], keepdims=0),
         helper.make_node("MatMul", ["pooled", "projection"], ["per_channel"]),
         helper.make_node("Reshape", ["per_channel", "channel_shape"], ["target"]),
         helper.make_node("Cast", ["timestep"], ["t"], to=TensorProto.FLOAT),
         helper.make_node("Div", ["t", "last_step"], ["fraction"]),
         helper.make_node("Mul", ["target", "fraction"], ["timed"]),
         helper.make_node("Mul", ["sample", "texture"], ["trace"]),
         helper.make_node("Add", ["timed", "trace"], ["clean"]),
         helper.make_node("Mul", ["sample", "input_scale"], ["noisy"]),
         helper.make_node("Sub", ["noisy", "clean"], ["scaled_noise"]),
         helper.make_node("Div", ["scaled_noise", "sigma"], ["out_sample"])], "sd-unet",
        [helper.make_tensor_value_info("sample", TensorProto.FLOAT, latent_dims),
         helper.make_tensor_value_info("timestep", timestep_dtype, [1]),
         helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT,
                                       ["batch_size", "sequence_length", 1024])],
        [helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, latent_dims)],
        [numpy_helper.from_array(SD_PROJECTION, "projection"),
         numpy_helper.from_array(np.array([1, 4, 1, 1], np.int64), "channel_shape"),
         numpy_helper.from_array(np.array(999, np.float32), "last_step"),
         numpy_helper.from_array(np.array(0.05, np.float32), "texture"),
         numpy_helper.from_array(input_scale, "input_scale"),
         numpy_helper.from_array(np.array(SD_SIGMA, np.float32), "sigma")])
    _save(edges(unet), unet_path)
    vae = helper.make_graph(
        [helper.make_node("Slice", ["latent_sample", "start", "stop", "axis"], ["rgb_latent"]),
         helper.make_node("Mul", ["rgb_latent", "scaling"], ["unscaled"]),
         helper.make_node("Tanh", ["unscaled"], ["small"]),
         helper.make_node("Resize", ["small", "", "scales"], ["sample"], mode="nearest")], "sd-vae",
        [helper.make_tensor_value_info("latent_sample", TensorProto.FLOAT,
                                       ["batch_size", "num_channels_latent", "height_latent", "width_latent"])],
        [helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch_size", 3, "height", "width"])],
        [numpy_helper.from_array(np.array([0], np.int64), "start"),
         numpy_helper.from_array(np.array([3], np.int64), "stop"),
         numpy_helper.from_array(np.array([1], np.int64), "axis"),
         numpy_helper.from_array(np.array(SD_VAE_SCALING, np.float32), "scaling"),
         numpy_helper.from_array(np.array([1, 1, 8, 8], np.float32), "scales")])
    _save(edges(vae), vae_path)


def sd_turbo_standin_colour(ids) -> np.ndarray:
    """The stand-in generator's picture colour (before its noise trace) for a prompt's
    token ids, sRGB in [0, 1]: the prompt padded with 0 to 77 positions, as SD-Turbo's
    pipeline does."""
    padded = np.zeros(77, np.float32)
    padded[:len(ids)] = ids
    pooled = np.sin(padded[:, None] * SD_TOKEN_WEIGHTS).mean(axis=0)
    return (np.tanh(pooled @ SD_PROJECTION)[:3] + 1) / 2

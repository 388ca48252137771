"""``run_tool`` and ``choose_model`` with a fake model runtime and the real remove-background tool."""

import asyncio
import sys

import numpy as np
import pytest

from darkroom import imaging, models
from darkroom.engine import Result, ToolError, choose_model, run_tool
from darkroom.models import ModelError
from darkroom.provenance import Stopwatch
from darkroom.runtime import RuntimeFailure, Session
from darkroom.tiers import DEFAULT as DEFAULT_TIER
from darkroom.tiers import Tier
from darkroom.tools import registry

WIDTH, HEIGHT = 64, 48


def disc_mask(size: int = 1024, radius: float = 0.3) -> np.ndarray:
    """A (1, 1, size, size) float32 sigmoid-like mask: 1 inside a centred disc, 0 outside."""
    yy, xx = np.mgrid[0:size, 0:size]
    centre = (size - 1) / 2
    inside = (yy - centre) ** 2 + (xx - centre) ** 2 <= (radius * size) ** 2
    return inside.astype(np.float32)[np.newaxis, np.newaxis]


class FakeRuntime:
    """Implements the Runtime protocol; records every call."""

    host = "fake"

    def __init__(self, variant_preference=("fp16", "quint8"), backend="webgpu",
                 load_error=None, run_error=None):
        self.variant_preference = variant_preference
        self.backend = backend
        self.load_error = load_error
        self.run_error = run_error
        self.loaded = []
        self.runs = []
        self.released = []

    async def load(self, spec):
        self.loaded.append(spec.id)
        if self.load_error:
            raise self.load_error
        return Session(spec.id, self.backend, 12.5, handle=object())

    async def run(self, session, feeds, outputs):
        self.runs.append((session.model_id, {k: (v.shape, v.dtype) for k, v in feeds.items()}, list(outputs)))
        if self.run_error:
            raise self.run_error
        await asyncio.sleep(0)
        return {"output": disc_mask()}

    async def release(self, session):
        self.released.append(session.model_id)


@pytest.fixture(scope="module")
def tool():
    return registry()["remove-background"]


@pytest.fixture(scope="module")
def manifest():
    return models.load_manifest()


@pytest.fixture(scope="module")
def image():
    """A decoded 64 x 48 PNG: a dark blob on a light, slightly graded backdrop."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    pixels[...] = (230 - yy // 4)[..., None]
    blob = (yy - HEIGHT / 2) ** 2 + (xx - WIDTH / 2) ** 2 <= 12 ** 2
    pixels[blob] = (40, 60, 150)
    decoded = imaging.decode(imaging.encode_png(pixels))
    assert decoded.pixels.shape == (HEIGHT, WIDTH, 3)
    return decoded


def run(tool, image, params, runtime, manifest, **kwargs) -> Result:
    return asyncio.run(run_tool(tool, image, params, runtime=runtime, models=manifest,
                                tier=DEFAULT_TIER, **kwargs))


# --------------------------------------------------------------------------
# The model path


def test_model_path_labels_model_variant_and_session_backend(tool, image, manifest):
    runtime = FakeRuntime()
    result = run(tool, image, {}, runtime, manifest)
    p = result.provenance
    assert p.tool == "remove-background"
    assert p.path == "model"
    assert p.model == "isnet-fp16"
    assert p.variant == "fp16"
    assert p.backend == "webgpu"  # from the session, not the host name
    assert p.reason is None
    assert p.fallback_chain == []
    assert p.tier == "standard"
    assert p.input_size == (WIDTH, HEIGHT)
    assert p.output_size == (WIDTH, HEIGHT)
    assert {"load", "prepare", "infer", "finish"} <= set(p.timings_ms)
    assert "classical" not in p.timings_ms
    assert all(v >= 0 for v in p.timings_ms.values())
    assert p.label().startswith("AI model isnet-fp16 on webgpu")


def test_model_path_feeds_the_manifest_signature(tool, image, manifest):
    runtime = FakeRuntime()
    run(tool, image, {}, runtime, manifest)
    assert runtime.loaded == ["isnet-fp16"]
    (model_id, feeds, outputs), = runtime.runs
    assert model_id == "isnet-fp16"
    assert feeds == {"input": ((1, 3, 1024, 1024), np.dtype(np.float32))}
    assert outputs == ["output"]


def test_model_path_output_is_the_mask_scaled_to_the_photo(tool, image, manifest):
    result = run(tool, image, {}, FakeRuntime(), manifest)
    out = result.pixels
    assert out.shape == (HEIGHT, WIDTH, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., :3], image.pixels)
    alpha = out[..., 3]
    # Disc of radius 0.3 of the frame: centre opaque, corners transparent.
    assert alpha[HEIGHT // 2, WIDTH // 2] == 255
    for corner in (alpha[0, 0], alpha[0, -1], alpha[-1, 0], alpha[-1, -1]):
        assert corner == 0
    coverage = (alpha > 127).mean()
    assert coverage == pytest.approx(np.pi * 0.3 ** 2, abs=0.03)


def test_model_path_mask_output(tool, image, manifest):
    result = run(tool, image, {"output": "mask"}, FakeRuntime(), manifest)
    assert result.pixels.shape == (HEIGHT, WIDTH)
    assert result.pixels[HEIGHT // 2, WIDTH // 2] == 255
    assert result.pixels[0, 0] == 0


def test_model_path_keeps_shared_stopwatch_phases(tool, image, manifest):
    watch = Stopwatch()
    with watch.phase("decode"):
        pass
    result = run(tool, image, {}, FakeRuntime(), manifest, watch=watch)
    assert {"decode", "load", "prepare", "infer", "finish"} <= set(result.provenance.timings_ms)


def test_image_notes_and_tier_are_carried(tool, manifest):
    decoded = imaging.Decoded(np.full((10, 20, 3), 200, np.uint8), "PNG", ("Rotated 180° per EXIF orientation 3.",))
    result = asyncio.run(run_tool(tool, decoded, {}, runtime=FakeRuntime(), models=manifest, tier=Tier("pro")))
    assert result.provenance.notes == ["Rotated 180° per EXIF orientation 3."]
    assert result.provenance.tier == "pro"
    assert result.provenance.input_size == (20, 10)


def test_explicit_model_is_run(tool, image, manifest):
    runtime = FakeRuntime(variant_preference=("fp16", "quint8"))
    result = run(tool, image, {"model": "isnet-quint8"}, runtime, manifest)
    assert runtime.loaded == ["isnet-quint8"]
    assert (result.provenance.model, result.provenance.variant) == ("isnet-quint8", "quint8")


def test_auto_follows_runtime_preference(tool, image, manifest):
    runtime = FakeRuntime(variant_preference=("quint8", "fp16"))
    result = run(tool, image, {"model": "auto"}, runtime, manifest)
    assert runtime.loaded == ["isnet-quint8"]
    assert result.provenance.model == "isnet-quint8"


# --------------------------------------------------------------------------
# Falling back to the classical path


def test_model_error_on_load_falls_back_with_reason(tool, image, manifest):
    error = ModelError("isnet-fp16.onnx failed sha256 verification (altered or corrupt); it was not run")
    runtime = FakeRuntime(load_error=error)
    result = run(tool, image, {}, runtime, manifest)
    p = result.provenance
    assert p.path == "classical"
    assert p.model is None and p.variant is None
    assert p.backend == "python"
    assert p.reason == (f"Model isnet-fp16 could not run ({error}). Ran the classical fallback instead.")
    assert p.fallback_chain == [f"isnet-fp16: {error}"]
    assert runtime.runs == []
    assert {"load", "classical"} <= set(p.timings_ms)
    assert result.pixels.shape == (HEIGHT, WIDTH, 4) and result.pixels.dtype == np.uint8
    assert "not AI" in p.label() and "isnet-fp16" in p.label()


def test_runtime_failure_on_run_falls_back_with_reason(tool, image, manifest):
    runtime = FakeRuntime(run_error=RuntimeFailure("onnxruntime failed running isnet-quint8: out of memory"),
                          variant_preference=("quint8",))
    result = run(tool, image, {"output": "mask"}, runtime, manifest)
    p = result.provenance
    assert p.path == "classical"
    assert "isnet-quint8" in p.reason and "out of memory" in p.reason
    assert p.reason.endswith("Ran the classical fallback instead.")
    assert p.fallback_chain == ["isnet-quint8: onnxruntime failed running isnet-quint8: out of memory"]
    assert {"load", "prepare", "infer", "classical"} <= set(p.timings_ms)
    assert result.pixels.shape == (HEIGHT, WIDTH)
    assert p.output_size == (WIDTH, HEIGHT)


def test_other_runtime_errors_are_not_swallowed(tool, image, manifest):
    runtime = FakeRuntime(run_error=KeyError("surprise"))
    with pytest.raises(KeyError):
        run(tool, image, {}, runtime, manifest)


def test_classical_requested(tool, image, manifest):
    runtime = FakeRuntime()
    result = run(tool, image, {"classical": True}, runtime, manifest)
    p = result.provenance
    assert p.path == "classical"
    assert p.reason == "Classical path requested."
    assert p.fallback_chain == []
    assert p.backend == "python"
    assert runtime.loaded == [] and runtime.runs == []
    assert set(p.timings_ms) == {"classical"}
    assert result.pixels.shape == (HEIGHT, WIDTH, 4)


def test_no_runtime_runs_classical_with_reason(tool, image, manifest):
    result = run(tool, image, {"output": "mask"}, None, manifest)
    p = result.provenance
    assert p.path == "classical"
    assert p.reason == "No model runtime on this host. Ran the classical fallback instead."
    assert p.model is None
    assert result.pixels.shape == (HEIGHT, WIDTH)


def test_classical_subject_is_found_on_plain_backdrop(tool, image, manifest):
    # A dark blob on a light backdrop is the classical path's home ground.
    alpha = run(tool, image, {"classical": True, "output": "mask"}, None, manifest).pixels
    assert alpha[HEIGHT // 2, WIDTH // 2] > 200
    assert alpha[1, 1] < 50 and alpha[-2, -2] < 50


def test_classical_import_error_is_a_tool_error(tool, image, manifest, monkeypatch):
    # Simulate a host without scikit-image: the classical module cannot be imported.
    monkeypatch.setitem(sys.modules, "darkroom.tools.remove_background.classical", None)
    with pytest.raises(ToolError) as info:
        run(tool, image, {"classical": True}, None, manifest)
    message = str(info.value)
    assert message.startswith("Classical path requested.")
    assert "The classical fallback is not available here either" in message


def test_model_error_then_classical_import_error(tool, image, manifest, monkeypatch):
    monkeypatch.setitem(sys.modules, "darkroom.tools.remove_background.classical", None)
    runtime = FakeRuntime(load_error=ModelError("isnet-fp16.onnx is not downloaded; run `darkroom models fetch`"))
    with pytest.raises(ToolError) as info:
        run(tool, image, {}, runtime, manifest)
    message = str(info.value)
    assert "Model isnet-fp16 could not run" in message
    assert "not downloaded" in message
    assert "The classical fallback is not available here either" in message


# --------------------------------------------------------------------------
# Parameter validation


@pytest.mark.parametrize("params, fragment", [
    ({"bogus": 1}, "has no parameter bogus"),
    ({"output": "jpeg"}, "output must be one of cutout, mask, color"),
    ({"color": "red"}, "color must be a colour like #ffffff"),
    ({"color": "#12345"}, "color must be a colour"),
    ({"color": "#12345g"}, "color must be a colour"),
    ({"classical": "yes"}, "classical must be true or false"),
    ({"classical": 1}, "classical must be true or false"),
    ({"model": "isnet-huge"}, "model must be one of auto, isnet-fp16, isnet-quint8"),
])
def test_bad_params_are_tool_errors(tool, image, manifest, params, fragment):
    runtime = FakeRuntime()
    with pytest.raises(ToolError) as info:
        run(tool, image, params, runtime, manifest)
    assert fragment in str(info.value)
    assert runtime.loaded == []


def test_colour_param_is_canonicalised(tool, image, manifest):
    result = run(tool, image, {"output": "color", "color": "#00FF00"}, FakeRuntime(), manifest)
    assert result.pixels.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(result.pixels[0, 0], [0, 255, 0])


def test_model_missing_from_manifest_is_tool_error(tool, image, manifest):
    partial = {k: v for k, v in manifest.items() if k != "isnet-quint8"}
    with pytest.raises(ToolError, match="Model isnet-quint8 is not available for remove-background"):
        run(tool, image, {"model": "isnet-quint8"}, FakeRuntime(), partial)


# --------------------------------------------------------------------------
# choose_model


@pytest.mark.parametrize("preference, expected", [
    (("quint8", "fp16"), "isnet-quint8"),
    (("fp16", "quint8"), "isnet-fp16"),
    (("quint8",), "isnet-quint8"),
    (("fp16",), "isnet-fp16"),
    (("webgpu-only", "quint8"), "isnet-quint8"),
])
def test_choose_model_auto_follows_preference(tool, manifest, preference, expected):
    assert choose_model(tool, "auto", FakeRuntime(variant_preference=preference), manifest).id == expected


def test_choose_model_auto_without_runtime_picks_the_tools_first_model(tool, manifest):
    assert choose_model(tool, "auto", None, manifest).id == tool.models[0]


@pytest.mark.parametrize("requested", ["isnet-fp16", "isnet-quint8"])
@pytest.mark.parametrize("preference", [("fp16", "quint8"), ("quint8", "fp16")])
def test_choose_model_explicit_id_is_honoured(tool, manifest, requested, preference):
    assert choose_model(tool, requested, FakeRuntime(variant_preference=preference), manifest).id == requested


def test_choose_model_unknown_id(tool, manifest):
    with pytest.raises(ToolError, match="Model isnet-huge is not available for remove-background."):
        choose_model(tool, "isnet-huge", FakeRuntime(), manifest)


def test_choose_model_rejects_model_of_another_tool(tool, manifest):
    other = models.parse_manifest({"schema": 1, "models": {"upscaler": {
        **manifest["isnet-fp16"].to_dict(), "tool": "upscale"}}})
    with pytest.raises(ToolError, match="not available"):
        choose_model(tool, "upscaler", FakeRuntime(), {**manifest, **other})


def test_choose_model_auto_with_no_listed_model(tool):
    with pytest.raises(ToolError, match="No model for remove-background is listed"):
        choose_model(tool, "auto", FakeRuntime(), {})

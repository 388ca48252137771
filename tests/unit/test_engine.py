"""``run_tool`` and ``candidates`` with a fake model runtime and the real remove-background tool.

The fake runtime plans either with the real ``darkroom.tiers.plan`` (given the WebGPU
features it pretends to have) or with a scripted list of attempts, and records every
``plan``, ``load``, ``run`` and ``release`` call.
"""

import asyncio
import dataclasses
import sys

import numpy as np
import pytest

from darkroom import imaging, models, tiers
from darkroom.engine import Result, Start, ToolError, candidates, path_of, run_tool
from darkroom.models import ModelError
from darkroom.provenance import Stopwatch
from darkroom.runtime import RuntimeFailure, Session
from darkroom.tiers import DEFAULT as DEFAULT_TIER
from darkroom.tiers import Attempt, Tier
from darkroom.tool import Pace, Rate, Tool
from darkroom.tools import registry

WIDTH, HEIGHT = 64, 48
F16 = frozenset({"shader-f16", "timestamp-query"})
PRO = Tier("pro", ("Real GPU (nvidia ampere) with shader-f16 and large buffers: full models on WebGPU.",),
           gpu_features=F16)
LITE = Tier("lite", ("Modest CPU (2 CPU threads, no WASM threads): small models on WASM, classical where "
                     "they are too slow.",))
FALLBACK = " Ran the classical fallback instead."


def disc_mask(size: int = 1024, radius: float = 0.3) -> np.ndarray:
    """A (1, 1, size, size) float32 sigmoid-like mask: 1 inside a centred disc, 0 outside."""
    yy, xx = np.mgrid[0:size, 0:size]
    centre = (size - 1) / 2
    inside = (yy - centre) ** 2 + (xx - centre) ** 2 <= (radius * size) ** 2
    return inside.astype(np.float32)[np.newaxis, np.newaxis]


class FakeRuntime:
    """Implements the Runtime protocol; records every call.

    Parameters
    ----------
    features : frozenset or None
        WebGPU features handed to ``tiers.plan`` (None: no WebGPU at all).
    attempts : list of Attempt, optional
        A scripted plan, returned as is instead of ``tiers.plan``'s.
    load_errors, run_errors : dict
        ``{"model@backend" or "*": exception}`` raised by ``load`` / ``run``.
    """

    host = "fake"

    def __init__(self, features=F16, attempts=None, load_errors=None, run_errors=None):
        self.features = features
        self.attempts = attempts
        self.load_errors = load_errors or {}
        self.run_errors = run_errors or {}
        self.planned = []   # (candidate ids, tier)
        self.loaded = []    # "model@backend"
        self.runs = []      # ("model@backend", {input: (shape, dtype)}, outputs)
        self.released = []  # "model@backend"

    @staticmethod
    def _error(table, key):
        return table.get(key) or table.get("*")

    def plan(self, candidates, tier):
        self.planned.append(([spec.id for spec in candidates], tier))
        if self.attempts is not None:
            return list(self.attempts)
        return tiers.plan(candidates, tier, self.features)

    async def load(self, spec, backend):
        key = f"{spec.id}@{backend}"
        self.loaded.append(key)
        error = self._error(self.load_errors, key)
        if error:
            raise error
        return Session(spec.id, backend, 12.5, handle=object())

    async def run(self, session, feeds, outputs):
        key = f"{session.model_id}@{session.backend}"
        self.runs.append((key, {k: (v.shape, v.dtype) for k, v in feeds.items()}, list(outputs)))
        error = self._error(self.run_errors, key)
        if error:
            raise error
        await asyncio.sleep(0)
        return {"output": disc_mask()}

    async def release(self, session):
        self.released.append(f"{session.model_id}@{session.backend}")


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


def run(tool, image, params, runtime, manifest, tier=PRO, **kwargs) -> Result:
    return asyncio.run(run_tool(tool, image, params, runtime=runtime, models=manifest, tier=tier, **kwargs))


def attempts(manifest, *names, skip=None):
    """Scripted Attempts from "model@backend" names; ``skip`` maps a name to its reason."""
    skip = skip or {}
    out = []
    for name in names:
        model_id, backend = name.split("@")
        out.append(Attempt(manifest[model_id], backend, skip.get(name)))
    return out


# --------------------------------------------------------------------------
# The model path


def test_model_path_labels_model_variant_and_attempt_backend(tool, image, manifest):
    runtime = FakeRuntime()
    result = run(tool, image, {}, runtime, manifest)
    p = result.provenance
    assert p.tool == "remove-background"
    assert p.path == "model"
    assert p.model == "isnet-fp16"
    assert p.variant == "fp16"
    assert p.backend == "webgpu"  # from the attempt, not the host name
    assert p.reason is None
    assert p.fallback_chain == ["isnet-fp16@webgpu ran"]
    assert (p.tier, p.tier_overridden) == ("pro", False)
    assert p.input_size == (WIDTH, HEIGHT)
    assert p.output_size == (WIDTH, HEIGHT)
    assert {"load", "process", "infer"} <= set(p.timings_ms)
    assert "classical" not in p.timings_ms
    assert all(v >= 0 for v in p.timings_ms.values())
    assert p.label().startswith("AI model isnet-fp16 on webgpu")
    assert "chosen by you" not in p.label()
    assert runtime.released == []


def test_model_path_plans_once_with_the_tools_candidates_and_the_tier(tool, image, manifest):
    runtime = FakeRuntime()
    run(tool, image, {}, runtime, manifest)
    assert len(runtime.planned) == 1
    ids, tier = runtime.planned[0]
    assert ids == ["isnet-fp16", "isnet-quint8"]  # the selfie model serves portraits only
    assert tier is PRO


def test_model_path_feeds_the_manifest_signature(tool, image, manifest):
    runtime = FakeRuntime()
    run(tool, image, {}, runtime, manifest)
    assert runtime.loaded == ["isnet-fp16@webgpu"]
    (name, feeds, outputs), = runtime.runs
    assert name == "isnet-fp16@webgpu"
    assert feeds == {"image": ((1, HEIGHT, WIDTH, 3), np.dtype(np.uint8))}  # the photo, resized in the graph
    assert outputs == ["output"]


def test_standard_tier_runs_quint8_on_wasm(tool, image, manifest):
    runtime = FakeRuntime()
    p = run(tool, image, {}, runtime, manifest, tier=DEFAULT_TIER).provenance
    assert runtime.loaded == ["isnet-quint8@wasm"]
    assert (p.path, p.model, p.variant, p.backend) == ("model", "isnet-quint8", "quint8", "wasm")
    assert (p.tier, p.tier_overridden) == ("standard", False)
    assert p.fallback_chain == ["isnet-quint8@wasm ran"]
    assert p.reason is None


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
    assert {"decode", "load", "process", "infer"} <= set(result.provenance.timings_ms)


def test_image_notes_and_tier_are_carried(tool, manifest):
    decoded = imaging.Decoded(np.full((10, 20, 3), 200, np.uint8), "PNG", ("Rotated 180° per EXIF orientation 3.",))
    result = asyncio.run(run_tool(tool, decoded, {}, runtime=FakeRuntime(), models=manifest, tier=Tier("pro")))
    # The decoder's notes first, then the path's (ISNet saw the photo at its own size).
    assert result.provenance.notes == ["Rotated 180° per EXIF orientation 3.",
                                       "The mask was computed at 1024 × 1024 and scaled to 20 × 10."]
    assert result.provenance.tier == "pro"
    assert result.provenance.tier_overridden is False
    assert result.provenance.input_size == (20, 10)


def test_overridden_tier_is_carried_into_provenance_and_label(tool, image, manifest):
    chosen = tiers.override(LITE, "pro")
    assert chosen.overridden
    runtime = FakeRuntime()
    p = run(tool, image, {}, runtime, manifest, tier=chosen).provenance
    assert runtime.planned[0][1] is chosen
    assert (p.tier, p.tier_overridden) == ("pro", True)
    assert p.path == "model"
    assert "(tier pro, chosen by you)" in p.label()


def test_overridden_tier_is_carried_on_the_classical_path_too(tool, image, manifest):
    chosen = tiers.override(PRO, "lite")
    p = run(tool, image, {"classical": True}, FakeRuntime(), manifest, tier=chosen).provenance
    assert (p.path, p.tier, p.tier_overridden) == ("classical", "lite", True)
    assert "(tier lite, chosen by you)" in p.label()
    assert p.label().endswith("Classical path requested.")


def test_explicit_model_is_the_only_candidate(tool, image, manifest):
    runtime = FakeRuntime()
    result = run(tool, image, {"model": "isnet-quint8"}, runtime, manifest)
    assert runtime.planned[0][0] == ["isnet-quint8"]
    assert runtime.loaded == ["isnet-quint8@webgpu"]
    assert (result.provenance.model, result.provenance.variant) == ("isnet-quint8", "quint8")


@pytest.mark.parametrize("plan, expected", [
    (("isnet-quint8@wasm", "isnet-fp16@webgpu"), "isnet-quint8@wasm"),
    (("isnet-fp16@webgpu", "isnet-quint8@wasm"), "isnet-fp16@webgpu"),
    (("isnet-quint8@webgpu",), "isnet-quint8@webgpu"),
    (("isnet-fp16@cpu", "isnet-quint8@cpu"), "isnet-fp16@cpu"),
])
def test_auto_runs_the_first_attempt_of_the_runtimes_plan(tool, image, manifest, plan, expected):
    runtime = FakeRuntime(attempts=attempts(manifest, *plan))
    p = run(tool, image, {"model": "auto"}, runtime, manifest).provenance
    assert runtime.loaded == [expected]
    assert f"{p.model}@{p.backend}" == expected
    assert p.fallback_chain == [f"{expected} ran"]
    assert p.reason is None


# --------------------------------------------------------------------------
# The fallback chain between attempts


def test_load_failure_falls_back_to_the_next_attempt(tool, image, manifest):
    error = ModelError("isnet-fp16.onnx failed sha256 verification; it was discarded and not run")
    runtime = FakeRuntime(attempts=attempts(manifest, "isnet-fp16@webgpu", "isnet-quint8@wasm"),
                          load_errors={"isnet-fp16@webgpu": error})
    result = run(tool, image, {}, runtime, manifest)
    p = result.provenance
    assert (p.path, p.model, p.variant, p.backend) == ("model", "isnet-quint8", "quint8", "wasm")
    assert p.fallback_chain == [f"isnet-fp16@webgpu failed: {error}", "isnet-quint8@wasm ran"]
    assert p.reason == f"Fell back to isnet-quint8@wasm: isnet-fp16@webgpu failed: {error}."
    assert p.reason.startswith("Fell back to")
    assert runtime.loaded == ["isnet-fp16@webgpu", "isnet-quint8@wasm"]
    assert [r[0] for r in runtime.runs] == ["isnet-quint8@wasm"]
    assert runtime.released == []  # nothing was loaded, so nothing to free
    label = p.label()
    assert label.startswith("AI model isnet-quint8 on wasm") and "Fell back to" in label
    assert "not AI" not in label
    assert result.pixels.shape == (HEIGHT, WIDTH, 4)
    assert result.pixels[HEIGHT // 2, WIDTH // 2, 3] == 255


def test_runtime_failure_at_load_falls_back_without_release(tool, image, manifest):
    error = RuntimeFailure("onnxruntime-web could not load isnet-fp16 on webgpu: unsupported op")
    runtime = FakeRuntime(load_errors={"isnet-fp16@webgpu": error})
    p = run(tool, image, {}, runtime, manifest).provenance
    assert (p.model, p.backend) == ("isnet-quint8", "webgpu")
    assert p.fallback_chain == [f"isnet-fp16@webgpu failed: {error}", "isnet-quint8@webgpu ran"]
    assert runtime.released == []


def test_runtime_failure_at_run_releases_the_session_and_tries_the_next(tool, image, manifest):
    error = RuntimeFailure("onnxruntime-web failed running the model: the GPU device was lost (destroyed)")
    runtime = FakeRuntime(run_errors={"isnet-fp16@webgpu": error})
    result = run(tool, image, {"output": "mask"}, runtime, manifest)
    p = result.provenance
    assert runtime.released == ["isnet-fp16@webgpu"]
    assert runtime.loaded == ["isnet-fp16@webgpu", "isnet-quint8@webgpu"]
    assert [r[0] for r in runtime.runs] == ["isnet-fp16@webgpu", "isnet-quint8@webgpu"]
    assert (p.path, p.model, p.backend) == ("model", "isnet-quint8", "webgpu")
    assert p.fallback_chain == [f"isnet-fp16@webgpu failed: {error}", "isnet-quint8@webgpu ran"]
    assert p.reason == f"Fell back to isnet-quint8@webgpu: isnet-fp16@webgpu failed: {error}."
    assert {"load", "process", "infer"} <= set(p.timings_ms)
    assert result.pixels.shape == (HEIGHT, WIDTH)


def test_skipped_attempt_is_recorded_and_never_loaded(tool, image, manifest):
    # Pro forced on a software adapter: it has WebGPU but no shader-f16.
    runtime = FakeRuntime(features=frozenset())
    p = run(tool, image, {}, runtime, manifest).provenance
    assert runtime.loaded == ["isnet-quint8@webgpu"]
    skipped = "isnet-fp16@webgpu skipped: the WebGPU adapter lacks shader-f16"
    assert p.fallback_chain == [skipped, "isnet-quint8@webgpu ran"]
    assert p.reason == f"Fell back to isnet-quint8@webgpu: {skipped}."
    assert (p.path, p.model, p.backend) == ("model", "isnet-quint8", "webgpu")


def test_scripted_skip_is_never_loaded(tool, image, manifest):
    runtime = FakeRuntime(attempts=attempts(manifest, "isnet-fp16@webgpu", "isnet-quint8@wasm",
                                            skip={"isnet-fp16@webgpu": "testing a skip"}))
    p = run(tool, image, {}, runtime, manifest).provenance
    assert runtime.loaded == ["isnet-quint8@wasm"]
    assert p.fallback_chain == ["isnet-fp16@webgpu skipped: testing a skip", "isnet-quint8@wasm ran"]


def test_every_attempt_failing_runs_classical_with_the_whole_chain(tool, image, manifest):
    error = ModelError("download of isnet-fp16.onnx failed: HTTP 404")
    runtime = FakeRuntime(load_errors={"*": error})
    result = run(tool, image, {}, runtime, manifest)
    p = result.provenance
    chain = [f"{name} failed: {error}" for name in ("isnet-fp16@webgpu", "isnet-quint8@webgpu", "isnet-quint8@wasm")]
    assert runtime.loaded == ["isnet-fp16@webgpu", "isnet-quint8@webgpu", "isnet-quint8@wasm"]
    assert runtime.runs == []
    assert p.path == "classical"
    assert p.model is None and p.variant is None
    assert p.backend == "python"
    assert p.fallback_chain == chain
    assert p.reason == f"No model could run ({'; '.join(chain)}).{FALLBACK}"
    assert {"load", "classical"} <= set(p.timings_ms)
    assert result.pixels.shape == (HEIGHT, WIDTH, 4) and result.pixels.dtype == np.uint8
    assert "not AI" in p.label() and "isnet-fp16" in p.label()


def test_skips_load_and_run_failures_together_then_classical(tool, image, manifest):
    # No WebGPU at all: both WebGPU attempts are skipped; WASM runs out of memory.
    error = RuntimeFailure("onnxruntime-web failed running the model: out of memory")
    runtime = FakeRuntime(features=None, run_errors={"isnet-quint8@wasm": error})
    result = run(tool, image, {"output": "mask"}, runtime, manifest)
    p = result.provenance
    chain = ["isnet-fp16@webgpu skipped: no WebGPU adapter", "isnet-quint8@webgpu skipped: no WebGPU adapter",
             f"isnet-quint8@wasm failed: {error}"]
    assert runtime.loaded == ["isnet-quint8@wasm"]
    assert runtime.released == ["isnet-quint8@wasm"]
    assert p.path == "classical"
    assert p.fallback_chain == chain
    assert p.reason == f"No model could run ({'; '.join(chain)}).{FALLBACK}"
    assert {"load", "infer", "classical"} <= set(p.timings_ms)
    assert result.pixels.shape == (HEIGHT, WIDTH)
    assert p.output_size == (WIDTH, HEIGHT)


def test_runtime_failure_on_the_only_attempt_falls_back_with_reason(tool, image, manifest):
    error = RuntimeFailure("onnxruntime failed running isnet-quint8: out of memory")
    runtime = FakeRuntime(run_errors={"*": error})
    result = run(tool, image, {"output": "mask"}, runtime, manifest, tier=DEFAULT_TIER)
    p = result.provenance
    assert p.path == "classical"
    assert "isnet-quint8@wasm" in p.reason and "out of memory" in p.reason
    assert p.reason.endswith("Ran the classical fallback instead.")
    assert p.fallback_chain == [f"isnet-quint8@wasm failed: {error}"]
    assert runtime.released == ["isnet-quint8@wasm"]
    assert result.pixels.shape == (HEIGHT, WIDTH)


def test_all_attempts_skipped_runs_classical(tool, image, manifest):
    runtime = FakeRuntime(attempts=attempts(manifest, "isnet-fp16@webgpu",
                                            skip={"isnet-fp16@webgpu": "no WebGPU adapter"}))
    p = run(tool, image, {}, runtime, manifest).provenance
    assert runtime.loaded == []
    assert p.path == "classical"
    assert p.fallback_chain == ["isnet-fp16@webgpu skipped: no WebGPU adapter"]
    assert p.reason == f"No model could run (isnet-fp16@webgpu skipped: no WebGPU adapter).{FALLBACK}"


@pytest.mark.parametrize("where", ["load", "run"])
def test_other_runtime_errors_are_not_swallowed(tool, image, manifest, where):
    errors = {"*": KeyError("surprise")}
    runtime = FakeRuntime(**{f"{where}_errors": errors})
    with pytest.raises(KeyError):
        run(tool, image, {}, runtime, manifest)
    assert runtime.loaded == ["isnet-fp16@webgpu"]  # no further attempt after a real bug


# --------------------------------------------------------------------------
# Empty plans and the classical path


def test_empty_plan_on_a_tier_without_models_quotes_the_tier(tool, image, manifest):
    tier = tiers.decide({"deviceMemory": 1, "hardwareConcurrency": 4})
    assert (tier.name, tier.models_allowed) == ("lite", False)
    runtime = FakeRuntime()
    p = run(tool, image, {}, runtime, manifest, tier=tier).provenance
    assert runtime.planned and runtime.loaded == []
    assert p.path == "classical"
    assert p.fallback_chain == []
    assert p.reason == f"The lite tier runs no model here: {' '.join(tier.reasons)}{FALLBACK}"
    assert "1 GB of memory" in p.reason
    assert (p.tier, p.tier_overridden) == ("lite", False)


def test_empty_plan_for_an_explicit_model_the_tier_does_not_list(tool, image, manifest):
    # tiers.plan lists fp16 only for pro on WebGPU; the engine gets [] and says so.
    runtime = FakeRuntime()
    p = run(tool, image, {"model": "isnet-fp16"}, runtime, manifest, tier=LITE).provenance
    assert runtime.planned[0][0] == ["isnet-fp16"]
    assert runtime.loaded == []
    assert p.path == "classical"
    assert p.reason == ("No remove-background model for these settings runs on the lite tier; choose one under "
                        f"Model to run it anyway.{FALLBACK}")


def test_classical_requested(tool, image, manifest):
    runtime = FakeRuntime()
    result = run(tool, image, {"classical": True}, runtime, manifest)
    p = result.provenance
    assert p.path == "classical"
    assert p.reason == "Classical path requested."
    assert p.fallback_chain == []
    assert p.backend == "python"
    assert runtime.planned == [] and runtime.loaded == [] and runtime.runs == []
    assert set(p.timings_ms) == {"classical"}
    assert result.pixels.shape == (HEIGHT, WIDTH, 4)


def test_no_runtime_runs_classical_with_reason(tool, image, manifest):
    result = run(tool, image, {"output": "mask"}, None, manifest)
    p = result.provenance
    assert p.path == "classical"
    assert p.reason == "No model runtime on this host. Ran the classical fallback instead."
    assert p.model is None
    assert p.fallback_chain == []
    assert result.pixels.shape == (HEIGHT, WIDTH)


def test_load_packages_runs_before_the_classical_path_only(tool, image, manifest):
    calls = []

    async def load_packages(names):
        calls.append(names)

    p = run(tool, image, {}, FakeRuntime(), manifest, load_packages=load_packages).provenance
    assert p.path == "model" and calls == []
    p = run(tool, image, {"classical": True}, FakeRuntime(), manifest, load_packages=load_packages).provenance
    assert calls == [tool.classical_packages]
    assert set(p.timings_ms) == {"packages", "classical"}


def test_classical_subject_is_found_on_plain_backdrop(tool, image, manifest):
    # A dark blob on a light backdrop is the classical path's home ground.
    alpha = run(tool, image, {"classical": True, "output": "mask"}, None, manifest).pixels
    assert alpha[HEIGHT // 2, WIDTH // 2] > 200
    assert alpha[1, 1] < 50 and alpha[-2, -2] < 50


def test_classical_import_error_is_a_tool_error(tool, image, manifest, monkeypatch):
    # Simulate a host without scikit-image: the classical module cannot be imported.
    monkeypatch.setitem(sys.modules, "darkroom.cutout.classical", None)
    with pytest.raises(ToolError) as info:
        run(tool, image, {"classical": True}, None, manifest)
    message = str(info.value)
    assert message.startswith("Classical path requested.")
    assert "The classical fallback is not available here either" in message


def test_model_error_then_classical_import_error(tool, image, manifest, monkeypatch):
    monkeypatch.setitem(sys.modules, "darkroom.cutout.classical", None)
    not_downloaded = ModelError("isnet-quint8.onnx is not downloaded; run `darkroom models fetch`")
    runtime = FakeRuntime(load_errors={"*": not_downloaded})
    with pytest.raises(ToolError) as info:
        run(tool, image, {}, runtime, manifest, tier=DEFAULT_TIER)
    message = str(info.value)
    assert message.startswith("No model could run (isnet-quint8@wasm failed: isnet-quint8.onnx is not downloaded")
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
    ({"model": "isnet-huge"}, "model must be one of auto, selfie-segmenter, isnet-fp16, isnet-quint8"),
])
def test_bad_params_are_tool_errors(tool, image, manifest, params, fragment):
    runtime = FakeRuntime()
    with pytest.raises(ToolError) as info:
        run(tool, image, params, runtime, manifest)
    assert fragment in str(info.value)
    assert runtime.planned == [] and runtime.loaded == []


def test_colour_param_is_canonicalised(tool, image, manifest):
    result = run(tool, image, {"output": "color", "color": "#00FF00"}, FakeRuntime(), manifest)
    assert result.pixels.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(result.pixels[0, 0], [0, 255, 0])


def test_model_missing_from_manifest_is_tool_error(tool, image, manifest):
    partial = {k: v for k, v in manifest.items() if k != "isnet-quint8"}
    runtime = FakeRuntime()
    with pytest.raises(ToolError, match="Model isnet-quint8 is not available for remove-background"):
        run(tool, image, {"model": "isnet-quint8"}, runtime, partial)
    assert runtime.planned == []


# --------------------------------------------------------------------------
# candidates


def test_candidates_auto_is_every_model_in_tool_order(tool, manifest):
    found = candidates(tool, {"model": "auto", "subject": "portrait"}, manifest)
    assert [spec.id for spec in found] == list(tool.models) == ["selfie-segmenter", "isnet-fp16", "isnet-quint8"]
    assert all(spec is manifest[spec.id] for spec in found)


def test_candidates_auto_follows_the_tool_not_the_manifest_order(tool, manifest):
    reordered = {"isnet-quint8": manifest["isnet-quint8"], "isnet-fp16": manifest["isnet-fp16"]}
    assert [spec.id for spec in candidates(tool, {"model": "auto"}, reordered)] == ["isnet-fp16", "isnet-quint8"]


def test_candidates_auto_skips_models_missing_from_the_manifest(tool, manifest):
    partial = {"isnet-quint8": manifest["isnet-quint8"]}
    assert [spec.id for spec in candidates(tool, {"model": "auto"}, partial)] == ["isnet-quint8"]


@pytest.mark.parametrize("requested", ["isnet-fp16", "isnet-quint8"])
def test_candidates_explicit_id_is_the_only_one(tool, manifest, requested):
    assert candidates(tool, {"model": requested}, manifest) == [manifest[requested]]


def test_candidates_unknown_id(tool, manifest):
    with pytest.raises(ToolError, match="Model isnet-huge is not available for remove-background."):
        candidates(tool, {"model": "isnet-huge"}, manifest)


def test_candidates_rejects_model_of_another_tool(tool, manifest):
    other = models.parse_manifest({"schema": 1, "models": {"upscaler": {
        **manifest["isnet-fp16"].to_dict(), "tool": "upscale"}}})
    with pytest.raises(ToolError, match="not available"):
        candidates(tool, {"model": "upscaler"}, {**manifest, **other})


def test_candidates_auto_with_no_listed_model(tool):
    assert candidates(tool, {"model": "auto"}, {}) == []


def _scaled(manifest, model_id, scale):
    entry = {**manifest["isnet-fp16"].to_dict(), "params": {"scale": scale}}
    return models.parse_manifest({"schema": 1, "models": {model_id: entry}})[model_id]


def test_candidates_keep_only_models_serving_the_params(manifest):
    two, four = _scaled(manifest, "x2", "2"), _scaled(manifest, "x4", "4")
    tool = Tool(id="remove-background", title="t", description="d", params=(), models=("x4", "x2"), group="Enhance",
                classical=lambda pixels, params: pixels)
    found = candidates(tool, {"model": "auto", "scale": "2"}, {"x2": two, "x4": four})
    assert found == [two]
    with pytest.raises(ToolError, match="Model x4 only serves scale 4."):
        candidates(tool, {"model": "x4", "scale": "2"}, {"x2": two, "x4": four})


def test_tiled_model_runs_are_noted_with_their_tile_count(manifest):
    """The engine notes tiling from the path's progress reports."""

    async def four_tiles(spec, infer, pixels, params, progress):
        for done in range(1, 5):
            progress(done, 4)
        return pixels

    tiled_tool = dataclasses.replace(registry()["remove-background"], run_model=four_tiles)
    result = run(tiled_tool, imaging.Decoded(np.zeros((8, 8, 3), np.uint8), "PNG", ()), {}, FakeRuntime(), manifest)
    assert result.provenance.notes == ["Processed in 4 overlapping tiles, blended at the seams."]


# --------------------------------------------------------------------------
# Telling the host how long each path should take


def test_each_path_is_announced_with_its_declared_pace_and_named_as_its_result_is(tool, image, manifest):
    paced = dataclasses.replace(tool, pace=Pace(classical=Rate(3.0), wasm={"isnet-quint8": Rate(0.5, fixed=9.0)}))
    runtime = FakeRuntime(attempts=attempts(manifest, "isnet-fp16@webgpu", "isnet-quint8@wasm"),
                          load_errors={"isnet-fp16@webgpu": ModelError("broken download")})
    started = []
    result = run(paced, image, {}, runtime, manifest, starting=started.append)
    megapixels = WIDTH * HEIGHT / 1e6
    # WebGPU has no measured pace: a software adapter and a real GPU differ a hundredfold.
    assert started == [Start("isnet-fp16@webgpu", megapixels, None),
                       Start("isnet-quint8@wasm", megapixels, Rate(0.5, fixed=9.0))]
    assert path_of(result.provenance) == started[-1].path

    started.clear()
    result = run(paced, image, {"classical": True}, runtime, manifest, starting=started.append)
    assert started == [Start("classical", megapixels, Rate(3.0))]
    assert path_of(result.provenance) == "classical"


def test_a_tool_without_a_pace_is_announced_without_one(tool, image, manifest):
    started = []
    run(dataclasses.replace(tool, pace=None), image, {"classical": True}, FakeRuntime(), manifest,
        starting=started.append)
    assert started == [Start("classical", WIDTH * HEIGHT / 1e6, None)]

"""remove-background for portraits: the selfie model on the lite tier, against ISNet
(as the reference mask) and against the classical cut-out."""

import asyncio

import pytest

from darkroom import imaging, models, tiers
from darkroom.engine import run_tool
from darkroom.runtime import CpuRuntime
from darkroom.tools import registry
from helpers import iou, require_models


class LiteCpuRuntime(CpuRuntime):
    """The CPU runtime planning as the page's lite tier does (manifest backends, WASM)."""

    def plan(self, candidates, tier):
        return [tiers.Attempt(a.spec, "cpu", a.skip) for a in tiers.plan(candidates, tier, None)]


def mask(result):
    return result.pixels > 127


@pytest.fixture(scope="module")
def portrait(astronaut_photo):
    return imaging.decode(astronaut_photo)


@pytest.fixture(scope="module")
def masks(portrait):
    require_models("selfie-segmenter", "isnet-fp16")
    tool, manifest = registry()["remove-background"], models.load_manifest()
    lite = tiers.override(tiers.DEFAULT, "lite")

    def run(params, runtime, tier=tiers.DEFAULT):
        return asyncio.run(run_tool(tool, portrait, {"output": "mask", **params}, runtime=runtime,
                                    models=manifest, tier=tier))

    return {
        "selfie": run({"subject": "portrait"}, LiteCpuRuntime(), lite),
        "isnet": run({"model": "isnet-fp16"}, CpuRuntime()),
        "classical": run({"classical": True}, None),
        "lite-general": run({}, LiteCpuRuntime(), lite),
    }


def test_lite_tier_runs_the_selfie_model_for_portraits(masks):
    p = masks["selfie"].provenance
    assert (p.path, p.model, p.tier) == ("model", "selfie-segmenter", "lite")
    assert p.timings_ms["infer"] < 1000  # milliseconds, not the seconds ISNet takes here
    assert masks["lite-general"].provenance.model == "isnet-quint8"


def test_selfie_mask_agrees_with_isnet_and_beats_the_classical_cutout(masks):
    reference = mask(masks["isnet"])
    selfie, classical = iou(mask(masks["selfie"]), reference), iou(mask(masks["classical"]), reference)
    print(f"IoU vs ISNet: selfie model {selfie:.3f}, classical {classical:.3f}")
    assert selfie > 0.85 and selfie > classical

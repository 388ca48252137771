"""``engine.early_start``: the hint the page uses to load (and run) a model before Python
has started must name what Python's own plan would try first, and list every parameter
that could change that."""

import dataclasses

import pytest

from darkroom import models, tiers
from darkroom.engine import GPU_LESS_TIERS, candidates, early_start
from darkroom.tools import registry

SWIFTSHADER = {"webgpu": {"available": True, "adapter": {"architecture": "swiftshader", "isFallbackAdapter": True},
                          "features": []},
               "deviceMemory": 8, "hardwareConcurrency": 2, "crossOriginIsolated": True, "wasm": {"threads": True}}
NO_WEBGPU_STRONG_CPU = {"webgpu": {"available": False, "error": "navigator.gpu is missing"}, "deviceMemory": 16,
                        "hardwareConcurrency": 16, "crossOriginIsolated": True, "wasm": {"threads": True}}


@pytest.fixture(scope="module")
def manifest():
    return models.load_manifest()


def first_attempt(tool, params, manifest, tier):
    attempts = tiers.plan(candidates(tool, tool.resolve(params), manifest), tier, None)
    return next((a.name for a in attempts if not a.skip), None)


def test_remove_background_starts_isnet_quint8_on_wasm_with_its_defaults(manifest):
    hint = early_start(registry()["remove-background"], manifest)
    assert (hint["model"], hint["backend"]) == ("isnet-quint8", "wasm")
    assert hint["params"] == {"classical": False, "model": "auto", "subject": "general"}


@pytest.mark.parametrize("probe", [SWIFTSHADER, NO_WEBGPU_STRONG_CPU], ids=["swiftshader", "no-webgpu-strong-cpu"])
def test_the_hint_is_what_python_plans_first_on_a_device_without_a_usable_gpu(manifest, probe):
    tier = tiers.decide(probe)
    assert tier.name in GPU_LESS_TIERS and tier.gpu_features is None
    tool = registry()["remove-background"]
    hint = early_start(tool, manifest)
    assert first_attempt(tool, {}, manifest, tier) == f"{hint['model']}@{hint['backend']}"


def test_tools_whose_gpu_less_tiers_disagree_get_no_hint(manifest):
    tool = registry()["upscale"]
    # SPAN x2 runs on every tier; were it left to standard, lite would start elsewhere.
    span = manifest["span-x2"]
    standard_only = {**span.backends, "wasm": {"tiers": ["standard", "pro"]}}
    disagreeing = {**manifest, "span-x2": dataclasses.replace(span, backends=standard_only)}
    firsts = {first_attempt(tool, {}, disagreeing, tiers.Tier(name)) for name in GPU_LESS_TIERS}
    assert len(firsts) == 2
    assert early_start(tool, disagreeing) is None
    assert early_start(tool, manifest)["model"] == "span-x2"


@pytest.mark.parametrize("tool_id", sorted(registry()))
def test_every_choice_outside_the_hints_params_keeps_its_first_attempt(manifest, tool_id):
    """A run whose listed params keep their values is planned as the hint says, whatever
    else the user changed; so the page can start early on the hint's params alone."""
    tool = registry()[tool_id]
    hint = early_start(tool, manifest)
    if hint is None:
        return
    expected = f"{hint['model']}@{hint['backend']}"
    for param in tool.all_params():
        if param.kind != "choice" or param.name in hint["params"]:
            continue
        for choice in param.choices:
            for name in GPU_LESS_TIERS:
                attempt = first_attempt(tool, {param.name: choice}, manifest, tiers.Tier(name))
                assert attempt == expected, (param.name, choice)

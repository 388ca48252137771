"""Device tiers: ``decide`` over realistic probe reports, ``override``, ``plan`` with the real
manifest, ``software_adapter``, and ``CpuRuntime.plan``.

Probe reports are written as ``web/bridge.js``'s ``probe()`` makes them.
"""

import dataclasses

import pytest

from darkroom import models, tiers
from darkroom.provenance import Provenance
from darkroom.runtime import CpuRuntime
from darkroom.tiers import DEFAULT, Attempt, Tier, decide, override, plan, software_adapter
from darkroom.tools import registry

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# Chrome's adapter.features on a desktop GPU, sorted as bridge.js sends them.
DESKTOP_FEATURES = ["bgra8unorm-storage", "depth-clip-control", "depth32float-stencil8", "float32-filterable",
                    "indirect-first-instance", "rg11b10ufloat-renderable", "shader-f16", "texture-compression-bc",
                    "timestamp-query"]
NO_F16 = [f for f in DESKTOP_FEATURES if f != "shader-f16"]
SWIFTSHADER_FEATURES = ["depth-clip-control", "depth32float-stencil8", "float32-filterable",
                        "indirect-first-instance", "rg11b10ufloat-renderable", "texture-compression-bc",
                        "texture-compression-etc2"]


def webgpu(vendor="", architecture="", device="", description="", fallback=False, features=DESKTOP_FEATURES,
           buffer=4 * GiB, binding=2 * GiB - 4):
    return {
        "available": True,
        "adapter": {"vendor": vendor, "architecture": architecture, "device": device, "description": description,
                    "isFallbackAdapter": fallback},
        "features": sorted(features),
        "limits": {"maxBufferSize": buffer, "maxStorageBufferBindingSize": binding,
                   "maxComputeWorkgroupStorageSize": 32 * KiB, "maxComputeInvocationsPerWorkgroup": 1024,
                   "maxComputeWorkgroupSizeX": 1024, "maxComputeWorkgroupSizeY": 1024,
                   "maxComputeWorkgroupSizeZ": 64, "maxStorageBuffersPerShaderStage": 10},
    }


def no_webgpu(error="navigator.gpu is missing"):
    return {"available": False, "error": error}


def probe(gpu, memory=8, cores=8, isolated=True, simd=True):
    """A probe report; WASM threads follow cross-origin isolation, as in bridge.js."""
    return {
        "webgpu": gpu,
        "deviceMemory": memory,
        "hardwareConcurrency": cores,
        "crossOriginIsolated": isolated,
        "wasm": {"simd": simd, "threads": isolated, "numThreads": max(1, min(4, cores)) if isolated else 1},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0",
    }


NVIDIA = webgpu("nvidia", "ampere")
APPLE_M = webgpu("apple", "metal-3", buffer=4 * GiB, binding=4 * GiB - 4)
INTEL_IGPU = webgpu("intel", "gen-9", features=NO_F16, buffer=2 * GiB, binding=2 * GiB - 4)
MALI_SMALL = webgpu("arm", "valhall", buffer=256 * MiB, binding=256 * MiB)
SWIFTSHADER = webgpu("google", "swiftshader", fallback=True, features=SWIFTSHADER_FEATURES,
                     buffer=256 * MiB, binding=128 * MiB)
LLVMPIPE = webgpu("mesa", "", description="llvmpipe (LLVM 15.0.7, 256 bits)", features=NO_F16)
LAVAPIPE = webgpu("mesa", "", device="lavapipe", description="Vulkan: lavapipe (LLVM 17.0.6, 256 bits)")
BASIC_RENDER = webgpu("microsoft", "", description="Microsoft Basic Render Driver")
SOFTPIPE = webgpu("mesa", "softpipe")

# (id, probe, tier, models_allowed, fragments the reasons must contain (case-insensitive))
DECISIONS = [
    ("nvidia-discrete", probe(NVIDIA, memory=8, cores=16), "pro", True,
     ["real gpu (nvidia ampere)", "shader-f16", "large buffers"]),
    ("apple-m-series", probe(APPLE_M, memory=8, cores=10), "pro", True, ["apple metal-3", "shader-f16"]),
    ("intel-igpu-no-f16", probe(INTEL_IGPU, memory=8, cores=8), "standard", True,
     ["real gpu (intel gen-9)", "no shader-f16"]),
    ("f16-but-256-mib-limits", probe(MALI_SMALL, memory=4, cores=8), "standard", True, ["small buffer limits"]),
    ("swiftshader-2-cores", probe(SWIFTSHADER, memory=8, cores=2), "lite", True,
     ["software renderer (swiftshader)", "not a gpu", "modest cpu (2 cpu threads"]),
    ("llvmpipe", probe(LLVMPIPE, memory=8, cores=4), "lite", True, ["software renderer (llvmpipe)"]),
    ("lavapipe", probe(LAVAPIPE, memory=8, cores=4), "lite", True, ["software renderer (lavapipe)"]),
    ("microsoft-basic-render", probe(BASIC_RENDER, memory=8, cores=4), "lite", True,
     ["software renderer (microsoft basic render)"]),
    ("softpipe", probe(SOFTPIPE, memory=8, cores=4), "lite", True, ["software renderer (softpipe)"]),
    ("no-webgpu", probe(no_webgpu("navigator.gpu is missing"), memory=8, cores=4), "lite", True,
     ["no webgpu adapter (navigator.gpu is missing)", "modest cpu"]),
    ("no-adapter", probe(no_webgpu("no adapter was offered"), memory=8, cores=4), "lite", True,
     ["no adapter was offered"]),
    ("strong-cpu", probe(no_webgpu(), memory=8, cores=16, isolated=True), "standard", True,
     ["strong cpu (16 threads", "wasm threads on"]),
    ("strong-cpu-swiftshader", probe(SWIFTSHADER, memory=8, cores=16, isolated=True), "standard", True,
     ["software renderer", "strong cpu"]),
    ("strong-cpu-not-isolated", probe(no_webgpu(), memory=8, cores=16, isolated=False), "lite", True,
     ["16 cpu threads, no wasm threads"]),
    ("strong-cpu-little-memory", probe(no_webgpu(), memory=4, cores=16, isolated=True), "lite", True,
     ["modest cpu"]),
    ("one-gb", probe(no_webgpu(), memory=1, cores=4), "lite", False, ["1 gb of memory", "classical"]),
    ("half-gb-with-a-gpu", probe(NVIDIA, memory=0.5, cores=8), "lite", False, ["0.5 gb of memory"]),
    ("memory-unreported-gpu", probe(NVIDIA, memory=None, cores=8), "pro", True, ["shader-f16"]),
    ("memory-unreported-strong-cpu", probe(no_webgpu(), memory=None, cores=16), "standard", True, ["strong cpu"]),
    ("memory-unreported-modest-cpu", probe(no_webgpu(), memory=None, cores=4), "lite", True, ["modest cpu"]),
    ("empty", {}, "lite", True, ["no webgpu adapter (webgpu is not available in this browser)",
                                 "1 cpu thread, no wasm threads"]),
]


@pytest.mark.parametrize("report, name, allowed, fragments", [d[1:] for d in DECISIONS],
                         ids=[d[0] for d in DECISIONS])
def test_decide(report, name, allowed, fragments):
    tier = decide(report)
    text = " ".join(tier.reasons).lower()
    assert tier.name == name, tier.reasons
    assert tier.models_allowed is allowed
    assert tier.overridden is False
    for fragment in fragments:
        assert fragment in text, (fragment, tier.reasons)
    assert tier.reasons and all(isinstance(r, str) and r.endswith(".") for r in tier.reasons)


@pytest.mark.parametrize("gpu", [NVIDIA, APPLE_M, INTEL_IGPU, MALI_SMALL], ids=["nvidia", "apple", "intel", "mali"])
def test_real_gpus_report_their_feature_set(gpu):
    tier = decide(probe(gpu))
    assert tier.gpu_features == frozenset(gpu["features"])
    assert ("shader-f16" in tier.gpu_features) is (gpu is not INTEL_IGPU)


@pytest.mark.parametrize("gpu", [SWIFTSHADER, LLVMPIPE, LAVAPIPE, BASIC_RENDER, SOFTPIPE, no_webgpu()],
                         ids=["swiftshader", "llvmpipe", "lavapipe", "basic-render", "softpipe", "none"])
@pytest.mark.parametrize("cores, isolated", [(2, False), (16, True)])
def test_software_adapters_are_never_a_gpu(gpu, cores, isolated):
    tier = decide(probe(gpu, memory=8, cores=cores, isolated=isolated))
    assert tier.gpu_features is None
    assert tier.name != "pro"
    assert "real gpu" not in " ".join(tier.reasons).lower()


def test_software_adapter_with_f16_and_big_limits_is_still_not_a_gpu():
    # WARP can expose shader-f16 and large limits; it is still the CPU.
    warp = webgpu("microsoft", "", description="Microsoft Basic Render Driver", features=DESKTOP_FEATURES)
    tier = decide(probe(warp, memory=8, cores=4, isolated=False))
    assert (tier.name, tier.gpu_features) == ("lite", None)


def test_low_memory_keeps_the_real_gpus_features():
    tier = decide(probe(NVIDIA, memory=1))
    assert (tier.name, tier.models_allowed) == ("lite", False)
    assert tier.gpu_features == frozenset(DESKTOP_FEATURES)


def test_two_gb_is_enough_for_models():
    tier = decide(probe(NVIDIA, memory=2))
    assert (tier.name, tier.models_allowed) == ("pro", True)


def test_threads_need_cross_origin_isolation_too():
    report = probe(no_webgpu(), memory=8, cores=16, isolated=False)
    report["wasm"]["threads"] = True  # inconsistent report: threads claimed without isolation
    assert decide(report).name == "lite"


@pytest.mark.parametrize("report", [
    {"webgpu": None, "deviceMemory": None, "hardwareConcurrency": None, "crossOriginIsolated": None, "wasm": None},
    {"webgpu": {"available": True}},
    {"webgpu": {"available": True, "adapter": {}, "features": [], "limits": {}}},
    {"deviceMemory": None},
], ids=["all-none", "available-nothing-else", "empty-parts", "memory-none"])
def test_decide_survives_partial_reports(report):
    tier = decide(report)
    assert tier.name in tiers.TIERS
    assert tier.reasons


def test_tier_to_dict():
    tier = decide(probe(NVIDIA))
    assert tier.to_dict() == {"name": "pro", "reasons": list(tier.reasons), "modelsAllowed": True, "gpu": True,
                              "overridden": False}
    assert decide({}).to_dict()["gpu"] is False


def test_default_tier_is_standard_for_the_cpu_hosts():
    assert (DEFAULT.name, DEFAULT.models_allowed, DEFAULT.overridden) == ("standard", True, False)


# --------------------------------------------------------------------------
# override


@pytest.mark.parametrize("report", [probe(NVIDIA), probe(INTEL_IGPU), probe(SWIFTSHADER, cores=2),
                                    probe(no_webgpu(), memory=1)], ids=["pro", "standard", "lite", "lite-no-models"])
def test_override_to_the_same_tier_is_the_recommendation(report):
    recommended = decide(report)
    assert override(recommended, recommended.name) is recommended


@pytest.mark.parametrize("low, high", [("lite", "standard"), ("lite", "pro"), ("standard", "pro")])
def test_override_upwards_says_chosen_by_you_and_the_risk(low, high):
    recommended = Tier(low, ("Modest CPU.",), gpu_features=frozenset({"shader-f16"}))
    chosen = override(recommended, high)
    assert (chosen.name, chosen.overridden, chosen.models_allowed) == (high, True, True)
    assert chosen.reasons[0] == (f"Tier {high} chosen by you; the device probe recommends {low}. Heavier models "
                                 "than this device is rated for may be slow or fail; failures fall back.")
    assert chosen.reasons[1:] == recommended.reasons
    assert chosen.gpu_features == recommended.gpu_features


@pytest.mark.parametrize("high, low", [("standard", "lite"), ("pro", "lite"), ("pro", "standard")])
def test_override_downwards_has_no_risk_sentence(high, low):
    recommended = decide(probe(NVIDIA)) if high == "pro" else decide(probe(INTEL_IGPU))
    chosen = override(recommended, low)
    assert (chosen.name, chosen.overridden) == (low, True)
    assert chosen.reasons[0] == f"Tier {low} chosen by you; the device probe recommends {high}."
    assert "may be slow or fail" not in " ".join(chosen.reasons)
    assert chosen.gpu_features == recommended.gpu_features


def test_override_of_a_low_memory_device_lets_models_run():
    recommended = decide(probe(no_webgpu(), memory=1))
    assert not recommended.models_allowed
    chosen = override(recommended, "standard")
    assert chosen.models_allowed and chosen.overridden
    assert "1 GB of memory" in " ".join(chosen.reasons[1:])


@pytest.mark.parametrize("name", ["auto", "ultra", "", "Pro", " lite", None])
def test_override_bad_name(name):
    with pytest.raises(ValueError, match="tier must be one of lite, standard, pro"):
        override(decide({}), name)


# --------------------------------------------------------------------------
# plan with the real manifest

F16 = frozenset({"shader-f16"})
NO_FEATURES = frozenset()


@pytest.fixture(scope="module")
def manifest():
    return models.load_manifest()


@pytest.fixture(scope="module")
def rb_models(manifest):
    """The remove-background tool's models for a general photo, in tool order."""
    return [manifest[m] for m in registry()["remove-background"].models if manifest[m].serves({"subject": "general"})]


@pytest.fixture
def portrait_models(manifest):
    return [manifest[m] for m in registry()["remove-background"].models if manifest[m].serves({"subject": "portrait"})]


def test_plan_lite_runs_the_selfie_model_first_for_portraits(portrait_models):
    attempts = tiers.plan(portrait_models, tiers.override(tiers.DEFAULT, "lite"), None)
    assert [a.name for a in attempts] == ["selfie-segmenter@wasm", "isnet-quint8@wasm"]


def test_plan_standard_keeps_isnet_for_portraits(portrait_models):
    attempts = tiers.plan(portrait_models, tiers.override(tiers.DEFAULT, "standard"), None)
    assert [a.name for a in attempts] == ["isnet-quint8@wasm"]


def names(attempts):
    return [(a.name, a.skip) for a in attempts]


@pytest.mark.parametrize("tier_name", ["lite", "standard"])
@pytest.mark.parametrize("features", [None, NO_FEATURES, F16], ids=["no-webgpu", "software", "f16"])
def test_plan_lite_and_standard_run_quint8_on_wasm(rb_models, tier_name, features):
    attempts = plan(rb_models, Tier(tier_name), features)
    assert names(attempts) == [("isnet-quint8@wasm", None)]
    assert attempts[0].spec is rb_models[1] and attempts[0].backend == "wasm"


def test_plan_pro_with_shader_f16(rb_models):
    assert names(plan(rb_models, Tier("pro", gpu_features=F16), F16)) == [
        ("isnet-fp16@webgpu", None), ("isnet-quint8@webgpu", None), ("isnet-quint8@wasm", None)]


def test_plan_pro_forced_on_a_software_adapter(rb_models):
    assert names(plan(rb_models, override(decide(probe(SWIFTSHADER, cores=2)), "pro"), NO_FEATURES)) == [
        ("isnet-fp16@webgpu", "the WebGPU adapter lacks shader-f16"),
        ("isnet-quint8@webgpu", None),
        ("isnet-quint8@wasm", None)]


def test_plan_pro_without_webgpu(rb_models):
    assert names(plan(rb_models, Tier("pro"), None)) == [
        ("isnet-fp16@webgpu", "no WebGPU adapter"),
        ("isnet-quint8@webgpu", "no WebGPU adapter"),
        ("isnet-quint8@wasm", None)]


@pytest.mark.parametrize("tier_name", tiers.TIERS)
def test_plan_is_empty_when_the_tier_allows_no_models(rb_models, tier_name):
    assert plan(rb_models, Tier(tier_name, models_allowed=False), F16) == []


@pytest.mark.parametrize("tier_name", ["lite", "standard"])
def test_plan_explicit_fp16_off_pro_is_empty(manifest, tier_name):
    # tiers.plan lists nothing; BrowserRuntime.plan then falls back to fp16@wasm itself.
    assert plan([manifest["isnet-fp16"]], Tier(tier_name), F16) == []


def test_plan_explicit_single_candidates_on_pro(manifest):
    pro = Tier("pro", gpu_features=F16)
    assert names(plan([manifest["isnet-fp16"]], pro, F16)) == [("isnet-fp16@webgpu", None)]
    assert names(plan([manifest["isnet-quint8"]], pro, F16)) == [("isnet-quint8@webgpu", None),
                                                                 ("isnet-quint8@wasm", None)]


def test_plan_keeps_candidate_order_within_a_backend(rb_models):
    assert [a.name for a in plan(list(reversed(rb_models)), Tier("pro"), F16)] == [
        "isnet-quint8@webgpu", "isnet-fp16@webgpu", "isnet-quint8@wasm"]


def test_plan_names_every_missing_feature_sorted(manifest):
    spec = dataclasses.replace(manifest["isnet-fp16"], id="needy", backends={
        "webgpu": {"tiers": ["pro"], "features": ["subgroups", "shader-f16"]}})
    assert names(plan([spec], Tier("pro"), frozenset({"timestamp-query"}))) == [
        ("needy@webgpu", "the WebGPU adapter lacks shader-f16, subgroups")]
    assert names(plan([spec], Tier("pro"), frozenset({"subgroups"}))) == [
        ("needy@webgpu", "the WebGPU adapter lacks shader-f16")]


def test_plan_ignores_models_without_backends(manifest):
    bare = dataclasses.replace(manifest["isnet-quint8"], id="bare", backends={})
    for name in tiers.TIERS:
        assert plan([bare], Tier(name), F16) == []


def test_attempt_name():
    spec = models.load_manifest()["isnet-fp16"]
    assert Attempt(spec, "webgpu").name == "isnet-fp16@webgpu"
    assert Attempt(spec, "wasm", "why").skip == "why"


# --------------------------------------------------------------------------
# software_adapter


@pytest.mark.parametrize("adapter, expected", [
    ({"vendor": "google", "architecture": "swiftshader", "isFallbackAdapter": True}, "swiftshader"),
    ({"vendor": "google", "architecture": "swiftshader", "isFallbackAdapter": False}, "swiftshader"),
    ({"device": "SwiftShader Device (Subzero)"}, "SwiftShader"),
    ({"isFallbackAdapter": True, "architecture": "", "description": "Some CPU adapter"}, "Some CPU adapter"),
    ({"isFallbackAdapter": True}, "a fallback adapter"),
    ({"vendor": "mesa", "description": "llvmpipe (LLVM 15.0.7, 256 bits)", "isFallbackAdapter": False}, "llvmpipe"),
    ({"vendor": "mesa", "device": "lavapipe"}, "lavapipe"),
    ({"vendor": "mesa", "architecture": "softpipe"}, "softpipe"),
    ({"vendor": "microsoft", "description": "Microsoft Basic Render Driver"}, "Microsoft Basic Render"),
    ({"vendor": "nvidia", "architecture": "ampere", "isFallbackAdapter": False}, None),
    ({"vendor": "apple", "architecture": "metal-3"}, None),
    ({"vendor": "intel", "architecture": "gen-12lp", "description": "Intel(R) UHD Graphics 770"}, None),
    ({"vendor": "mesa", "description": "AMD Radeon RX 6700 XT (radeonsi, navi22, LLVM 15.0.7)"}, None),
    ({"vendor": None, "architecture": None, "description": None}, None),
    ({}, None),
])
def test_software_adapter(adapter, expected):
    assert software_adapter(adapter) == expected


# --------------------------------------------------------------------------
# CpuRuntime.plan


@pytest.mark.parametrize("order", [("isnet-fp16", "isnet-quint8"), ("isnet-quint8", "isnet-fp16")])
@pytest.mark.parametrize("tier", [DEFAULT, Tier("lite"), Tier("pro", gpu_features=F16)], ids=["default", "lite", "pro"])
def test_cpu_runtime_plans_fp16_before_quint8_on_the_cpu(manifest, order, tier):
    attempts = CpuRuntime().plan([manifest[m] for m in order], tier)
    assert names(attempts) == [("isnet-fp16@cpu", None), ("isnet-quint8@cpu", None)]
    assert [a.spec for a in attempts] == [manifest["isnet-fp16"], manifest["isnet-quint8"]]


def test_cpu_runtime_plans_unknown_variants_last(manifest):
    odd = dataclasses.replace(manifest["isnet-fp16"], id="isnet-int4", variant="int4")
    attempts = CpuRuntime().plan([odd, manifest["isnet-quint8"], manifest["isnet-fp16"]], DEFAULT)
    assert [a.name for a in attempts] == ["isnet-fp16@cpu", "isnet-quint8@cpu", "isnet-int4@cpu"]


def test_cpu_runtime_plans_a_single_explicit_model(manifest):
    assert names(CpuRuntime().plan([manifest["isnet-quint8"]], DEFAULT)) == [("isnet-quint8@cpu", None)]


def test_cpu_runtime_leaves_gpu_only_models_to_an_explicit_pick(manifest):
    thick, medium = manifest["esrgan-thick-x2"], manifest["esrgan-medium-x2"]
    assert "wasm" not in thick.backends  # minutes per megapixel on a CPU
    assert names(CpuRuntime().plan([thick, medium], DEFAULT)) == [("esrgan-medium-x2@cpu", None)]
    assert names(CpuRuntime().plan([thick], DEFAULT)) == [("esrgan-thick-x2@cpu", None)]


def test_a_page_that_is_not_isolated_says_so_first_and_on_the_label():
    tier = decide(probe(NVIDIA, isolated=False))
    assert tier.reasons[0] == tiers.NOT_ISOLATED
    label = Provenance(tool="remove-background", path="model", model="isnet-quint8", backend="wasm",
                       tier=tier.name, tier_reasons=list(tier.reasons)).label()
    assert "WASM on 1 thread: this page is not cross-origin isolated (the host sends no COOP/COEP)." in label
    assert tiers.NOT_ISOLATED not in decide(probe(NVIDIA)).reasons
    assert tiers.NOT_ISOLATED not in decide({}).reasons  # a report that does not say is not blamed

"""Device tiers (lite / standard / pro), why a device got its tier, and what each tier runs.

``decide`` reads the probe report that ``bridge.js`` makes in the page; ``plan`` turns
a tier into the ordered (model, backend) attempts for a tool, from the manifest.
Both are pure functions, so the policy is tested in CPython.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .models import ModelSpec

TIERS = ("lite", "standard", "pro")
#: What each tier runs, in words; the page says it when it explains a device's tier.
MEANINGS = {
    "lite": "small models on the CPU (WASM), classical algorithms where a model would be too slow",
    "standard": "compact models, on the GPU where one is usable",
    "pro": "full models on the GPU, and the generative tools",
}
BACKEND_ORDER = ("webgpu", "wasm")

# Adapters that rasterise on the CPU: WebGPU "works" on them, but slower than WASM.
SOFTWARE_ADAPTER = re.compile(r"swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render", re.IGNORECASE)
# Below this much reported memory a 44 MB model plus its working set is a risk.
MIN_MODEL_MEMORY_GB = 2
# A CPU that runs the quantised models on WASM threads well enough for the standard tier.
STRONG_CPU_CORES = 8
PRO_MIN_BUFFER = 1 << 30
PRO_MIN_STORAGE_BINDING = 1 << 29
#: Said first when the page is not cross-origin isolated: the host, not the device, holds
#: WASM to one thread, and the label (which quotes the first reason) says so too.
NOT_ISOLATED = "WASM on 1 thread: this page is not cross-origin isolated (the host sends no COOP/COEP)."


@dataclass(frozen=True)
class Tier:
    """A tier and the plain sentences that justify it.

    ``models_allowed`` is False when the device should not load neural models at all;
    ``gpu_features`` lists the WebGPU features of a usable adapter (None: no usable GPU).
    """

    name: str
    reasons: tuple[str, ...] = ()
    models_allowed: bool = True
    gpu_features: frozenset[str] | None = None
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reasons": list(self.reasons), "modelsAllowed": self.models_allowed,
                "gpu": self.gpu_features is not None, "overridden": self.overridden}


@dataclass(frozen=True)
class Attempt:
    """One (model, backend) try in a plan; ``skip`` says why it will not be tried.

    With a ``companion`` (a second model the run uses, e.g. an image generator), ``spec``
    is the tool's model joined with it (``engine.joined``): its id stays the tool's
    model's, its parts are both models' sessions.
    """

    spec: ModelSpec
    backend: str
    skip: str | None = None
    companion: ModelSpec | None = None

    @property
    def name(self) -> str:
        """How the label names the try, e.g. ``"isnet-quint8+sd-turbo@webgpu"``."""
        models = f"{self.spec.id}+{self.companion.id}" if self.companion else self.spec.id
        return f"{models}@{self.backend}"


# The CLI and tests run on the CPU with onnxruntime; tiers only steer the page.
DEFAULT = Tier("standard")


def software_adapter(adapter: dict[str, Any]) -> str | None:
    """The name of a CPU-emulated WebGPU adapter, or None for real hardware."""
    if adapter.get("isFallbackAdapter"):
        return adapter.get("architecture") or adapter.get("description") or "a fallback adapter"
    for key in ("architecture", "description", "vendor", "device"):
        match = SOFTWARE_ADAPTER.search(str(adapter.get(key) or ""))
        if match:
            return match.group(0)
    return None


def decide(probe: dict[str, Any]) -> Tier:
    """Pick the tier for a device from ``bridge.js``'s probe report.

    Parameters
    ----------
    probe : dict
        ``{"webgpu": {"available", "adapter": {...}, "features": [...], "limits": {...},
        "error"}, "deviceMemory", "hardwareConcurrency", "crossOriginIsolated",
        "wasm": {"simd", "threads"}}``; any part may be missing.

    Returns
    -------
    Tier
        lite: no usable GPU and a modest CPU, or little memory; standard: a real GPU,
        or a strong CPU; pro: a real GPU with shader-f16 and large buffer limits.
    """
    gpu = probe.get("webgpu") or {}
    memory = probe.get("deviceMemory")
    cores = probe.get("hardwareConcurrency") or 1
    threads = bool((probe.get("wasm") or {}).get("threads")) and bool(probe.get("crossOriginIsolated"))
    # Only an explicit False: a report without the field (not a page) says nothing of it.
    reasons = [NOT_ISOLATED] if probe.get("crossOriginIsolated") is False else []

    usable_gpu = False
    if not gpu.get("available"):
        reasons.append(f"No WebGPU adapter ({gpu.get('error') or 'WebGPU is not available in this browser'}).")
    else:
        software = software_adapter(gpu.get("adapter") or {})
        if software:
            reasons.append(f"The WebGPU adapter is a software renderer ({software}), not a GPU.")
        else:
            usable_gpu = True
    features = frozenset(gpu.get("features") or ())

    if memory is not None and memory < MIN_MODEL_MEMORY_GB:
        reasons.append(f"The browser reports {memory:g} GB of memory; neural models could run out of it, "
                       "so the classical algorithms run instead.")
        return Tier("lite", tuple(reasons), models_allowed=False, gpu_features=features if usable_gpu else None)

    if usable_gpu:
        adapter = gpu.get("adapter") or {}
        limits = gpu.get("limits") or {}
        label = " ".join(str(adapter.get(k) or "") for k in ("vendor", "architecture")).strip() or "a GPU"
        big_limits = (limits.get("maxBufferSize", 0) >= PRO_MIN_BUFFER
                      and limits.get("maxStorageBufferBindingSize", 0) >= PRO_MIN_STORAGE_BINDING)
        if "shader-f16" in features and big_limits:
            why = f"Real GPU ({label}) with shader-f16 and large buffers: full models on WebGPU."
            return Tier("pro", (*reasons, why), gpu_features=features)
        missing = "no shader-f16" if "shader-f16" not in features else "small buffer limits"
        return Tier("standard", (*reasons, f"Real GPU ({label}) but {missing}: compact models."), gpu_features=features)

    if cores >= STRONG_CPU_CORES and threads and (memory is None or memory >= 8):
        return Tier("standard", (*reasons, f"Strong CPU ({cores} threads, WASM threads on): compact models on WASM."))
    cpu = f"{cores} CPU thread{'s' if cores != 1 else ''}" + ("" if threads else ", no WASM threads")
    return Tier("lite", (*reasons, f"Modest CPU ({cpu}): small models on WASM, classical where they are too slow."))


def override(recommended: Tier, name: str) -> Tier:
    """The tier the user chose instead of ``recommended``, saying so and the risk."""
    if name not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, not {name!r}")
    if name == recommended.name:
        return recommended
    risk = ""
    if TIERS.index(name) > TIERS.index(recommended.name):
        risk = " Heavier models than this device is rated for may be slow or fail; failures fall back."
    chosen = f"Tier {name} chosen by you; the device probe recommends {recommended.name}.{risk}"
    reasons = (chosen, *recommended.reasons)
    return Tier(name, reasons, models_allowed=True, gpu_features=recommended.gpu_features, overridden=True)


def running_tiers(backends: dict[str, Any]) -> list[str]:
    """The tiers, lightest first, that run a model with these manifest ``backends`` somewhere."""
    return [tier for tier in TIERS if any(tier in rule.get("tiers", ()) for rule in backends.values())]


def plan(candidates: list[ModelSpec], tier: Tier, webgpu_features: frozenset[str] | None) -> list[Attempt]:
    """The ordered (model, backend) attempts for ``tier``, from each model's manifest ``backends``.

    Parameters
    ----------
    candidates : list of ModelSpec
        The tool's models, in the tool's order of preference.
    tier : Tier
    webgpu_features : frozenset of str or None
        Features of the WebGPU adapter the page can use (a software adapter counts when
        the user forced a tier); None when there is no WebGPU at all.

    Returns
    -------
    list of Attempt
        Attempts whose backend is missing or lacks a required feature carry ``skip``.
    """
    if not tier.models_allowed:
        return []
    attempts = []
    for backend in BACKEND_ORDER:
        for spec in candidates:
            rule = spec.backends.get(backend)
            if not rule or tier.name not in rule.get("tiers", ()):
                continue
            skip = None
            if backend == "webgpu":
                if webgpu_features is None:
                    skip = "no WebGPU adapter"
                else:
                    lacking = sorted(set(rule.get("features", ())) - webgpu_features)
                    if lacking:
                        skip = f"the WebGPU adapter lacks {', '.join(lacking)}"
            attempts.append(Attempt(spec, backend, skip))
    return attempts

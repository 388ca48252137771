"""``run_tool``: pick the path for a tool, run it, and label the result truthfully."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

import numpy as np

from .imaging import Decoded
from .models import ModelError, ModelSpec
from .provenance import Provenance, Stopwatch
from .runtime import Runtime, RuntimeFailure
from .tiers import Tier
from .tools import Tool


class ToolError(RuntimeError):
    """The tool produced no result. ``str()`` is a user-facing sentence."""


@dataclass
class Result:
    """An output image (uint8, (H, W), (H, W, 3) or (H, W, 4)) and how it was made."""

    pixels: np.ndarray
    provenance: Provenance


def _size(pixels: np.ndarray) -> tuple[int, int]:
    return (int(pixels.shape[1]), int(pixels.shape[0]))


async def _run_model(tool, attempt, runtime, pixels, params, watch):
    """One model attempt; returns the output image. Raises ModelError or RuntimeFailure."""
    spec = attempt.spec
    with watch.phase("load"):
        session = await runtime.load(spec, attempt.backend)
    with watch.phase("prepare"):
        feeds = tool.prepare(spec, pixels, params)
    with watch.phase("infer"):
        try:
            outputs = await runtime.run(session, feeds, [o.name for o in spec.outputs])
        except RuntimeFailure:
            await runtime.release(session)  # e.g. a lost GPU device: the next run starts afresh
            raise
    with watch.phase("finish"):
        return tool.finish(spec, outputs, pixels, params)


def candidates(tool: Tool, requested: str, models: dict[str, ModelSpec]) -> list[ModelSpec]:
    """The models a run may use: the one requested, or for ``"auto"`` all of the tool's,
    in the tool's order.

    Raises
    ------
    ToolError
        The requested model is not in the manifest for this tool, or none is.
    """
    if requested != "auto":
        spec = models.get(requested)
        if spec is None or spec.tool != tool.id:
            raise ToolError(f"Model {requested} is not available for {tool.id}.")
        return [spec]
    found = [models[m] for m in tool.models if m in models]
    if not found:
        raise ToolError(f"No model for {tool.id} is listed in the model manifest.")
    return found


async def run_tool(
    tool: Tool,
    image: Decoded,
    params: dict,
    *,
    runtime: Runtime | None,
    models: dict[str, ModelSpec],
    tier: Tier,
    watch: Stopwatch | None = None,
    load_packages: Callable[[tuple[str, ...]], Awaitable[None]] | None = None,
) -> Result:
    """Run ``tool`` on ``image``: its model when one can run, else its classical path.

    Parameters
    ----------
    tool : Tool
    image : Decoded
        The decoded input.
    params : dict
        User parameters, validated here (``classical`` and ``model`` included).
    runtime : Runtime or None
        The host's model runtime; ``None`` where no model can run.
    models : dict
        The manifest, ``{id: ModelSpec}``.
    tier : Tier
    watch : Stopwatch, optional
        Shared with the host so decode and encode times land in the same label.
    load_packages : async callable, optional
        Makes ``tool.classical_packages`` importable before the classical path runs
        (the page loads scipy and scikit-image only when first needed).

    Returns
    -------
    Result
        ``provenance.timings_ms`` holds the phases so far; hosts add theirs and ``total``.

    Raises
    ------
    ToolError
        Bad parameters, or neither path could produce a result.
    """
    try:
        params = tool.resolve(params)
    except ValueError as exc:
        raise ToolError(str(exc)) from exc
    watch = watch or Stopwatch()
    pixels = image.pixels
    provenance = Provenance(tool=tool.id, tier=tier.name, tier_overridden=tier.overridden,
                            tier_reasons=list(tier.reasons), input_size=_size(pixels), notes=list(image.notes))

    if params["classical"]:
        reason = "Classical path requested."
    elif not tool.models:
        reason = "This tool has no AI model yet."
    elif runtime is None:
        reason = "No model runtime on this host."
    else:
        attempts = runtime.plan(candidates(tool, params["model"], models), tier)
        chain = provenance.fallback_chain
        for attempt in attempts:
            if attempt.skip:
                chain.append(f"{attempt.name} skipped: {attempt.skip}")
                continue
            try:
                output = await _run_model(tool, attempt, runtime, pixels, params, watch)
            except (ModelError, RuntimeFailure) as exc:
                chain.append(f"{attempt.name} failed: {exc}")
                continue
            if chain:
                provenance.reason = f"Fell back to {attempt.name}: {'; '.join(chain)}."
            chain.append(f"{attempt.name} ran")
            provenance.path, provenance.model, provenance.variant = "model", attempt.spec.id, attempt.spec.variant
            provenance.backend = attempt.backend
            provenance.output_size = _size(output)
            provenance.timings_ms = dict(watch.timings_ms)
            return Result(output, provenance)
        if chain:
            reason = f"No model could run ({'; '.join(chain)})."
        else:
            reason = f"The {tier.name} tier runs no model here: {' '.join(tier.reasons)}"

    try:
        if load_packages:
            with watch.phase("packages"):
                await load_packages(tool.classical_packages)
        with watch.phase("classical"):
            output = tool.classical(pixels, params)
    except ImportError as exc:
        raise ToolError(f"{reason} The classical fallback is not available here either ({exc}).") from exc
    provenance.reason = reason if params["classical"] else f"{reason} Ran the classical fallback instead."
    provenance.backend = "python"
    provenance.output_size = _size(output)
    provenance.timings_ms = dict(watch.timings_ms)
    return Result(output, provenance)

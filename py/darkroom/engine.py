"""``run_tool``: pick the path for a tool, run it, and label the result truthfully."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from numpy.typing import NDArray

from .imaging import PNG, Decoded, Encoding
from .memory import Budget, fits, megapixels, ran_out, too_large
from .models import ModelError, ModelSpec
from .provenance import Provenance, Stopwatch
from .runtime import Runtime, RuntimeFailure
from .tiers import MIN_MODEL_MEMORY_GB, Attempt, Tier, plan, running_tiers
from .tool import ModelPath, Output, Progress, Rate, Tool


class ToolError(RuntimeError):
    """The tool produced no result. ``str()`` is a user-facing sentence."""


@dataclass
class Result:
    """An output image (uint8, (H, W), (H, W, 3) or (H, W, 4)) and how it was made.

    ``data`` holds a tool's JSON-able findings (e.g. face boxes), or ``None``;
    ``encoding`` how the host writes the file.
    """

    pixels: NDArray[Any]
    provenance: Provenance
    data: dict[str, Any] | None = None
    encoding: Encoding = PNG


@dataclass(frozen=True)
class Start:
    """A path about to run, for a host that says how long it may take.

    Attributes
    ----------
    path : str
        ``"classical"``, or the model try as the label names it (``"isnet-quint8@wasm"``):
        the key a host keeps the pace it measures under.
    megapixels : float
        The photo's size.
    rate : tool.Rate or None
        The tool's declared pace for this path (``tool.Pace``); ``None``: not measured.
    """

    path: str
    megapixels: float
    rate: Rate | None


#: ``starting(start)``: told as each path begins.
Starting = Callable[[Start], None]


def path_of(provenance: Provenance) -> str:
    """The ``Start.path`` of the path that made a result."""
    if provenance.path != "model":
        return "classical"
    return "+".join(filter(None, (provenance.model, provenance.companion))) + f"@{provenance.backend}"


def _size(pixels: NDArray[Any]) -> tuple[int, int]:
    return (int(pixels.shape[1]), int(pixels.shape[0]))


def _no_progress(done: int, total: int) -> None:
    pass


async def _run_model(run_model: ModelPath, attempt: Attempt, runtime: Runtime, pixels: NDArray[Any],
                     params: dict[str, Any], watch: Stopwatch, progress: Progress) -> Output:
    """One model attempt. Raises ModelError or RuntimeFailure.

    Timings stay disjoint for the label: ``load``, ``infer`` (summed over every run of
    the network, e.g. per tile) and ``process`` (pre/post-processing and tiling).
    """
    parts = attempt.spec.sessions
    with watch.phase("load"):
        sessions = {name: await runtime.load(part, attempt.backend) for name, part in parts.items()}

    async def infer(feeds: dict[str, NDArray[Any]], part: str | None = None) -> dict[str, NDArray[Any]]:
        session = sessions[part]
        with watch.phase("infer"):
            try:
                return await runtime.run(session, feeds, [o.name for o in parts[part].outputs])
            except RuntimeFailure:
                await runtime.release(session)  # e.g. a lost GPU device: the next run starts afresh
                raise

    tiles = 0

    def counting_progress(done: int, total: int) -> None:
        nonlocal tiles
        tiles = total
        progress(done, total)

    infer_before = watch.timings_ms.get("infer", 0.0)
    started = time.perf_counter()
    output = _as_output(await run_model(attempt.spec, infer, pixels, params, counting_progress))
    elapsed = (time.perf_counter() - started) * 1000 - (watch.timings_ms.get("infer", 0.0) - infer_before)
    watch.add("process", max(elapsed, 0.0))
    if tiles > 1 and not output.parts_noted:
        output.notes = (f"Processed in {tiles} overlapping tiles, blended at the seams.", *output.notes)
    return output


def _as_output(result: NDArray[Any] | Output) -> Output:
    return result if isinstance(result, Output) else Output(result)


def candidates(tool: Tool, params: dict[str, Any], models: dict[str, ModelSpec]) -> list[ModelSpec]:
    """The models a run with ``params`` may use, best first: the one ``params["model"]``
    names, or for ``"auto"`` those of the tool's that are in ``models`` and serve ``params``.

    Returns an empty list when none of the tool's models is in ``models`` (e.g. left
    out of this build).

    Raises
    ------
    ToolError
        The requested model is unknown, belongs to another tool, or cannot serve ``params``.
    """
    requested = params.get("model", "auto")
    if requested != "auto":
        spec = models.get(requested)
        if spec is None or (spec.tool != tool.id and requested not in tool.models):
            raise ToolError(f"Model {requested} is not available for {tool.id}.")
        if not spec.serves(params):
            wanted = ", ".join(f"{name} {value}" for name, value in spec.params.items())
            raise ToolError(f"Model {requested} only serves {wanted}.")
        return [spec]
    return [models[m] for m in tool.models if m in models and models[m].serves(params)]


def companion_model(tool: Tool, params: dict[str, Any],
                    models: dict[str, ModelSpec]) -> tuple[ModelSpec | None, str | None]:
    """The companion model a run with ``params`` asks for, or ``None`` and why there is none
    (``(None, None)`` when the run does not use one).

    Raises
    ------
    ToolError
        The requested model is unknown or belongs to another tool.
    """
    companion = tool.companion
    if companion is None or not companion.wanted(params):
        return None, None
    requested = params[companion.param]
    if requested == "auto":
        installed = [models[m] for m in companion.models if m in models]
        if installed:
            return installed[0], None
        names = companion.signature.part_names
        files = f"{len(names)} ONNX files: {', '.join(names)}" if names else "an ONNX file"
        return None, f"No {companion.label.lower()} ships with Darkroom; you can add your own ({files})."
    spec = models.get(requested)
    if spec is None or spec.tool != tool.id:
        raise ToolError(f"Model {requested} is not available for {tool.id}.")
    return spec, None


def joined(spec: ModelSpec, companion: ModelSpec, name: str) -> ModelSpec:
    """``spec`` and its companion as one model in parts, loaded together for an attempt
    (and still called ``spec.id``: ``tiers.Attempt.companion`` names the companion).

    The parts are ``spec``'s sessions and the companion's parts (a single-file companion
    is the part ``name``); the backends are those both may use, on the tiers both allow,
    with the features either needs.
    """
    own = companion.parts or {name: companion}
    backends: dict[str, dict[str, Any]] = {}
    for backend, rule in spec.backends.items():
        other = companion.backends.get(backend)
        if other is None:
            continue
        if "tiers" not in rule:  # the CPU's entry: no tiers or features to combine
            backends[backend] = {}
            continue
        backends[backend] = {"tiers": [t for t in rule["tiers"] if t in other.get("tiers", ())],
                             "features": sorted({*rule.get("features", ()), *other.get("features", ())})}
    return replace(spec, title=f"{spec.title} + {companion.title}", files=spec.files + companion.files,
                   parts={**spec.sessions, **own}, backends=backends)


def plan_attempts(tool: Tool, params: dict[str, Any], models: dict[str, ModelSpec], runtime: Runtime,
                  tier: Tier) -> tuple[list[Attempt], ModelSpec | None, str | None]:
    """The (model, backend) attempts for a run with ``params`` (resolved), best first:
    with the companion model the run asks for, every try with it before any without.

    Returns
    -------
    attempts : list of tiers.Attempt
    companion : ModelSpec or None
    no_companion : str or None
        Why the run goes without the companion it asks for.

    Raises
    ------
    ToolError
        A requested model is unknown, belongs to another tool, or cannot serve ``params``.
    """
    usable = candidates(tool, params, models)
    companion, no_companion = companion_model(tool, params, models)
    together = []
    if companion is not None and tool.companion is not None:  # a companion comes only from tool.companion
        together = [joined(spec, companion, tool.companion.param) for spec in usable]
    attempts = [replace(attempt, companion=companion) if any(attempt.spec is spec for spec in together) else attempt
                for attempt in (runtime.plan(together + usable, tier) if usable else [])]
    attempts.sort(key=lambda attempt: attempt.companion is None)  # a plan orders by backend first
    return attempts, companion, no_companion


#: Tiers a device without a usable GPU gets when its memory allows models (``tiers.decide``).
GPU_LESS_TIERS = ("lite", "standard")
#: An early inference holds the browser's decode beside Python's (about 7 bytes a pixel
#: while it starts): above this size the run waits for Python instead.
EARLY_MAX_PIXELS = 50_000_000


def early_start(tool: Tool, models: dict[str, ModelSpec]) -> dict[str, Any] | None:
    """What the page may load (and run) for ``tool`` before Python has started: the
    first attempt a run with the tool's defaults makes on every tier a device without a
    usable GPU gets, when those tiers agree on it.

    The page uses it only on such a device, for a run whose plan-changing parameters keep
    these values; Python still plans, checks and labels the run, so a wrong guess costs
    time, never a different result.

    Returns
    -------
    dict or None
        ``{"model", "backend", "tiers", "params", "minDeviceMemoryGB", "maxPixels"}``:
        ``params`` are the values of every parameter that can change the plan; ``None``
        when the tool has no model to start early.
    """
    defaults = tool.resolve({})
    if tool.run_model is None or (tool.companion and tool.companion.wanted(defaults)):
        return None
    firsts: set[tuple[str, str] | None] = set()
    for name in GPU_LESS_TIERS:
        attempts = plan(candidates(tool, defaults, models), Tier(name), None)
        firsts.add(next(((a.spec.id, a.backend) for a in attempts if not a.skip), None))
    first = firsts.pop() if len(firsts) == 1 else None
    if first is None:
        return None
    model, backend = first
    deciding = {"model", "classical"} | {key for m in tool.models if m in models for key in models[m].params}
    if tool.companion:
        deciding.add(tool.companion.used_when[0])
    return {"model": model, "backend": backend, "tiers": list(GPU_LESS_TIERS),
            "params": {key: defaults[key] for key in sorted(deciding) if key in defaults},
            "minDeviceMemoryGB": MIN_MODEL_MEMORY_GB, "maxPixels": EARLY_MAX_PIXELS}


def _companion_untried(companion: ModelSpec, tier: Tier) -> str:
    """Why no attempt with the companion was planned: its tiers."""
    tiers = " or ".join(running_tiers(companion.backends))
    return (f"{companion.id} runs on the {tiers} tier only, and this run's tier is {tier.name}; "
            "you may choose the tier yourself.")


async def run_tool(
    tool: Tool,
    image: Decoded,
    params: dict[str, Any],
    *,
    runtime: Runtime | None,
    models: dict[str, ModelSpec],
    tier: Tier,
    watch: Stopwatch | None = None,
    load_packages: Callable[[tuple[str, ...]], Awaitable[None]] | None = None,
    progress: Progress | None = None,
    memory: Budget | None = None,
    starting: Starting | None = None,
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
    models : dict of str to ModelSpec
        The manifest, ``{id: ModelSpec}``.
    tier : Tier
    watch : Stopwatch, optional
        Shared with the host so decode and encode times land in the same label.
    load_packages : async callable, optional
        Makes ``tool.classical_packages`` importable before the classical path runs
        (the page loads scipy and scikit-image only when first needed).
    progress : callable(done, total), optional
        Told as a model path finishes units of work (tiles).
    memory : memory.Budget, optional
        What the host can give this run: a path whose ``tool.footprint`` does not fit
        is not started (the model path falls back; the classical path refuses), and a
        path that runs out of memory all the same fails in words.
    starting : callable(Start), optional
        Told as each path begins, with the tool's declared pace for it.

    Returns
    -------
    Result
        ``provenance.timings_ms`` holds the phases so far; hosts add theirs and ``total``.

    Raises
    ------
    ToolError
        Bad parameters, or neither path could produce a result.
    """
    pixels = image.pixels
    try:
        params = tool.resolve(params)
        if tool.check:
            tool.check(pixels, params)
    except ValueError as exc:
        raise ToolError(str(exc)) from exc
    watch = watch or Stopwatch()
    size = int(pixels.shape[0] * pixels.shape[1])
    pace = tool.pace
    starting = starting or (lambda start: None)
    provenance = Provenance(tool=tool.id, tier=tier.name, tier_overridden=tier.overridden,
                            tier_reasons=list(tier.reasons), input_size=_size(pixels), notes=list(image.notes))

    if params.get("classical"):
        reason = "Classical path requested."
    elif tool.run_model is None:
        reason = None  # a tool with no model path falls back from nothing
    elif not tool.models and params.get("model", "auto") == "auto":
        reason = f"No {tool.id} model ships with Darkroom; you can add your own ONNX model."
    elif runtime is None:
        reason = "No model runtime on this host."
    elif not candidates(tool, params, models):
        reason = f"No {tool.id} model for these settings is installed here."
    elif memory is not None and not fits(tool.footprint.model if tool.footprint else None, size, memory):
        reason = (f"The model path needs more memory than there is {memory.where} "
                  f"for a {megapixels(size)} photo.")
    else:
        attempts, companion, no_companion = plan_attempts(tool, params, models, runtime, tier)
        # Attempts with the companion that were skipped or failed are in the fallback chain;
        # when the tier planned none, the label says so instead.
        unplanned = companion if companion is not None and not any(a.companion for a in attempts) else None
        if load_packages and tool.model_packages:
            with watch.phase("packages"):
                await load_packages(tool.model_packages)
        chain = provenance.fallback_chain
        for attempt in attempts:
            if attempt.skip:
                chain.append(f"{attempt.name} skipped: {attempt.skip}")
                continue
            measured = pace.wasm.get(attempt.spec.id) if pace and attempt.backend == "wasm" else None
            starting(Start(attempt.name, size / 1e6, measured))
            try:
                output = await _run_model(tool.run_model, attempt, runtime, pixels, params, watch,
                                          progress or _no_progress)
            except (ModelError, RuntimeFailure) as exc:
                chain.append(f"{attempt.name} failed: {exc}")
                continue
            except MemoryError:
                chain.append(f"{attempt.name} ran out of memory")
                continue
            reasons = [f"Fell back to {attempt.name}: {'; '.join(chain)}."] if chain else []
            if unplanned is not None:
                reasons.append(_companion_untried(unplanned, tier))
            elif no_companion:
                reasons.append(no_companion)
            provenance.reason = " ".join(reasons) or None
            chain.append(f"{attempt.name} ran")
            provenance.path, provenance.model, provenance.variant = "model", attempt.spec.id, attempt.spec.variant
            provenance.companion = attempt.companion.id if attempt.companion else None
            provenance.backend = attempt.backend
            provenance.output_size = _size(output.pixels)
            provenance.notes += output.notes
            provenance.timings_ms = dict(watch.timings_ms)
            return Result(output.pixels, provenance, output.data, output.encoding)
        if chain:
            reason = f"No model could run ({'; '.join(chain)})."
        else:
            reason = (f"The {tier.name} tier runs no model here: {' '.join(tier.reasons)}" if not tier.models_allowed
                      else f"No {tool.id} model for these settings runs on the {tier.name} tier; choose one under "
                           "Model to run it anyway.")

    if tool.footprint and memory and not fits(tool.footprint.classical, size, memory):
        refusal = too_large(tool.title, tool.id, size, tool.footprint.classical, memory)
        raise ToolError(f"{reason} {refusal}" if reason and not params.get("classical") else refusal)
    try:
        if load_packages and tool.classical_packages:
            with watch.phase("packages"):
                await load_packages(tool.classical_packages)
        starting(Start("classical", size / 1e6, pace.classical if pace else None))
        with watch.phase("classical"):
            made = tool.classical(pixels, params)
            output = _as_output(await made if inspect.isawaitable(made) else made)
    except ImportError as exc:
        raise ToolError(f"{reason} The classical fallback is not available here either ({exc}).") from exc
    except MemoryError:
        # from None: the traceback's frames would keep the arrays that did not fit alive.
        raise ToolError(ran_out(tool.title, tool.id, size, memory)) from None
    if reason:
        provenance.reason = reason if params.get("classical") else f"{reason} Ran the classical fallback instead."
    provenance.backend, provenance.library = "python", tool.library
    provenance.method = output.method
    provenance.output_size = _size(output.pixels)
    provenance.notes += output.notes
    provenance.timings_ms = dict(watch.timings_ms)
    return Result(output.pixels, provenance, output.data, output.encoding)

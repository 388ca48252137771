"""What a tool is: its parameters, its paths (classical and model), what it returns.

The tools themselves are the sub-packages of ``darkroom.tools``; they, the engine and
the hosts import this module, never each other.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from .byom import USER_PREFIX, Parts, Signature
from .imaging import PNG, Encoding
from .models import ModelSpec
from .tensors import working_size
from .tiers import running_tiers

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
#: The page lists tools under these headings, in this order.
GROUPS = ("Cut out & background", "Retouch", "Enhance", "Analyse", "Export")


def rgb_of(colour: str) -> tuple[int, int, int]:
    """The 0..255 channels of a ``"#rrggbb"`` colour (a "color" parameter's value)."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


#: What a parameter holds; the CLI and the page pick their control by it.
ParamKind = Literal["choice", "color", "bool", "number", "mask"]


class ParamError(ValueError):
    """A parameter value the tool does not accept. ``str()`` is user-facing."""


@dataclass(frozen=True)
class Param:
    """A tool parameter; the CLI and the page build their controls from it.

    ``kind`` is ``"choice"`` (one of ``choices``), ``"color"`` (``#rrggbb``), ``"bool"``,
    ``"number"`` (a float in ``[minimum, maximum]``, shown in steps of ``step``) or
    ``"mask"`` (bool (H, W) the size of the photo, painted in the page or read from an
    image file by the CLI; ``None`` until given).
    """

    name: str
    label: str
    kind: ParamKind
    default: Any
    choices: tuple[str, ...] = ()
    help: str = ""
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 0.05
    #: A choice may also be any value with this prefix (``"user:"``: the user's own models).
    open_prefix: str = ""
    #: Shown only while another parameter has one of these values, e.g. ``("output", ("color",))``.
    shown_when: tuple[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(ParamKind):
            raise ValueError(f"{self.name}: kind must be one of {get_args(ParamKind)}, not {self.kind!r}")

    def parse(self, value: Any) -> Any:
        """Validate ``value`` and return it in canonical form; raises ``ParamError``."""
        if self.kind == "choice" and (value in self.choices or (
                self.open_prefix and isinstance(value, str) and value.startswith(self.open_prefix))):
            return value
        if self.kind == "color" and isinstance(value, str) and _COLOR.match(value):
            return value.lower()
        if self.kind == "bool" and isinstance(value, bool):
            return value
        if self.kind == "mask" and (value is None or (isinstance(value, np.ndarray) and value.ndim == 2)):
            return None if value is None else value.astype(bool, copy=False)
        if self.kind == "number" and not isinstance(value, bool):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
            if number is not None and self.minimum <= number <= self.maximum:
                return number
        choices = ", ".join(self.choices) + (f" or {self.open_prefix}<your model>" if self.open_prefix else "")
        expected = {"choice": f"one of {choices}", "color": "a colour like #ffffff",
                    "bool": "true or false", "number": f"a number from {self.minimum:g} to {self.maximum:g}",
                    "mask": "a painted mask"}
        shown = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
        raise ParamError(f"{self.name} must be {expected[self.kind]}, not {shown}")

    def to_dict(self) -> dict[str, Any]:
        described = {"name": self.name, "label": self.label, "kind": self.kind, "default": self.default,
                     "choices": list(self.choices), "help": self.help}
        if self.kind == "number":
            described.update(minimum=self.minimum, maximum=self.maximum, step=self.step)
        if self.open_prefix:
            described["open_prefix"] = self.open_prefix
        if self.shown_when:
            described["shown_when"] = {"param": self.shown_when[0], "values": list(self.shown_when[1])}
        return described


@dataclass
class Output:
    """What a path produced when an image alone does not say it all.

    Attributes
    ----------
    pixels : ndarray
        uint8 (H, W), (H, W, 3) or (H, W, 4).
    data : dict, optional
        JSON-able findings (e.g. face boxes), returned next to the image.
    method : str, optional
        The algorithm that ran, in words, when a path chooses among several.
    notes : tuple of str, optional
        Sentences for the label about how the image met the path (e.g. the size the
        model saw); tiling is noted by the engine.
    encoding : imaging.Encoding, optional
        How the host writes the file; a lossless PNG without metadata unless a tool
        (convert) says otherwise.
    parts_noted : bool, optional
        The notes already say how the work was split (e.g. crops around painted areas),
        so the engine adds no note about tiles for the parts it was told of.
    """

    pixels: NDArray[Any]
    data: dict[str, Any] | None = None
    method: str | None = None
    notes: tuple[str, ...] = ()
    encoding: Encoding = PNG
    parts_noted: bool = False


#: ``progress(done, total)``: reports finished units of work (e.g. tiles).
Progress = Callable[[int, int], None]
#: ``await infer(feeds)``: one run of the loaded model, ``{input: array} -> {output: array}``;
#: a model in parts runs one of them: ``await infer(feeds, part="text")``.
Infer = Callable[..., Awaitable[dict[str, Any]]]
PathResult = NDArray[Any] | Output
#: ``await run_model(spec, infer, pixels, params, progress)``: a tool's model path.
ModelPath = Callable[[ModelSpec, Infer, NDArray[Any], dict[str, Any], Progress], Awaitable[PathResult]]


def model_scale_notes(spec: ModelSpec, pixels: NDArray[Any], what: str) -> tuple[str, ...]:
    """A label note for a single-pass model whose fixed input differs from the photo's
    size, e.g. ``("The mask was computed at 1024 × 1024 and scaled to 4000 × 3000.",)``;
    empty when the sizes match.

    Parameters
    ----------
    spec : ModelSpec
        An NCHW model with a fixed (H, W), or one that takes the photo's pixels and
        resizes them in its graph (``tensors.working_size``).
    pixels : ndarray
        The photo, (H, W, C).
    what : str
        What the model produced, as the sentence's subject.
    """
    height, width = working_size(spec)
    photo_height, photo_width = pixels.shape[:2]
    if (height, width) == (photo_height, photo_width):
        return ()
    return (f"{what} was computed at {width} × {height} and scaled to {photo_width} × {photo_height}.",)


@dataclass(frozen=True)
class Footprint:
    """The most a tool's paths allocate on the host's Python heap, in bytes a pixel of
    the photo, decode and encode included: the peak ``bench/tool_memory.py`` measures
    at 16 MP over its pixels (resident memory for the classical path; for the model path
    what Python allocates, since in the page its session lives in the model worker).
    Tools that work on a shrunk copy or in tiles need less a pixel on larger photos, so
    the figure errs on the safe side there. The host refuses a photo that cannot fit
    (``darkroom.memory``).

    Attributes
    ----------
    classical : float
    model : float, optional
        ``None``: no figure of its own (no model path, or one not measured); the
        classical figure stands for every path.
    """

    classical: float
    model: float | None = None

    def lightest(self, classical_only: bool) -> float:
        """Bytes a pixel of the lightest path a run may take."""
        if classical_only or self.model is None:
            return self.classical
        return min(self.classical, self.model)


@dataclass(frozen=True)
class Rate:
    """How long a path takes on a photo: ``fixed`` seconds (a model that sees the photo
    at its own fixed size) plus ``per_megapixel`` seconds for each megapixel."""

    per_megapixel: float
    fixed: float = 0.0

    def seconds(self, megapixels: float) -> float:
        return self.fixed + self.per_megapixel * megapixels


@dataclass(frozen=True)
class Pace:
    """How long a tool's paths take with its default parameters, decode and encode
    included: what ``bench/suite.py`` measures in the page (WASM, two cores) at 1 and
    12 MP. The page turns it into an estimate before a run, scaled by how fast this
    computer turned out to be once it has run the tool.

    Attributes
    ----------
    classical : Rate
    wasm : dict of str to Rate, optional
        By model id, for the models measured on WASM; others have no estimate.
    """

    classical: Rate
    wasm: dict[str, Rate] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Companion:
    """A second model a tool runs beside its own when a parameter asks for it, e.g. New
    background's image generator beside its cut-out.

    The engine loads both for one attempt (as one model in parts, on a backend both may
    use); when the companion cannot run, the tool's own model runs alone and the label
    says why. Its parts' names are the ``part`` the tool passes to ``infer``.

    Attributes
    ----------
    param : str
        The parameter that names it: ``"auto"`` (the first of ``models`` installed) or a
        user model id.
    label, help : str
        For the parameter's control.
    signature : byom.Signature or byom.Parts
        What the tool feeds it; a user's model must fit. ``Parts.backends`` says where
        it may run.
    used_when : (str, tuple of str)
        The parameter and values for which a run uses it (the control is shown only then).
    models : tuple of str
        Manifest ids, best first.
    """

    param: str
    label: str
    help: str
    signature: Signature | Parts
    used_when: tuple[str, tuple[str, ...]]
    models: tuple[str, ...] = ()

    def wanted(self, params: dict[str, Any]) -> bool:
        """Whether a run with ``params`` (resolved) uses this companion."""
        name, values = self.used_when
        return params.get(name) in values


def _user_models(signature: Signature | Parts) -> dict[str, Any]:
    """What the page's picker for a user's model says it needs, and the tiers that run it."""
    return {"needs": signature.describe(), "parts": list(signature.part_names),
            "tiers": running_tiers(signature.backends)}


def single_pass(prepare: Callable[..., dict[str, NDArray[Any]]],
                finish: Callable[..., PathResult]) -> ModelPath:
    """A model path that runs the network once: ``prepare`` -> infer -> ``finish``.

    ``prepare(spec, pixels, params)`` returns the feeds; ``finish(spec, outputs, pixels,
    params)`` the result.
    """

    async def run_model(spec: ModelSpec, infer: Infer, pixels: NDArray[Any], params: dict[str, Any],
                        progress: Progress) -> PathResult:
        outputs = await infer(prepare(spec, pixels, params))
        progress(1, 1)
        return finish(spec, outputs, pixels, params)

    return run_model


@dataclass(frozen=True)
class Tool:
    """A tool: its spec plus the functions of each path.

    Images passed in are the decoded input, uint8 (H, W, 3|4) sRGB; each path returns
    the final output image, uint8 (H, W), (H, W, 3) or (H, W, 4), or an ``Output``.

    Attributes
    ----------
    models : tuple of str
        Manifest ids this tool can run, best first; a model's manifest ``params`` say
        which parameter values it serves, its ``backends`` which tiers run it. "auto"
        picks among these.
    chosen_only : tuple of str
        Manifest ids that run only when the user picks them: models that lose to the
        classical path on some photos, which "auto" must never run.
    classical : callable(pixels, params) -> ndarray or Output (or an awaitable of one)
        The scikit-image path; honest work, never presented as AI.
    run_model : async callable(spec, infer, pixels, params, progress) -> ndarray or Output
        The model path: feeds ``infer`` once (``single_pass``) or per tile (``tiling``).
    classical_packages : tuple of str
        Pyodide packages the classical path imports; the page loads them on first use.
    model_packages : tuple of str
        Pyodide packages the model path imports beyond numpy and Pillow.
    check : callable(pixels, params), optional
        Raises ``ParamError`` when this input cannot be processed with these params
        (e.g. an upscale too big to hold), before either path starts.
    signature : byom.Signature or byom.Parts, optional
        What ``run_model`` feeds and reads (``Parts``: a model in several files): a
        user's own model that fits it can run in place of the tool's models. ``None``:
        the tool takes no user models.
    group : str
        One of ``GROUPS``: where the page lists the tool.
    library : str
        What the classical path is written with, for the label.
    rerun_on_change : bool
        The page runs the tool again when a control changes while its result is shown:
        for a quick tool whose point is comparing settings (convert's size by quality).
    companion : Companion, optional
        A second model some runs use beside the tool's own.
    footprint : Footprint, optional
        Its paths' peak memory a pixel; ``None``: only the hosts' general size limit
        holds.
    pace : Pace, optional
        Its paths' measured seconds a megapixel; ``None``: no estimate before a run.
    """

    id: str
    title: str
    description: str
    params: tuple[Param, ...]
    models: tuple[str, ...]
    classical: Callable[[NDArray[Any], dict[str, Any]], PathResult | Awaitable[PathResult]]
    group: str
    run_model: ModelPath | None = None
    classical_packages: tuple[str, ...] = ("scipy", "scikit-image")
    model_packages: tuple[str, ...] = ()
    check: Callable[[NDArray[Any], dict[str, Any]], None] | None = None
    signature: Signature | Parts | None = None
    library: str = "scikit-image"
    rerun_on_change: bool = False
    companion: Companion | None = None
    chosen_only: tuple[str, ...] = ()
    footprint: Footprint | None = None
    pace: Pace | None = None
    engine_params: tuple[Param, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"{self.id}: group must be one of {GROUPS}, not {self.group!r}")
        extra = []
        if self.run_model:
            extra.append(Param("classical", "Classical only", "bool", False,
                               help=f"Skip the AI model and run the {self.library} algorithm."))
        if self.models or self.signature:
            extra.append(Param("model", "Model", "choice", "auto", ("auto",) + self.models + self.chosen_only,
                               help="Which neural network to run; auto picks the best for this device.",
                               open_prefix=USER_PREFIX if self.signature else ""))
        if self.companion:
            extra.append(Param(self.companion.param, self.companion.label, "choice", "auto",
                               ("auto",) + self.companion.models, help=self.companion.help,
                               open_prefix=USER_PREFIX, shown_when=self.companion.used_when))
        object.__setattr__(self, "engine_params", tuple(extra))

    def all_params(self) -> tuple[Param, ...]:
        return self.params + self.engine_params

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in and every value validated; raises ``ParamError``."""
        known = {p.name: p for p in self.all_params()}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ParamError(f"{self.id} has no parameter {', '.join(unknown)}")
        return {name: p.parse(given[name]) if name in given else p.default for name, p in known.items()}

    def user_model_params(self) -> tuple[Param, ...]:
        """The parameters that may name a user's model: ``model``, a companion's."""
        return tuple(p for p in self.all_params() if p.open_prefix)

    def user_signature(self, param: str = "model") -> Signature | Parts | None:
        """What a user's model chosen by ``param`` must fit: the tool's own signature for
        ``"model"``, the companion's for its parameter; ``None``: no user model there."""
        if param == "model":
            return self.signature
        return self.companion.signature if self.companion and self.companion.param == param else None

    def to_dict(self) -> dict[str, Any]:
        slots = {p.name: _user_models(signature) for p in self.user_model_params()
                 if (signature := self.user_signature(p.name)) is not None}
        return {"id": self.id, "title": self.title, "description": self.description,
                "group": self.group, "rerun_on_change": self.rerun_on_change,
                "params": [p.to_dict() for p in self.all_params()], "models": list(self.models),
                "chosen_only": list(self.chosen_only),
                "user_models": slots}

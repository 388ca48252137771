"""Bring your own model: check a user's ONNX file against what a tool feeds and reads,
and describe it as a ``ModelSpec`` the engine runs like any manifest model.

A tool declares a :class:`Signature`: its tensors' dtypes and shapes, where a dimension
is a number (must match), a letter (any size, the same wherever the letter appears, e.g.
``"H"``) or ``None`` (any size). The host reads the file's inputs and outputs (onnxruntime
in the CLI, onnxruntime-web in the page) as :class:`~darkroom.models.TensorSpec` with
``0`` for a dimension the file leaves open; :func:`check` matches them and says exactly
what differs. The label names the model ``user:<name>@<sha256 prefix>``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from .models import ModelError, ModelFile, ModelSpec, TensorSpec

#: Where a user's model may run: any tier, on WASM, and on WebGPU where a tier uses it.
USER_BACKENDS = {"wasm": {"tiers": ["lite", "standard", "pro"]}, "webgpu": {"tiers": ["standard", "pro"]}, "cpu": {}}
USER_PREFIX = "user:"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TensorRule:
    """One tensor a tool needs: its role (for messages), dtype and shape rule.

    ``dtype`` may be a tuple of dtypes the tool can feed or read (exports of one model
    differ, e.g. a diffusion UNet's timestep is int64 in some and float32 in others); the
    tool then converts to the dtype the file declares.
    """

    role: str
    dtype: str | tuple[str, ...]
    shape: tuple[int | str | None, ...]

    @property
    def dtypes(self) -> tuple[str, ...]:
        return (self.dtype,) if isinstance(self.dtype, str) else self.dtype

    def describe(self) -> str:
        dims = ", ".join("any" if d is None else str(d) for d in self.shape)
        return f"{self.role}: {' or '.join(self.dtypes)} [{dims}]"


@dataclass(frozen=True)
class Signature:
    """What a tool's model path feeds and reads.

    Attributes
    ----------
    inputs, outputs : tuple of TensorRule
        In the order the tool uses them.
    sizes : dict of str to int
        The size a letter takes when the file leaves that dimension open (e.g.
        ``{"H": 1024, "W": 1024}``: the input size the tool then feeds).
    backends : dict
        Where a user's model of this signature may run (``ModelSpec.backends``).
    normalisation : dict
        How pixels become the input, as in the manifest (``scale``, ``mean``, ``std``,
        ``layout``): the convention of the published models this signature follows.
    """

    inputs: tuple[TensorRule, ...]
    outputs: tuple[TensorRule, ...]
    normalisation: dict[str, Any]
    sizes: dict[str, int] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=lambda: USER_BACKENDS)

    @property
    def part_names(self) -> tuple[str, ...]:
        """None: a model in one file."""
        return ()

    def describe(self) -> str:
        return ("inputs " + "; ".join(r.describe() for r in self.inputs)
                + " — outputs " + "; ".join(r.describe() for r in self.outputs))


@dataclass(frozen=True)
class Parts:
    """A model in several ONNX files (e.g. CLIP's image and text encoders), one
    :class:`Signature` a part, by part name. The user picks the files in any order; each
    is matched to the part it fits.

    ``backends`` says where such a model may run (``ModelSpec.backends``): by default
    anywhere a user's model may; a heavy generative model narrows it (e.g. the pro tier).
    """

    parts: dict[str, Signature]
    backends: dict[str, Any] = field(default_factory=lambda: USER_BACKENDS)

    @property
    def part_names(self) -> tuple[str, ...]:
        """The files' parts, in the order the tool names them."""
        return tuple(self.parts)

    def describe(self) -> str:
        return " | ".join(f"{name} part: {signature.describe()}" for name, signature in self.parts.items())


@dataclass(frozen=True)
class UserFile:
    """One file of a user's model as a host read it: its name (for the label), sha256,
    size and the tensors it declares (``0`` for an open dimension)."""

    filename: str
    sha256: str
    size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def _describe_found(tensors: tuple[TensorSpec, ...]) -> str:
    return "; ".join(f"{t.name}: {t.dtype} [{', '.join(str(d) if d else '?' for d in t.shape)}]" for t in tensors)


def check(signature: Signature, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> dict[str, int]:
    """Match a file's tensors to a tool's signature.

    Parameters
    ----------
    signature : Signature
    inputs, outputs : tuple of TensorSpec
        What the file declares, in its order; a dimension of ``0`` is left open.

    Returns
    -------
    dict
        The size each letter takes (open dimensions get ``signature.sizes``).

    Raises
    ------
    ModelError
        One sentence: what the tool needs and what the file has, and the first difference.
    """
    bound: dict[str, int] = {}
    problems: list[str] = []
    # Extra outputs are allowed and ignored (published models often add side outputs).
    if len(inputs) != len(signature.inputs):
        problems.append(f"it has {len(inputs)} input(s), the tool needs {len(signature.inputs)}")
    elif len(outputs) < len(signature.outputs):
        problems.append(f"it has {len(outputs)} output(s), the tool needs {len(signature.outputs)}")
    else:
        for rule, tensor in [*zip(signature.inputs, inputs, strict=True),
                             *zip(signature.outputs, outputs, strict=False)]:
            problems += _check_tensor(rule, tensor, bound)
    if problems:
        raise ModelError(f"This model does not fit: {problems[0]}. The tool needs {signature.describe()}; "
                         f"the file has inputs {_describe_found(inputs)} — outputs {_describe_found(outputs)}.")
    return {letter: bound.get(letter) or signature.sizes.get(letter, 0) for letter in {*bound, *signature.sizes}}


def _check_tensor(rule: TensorRule, tensor: TensorSpec, bound: dict[str, int]) -> list[str]:
    where = f"{rule.role} {tensor.name!r}"
    if tensor.dtype not in rule.dtypes:
        return [f"{where} is {tensor.dtype}, not {' or '.join(rule.dtypes)}"]
    if len(tensor.shape) != len(rule.shape):
        return [f"{where} has {len(tensor.shape)} dimensions, not {len(rule.shape)}"]
    for axis, (want, have) in enumerate(zip(rule.shape, tensor.shape, strict=True)):
        if isinstance(want, int) and have not in (want, 0):
            return [f"{where} has {have} in dimension {axis}, not {want}"]
        if isinstance(want, str) and have:
            if bound.get(want, have) != have:
                return [f"{where} has {have} in dimension {axis}, where {want} is {bound[want]}"]
            bound[want] = have
    return []


def _concrete(rule: TensorRule, tensor: TensorSpec, sizes: dict[str, int]) -> TensorSpec:
    """The file's tensor with open dimensions filled as the tool will feed them."""
    shape = tuple(have or (want if isinstance(want, int) else sizes.get(want, 0) if isinstance(want, str) else 0)
                  for want, have in zip(rule.shape, tensor.shape, strict=True))
    return TensorSpec(tensor.name, shape, tensor.dtype)


def user_model_id(filename: str, sha256: str) -> str:
    """``user:<name>@<first 12 hex digits of sha256>``, the name cleaned of odd characters."""
    stem = filename.rsplit("/", 1)[-1].removesuffix(".onnx")
    return f"{USER_PREFIX}{_SAFE_NAME.sub('_', stem) or 'model'}@{sha256[:12]}"


def user_spec(tool_id: str, signature: Signature | Parts, files: list[UserFile]) -> ModelSpec:
    """A ``ModelSpec`` for a user's model: one file for a :class:`Signature`, one a
    part for :class:`Parts` (matched to the parts they fit, in any order).

    Parameters
    ----------
    tool_id : str
    signature : Signature or Parts
    files : list of UserFile
        As the host read them (sha256 and size of the bytes it will store).

    Raises
    ------
    ModelError
        The files do not fit: a wrong count, or a file that fits no part (the message
        says what each part needs and what differs).
    """
    if isinstance(signature, Signature):
        if len(files) != 1:
            raise ModelError(f"This tool takes one model file, not {len(files)}.")
        return _file_spec(tool_id, signature, files[0], user_model_id(files[0].filename, files[0].sha256),
                          signature.backends)
    names = list(signature.parts)
    if len(files) != len(names):
        raise ModelError(f"This model comes in {len(names)} files ({', '.join(names)}); you picked {len(files)}.")
    fits = {(name, i): _fit(signature.parts[name], f) for name in names for i, f in enumerate(files)}
    for order in itertools.permutations(range(len(files))):
        if all(fits[name, i] is None for name, i in zip(names, order, strict=True)):
            break
    else:
        for name in names:  # the first part no file fits, with each file's difference
            if all(fits[name, i] is not None for i in range(len(files))):
                why = "; ".join(f"{f.filename}: {fits[name, i]}" for i, f in enumerate(files))
                raise ModelError(f"No file fits the {name} part ({signature.parts[name].describe()}): {why}.")
        raise ModelError("The files do not fit the parts one to one: " + signature.describe())
    chosen = [files[i] for i in order]
    combined = hashlib.sha256("".join(f.sha256 for f in chosen).encode()).hexdigest()
    model_id = user_model_id(chosen[0].filename, combined)
    # Where the parts run is the whole model's rule, not each part's.
    parts: dict[str | None, ModelSpec] = {
        name: _file_spec(tool_id, signature.parts[name], f, f"{model_id}/{name}", signature.backends)
        for name, f in zip(names, chosen, strict=True)}
    return ModelSpec(
        id=model_id, tool=tool_id, title=f"Your model {' + '.join(f.filename for f in chosen)}", variant="user",
        files=tuple(spec.files[0] for spec in parts.values()), inputs=(), outputs=(),
        normalisation=dict(signature.parts[names[0]].normalisation), license="supplied by the user",
        source={"user": [f.filename for f in chosen]}, backends=signature.backends, parts=parts,
    )


def _fit(signature: Signature, file: UserFile) -> str | None:
    """``None`` when ``file`` fits ``signature``, else what differs."""
    try:
        check(signature, file.inputs, file.outputs)
    except ModelError as exc:
        return str(exc).split(". The tool needs")[0].removeprefix("This model does not fit: ")
    return None


def _file_spec(tool_id: str, signature: Signature, file: UserFile, model_id: str,
               backends: dict[str, Any]) -> ModelSpec:
    sizes = check(signature, file.inputs, file.outputs)
    return ModelSpec(
        id=model_id,
        tool=tool_id,
        title=f"Your model {file.filename}",
        variant="user",
        files=(ModelFile(f"user-{file.sha256}.onnx", file.size, file.sha256),),
        inputs=tuple(_concrete(r, t, sizes) for r, t in zip(signature.inputs, file.inputs, strict=True)),
        # The file's extra outputs, if any, are not the tool's.
        outputs=tuple(_concrete(r, t, sizes) for r, t in zip(signature.outputs, file.outputs, strict=False)),
        normalisation=dict(signature.normalisation),
        license="supplied by the user",
        source={"user": file.filename},
        backends=backends,
    )

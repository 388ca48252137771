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

import re
from dataclasses import dataclass, field

from .models import ModelError, ModelFile, ModelSpec, TensorSpec

#: Where a user's model may run: any tier, on WASM, and on WebGPU where a tier uses it.
USER_BACKENDS = {"wasm": {"tiers": ["lite", "standard", "pro"]}, "webgpu": {"tiers": ["standard", "pro"]}}
USER_PREFIX = "user:"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TensorRule:
    """One tensor a tool needs: its role (for messages), dtype and shape rule."""

    role: str
    dtype: str
    shape: tuple[int | str | None, ...]

    def describe(self) -> str:
        dims = ", ".join("any" if d is None else str(d) for d in self.shape)
        return f"{self.role}: {self.dtype} [{dims}]"


@dataclass(frozen=True)
class Signature:
    """What a tool's model path feeds and reads.

    Attributes
    ----------
    inputs, outputs : tuple of TensorRule
        In the order the tool uses them.
    sizes : dict
        The size a letter takes when the file leaves that dimension open (e.g.
        ``{"H": 1024, "W": 1024}``: the input size the tool then feeds).
    normalisation : dict
        How pixels become the input, as in the manifest (``scale``, ``mean``, ``std``,
        ``layout``): the convention of the published models this signature follows.
    """

    inputs: tuple[TensorRule, ...]
    outputs: tuple[TensorRule, ...]
    normalisation: dict
    sizes: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        return ("inputs " + "; ".join(r.describe() for r in self.inputs)
                + " — outputs " + "; ".join(r.describe() for r in self.outputs))


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
        for rule, tensor in [*zip(signature.inputs, inputs), *zip(signature.outputs, outputs)]:
            problems += _check_tensor(rule, tensor, bound)
    if problems:
        raise ModelError(f"This model does not fit: {problems[0]}. The tool needs {signature.describe()}; "
                         f"the file has inputs {_describe_found(inputs)} — outputs {_describe_found(outputs)}.")
    return {letter: bound.get(letter) or signature.sizes.get(letter, 0) for letter in {*bound, *signature.sizes}}


def _check_tensor(rule: TensorRule, tensor: TensorSpec, bound: dict[str, int]) -> list[str]:
    where = f"{rule.role} {tensor.name!r}"
    if tensor.dtype != rule.dtype:
        return [f"{where} is {tensor.dtype}, not {rule.dtype}"]
    if len(tensor.shape) != len(rule.shape):
        return [f"{where} has {len(tensor.shape)} dimensions, not {len(rule.shape)}"]
    for axis, (want, have) in enumerate(zip(rule.shape, tensor.shape)):
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
                  for want, have in zip(rule.shape, tensor.shape))
    return TensorSpec(tensor.name, shape, tensor.dtype)


def user_model_id(filename: str, sha256: str) -> str:
    """``user:<name>@<first 12 hex digits of sha256>``, the name cleaned of odd characters."""
    stem = filename.rsplit("/", 1)[-1].removesuffix(".onnx")
    return f"{USER_PREFIX}{_SAFE_NAME.sub('_', stem) or 'model'}@{sha256[:12]}"


def user_spec(tool_id: str, signature: Signature, filename: str, sha256: str, size: int,
              inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> ModelSpec:
    """A ``ModelSpec`` for a user's file that :func:`check` accepted.

    Parameters
    ----------
    tool_id : str
    signature : Signature
    filename : str
        As the user named it (only for the label).
    sha256, size
        Of the file's bytes, computed by the host that read them.
    inputs, outputs : tuple of TensorSpec
        As the file declares them.

    Raises
    ------
    ModelError
        The file does not fit the signature.
    """
    sizes = check(signature, inputs, outputs)
    model_id = user_model_id(filename, sha256)
    return ModelSpec(
        id=model_id,
        tool=tool_id,
        title=f"Your model {filename}",
        variant="user",
        files=(ModelFile(f"user-{sha256}.onnx", size, sha256),),
        inputs=tuple(_concrete(r, t, sizes) for r, t in zip(signature.inputs, inputs)),
        outputs=tuple(_concrete(r, t, sizes) for r, t in zip(signature.outputs, outputs)),
        normalisation=dict(signature.normalisation),
        license="supplied by the user",
        source={"user": filename},
        backends=USER_BACKENDS,
    )

"""The boundary between tools and whatever executes neural networks.

A tool never knows its host: the engine hands it a ``Runtime``. The browser's runtime
(``darkroom.browser``) calls onnxruntime-web through ``bridge.js``; ``CpuRuntime``
below calls onnxruntime in CPython, for the CLI and the tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from numpy.typing import NDArray

from .byom import Parts, Signature, UserFile, user_spec
from .models import ModelError, ModelSpec, TensorSpec, sha256_file, store_user_model, verified_path
from .tiers import Attempt, Tier


class RuntimeFailure(RuntimeError):
    """A model was verified but could not be loaded or run (bad op, out of memory, lost device)."""


@dataclass
class Session:
    model_id: str
    backend: str
    load_ms: float
    handle: Any = field(repr=False, default=None)


class Runtime(Protocol):
    """What the engine needs from a host. All methods may be awaited on either host."""

    host: str

    def plan(self, candidates: list[ModelSpec], tier: Tier) -> list[Attempt]:
        """The (model, backend) attempts for a run on this host, best first."""

    async def load(self, spec: ModelSpec, backend: str) -> Session:
        """A ready session for ``spec`` on ``backend``; raises ``ModelError`` (unverified)
        or ``RuntimeFailure``."""

    async def run(self, session: Session, feeds: dict[str, NDArray[Any]],
                  outputs: list[str]) -> dict[str, NDArray[Any]]:
        """Run once; arrays in, arrays out (float32, shapes as in the manifest)."""

    async def release(self, session: Session) -> None:
        """Free the session's memory."""

    def take_notes(self) -> list[str]:
        """Label sentences about the runs since the last call, e.g. that an inference
        started before the host asked for it; the host adds them to its result."""


#: onnxruntime's type strings for the dtypes the manifest uses.
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
               "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64"}


def read_signature(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The inputs and outputs an ONNX file declares, as onnxruntime reads them; an open
    (symbolic or unknown) dimension is ``0``.

    Raises
    ------
    ModelError
        onnxruntime cannot read the file as a model.
    """
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"{path.name} is not a model onnxruntime can load ({str(exc).splitlines()[0]})") from exc

    def specs(args: list[Any]) -> tuple[TensorSpec, ...]:  # onnxruntime's NodeArg list
        return tuple(TensorSpec(a.name, tuple(d if isinstance(d, int) and d > 0 else 0 for d in a.shape),
                                _ORT_DTYPES.get(a.type, a.type)) for a in args)

    return specs(session.get_inputs()), specs(session.get_outputs())


def add_user_model(tool_id: str, signature: Signature | Parts, paths: list[Path]) -> ModelSpec:
    """A user's ONNX file (or one a part) read with onnxruntime, checked against the
    tool's signature and kept in the model cache, where it is verified before each session.

    Raises
    ------
    OSError
        A file cannot be read.
    ModelError
        onnxruntime cannot load a file, or they do not fit (the message says what differs).
    """
    files = [UserFile(path.name, sha256_file(path), path.stat().st_size, *read_signature(path)) for path in paths]
    spec = user_spec(tool_id, signature, files)
    for path, file in zip(paths, files, strict=True):
        store_user_model(path, file.sha256)
    return spec


class CpuRuntime:
    """onnxruntime on the CPU. Sessions are cached per model id; files are verified
    against the manifest each time a session is created."""

    host = "cpython"
    # Measured on a 2-core x86 CPU: fp16 ISNet 2.2 s, quint8 3.5 s (ConvInteger is slow here).
    variant_preference = ("fp16", "quint8")

    def __init__(self, model_root: Path | None = None, threads: int | None = None) -> None:
        self._root = model_root
        self._threads = threads
        self._sessions: dict[str, Session] = {}

    def plan(self, candidates: list[ModelSpec], tier: Tier) -> list[Attempt]:
        """The candidates a CPU should run, in the variant order this host runs fastest.

        A model whose manifest has no ``cpu`` backend is too slow on a CPU (e.g. ESRGAN
        thick: minutes per megapixel) and runs only when it is the one model asked for.
        """
        if len(candidates) > 1:
            candidates = [spec for spec in candidates if "cpu" in spec.backends]
        rank = {variant: i for i, variant in enumerate(self.variant_preference)}
        ordered = sorted(candidates, key=lambda spec: rank.get(spec.variant, len(rank)))
        return [Attempt(spec, "cpu") for spec in ordered]

    async def load(self, spec: ModelSpec, backend: str = "cpu") -> Session:
        if spec.id in self._sessions:
            return self._sessions[spec.id]
        import onnxruntime as ort

        path = verified_path(spec, self._root)
        options = ort.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
        start = time.perf_counter()
        try:
            handle = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise RuntimeFailure(f"onnxruntime could not load {spec.id}: {exc}") from exc
        session = Session(spec.id, "cpu", (time.perf_counter() - start) * 1000, handle)
        self._sessions[spec.id] = session
        return session

    async def run(self, session: Session, feeds: dict[str, NDArray[Any]],
                  outputs: list[str]) -> dict[str, NDArray[Any]]:
        try:
            values = session.handle.run(outputs, feeds)
        except Exception as exc:
            raise RuntimeFailure(f"onnxruntime failed running {session.model_id}: {exc}") from exc
        return dict(zip(outputs, values, strict=True))

    async def release(self, session: Session) -> None:
        self._sessions.pop(session.model_id, None)

    def take_notes(self) -> list[str]:
        return []  # every run here starts when the engine asks

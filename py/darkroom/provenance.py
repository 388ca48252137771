"""The honest label: what ran, where, how long, and why."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: ``"model"``: a neural network made the result; ``"classical"``: an algorithm that is not AI.
RunPath = Literal["model", "classical"]


@dataclass
class Provenance:
    """Everything a result can say about how it was made (the page's label and "What ran").

    ``path`` is ``"model"`` only when a neural network produced the result; the
    classical path always carries a ``reason`` saying why it ran.
    """

    tool: str
    path: RunPath = "classical"
    model: str | None = None
    #: A second model that ran beside ``model`` (e.g. New background's image generator).
    companion: str | None = None
    variant: str | None = None
    backend: str = "python"
    tier: str = "standard"
    tier_overridden: bool = False
    tier_reasons: list[str] = field(default_factory=list)
    reason: str | None = None
    #: The classical algorithm, when the tool chose among several (e.g. "non-local means").
    method: str | None = None
    #: What the classical path is written with, named on the label.
    library: str = "scikit-image"
    fallback_chain: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; sizes are ``[width, height]``."""
        return {**asdict(self), "label": self.label()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def label(self) -> str:
        """What ran, in words, e.g. ``"AI model isnet-quint8 on wasm, 3.48 s. Tier lite: The WebGPU
        adapter is a software renderer (swiftshader), not a GPU."``"""
        seconds = self.timings_ms.get("total", 0.0) / 1000
        if self.path == "model":
            models = [name for name in (self.model, self.companion) if name]
            text = f"AI model{'s' if len(models) > 1 else ''} {' + '.join(models)} on {self.backend}, {seconds:.2f} s"
        else:
            how = f"{self.library} {self.method}" if self.method else self.library
            # A tool with no model path at all (reason None) falls back from nothing.
            text = f"Classical{' fallback' if self.reason else ''} ({how}, not AI) on {self.backend}, {seconds:.2f} s"
        if self.tier_overridden:
            text += f" (tier {self.tier}, chosen by you)"
        text = f"{text}. {self.reason}" if self.reason else f"{text}."
        if self.tier_reasons and not self.tier_overridden:
            text += f" Tier {self.tier}: {self.tier_reasons[0]}"
        return text


class Stopwatch:
    """Collects named phase durations in milliseconds."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000)

    def add(self, name: str, elapsed_ms: float) -> None:
        """Add ``elapsed_ms`` to phase ``name`` (phases sum over repeated work, e.g. tiles)."""
        self.timings_ms[name] = round(self.timings_ms.get(name, 0.0) + elapsed_ms, 2)

    def finish(self) -> dict[str, float]:
        """The phases plus ``total`` since construction."""
        self.timings_ms["total"] = round((time.perf_counter() - self._start) * 1000, 2)
        return dict(self.timings_ms)

"""How much memory a run may use, and the sentence that refuses a photo that needs more.

A tool declares its ``tool.Footprint``: bytes a pixel on the host's Python heap, as
``bench/tool_memory.py`` measures it. A host says how much it can give a run
(``Budget``); a photo whose footprint does not fit is refused before any work, with the
tool's own limit in megapixels, and a run that runs out anyway fails with the same kind
of sentence instead of a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """The memory a host gives one run.

    Attributes
    ----------
    bytes : int
    where : str
        Where that holds, for the sentence, e.g. ``"in this browser"``.
    advice : str
        What to do about a photo that is too large; ``{tool}`` is replaced by the tool's
        id, e.g. ``"Crop it, or use the CLI (darkroom {tool})."``.
    """

    bytes: int
    where: str
    advice: str


def fits(bytes_per_pixel: float | None, pixels: int, budget: Budget | None) -> bool:
    """Whether a path needing ``bytes_per_pixel`` fits ``budget`` for a photo of ``pixels``
    (an unknown footprint or budget: it does)."""
    return bytes_per_pixel is None or budget is None or bytes_per_pixel * pixels <= budget.bytes


def megapixels(pixels: float) -> str:
    """``48 MP``, ``0.5 MP``: a pixel count as people say it."""
    return f"{pixels / 1e6:.0f} MP" if pixels >= 10e6 else f"{pixels / 1e6:.1f} MP"


def too_large(title: str, tool_id: str, pixels: int, bytes_per_pixel: float, budget: Budget) -> str:
    """The refusal: the tool's limit here, the photo's size and what to do."""
    limit = budget.bytes / bytes_per_pixel
    return (f"{title} can take photos up to {megapixels(limit)} {budget.where} (it needs about "
            f"{bytes_per_pixel:.0f} bytes a pixel); this one is {megapixels(pixels)}. "
            + budget.advice.format(tool=tool_id))


def ran_out(title: str, tool_id: str, pixels: int, budget: Budget | None) -> str:
    """The failure when a run needed more memory than it could get, though it looked to fit."""
    where = f" {budget.where}" if budget else ""
    advice = budget.advice.format(tool=tool_id) if budget else "Try a smaller photo."
    return f"{title} ran out of memory{where} on this {megapixels(pixels)} photo. {advice}"


def available_on_this_computer() -> int | None:
    """Bytes the kernel says it could give without swapping (Linux ``MemAvailable``),
    else the physical memory; ``None`` when neither is known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None

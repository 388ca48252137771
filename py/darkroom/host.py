"""One run of a tool on an image file, the way every host does it: the size limits, the
decode, painted masks, the tool (``engine.run_tool``), the encoding and the label's notes
and timings.

The CLI and the page call ``run_file``; they differ only in how they read a file and,
in the page, in how a photo is decoded (the browser's decoder helps Pillow's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import imaging
from .engine import Result, Starting, ToolError, run_tool
from .imaging import Decoded
from .memory import Budget, fits, ran_out, too_large
from .models import ModelSpec
from .provenance import Stopwatch
from .runtime import Runtime
from .tiers import Tier
from .tool import Progress, Tool

#: ``await decode(data, max_pixels, max_bytes)``: the file's image, or ``imaging.ImageError``.
Decoder = Callable[[bytes, int, int], Awaitable[Decoded]]
#: ``await load_packages(names)``: makes the packages a path imports importable (the page).
PackageLoader = Callable[[tuple[str, ...]], Awaitable[None]]


@dataclass(frozen=True)
class ImageFile:
    """A file, read only once its size is allowed.

    Attributes
    ----------
    size : int
        Bytes, known before reading (from the file system or the browser's Blob).
    read : async callable() -> bytes
    """

    size: int
    read: Callable[[], Awaitable[bytes]]


def file_at(path: Path) -> ImageFile:
    """The file at ``path``; raises ``OSError`` when it cannot be reached."""

    async def read() -> bytes:
        return path.read_bytes()

    return ImageFile(path.stat().st_size, read)


async def pillow_decode(data: bytes, max_pixels: int, max_bytes: int) -> Decoded:
    """``imaging.decode``, as a ``Decoder``."""
    return imaging.decode(data, max_pixels=max_pixels, max_bytes=max_bytes)


@dataclass
class Finished:
    """A run's written file and its result; ``result.provenance`` is complete: every
    note (the decoder's, the tool's, the encoder's) and every timing, ``total`` included."""

    # Not in the repr: Python 3.11's asyncio.run formats the finished task, result and
    # all, as it restores the Ctrl+C handler, and a 12 MP PNG's bytes take most of a
    # second to print.
    file: bytes = field(repr=False)
    mime: str
    result: Result = field(repr=False)


def _check_fits(tool: Tool, given: dict[str, Any], size: tuple[int, int], memory: Budget | None) -> None:
    """Raises ``ToolError`` when no path the run may take fits ``memory`` at ``size``."""
    if memory is None or tool.footprint is None:
        return
    bytes_per_pixel = tool.footprint.lightest(classical_only=given.get("classical") is True)
    if not fits(bytes_per_pixel, size[0] * size[1], memory):
        raise ToolError(too_large(tool.title, tool.id, size[0] * size[1], bytes_per_pixel, memory))


async def run_file(
    tool: Tool,
    source: ImageFile,
    given: dict[str, Any],
    *,
    runtime: Runtime | None,
    models: dict[str, ModelSpec],
    tier: Tier,
    masks: Mapping[str, ImageFile] | None = None,
    limits: tuple[float | None, float | None] = (None, None),
    decode: Decoder = pillow_decode,
    load_packages: PackageLoader | None = None,
    progress: Progress | None = None,
    memory: Budget | None = None,
    starting: Starting | None = None,
) -> Finished:
    """Decode ``source``, run ``tool`` on it and encode the result.

    Parameters
    ----------
    tool : Tool
    source : ImageFile
        The photo.
    given : dict
        The tool's parameters as the user gave them (validated by the run).
    runtime, models, tier
        As ``engine.run_tool`` takes them.
    masks : mapping of str to ImageFile, optional
        Images for the tool's "mask" parameters, by name: white or opaque = painted.
    limits : (float or None, float or None)
        Largest image in megapixels and largest file in megabytes (``None``: the default).
    decode : Decoder
        Turns the file's bytes into the image; Pillow's by default.
    load_packages, progress
        As ``engine.run_tool`` takes them.
    memory : memory.Budget, optional
        What this host can give the run: a photo too large for every path the run may
        take is refused from its header, before it is decoded.
    starting : callable(engine.Start), optional
        As ``engine.run_tool`` takes it.

    Raises
    ------
    imaging.ImageError
        The photo or a mask is too large, unreadable or not an image.
    ToolError
        Bad limits, a mask for no mask parameter, bad parameters, or no path could run.
    """
    watch = Stopwatch()
    try:
        max_pixels, max_bytes = imaging.limits(*limits)
    except (TypeError, ValueError) as exc:
        raise ToolError(f"Bad limits: {exc}") from exc
    params = dict(given)
    mask_params = {p.name for p in tool.params if p.kind == "mask"}
    with watch.phase("decode"):
        imaging.check_file_size(source.size, max_bytes)
        data = await source.read()
        header = imaging.header_size(data)
        if header:
            _check_fits(tool, given, header, memory)
        image = await decode(data, max_pixels, max_bytes)
        del data
        size = (image.pixels.shape[1], image.pixels.shape[0])
        if not header:  # a file only the browser could read: checked once decoded
            _check_fits(tool, given, size, memory)
        for name, painted in (masks or {}).items():
            if name not in mask_params:
                raise ToolError(f"{tool.id} has no mask parameter {name}.")
            params[name] = imaging.decode_mask(await painted.read(), size)
    if runtime is not None:
        runtime.take_notes()  # notes about earlier runs are not this run's
    result = await run_tool(tool, image, params, runtime=runtime, models=models, tier=tier, watch=watch,
                            load_packages=load_packages, progress=progress, memory=memory, starting=starting)
    with watch.phase("encode"):
        try:
            written, mime, notes = imaging.encode(result.pixels, result.encoding, image.exif)
        except MemoryError:
            raise ToolError(ran_out(tool.title, tool.id, size[0] * size[1], memory)) from None
    result.provenance.notes += [*(runtime.take_notes() if runtime is not None else ()), *notes]
    result.provenance.timings_ms = watch.finish()
    return Finished(written, mime, result)

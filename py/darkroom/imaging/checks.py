"""The limits an input must stay within, and ImageError, the refusal every step raises.

Sizes are checked before anything is decoded: a file's byte count before it is read,
an image's pixel count from its header.  Messages name the size and the limit in the
units people think in (MP, MB).
"""

import re

DEFAULT_MAX_PIXELS: int = 100_000_000
# A 100 MP 16-bit RGBA TIFF is 800 MB; anything much above this would not fit a page's memory anyway.
DEFAULT_MAX_BYTES: int = 512 * 1024 * 1024


class ImageError(ValueError):
    """A one-line, user-facing reason an input cannot be used (str(err) is shown to the user as-is)."""


def limits(max_megapixels: float | None = None, max_megabytes: float | None = None) -> tuple[int, int]:
    """``(max_pixels, max_bytes)`` for :func:`decode` from the units people set them in.

    Parameters
    ----------
    max_megapixels, max_megabytes : float, optional
        Positive limits; ``None`` keeps the default (``DEFAULT_MAX_PIXELS``, ``DEFAULT_MAX_BYTES``).

    Raises
    ------
    ValueError
        A limit that is not a positive number.
    """
    chosen: list[int] = []
    for name, value, default, unit in (("max_megapixels", max_megapixels, DEFAULT_MAX_PIXELS, 1_000_000),
                                       ("max_megabytes", max_megabytes, DEFAULT_MAX_BYTES, 1024 * 1024)):
        if value is None:
            chosen.append(default)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf"):
            chosen.append(max(1, int(value * unit)))
        else:
            raise ValueError(f"{name} must be a positive number, not {value!r}.")
    return chosen[0], chosen[1]


def check_file_size(size: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Refuse an empty or oversized file from its size alone, before it is read.

    Parameters
    ----------
    size : int
        The file's size in bytes.
    max_bytes : int, optional
        Largest accepted size.

    Raises
    ------
    ImageError
        If the file is empty or larger than ``max_bytes``.
    """
    if size <= 0:
        raise ImageError("The file is empty.")
    if size > max_bytes:
        raise ImageError(f"The file is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}.")


def check_dimensions(size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Reject empty or oversized images from their header dimensions.

    Parameters
    ----------
    size : tuple of int
        ``(width, height)`` from the header.
    max_pixels : int
        Largest accepted ``width * height``.

    Raises
    ------
    ImageError
        If either side is zero or the area exceeds ``max_pixels``.
    """
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"The image has no pixels ({width} × {height}).")
    if width * height > max_pixels:
        raise ImageError(
            f"The image is {width} × {height} pixels ({_amount(width * height)}); "
            f"the limit is {_amount(max_pixels)}."
        )


def _amount(count: int, *, mega: int = 1_000_000, unit: str = "MP", small_unit: str = "pixels") -> str:
    """Format a pixel (or byte) count for people: in mega-units, or as is when small.

    Parameters
    ----------
    count : int
        A number of pixels (or bytes).
    mega, unit, small_unit
        The size of one mega-unit and the two unit names.

    Returns
    -------
    str
        E.g. ``"2500 MP"``, ``"1.5 MP"`` or ``"600 pixels"``.
    """
    if count < 100_000:
        return f"{count:,} {small_unit}"
    megas = count / mega
    if megas >= 10:
        return f"{megas:.0f} {unit}"
    return f"{megas:.1f}".removesuffix(".0") + f" {unit}"


def _megabytes(size: int) -> str:
    """Format a byte count for people, e.g. ``"512 MB"``, ``"1.5 MB"`` or ``"900 bytes"``."""
    return _amount(size, mega=1024 * 1024, unit="MB", small_unit="bytes")


def bomb_message(pillow_message: str, max_pixels: int | None) -> str:
    """Reword Pillow's DecompressionBombError for the user.

    Parameters
    ----------
    pillow_message : str
        ``str()`` of the error, which states the pixel count and Pillow's limit.
    max_pixels : int or None
        Darkroom's own limit, when known.

    Returns
    -------
    str
        A one-line message naming the size and the limit in force.
    """
    numbers = [int(n) for n in re.findall(r"\d+", pillow_message)]
    if len(numbers) < 2:
        return "The image is too large to open safely."
    pixels, pillow_limit = numbers[0], numbers[1]
    limit = pillow_limit if max_pixels is None else min(pillow_limit, max_pixels)
    return f"The image is {_amount(pixels)}; the limit is {_amount(limit)}."

"""Encode result pixels as a file: the formats Darkroom writes, and the EXIF kept or removed.

The default, ``PNG``, is a fast lossless PNG without metadata; an ``Encoding`` chooses
another format, its quality and whether the input's (upright) EXIF block is kept.
"""

import io
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from PIL import Image, features

from .exif import describe_exif

PNG_COMPRESS_LEVEL: int = 1


def encode_png(pixels: NDArray[np.uint8]) -> bytes:
    """Encode pixels as a PNG file, favouring speed over size.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``uint8`` array shaped ``(H, W)`` (grey), ``(H, W, 3)`` (RGB) or
        ``(H, W, 4)`` (RGBA).

    Returns
    -------
    bytes
        The PNG file.

    Raises
    ------
    ValueError
        If the array is not ``uint8``, is empty, or has an unsupported shape.
    """
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8 pixels, got {arr.dtype}.")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"encode_png needs an (H, W), (H, W, 3) or (H, W, 4) array, got {arr.shape}.")
    if arr.size == 0:
        raise ValueError("encode_png cannot encode an empty image.")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


class OutputFormat(NamedTuple):
    """A format results can be written in: Pillow's name for it, its MIME type, file
    extension and the name people know it by."""

    pillow: str
    mime: str
    extension: str
    title: str


#: Output formats by name. AVIF joins when Pillow itself writes it (11.2+; not the pinned
#: 10.2 in Pyodide, nor Chromium's canvas). Pillow's own feature list, not a plugin some
#: process happened to import, so the page's catalog (built in CPython) and Pyodide agree.
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    "jpeg": OutputFormat("JPEG", "image/jpeg", "jpg", "JPEG"), "png": OutputFormat("PNG", "image/png", "png", "PNG"),
    "webp": OutputFormat("WEBP", "image/webp", "webp", "WebP"),
    **({"avif": OutputFormat("AVIF", "image/avif", "avif", "AVIF")} if "avif" in features.modules else {}),
}


@dataclass(frozen=True)
class Encoding:
    """How a result is written.

    Attributes
    ----------
    format : str
        A key of ``OUTPUT_FORMATS``.
    quality : int
        1..100 for the lossy formats (JPEG, WebP, AVIF); PNG is lossless and ignores it.
    keep_metadata : bool
        Write the input's EXIF block (upright) into the file; otherwise none.
    """

    format: str = "png"
    quality: int = 90
    keep_metadata: bool = False


#: Tools' default: a fast lossless PNG with no metadata.
PNG = Encoding()


def encode(pixels: NDArray[np.uint8], encoding: Encoding = PNG,
           exif: bytes = b"") -> tuple[bytes, str, tuple[str, ...]]:
    """Write pixels in ``encoding``'s format.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``uint8`` (H, W), (H, W, 3) or (H, W, 4).
    encoding : Encoding
    exif : bytes
        The input's EXIF block (``Decoded.exif``), written only when ``encoding`` keeps
        metadata.

    Returns
    -------
    data : bytes
    mime : str
    notes : tuple of str
        Sentences for the label: transparency flattened, metadata kept or removed.

    Raises
    ------
    ValueError
        An unknown format, or pixels ``encode_png`` would refuse.
    """
    if encoding == PNG:
        return encode_png(pixels), "image/png", ()
    if encoding.format not in OUTPUT_FORMATS:
        raise ValueError(f"Cannot write {encoding.format}; this build writes {', '.join(OUTPUT_FORMATS)}.")
    pillow_format, mime = OUTPUT_FORMATS[encoding.format].pillow, OUTPUT_FORMATS[encoding.format].mime
    img = Image.fromarray(np.ascontiguousarray(pixels))
    notes: list[str] = []
    if pillow_format == "JPEG" and img.mode == "RGBA":
        # JPEG has no transparency: what was see-through becomes white, as in most viewers.
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img).convert("RGB")
        notes.append("JPEG has no transparency: transparent areas were flattened onto white.")
    subjects = describe_exif(exif)
    if encoding.keep_metadata and exif:
        notes.append(f"Metadata kept{': ' + ', '.join(subjects) if subjects else ''}.")
    elif subjects:
        notes.append(f"Metadata removed: {', '.join(subjects)}.")
    # zlib level 6: most of level 9's saving at a fraction of its time on large photos.
    options: dict[str, int | bytes] = (
        {"quality": encoding.quality} if pillow_format != "PNG" else {"compress_level": 6})
    if encoding.keep_metadata and exif:
        options["exif"] = exif
    buffer = io.BytesIO()
    img.save(buffer, format=pillow_format, **options)
    return buffer.getvalue(), mime, tuple(notes)

"""Decode untrusted image files into sRGB pixel arrays.

This module is the only place where Darkroom touches Pillow's file readers: it
recognises the format, opens the file with only the readers Darkroom trusts, checks
the limits, loads the first frame and hands it to :mod:`.develop`.  Everything it
returns is a plain, C-contiguous ``uint8`` numpy array in sRGB with EXIF orientation
already applied, so the rest of the pipeline never has to think about file formats,
colour modes, bit depths or colour profiles.
"""

import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .checks import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageError, bomb_message, check_dimensions, check_file_size
from .develop import develop
from .exif import upright_exif

# Pillow format names Darkroom agrees to parse.  Opening with an explicit
# list keeps exotic plugins away from untrusted bytes (EPS, for example,
# would shell out to Ghostscript in CPython).
READABLE_FORMATS: tuple[str, ...] = (
    "PNG",
    "JPEG",
    "MPO",
    "GIF",
    "WEBP",
    "TIFF",
    "BMP",
    "ICO",
    "PPM",
    "QOI",
)

SUPPORTED_FORMATS_TEXT: str = "PNG, JPEG, GIF, WebP, TIFF, BMP, ICO, PPM and QOI"

DAMAGED_MESSAGE: str = "The image data is damaged or truncated."

OUT_OF_MEMORY_MESSAGE: str = "There is not enough memory to open this image."

# Leading bytes of formats we read; bytes that start like one of these but
# still cannot be opened are a damaged image, not "some other kind of file".
IMAGE_SIGNATURES: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"qoif",
)

# ISO-BMFF brands of still-image formats Pillow 10.2 cannot read.
HEIF_BRANDS: frozenset[bytes] = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)

# Pillow raw modes that carry 16 bits per sample (e.g. "I;16B", "RGB;16B",
# "LA;16B").  "BGR;16"/"RGB;16" are 5-6-5 packed 8-bit formats and must not match.
SIXTEEN_BIT_RAWMODE: re.Pattern[str] = re.compile(r"^(I;16|L;16|[A-Z]+;16[BLN])")


@dataclass(frozen=True)
class Decoded:
    """A decoded image, ready for processing.

    Attributes
    ----------
    pixels : numpy.ndarray
        ``(H, W, 3)`` or ``(H, W, 4)`` C-contiguous ``uint8`` sRGB pixels with
        EXIF orientation applied.  Four channels only when the source has an
        alpha channel or transparency.
    format : str
        Pillow's format name, e.g. ``"PNG"`` or ``"JPEG"``.
    notes : tuple of str
        Plain sentences describing what was done to the image on the way in.
    exif : bytes
        The file's EXIF block with its orientation set to upright (the pixels are), for
        an output that keeps metadata; empty when the file had none.
    """

    pixels: NDArray[np.uint8]
    format: str
    notes: tuple[str, ...]
    exif: bytes = b""


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES) -> Decoded:
    """Decode an image file into sRGB ``uint8`` pixels.

    Parameters
    ----------
    data : bytes
        The complete file contents.
    max_pixels : int, optional
        Largest accepted ``width * height``, checked from the file header
        before any pixel data is decoded.  Pillow's own decompression-bomb
        limit (about 179 MP by default) still applies above this.
    max_bytes : int, optional
        Largest accepted file size (see :func:`check_file_size`).

    Returns
    -------
    Decoded
        The pixels (RGB, or RGBA when the source has transparency), the
        Pillow format name and notes about conversions that were made.

    Raises
    ------
    ImageError
        If the data is empty, not a readable image, damaged, too large or in
        an unsupported colour mode.  The message is meant for the user.
    """
    check_file_size(len(data), max_bytes)
    with warnings.catch_warnings():
        # The max_pixels check below is the limit that matters; Pillow's
        # softer DecompressionBombWarning (at ~89 MP) would only contradict it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Pillow warns about damaged metadata (e.g. "Corrupt EXIF data") that it reads
        # past; the pixels are what matter, and the console is not the user's.
        warnings.simplefilter("ignore", UserWarning)
        with _open(data, max_pixels) as img:
            check_dimensions(img.size, max_pixels)
            sixteen_bit = _has_sixteen_bit_samples(img)
            frame_note = _load(img)
            exif = upright_exif(img)
            try:
                final, notes = develop(img, sixteen_bit=sixteen_bit)
                pixels = _to_array(final)
            except MemoryError as err:
                raise ImageError(OUT_OF_MEMORY_MESSAGE) from err
    if frame_note:
        notes.insert(0, frame_note)
    return Decoded(pixels=pixels, format=img.format or "", notes=tuple(notes), exif=exif)


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header, without decoding pixels; ``None`` when
    Pillow cannot read it (``decode`` then says why, or the browser decodes the file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data), formats=_readable_formats()) as img:
                width, height = img.size
        except Exception:  # any unreadable header: decode words the error
            return None
    return int(width), int(height)


def decode_mask(data: bytes, size: tuple[int, int]) -> NDArray[np.bool_]:
    """A painted mask from an image file: opaque (where it has alpha) or light pixels are painted.

    Parameters
    ----------
    data : bytes
        PNG or any readable image; white (or opaque) = painted.
    size : (width, height)
        The photo's size; a mask of another size with the same shape is scaled to it.

    Returns
    -------
    ndarray
        bool (height, width).

    Raises
    ------
    ImageError
        Unreadable, or of another aspect ratio than the photo.
    """
    decoded = decode(data, max_pixels=4 * size[0] * size[1] + 1_000_000)
    pixels = decoded.pixels
    painted = pixels[..., 3] >= 128 if pixels.shape[2] == 4 and pixels[..., 3].min() < 255 else (
        pixels[..., :3].mean(axis=-1) >= 128)
    height, width = painted.shape
    if (width, height) != size:
        if abs(width / height - size[0] / size[1]) > 0.01:
            raise ImageError(f"The mask is {width} × {height}; the photo is {size[0]} × {size[1]}.")
        painted = np.asarray(Image.fromarray(painted).resize(size, Image.Resampling.NEAREST))
    return painted


def heif_kind(data: bytes) -> str | None:
    """``"AVIF"`` or ``"HEIC"`` when ``data`` starts like an ISO-BMFF still image of
    that kind (which Pillow here cannot read, but a browser may), else ``None``."""
    head = bytes(data[:12])
    if head[4:8] != b"ftyp" or head[8:12] not in HEIF_BRANDS:
        return None
    return "AVIF" if head[8:12] in (b"avif", b"avis") else "HEIC"


def from_rgba(rgba: NDArray[np.uint8], format_name: str, notes: tuple[str, ...] = (), exif: bytes = b"") -> Decoded:
    """A :class:`Decoded` from pixels another decoder produced (the browser's).

    Parameters
    ----------
    rgba : ndarray
        uint8 (H, W, 4) sRGB with straight alpha, orientation already applied.
    format_name : str
    notes : tuple of str
    exif : bytes
        The file's upright EXIF block, when another decoder read it.

    Returns
    -------
    Decoded
        RGB when every pixel is opaque, else RGBA.
    """
    pixels = rgba if (rgba[..., 3] != 255).any() else rgba[..., :3]
    return Decoded(pixels=np.ascontiguousarray(pixels), format=format_name, notes=tuple(notes), exif=exif)


# --------------------------------------------------------------------------
# Opening and loading


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the file and read its header, without decoding pixels.

    Parameters
    ----------
    data : bytes
        The file contents.
    max_pixels : int
        The caller's pixel limit, used only to word a size error.

    Returns
    -------
    PIL.Image.Image
        The lazily opened image.

    Raises
    ------
    ImageError
        If the file is not a readable image, is damaged, or trips Pillow's
        decompression-bomb limit.
    """
    try:
        return Image.open(io.BytesIO(data), formats=_readable_formats())
    except Image.DecompressionBombError as err:
        raise ImageError(bomb_message(str(err), max_pixels)) from err
    except Image.UnidentifiedImageError as err:
        raise ImageError(_unreadable_message(data)) from err
    except MemoryError as err:
        raise ImageError(OUT_OF_MEMORY_MESSAGE) from err
    # Pillow plugins raise a wide, undocumented range of exception types on
    # hostile input; none of them may reach the user as a traceback.
    except Exception as err:
        raise ImageError(DAMAGED_MESSAGE) from err


def _readable_formats() -> tuple[str, ...]:
    """Return the formats of READABLE_FORMATS that this Pillow build registers.

    Returns
    -------
    tuple of str
        Pillow format names, in preference order.
    """
    Image.init()
    return tuple(name for name in READABLE_FORMATS if name in Image.OPEN)


def _load(img: Image.Image) -> str | None:
    """Force the full decode of the first frame.

    Parameters
    ----------
    img : PIL.Image.Image
        A lazily opened image; it is loaded in place.

    Returns
    -------
    str or None
        A note when the file holds several frames or pages.

    Raises
    ------
    ImageError
        If the pixel data is damaged, truncated or too large for memory.
    """
    try:
        # Counting frames walks the whole file, so it also has to be guarded.
        frame_count = getattr(img, "n_frames", 1)
        img.load()
    except Image.DecompressionBombError as err:
        raise ImageError(bomb_message(str(err), None)) from err
    except MemoryError as err:
        raise ImageError(OUT_OF_MEMORY_MESSAGE) from err
    except Exception as err:  # see _open: any decoder failure means damaged data
        raise ImageError(DAMAGED_MESSAGE) from err
    return _frame_note(img.format or "", frame_count)


def _frame_note(format_name: str, frame_count: int) -> str | None:
    """Describe that only the first of several frames is used.

    Parameters
    ----------
    format_name : str
        Pillow format name.
    frame_count : int
        Number of frames (or pages, or pictures) in the file.

    Returns
    -------
    str or None
        The note, or None for single-frame files.
    """
    if frame_count <= 1:
        return None
    if format_name in ("GIF", "PNG", "WEBP"):
        return f"Animated {format_name}: used the first of {frame_count} frames."
    if format_name == "MPO":
        return f"Multi-picture JPEG: used the first of {frame_count} pictures."
    if format_name == "TIFF":
        return f"Multi-page TIFF: used the first of {frame_count} pages."
    return f"The {format_name} file holds {frame_count} images: used the first."


def _unreadable_message(data: bytes) -> str:
    """Explain why Pillow could not identify the file.

    Parameters
    ----------
    data : bytes
        The file contents.

    Returns
    -------
    str
        A one-line message for the user.
    """
    head = bytes(data[:16])
    if head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return DAMAGED_MESSAGE
    if heif_kind(data):
        reason = "HEIC and AVIF photos are not supported; export it as JPEG or PNG first"
    else:
        reason = f"supported formats are {SUPPORTED_FORMATS_TEXT}"
    return f"This file is not an image Darkroom can read ({reason})."


def _has_sixteen_bit_samples(img: Image.Image) -> bool:
    """Tell whether the file stores 16 bits per sample.

    Must be called before ``load()``, which discards the tile descriptors.

    Parameters
    ----------
    img : PIL.Image.Image
        A lazily opened image.

    Returns
    -------
    bool
        True when the mode or any tile's raw mode is a 16-bit-per-sample one.
    """
    if img.mode.startswith("I;16"):
        return True
    for tile in img.tile or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and SIXTEEN_BIT_RAWMODE.match(rawmode):
            return True
    return False


def _to_array(img: Image.Image) -> NDArray[np.uint8]:
    """Copy an RGB or RGBA image into a writable C-contiguous ``uint8`` array.

    Parameters
    ----------
    img : PIL.Image.Image
        RGB or RGBA image.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` or ``(H, W, 4)`` array.
    """
    # np.asarray() wraps Pillow's read-only bytes; copy once so callers may
    # edit the pixels in place.
    return np.array(np.asarray(img), dtype=np.uint8, order="C")

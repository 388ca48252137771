"""Decode untrusted image files into sRGB pixel arrays, and encode the results.

This module is the only place where Darkroom touches Pillow's file readers.
Everything it returns is a plain, C-contiguous ``uint8`` numpy array in sRGB
with EXIF orientation already applied, so the rest of the pipeline never has
to think about file formats, colour modes, bit depths or colour profiles.

It runs unchanged in CPython and in Pyodide (Pillow 10.2, numpy 2.0).
"""

import importlib
import io
import re
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, features

DEFAULT_MAX_PIXELS: int = 100_000_000
# A 100 MP 16-bit RGBA TIFF is 800 MB; anything much above this would not fit a page's memory anyway.
DEFAULT_MAX_BYTES: int = 512 * 1024 * 1024

PNG_COMPRESS_LEVEL: int = 1

# Pyodide's Pillow has no littlecms: a host with another colour-managed decoder (the
# browser) redoes such files and replaces this note.
NO_COLOUR_MANAGEMENT_NOTE: str = "Embedded colour profile ignored (colour management is not available here)."

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

EXIF_ORIENTATION_TAG: int = 0x0112

ORIENTATION_NOTES: dict[int, str] = {
    2: "Flipped horizontally per EXIF orientation 2.",
    3: "Rotated 180° per EXIF orientation 3.",
    4: "Flipped vertically per EXIF orientation 4.",
    5: "Rotated and flipped per EXIF orientation 5.",
    6: "Rotated 90° clockwise per EXIF orientation 6.",
    7: "Rotated and flipped per EXIF orientation 7.",
    8: "Rotated 90° counter-clockwise per EXIF orientation 8.",
}

# Pillow raw modes that carry 16 bits per sample (e.g. "I;16B", "RGB;16B",
# "LA;16B").  "BGR;16"/"RGB;16" are 5-6-5 packed 8-bit formats and must not match.
SIXTEEN_BIT_RAWMODE: re.Pattern[str] = re.compile(r"^(I;16|L;16|[A-Z]+;16[BLN])")

ALPHA_MODES: frozenset[str] = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
GREY_MODES: frozenset[str] = frozenset({"1", "L", "LA", "La"})
WORKING_MODES: frozenset[str] = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})

# ICC colour space signature -> the Pillow mode of the pixels it describes.
PROFILE_SPACE_MODES: dict[str, str] = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}


class ImageError(ValueError):
    """A one-line, user-facing reason an input cannot be used (str(err) is shown to the user as-is)."""


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

    pixels: np.ndarray
    format: str
    notes: tuple[str, ...]
    exif: bytes = b""


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
    chosen = []
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
            exif = _upright_exif(img)
            try:
                final, notes = _develop(img, sixteen_bit=sixteen_bit)
                pixels = _to_array(final)
            except MemoryError as err:
                raise ImageError(OUT_OF_MEMORY_MESSAGE) from err
    if frame_note:
        notes.insert(0, frame_note)
    return Decoded(pixels=pixels, format=img.format or "", notes=tuple(notes), exif=exif)


def encode_png(pixels: np.ndarray) -> bytes:
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
# What an EXIF block may say about the photographer, by tag: (name, IFD or None).
_EXIF_SUBJECTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "camera": ((0x010F, None), (0x0110, None)),  # Make, Model
    "date taken": ((0x0132, None), (0x9003, 0x8769)),  # DateTime, DateTimeOriginal
    "GPS location": ((0x8825, None),),  # GPSInfo IFD pointer
    "owner or author": ((0x013B, None), (0x8298, None), (0xA430, 0x8769)),  # Artist, Copyright, CameraOwnerName
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


def encode(pixels: np.ndarray, encoding: Encoding = PNG, exif: bytes = b"") -> tuple[bytes, str, tuple[str, ...]]:
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
    notes = []
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
    options = {"quality": encoding.quality} if pillow_format != "PNG" else {"compress_level": 6}
    if encoding.keep_metadata and exif:
        options["exif"] = exif
    buffer = io.BytesIO()
    img.save(buffer, format=pillow_format, **options)
    return buffer.getvalue(), mime, tuple(notes)


def describe_exif(exif: bytes) -> list[str]:
    """What an EXIF block reveals, in words (e.g. ``["camera", "GPS location"]``)."""
    if not exif:
        return []
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        found = []
        for subject, tags in _EXIF_SUBJECTS.items():
            if any((parsed.get_ifd(ifd) if ifd else parsed).get(tag) for tag, ifd in tags):
                found.append(subject)
        return found
    except Exception:  # a damaged block: say nothing rather than guess
        return []


def decode_mask(data: bytes, size: tuple[int, int]) -> np.ndarray:
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


def to_float_rgb(pixels: np.ndarray) -> np.ndarray:
    """Convert ``uint8`` pixels to float RGB in ``[0, 1]``.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``uint8`` array shaped ``(H, W)``, ``(H, W, 1)``, ``(H, W, 2)``
        (grey + alpha), ``(H, W, 3)`` or ``(H, W, 4)``.

    Returns
    -------
    numpy.ndarray
        C-contiguous ``float32`` array shaped ``(H, W, 3)``; alpha is dropped
        and grey is repeated into three channels.

    Raises
    ------
    ValueError
        If the array is not ``uint8`` or has an unsupported shape.
    """
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ValueError(f"to_float_rgb needs uint8 pixels, got {arr.dtype}.")
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.ndim != 3 or not 1 <= arr.shape[2] <= 4:
        raise ValueError(f"to_float_rgb needs an (H, W) or (H, W, 1-4) array, got {arr.shape}.")
    colour = arr[:, :, :3] if arr.shape[2] >= 3 else np.repeat(arr[:, :, :1], 3, axis=2)
    out = colour.astype(np.float32, order="C")
    out /= np.float32(255)
    return out


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
        raise ImageError(_bomb_message(str(err), max_pixels)) from err
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
        raise ImageError(_bomb_message(str(err), None)) from err
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


def _bomb_message(pillow_message: str, max_pixels: int | None) -> str:
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


def heif_kind(data: bytes) -> str | None:
    """``"AVIF"`` or ``"HEIC"`` when ``data`` starts like an ISO-BMFF still image of
    that kind (which Pillow here cannot read, but a browser may), else ``None``."""
    head = bytes(data[:12])
    if head[4:8] != b"ftyp" or head[8:12] not in HEIF_BRANDS:
        return None
    return "AVIF" if head[8:12] in (b"avif", b"avis") else "HEIC"


def from_rgba(rgba: np.ndarray, format_name: str, notes: tuple[str, ...] = (), exif: bytes = b"") -> Decoded:
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


# --------------------------------------------------------------------------
# From a loaded Pillow image to sRGB pixels


def _develop(img: Image.Image, *, sixteen_bit: bool = False) -> tuple[Image.Image, list[str]]:
    """Turn a loaded image into an upright sRGB RGB or RGBA image.

    Parameters
    ----------
    img : PIL.Image.Image
        A loaded image in any Pillow mode.
    sixteen_bit : bool, optional
        Whether the file stored 16 bits per sample.

    Returns
    -------
    tuple of (PIL.Image.Image, list of str)
        The RGB or RGBA image and notes about what was done.

    Raises
    ------
    ImageError
        If the colour mode cannot be converted.
    """
    notes: list[str] = []
    icc_profile = img.info.get("icc_profile")
    source_mode = img.mode

    img, note = _apply_orientation(img)
    notes += [note] if note else []
    img, note = _to_working_mode(img, sixteen_bit=sixteen_bit)
    notes += [note] if note else []
    if icc_profile:
        img, note = _to_srgb(img, icc_profile)
        notes += [note] if note else []
    if source_mode == "CMYK":
        notes.append("CMYK converted to RGB.")
    return _to_output_mode(img), notes


def _upright_exif(img: Image.Image) -> bytes:
    """The file's EXIF block with orientation 1 (the decoded pixels are upright); empty
    when there is none or it cannot be read."""
    try:
        if not img.getexif():
            return b""
        exif = Image.Exif()  # a copy: the image's own is what orientation is read from
        exif.load(img.getexif().tobytes())
        if EXIF_ORIENTATION_TAG in exif:
            exif[EXIF_ORIENTATION_TAG] = 1
        return exif.tobytes()
    except Exception:  # damaged metadata never stops a decode
        return b""


def _apply_orientation(img: Image.Image) -> tuple[Image.Image, str | None]:
    """Rotate or flip the image as its EXIF orientation tag asks.

    Parameters
    ----------
    img : PIL.Image.Image
        A loaded image.

    Returns
    -------
    tuple of (PIL.Image.Image, str or None)
        The upright image and a note when it was changed.
    """
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION_TAG)
        if orientation not in ORIENTATION_NOTES:
            return img, None
        return ImageOps.exif_transpose(img), ORIENTATION_NOTES[orientation]
    # Damaged EXIF blocks raise all sorts of errors; the pixels are still good.
    except Exception:
        return img, "The EXIF orientation could not be read; the image is shown as stored."


def _to_working_mode(img: Image.Image, *, sixteen_bit: bool) -> tuple[Image.Image, str | None]:
    """Convert any Pillow mode to 8-bit L, LA, RGB, RGBA or CMYK.

    CMYK is kept so that a CMYK colour profile can still be applied to it.

    Parameters
    ----------
    img : PIL.Image.Image
        A loaded image.
    sixteen_bit : bool
        Whether the file stored 16 bits per sample.

    Returns
    -------
    tuple of (PIL.Image.Image, str or None)
        The converted image and a note about a bit-depth reduction, if any.

    Raises
    ------
    ImageError
        If Pillow cannot convert the mode.
    """
    depth_note = "16-bit image reduced to 8 bits per channel." if sixteen_bit else None
    if img.mode.startswith("I") or img.mode == "F":
        return _numeric_to_grey(img, sixteen_bit=sixteen_bit)
    has_alpha = _has_alpha(img)
    if img.mode in WORKING_MODES and not (has_alpha and img.mode not in ALPHA_MODES):
        return img, depth_note
    if img.mode in GREY_MODES:
        target = "LA" if has_alpha else "L"
    else:
        target = "RGBA" if has_alpha else "RGB"
    try:
        return img.convert(target), depth_note
    except ValueError as err:
        raise ImageError(f"Images in the {img.mode} colour mode are not supported.") from err


def _has_alpha(img: Image.Image) -> bool:
    """Tell whether an image has an alpha channel or a transparent colour.

    Parameters
    ----------
    img : PIL.Image.Image
        Any image.

    Returns
    -------
    bool
        True for alpha modes, a ``transparency`` key, or an RGBA palette.
    """
    if img.mode in ALPHA_MODES or img.info.get("transparency") is not None:
        return True
    return img.mode == "P" and img.palette is not None and img.palette.mode == "RGBA"


def _numeric_to_grey(img: Image.Image, *, sixteen_bit: bool) -> tuple[Image.Image, str]:
    """Reduce an integer (``I``, ``I;16*``) or float (``F``) image to 8-bit grey.

    Pillow's own ``convert("L")`` clips these at 255 instead of scaling, which
    would turn a normal 16-bit photo almost entirely white.

    Parameters
    ----------
    img : PIL.Image.Image
        A loaded image in mode ``I``, ``I;16``, ``I;16B``, ``I;16L`` ... or ``F``.
    sixteen_bit : bool
        Whether the file stored 16 bits per sample (a 16-bit PNG opens as ``I``).

    Returns
    -------
    tuple of (PIL.Image.Image, str)
        An ``L`` image (``LA`` when a transparent value is set) and a note.

    Raises
    ------
    ImageError
        If the mode has no numpy equivalent.
    """
    try:
        values = np.asarray(img)
    except (TypeError, ValueError, KeyError) as err:
        raise ImageError(f"Images in the {img.mode} colour mode are not supported.") from err
    if values.dtype.kind == "f":
        grey, note = _float_to_u8(values)
    else:
        grey, note = _int_to_u8(values, sixteen_bit=sixteen_bit or img.mode.startswith("I;16"))
    grey_img = Image.fromarray(grey)
    transparent = img.info.get("transparency")
    if isinstance(transparent, (int, float)):
        alpha = np.where(values == transparent, 0, 255).astype(np.uint8)
        grey_img = Image.merge("LA", (grey_img, Image.fromarray(alpha)))
    return grey_img, note


def _int_to_u8(values: np.ndarray, *, sixteen_bit: bool) -> tuple[np.ndarray, str]:
    """Scale integer samples to ``uint8``.

    Parameters
    ----------
    values : numpy.ndarray
        2-D integer samples.
    sixteen_bit : bool
        Whether the samples are known to be 16-bit (0..65535).

    Returns
    -------
    tuple of (numpy.ndarray, str)
        The ``uint8`` samples and a note describing the reduction.
    """
    sixteen_note = "16-bit image reduced to 8 bits per channel."
    if sixteen_bit:
        return (np.clip(values, 0, 65535) >> 8).astype(np.uint8), sixteen_note
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 255:
        return values.astype(np.uint8), "32-bit integer image converted to 8 bits per channel."
    if low >= 0 and high <= 65535:
        return (values >> 8).astype(np.uint8), sixteen_note
    return _stretch(values, low, high), "32-bit integer image stretched to 8 bits per channel."


def _float_to_u8(values: np.ndarray) -> tuple[np.ndarray, str]:
    """Scale floating-point samples to ``uint8``.

    Values in ``[0, 1]`` are treated as normalised, values in ``[0, 255]`` as
    8-bit levels, anything else is stretched from its minimum to its maximum.
    NaN becomes black; infinities become the finite extremes.

    Parameters
    ----------
    values : numpy.ndarray
        2-D float samples.

    Returns
    -------
    tuple of (numpy.ndarray, str)
        The ``uint8`` samples and a note describing the conversion.
    """
    finite = np.isfinite(values)
    low = float(values[finite].min()) if finite.any() else 0.0
    high = float(values[finite].max()) if finite.any() else 0.0
    clean = np.nan_to_num(values.astype(np.float32), nan=min(low, 0.0), posinf=high, neginf=low)
    if low >= 0.0 and high <= 1.0:
        return np.rint(clean * 255).astype(np.uint8), "Floating-point image converted to 8 bits per channel."
    if low >= 0.0 and high <= 255.0:
        return np.rint(clean).astype(np.uint8), "Floating-point image converted to 8 bits per channel."
    return _stretch(clean, low, high), "Floating-point image stretched to 8 bits per channel."


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly onto ``0..255``.

    Parameters
    ----------
    values : numpy.ndarray
        Numeric samples, all within ``[low, high]``.
    low, high : float
        The range to map; a flat image (``low == high``) becomes black.

    Returns
    -------
    numpy.ndarray
        ``uint8`` samples of the same shape.
    """
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


def _to_srgb(img: Image.Image, icc_profile: bytes) -> tuple[Image.Image, str | None]:
    """Convert an L, LA, RGB, RGBA or CMYK image from its embedded profile to sRGB.

    Never raises: when colour management is unavailable or the profile is
    unusable, the pixels are returned unchanged with a note saying so.

    Parameters
    ----------
    img : PIL.Image.Image
        Image in a working mode (see ``_to_working_mode``).
    icc_profile : bytes
        The embedded ICC profile.

    Returns
    -------
    tuple of (PIL.Image.Image, str or None)
        The image (RGB/RGBA when converted) and a note, or None when the
        profile is already sRGB.
    """
    cms = _import_imagecms()
    if cms is None:
        return img, NO_COLOUR_MANAGEMENT_NOTE
    try:
        source = cms.ImageCmsProfile(io.BytesIO(icc_profile))
        space = source.profile.xcolor_space.strip()
        description = " ".join(cms.getProfileDescription(source).split())
    except Exception:  # littlecms reports unreadable profiles with several error types
        return img, "Embedded colour profile ignored (it could not be read)."

    colour_mode = {"LA": "L", "RGBA": "RGB"}.get(img.mode, img.mode)
    if PROFILE_SPACE_MODES.get(space) != colour_mode:
        return img, f"Embedded colour profile ignored (it is a {space} profile but the image is {colour_mode})."
    name = f" “{description}”" if description else ""
    if colour_mode == "RGB" and "sRGB" in description:
        # Most camera and web files carry an sRGB profile; skipping the
        # identity transform saves time and avoids ±1 rounding drift.
        return img, None

    alpha = img.getchannel("A") if img.mode in ("LA", "RGBA") else None
    try:
        transform = cms.buildTransform(source, cms.createProfile("sRGB"), colour_mode, "RGB")
        converted = cms.applyTransform(img if alpha is None else img.convert(colour_mode), transform)
    except Exception:
        return img, "Embedded colour profile ignored (it could not be applied)."
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, f"Converted from the embedded colour profile{name} to sRGB."


def _import_imagecms():
    """Import ``PIL.ImageCms`` if this Pillow build has littlecms.

    Returns
    -------
    module or None
        The module, or None when it cannot be imported.
    """
    try:
        importlib.import_module("PIL._imagingcms")  # ImageCms itself imports without it and fails on use
        return importlib.import_module("PIL.ImageCms")
    except ImportError:
        return None


def _to_output_mode(img: Image.Image) -> Image.Image:
    """Expand a working-mode image to RGB or RGBA.

    Parameters
    ----------
    img : PIL.Image.Image
        Image in L, LA, RGB, RGBA or CMYK.

    Returns
    -------
    PIL.Image.Image
        RGBA if the image has alpha, otherwise RGB.
    """
    target = "RGBA" if img.mode in ALPHA_MODES else "RGB"
    return img if img.mode == target else img.convert(target)


def _to_array(img: Image.Image) -> np.ndarray:
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

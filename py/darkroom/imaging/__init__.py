"""Decode untrusted image files into sRGB pixel arrays, and encode the results.

The package's names, importable as ``darkroom.imaging.X``.
"""

from .decoding import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    EXIF_ORIENTATION_TAG,
    NO_COLOUR_MANAGEMENT_NOTE,
    ORIENTATION_NOTES,
    OUTPUT_FORMATS,
    PNG,
    Decoded,
    Encoding,
    ImageError,
    OutputFormat,
    check_dimensions,
    check_file_size,
    decode,
    decode_mask,
    describe_exif,
    encode,
    encode_png,
    from_rgba,
    heif_kind,
    limits,
    to_float_rgb,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "EXIF_ORIENTATION_TAG",
    "NO_COLOUR_MANAGEMENT_NOTE",
    "ORIENTATION_NOTES",
    "OUTPUT_FORMATS",
    "PNG",
    "Decoded",
    "Encoding",
    "ImageError",
    "OutputFormat",
    "check_dimensions",
    "check_file_size",
    "decode",
    "decode_mask",
    "describe_exif",
    "encode",
    "encode_png",
    "from_rgba",
    "heif_kind",
    "limits",
    "to_float_rgb",
]

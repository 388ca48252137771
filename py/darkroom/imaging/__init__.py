"""Decode untrusted image files into sRGB pixel arrays, and encode the results.

Everything a decode returns is a plain, C-contiguous ``uint8`` numpy array in sRGB
with EXIF orientation already applied, so the rest of the pipeline never has to
think about file formats, colour modes, bit depths or colour profiles.

One module a job, each importing only those above it:

- :mod:`.checks`: the file-size and pixel limits, and ``ImageError``;
- :mod:`.pixels`: conversions between sample types (``to_float_rgb``);
- :mod:`.exif`: EXIF orientation, and what a block says about the photographer;
- :mod:`.develop`: a loaded Pillow image of any mode to upright sRGB;
- :mod:`.decoding`: untrusted bytes to a :class:`Decoded` image;
- :mod:`.encoding`: pixels to a file (``encode``, ``Encoding``, ``OUTPUT_FORMATS``).

Callers use the names below as ``darkroom.imaging.X``.  It all runs unchanged in
CPython and in Pyodide (Pillow 10.2, numpy 2.0).
"""

from .checks import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageError, check_dimensions, check_file_size, limits
from .decoding import Decoded, decode, decode_mask, from_rgba, header_size, heif_kind
from .develop import NO_COLOUR_MANAGEMENT_NOTE
from .encoding import OUTPUT_FORMATS, PNG, Encoding, OutputFormat, encode, encode_png
from .exif import EXIF_ORIENTATION_TAG, ORIENTATION_NOTES, describe_exif
from .pixels import to_float_rgb

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
    "header_size",
    "heif_kind",
    "limits",
    "to_float_rgb",
]

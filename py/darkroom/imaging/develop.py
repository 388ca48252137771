"""Develop a loaded Pillow image of any mode into an upright sRGB RGB or RGBA image.

The steps, in order: EXIF orientation; any mode (palette, 16-bit, integer, float,
CMYK and more) to an 8-bit working mode; the embedded colour profile to sRGB; RGB or
RGBA.  Each step says what it did in a note for the user.
"""

import importlib
import io
from types import ModuleType

import numpy as np
from PIL import Image

from .checks import ImageError
from .exif import apply_orientation
from .pixels import SIXTEEN_BIT_NOTE, float_to_u8, int_to_u8

# Pyodide's Pillow has no littlecms: a host with another colour-managed decoder (the
# browser) redoes such files and replaces this note.
NO_COLOUR_MANAGEMENT_NOTE: str = "Embedded colour profile ignored (colour management is not available here)."

ALPHA_MODES: frozenset[str] = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
GREY_MODES: frozenset[str] = frozenset({"1", "L", "LA", "La"})
WORKING_MODES: frozenset[str] = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})

# ICC colour space signature -> the Pillow mode of the pixels it describes.
PROFILE_SPACE_MODES: dict[str, str] = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}


def develop(img: Image.Image, *, sixteen_bit: bool = False) -> tuple[Image.Image, list[str]]:
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

    img, note = apply_orientation(img)
    notes += [note] if note else []
    img, note = _to_working_mode(img, sixteen_bit=sixteen_bit)
    notes += [note] if note else []
    if icc_profile:
        img, note = _to_srgb(img, icc_profile)
        notes += [note] if note else []
    if source_mode == "CMYK":
        notes.append("CMYK converted to RGB.")
    return _to_output_mode(img), notes


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
    depth_note = SIXTEEN_BIT_NOTE if sixteen_bit else None
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
        grey, note = float_to_u8(values)
    else:
        grey, note = int_to_u8(values, sixteen_bit=sixteen_bit or img.mode.startswith("I;16"))
    grey_img = Image.fromarray(grey)
    transparent = img.info.get("transparency")
    if isinstance(transparent, (int, float)):
        alpha = np.where(values == transparent, 0, 255).astype(np.uint8)
        grey_img = Image.merge("LA", (grey_img, Image.fromarray(alpha)))
    return grey_img, note


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


def _import_imagecms() -> ModuleType | None:
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

"""EXIF: the orientation a photo is shown in, and what its metadata says about the photographer.

Decoding turns pixels upright by the orientation tag (and keeps an upright copy of the
block); encoding names what a block reveals, so the user knows what is kept or removed.
"""

from PIL import Image, ImageOps

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

# What an EXIF block may say about the photographer, by tag: (name, IFD or None).
_EXIF_SUBJECTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "camera": ((0x010F, None), (0x0110, None)),  # Make, Model
    "date taken": ((0x0132, None), (0x9003, 0x8769)),  # DateTime, DateTimeOriginal
    "GPS location": ((0x8825, None),),  # GPSInfo IFD pointer
    "owner or author": ((0x013B, None), (0x8298, None), (0xA430, 0x8769)),  # Artist, Copyright, CameraOwnerName
}


def describe_exif(exif: bytes) -> list[str]:
    """What an EXIF block reveals, in words (e.g. ``["camera", "GPS location"]``)."""
    if not exif:
        return []
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        found: list[str] = []
        for subject, tags in _EXIF_SUBJECTS.items():
            if any((parsed.get_ifd(ifd) if ifd else parsed).get(tag) for tag, ifd in tags):
                found.append(subject)
        return found
    except Exception:  # a damaged block: say nothing rather than guess
        return []


def upright_exif(img: Image.Image) -> bytes:
    """The file's EXIF block with orientation 1 (the decoded pixels are upright); empty
    when there is none or it cannot be read."""
    try:
        if not img.getexif():
            return b""
        exif = Image.Exif()  # a copy: the image's own is what orientation is read from
        exif.load(img.getexif().tobytes())
        if EXIF_ORIENTATION_TAG in exif:
            exif[EXIF_ORIENTATION_TAG] = 1
        upright: bytes = exif.tobytes()
        return upright
    except Exception:  # damaged metadata never stops a decode
        return b""


def apply_orientation(img: Image.Image) -> tuple[Image.Image, str | None]:
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

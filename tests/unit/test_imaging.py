"""Tests for darkroom.imaging: every input is built in memory with Pillow/numpy."""

import io
import struct
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, features

from corpus import (  # the byte-level builders (PNG chunks, ICC profiles) live with the corpus
    linear_grey_profile,
    png_chunk,
    raw_png,
    save,
    sixteen_bit_png,
    swapped_rg_profile,
)
from darkroom import imaging
from darkroom.imaging import Decoded, ImageError, decode, encode_png, to_float_rgb
from darkroom.imaging.develop import develop

# --------------------------------------------------------------------------
# Builders


def corner_image() -> np.ndarray:
    """A 3 x 2 RGB image with six distinct colours (no symmetry)."""
    return np.array(
        [
            [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
            [[255, 255, 0], [0, 255, 255], [255, 0, 255]],
        ],
        dtype=np.uint8,
    )


def assert_output_contract(decoded: Decoded, channels: int) -> None:
    pixels = decoded.pixels
    assert isinstance(pixels, np.ndarray)
    assert pixels.dtype == np.uint8
    assert pixels.ndim == 3 and pixels.shape[2] == channels
    assert pixels.flags["C_CONTIGUOUS"]
    assert all(isinstance(note, str) and note.endswith(".") for note in decoded.notes)


# --------------------------------------------------------------------------
# Bad input


def test_empty_bytes():
    with pytest.raises(ImageError, match=r"^The file is empty\.$"):
        decode(b"")


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is plainly text and not a picture",
        np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
    ],
    ids=["text", "random", "eps"],
)
def test_non_image_bytes(data):
    with pytest.raises(ImageError) as caught:
        decode(data)
    message = str(caught.value)
    assert message.startswith("This file is not an image Darkroom can read (")
    assert "PNG" in message and "\n" not in message


def test_pdf_is_refused_even_though_pillow_knows_it():
    with pytest.raises(ImageError, match="not an image Darkroom can read"):
        decode(save(Image.new("RGB", (4, 4)), "PDF"))


def test_heic_gets_a_specific_reason():
    data = struct.pack(">I", 24) + b"ftypheic" + bytes(12)
    with pytest.raises(ImageError, match="HEIC"):
        decode(data)


@pytest.mark.parametrize("brand, kind", [(b"avif", "AVIF"), (b"avis", "AVIF"), (b"heic", "HEIC"), (b"mif1", "HEIC")])
def test_heif_kind_names_what_a_browser_may_decode(brand, kind):
    assert imaging.heif_kind(struct.pack(">I", 24) + b"ftyp" + brand + bytes(12)) == kind


def test_heif_kind_is_none_for_everything_else():
    assert imaging.heif_kind(save(Image.new("RGB", (2, 2)), "PNG")) is None
    assert imaging.heif_kind(struct.pack(">I", 24) + b"ftypisom" + bytes(12)) is None  # an MP4 video
    assert imaging.heif_kind(b"") is None


def test_from_rgba_drops_alpha_only_when_all_opaque():
    rgba = np.dstack([corner_image(), np.full((2, 3), 255, np.uint8)])
    opaque = imaging.from_rgba(rgba, "AVIF", ("decoded elsewhere.",))
    assert opaque.pixels.shape == (2, 3, 3) and opaque.notes == ("decoded elsewhere.",)
    np.testing.assert_array_equal(opaque.pixels, corner_image())
    rgba[0, 0, 3] = 10
    assert imaging.from_rgba(rgba, "AVIF").pixels.shape == (2, 3, 4)


def noisy(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [0.5, 0.9, 40])
def test_truncated_files(fmt, keep):
    data = save(Image.fromarray(noisy(64, 64)), fmt)
    cut = data[: int(len(data) * keep)] if keep < 1 else data[:keep]
    with pytest.raises(ImageError, match=r"^The image data is damaged or truncated\.$"):
        decode(cut)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_corrupt_png_body():
    data = bytearray(save(Image.fromarray(noisy(32, 32)), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 60] = bytes(40)
    with pytest.raises(ImageError, match="damaged or truncated"):
        decode(bytes(data))


def test_error_is_a_value_error_with_cause():
    with pytest.raises(ValueError) as caught:
        decode(b"\x89PNG\r\n\x1a\n" + bytes(10))
    assert isinstance(caught.value, ImageError)
    assert caught.value.__cause__ is not None


# --------------------------------------------------------------------------
# Size limits


def test_huge_png_header_is_refused_quickly():
    data = raw_png(50_000, 50_000, 8, 2, b"\x00" * 10)
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        decode(data)
    assert time.perf_counter() - start < 1.0
    assert str(caught.value) == "The image is 2500 MP; the limit is 100 MP."


def test_header_over_default_limit_names_the_dimensions():
    # 108 MP: above DEFAULT_MAX_PIXELS but below Pillow's own bomb error.
    data = raw_png(12_000, 9_000, 8, 2, b"\x00" * 10)
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        decode(data)
    assert time.perf_counter() - start < 1.0
    assert str(caught.value) == "The image is 12000 × 9000 pixels (108 MP); the limit is 100 MP."


def test_file_size_limit_is_checked_first():
    data = save(Image.fromarray(corner_image()), "PNG")
    assert decode(data, max_bytes=len(data)).pixels.shape == (2, 3, 3)
    with pytest.raises(ImageError, match=rf"^The file is {len(data)} bytes; the limit is {len(data) - 1} bytes\.$"):
        decode(data, max_bytes=len(data) - 1)
    with pytest.raises(ImageError, match=r"^The file is 600 MB; the limit is 512 MB\.$"):
        imaging.check_file_size(600 * 1024 * 1024)


@pytest.mark.parametrize("megapixels, megabytes, expected", [
    (None, None, (imaging.DEFAULT_MAX_PIXELS, imaging.DEFAULT_MAX_BYTES)),
    (12, 0.5, (12_000_000, 512 * 1024)),
    (1e-9, 1e-9, (1, 1)),
])
def test_limits_in_user_units(megapixels, megabytes, expected):
    assert imaging.limits(megapixels, megabytes) == expected


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "12", True])
def test_limits_refuse_nonsense(bad):
    with pytest.raises(ValueError, match="must be a positive number"):
        imaging.limits(bad, None)


def test_max_pixels_is_inclusive():
    data = save(Image.fromarray(corner_image()), "PNG")
    assert decode(data, max_pixels=6).pixels.shape == (2, 3, 3)
    with pytest.raises(ImageError, match=r"^The image is 3 × 2 pixels \(6 pixels\); the limit is 5 pixels\.$"):
        decode(data, max_pixels=5)


def test_pillow_bomb_limits_become_image_errors(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's warning (6 > 4) must not escape
        assert decode(save(Image.fromarray(corner_image()), "PNG")).pixels.shape == (2, 3, 3)
    with pytest.raises(ImageError, match=r"^The image is 9 pixels; the limit is 8 pixels\.$"):
        decode(save(Image.new("RGB", (3, 3)), "PNG"))


def test_pillow_globals_are_left_alone():
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError):
        decode(raw_png(50_000, 50_000, 8, 2, b"\x00"))
    decode(save(Image.new("RGB", (2, 2)), "PNG"))
    assert Image.MAX_IMAGE_PIXELS == before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_zero_size_images():
    # Pillow 10.2's readers refuse zero sizes themselves (ImageFile checks it),
    # so a zero-size file surfaces as damaged data; it must still be an ImageError.
    for data in (raw_png(0, 5, 8, 2, b""), raw_png(5, 0, 8, 2, b""), b"qoif" + struct.pack(">IIBB", 0, 5, 3, 0)):
        with pytest.raises(ImageError, match=r"^The image data is damaged or truncated\.$"):
            decode(data)
    # The header check behind it still names the size.
    with pytest.raises(ImageError, match=r"^The image has no pixels \(0 × 5\)\.$"):
        imaging.check_dimensions((0, 5), 100)


@pytest.mark.parametrize("size", [(1, 1), (1, 10_000), (10_000, 1)])
def test_extreme_shapes(size):
    width, height = size
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    decoded = decode(save(Image.fromarray(pixels), "PNG"))
    assert_output_contract(decoded, 3)
    np.testing.assert_array_equal(decoded.pixels, pixels)


# --------------------------------------------------------------------------
# Colour modes


def test_rgb_png_exact_and_writable():
    pixels = noisy(5, 7)
    decoded = decode(save(Image.fromarray(pixels), "PNG"))
    assert_output_contract(decoded, 3)
    assert decoded.format == "PNG"
    assert decoded.notes == ()
    np.testing.assert_array_equal(decoded.pixels, pixels)
    decoded.pixels[0, 0] = 1  # callers may edit in place


def test_rgba_png_keeps_alpha():
    pixels = np.dstack([noisy(4, 6), np.arange(24, dtype=np.uint8).reshape(4, 6) * 10])
    decoded = decode(save(Image.fromarray(pixels), "PNG"))
    assert_output_contract(decoded, 4)
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_mode_1():
    bits = np.array([[True, False, True], [False, False, True]])
    decoded = decode(save(Image.fromarray(bits), "PNG"))
    assert_output_contract(decoded, 3)
    np.testing.assert_array_equal(decoded.pixels[..., 0], np.where(bits, 255, 0))
    np.testing.assert_array_equal(decoded.pixels[..., 0], decoded.pixels[..., 2])


def test_mode_l_becomes_rgb():
    grey = np.array([[0, 64, 128], [192, 254, 255]], dtype=np.uint8)
    decoded = decode(save(Image.fromarray(grey), "PNG"))
    assert_output_contract(decoded, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded.pixels[..., channel], grey)


def test_mode_la_becomes_rgba():
    img = Image.merge("LA", (Image.new("L", (2, 1), 90), Image.fromarray(np.array([[0, 200]], np.uint8))))
    decoded = decode(save(img, "PNG"))
    assert_output_contract(decoded, 4)
    np.testing.assert_array_equal(decoded.pixels[0], [[90, 90, 90, 0], [90, 90, 90, 200]])


def palette_image() -> Image.Image:
    img = Image.fromarray(np.array([[0, 1, 2]], dtype=np.uint8), "P")
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    return img


def test_palette_without_transparency_is_rgb():
    decoded = decode(save(palette_image(), "PNG"))
    assert_output_contract(decoded, 3)
    np.testing.assert_array_equal(decoded.pixels[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


def test_palette_with_transparent_index():
    decoded = decode(save(palette_image(), "PNG", transparency=1))
    assert_output_contract(decoded, 4)
    np.testing.assert_array_equal(decoded.pixels[0, :, 3], [255, 0, 255])
    np.testing.assert_array_equal(decoded.pixels[0, :, :3], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


def test_palette_with_rgba_entries():
    img = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), "P")
    img.putpalette([255, 0, 0, 10, 0, 255, 0, 200], "RGBA")
    decoded = decode(save(img, "PNG"))
    assert_output_contract(decoded, 4)
    np.testing.assert_array_equal(decoded.pixels[0], [[255, 0, 0, 10], [0, 255, 0, 200]])


def test_grey_and_rgb_transparent_colour_key():
    grey = Image.fromarray(np.array([[5, 9]], dtype=np.uint8))
    decoded = decode(save(grey, "PNG", transparency=9))
    np.testing.assert_array_equal(decoded.pixels[0], [[5, 5, 5, 255], [9, 9, 9, 0]])
    rgb = Image.fromarray(np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.uint8))
    decoded = decode(save(rgb, "PNG", transparency=(4, 5, 6)))
    np.testing.assert_array_equal(decoded.pixels[0], [[1, 2, 3, 255], [4, 5, 6, 0]])


def test_cmyk_jpeg_adobe_inverted():
    cmyk = np.zeros((16, 32, 4), dtype=np.uint8)
    cmyk[:, 8:16] = (0, 255, 255, 0)  # red
    cmyk[:, 16:24] = (0, 0, 0, 255)  # black
    cmyk[:, 24:] = (255, 0, 255, 0)  # green
    data = save(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)
    assert b"Adobe" in data  # Pillow writes inverted CMYK with an Adobe marker
    decoded = decode(data)
    assert_output_contract(decoded, 3)
    assert decoded.format == "JPEG"
    assert "CMYK converted to RGB." in decoded.notes
    centres = decoded.pixels[8, [4, 12, 20, 28]].astype(int)
    np.testing.assert_allclose(centres, [[255, 255, 255], [255, 0, 0], [0, 0, 0], [0, 255, 0]], atol=6)


def test_cmyk_tiff_exact():
    img = Image.new("CMYK", (2, 1), (0, 255, 255, 0))
    img.putpixel((1, 0), (0, 0, 0, 0))
    decoded = decode(save(img, "TIFF"))
    np.testing.assert_array_equal(decoded.pixels[0], [[255, 0, 0], [255, 255, 255]])
    assert decoded.notes == ("CMYK converted to RGB.",)


GREY16 = np.array([[0, 32768, 65535, 257, 255, 65280]], dtype=np.uint16)
GREY16_AS_8 = [0, 128, 255, 1, 0, 255]


def test_sixteen_bit_grey_png_is_scaled_not_clipped():
    data = save(Image.fromarray(GREY16), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I"  # what Pillow 10.2 opens it as
    decoded = decode(data)
    assert_output_contract(decoded, 3)
    np.testing.assert_array_equal(decoded.pixels[0, :, 0], GREY16_AS_8)
    np.testing.assert_array_equal(decoded.pixels[..., 0], decoded.pixels[..., 1])
    assert "16-bit image reduced to 8 bits per channel." in decoded.notes


def test_sixteen_bit_grey_png_with_transparent_value():
    data = sixteen_bit_png(GREY16[..., np.newaxis], 0, png_chunk(b"tRNS", struct.pack(">H", 32768)))
    decoded = decode(data)
    assert_output_contract(decoded, 4)
    np.testing.assert_array_equal(decoded.pixels[0, :, 3], [255, 0, 255, 255, 255, 255])
    np.testing.assert_array_equal(decoded.pixels[0, :, 0], GREY16_AS_8)


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_sixteen_bit_tiff(mode):
    img = Image.frombytes(mode, (6, 1), GREY16.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    data = save(img, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == mode
    decoded = decode(data)
    np.testing.assert_array_equal(decoded.pixels[0, :, 2], GREY16_AS_8)
    assert "16-bit image reduced to 8 bits per channel." in decoded.notes


@pytest.mark.parametrize(
    ("colour_type", "channels", "expected_channels"),
    [(2, 3, 3), (6, 4, 4), (4, 2, 4)],
    ids=["rgb48", "rgba64", "la32"],
)
def test_sixteen_bit_colour_png(colour_type, channels, expected_channels):
    samples = np.array([[[65535, 0, 32768, 65535][:channels], [257, 65280, 0, 0][:channels]]], dtype=np.uint16)
    decoded = decode(sixteen_bit_png(samples, colour_type))
    assert_output_contract(decoded, expected_channels)
    high_bytes = (samples >> 8).astype(np.uint8)
    if channels == 2:
        high_bytes = high_bytes[..., [0, 0, 0, 1]]
    np.testing.assert_array_equal(decoded.pixels, high_bytes)
    assert "16-bit image reduced to 8 bits per channel." in decoded.notes


def test_eight_bit_png_has_no_depth_note():
    assert decode(save(Image.new("RGB", (2, 2)), "PNG")).notes == ()


def test_32_bit_integer_tiff_is_stretched():
    values = np.array([[-100, 0, 100, 1000, 100_000]], dtype=np.int32)
    decoded = decode(save(Image.fromarray(values), "TIFF"))
    assert_output_contract(decoded, 3)
    expected = np.rint((values - -100) * 255 / 100_100).astype(np.uint8)
    np.testing.assert_array_equal(decoded.pixels[0, :, 0], expected[0])
    assert any("32-bit integer" in note for note in decoded.notes)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0, 0.25], [0, 128, 255, 64]),
        ([0.0, 10.0, 200.0, 255.0], [0, 10, 200, 255]),
        ([-1.0, 0.0, 1.0, 3.0], [0, 64, 128, 255]),
        ([np.nan, 0.0, 1.0, np.inf], [0, 0, 255, 255]),
    ],
    ids=["unit", "levels", "stretch", "non-finite"],
)
def test_float_tiff(values, expected):
    img = Image.fromarray(np.array([values], dtype=np.float32))
    assert img.mode == "F"
    decoded = decode(save(img, "TIFF"))
    assert_output_contract(decoded, 3)
    np.testing.assert_array_equal(decoded.pixels[0, :, 1], expected)
    assert any("Floating-point" in note for note in decoded.notes)


def test_pa_tiff_becomes_rgba():
    img = Image.new("PA", (2, 1))
    img.putpalette([10, 20, 30, 40, 50, 60])
    img.putpixel((0, 0), (0, 255))
    img.putpixel((1, 0), (1, 77))
    decoded = decode(save(img, "TIFF"))
    assert_output_contract(decoded, 4)
    np.testing.assert_array_equal(decoded.pixels[0], [[10, 20, 30, 255], [40, 50, 60, 77]])


def test_tiff_with_premultiplied_alpha_is_unpremultiplied():
    img = Image.fromarray(np.array([[[100, 50, 0, 128], [0, 0, 0, 0]]], dtype=np.uint8))
    data = save(img, "TIFF")
    # Pillow writes ExtraSamples=2 (straight alpha); patch it to 1 (premultiplied).
    entry = struct.pack("<HHII", 338, 3, 1, 2)
    assert data.count(entry) == 1
    data = data.replace(entry, struct.pack("<HHII", 338, 3, 1, 1))
    decoded = decode(data)
    # 50 * 255 / 128 = 99.6: Pillow truncates, so allow one level.
    np.testing.assert_allclose(decoded.pixels[0, 0].astype(int), [199, 100, 0, 128], atol=1)


def test_lab_tiff_becomes_rgb():
    img = Image.new("LAB", (2, 1), (255, 128, 128))
    img.putpixel((1, 0), (0, 128, 128))
    decoded = decode(save(img, "TIFF"))
    assert_output_contract(decoded, 3)
    np.testing.assert_allclose(decoded.pixels[0].astype(int), [[255] * 3, [0] * 3], atol=2)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("RGBa", (100, 50, 0, 128), [199, 100, 0, 128]),
        ("La", (100, 128), [199, 199, 199, 128]),
        ("YCbCr", (76, 85, 255), [254, 0, 0]),
        ("HSV", (0, 255, 255), [255, 0, 0]),
        ("RGBX", (1, 2, 3, 0), [1, 2, 3]),
    ],
)
def test_modes_that_no_reader_produces(mode, value, expected):
    # No Pillow 10.2 file reader yields these modes (TIFF unpremultiplies and
    # its YCbCr writer is broken), so exercise the conversion step directly.
    final, notes = develop(Image.new(mode, (2, 2), value))
    assert final.mode == ("RGBA" if len(expected) == 4 else "RGB")
    np.testing.assert_allclose(np.asarray(final)[1, 1].astype(int), expected, atol=1)
    assert notes == []


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PPM", "WEBP", "ICO", "GIF"])
def test_other_formats(fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("no WebP support in this Pillow build")
    pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    pixels[:, 8:] = (200, 40, 10)
    params = {"lossless": True} if fmt == "WEBP" else {}
    decoded = decode(save(Image.fromarray(pixels), fmt, **params))
    assert decoded.format == fmt
    assert_output_contract(decoded, decoded.pixels.shape[2])
    np.testing.assert_allclose(decoded.pixels[..., :3].astype(int), pixels, atol=8)


# --------------------------------------------------------------------------
# Colour profiles


def test_rgb_profile_is_converted_to_srgb():
    pixels = np.array([[[255, 0, 0], [0, 0, 255], [128, 0, 0]]], dtype=np.uint8)
    decoded = decode(save(Image.fromarray(pixels), "PNG", icc_profile=swapped_rg_profile()))
    # Red in the swapped profile is sRGB's green primary, and vice versa.
    np.testing.assert_allclose(decoded.pixels[0, :2].astype(int), [[0, 255, 0], [0, 0, 255]], atol=2)
    assert decoded.pixels[0, 2, 0] <= 2 and 120 <= decoded.pixels[0, 2, 1] <= 136
    assert "Converted from the embedded colour profile “Swapped RG test” to sRGB." in decoded.notes


def test_profile_conversion_keeps_alpha():
    pixels = np.array([[[255, 0, 0, 77]]], dtype=np.uint8)
    decoded = decode(save(Image.fromarray(pixels), "PNG", icc_profile=swapped_rg_profile()))
    assert_output_contract(decoded, 4)
    np.testing.assert_allclose(decoded.pixels[0, 0].astype(int), [0, 255, 0, 77], atol=2)


def test_grey_profile_is_converted_to_srgb():
    grey = np.array([[0, 128, 255]], dtype=np.uint8)
    decoded = decode(save(Image.fromarray(grey), "PNG", icc_profile=linear_grey_profile()))
    assert_output_contract(decoded, 3)
    # Linear 128/255 is about 188 in sRGB encoding.
    assert decoded.pixels[0, 0, 0] <= 1 and decoded.pixels[0, 2, 0] >= 254
    assert 183 <= decoded.pixels[0, 1, 0] <= 193
    assert any(note.startswith("Converted from the embedded colour profile") for note in decoded.notes)


def test_srgb_profile_leaves_pixels_alone():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = noisy(4, 4)
    decoded = decode(save(Image.fromarray(pixels), "JPEG", quality=100, icc_profile=srgb))
    plain = decode(save(Image.fromarray(pixels), "JPEG", quality=100))
    np.testing.assert_array_equal(decoded.pixels, plain.pixels)
    assert decoded.notes == ()


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (b"definitely not an ICC profile", "it could not be read"),
        (b"\x00" * 200, "it could not be read"),
        (linear_grey_profile(), "it is a GRAY profile but the image is RGB"),
    ],
    ids=["garbage", "zeros", "wrong-space"],
)
def test_bad_profiles_are_ignored(profile, reason):
    pixels = noisy(3, 3)
    decoded = decode(save(Image.fromarray(pixels), "PNG", icc_profile=profile))
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert decoded.notes == (f"Embedded colour profile ignored ({reason}).",)


def test_profile_ignored_without_imagecms(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL.ImageCms", None)
    pixels = noisy(3, 3)
    decoded = decode(save(Image.fromarray(pixels), "PNG", icc_profile=swapped_rg_profile()))
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert len(decoded.notes) == 1 and decoded.notes[0].startswith("Embedded colour profile ignored (")


# --------------------------------------------------------------------------
# EXIF orientation

# What a viewer shows for each orientation, from the EXIF definition of
# where the stored row 0 / column 0 end up.
DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def with_orientation(img: Image.Image, fmt: str, orientation: int, **params) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(img, fmt, exif=exif, **params)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png_exact(orientation):
    stored = corner_image()
    decoded = decode(with_orientation(Image.fromarray(stored), "PNG", orientation))
    np.testing.assert_array_equal(decoded.pixels, DISPLAYED[orientation](stored))
    assert decoded.pixels.flags["C_CONTIGUOUS"]
    notes = [note for note in decoded.notes if "EXIF orientation" in note]
    assert notes == ([] if orientation == 1 else [imaging.ORIENTATION_NOTES[orientation]])
    assert f"EXIF orientation {orientation}." in "".join(notes) or orientation == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_jpeg(orientation):
    stored = np.kron(corner_image(), np.ones((16, 16, 1), dtype=np.uint8))  # 48 x 32 blocks
    decoded = decode(with_orientation(Image.fromarray(stored), "JPEG", orientation, quality=95))
    expected = DISPLAYED[orientation](stored)
    assert decoded.pixels.shape == expected.shape
    np.testing.assert_allclose(decoded.pixels[8::16, 8::16].astype(int), expected[8::16, 8::16], atol=12)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_does_not_stop_decoding():
    pixels = noisy(3, 4)
    data = save(Image.fromarray(pixels), "PNG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f garbage")
    decoded = decode(data)
    np.testing.assert_array_equal(decoded.pixels, pixels)


# --------------------------------------------------------------------------
# Animation


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_uses_first_frame(fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("no WebP support in this Pillow build")
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    frames = [Image.new("RGB", (8, 6), colour) for colour in colours]
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **params)
    decoded = decode(data)
    assert decoded.format == fmt
    assert decoded.pixels.shape[:2] == (6, 8)
    np.testing.assert_array_equal(decoded.pixels[..., :3], np.broadcast_to(colours[0], (6, 8, 3)))
    assert f"Animated {fmt}: used the first of 4 frames." in decoded.notes


def test_multi_page_tiff_uses_first_page():
    pages = [Image.new("L", (3, 2), level) for level in (10, 20, 30)]
    decoded = decode(save(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    np.testing.assert_array_equal(decoded.pixels, np.full((2, 3, 3), 10, dtype=np.uint8))
    assert "Multi-page TIFF: used the first of 3 pages." in decoded.notes


def test_gif_transparency_on_first_frame():
    img = palette_image()
    data = save(img, "GIF", transparency=2)
    decoded = decode(data)
    assert_output_contract(decoded, 4)
    np.testing.assert_array_equal(decoded.pixels[0, :, 3], [255, 255, 0])


def test_still_image_has_no_frame_note():
    assert decode(save(Image.new("RGB", (2, 2)), "GIF")).notes == ()


# --------------------------------------------------------------------------
# encode_png and to_float_rgb


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)])
def test_encode_png_round_trip(shape):
    pixels = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(pixels)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == ("L" if len(shape) == 2 else {3: "RGB", 4: "RGBA"}[shape[2]])
        np.testing.assert_array_equal(np.asarray(img), pixels)


def test_encode_png_accepts_non_contiguous_views():
    pixels = np.random.default_rng(6).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    view = pixels[::2, ::-1]
    assert not view.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(decode(encode_png(view)).pixels, view)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4, 5), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros(4, np.uint8),
    ],
    ids=["float", "five-channels", "empty", "1d"],
)
def test_encode_png_rejects_bad_arrays(bad):
    with pytest.raises(ValueError):
        encode_png(bad)


def test_to_float_rgb_rgb_and_rgba():
    rgba = np.array([[[0, 128, 255, 7], [1, 2, 3, 0]]], dtype=np.uint8)
    for pixels in (rgba, rgba[..., :3]):
        out = to_float_rgb(pixels)
        assert out.dtype == np.float32 and out.shape == (1, 2, 3) and out.flags["C_CONTIGUOUS"]
        assert out[0, 0, 0] == 0.0 and out[0, 0, 2] == 1.0
        np.testing.assert_allclose(out[0, 0, 1], 128 / 255, rtol=1e-6)
        np.testing.assert_allclose(out[0, 1], np.array([1, 2, 3]) / 255, rtol=1e-6)


def test_to_float_rgb_full_range():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = to_float_rgb(np.dstack([levels] * 3))
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_array_equal(np.rint(out[..., 0] * 255).astype(np.uint8), levels)


@pytest.mark.parametrize("shape", [(3, 4), (3, 4, 1), (3, 4, 2)])
def test_to_float_rgb_grey(shape):
    grey = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    out = to_float_rgb(grey)
    assert out.shape == (3, 4, 3)
    first = grey if grey.ndim == 2 else grey[..., 0]
    for channel in range(3):
        np.testing.assert_allclose(out[..., channel], first / 255, rtol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 5), np.uint8), np.zeros(3, np.uint8)])
def test_to_float_rgb_rejects_bad_arrays(bad):
    with pytest.raises(ValueError):
        to_float_rgb(bad)


def test_decode_then_float_pipeline():
    decoded = decode(save(palette_image(), "PNG", transparency=0))
    out = to_float_rgb(decoded.pixels)
    np.testing.assert_array_equal(out[0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])

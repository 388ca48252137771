"""The bad-input corpus: files users drop, made in memory (no binary blobs in git).

Each :class:`Case` is one kind of input with the outcome Darkroom owes the user: a
result (``"result"``), possibly with a note saying what was done to the file, or one
clear sentence saying why not (``"error"``). The CLI test (tests/unit/test_corpus.py)
and the page test (tests/e2e/test_corpus_page.py) run every case.

    .venv/bin/python tests/corpus.py OUT_DIR    # writes every case to OUT_DIR, to try by hand

Also home of the byte-level builders (PNG chunks, ICC profiles, EXIF) the imaging
tests share.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# --------------------------------------------------------------------------
# Builders


def save(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes, *extra: bytes) -> bytes:
    """A PNG written byte by byte, for depths and sizes Pillow will not write."""
    return raw_png_compressed(width, height, bit_depth, colour_type, zlib.compress(rows), *extra)


def raw_png_compressed(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes, *extra: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + b"".join(extra)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def sixteen_bit_png(samples: np.ndarray, colour_type: int, *extra: bytes) -> bytes:
    """A 16-bit PNG from an (H, W, C) uint16 array (no filtering)."""
    height, width = samples.shape[:2]
    rows = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(height))
    return raw_png(width, height, 16, colour_type, rows, *extra)


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def icc_profile(colour_space: bytes, description: str, tags: dict[bytes, bytes]) -> bytes:
    """A minimal ICC v2 display profile (header, tag table, tags)."""
    desc = description.encode("ascii") + b"\x00"
    tags = {
        b"desc": b"desc" + bytes(4) + struct.pack(">I", len(desc)) + desc + bytes(8) + bytes(3) + bytes(67),
        b"cprt": b"text" + bytes(4) + b"No copyright\x00",
        b"wtpt": b"XYZ " + bytes(4) + s15(0.9642) + s15(1.0) + s15(0.8249),
        **tags,
    }
    first = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags.items():
        table += struct.pack(">4sII", signature, first + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = (
        struct.pack(">I4sI4s4s4s", first + len(body), b"lcms", 0x02100000, b"mntr", colour_space, b"XYZ ")
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)


def gamma_curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))


# D50-adapted sRGB colorants; the "swapped" profile exchanges red and green.
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)


def swapped_rg_profile() -> bytes:
    return icc_profile(
        b"RGB ",
        "Swapped RG test",
        {
            b"rXYZ": xyz(*SRGB_GREEN),
            b"gXYZ": xyz(*SRGB_RED),
            b"bXYZ": xyz(*SRGB_BLUE),
            b"rTRC": gamma_curve(2.2),
            b"gTRC": gamma_curve(2.2),
            b"bTRC": gamma_curve(2.2),
        },
    )


def linear_grey_profile() -> bytes:
    return icc_profile(b"GRAY", "Linear grey test", {b"kTRC": gamma_curve(1.0)})


def photo(height: int = 48, width: int = 64, seed: int = 3) -> np.ndarray:
    """uint8 (H, W, 3): a smooth gradient with a bright disc and a little noise, so
    JPEG and WebP have something real to compress and orientation is visible."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / max(width - 1, 1), y / max(height - 1, 1), 1 - x / max(width - 1, 1)], axis=-1) * 200
    disc = (x - width * 0.3) ** 2 + (y - height * 0.35) ** 2 < (min(height, width) * 0.2) ** 2
    rgb[disc] = 250
    noise = np.random.default_rng(seed).normal(0, 4, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def frames(count: int, size: tuple[int, int] = (32, 24)) -> list[Image.Image]:
    return [Image.fromarray(np.roll(photo(size[1], size[0]), i * 5, axis=1)) for i in range(count)]


def animated(fmt: str, count: int = 3) -> bytes:
    first, *rest = frames(count)
    return save(first, fmt, save_all=True, append_images=rest, duration=100, loop=0)


def adobe_transform(jpeg: bytes, transform: int) -> bytes:
    """``jpeg`` with the colour transform flag of its Adobe APP14 segment set: 2 marks
    the four channels as YCCK (libjpeg writes CMYK JPEGs with 0)."""
    at = jpeg.index(b"Adobe")  # APP14 payload: "Adobe", version (2), flags0 (2), flags1 (2), transform (1)
    out = bytearray(jpeg)
    out[at + 11] = transform
    return bytes(out)


def jpeg_with_header_size(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims ``width`` x ``height``."""
    data = bytearray(save(Image.fromarray(photo(16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_bomb(side: int) -> bytes:
    """A real ``side`` x ``side`` 1-bit PNG of zeros: a few hundred KB that inflate to
    ``side**2 / 8`` bytes (312 MB at 50,000)."""
    row = bytes(1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return raw_png_compressed(side, side, 1, 0, idat)


def avif() -> bytes:
    """A real AVIF (written by pillow-avif-plugin's libavif; Pillow 10.2 has no AVIF)."""
    import pillow_avif  # noqa: F401  (registers the AVIF writer with Pillow)

    return save(Image.fromarray(photo()), "AVIF", quality=80)


def isobmff(brand: bytes) -> bytes:
    """The start of an ISO-BMFF still image (HEIC, AVIF): an ftyp box and a stub."""
    return struct.pack(">I", 24) + b"ftyp" + brand + bytes(4) + brand + b"mif1" + struct.pack(">I", 8) + b"meta"


# --------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class Case:
    """One kind of input and what the user must get from it.

    ``expect`` is ``"result"`` or ``"error"``; ``says`` is a phrase the error, or one
    of the result's notes, must contain (case-insensitive; empty: no requirement).
    ``in_page`` overrides both for the page, whose browser decodes more (AVIF).
    """

    name: str
    filename: str
    make: Callable[[], bytes]
    expect: str
    says: str = ""
    in_page: tuple[str, str] | None = None

    def outcome(self, host: str) -> tuple[str, str]:
        """``(expect, says)`` on ``host`` (``"cli"`` or ``"page"``)."""
        return self.in_page if host == "page" and self.in_page else (self.expect, self.says)


def _png(pixels, **params) -> Callable[[], bytes]:
    return lambda: save(Image.fromarray(pixels() if callable(pixels) else pixels), "PNG", **params)


def _truncated(fmt: str, keep: float) -> Callable[[], bytes]:
    def make() -> bytes:
        data = save(Image.fromarray(photo()), fmt)
        return data[: int(len(data) * keep)]
    return make


def _palette_with_transparency() -> bytes:
    img = Image.fromarray(photo()).quantize(16)
    return save(img, "PNG", transparency=0)


def _grey_alpha() -> bytes:
    grey = photo()[..., 0]
    alpha = np.tile(np.linspace(0, 255, grey.shape[1], dtype=np.uint8), (grey.shape[0], 1))
    return save(Image.fromarray(np.dstack([grey, alpha]), "LA"), "PNG")


def _cmyk_jpeg() -> bytes:
    return save(Image.fromarray(photo()).convert("CMYK"), "JPEG", quality=90)


def _orientation(n: int) -> Callable[[], bytes]:
    return lambda: save(Image.fromarray(photo()), "JPEG", quality=90, exif=exif_with_orientation(n))


def _float_tiff() -> bytes:
    return save(Image.fromarray(photo()[..., 1].astype(np.float32) / 255, "F"), "TIFF")


def _corrupt_png() -> bytes:
    data = bytearray(save(Image.fromarray(photo()), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20:idat + 60] = bytes(40)
    return bytes(data)


CASES: tuple[Case, ...] = (
    # Not images, or not whole ones
    Case("zero-bytes", "empty.jpg", lambda: b"", "error", "empty"),
    Case("truncated-jpeg", "cut.jpg", _truncated("JPEG", 0.5), "error", "damaged or truncated"),
    Case("truncated-png", "cut.png", _truncated("PNG", 0.5), "error", "damaged or truncated"),
    Case("truncated-webp", "cut.webp", _truncated("WEBP", 0.5), "error", "damaged or truncated"),
    Case("corrupt-png-body", "corrupt.png", _corrupt_png, "error", "damaged or truncated"),
    Case("random-bytes", "noise.jpg",
         lambda: np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "error", "not an image"),
    Case("text-as-jpeg", "notes.jpg", lambda: b"Shopping list: eggs, milk, film.\n" * 20, "error", "not an image"),
    Case("html-as-png", "page.png", lambda: b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
         "error", "not an image"),
    Case("svg-as-png", "drawing.png",
         lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
         "error", "not an image"),
    Case("svg", "drawing.svg",
         lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"></svg>',
         "error", "not an image"),
    Case("pdf-as-jpeg", "scan.jpg", lambda: save(Image.new("RGB", (8, 8), "white"), "PDF"), "error", "not an image"),
    Case("heic", "IMG_0001.heic", lambda: isobmff(b"heic"), "error", "HEIC"),
    Case("avif-damaged", "broken.avif", lambda: isobmff(b"avif"), "error", "AVIF"),
    Case("avif", "photo.avif", avif, "error", "AVIF", in_page=("result", "AVIF decoded by the browser")),
    # Too big, by header or by inflation
    Case("png-bomb-50000px", "bomb.png", lambda: png_bomb(50_000), "error", "limit"),
    Case("jpeg-header-60000px", "huge.jpg", lambda: jpeg_with_header_size(60_000, 60_000), "error", "limit"),
    # Wrong extension, right content
    Case("png-named-jpg", "really-a-png.jpg", _png(photo), "result"),
    Case("jpeg-named-png", "really-a-jpeg.png", lambda: save(Image.fromarray(photo()), "JPEG"), "result"),
    # Colour modes and depths
    Case("cmyk-jpeg", "print.jpg", _cmyk_jpeg, "result"),
    Case("ycck-jpeg", "print-ycck.jpg", lambda: adobe_transform(_cmyk_jpeg(), 2), "result"),
    Case("rgb-16bit-png", "deep.png",
         lambda: sixteen_bit_png(photo().astype(np.uint16) * 257, 2), "result", "16-bit"),
    Case("rgba-16bit-png", "deep-alpha.png",
         lambda: sixteen_bit_png(
             np.dstack([photo(), np.full(photo().shape[:2], 200, np.uint8)]).astype(np.uint16) * 257, 6),
         "result", "16-bit"),
    Case("grey-16bit-png", "deep-grey.png", lambda: sixteen_bit_png(photo()[..., :1].astype(np.uint16) * 257, 0),
         "result", "16-bit"),
    Case("palette-png-transparency", "palette.png", _palette_with_transparency, "result"),
    Case("grey-alpha-png", "grey-alpha.png", _grey_alpha, "result"),
    Case("bitonal-png", "fax.png", _png(lambda: photo()[..., 0] > 128), "result"),
    Case("cmyk-tiff", "print.tiff", lambda: save(Image.fromarray(photo()).convert("CMYK"), "TIFF"), "result"),
    Case("float-tiff", "hdr.tiff", _float_tiff, "result"),
    Case("bmp", "old.bmp", lambda: save(Image.fromarray(photo()), "BMP"), "result"),
    Case("progressive-jpeg", "web.jpg", lambda: save(Image.fromarray(photo()), "JPEG", progressive=True), "result"),
    Case("icc-display-profile", "wide-gamut.jpg",
         lambda: save(Image.fromarray(photo()), "JPEG", icc_profile=swapped_rg_profile()), "result", "sRGB"),
    # Animation: the first frame, said so
    Case("animated-gif", "loop.gif", lambda: animated("GIF"), "result", "first of 3 frames"),
    Case("animated-webp", "loop.webp", lambda: animated("WEBP"), "result", "first of 3 frames"),
    Case("apng", "loop.png", lambda: animated("PNG"), "result", "first of 3 frames"),
    # Odd shapes
    Case("one-pixel", "dot.png", _png(lambda: photo(1, 1)), "result"),
    Case("1x10000", "line-tall.png", _png(lambda: photo(10_000, 1)), "result"),
    Case("10000x1", "line-wide.png", _png(lambda: photo(1, 10_000)), "result"),
    # Every EXIF orientation (1 needs no change, so no note)
    Case("exif-orientation-1", "o1.jpg", _orientation(1), "result"),
    *(Case(f"exif-orientation-{n}", f"o{n}.jpg", _orientation(n), "result", "EXIF orientation") for n in range(2, 9)),
)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: tests/corpus.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        (out / f"{case.name}--{case.filename}").write_bytes(case.make())
    print(f"{len(CASES)} cases written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Fuzzing the decode and pre-processing path with Hypothesis: mutated real files in
every readable format must decode to the documented array or raise ImageError (one
line), and what decodes must survive each model's pre-processing. Nothing else may
escape, and nothing may hang (Hypothesis' deadline).

The CI run is bounded (``DARKROOM_FUZZ_EXAMPLES``, default 3000, about 20 s
here); a longer hunt is the same test with a bigger number, e.g.

    DARKROOM_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/unit/test_fuzz_decode.py -s
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from corpus import animated, photo, save
from darkroom import imaging, models
from darkroom.cutout import single_mask
from darkroom.imaging import ImageError
from darkroom.tools.find_faces import blazeface

EXAMPLES = int(os.environ.get("DARKROOM_FUZZ_EXAMPLES", "3000"))


def _seeds() -> dict[str, bytes]:
    """Small valid files, one per format and a few modes, to mutate."""
    rgb = Image.fromarray(photo(20, 24))
    rgba = Image.fromarray(np.dstack([photo(20, 24), np.full((20, 24), 128, np.uint8)]))
    return {
        "png": save(rgb, "PNG"),
        "png-rgba": save(rgba, "PNG"),
        "png-palette": save(rgb.quantize(8), "PNG", transparency=0),
        "jpeg": save(rgb, "JPEG", quality=80),
        "jpeg-progressive": save(rgb, "JPEG", progressive=True),
        "jpeg-cmyk": save(rgb.convert("CMYK"), "JPEG"),
        "gif": animated("GIF", 2),
        "webp": save(rgb, "WEBP"),
        "webp-animated": animated("WEBP", 2),
        "tiff": save(rgb, "TIFF"),
        "tiff-16bit": save(Image.fromarray(photo(20, 24)[..., 0].astype(np.uint16) * 257), "TIFF"),
        "bmp": save(rgb, "BMP"),
        "ico": save(rgb, "ICO"),
        "ppm": save(rgb, "PPM"),
        "qoi-header": b"qoif" + struct.pack(">IIBB", 24, 20, 3, 0) + bytes(40) + bytes(7) + b"\x01",
    }


SEEDS = _seeds()
# The shipped ISNet takes the decoded pixels as they are; a user's ISNet-shaped float
# model gets them resized and normalised on the host.
ISNET = models.load_manifest()["isnet-quint8"]
USER_ISNET = dataclasses.replace(ISNET, inputs=(models.TensorSpec("input", (1, 3, 1024, 1024), "float32"),))


@st.composite
def mutated_files(draw) -> bytes:
    """A seed file with a few byte flips, overwrites, insertions, deletions or a cut."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate", "header-int"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(chunk)] = chunk
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "header-int" and len(data) > 32:
            # Sizes, offsets and counts live in the first bytes of every format.
            at = draw(st.integers(0, 28))
            data[at:at + 4] = struct.pack(">I", draw(st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                                                       draw(st.integers(0, 2**32 - 1))])))
    return bytes(data)


def check_decoded(decoded: imaging.Decoded) -> None:
    pixels = decoded.pixels
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels.flags["C_CONTIGUOUS"] and min(pixels.shape[:2]) >= 1
    assert all(isinstance(note, str) and "\n" not in note for note in decoded.notes)


@settings(max_examples=EXAMPLES, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_mutated_files_decode_or_say_why(data):
    try:
        # A tighter pixel limit than the default keeps single examples fast; the
        # limit path itself is part of what is fuzzed.
        decoded = imaging.decode(data, max_pixels=4_000_000)
    except ImageError as exc:
        message = str(exc)
        assert message and "\n" not in message and message.endswith(".")
        return
    check_decoded(decoded)
    floats = imaging.to_float_rgb(decoded.pixels)
    assert floats.dtype == np.float32 and np.isfinite(floats).all()
    (pixels,) = single_mask.prepare(ISNET, decoded.pixels, {}).values()
    assert pixels.shape == (1, *decoded.pixels.shape[:2], 3) and pixels.dtype == np.uint8
    assert pixels.flags["C_CONTIGUOUS"]
    (tensor,) = single_mask.prepare(USER_ISNET, decoded.pixels, {}).values()
    assert tensor.shape == tuple(USER_ISNET.inputs[0].shape) and np.isfinite(tensor).all()
    square, _ = blazeface.prepare_square(decoded.pixels)
    assert square.shape[:2] == (blazeface.INPUT_SIZE, blazeface.INPUT_SIZE)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_is_a_real_file_of_its_format(name):
    """The fuzzer starts from files that decode (else it would only test the error path)."""
    if name == "qoi-header":
        with pytest.raises(ImageError):
            imaging.decode(SEEDS[name])  # a header and no pixels: the truncated-data path
        return
    check_decoded(imaging.decode(SEEDS[name]))

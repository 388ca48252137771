"""Convert and the encoding every host uses: formats, quality, metadata kept or removed,
transparency in JPEG, and the CLI picking the format from OUT's extension."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from darkroom import cli, imaging
from darkroom.imaging import Encoding
from helpers import psnr, run_tool


def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def with_exif(pixels: np.ndarray, orientation: int = 1) -> bytes:
    """A JPEG with camera, date, GPS and the given orientation in its EXIF."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "Canon", "EOS 5D", "2024:05:01 10:00:00"
    exif[imaging.EXIF_ORIENTATION_TAG] = orientation
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def test_decode_keeps_the_exif_upright_and_says_what_it_reveals():
    decoded = imaging.decode(with_exif(np.zeros((10, 20, 3), np.uint8), orientation=6))
    assert decoded.pixels.shape == (20, 10, 3)  # rotated by its orientation
    assert imaging.describe_exif(decoded.exif) == ["camera", "date taken", "GPS location"]
    kept = Image.Exif()
    kept.load(decoded.exif)
    assert kept[imaging.EXIF_ORIENTATION_TAG] == 1  # the pixels are upright already


def test_files_without_exif_or_with_a_damaged_block_have_none():
    assert imaging.decode(imaging.encode_png(np.zeros((4, 4, 3), np.uint8))).exif == b""
    assert imaging.describe_exif(b"Exif\x00\x00garbage") == []


@pytest.mark.parametrize("name", ["jpeg", "webp", "png"])
def test_each_format_writes_a_file_of_its_kind(name):
    data, mime, _ = imaging.encode(photo(), Encoding(name, 85))
    img = Image.open(io.BytesIO(data))
    assert img.format == imaging.OUTPUT_FORMATS[name][0] and mime == imaging.OUTPUT_FORMATS[name][1]
    quality = psnr(np.asarray(img.convert("RGB")), photo())
    assert quality == float("inf") if name == "png" else quality > 30


def test_lower_quality_makes_a_smaller_file_with_lower_fidelity():
    for name in ("jpeg", "webp"):
        small, _, _ = imaging.encode(photo(), Encoding(name, 30))
        large, _, _ = imaging.encode(photo(), Encoding(name, 95))
        assert len(small) < 0.5 * len(large)
        decoded = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in (small, large)]
        assert psnr(decoded[0], photo()) < psnr(decoded[1], photo()) - 3


def test_metadata_is_removed_unless_kept_and_the_label_says_which():
    source = imaging.decode(with_exif(photo()))
    stripped, _, notes = imaging.encode(source.pixels, Encoding("jpeg", 85), source.exif)
    assert notes == ("Metadata removed: camera, date taken, GPS location.",)
    assert imaging.decode(stripped).exif == b""
    kept, _, notes = imaging.encode(source.pixels, Encoding("jpeg", 85, keep_metadata=True), source.exif)
    assert notes == ("Metadata kept: camera, date taken, GPS location.",)
    assert imaging.describe_exif(imaging.decode(kept).exif) == ["camera", "date taken", "GPS location"]


def test_jpeg_flattens_transparency_onto_white_and_says_so():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (200, 0, 0, 255)
    data, _, notes = imaging.encode(rgba, Encoding("jpeg", 95))
    out = np.asarray(Image.open(io.BytesIO(data)))
    assert out[6, 4].min() > 245 and out[1, 4, 0] > 180 and out[1, 4, 1] < 40
    assert "flattened onto white" in notes[0]
    webp, _, notes = imaging.encode(rgba, Encoding("webp", 100))
    assert Image.open(io.BytesIO(webp)).mode == "RGBA" and notes == ()


def test_unknown_formats_are_refused():
    with pytest.raises(ValueError, match="this build writes"):
        imaging.encode(photo(), Encoding("bmp", 80))


def test_convert_leaves_pixels_alone_and_labels_pillow_not_ai():
    result = run_tool("convert", photo(), {"format": "webp", "quality": 60})
    np.testing.assert_array_equal(result.pixels, photo())
    assert result.encoding == Encoding("webp", 60, keep_metadata=False)
    label = result.provenance.label()
    assert label.startswith("Classical (Pillow re-encoding as WebP at quality 60, not AI)")
    assert result.provenance.reason is None


def test_convert_refuses_a_format_this_build_cannot_write():
    from darkroom.engine import ToolError

    with pytest.raises(ToolError, match="format must be one of"):
        run_tool("convert", photo(), {"format": "gif"})


def test_cli_picks_the_format_from_the_extension_and_keeps_metadata_on_request(tmp_path, capsys):
    source = tmp_path / "in.jpg"
    source.write_bytes(with_exif(photo()))
    assert cli.main(["convert", str(source), str(tmp_path / "out.webp"), "--quality", "50", "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Image.open(tmp_path / "out.webp").format == "WEBP"
    assert provenance["notes"] == ["Metadata removed: camera, date taken, GPS location."]
    assert cli.main(["convert", str(source), str(tmp_path / "kept.jpg"), "--no-strip_metadata"]) == 0
    assert imaging.describe_exif(imaging.decode((tmp_path / "kept.jpg").read_bytes()).exif)[0] == "camera"
    assert cli.main(["convert", str(source), str(tmp_path / "out.png"), "--format", "jpeg"]) == 0
    assert Image.open(tmp_path / "out.png").format == "JPEG"  # an explicit --format wins


def test_masks_from_files_white_or_opaque_is_painted():
    white = np.zeros((40, 60), np.uint8)
    white[10:20, 30:50] = 255
    mask = imaging.decode_mask(imaging.encode_png(white), (60, 40))
    assert mask.dtype == bool and mask.sum() == 200 and mask[15, 40]
    strokes = np.zeros((40, 60, 4), np.uint8)  # the page's painter: red strokes on transparent
    strokes[5:8, 5:9] = (255, 64, 64, 255)
    assert imaging.decode_mask(imaging.encode_png(strokes), (60, 40)).sum() == 12
    half = imaging.decode_mask(imaging.encode_png(white), (120, 80))  # painted on a smaller copy
    assert half.shape == (80, 120) and half.sum() == 800


def test_a_mask_of_another_shape_is_refused():
    with pytest.raises(imaging.ImageError, match="The mask is 60 × 40; the photo is 100 × 100"):
        imaging.decode_mask(imaging.encode_png(np.zeros((40, 60), np.uint8)), (100, 100))

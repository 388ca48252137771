"""Colorize: the CIELAB maths against scikit-image, the classical gradient map (luminance
kept, palette stops reproduced, labelled as an approximation), the model path with
stand-ins of DDColor's ONNX interface (tests/standins.py ``ab_conv_model``), and the CLI.

Luminance is measured as CIELAB L* with scikit-image, independently of the tool's code.
"""

from __future__ import annotations

import asyncio
import json
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage import color, data

from darkroom import cli, engine, imaging, models
from darkroom.runtime import CpuRuntime, add_user_model
from darkroom.tiers import DEFAULT
from darkroom.tools import registry
from darkroom.tools.colorize import COLOUR_NOTE, PALETTES, has_colour, lab
from helpers import run_tool
from standins import ab_conv_model

TOOL = registry()["colorize"]
#: L* (0..100) the output may differ from the input's: 8-bit rounding of the result.
LIGHTNESS_TOLERANCE = 0.35
LUMINANCE_NOTE = ("Only the colour came from the model: it was combined with the photo's own full-resolution "
                  "luminance, so detail and brightness are the photo's.")


def grey_ramp(height: int = 6) -> np.ndarray:
    """uint8 (height, 256, 3): every grey level once per row."""
    return np.dstack([np.tile(np.arange(256, dtype=np.uint8), (height, 1))] * 3)


def lightness_error(before: np.ndarray, after: np.ndarray) -> float:
    """Largest |L*| difference between two uint8 (H, W, 3|4) images (alpha ignored)."""
    return float(np.abs(color.rgb2lab(before[..., :3])[..., 0] - color.rgb2lab(after[..., :3])[..., 0]).max())


def grey_of(pixels: np.ndarray) -> np.ndarray:
    """uint8 (H, W): the grey of each pixel's luminance (L* with a* = b* = 0), via scikit-image."""
    lightness = color.rgb2lab(pixels[..., :3])[..., :1]
    grey = color.lab2rgb(np.concatenate([lightness, np.zeros_like(lightness), np.zeros_like(lightness)], axis=-1))
    return np.rint(grey[..., 0] * 255).astype(np.uint8)


def hex_rgb(code: str) -> list[int]:
    return [int(code[i:i + 2], 16) for i in (1, 3, 5)]


# --- CIELAB ---------------------------------------------------------------------------


def test_lab_conversions_agree_with_scikit_image():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2000, 3), dtype=np.uint8)
    reference = color.rgb2lab(rgb[None])[0]
    np.testing.assert_allclose(lab.srgb8_to_lab(rgb), reference, atol=0.03)
    np.testing.assert_allclose(lab.lightness(lab.luminance(rgb)), reference[:, 0], atol=0.03)
    # sRGB colours' own L* a* b* come back as the same colours.
    back = lab.lab_to_srgb8(lab.luminance(rgb), *reference[:, 1:].T.astype(np.float32))
    assert np.abs(back.astype(int) - rgb).max() <= 1


@pytest.mark.parametrize("ab", [(80, 80), (-80, -80), (100, -100), (-60, 90)])
def test_colours_outside_srgb_lose_chroma_not_luminance(ab):
    y = lab.luminance(grey_ramp(1)[0])
    a, b = (np.full_like(y, value) for value in ab)
    out = lab.lab_to_srgb8(y, a, b)
    measured = color.rgb2lab(out[None])[0]
    assert np.abs(measured[:, 0] - lab.lightness(y)).max() < LIGHTNESS_TOLERANCE
    assert np.hypot(*measured[100:160, 1:].T).min() > 20  # mid-tones keep much of the colour
    # The case is a real one: clipping channel by channel (scikit-image) shifts L* a lot.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "negative Z values that have been clipped"
        clipped = color.lab2rgb(np.stack([lab.lightness(y), a, b], axis=-1)[None].astype(np.float64))
    assert np.abs(color.rgb2lab(clipped)[0, :, 0] - lab.lightness(y)).max() > 2


# --- classical: a gradient map --------------------------------------------------------


@pytest.mark.parametrize("palette", PALETTES)
def test_the_gradient_map_keeps_the_luminance_of_a_ramp_and_a_photo(palette):
    for pixels in (grey_ramp(), data.astronaut()):
        out = run_tool("colorize", pixels, {"palette": palette, "classical": True}).pixels
        assert out.shape == pixels.shape
        assert lightness_error(pixels, out) < LIGHTNESS_TOLERANCE


@pytest.mark.parametrize("palette", PALETTES)
def test_palette_stops_and_the_ends_map_where_they_should(palette):
    """A pixel of each stop's colour (its luminance, once greyed) becomes that colour;
    black stays black and white stays white (sRGB has no room for colour there)."""
    colours = [[0, 0, 0], *map(hex_rgb, PALETTES[palette]), [255, 255, 255]]
    pixels = np.array([colours], np.uint8)
    out = run_tool("colorize", pixels, {"palette": palette, "classical": True}).pixels
    assert np.abs(out.astype(int) - pixels).max() <= 1


@pytest.mark.parametrize("palette, hue", [("sepia", (1, 1)), ("warm", (1, 1)), ("cool", (0, -1)), ("natural", (1, 1))])
def test_mid_grey_takes_the_palettes_hue(palette, hue):
    out = run_tool("colorize", np.full((4, 4, 3), 118, np.uint8), {"palette": palette, "classical": True}).pixels
    _, a, b = color.rgb2lab(out)[0, 0]
    assert np.hypot(a, b) > 10
    for want, got in zip(hue, (a, b), strict=True):
        assert want == 0 or np.sign(got) == want


def test_the_label_says_it_is_an_approximation():
    result = run_tool("colorize", grey_ramp(), {})  # no model ships: the classical path runs
    p = result.provenance
    assert p.path == "classical" and p.model is None
    assert p.reason == ("No colorize model ships with Darkroom; you can add your own ONNX model. "
                        "Ran the classical fallback instead.")
    assert "gradient map with the sepia palette" in p.method and "approximation" in p.method
    assert "does not recognise what is in the photo" in p.method
    assert p.label().startswith("Classical fallback (numpy gradient map") and "not AI" in p.label()
    assert COLOUR_NOTE not in p.notes


def test_a_colour_photo_is_treated_as_its_luminance_and_the_label_says_so():
    photo = data.astronaut()
    greyed = np.dstack([grey_of(photo)] * 3)
    colour_run = run_tool("colorize", photo, {"palette": "cool", "classical": True})
    grey_run = run_tool("colorize", greyed, {"palette": "cool", "classical": True})
    assert COLOUR_NOTE in colour_run.provenance.notes and COLOUR_NOTE not in grey_run.provenance.notes
    # Its own colours play no part: the result is the grey version's, up to 8-bit rounding.
    assert np.abs(colour_run.pixels.astype(int) - grey_run.pixels).max() <= 3


def test_grey_photos_with_scan_noise_are_not_colour_but_a_small_red_object_is():
    grey = np.dstack([grey_of(data.astronaut())] * 3).astype(np.float32)
    # Each channel its own noise (a scanner's or sensor's), as a PNG keeps it: half the
    # pixels have channels more than 4 levels apart. (A JPEG would average it away.)
    noisy = grey + np.random.default_rng(1).normal(0, 3, grey.shape)
    assert not has_colour(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    red = grey.astype(np.uint8)
    red[200:315, 200:315] = (200, 30, 30)  # 5 % of the photo
    assert has_colour(red) and has_colour(data.chelsea())


def test_alpha_is_kept():
    pixels = np.dstack([grey_ramp(), np.tile(np.arange(256, dtype=np.uint8)[::-1], (6, 1))])
    out = run_tool("colorize", pixels, {"classical": True}).pixels
    assert out.shape == pixels.shape
    np.testing.assert_array_equal(out[..., 3], pixels[..., 3])


# --- the model path, with stand-ins of DDColor's interface ---------------------------


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def run_standin(tmp_path, pixels: np.ndarray, **standin) -> engine.Result:
    """Build ``ab_conv_model(**standin)`` and run it through the engine as the user's model."""
    path = tmp_path / "ddcolor.onnx"
    ab_conv_model(path, **standin)
    spec = add_user_model(TOOL.id, TOOL.signature, [path])
    result = asyncio.run(engine.run_tool(TOOL, imaging.Decoded(np.ascontiguousarray(pixels), "PNG", ()),
                                         {"model": spec.id}, runtime=CpuRuntime(), models={spec.id: spec},
                                         tier=DEFAULT))
    assert (result.provenance.path, result.provenance.model) == ("model", spec.id)
    return result


def test_standin_known_ab_reproduces_a_known_colour(tmp_path, cache):
    """A colour photo of one colour: its luminance, with that colour's own a* b* from the
    stand-in, gives the colour back."""
    target = np.array([180, 110, 60], np.uint8)
    _, a, b = color.rgb2lab(target[None, None])[0, 0]
    result = run_standin(tmp_path, np.tile(target, (40, 60, 1)), ab=(a, b))
    assert np.abs(result.pixels.astype(int) - target).max() <= 1
    assert result.provenance.notes == ["The colour was computed at 512 × 512 and scaled to 60 × 40.",
                                       LUMINANCE_NOTE, COLOUR_NOTE]


def test_standin_constant_colour_keeps_the_luminance(tmp_path, cache):
    pixels = grey_ramp()
    result = run_standin(tmp_path, pixels, ab=(45.0, -60.0))
    assert lightness_error(pixels, result.pixels) < LIGHTNESS_TOLERANCE
    measured = color.rgb2lab(result.pixels[0, 60:200])
    np.testing.assert_allclose(measured[:, 1:].mean(axis=0), (45, -60), atol=6)  # mostly room for it
    assert COLOUR_NOTE not in result.provenance.notes


def test_standin_sees_only_the_grey_image_in_0_to_1(tmp_path, cache):
    """a* = 60 * R - 30 and b* = 100 * (B - G) of what the model is fed: the photo's own
    colours must not reach it (b* stays 0), and its grey must be in [0, 1] with L* = the
    photo's (a* follows the photo's grey level)."""
    photo = data.astronaut()
    result = run_standin(tmp_path, photo, ab=(-30.0, 0.0), weight=[[60, 0, 0], [0, -100, 100]])
    assert lightness_error(photo, result.pixels) < LIGHTNESS_TOLERANCE
    measured = color.rgb2lab(result.pixels)
    grey = grey_of(photo).astype(np.float32) / 255
    expected_a = 60 * grey - 30
    smooth = (grey > 0.3) & (grey < 0.7)  # mid-tones: room in sRGB for the whole colour
    assert np.abs(measured[..., 2][smooth]).mean() < 1.0
    assert np.abs(measured[..., 1][smooth] - expected_a[smooth]).mean() < 2.0


def test_standin_keeps_alpha(tmp_path, cache):
    pixels = np.dstack([grey_ramp(), np.full((6, 256), 77, np.uint8)])
    result = run_standin(tmp_path, pixels, ab=(10.0, 20.0))
    assert result.pixels.shape == pixels.shape and (result.pixels[..., 3] == 77).all()


# --- the CLI -----------------------------------------------------------------------------


@pytest.fixture()
def photo_file(tmp_path):
    path = tmp_path / "old.png"
    Image.fromarray(grey_ramp(20)).save(path)
    return path


def cli_provenance(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_classical(tmp_path, photo_file, capsys):
    out = tmp_path / "out.png"
    assert cli.main(["colorize", str(photo_file), str(out), "--classical", "--palette", "cool", "--json"]) == 0
    provenance = cli_provenance(capsys)
    assert provenance["path"] == "classical" and provenance["reason"] == "Classical path requested."
    assert "cool palette" in provenance["label"] and "approximation" in provenance["label"]
    written = np.asarray(Image.open(out))
    assert lightness_error(grey_ramp(20), written) < LIGHTNESS_TOLERANCE
    assert color.rgb2lab(written)[10, 128, 2] < -10  # blue


def test_cli_standin_model_file_with_open_size(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "ddcolor tiny.onnx"
    ab_conv_model(model, ab=(0.0, 40.0), side=None)  # H and W left open: the tool feeds 512
    out = tmp_path / "out.png"
    assert cli.main(["colorize", str(photo_file), str(out), "--model-file", str(model), "--json"]) == 0
    provenance = cli_provenance(capsys)
    sha = models.sha256_file(model)
    assert (provenance["path"], provenance["model"]) == ("model", f"user:ddcolor_tiny@{sha[:12]}")
    assert provenance["notes"] == ["The colour was computed at 512 × 512 and scaled to 256 × 20.", LUMINANCE_NOTE]
    assert provenance["label"].startswith(f"AI model user:ddcolor_tiny@{sha[:12]} on cpu")
    assert color.rgb2lab(np.asarray(Image.open(out)))[10, 128, 2] > 30  # yellow


def test_cli_refuses_a_model_with_the_wrong_signature(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "rgb-out.onnx"
    ab_conv_model(model, ab=(0.0, 0.0, 0.0))  # three output channels, not a* b*
    out = tmp_path / "out.png"
    assert cli.main(["colorize", str(photo_file), str(out), "--model-file", str(model)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("darkroom: This model does not fit: ab 'output' has 3 in dimension 1, not 2. "
                           "The tool needs inputs grey image: float32 [1, 3, H, W] — outputs ab: float32 [1, 2, H, W]")
    assert not out.exists()

"""upscale: size limits, the classical path, tiled model runs, and real ESRGAN quality."""

import asyncio

import numpy as np
import pytest
from PIL import Image

from darkroom import models
from darkroom.engine import ToolError
from darkroom.runtime import CpuRuntime
from darkroom.tiling import image_model, tile_starts
from darkroom.tools import upscale
from helpers import NATURAL_PHOTOS, bicubic_shrink, natural_crop, psnr, require_models, run_tool

ESRGAN = ["esrgan-slim-x2", "esrgan-slim-x4", "esrgan-medium-x2", "esrgan-medium-x4",
          "esrgan-thick-x2", "esrgan-thick-x4"]


@pytest.fixture(scope="module")
def truth():
    """A real photo (astronaut, 256 x 256 crop) as the clean high-resolution truth."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[40:296, 140:396])


def bicubic(pixels, scale):
    h, w = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).resize((w * scale, h * scale), Image.Resampling.BICUBIC))


def test_refuses_an_output_too_big_to_hold():
    big = np.zeros((3000, 4000, 3), np.uint8)  # 12 MP x4 = 192 MP
    with pytest.raises(ToolError, match="more than the 64 MP"):
        run_tool("upscale", big, {"scale": "4", "classical": True})


@pytest.mark.parametrize("scale", [2, 4])
def test_classical_upscale_is_labelled_and_beats_nearest(truth, scale):
    small = bicubic_shrink(truth, scale)
    result = run_tool("upscale", small, {"scale": str(scale), "classical": True})
    assert result.pixels.shape == truth.shape and result.pixels.dtype == np.uint8
    nearest = np.repeat(np.repeat(small, scale, 0), scale, 1)
    print(f"x{scale}: classical {psnr(result.pixels, truth):.2f} dB, nearest {psnr(nearest, truth):.2f} dB")
    assert psnr(result.pixels, truth) > psnr(nearest, truth) + 0.5
    p = result.provenance
    assert p.path == "classical" and p.method == "bicubic resize + unsharp mask"
    assert "scikit-image bicubic resize + unsharp mask, not AI" in p.label()


def edge_contrast(pixels):
    """Mean gradient magnitude of an (H, W, 3) image's grey, in levels per pixel."""
    grey = pixels.astype(np.float64).mean(axis=2)
    return float(np.hypot(*np.gradient(grey)).mean())


@pytest.mark.parametrize("scale", [2, 4])
def test_classical_upscale_sharpens_a_plain_bicubic_resize(truth, scale):
    """What the classical path adds to a plain bicubic resize of the same input is an
    unsharp mask: more edge contrast, and the difference follows the resize's own detail
    (its high-pass at the scale of a source pixel), not noise or a shift.  Measured away
    from the borders, where resizes extend the image in different ways."""
    from skimage.filters import gaussian
    from skimage.transform import resize

    small = bicubic_shrink(truth, scale)
    sharpened = run_tool("upscale", small, {"scale": str(scale), "classical": True}).pixels.astype(np.float64)
    plain = resize(small.astype(np.float64), sharpened.shape, order=3)
    detail = plain - gaussian(plain, sigma=scale / 2, channel_axis=2)
    inner = np.s_[2 * scale:-2 * scale, 2 * scale:-2 * scale]
    sharpened, plain, detail = sharpened[inner], plain[inner], detail[inner]
    contrast, plain_contrast = edge_contrast(sharpened), edge_contrast(plain)
    along_detail = np.corrcoef((sharpened - plain).ravel(), detail.ravel())[0, 1]
    print(f"x{scale}: edge contrast {contrast:.2f} vs plain {plain_contrast:.2f}, "
          f"difference along the detail {along_detail:.3f}")
    assert contrast > 1.05 * plain_contrast
    assert along_detail > 0.8


def test_classical_keeps_transparency(truth):
    rgba = np.dstack([truth[:64, :80], np.full((64, 80), 200, np.uint8)])
    rgba[:, :40, 3] = 0
    out = run_tool("upscale", rgba, {"scale": "2", "classical": True}).pixels
    assert out.shape == (128, 160, 4)
    assert out[:, :70, 3].max() < 30 and out[:, 90:, 3].min() > 170


def test_model_path_tiles_and_keeps_alpha():
    """A stand-in network (nearest-neighbour x2, NCHW, 0..255) through the real tiling."""
    spec = models.parse_manifest({"schema": 1, "models": {"fake": {
        "tool": "upscale", "title": "fake", "variant": "fp32", "params": {"scale": "2"},
        "files": [{"name": "fake.onnx", "bytes": 1, "sha256": "0" * 64}],
        "inputs": [{"name": "input", "shape": [1, 3, 0, 0], "dtype": "float32"}],
        "outputs": [{"name": "output", "shape": [1, 3, 0, 0], "dtype": "float32"}],
        "normalisation": {"layout": "NCHW", "scale": 1.0, "mean": [0, 0, 0], "std": [1, 1, 1]},
        "license": "-", "source": {}}}})["fake"]
    calls = []

    async def infer(feeds):
        x = feeds["input"]
        calls.append(x.shape)
        return {"output": np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)}

    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (300, 200, 4), dtype=np.uint8)
    out = asyncio.run(upscale.run_model(spec, infer, photo, {"scale": "2", "look": "fidelity"},
                                        lambda done, total: None)).pixels
    assert out.shape == (600, 400, 4)
    np.testing.assert_array_equal(out[..., :3], np.repeat(np.repeat(photo[..., :3], 2, 0), 2, 1))
    tiles = len(tile_starts(300, upscale.MODEL_TILE, upscale.MODEL_OVERLAP)) * len(
        tile_starts(200, upscale.MODEL_TILE, upscale.MODEL_OVERLAP))
    assert len(calls) == tiles > 1 and set(calls) == {(1, 3, upscale.MODEL_TILE, upscale.MODEL_TILE)}


# --------------------------------------------------------------------------
# Real ESRGAN models (CPU runtime)


@pytest.fixture(scope="module")
def manifest():
    return models.load_manifest()


#: Least PSNR gain over the classical path (bicubic + unsharp mask) on this photo.
#: Measured: thick-x4 +0.67 dB; slim and medium (x2, x4) and thick-x2 score 0.5-1.4 dB
#: *below* it. Their outputs match UpscalerJS's own samples (test_recipe_tfjs_layers),
#: so that is the models, not the conversion: only thick-x4 is asserted to win here, and
#: it loses on other photos, so all six run only when chosen.
MIN_GAIN_OVER_CLASSICAL = {"esrgan-thick-x4": 0.3}
NO_WORSE_THAN = -1.6


@pytest.mark.parametrize("model_id", ESRGAN)
def test_real_model_against_the_classical_path(truth, manifest, model_id):
    require_models(model_id)
    scale = int(manifest[model_id].params["scale"])
    small = bicubic_shrink(truth, scale)
    result = run_tool("upscale", small, {"scale": str(scale), "model": model_id}, runtime=CpuRuntime())
    classical = run_tool("upscale", small, {"scale": str(scale), "classical": True}).pixels
    p = result.provenance
    assert (p.path, p.model, p.backend) == ("model", model_id, "cpu")
    assert result.pixels.shape == truth.shape
    gain = psnr(result.pixels, truth) - psnr(classical, truth)
    print(f"{model_id}: model {psnr(result.pixels, truth):.2f} dB, classical {psnr(classical, truth):.2f} dB, "
          f"bicubic {psnr(bicubic(small, scale), truth):.2f} dB")
    assert gain > MIN_GAIN_OVER_CLASSICAL.get(model_id, NO_WORSE_THAN)


@pytest.mark.parametrize("model_id", ["esrgan-slim-x2", "esrgan-medium-x4"])
def test_real_model_tiled_equals_untiled(truth, manifest, model_id):
    """Stated tolerance: seams blend to within 2 grey levels on average, 1 % of pixels
    past 8 levels (the network's receptive field is wider than the overlap)."""
    require_models(model_id)
    spec = manifest[model_id]
    scale = int(spec.params["scale"])
    runtime = CpuRuntime()
    session = asyncio.run(runtime.load(spec))

    async def infer(feeds):
        return await runtime.run(session, feeds, ["output"])

    small = bicubic_shrink(truth, 2)[:128, :128]

    def run(tile):
        return asyncio.run(image_model(spec, infer, small, tile=tile, overlap=16, scale=scale))

    whole, tiled = run(128), run(48).astype(np.int16)
    error = np.abs(whole.astype(np.int16) - tiled)
    print(f"{model_id} tiled vs whole: mean {error.mean():.3f}, >8 levels {np.mean(error > 8):.4f}")
    assert error.mean() < 2 and np.mean(error > 8) < 0.01


# --------------------------------------------------------------------------
# "auto" never runs a model that loses to the classical path


def offered_by_auto(manifest, params: dict) -> list[str]:
    """The models "auto" may run for ``params``, fetched (or the test skips, saying why)."""
    offered = [m for m in upscale.TOOL.models if manifest[m].serves(params)]
    assert offered
    require_models(*offered)
    return offered


def detail(pixels: np.ndarray) -> float:
    """Fine texture: the standard deviation of the grey image less its 1.5 px Gaussian blur."""
    from scipy import ndimage

    grey = pixels.astype(np.float64).mean(axis=2)
    return float((grey - ndimage.gaussian_filter(grey, 1.5)).std())


@pytest.mark.parametrize("scale", ["2", "4"])
def test_auto_never_runs_a_fidelity_model_that_loses_to_the_classical_path(manifest, scale):
    """Every model "auto" may run for the fidelity look beats bicubic + unsharp mask in
    PSNR on every photo (a 128 px crop of each, downscaled bicubic)."""
    offered = offered_by_auto(manifest, {"scale": scale, "look": "fidelity"})
    runtime = CpuRuntime()  # one session a model for the whole test
    for name in NATURAL_PHOTOS:
        truth = natural_crop(name, 128)
        small = bicubic_shrink(truth, int(scale))
        classical = psnr(run_tool("upscale", small, {"scale": scale, "classical": True}).pixels, truth)
        for model_id in offered:
            result = run_tool("upscale", small, {"scale": scale, "model": model_id}, runtime=runtime)
            gain = psnr(result.pixels, truth) - classical
            print(f"x{scale} {model_id} {name}: {gain:+.2f} dB over the classical path")
            assert gain > 0, f"{model_id} loses to the classical path on {name} by {-gain:.2f} dB"
        chosen = run_tool("upscale", small, {"scale": scale}, runtime=runtime).provenance.model
        assert chosen in offered


def test_auto_photo_look_restores_texture_where_the_classical_path_loses_it(manifest):
    """The photo look promises texture, not fidelity (its PSNR is below the classical
    path's, and the label says its detail is invented): on every photo its fine texture
    is nearer the truth's than the classical path's, as a ratio."""
    offered = offered_by_auto(manifest, {"scale": "4", "look": "photo"})
    runtime = CpuRuntime()  # one session a model for the whole test
    for name in NATURAL_PHOTOS:
        truth = natural_crop(name, 128)
        small = bicubic_shrink(truth, 4)
        wanted = detail(truth)

        def off(pixels, wanted=wanted):
            return abs(np.log(detail(pixels) / wanted))

        classical = off(run_tool("upscale", small, {"scale": "4", "classical": True}).pixels)
        for model_id in offered:
            result = run_tool("upscale", small, {"scale": "4", "look": "photo"}, runtime=runtime)
            assert result.provenance.model == model_id
            assert "Generative detail: textures are the model's, not the photo's." in result.provenance.notes
            print(f"{model_id} {name}: texture off by {off(result.pixels):.2f} (log ratio), classical {classical:.2f}")
            assert off(result.pixels) < classical, f"{model_id} restores less texture than classical on {name}"

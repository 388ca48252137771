"""denoise and deblur: the classical paths' quality on images made here, their honest
labels, and (when the optional MAXIM models are built) the models against them."""

import numpy as np
import pytest
from scipy import ndimage

from darkroom.noise import estimate_noise
from darkroom.runtime import CpuRuntime
from darkroom.tools import deblur, denoise
from helpers import psnr, require_models, run_tool


@pytest.fixture(scope="module")
def clean():
    """A real photo (astronaut, 512 x 512): the known clean image."""
    from skimage import data

    return data.astronaut()


def add_noise(pixels, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(pixels + rng.normal(0, sigma, pixels.shape)), 0, 255).astype(np.uint8)


def gaussian_blur(pixels, sigma):
    blurred = ndimage.gaussian_filter(pixels.astype(np.float64), (sigma, sigma, 0))
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)


def motion_blur(pixels, length=9):
    kernel = np.full((1, length, 1), 1 / length)
    blurred = ndimage.convolve(pixels.astype(np.float64), kernel, mode="reflect")
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# denoise


@pytest.mark.parametrize("sigma", [10, 25])
def test_classical_denoise_removes_gaussian_noise(clean, sigma):
    noisy = add_noise(clean, sigma)
    result = run_tool("denoise", noisy, {"classical": True})
    gain = psnr(result.pixels, clean) - psnr(noisy, clean)
    print(f"sigma {sigma}: noisy {psnr(noisy, clean):.2f} dB -> non-local means {psnr(result.pixels, clean):.2f} dB")
    assert gain > 4
    p = result.provenance
    assert p.path == "classical" and p.method.startswith("non-local means (noise estimated at ")
    assert "scikit-image non-local means" in p.label() and "not AI" in p.label()


def test_noise_estimate_is_close_to_the_truth(clean):
    assert estimate_noise(add_noise(clean, 20)) * 255 == pytest.approx(20, rel=0.15)


def test_strength_trades_smoothing_for_texture(clean):
    noisy = add_noise(clean, 25)
    gentle = run_tool("denoise", noisy, {"classical": True, "strength": 0.0}).pixels
    strong = run_tool("denoise", noisy, {"classical": True, "strength": 1.0}).pixels
    # Stronger filtering leaves less high-frequency energy.
    assert np.std(ndimage.laplace(strong.astype(float))) < np.std(ndimage.laplace(gentle.astype(float)))


def test_a_clean_synthetic_image_is_left_alone():
    flat = np.full((64, 96, 3), 120, np.uint8)
    result = run_tool("denoise", flat, {"classical": True})
    np.testing.assert_array_equal(result.pixels, flat)
    assert result.provenance.method.startswith("nothing changed: estimated noise")


def test_denoise_keeps_alpha(clean):
    rgba = np.dstack([add_noise(clean[:100, :100], 20), np.arange(100, dtype=np.uint8)[None].repeat(100, 0)])
    out = run_tool("denoise", rgba, {"classical": True}).pixels
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


def test_strength_is_validated():
    with pytest.raises(Exception, match="strength must be a number from 0 to 1"):
        run_tool("denoise", np.zeros((8, 8, 3), np.uint8), {"strength": 3})


# --------------------------------------------------------------------------
# deblur


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_blur_estimate_is_close_to_the_truth(clean, sigma):
    assert deblur.estimate_blur(gaussian_blur(clean, sigma)) == pytest.approx(sigma, abs=0.35)


def test_a_sharp_photo_is_left_alone(clean):
    result = run_tool("deblur", clean, {"classical": True})
    np.testing.assert_array_equal(result.pixels, clean)
    assert result.provenance.method.startswith("nothing changed: no measurable blur")


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_classical_deblur_restores_a_gaussian_blur(clean, sigma):
    blurred = gaussian_blur(clean, sigma)
    result = run_tool("deblur", blurred, {"classical": True})
    gain = psnr(result.pixels, clean) - psnr(blurred, clean)
    print(f"blur {sigma}: {psnr(blurred, clean):.2f} dB -> Richardson-Lucy {psnr(result.pixels, clean):.2f} dB")
    assert gain > 2
    assert "Richardson-Lucy" in result.provenance.method and "estimated from the edges" in result.provenance.method


@pytest.mark.parametrize("module,damage", [(denoise, lambda p: add_noise(p, 20)),
                                           (deblur, lambda p: gaussian_blur(p, 2.0))], ids=["denoise", "deblur"])
def test_classical_tiled_equals_untiled(clean, monkeypatch, module, damage):
    """Stated tolerance: 128 px tiles with each tool's overlap stay within a mean of 0.3
    grey levels of one 512 px tile (non-local means searches 17 px; the deblur kernel is
    wider, and its overlap twice its size)."""
    damaged = damage(clean)
    whole = run_tool(module.TOOL.id, damaged, {"classical": True}).pixels
    monkeypatch.setattr(module, "CLASSICAL_TILE", 128)
    tiled = run_tool(module.TOOL.id, damaged, {"classical": True}).pixels
    error = np.abs(whole.astype(int) - tiled)
    print(f"{module.TOOL.id} tiled vs whole: mean {error.mean():.3f}, max {error.max()}")
    assert error.mean() < 0.3


# --------------------------------------------------------------------------
# The optional MAXIM models (built by `darkroom models fetch maxim-deblur maxim-denoise`)


def test_maxim_deblur_beats_the_classical_path_on_motion_blur(clean):
    require_models("maxim-deblur")
    blurred = motion_blur(clean[:256, :256])
    truth = clean[:256, :256]
    model = run_tool("deblur", blurred, {}, runtime=CpuRuntime())
    classical = run_tool("deblur", blurred, {"classical": True})
    print(f"motion blur 9 px: {psnr(blurred, truth):.2f} dB; MAXIM {psnr(model.pixels, truth):.2f} dB; "
          f"classical {psnr(classical.pixels, truth):.2f} dB")
    assert model.provenance.path == "model" and model.provenance.model == "maxim-deblur"
    assert psnr(model.pixels, truth) > psnr(classical.pixels, truth) + 2


def test_maxim_denoise_against_non_local_means_on_synthetic_noise(clean):
    """MAXIM was trained on real camera noise (SIDD); on synthetic Gaussian noise
    non-local means is expected to win. Both numbers are printed; the model must at
    least clean the image."""
    require_models("maxim-denoise")
    truth = clean[:256, :256]
    noisy = add_noise(truth, 25)
    model = run_tool("denoise", noisy, {}, runtime=CpuRuntime())
    classical = run_tool("denoise", noisy, {"classical": True})
    print(f"gaussian 25: noisy {psnr(noisy, truth):.2f} dB; MAXIM {psnr(model.pixels, truth):.2f} dB; "
          f"non-local means {psnr(classical.pixels, truth):.2f} dB")
    assert model.provenance.model == "maxim-denoise"
    assert psnr(model.pixels, truth) > psnr(noisy, truth) + 1

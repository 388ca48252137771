"""Tiling: windows cover the image, seams blend away, memory stays one band of tiles."""

import asyncio
from itertools import pairwise

import numpy as np
import pytest
from scipy import ndimage

from darkroom.tiling import edge_weights, tile_starts, tiled


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("length", [1, 50, 128, 129, 241, 250, 1000, 4032])
@pytest.mark.parametrize("tile,overlap", [(128, 16), (256, 32), (64, 0)])
def test_tile_starts_cover_the_side_with_at_least_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts[-1] + tile == max(length, tile)
    for a, b in pairwise(starts):
        assert b > a and a + tile - b >= overlap


def test_tile_starts_rejects_an_overlap_as_big_as_the_tile():
    with pytest.raises(ValueError):
        tile_starts(300, 64, 64)


def test_edge_weights_ramp_only_where_a_neighbour_overlaps():
    w = edge_weights(10, 4, ramp_start=True, ramp_end=False)
    assert w[0] == pytest.approx(0.125) and w[3] == pytest.approx(0.875) and (w[4:] == 1).all()
    assert (edge_weights(10, 4, False, False) == 1).all()
    assert (edge_weights(10, 4, True, True) > 0).all()


def _photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((h, w, 3), dtype=np.float32)


async def _square(window):
    return window.astype(np.float32) ** 2


def test_pointwise_model_tiled_equals_untiled():
    image = _photo(301, 517)
    calls = []
    out = run(tiled(image, _square, tile=128, overlap=16, progress=lambda d, t: calls.append((d, t))))
    np.testing.assert_allclose(out, image ** 2, rtol=1e-5, atol=1e-6)
    total = len(tile_starts(301, 128, 16)) * len(tile_starts(517, 128, 16))
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_upscaling_model_tiled_equals_untiled():
    image = _photo(150, 97)

    async def nearest_x4(window):
        return np.repeat(np.repeat(window, 4, axis=0), 4, axis=1)

    out = run(tiled(image, nearest_x4, tile=64, overlap=8, scale=4))
    assert out.shape == (600, 388, 3)
    np.testing.assert_allclose(out, np.repeat(np.repeat(image, 4, 0), 4, 1), rtol=1e-5, atol=1e-6)


def test_local_filter_seams_blend_within_tolerance():
    """A model with a receptive field sees less context at tile edges; blending keeps the
    error small. Stated tolerance: max 0.02, mean 0.001 on uniform noise in [0, 1]
    (a 3-sigma Gaussian blur, radius 12 px, with 32 px of overlap)."""
    image = _photo(300, 420, seed=1)

    async def blur(window):
        return ndimage.gaussian_filter(window, sigma=(3, 3, 0), mode="reflect")

    whole = ndimage.gaussian_filter(image, sigma=(3, 3, 0), mode="reflect")
    out = run(tiled(image, blur, tile=128, overlap=32))
    error = np.abs(out - whole)
    print(f"tiled vs whole blur: max {error.max():.4f}, mean {error.mean():.5f}")
    assert error.max() < 0.02 and error.mean() < 0.001
    # Without blending (tiles simply abutting) the seams would be far worse.
    assert np.abs(run(tiled(image, blur, tile=128, overlap=1)) - whole).max() > error.max()


def test_image_smaller_than_a_tile_is_mirrored_then_cropped():
    image = _photo(5, 9)
    seen = []

    async def record(window):
        seen.append(window.shape)
        return window * 2

    out = run(tiled(image, record, tile=32, overlap=4))
    assert seen == [(32, 32, 3)]
    np.testing.assert_allclose(out, image * 2, rtol=1e-6)


def test_store_writes_compact_output_band_by_band():
    image = (_photo(200, 260) * 255).astype(np.uint8)
    out = np.zeros((200, 260, 3), dtype=np.uint8)

    async def identity(window):
        return window.astype(np.float32)

    result = run(tiled(image, identity, tile=64, overlap=8, out=out,
                       store=lambda band: np.clip(np.rint(band), 0, 255).astype(np.uint8)))
    assert result is out
    np.testing.assert_array_equal(out, image)


def test_grey_output_from_colour_input():
    image = _photo(90, 140)

    async def luminance(window):
        return window.mean(axis=2)

    out = run(tiled(image, luminance, tile=64, overlap=8))
    np.testing.assert_allclose(out, image.mean(axis=2), rtol=1e-5, atol=1e-6)


def test_wrong_output_size_is_an_error_not_garbage():
    async def half(window):
        return window[::2, ::2]

    with pytest.raises(ValueError, match="expected"):
        run(tiled(_photo(100, 100), half, tile=64, overlap=8))

"""Small helpers shared by unit and end-to-end tests."""

import io

import numpy as np
from PIL import Image


def jpeg_bytes(pixels: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def skip_unless_ci(message: str) -> None:
    """Skip with ``message``; under CI, fail instead: `./dev.sh test` sets up everything
    the tests need, so a missing piece there is a broken setup, not a reason to skip."""
    import os

    import pytest

    pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def require_models(*model_ids: str) -> None:
    """Stop the test (see ``skip_unless_ci``) when a real model is not cached.

    Optional models (a long TensorFlow conversion, not part of `./dev.sh test`) always
    skip when missing, saying how to build them."""
    import pytest

    from darkroom import models

    manifest = models.load_manifest()
    for model_id in model_ids:
        if not (models.cache_dir() / manifest[model_id].file.name).is_file():
            if manifest[model_id].optional:
                pytest.skip(f"{model_id} is optional and not built; `darkroom models fetch {model_id}` "
                            "converts it (about 10 minutes, TensorFlow in its own venv)")
            skip_unless_ci(f"{model_id} is not in {models.cache_dir()}; run `darkroom models fetch`")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def run_tool(tool_id: str, pixels: np.ndarray, params: dict, runtime=None):
    """Run a registered tool on pixels with the repo manifest and the default tier;
    ``runtime=None`` runs only the classical path. Returns the engine's ``Result``."""
    import asyncio

    from darkroom import engine, imaging, models
    from darkroom.tiers import DEFAULT
    from darkroom.tools import registry

    image = imaging.Decoded(np.ascontiguousarray(pixels), "PNG", ())
    return asyncio.run(engine.run_tool(registry()[tool_id], image, params, runtime=runtime,
                                       models=models.load_manifest(), tier=DEFAULT))


def require_classical_in_page(build_info: dict) -> None:
    """Stop the test (see ``skip_unless_ci``) when the build could not ship scikit-image."""
    if not build_info["classicalInPage"]:
        skip_unless_ci("this build has no scikit-image wasm wheel (see build.py's log and wasm/NOTES.md)")


#: scikit-image's natural photos that ship inside it (no download), by name.
NATURAL_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")


def natural_crop(name: str, side: int) -> np.ndarray:
    """A centre crop of ``side`` x ``side`` px of one of ``NATURAL_PHOTOS``, uint8 RGB."""
    from skimage import data

    photo = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
    return np.ascontiguousarray(photo[top:top + side, left:left + side, :3])


def bicubic_shrink(pixels: np.ndarray, scale: int) -> np.ndarray:
    """``pixels`` made ``scale`` times smaller with Pillow's bicubic filter, as upscalers are tested."""
    height, width = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).resize((width // scale, height // scale), Image.Resampling.BICUBIC,
                                                     reducing_gap=None))

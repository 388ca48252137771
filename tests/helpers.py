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


def require_models(*model_ids: str) -> None:
    """Skip (with the reason) when a real model is not cached; under CI that is a failure,
    since `./dev.sh test` fetches the models before the tests run."""
    import os

    import pytest

    from darkroom import models

    manifest = models.load_manifest()
    for model_id in model_ids:
        path = models.cache_dir() / manifest[model_id].file.name
        if not path.is_file():
            message = f"{model_id} is not in {models.cache_dir()}; run `darkroom models fetch`"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def require_classical_in_page(build_info: dict) -> None:
    """Skip (with the reason) when the build could not ship scikit-image for the page;
    under CI that is a failure, since `./dev.sh test` installs the toolchain that builds it."""
    import os

    import pytest

    if not build_info["classicalInPage"]:
        message = "this build has no scikit-image wasm wheel (see build.py's log and wasm/NOTES.md)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)

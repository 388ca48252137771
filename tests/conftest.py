"""Shared fixtures: test photos from the real photographs scikit-image ships."""

import pytest

from helpers import jpeg_bytes


@pytest.fixture(scope="session")
def cat_photo() -> bytes:
    """A real photograph (Chelsea the cat, 451 x 300) as JPEG bytes."""
    from skimage import data

    return jpeg_bytes(data.chelsea())


@pytest.fixture(scope="session")
def astronaut_photo() -> bytes:
    """A real photograph (portrait, 512 x 512) as JPEG bytes."""
    from skimage import data

    return jpeg_bytes(data.astronaut())

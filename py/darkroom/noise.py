"""How noisy a photo is: Denoise sizes its filter by it, Restore faces cleans a face's
crop only when it is noisy. Needs scikit-image."""

from __future__ import annotations

import numpy as np


def estimate_noise(rgb: np.ndarray) -> float:
    """Noise standard deviation of a photo, in [0, 1] units (wavelet estimate, scikit-image).

    Parameters
    ----------
    rgb : ndarray
        uint8 (H, W, 3). Large photos are estimated from a centre crop: noise is global.
    """
    from skimage.restoration import estimate_sigma

    h, w = rgb.shape[:2]
    crop = rgb[max(0, h // 2 - 512):h // 2 + 512, max(0, w // 2 - 512):w // 2 + 512]
    return float(estimate_sigma(crop.astype(np.float32) / 255, channel_axis=-1, average_sigmas=True))

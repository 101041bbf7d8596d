"""Estimating how noisy a photo is, for the blind ("auto") denoise strength."""
from __future__ import annotations

import numpy as np

from ..tiling import to_float


def estimate_noise_sigma(image: np.ndarray, max_pixels: int = 2_000_000) -> float:
    """Noise standard deviation in 0..255 units (for 16-bit photos too).

    The finest diagonal Haar detail of a natural photo is mostly noise; its median
    absolute value / 0.6745 is a robust σ estimate (Donoho's MAD rule). Flat
    areas dominate the median, so edges and texture barely bias it. Large photos
    are sampled in a centred window to bound the cost.
    """
    img = image if image.ndim == 3 else image[:, :, None]
    if img.shape[2] in (2, 4):
        img = img[:, :, :-1]
    h, w = img.shape[:2]
    if h * w > max_pixels:
        side = int(np.sqrt(max_pixels))
        y0, x0 = max((h - side) // 2, 0), max((w - side) // 2, 0)
        img = img[y0:y0 + side, x0:x0 + side]
    values = to_float(img)
    h2, w2 = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    if h2 < 2 or w2 < 2:
        return 0.0
    v = values[:h2, :w2]
    hh = (v[0::2, 0::2] - v[0::2, 1::2] - v[1::2, 0::2] + v[1::2, 1::2]) / 2.0
    sigma = float(np.median(np.abs(hh)) / 0.6745) * 255.0
    return sigma

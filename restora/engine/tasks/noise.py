"""Estimating how noisy a photo is, for the blind ("auto") denoise strength."""
from __future__ import annotations

import cv2
import numpy as np

from ..tiling import to_float

_BLUR_SIGMA, _BLUR_RADIUS = 1.5, 4


def _residual_gain() -> float:
    """White-noise gain of the residual filter (identity − Gaussian blur)."""
    k = cv2.getGaussianKernel(2 * _BLUR_RADIUS + 1, _BLUR_SIGMA).astype(np.float64)
    k2 = k @ k.T
    k2[_BLUR_RADIUS, _BLUR_RADIUS] -= 1.0
    return float(np.sqrt((k2 ** 2).sum()))


_GAIN = _residual_gain()


def estimate_noise_sigma(image: np.ndarray, block: int = 16, quantile: float = 0.1,
                         max_pixels: int = 4_000_000) -> float:
    """Noise standard deviation in 0..255 units (for 16-bit photos too).

    The residual of a small Gaussian blur is noise plus texture. Its RMS over
    16x16 blocks, divided by the filter's white-noise gain, is a local σ; the
    flattest blocks (10th percentile) are where that is mostly noise. Blocks near
    black or white are skipped (clipping hides noise); the median over colour
    channels is returned. Unlike a finest-wavelet MAD this also sees the slightly
    correlated noise of real cameras and JPEGs. Large photos are sampled in a
    centred window to bound the cost.
    """
    from .common import as_hwc

    image = as_hwc(image)   # BadInputError for anything that is not an 8/16-bit image
    img = image if image.ndim == 3 else image[:, :, None]
    if img.shape[2] in (2, 4):
        img = img[:, :, :-1]
    h, w = img.shape[:2]
    if h * w > max_pixels:
        side = int(np.sqrt(max_pixels))
        y0, x0 = max((h - side) // 2, 0), max((w - side) // 2, 0)
        img = img[y0:y0 + side, x0:x0 + side]
        h, w = img.shape[:2]
    if h < 2 * _BLUR_RADIUS + 1 or w < 2 * _BLUR_RADIUS + 1:
        return 0.0
    values = to_float(img)
    bs = min(block, h, w)
    hb, wb = h // bs * bs, w // bs * bs
    estimates = []
    for c in range(values.shape[2]):
        plane = np.ascontiguousarray(values[:, :, c])
        blurred = cv2.GaussianBlur(plane, (2 * _BLUR_RADIUS + 1,) * 2, _BLUR_SIGMA, borderType=cv2.BORDER_REFLECT_101)
        residual = (plane - blurred)[:hb, :wb]
        energy = (residual * residual).reshape(hb // bs, bs, wb // bs, bs).mean(axis=(1, 3))
        mean = blurred[:hb, :wb].reshape(hb // bs, bs, wb // bs, bs).mean(axis=(1, 3))
        local = np.sqrt(energy).ravel() / _GAIN
        usable = ((mean > 0.06) & (mean < 0.94)).ravel()
        if usable.sum() >= 8:
            local = local[usable]
        estimates.append(np.quantile(local, quantile))
    # 1.063: the 10th percentile's bias on pure white noise, calibrated once.
    return float(np.median(estimates) * 1.063 * 255.0)

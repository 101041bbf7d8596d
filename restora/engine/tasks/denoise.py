from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..jobs import BadInputError, CancelToken, ProgressFn
from ..registry import Registry
from ..strategies import plan, run_image
from .common import (adapt_channels, as_hwc, as_neutral_rgb, bit_depth, check_job, check_number, check_tile,
                     gray_if_neutral, merge_alpha, restore_layout, setup, split_alpha)
from .noise import estimate_noise_sigma
from .catalog import register
from .spec import Task, param

MAX_SIGMA = 100.0


def denoise(image: np.ndarray, sigma: Optional[float] = None, *, model: Optional[str] = None,
            device: str = "auto", tile: Optional[int] = None, registry: Optional[Registry] = None,
            progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
            record: Optional[dict] = None) -> np.ndarray:
    """Remove noise; returns a new array of the same shape and dtype.

    ``sigma`` is the noise strength as a standard deviation in 0..255 units
    (0 < σ ≤ 100); ``None`` estimates it from the photo. Alpha passes through.
    ``tile``: None automatic, 0 whole image, N pixels. Raises ``Cancelled``.
    """
    pixels = as_hwc(image)
    if sigma is not None:
        sigma = check_number("sigma", sigma)
        if not (0 < sigma <= MAX_SIGMA):
            raise BadInputError(f"noise strength {sigma:g} is out of range: use 0 < sigma <= {MAX_SIGMA:g}")
    tile = check_tile(tile)
    model = check_job(model, device, registry, progress, cancel)
    if sigma is None:
        sigma = estimate_noise_sigma(pixels)
    color, alpha = split_alpha(pixels)
    color, neutral = gray_if_neutral(color)       # a B&W scan saved as RGB is denoised as gray
    net, dev, ctx = setup(model, "denoise", device, registry, progress, cancel, channels=color.shape[2], record=record)
    params = {"sigma": max(float(sigma), 0.5) / 255.0, "bit_depth": bit_depth(pixels), "check": ctx.check}
    fn = adapt_channels(net, color.shape[2], lambda crop: net.process(crop, **params), luma_only=False)
    out = run_image(color, fn, plan(net, dev, tile, *color.shape[:2], record=record), ctx)
    if neutral:
        out = as_neutral_rgb(out)
    return restore_layout(merge_alpha(out, alpha), image)


@dataclass(frozen=True)
class DenoiseParams:
    sigma: Optional[float] = param(None, lo=0.0, hi=MAX_SIGMA, lo_open=True, optional=True, metavar="S",
                                   help="noise strength as σ in 0..255 units (default: estimated from each photo)",
                                   label="σ", slider=True, auto_text="Estimate from the photo", start=15)


register(Task("denoise", "Denoise", "Remove noise from photos.", "denoise", DenoiseParams,
              run=lambda pixels, _mask, p, **job: denoise(pixels, p.sigma, **job), inside_mask=True))

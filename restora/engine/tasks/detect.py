"""Damage detection: a network proposes the mask (scratches, dust, stains, tears); the
person refines it and inpaints.

The network runs in overlapping full-resolution tiles (1-px scratches must stay visible),
so memory is bounded like every other task, and returns a probability map. The mask is
that map above a threshold: moving the sensitivity re-thresholds the map, it does not run
the network again (see :func:`threshold_mask`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..jobs import CancelToken, ProgressFn
from ..registry import Registry
from ..strategies import plan, run_image
from .catalog import register
from .common import (adapt_channels, as_hwc, check_job, check_tile, gray_if_neutral, setup,
                     split_alpha)
from .spec import OUTPUT_MASK, Param, Task, param

THRESHOLD = Param("sensitivity: a pixel is marked when the network is at least this sure it is damage "
                  "(lower marks more)", lo=0.0, hi=1.0, lo_open=True, metavar="T")


def damage_probability(image: np.ndarray, *, model: Optional[str] = None, device: str = "auto",
                       tile: Optional[int] = None, registry: Optional[Registry] = None,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                       record: Optional[dict] = None) -> np.ndarray:
    """float32 HxW in [0, 1]: how sure the detector is that each pixel is damage."""
    pixels = as_hwc(image)
    tile = check_tile(tile)
    model = check_job(model, device, registry, progress, cancel)
    color, _alpha = split_alpha(pixels)            # transparency is not damage
    color, _neutral = gray_if_neutral(color)
    net, dev, ctx = setup(model, "detect", device, registry, progress, cancel, channels=color.shape[2],
                          record=record)
    fn = adapt_channels(net, color.shape[2], lambda crop: net.process(crop, check=ctx.check), luma_only=False)
    if color.shape[2] == 3 and net.info.in_channels == 3:
        run = fn
    else:   # channel adaptation may average a map per channel: keep one plane
        def run(crop):
            return fn(crop)[:, :, :1]
    prob = run_image(color, run, plan(net, dev, tile, *color.shape[:2], record=record), ctx,
                     out_channels=1, out_dtype=np.float32)
    return prob[:, :, 0]


def threshold_mask(probability: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """uint8 HxW mask (255 = damage) of the pixels at or above ``threshold``."""
    threshold = THRESHOLD.check("threshold", threshold)
    return np.where(probability >= threshold, 255, 0).astype(np.uint8)


def detect(image: np.ndarray, threshold: float = 0.5, **job) -> np.ndarray:
    """The proposed mask (uint8 HxW, 255 = damage) for ``image``."""
    threshold = THRESHOLD.check("threshold", threshold)
    return threshold_mask(damage_probability(image, **job), threshold)


@dataclass(frozen=True)
class DetectParams:
    threshold: float = param(0.5, lo=0.0, hi=1.0, lo_open=True, metavar="T", help=THRESHOLD.help)


register(Task("detect", "Detect damage", "Propose a mask over scratches, dust, stains and tears.", "detect",
              DetectParams, run=lambda pixels, _mask, p, **job: detect(pixels, p.threshold, **job),
              output=OUTPUT_MASK))

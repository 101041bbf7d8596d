from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..jobs import BadInputError, CancelToken, ProgressFn
from ..registry import Registry, default_registry
from ..strategies import plan, run_image
from ..tiling import from_float, to_float
from .catalog import register
from .spec import Task, param
from .common import (adapt_channels, as_hwc, as_neutral_rgb, check_int, check_job, check_tile,
                     gray_if_neutral, merge_alpha, restore_layout, setup, split_alpha)

SCALES = (2, 3, 4, 8)


def upscale(image: np.ndarray, scale: int = 2, *, model: Optional[str] = None, device: str = "auto",
            tile: Optional[int] = None, registry: Optional[Registry] = None,
            progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
            record: Optional[dict] = None) -> np.ndarray:
    """Enlarge by an integer ``scale``; returns (H*scale)x(W*scale) of the same dtype.

    A fixed-scale model whose scale differs from ``scale`` runs at its own scale
    and each tile is then resized to the requested size (area filter down,
    Lanczos up). Alpha is upscaled on its own (bicubic), never fed to the model.
    """
    pixels = as_hwc(image)
    scale = check_int("scale", scale)
    if scale not in SCALES:
        raise BadInputError(f"scale {scale} is not supported: use one of {', '.join(map(str, SCALES))}")
    tile = check_tile(tile)
    model = check_job(model, device, registry, progress, cancel)
    color, alpha = split_alpha(pixels)
    color, neutral = gray_if_neutral(color)       # a B&W scan saved as RGB stays B&W
    net, dev, ctx = setup(model, "upscale", device, registry, progress, cancel, scale=scale,
                          channels=color.shape[2], record=record)
    native = net.info.scale or scale

    def run(crop: np.ndarray) -> np.ndarray:
        out = net.process(crop, scale=scale, check=ctx.check)
        if native != scale:
            h, w = crop.shape[:2]
            flag = cv2.INTER_AREA if native > scale else cv2.INTER_LANCZOS4
            out = np.clip(cv2.resize(out, (w * scale, h * scale), interpolation=flag), 0, 1)
            out = out.reshape(h * scale, w * scale, -1)
        return out

    fn = adapt_channels(net, color.shape[2], run, luma_only=True, scale=scale)
    out = run_image(color, fn, plan(net, dev, tile, *color.shape[:2], record=record),
                    ctx.sub(0.0, 0.97 if alpha is not None else 1.0), scale=scale)
    if neutral:
        out = as_neutral_rgb(out)
    if alpha is not None:
        ctx.check()
        h, w = alpha.shape[:2]
        big = cv2.resize(to_float(alpha[:, :, 0]), (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        alpha = from_float(np.clip(big, 0, 1), alpha.dtype)[:, :, None]
        ctx.report(1.0)
    return restore_layout(merge_alpha(out, alpha), image)


@dataclass(frozen=True)
class UpscaleParams:
    scale: Optional[int] = param(None, kind=int, choices=SCALES, optional=True,
                                 help="enlargement factor (default: the model's own, or 2)",
                                 auto_text="The model's own", choice_format="×{:g}")


def _run(pixels, _mask, p: UpscaleParams, *, model=None, registry=None, record=None, **job):
    scale = p.scale
    if scale is None:   # a named fixed-scale model's own factor, else 2
        named = (registry or default_registry()).get(model, "upscale") if model else None
        scale = (named.info.scale if named is not None else 0) or 2
    if record is not None:
        record["resolved"] = {"scale": scale}
    return upscale(pixels, scale, model=model, registry=registry, record=record, **job)


register(Task("upscale", "Upscale", "Enlarge photos.", "upscale", UpscaleParams, run=_run, inside_mask=True))

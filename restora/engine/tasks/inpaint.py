from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..jobs import BadInputError, CancelToken, ProgressFn
from ..registry import Registry
from ..strategies import fill_holes, plan
from .catalog import register
from .spec import MASK_REQUIRED, Task, param
from .common import (MAX_SEED, adapt_channels, as_hwc, as_neutral_rgb, bit_depth, check_job, check_seed, check_tile,
                     gray_if_neutral, restore_layout, setup, split_alpha)


def mask_to_bool(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """HxW bool from any mask image: any non-zero value (in any channel) means fill."""
    mask = np.asarray(mask) if isinstance(mask, np.ndarray) else None   # np.matrix etc. as plain arrays
    if mask is None or mask.ndim not in (2, 3) or mask.ndim == 3 and not 1 <= mask.shape[2] <= 4:
        raise BadInputError("the mask must be an image: an HxW or HxWxC array (C in 1..4)")
    if mask.dtype.kind not in "biuf":   # "> 0" must mean something: bool, integer or float pixels
        raise BadInputError(f"unsupported mask pixel type {mask.dtype}: use a bool or numeric image")
    if mask.shape[:2] != tuple(shape):
        raise BadInputError(f"mask size {mask.shape[1]}x{mask.shape[0]} does not match the photo "
                            f"({shape[1]}x{shape[0]})")
    if mask.ndim == 3:
        # An alpha channel in a mask image: transparent pixels are never holes.
        if mask.shape[2] in (2, 4):
            mask = np.where(mask[:, :, -1:] > 0, mask[:, :, :-1], 0)
        return np.any(mask > 0, axis=2)
    return mask > 0


def holes_box(holes: np.ndarray, margin: float = 0.5, min_side: int = 96) -> Optional[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1): the holes' bounding box grown by ``margin`` of its size on each side
    and to at least ``min_side`` (where the photo allows): the part of a photo that shows a
    fill, with enough around it to judge it. None when nothing is a hole."""
    ys, xs = np.nonzero(np.asarray(holes))
    if ys.size == 0:
        return None
    height, width = holes.shape[:2]

    def grow(lo: int, hi: int, limit: int) -> tuple[int, int]:
        side = min(limit, max(min_side, round((hi - lo) * (1 + 2 * margin))))
        start = min(max(0, (lo + hi - side) // 2), limit - side)
        return start, start + side

    (y0, y1), (x0, x1) = grow(int(ys.min()), int(ys.max()) + 1, height), grow(int(xs.min()), int(xs.max()) + 1, width)
    return y0, y1, x0, x1


def check_fillable(net, holes: np.ndarray) -> None:
    """A model that fills holes from their surroundings (the classical ones) cannot fill a
    mask that covers everything: OpenCV would return the photo unchanged without a word."""
    if getattr(net, "fills_from_surroundings", False) and holes.all():
        raise BadInputError("the mask covers the whole photo: there are no surrounding pixels to fill from")


def inpaint(image: np.ndarray, mask: np.ndarray, *, model: Optional[str] = None, seed: int = 0,
            device: str = "auto", tile: Optional[int] = None, registry: Optional[Registry] = None,
            progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
            record: Optional[dict] = None) -> np.ndarray:
    """Fill the pixels where ``mask`` is non-zero; every other pixel is returned unchanged.

    Only crops around the holes are processed (with context), so a few scratches on
    a huge photo cost little. ``seed`` is used by stochastic models.
    """
    pixels = as_hwc(image)
    holes = mask_to_bool(mask, pixels.shape[:2])
    seed, tile = check_seed(seed), check_tile(tile)
    model = check_job(model, device, registry, progress, cancel)
    net, dev, ctx = setup(model, "inpaint", device, registry, progress, cancel,
                          accept=lambda net: check_fillable(net, holes), record=record)
    out = pixels.copy()
    if not holes.any():
        ctx.report(1.0)
        return restore_layout(out, image)
    color, alpha = split_alpha(pixels)
    color, neutral = gray_if_neutral(color)       # a B&W scan saved as RGB is filled as gray
    params = {"seed": seed, "bit_depth": bit_depth(pixels), "check": ctx.check}
    result = out[:, :, :3 if neutral else color.shape[2]]

    def fill(crop: np.ndarray, hole: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        run = lambda c: net.process(c, mask=hole, origin=origin, **params)   # noqa: E731
        return adapt_channels(net, crop.shape[2], run, luma_only=False)(crop)

    def write(box, filled: np.ndarray, hole: np.ndarray) -> None:
        y0, y1, x0, x1 = box
        if neutral:
            filled = as_neutral_rgb(filled.reshape(*hole.shape, 1))
        target = result[y0:y1, x0:x1]
        target[hole] = filled.reshape(target.shape)[hole]

    fill_holes(color, holes, fill, plan(net, dev, tile, *color.shape[:2], record=record), ctx, write)
    return restore_layout(out, image)


@dataclass(frozen=True)
class InpaintParams:
    seed: int = param(0, kind=int, lo=0, hi=MAX_SEED, help="seed for stochastic models")


register(Task("inpaint", "Inpaint", "Fill masked areas (scratches, stains, tears).", "inpaint", InpaintParams,
              run=lambda pixels, mask, p, **job: inpaint(pixels, mask, seed=p.seed, **job), mask=MASK_REQUIRED))

"""How a model meets a photo: the one place that decides between overlapping tiles, the
whole image, crops around the mask's holes, and a model's fixed size.

A model declares what it needs (:class:`Needs`: context, alignment, multiple-of, minimum
or fixed size, memory per pixel, and spandrel's tiling hint); :func:`plan` turns that, the
device's free memory and the person's ``--tile`` into a :class:`Plan`; :func:`run_image`
(photo tasks) and :func:`fill_holes` (inpainting) carry it out with the mechanics of
``tiling`` (grids, feathered seams, mask regions). Tasks never size tiles or pad crops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Optional

import cv2
import numpy as np

from .device import DeviceInfo, free_memory_bytes
from .jobs import JobContext
from .tiling import MIN_TILE, TileFn, feather_px, from_float, iter_regions, mask_regions, run_tiled, to_float

TILING_SUPPORTED, TILING_DISCOURAGED, TILING_INTERNAL = "supported", "discouraged", "internal"  # spandrel's
CPU_TILE_BUDGET = 640 << 20  # bytes of working memory for one tile on the CPU (40 MP ×2 stays < 2.5 GB)


@dataclass(frozen=True)
class Needs:
    """What a model asks of the crops it is given (read from the model by :func:`needs_of`)."""
    #: pixels of surrounding image a crop needs so its centre matches a whole-image run
    context_px: int = 16
    #: crops start on multiples of this (networks that downsample are not shift-invariant)
    align_px: int = 1
    #: the crop is padded (reflected) up to a multiple of this, and the result cropped back
    multiple_of: int = 1
    #: ... and up to at least this side
    min_side: int = 1
    #: ... and to a square
    square: bool = False
    #: the model only works at this side (a square): photo tasks feed it crops of exactly
    #: this size; inpainting resizes each hole's crop to it and pastes back only the hole
    fixed_size: Optional[int] = None
    #: rough working memory per input pixel (bytes), to size tiles
    bytes_per_pixel: int = 64
    #: largest tile on the CPU: a tile is the unit of cancellation, so keep one to seconds
    max_cpu_tile: int = 2048
    #: "supported", "discouraged" (seams: tiles as big as memory allows) or "internal"
    tiling: str = TILING_SUPPORTED


def needs_of(model) -> Needs:
    """A model's needs from its attributes (``ImageModel`` declares them all)."""
    defaults = Needs()
    values = {name: getattr(model, name, getattr(defaults, name)) for name in Needs.__dataclass_fields__}
    return Needs(**values)


@dataclass(frozen=True)
class Plan:
    """``tile``: core side of overlapping tiles in input pixels, None for one whole-image pass."""
    tile: Optional[int]
    needs: Needs


def plan(model, device: DeviceInfo, requested: Optional[int], height: int, width: int,
         record: Optional[dict] = None) -> Plan:
    """How to run ``model`` over a ``height`` x ``width`` photo on ``device``.

    ``requested``: None = automatic, 0 = no tiling, N = N px tiles. Automatic sizing gives
    a tile a share of the device's free memory, so tiles grow on big GPUs and stay bounded
    (flat memory) on the CPU. A fixed-size model always gets crops of its size. ``record``
    gets the tile used (0: whole image): a recipe replays it, since tiled and whole-image
    results differ by a level or two.
    """
    needs = needs_of(model)
    side = _fixed_tile(needs) if needs.fixed_size else _tile_for(needs, device, requested, height, width)
    if side is not None and side >= max(height, width) and not needs.fixed_size:
        side = None
    if record is not None:
        record["tile"] = side or 0
    return Plan(side, needs)


def choose_tile(model, device: DeviceInfo, requested: Optional[int], height: int, width: int,
                record: Optional[dict] = None) -> Optional[int]:
    """The tile side :func:`plan` picks (None: one whole-image pass)."""
    return plan(model, device, requested, height, width, record).tile


def _tile_for(needs: Needs, device: DeviceInfo, requested: Optional[int], height: int, width: int) -> Optional[int]:
    if requested == 0:
        return None
    if requested:
        return max(int(requested), MIN_TILE)
    if needs.tiling == TILING_INTERNAL:   # the model tiles (or needs the whole image) itself
        return None
    if device.kind == "cpu" and needs.tiling == TILING_SUPPORTED:
        # RAM is shared with the photo itself and the rest of the desktop: a fixed
        # budget keeps peak memory flat; tiles this big cost < 10% in overlap.
        budget = min(free_memory_bytes(device) * 0.25, CPU_TILE_BUDGET)
        cap = needs.max_cpu_tile
    elif device.kind == "cpu":
        # tiles hurt this model (global attention: seams): as large as free memory allows
        budget, cap = free_memory_bytes(device) * 0.25, 1 << 16
    else:
        budget, cap = free_memory_bytes(device) * 0.5, 4096
    side = int(math.sqrt(budget / max(needs.bytes_per_pixel, 1)))
    return max(MIN_TILE * 2, min(side, cap)) // 32 * 32


def _fixed_tile(needs: Needs) -> int:
    """The core side whose crops (core + feather band + context, aligned) fit the fixed size."""
    margin = 2 * (feather_px(needs.context_px) + needs.context_px) + needs.align_px - 1
    return max(needs.fixed_size - margin, 1)


# --- photo tasks: tiles, or the whole image ---------------------------------

def shaped(fn: TileFn, needs: Needs, scale: int = 1) -> TileFn:
    """``fn`` on crops padded (reflected) to what the model needs, its output cropped back."""
    def run(crop: np.ndarray) -> np.ndarray:
        h, w = crop.shape[:2]
        ph, pw = padded_size(h, w, needs)
        if (ph, pw) == (h, w):
            return fn(crop)
        out = fn(_pad(crop, ph, pw))
        return out[:h * scale, :w * scale]
    return run


def padded_size(h: int, w: int, needs: Needs) -> tuple[int, int]:
    if needs.fixed_size:
        return needs.fixed_size, needs.fixed_size
    m = max(needs.multiple_of, 1)
    ph, pw = max(h, needs.min_side), max(w, needs.min_side)
    if needs.square:
        ph = pw = max(ph, pw)
    return -(-ph // m) * m, -(-pw // m) * m


def _pad(crop: np.ndarray, ph: int, pw: int) -> np.ndarray:
    h, w = crop.shape[:2]
    mode = "reflect" if ph - h < h and pw - w < w else "edge"   # reflect needs the crop to be larger
    return np.pad(crop, ((0, ph - h), (0, pw - w)) + ((0, 0),) * (crop.ndim - 2), mode=mode)


def run_image(image: np.ndarray, fn: TileFn, p: Plan, ctx: JobContext, *, scale: int = 1,
              out_channels: Optional[int] = None, out_dtype=None) -> np.ndarray:
    """``fn`` over the whole photo as ``p`` says: overlapping tiles (or one pass), each crop
    shaped to the model's needs. Peak memory: the output plus one tile's work."""
    cap = p.needs.fixed_size and p.tile   # fixed size: no core may be longer than the tile either
    return run_tiled(image, shaped(fn, p.needs, scale), scale=scale, out_channels=out_channels, tile=p.tile,
                     context_px=p.needs.context_px, align_px=p.needs.align_px, ctx=ctx, out_dtype=out_dtype,
                     max_core=cap or None)


# --- inpainting: crops around the holes --------------------------------------

#: (float crop HxWxC, float hole HxW, origin) -> float crop. ``origin`` (y, x) is where the crop
#: starts on the photo's pixel lattice at the scale it is filled (y0 * scale, x0 * scale): a
#: stochastic model draws its noise by those coordinates, so crops cut differently agree
FillFn = Callable[[np.ndarray, np.ndarray, tuple[int, int]], np.ndarray]


def fill_holes(color: np.ndarray, holes: np.ndarray, fill: FillFn, p: Plan, ctx: JobContext,
               write: Callable[[tuple[int, int, int, int], np.ndarray, np.ndarray], None]) -> None:
    """Fill every hole of ``holes`` (HxW bool) from a crop around it with context.

    Connected holes are boxed with the model's context; a box too big for one crop is cut
    into cells (scattered dust, each filled at full size) or filled whole at a reduced scale
    (a thick hole: detail comes back from the bicubic enlargement only inside the hole). A
    fixed-size model gets every crop resized to its size. ``write(box, filled, hole)`` pastes
    ``filled`` (the crop's dtype) where ``hole`` (the crop's own holes) is set.
    """
    needs = p.needs
    max_side = needs.fixed_size or p.tile or max(color.shape[:2])
    max_side = max(max_side, 4 * needs.context_px)
    regions = mask_regions(holes, needs.context_px, max_side)
    if needs.fixed_size:   # resized to a square: widen the crops to squares (more context, no distortion)
        regions = [_squared(r, *holes.shape) for r in regions]
    elif needs.align_px > 1:   # crops start on the net's grid, as a whole-image run sees it
        a = needs.align_px
        regions = [replace(r, y0=r.y0 - r.y0 % a, x0=r.x0 - r.x0 % a) if r.scale == 1 else r for r in regions]
    for r in iter_regions(regions, ctx):
        hole = holes[r.y0:r.y1, r.x0:r.x1]
        hole_f = hole.astype(np.float32)
        if r.core is not None:  # write only this region's own holes (see Region.core)
            cy0, cy1, cx0, cx1 = r.core
            hole = hole.copy()
            hole[:cy0 - r.y0] = False
            hole[cy1 - r.y0:] = False
            hole[:, :cx0 - r.x0] = False
            hole[:, cx1 - r.x0:] = False
        crop = color[r.y0:r.y1, r.x0:r.x1]
        size = (needs.fixed_size,) * 2 if needs.fixed_size else None
        filled = _fill_at(fill, crop, hole_f, r.scale, size, needs, (r.y0, r.x0))
        write((r.y0, r.y1, r.x0, r.x1), filled, hole)


def _squared(r, height: int, width: int):
    """``r`` grown on its shorter side to a square where the photo allows."""
    target = max(r.y1 - r.y0, r.x1 - r.x0)

    def grow(a0: int, a1: int, limit: int) -> tuple[int, int]:
        side = min(target, limit)
        if a1 - a0 >= side:
            return a0, a1
        a0 = max(0, min(a0 - (side - (a1 - a0)) // 2, limit - side))
        return a0, a0 + side

    (y0, y1), (x0, x1) = grow(r.y0, r.y1, height), grow(r.x0, r.x1, width)
    return replace(r, y0=y0, y1=y1, x0=x0, x1=x1)


def _fill_at(fill: FillFn, crop: np.ndarray, hole: np.ndarray, scale: float, size, needs: Needs,
             origin: tuple[int, int]) -> np.ndarray:
    """The model's fill of one crop (same dtype), at ``scale`` or resized to ``size`` (h, w):
    the photo is resized (area filter down), every resized pixel a hole touches counts as a
    hole, and the fill is resized back (bicubic); only the holes are taken from it."""
    h, w = hole.shape
    if size is None and scale < 1:
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size is None or tuple(size) == (h, w):
        out = shaped(lambda c: fill(c, _pad(hole, *c.shape[:2]), origin), needs)(to_float(crop))
        return from_float(out, crop.dtype)
    sh, sw = size
    down = sh * sw < h * w
    reduced = cv2.resize(hole, (sw, sh), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
    # any coverage makes a resized pixel a hole, unless that leaves nothing known: then the
    # mostly-covered ones, and only as a last resort the crop at full size
    reduced = reduced > 0 if not (reduced > 0).all() else reduced > 0.5
    if reduced.all():
        return _fill_at(fill, crop, hole, 1.0, None, needs, origin)
    small = cv2.resize(to_float(crop), (sw, sh), interpolation=cv2.INTER_AREA if down else cv2.INTER_CUBIC)
    small = np.clip(small, 0, 1).reshape(sh, sw, crop.shape[2])
    out = fill(small, reduced.astype(np.float32), (round(origin[0] * sh / h), round(origin[1] * sw / w)))
    out = np.clip(cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1).reshape(h, w, -1)
    return from_float(out, crop.dtype)


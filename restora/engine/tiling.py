"""Overlapping tiles and mask regions: the mechanics the strategies (``strategies``) use.

A photo larger than a tile is cut into a grid of *cores*. Each core is processed
with ``context_px`` extra pixels of real image around it (so convolutions near the
core's edge see the same neighbourhood as in a whole-image run), and the results
are feathered together across a narrow band (``feather_px``) on each side of every
seam. Outputs are written straight into the final uint8/uint16 array, so
peak memory is the output plus one tile's worth of work, whatever the photo size.

On out-of-memory the whole pass restarts with tiles half the size, down to
``MIN_TILE``; only then does the job fail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from .device import is_oom, release_cached_memory
from .jobs import JobContext, OutOfMemoryError

MIN_TILE = 64
#: A tile function maps a float32 HxWxC crop in [0, 1] to float32 (h*s)x(w*s)xC'.
TileFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Tile:
    """One grid cell, in input pixels. ``[y0:y1, x0:x1]`` is the core."""
    y0: int
    y1: int
    x0: int
    x1: int


def grid(height: int, width: int, tile: int, context_px: int = 16, max_core: Optional[int] = None) -> list[Tile]:
    """Cores of at most ``tile``² pixels (memory is bound by area) with the least work.

    Each seam makes both neighbours process ``context_px`` more rows or columns, so the
    work is about (H + 2c·(ny−1)) × (W + 2c·(nx−1)); the grid minimising it is chosen. A
    core may be up to twice ``tile`` on one side (``max_core``: at most that); cores are
    spread evenly (no slivers).
    """
    area, longest = tile * tile, min(2 * tile, max_core or 2 * tile)
    best: Optional[tuple[int, int, int, int]] = None
    for ny in range(max(1, math.ceil(height / longest)), max(1, math.ceil(height / tile)) + 1):
        nx = max(math.ceil(width / longest), math.ceil(math.ceil(height / ny) * width / area), 1)
        while math.ceil(height / ny) * math.ceil(width / nx) > area:
            nx += 1
        work = (height + 2 * context_px * (ny - 1)) * (width + 2 * context_px * (nx - 1))
        if best is None or (work, ny * nx) < best[:2]:
            best = (work, ny * nx, ny, nx)
    _work, _count, ny, nx = best
    ys = np.linspace(0, height, ny + 1).round().astype(int)
    xs = np.linspace(0, width, nx + 1).round().astype(int)
    return [Tile(int(ys[i]), int(ys[i + 1]), int(xs[j]), int(xs[j + 1]))
            for i in range(ny) for j in range(nx)]


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16/float array to float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) * (1.0 / 255.0)
    if image.dtype == np.uint16:
        return image.astype(np.float32) * (1.0 / 65535.0)
    return image.astype(np.float32, copy=False)


def from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float in [0, 1] to ``dtype`` (uint8/uint16), rounded and clipped."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8 or dtype == np.uint16:
        peak = 255.0 if dtype == np.uint8 else 65535.0
        scaled = values * peak  # one temporary, then in place: tiles of big photos are large
        scaled += 0.5
        np.clip(scaled, 0, peak, out=scaled)
        return scaled.astype(dtype)
    return values.astype(dtype)


def feather_px(context_px: int) -> int:
    """Half-width of the blend across a seam. Aligned crops with full context already
    agree, so the blend only hides what context could not reach; keeping it narrow
    keeps the overlap (the cost of tiling) small."""
    return min(context_px // 4, 8)


def _ramp(length: int, band_before: int) -> np.ndarray:
    """Weights along one axis: 0→1 across the first ``2*band_before`` samples, then 1."""
    w = np.ones(length, np.float32)
    n = min(2 * band_before, length)
    if n > 0:
        w[:n] = (np.arange(n, dtype=np.float32) + 0.5) / n
    return w


def run_tiled(image: np.ndarray, fn: TileFn, *, scale: int = 1, out_channels: Optional[int] = None,
              tile: Optional[int] = None, context_px: int = 16, align_px: int = 1,
              ctx: Optional[JobContext] = None, out_dtype=None, max_core: Optional[int] = None) -> np.ndarray:
    """Apply ``fn`` to ``image`` (HxWxC, uint8/uint16/float32) tile by tile.

    ``tile`` is the core size in input pixels; ``None`` or a size covering the
    whole photo means one pass. ``align_px``: crops start on multiples of it, for
    networks that downsample (a U-Net with stride 8 gives different results on a
    grid shifted by 3 px than on the whole photo). Returns an array of ``image``'s dtype, shape
    (H*scale, W*scale, out_channels) (``out_dtype``: float32 for maps). Raises ``Cancelled`` between tiles and
    ``OutOfMemoryError`` when even ``MIN_TILE`` does not fit. ``max_core``: no core side longer
    (a fixed-size model's crops).
    """
    ctx = ctx or JobContext()
    height, width, channels = image.shape
    out_channels = out_channels or channels
    size = tile if tile and tile > 0 else max(height, width)
    while True:
        try:
            return _run_pass(image, fn, scale, out_channels, size, context_px, max(align_px, 1), ctx,
                             np.dtype(out_dtype or image.dtype), max_core and min(max_core, size))
        except Exception as exc:  # noqa: BLE001 - only OOM is retried, the rest re-raised
            if not is_oom(exc):
                raise
            release_cached_memory()
            if size <= MIN_TILE:
                raise OutOfMemoryError(
                    f"out of memory even with {MIN_TILE}px tiles: close other programs or use --device cpu"
                ) from exc
            size = max(MIN_TILE, min(size, max(height, width)) // 2)


def _run_pass(image, fn, scale, out_channels, tile, context_px, align, ctx: JobContext, dtype,
              max_core=None) -> np.ndarray:
    height, width = image.shape[:2]
    cells = grid(height, width, tile, context_px, max_core)
    out = np.empty((height * scale, width * scale, out_channels), dtype)
    band = feather_px(context_px) if len(cells) > 1 else 0
    for done, cell in enumerate(cells):
        ctx.check()
        # Output region: the core, widened by `band` where a neighbour exists.
        oy0, oy1 = max(cell.y0 - band, 0), min(cell.y1 + band, height)
        ox0, ox1 = max(cell.x0 - band, 0), min(cell.x1 + band, width)
        # Input crop: the output region plus context (clipped to the photo). Every pixel written,
        # including the feather band outside the core, sees a full `context_px` of real image.
        iy0, iy1 = max(oy0 - context_px, 0), min(oy1 + context_px, height)
        ix0, ix1 = max(ox0 - context_px, 0), min(ox1 + context_px, width)
        iy0, ix0 = iy0 - iy0 % align, ix0 - ix0 % align
        result = fn(to_float(image[iy0:iy1, ix0:ix1]))
        expected = ((iy1 - iy0) * scale, (ix1 - ix0) * scale)
        if result.shape[:2] != expected:
            raise RuntimeError(f"tile function returned {result.shape[:2]}, expected {expected}")
        if result.ndim == 2:
            result = result[:, :, None]
        piece = result[(oy0 - iy0) * scale:(oy1 - iy0) * scale, (ox0 - ix0) * scale:(ox1 - ix0) * scale]
        # Feather only across seams with tiles already written (left and top).
        wy = _ramp(piece.shape[0], band * scale if oy0 > 0 else 0)
        wx = _ramp(piece.shape[1], band * scale if ox0 > 0 else 0)
        target = out[oy0 * scale:oy1 * scale, ox0 * scale:ox1 * scale]
        if oy0 > 0 or ox0 > 0:
            weight = (wy[:, None] * wx[None, :])[:, :, None]
            previous = to_float(target)
            piece = previous + (piece - previous) * weight
        target[...] = from_float(piece, dtype)
        ctx.report((done + 1) / len(cells))
    return out


# --- inpainting: work only around the holes ---------------------------------

@dataclass(frozen=True)
class Region:
    """A crop ``[y0:y1, x0:x1]`` of the photo holding some of the mask, with context.

    ``core`` (y0, y1, x0, x1), when set, is the part whose holes this crop fills: holes
    in the context margin belong to a neighbouring region, whose crop sees them with
    full context (filling them here, near the crop's edge, would leave seams).
    """
    y0: int
    y1: int
    x0: int
    x1: int
    core: Optional[tuple[int, int, int, int]] = None
    #: < 1 for a hole too large for one crop at full size: the crop is filled at this scale
    #: and the fill enlarged back (cutting such a hole into tiles would leave crops that lie
    #: wholly inside it, with nothing to fill from)
    scale: float = 1.0


def mask_regions(mask: np.ndarray, context_px: int, max_side: int) -> list[Region]:
    """Crops that cover every masked pixel with ``context_px`` of surroundings.

    Connected holes are boxed, boxes that touch are merged (a hole's fill must see
    its neighbours' context). A box larger than ``max_side`` is cut into a grid when its
    holes are small (scattered dust: each is filled at full size), and filled whole at a
    reduced scale when it holds a hole too large for one crop.
    """
    import cv2

    height, width = mask.shape[:2]
    count, _labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    boxes = []
    for i in range(1, count):
        x, y, w, h = stats[i, :4]
        boxes.append([max(y - context_px, 0), min(y + h + context_px, height),
                      max(x - context_px, 0), min(x + w + context_px, width)])
    merged = True
    while merged:  # few boxes in practice; quadratic merge is fine
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                    boxes[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    regions: list[Region] = []
    cell_side = max(max_side - 2 * context_px, MIN_TILE)
    depth = None   # how far each hole pixel is from known pixels (only computed when needed)
    for y0, y1, x0, x1 in boxes:
        side = max(y1 - y0, x1 - x0)
        if side <= max_side:
            regions.append(Region(y0, y1, x0, x1))
            continue
        if depth is None:
            depth = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
        if 2 * float(depth[y0:y1, x0:x1].max()) > cell_side // 2:   # thick: a grid cell could lie inside
            regions.append(Region(y0, y1, x0, x1, scale=max_side / side))
            continue
        for cell in grid(y1 - y0, x1 - x0, cell_side, context_px):
            regions.append(Region(max(y0 + cell.y0 - context_px, y0), min(y0 + cell.y1 + context_px, y1),
                                  max(x0 + cell.x0 - context_px, x0), min(x0 + cell.x1 + context_px, x1),
                                  core=(y0 + cell.y0, y0 + cell.y1, x0 + cell.x0, x0 + cell.x1)))
    return regions


def iter_regions(regions: list[Region], ctx: JobContext) -> Iterator[Region]:
    """Yield regions, checking cancellation before each and reporting after."""
    for done, region in enumerate(regions):
        ctx.check()
        yield region
        ctx.report((done + 1) / max(len(regions), 1))

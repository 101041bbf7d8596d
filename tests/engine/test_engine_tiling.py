"""run_tiled directly: seams, scale, OOM back-off, cancellation; inpaint regions."""
import numpy as np
import pytest

from restora.engine import CancelToken, Cancelled, JobContext, OutOfMemoryError
from restora.engine import tiling
from restora.engine.tiling import MIN_TILE, grid, mask_regions, run_tiled


def box_blur(crop: np.ndarray) -> np.ndarray:
    """A local 5×5 filter (radius 2, well inside the 16 px context)."""
    import cv2

    out = cv2.blur(crop, (5, 5), borderType=cv2.BORDER_REFLECT)
    return out.reshape(crop.shape)


def upsample2(crop: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(crop, 2, axis=0), 2, axis=1)


@pytest.mark.parametrize("height, width, tile", [(97, 131, 64), (1732, 2309, 1056), (5477, 7302, 1056),
                                                 (100, 100, 64), (3, 500, 64)])
def test_grid_covers_everything_within_area_without_slivers(height, width, tile):
    cells = grid(height, width, tile)
    covered = np.zeros((height, width), int)
    for c in cells:
        covered[c.y0:c.y1, c.x0:c.x1] += 1
        assert (c.y1 - c.y0) * (c.x1 - c.x0) <= tile * tile          # memory is bound by area
        assert max(c.y1 - c.y0, c.x1 - c.x0) <= 2 * tile
    assert (covered == 1).all()
    heights = [c.y1 - c.y0 for c in cells]
    widths = [c.x1 - c.x0 for c in cells]
    assert max(heights) - min(heights) <= 1 and max(widths) - min(widths) <= 1   # spread evenly


def test_grid_prefers_few_seams():
    # 4 MP photo, 1056 px tiles: a 2x2 grid (one seam each way), not 3x2
    assert len(grid(1732, 2309, 1056, context_px=24)) == 4


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("fn, scale", [(box_blur, 1), (upsample2, 2)])
def test_tiled_equals_untiled_for_local_filters(fn, scale, dtype, make_image):
    img = make_image(150, 200, 3, dtype)
    whole = run_tiled(img, fn, scale=scale, tile=None)
    for tile in (64, 100):
        tiled = run_tiled(img, fn, scale=scale, tile=tile)
        assert tiled.shape == (150 * scale, 200 * scale, 3) and tiled.dtype == dtype
        # feathering blends values that agree; only rounding of the 8/16-bit buffer remains
        assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


def test_out_channels_and_2d_results(make_image):
    img = make_image(70, 90, 3, np.uint8)
    out = run_tiled(img, lambda c: c.mean(axis=2), out_channels=1, tile=64)
    assert out.shape == (70, 90, 1)


def test_wrong_tile_result_size_is_reported(make_image):
    with pytest.raises(RuntimeError, match="expected"):
        run_tiled(make_image(70, 90), lambda c: c[:-1], tile=64)


class OOMBelow:
    """A tile function that runs out of memory on crops with a side above ``limit`` px."""

    def __init__(self, limit: int, fn=box_blur):
        self.limit, self.fn = limit, fn
        self.sizes: list[tuple[int, int]] = []
        self.failures = 0

    def __call__(self, crop):
        self.sizes.append(crop.shape[:2])
        if max(crop.shape[:2]) > self.limit:
            self.failures += 1
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.fn(crop)


def test_oom_backs_off_to_smaller_tiles(make_image, monkeypatch):
    released = []
    monkeypatch.setattr(tiling, "release_cached_memory", lambda: released.append(1))
    img = make_image(150, 200, 3, np.uint8)
    reference = run_tiled(img, box_blur, tile=None)
    fn = OOMBelow(limit=110)
    out = run_tiled(img, fn, tile=None)
    assert fn.failures >= 2 and len(released) == fn.failures   # 200 px, then 100 px tiles failed
    assert max(max(s) for s in fn.sizes[-4:]) <= 110               # the last pass used small crops
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1


def test_oom_even_at_minimum_tile_raises(make_image, monkeypatch):
    monkeypatch.setattr(tiling, "release_cached_memory", lambda: None)
    fn = OOMBelow(limit=10)
    with pytest.raises(OutOfMemoryError, match=f"{MIN_TILE}px"):
        run_tiled(make_image(150, 200, 3, np.uint8), fn, tile=None)
    assert fn.failures >= 3     # 200 → 100 → 64 before giving up
    # a real torch OOM type is recognised too
    import torch

    def torch_oom(_crop):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(OutOfMemoryError):
        run_tiled(make_image(70, 70, 3, np.uint8), torch_oom, tile=64)


def test_other_errors_are_not_retried(make_image):
    calls = []

    def boom(crop):
        calls.append(1)
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_tiled(make_image(150, 200), boom, tile=None)
    assert len(calls) == 1


def test_cancel_from_progress_after_first_tile(make_image):
    token = CancelToken()
    tiles = []

    def fn(crop):
        tiles.append(crop.shape)
        return crop

    def progress(fraction):
        token.cancel()

    with pytest.raises(Cancelled):
        run_tiled(make_image(150, 200), fn, tile=64, ctx=JobContext(progress, token))
    assert len(tiles) == 1


def test_job_context_sub_ranges_are_monotone():
    seen = []
    ctx = JobContext(seen.append)
    first, second = ctx.sub(0.0, 0.5), ctx.sub(0.5, 1.0)
    for f in (0, 0.5, 1):
        first.report(f)
    for f in (0, 0.5, 1, 2):   # out-of-range values are clamped
        second.report(f)
    assert seen == [0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0]


def test_mask_regions_cover_every_hole_once_with_cores():
    mask = np.zeros((150, 200), bool)
    mask[70:73, 5:195] = True
    mask[140:145, 190:195] = True
    regions = mask_regions(mask, context_px=24, max_side=96)
    owned = np.zeros(mask.shape, int)
    for r in regions:
        assert r.y1 - r.y0 <= 96 + 24 and r.x1 - r.x0 <= 96 + 48
        y0, y1, x0, x1 = r.core if r.core else (r.y0, r.y1, r.x0, r.x1)
        assert r.y0 <= y0 < y1 <= r.y1 and r.x0 <= x0 < x1 <= r.x1
        owned[y0:y1, x0:x1] += mask[y0:y1, x0:x1]
    assert (owned[mask] == 1).all(), "every hole pixel is filled by exactly one region"


def test_tile_size_follows_what_the_model_says_about_tiling():
    from restora.engine.device import resolve_device
    from restora.engine.strategies import choose_tile

    class Model:
        bytes_per_pixel, max_cpu_tile, tiling = 2048, 512, "supported"

    cpu = resolve_device("cpu")
    model = Model()
    assert choose_tile(model, cpu, None, 3000, 3000) <= 512          # small tiles: the CPU budget
    model.tiling = "discouraged"                                    # seams hurt it: far bigger tiles
    assert (choose_tile(model, cpu, None, 3000, 3000) or 3000) > 512
    model.tiling = "internal"                                       # it needs the whole image
    assert choose_tile(model, cpu, None, 3000, 3000) is None
    assert choose_tile(model, cpu, 256, 3000, 3000) == 256          # the person's --tile still wins

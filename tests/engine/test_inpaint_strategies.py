"""How inpainting crops a photo: small holes at full size around each, a hole too large for
one crop filled whole at a reduced scale (never cut into crops that lie inside it)."""
from __future__ import annotations

import numpy as np
import pytest

from restora.engine import Registry, inpaint
from restora.engine.tiling import mask_regions


@pytest.fixture
def ramp():
    yy, xx = np.mgrid[0:300, 0:300]
    return np.dstack([xx * 255 / 299, yy * 255 / 299, np.full((300, 300), 128)]).astype(np.uint8)


def test_a_large_hole_is_one_reduced_region_and_dust_stays_full_size():
    big = np.zeros((300, 300), bool)
    big[20:280, 20:280] = True
    (region,) = mask_regions(big, 16, 96)
    assert region.scale < 1 and region.core is None
    dust = np.zeros((300, 300), bool)
    dust[::12, ::12] = True                                    # many specks: one merged box
    regions = mask_regions(dust, 16, 96)
    assert len(regions) > 1 and all(r.scale == 1 for r in regions)


def test_no_part_of_a_large_hole_is_left_unfilled(ramp):
    reg = Registry(include_builtin=False)
    holes = np.zeros((300, 300), np.uint8)
    holes[20:280, 20:280] = 255
    tiled = inpaint(ramp, holes, model="telea", tile=64, registry=reg)
    inside = holes > 0
    assert not (tiled[inside] == ramp[inside]).all(axis=1).any() or \
        (tiled[inside] == ramp[inside]).all(axis=1).mean() < 0.01
    whole = inpaint(ramp, holes, model="telea", tile=0, registry=reg)
    assert np.abs(tiled.astype(int) - whole).mean() < 6            # a smooth ramp fills alike either way
    assert np.array_equal(tiled[~inside], ramp[~inside])
    nearly_all = np.full((300, 300), 255, np.uint8)
    nearly_all[0, 0] = 0
    filled = inpaint(ramp, nearly_all, model="telea", tile=64, registry=reg)
    assert (filled == ramp).all(axis=2).sum() < 10                  # filled from the one known pixel


def test_scattered_holes_tiled_match_the_whole_image(ramp):
    reg = Registry(include_builtin=False)
    holes = np.zeros((300, 300), np.uint8)
    holes[::25, :] = 255                                          # scratches across the photo
    tiled = inpaint(ramp, holes, model="telea", tile=64, registry=reg)
    whole = inpaint(ramp, holes, model="telea", tile=0, registry=reg)
    assert np.abs(tiled.astype(int) - whole).max() <= 6

"""Property tests of the task API with the classical models: random shapes, pixel types,
channel counts and parameters, valid or not.

The property: a call with arguments the API accepts returns an image of the documented
shape, layout and dtype (and leaves the input alone); any other call raises a
BadInputError. Nothing else (TypeError, cv2.error, ...) ever escapes.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from helpers import random_pixels

from restora.engine import (BadInputError, ModelError, Registry, RestoraError, denoise, generate, inpaint,
                            upscale)

PROPERTY = settings(max_examples=80, deadline=None)
SCALES = (2, 3, 4, 8)


def mostly(valid, anything):
    """Values from ``valid`` seven times in eight, else from ``anything`` (valid or not): so that
    enough calls of several arguments are entirely valid and really run."""
    return st.sampled_from([valid] * 7 + [anything]).flatmap(lambda strategy: strategy)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return Registry(user_dir=tmp_path_factory.mktemp("no-models"), include_builtin=False)


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_in(value, lo, hi) -> bool:
    return is_int(value) and lo <= value <= hi


def valid_image(image) -> bool:
    return image.dtype in (np.uint8, np.uint16) and (image.ndim == 2 or image.shape[2] in (1, 2, 3, 4))




@st.composite
def images(draw):
    """(image, h, w): 1..24 px sides (1xN included), 2-D or HxWxC with C in 0..6, of uint8, uint16
    or a type the engine refuses, sometimes a non-contiguous view."""
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    channels = draw(mostly(st.sampled_from([None, 1, 2, 3, 4]), st.integers(0, 6)))
    dtype = draw(mostly(st.sampled_from([np.uint8, np.uint16]),
                        st.sampled_from([np.float32, np.float64, np.int16, np.bool_])))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    image = random_pixels(rng, (h, w) if channels is None else (h, w, channels), dtype)
    if draw(st.booleans()):
        image = np.flip(image, axis=1)      # negative strides
    return image, h, w


junk = st.sampled_from(["10", b"2", None, [2], 1j, True, False, math.nan])
sigmas = mostly(st.one_of(st.none(), st.floats(0.01, 100), st.integers(1, 100)),
                st.one_of(st.floats(), st.integers(-10, 300), st.just(10 ** 400), junk))
scales = mostly(st.sampled_from(SCALES + (np.int64(3),)),
                st.one_of(st.integers(-1, 9), st.sampled_from([2.0, 3.0, "2", True, None])))
tiles = mostly(st.one_of(st.none(), st.integers(0, 200), st.just(np.int64(64))),
               st.one_of(st.integers(-5, -1), st.sampled_from([2 ** 20, 64.0, "64", True])))
seeds = mostly(st.one_of(st.integers(0, 2 ** 32 - 1), st.just(np.uint32(7))),
               st.one_of(st.integers(-2 ** 70, 2 ** 70), st.floats(), junk, st.sampled_from([2 ** 32, np.int64(-1)])))
counts = mostly(st.integers(1, 256), st.one_of(st.integers(-2, 300), junk))
latent_dims = mostly(st.one_of(st.none(), st.integers(1, 65536)), st.one_of(st.integers(-2, 70000), junk))
devices = mostly(st.sampled_from(["cpu", "CPU"]), st.sampled_from(["gpu", "", 3]))


def valid_common(tile, device) -> bool:
    return (tile is None or int_in(tile, 0, 65536)) and isinstance(device, str) and device.lower() == "cpu"


def check_result(out, image, h, w, scale=1):
    assert isinstance(out, np.ndarray) and out.dtype == image.dtype
    assert out.shape == (h * scale, w * scale) + image.shape[2:]


def run(call, should_work: bool):
    """The call's result, or None after a RestoraError; anything else fails the test."""
    event("valid arguments" if should_work else "invalid arguments")  # see --hypothesis-show-statistics
    try:
        out = call()
    except RestoraError as exc:
        assert not should_work, f"valid arguments refused: {exc}"
        assert type(exc) is BadInputError and "\n" not in str(exc), repr(exc)
        return None
    assert should_work, "invalid arguments accepted"
    return out


@PROPERTY
@given(images(), sigmas, tiles, devices)
def test_denoise_property(registry, sample, sigma, tile, device):
    image, h, w = sample
    before = image.copy()
    ok_sigma = sigma is None or (isinstance(sigma, numbers.Real) and not isinstance(sigma, bool)
                                 and 0 < sigma <= 100)     # NaN fails the comparison too
    should_work = valid_image(image) and ok_sigma and valid_common(tile, device)
    out = run(lambda: denoise(image, sigma, model="nlm", device=device, tile=tile, registry=registry), should_work)
    if out is not None:
        check_result(out, image, h, w)
        if image.ndim == 3 and image.shape[2] in (2, 4):
            assert np.array_equal(out[..., -1], image[..., -1]), "alpha passes through"
    assert np.array_equal(image, before)


@PROPERTY
@given(images(), scales, st.sampled_from(["bicubic", "lanczos"]), tiles, devices)
def test_upscale_property(registry, sample, scale, model, tile, device):
    image, h, w = sample
    should_work = valid_image(image) and is_int(scale) and scale in SCALES and valid_common(tile, device)
    out = run(lambda: upscale(image, scale, model=model, device=device, tile=tile, registry=registry), should_work)
    if out is not None:
        check_result(out, image, h, w, int(scale))


@st.composite
def masks(draw, h, w):
    """(mask, holes, valid): a mask of any numeric type, usually the photo's size, sometimes with
    channels; holes at random, everywhere, nowhere or everywhere but one pixel."""
    dtype = draw(mostly(st.sampled_from([np.bool_, np.uint8, np.uint16, np.float32, np.float64, np.int8]),
                        st.just(np.str_)))
    mh, mw = draw(mostly(st.just((h, w)), st.sampled_from([(h + 1, w), (h, w + 2)])))
    layout = draw(mostly(st.sampled_from([(), (1,), (3,), (4,)]), st.sampled_from([(0,), (5,)])))
    fill = draw(st.sampled_from(["random", "random", "random", "all", "none", "all but one"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    holes = {"random": rng.random((mh, mw)) > 0.6, "all": np.ones((mh, mw), bool),
             "none": np.zeros((mh, mw), bool)}.get(fill)
    if holes is None:
        holes = np.ones((mh, mw), bool)
        holes[rng.integers(mh), rng.integers(mw)] = False
    mask = (holes.astype(np.uint8) * 100).astype(dtype)   # 100 fits every dtype drawn, int8 included
    if layout:
        mask = np.repeat(mask[:, :, None], layout[0], axis=2)
        if layout[0] in (2, 4):                       # an opaque alpha plane: the holes stay holes
            mask[:, :, -1] = 1
    ok = np.dtype(dtype).kind in "biuf" and (mh, mw) == (h, w) and layout in ((), (1,), (3,), (4,))
    return mask, holes, ok


@PROPERTY
@given(images(), st.data(), st.sampled_from(["telea", "navier-stokes"]), seeds, tiles, devices)
def test_inpaint_property(registry, sample, data, model, seed, tile, device):
    image, h, w = sample
    mask, holes, ok_mask = data.draw(masks(h, w))
    ok_mask = ok_mask and not holes.all()             # classical fills need surrounding pixels
    should_work = (valid_image(image) and ok_mask and int_in(seed, 0, 2 ** 32 - 1)
                   and valid_common(tile, device))
    out = run(lambda: inpaint(image, mask, model=model, seed=seed, device=device, tile=tile,
                              registry=registry), should_work)
    if out is not None:
        check_result(out, image, h, w)
        assert np.array_equal(out[~holes], image[~holes]), "pixels outside the mask are kept"


@PROPERTY
@given(seeds, counts, latent_dims, devices)
def test_generate_property(registry, seed, count, latent_dim, device):
    """No generator is available: valid arguments give a ModelError, others a BadInputError."""
    valid = (int_in(seed, 0, 2 ** 32 - 1) and int_in(count, 1, 256)
             and (latent_dim is None or int_in(latent_dim, 1, 65536)) and valid_common(None, device))
    with pytest.raises(RestoraError) as info:
        generate(seed=seed, count=count, latent_dim=latent_dim, device=device, registry=registry)
    assert type(info.value) is (ModelError if valid else BadInputError), repr(info.value)

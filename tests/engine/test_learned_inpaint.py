"""A Restora-format inpainting network (random weights here): sampled fills through the engine."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import restora_model_file

from restora.engine import CancelToken, Cancelled, Registry, inpaint, run_task


@pytest.fixture(scope="module")
def inpainter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inpaint-models")
    restora_model_file(folder, "InpaintGenerator", {"channels": [8, 16, 32], "blocks": 2, "spectral_every": 2},
                       "inpaint", "tiny-inpaint")
    return folder


def _holes(h, w):
    m = np.zeros((h, w), np.uint8)
    m[10:30, 12:40] = 255
    m[50:52, 5:90] = 255
    return m


def test_sampled_fills_keep_every_other_pixel(inpainter, make_image):
    reg = Registry(user_dir=inpainter, include_builtin=False)
    info = next(i for i in reg.models("inpaint") if i.name == "tiny-inpaint")
    assert info.stochastic and info.source == "user"
    img, holes = make_image(64, 96, 3), _holes(64, 96)
    a = inpaint(img, holes, model="tiny-inpaint", seed=3, device="cpu", registry=reg)
    again = inpaint(img, holes, model="tiny-inpaint", seed=3, device="cpu", registry=reg)
    other = inpaint(img, holes, model="tiny-inpaint", seed=4, device="cpu", registry=reg)
    outside = holes == 0
    assert np.array_equal(a[outside], img[outside]) and np.array_equal(other[outside], img[outside])
    assert np.array_equal(a, again), "the same seed gives the same fill"
    assert not np.array_equal(a[~outside], other[~outside]), "another seed gives another fill"
    step = run_task("inpaint", img, {"seed": 3}, mask=holes, model="tiny-inpaint", device="cpu", registry=reg).step
    assert step.model.sha256 and step.params == {"seed": 3}


def test_gray_photos_and_cancel(inpainter, make_image):
    reg = Registry(user_dir=inpainter, include_builtin=False)
    gray, holes = make_image(64, 96, 1), _holes(64, 96)
    out = inpaint(gray, holes, model="tiny-inpaint", seed=0, device="cpu", registry=reg)
    assert out.shape == gray.shape and np.array_equal(out[holes == 0], gray[holes == 0])
    token = CancelToken()
    token.cancel()
    before = gray.copy()
    with pytest.raises(Cancelled):
        inpaint(gray, holes, model="tiny-inpaint", device="cpu", registry=reg, cancel=token)
    assert np.array_equal(gray, before)


def test_crops_agree_with_the_whole_image(tmp_path, make_image):
    """The noise is drawn by the photo's pixel positions and crops start on the net's grid,
    so dust filled from many small crops gets the fill one whole-photo crop gives."""
    restora_model_file(tmp_path, "InpaintGenerator", {"channels": [8, 16, 32], "blocks": 1, "spectral_every": 0,
                                                      "prefill": True}, "inpaint", "local-inpaint")
    reg = Registry(user_dir=tmp_path, include_builtin=False)
    img = make_image(900, 900, 3)
    holes = np.zeros((900, 900), np.uint8)
    rng = np.random.default_rng(0)
    for y, x in rng.integers(8, 892, (60, 2)):
        holes[y - 2:y + 2, x - 2:x + 2] = 255          # scattered dust all over the photo
    calls: list = []
    whole = inpaint(img, holes, model="local-inpaint", seed=5, device="cpu", tile=0, registry=reg)
    cells = inpaint(img, holes, model="local-inpaint", seed=5, device="cpu", tile=96, registry=reg,
                    progress=calls.append)
    assert len(calls) > 10                             # many crops
    outside = holes == 0
    assert np.array_equal(cells[outside], img[outside])
    diff = np.abs(whole.astype(int) - cells.astype(int))[~outside]
    assert diff.max() <= 1, (diff.mean(), diff.max())
    other = inpaint(img, holes, model="local-inpaint", seed=6, device="cpu", tile=96, registry=reg)
    assert np.abs(other.astype(int) - cells.astype(int))[~outside].mean() > 5     # seeds still differ


def test_a_net_refining_a_navier_stokes_guide(tmp_path, make_image):
    """prefill "ns": the engine computes the classical guide the net refines near the edges."""
    from restora.engine.models import nets

    restora_model_file(tmp_path, "InpaintGenerator", {"channels": [8, 16, 32], "blocks": 1, "spectral_every": 0,
                                                      "prefill": "ns"}, "inpaint", "ns-inpaint")
    reg = Registry(user_dir=tmp_path, include_builtin=False)
    img, holes = make_image(64, 96, 3), _holes(64, 96)
    out = inpaint(img, holes, model="ns-inpaint", seed=1, device="cpu", registry=reg)
    outside = holes == 0
    assert np.array_equal(out[outside], img[outside]) and not np.array_equal(out[~outside], img[~outside])
    # at its start (residual zero) the fill is the guide near the edges, push-pull deep inside
    import torch

    net = nets.InpaintGenerator([8, 16, 32], 1, 0, prefill="ns").eval()
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    m = torch.from_numpy(holes > 0)[None, None].float()
    g = torch.from_numpy(nets.ns_guide(img / 255.0, holes > 0)).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        y = net(x, m, None, g)
    edge = (m > 0) & (nets.hole_depth_weight(m) == 0)
    assert torch.allclose(y[edge.expand_as(y)], g[edge.expand_as(g)], atol=1e-6)


def test_noise_depth_lets_the_seed_vary_only_deep_in_holes(tmp_path, make_image):
    """noise_depth (4, 12): a 2-px scratch gets the same fill whatever the seed; a block's
    inside differs from seed to seed; the pixels near its edge differ less."""
    restora_model_file(tmp_path, "InpaintGenerator", {"channels": [8, 16, 32], "blocks": 1, "spectral_every": 0,
                                                      "prefill": "ns", "noise_depth": [4, 12]}, "inpaint", "gated")
    reg = Registry(user_dir=tmp_path, include_builtin=False)
    img, holes = make_image(64, 96, 3), _holes(64, 96)   # a 20x28 block and a 2-px scratch
    a = inpaint(img, holes, model="gated", seed=1, device="cpu", registry=reg).astype(int)
    b = inpaint(img, holes, model="gated", seed=2, device="cpu", registry=reg).astype(int)
    scratch, deep = np.zeros_like(holes, bool), np.zeros_like(holes, bool)
    scratch[50:52, 5:90] = True
    deep[16:24, 20:32] = True
    diff = np.abs(a - b).max(axis=2)
    assert diff[scratch].max() <= 1 and diff[deep].mean() > 3
    with pytest.raises(Exception, match="noise_depth"):
        restora_model_file(tmp_path, "InpaintGenerator", {"channels": [8, 16, 32], "noise_depth": [9, 3]},
                           "inpaint", "bad")


def test_cancel_between_holes_leaves_the_photo_as_it_was(inpainter, make_image):
    """Two holes far apart are two crops: cancelling after the first stops before the second."""
    reg = Registry(user_dir=inpainter, include_builtin=False)
    img = make_image(64, 420, 3)
    holes = np.zeros((64, 420), np.uint8)
    holes[20:30, 5:20] = 255
    holes[20:30, 395:410] = 255
    before, token, reports = img.copy(), CancelToken(), []

    def progress(fraction):
        reports.append(fraction)
        if fraction > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        inpaint(img, holes, model="tiny-inpaint", device="cpu", registry=reg, progress=progress, cancel=token)
    assert np.array_equal(img, before) and len([r for r in reports if 0 < r < 1]) == 1

"""The Generator API every generator shares: seeds, truncation, walks (slerp in Z here)."""
from __future__ import annotations

import numpy as np
import torch

from restora.engine import Registry, generate
from restora.engine.models.generator import slerp


def _dcgan_file(tmp_path):
    from torch import nn

    torch.manual_seed(0)
    net = nn.Module()
    net.main = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, 1, 0, bias=False), nn.BatchNorm2d(8), nn.ReLU(True),
                             nn.ConvTranspose2d(8, 3, 4, 2, 1, bias=False), nn.Tanh())
    path = tmp_path / "netG.pth"
    torch.save(net.state_dict(), path)
    return path


def test_a_dcgan_walk_is_a_slerp_in_z_between_the_seeds_images(tmp_path):
    path = _dcgan_file(tmp_path)
    reg = Registry(user_dir=tmp_path / "none", include_builtin=False)
    run = lambda **kw: generate(model=str(path), device="cpu", registry=reg, **kw)  # noqa: E731
    walk = run(interpolate=(3, 4), steps=5)
    assert len(walk) == 5 and walk[0].shape == (8, 8, 3)
    assert np.array_equal(walk[0], run(seed=3)[0]) and np.array_equal(walk[-1], run(seed=4)[0])
    za, zb = (torch.randn(16, generator=torch.Generator().manual_seed(s)) for s in (3, 4))
    mid = slerp(za, zb, 0.5)
    assert abs(float(mid.norm()) - (float(za.norm()) + float(zb.norm())) / 2) < 0.5   # on the sphere, not inside
    assert torch.allclose(mid, (za + zb) / (za + zb).norm() * mid.norm(), atol=1e-5)    # and half way round
    assert not np.array_equal(run(seed=3, truncation=0.5)[0], run(seed=3)[0])        # Z scaled toward 0
    assert np.array_equal(run(seed=3, truncation=0.0)[0], run(seed=9, truncation=0.0)[0])

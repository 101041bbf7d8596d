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


def _sign_generator(tmp_path):
    """A trusted TorchScript generator that declares no output range: a flat 0.5 image, or
    -0.5 where the latent's first value is above 1.5 (a few seeds in a hundred)."""
    from restora.engine import trust

    class Sign(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.latent_dim = 8

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            flat = torch.where(z[:, :1] > 1.5, -0.5, 0.5)
            return flat[:, :, None, None].expand(z.shape[0], 3, 4, 4)

    path = tmp_path / "sign.pt"
    torch.jit.save(torch.jit.script(Sign()), str(path))
    trust.trust(path)
    return path


def test_a_seed_gives_the_same_pixels_whatever_seeds_share_its_batch(tmp_path):
    """Without a declared range, the range is decided once from fixed latents, not from each
    batch: a seed drawn alone, in a batch with a negative image, or at the end of a walk,
    gives the same pixels."""
    path = _sign_generator(tmp_path)
    reg = Registry(user_dir=tmp_path / "none", include_builtin=False)
    run = lambda **kw: generate(model=str(path), device="cpu", registry=reg, **kw)  # noqa: E731
    first = lambda s: float(torch.randn(8, generator=torch.Generator().manual_seed(s))[0])  # noqa: E731
    neg = next(s for s in range(8, 500) if first(s) > 1.5)
    pos = neg + 1 if first(neg + 1) <= 1.5 else neg + 2
    alone = run(seed=pos)[0]
    batched = run(seed=min(neg, pos), count=abs(pos - neg) + 1)
    assert np.array_equal(batched[pos - min(neg, pos)], alone)
    assert np.array_equal(run(interpolate=(neg, pos), steps=3)[-1], alone)
    assert not np.array_equal(run(seed=neg)[0], alone)


def test_a_latent_size_that_does_not_fit_the_file_is_refused_before_sampling(tmp_path):
    from restora.engine import BadInputError
    import pytest

    path = _dcgan_file(tmp_path)
    reg = Registry(user_dir=tmp_path / "none", include_builtin=False)
    with pytest.raises(BadInputError, match="latent size is 16"):
        generate(model=str(path), device="cpu", registry=reg, latent_dim=5)
    assert generate(model=str(path), device="cpu", registry=reg, latent_dim=16)[0].shape == (8, 8, 3)

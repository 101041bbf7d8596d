"""DCGAN generators saved as plain weights load as data into our own network."""
from __future__ import annotations

import numpy as np
import pytest

from restora.engine import Registry, generate


def _example_generator(nz=16, ngf=8, nc=3):
    """PyTorch's DCGAN example generator (smaller), with non-trivial batch-norm statistics."""
    import torch
    from torch import nn

    layers = [nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
              nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
              nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False), nn.Tanh()]
    torch.manual_seed(0)
    net = nn.Module()
    net.main = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_dcgan_state_dict_samples_like_the_original(tmp_path, suffix):
    import torch

    net = _example_generator()
    path = tmp_path / f"netG{suffix}"
    if suffix == ".pth":
        torch.save(net.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    reg = Registry(user_dir=tmp_path / "none", include_builtin=False)
    info = reg.get(str(path), "generate").info
    assert info.task == "generate" and not info.trusted_code and "latent size 16" in info.description
    images = generate(model=str(path), seed=5, count=2, device="cpu", registry=reg)
    assert images[0].shape == (16, 16, 3) and not np.array_equal(images[0], images[1])
    z = torch.randn(16, generator=torch.Generator().manual_seed(5))[None, :, None, None]
    with torch.no_grad():
        expected = ((net.main(z) + 1) / 2).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(images[0] / 255.0 - expected).max() <= 1 / 255   # the same image, to rounding


def test_other_weights_are_not_taken_for_a_generator(model_files, tmp_path):
    reg = Registry(user_dir=tmp_path / "none", include_builtin=False)
    assert reg.get(str(model_files["rgb_x2"]), "upscale").info.architecture == "RealESRGAN Compact"

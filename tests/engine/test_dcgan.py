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


def test_an_image_model_file_is_read_once_while_being_recognised(tmp_path, monkeypatch):
    """The DCGAN check reads the weights; spandrel then gets those, not a second read."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact   # spandrel's own SRVGGNetCompact

    from restora.engine.models import sources, spandrel_models

    path = tmp_path / "compact-x2.safetensors"
    save_file({k: v.contiguous() for k, v in Compact(num_feat=8, num_conv=2, upscale=2).state_dict().items()}, str(path))
    reads = []
    real = spandrel_models.read_state_dict
    monkeypatch.setattr(spandrel_models, "read_state_dict", lambda p, m=None: reads.append(p) or real(p, m))
    model = sources.load_model_file(path)
    assert (model.info.task, model.info.scale) == ("upscale", 2) and reads == [path]
    assert not sources._read and not sources._pending   # nothing kept after the call

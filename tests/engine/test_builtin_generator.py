"""Our own generator ships as DCGAN weights in resources/models: listed as built-in, the
default of `generate` when no model is named, read as data."""
from __future__ import annotations

import numpy as np

from restora.engine import Registry, generate
from restora.engine.models import builtin


def _dcgan_file(folder, name="restora-texture-gan"):
    import torch
    from safetensors.torch import save_file
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(16, 32, 4, 1, 0, bias=False), nn.BatchNorm2d(32), nn.ReLU(True),
                        nn.ConvTranspose2d(32, 3, 4, 2, 1, bias=False), nn.Tanh())
    holder = nn.Module()
    holder.main = net
    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in holder.state_dict().items()}, str(path),
              {"task": "generate", "name": name, "description": "Restora texture generator (test weights)"})
    return path


def test_the_shipped_generator_is_builtin_and_the_default(tmp_path, monkeypatch):
    shipped = tmp_path / "resources"
    shipped.mkdir()
    _dcgan_file(shipped)
    monkeypatch.setattr(builtin, "RESOURCES", shipped)
    reg = Registry(user_dir=tmp_path / "none")
    info = next(i for i in reg.models("generate"))
    assert (info.name, info.source, info.trusted_code) == ("restora-texture-gan", "builtin", False)
    assert info.description == "Restora texture generator (test weights)"
    assert reg.default_name("generate") == "restora-texture-gan"
    a = generate(seed=3, count=2, device="cpu", registry=reg)
    b = generate(seed=3, count=2, device="cpu", registry=reg)
    assert len(a) == 2 and a[0].shape == (8, 8, 3) and a[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[0], a[1])

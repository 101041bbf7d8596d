"""Our own generator ships in resources/models (a TextureGenerator named in its metadata;
DCGAN weights are read too): listed as built-in, the default of `generate` when no model is
named, read as data."""
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


def _shipped(tmp_path, monkeypatch, make_file):
    """A registry whose resources/models holds only what ``make_file(folder)`` writes; its generator."""
    shipped = tmp_path / "resources"
    shipped.mkdir()
    make_file(shipped)
    monkeypatch.setattr(builtin, "RESOURCES", shipped)
    reg = Registry(user_dir=tmp_path / "none")
    return reg, next(i for i in reg.models("generate"))


def test_the_shipped_generator_is_builtin_and_the_default(tmp_path, monkeypatch):
    reg, info = _shipped(tmp_path, monkeypatch, _dcgan_file)
    assert (info.name, info.source, info.trusted_code) == ("restora-texture-gan", "builtin", False)
    assert info.description == "Restora texture generator (test weights)"
    assert reg.default_name("generate") == "restora-texture-gan"
    a = generate(seed=3, count=2, device="cpu", registry=reg)
    b = generate(seed=3, count=2, device="cpu", registry=reg)
    assert len(a) == 2 and a[0].shape == (8, 8, 3) and a[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[0], a[1])


def _texture_file(folder, widths=(16, 8, 8, 4, 4), arch="TextureGenerator", config=None):
    import json

    import torch
    from safetensors.torch import save_file

    from restora.engine.models.nets import TextureGenerator

    torch.manual_seed(1)
    net = TextureGenerator(8, list(widths))
    with torch.no_grad():   # batch-norm statistics of its own outputs, as training leaves them
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        net.train()(torch.randn(64, 8))
    path = folder / "restora-texture-gan.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path),
              {"task": "generate", "name": "restora-texture-gan", "generator_arch": arch,
               "generator_config": json.dumps(config or {"latent": 8, "widths": list(widths)})})
    return path


def test_a_shipped_texture_generator_samples_64px_images_by_seed(tmp_path, monkeypatch):
    reg, info = _shipped(tmp_path, monkeypatch, _texture_file)
    assert (info.source, info.trusted_code, info.architecture) == ("builtin", False, "Restora texture generator")
    assert reg.default_name("generate") == "restora-texture-gan"
    a = generate(seed=5, count=3, device="cpu", registry=reg)
    b = generate(seed=6, count=2, device="cpu", registry=reg)
    assert a[0].shape == (64, 64, 3) and a[0].dtype == np.uint8
    assert np.array_equal(a[1], b[0]) and np.array_equal(a[2], b[1])   # seed N is one image
    assert not np.array_equal(a[0], a[1])


def test_a_shipped_generator_naming_another_class_or_shape_is_refused(tmp_path):
    import pytest

    from restora.engine.jobs import ModelError

    for kw, words in (({"arch": "os.system"}, "unknown generator architecture"),
                      ({"config": {"latent": 8, "widths": [16, 8, 8, 4, 8]}}, "do not match"),
                      ({"config": {"latent": 8, "widths": [10 ** 7]}}, "do not match")):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        with pytest.raises(ModelError, match=words):
            builtin.builtin_generator_net(_texture_file(folder, **kw))

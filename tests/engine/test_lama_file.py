"""A community LaMa file (big-lama's architecture, random weights) runs the whole inpaint path."""
from __future__ import annotations

import numpy as np
import pytest

from restora.engine import Registry, inpaint


@pytest.fixture(scope="module")
def lama_file(tmp_path_factory):
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.LaMa import LaMa

    torch.manual_seed(0)
    net = LaMa(in_nc=4, out_nc=3)   # as big-lama: RGB + mask in
    path = tmp_path_factory.mktemp("lama") / "big-lama.safetensors"
    save_file({k: v.detach().half().contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_lama_file_is_listed_and_fills_only_the_holes(lama_file, make_image):
    reg = Registry(user_dir=lama_file.parent, include_builtin=False)
    info = next(i for i in reg.models("inpaint") if i.name == "big-lama")
    assert info.architecture == "LaMa" and not info.half            # LaMa runs in fp32
    model = reg.get("big-lama", "inpaint")
    assert model.align_px == 8                                      # crops start on LaMa's grid
    img = make_image(70, 90, 3)
    holes = np.zeros((70, 90), np.uint8)
    holes[20:36, 30:50] = 255
    out = inpaint(img, holes, model="big-lama", device="cpu", registry=reg)
    keep = holes == 0
    assert out.shape == img.shape and np.array_equal(out[keep], img[keep])
    assert not np.array_equal(out[~keep], img[~keep])
    gray = make_image(70, 90, 1)
    assert inpaint(gray, holes, model="big-lama", device="cpu", registry=reg).shape == gray.shape

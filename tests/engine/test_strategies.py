"""The strategy follows from what a model declares: multiple-of padding, fixed-size crops,
whole image, and spandrel's size requirements."""
from __future__ import annotations

import numpy as np
import pytest

from restora.engine import Registry, denoise, inpaint
from restora.engine.device import resolve_device
from restora.engine.models.base import ImageModel, ModelInfo
from restora.engine.strategies import Needs, needs_of, padded_size, plan


class Recording(ImageModel):
    """A pointwise 'model' that records the crops it is given (pointwise: padding cannot
    change what it returns, so the result must equal the formula everywhere)."""

    def __init__(self, task: str, **needs):
        self.info = ModelInfo(f"rec-{task}", task, "classical", "test model", "test", in_channels=3, out_channels=3)
        for key, value in needs.items():
            setattr(self, key, value)
        self.shapes: list[tuple[int, int]] = []

    def process(self, crop, mask=None, check=None, **_params):
        self.shapes.append(crop.shape[:2])
        if mask is not None:
            assert mask.shape == crop.shape[:2]
            known = mask < 0.5
            out = crop.copy()
            out[~known] = crop[known].mean(axis=0) if known.any() else 0.5
            return out
        return crop * 0.5 + 0.25


def registry_with(model, tmp_path) -> Registry:
    reg = Registry(user_dir=tmp_path / "none", include_builtin=False)
    reg._fixed[model.info.name] = model
    return reg


def test_a_fixed_size_model_gets_crops_of_exactly_its_size(tmp_path, make_image):
    model = Recording("denoise", fixed_size=64, context_px=8)
    img = make_image(150, 97, 3)
    out = denoise(img, 10.0, model=model.info.name, device="cpu", registry=registry_with(model, tmp_path))
    assert set(model.shapes) == {(64, 64)} and len(model.shapes) > 1     # tiled, every crop 64x64
    expected = np.clip(np.round((img / 255.0 * 0.5 + 0.25) * 255), 0, 255)
    assert np.abs(out.astype(int) - expected).max() <= 1                 # every pixel covered once


def test_a_fixed_size_model_on_a_photo_smaller_than_its_size(tmp_path, make_image):
    model = Recording("denoise", fixed_size=64, context_px=8)
    img = make_image(20, 33, 3)
    out = denoise(img, 10.0, model=model.info.name, device="cpu", registry=registry_with(model, tmp_path))
    assert model.shapes == [(64, 64)] and out.shape == img.shape


def test_multiple_of_pads_crops_and_crops_the_result_back(tmp_path, make_image):
    model = Recording("denoise", multiple_of=16, context_px=8)
    img = make_image(101, 77, 3)
    out = denoise(img, 10.0, model=model.info.name, device="cpu", tile=48, registry=registry_with(model, tmp_path))
    assert model.shapes and all(h % 16 == 0 and w % 16 == 0 for h, w in model.shapes)
    expected = np.clip(np.round((img / 255.0 * 0.5 + 0.25) * 255), 0, 255)
    assert out.shape == img.shape and np.abs(out.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("side", [12, 90])   # a hole smaller and larger than the model's size
def test_inpainting_resizes_each_hole_crop_to_a_fixed_size_model(tmp_path, make_image, side):
    model = Recording("inpaint", fixed_size=64, context_px=8)
    img = make_image(200, 180, 3)
    holes = np.zeros((200, 180), np.uint8)
    holes[50:50 + side, 40:40 + side] = 255
    out = inpaint(img, holes, model=model.info.name, device="cpu", registry=registry_with(model, tmp_path))
    assert set(model.shapes) == {(64, 64)}
    keep = holes == 0
    assert np.array_equal(out[keep], img[keep])                           # outside the hole: bit for bit
    assert not np.array_equal(out[~keep], img[~keep])


def test_whole_image_and_tiles_follow_the_tiling_hint():
    cpu = resolve_device("cpu")
    model = Recording("denoise", tiling="internal")
    assert plan(model, cpu, None, 5000, 5000).tile is None
    model.tiling = "supported"
    assert plan(model, cpu, None, 5000, 5000).tile is not None
    record: dict = {}
    assert plan(model, cpu, 0, 5000, 5000, record).tile is None and record["tile"] == 0


def test_padded_size_covers_every_requirement():
    assert padded_size(30, 50, Needs(multiple_of=8)) == (32, 56)
    assert padded_size(30, 50, Needs(min_side=64, multiple_of=8)) == (64, 64)
    assert padded_size(30, 50, Needs(square=True, multiple_of=4)) == (52, 52)
    assert padded_size(300, 500, Needs(fixed_size=256)) == (256, 256)


def test_spandrel_size_requirements_become_the_models_needs(tmp_path):
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.LaMa import LaMa

    torch.manual_seed(0)
    path = tmp_path / "big-lama.safetensors"
    save_file({k: v.detach().half().contiguous() for k, v in LaMa(in_nc=4, out_nc=3).state_dict().items()}, str(path))
    reg = Registry(user_dir=tmp_path, include_builtin=False)
    needs = needs_of(reg.get("big-lama", "inpaint"))
    assert needs.multiple_of == 8 and needs.align_px == 8 and needs.context_px == 64


def test_a_long_thin_hole_on_a_fixed_size_model(tmp_path, make_image):
    from restora.engine.strategies import _squared
    from restora.engine.tiling import Region

    assert _squared(Region(58, 66, 12, 128), 120, 200) == Region(4, 120, 12, 128)     # squared around it
    assert _squared(Region(0, 40, 0, 150), 60, 200) == Region(0, 60, 0, 150)        # as far as the photo allows
    model = Recording("inpaint", fixed_size=64, context_px=8)
    img = make_image(120, 200, 3)
    holes = np.zeros((120, 200), np.uint8)
    holes[60:64, 20:120] = 255                     # a long thin scratch: a wide, low box
    out = inpaint(img, holes, model=model.info.name, device="cpu", registry=registry_with(model, tmp_path))
    assert set(model.shapes) == {(64, 64)}
    keep = holes == 0
    assert np.array_equal(out[keep], img[keep]) and not np.array_equal(out[~keep], img[~keep])

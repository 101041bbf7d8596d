"""Bad arguments to the public task API: always a BadInputError (a RestoraError) with a
one-line message naming the parameter, raised before any model is looked up or loaded."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from restora.engine import (BadInputError, CancelToken, ModelError, ModelInfo, Registry, RestoraError, denoise,
                            generate, inpaint, upscale)
from restora.engine.models.base import ImageModel

H, W = 12, 10
IMAGE = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
MASK = np.zeros((H, W), np.uint8)
MASK[4:7, 3:6] = 255


class SpyRegistry(Registry):
    """Records every model lookup and every ``prepare`` (weights load) of a model it hands out."""

    def __init__(self, user_dir, extra=()):
        super().__init__(user_dir=user_dir, include_builtin=False)
        self.extra = {m.info.name: m for m in extra}
        self.looked_up, self.prepared = [], []

    def get(self, name_or_path, task, scale=None, channels=None):
        self.looked_up.append(name_or_path)
        model = self.extra.get(name_or_path) or super().get(name_or_path, task, scale, channels)
        real_prepare = model.prepare
        spy = self

        class Watched:  # forwards everything, notes prepare()
            def __getattr__(self, attr):
                return getattr(model, attr)

            def prepare(self, device):
                spy.prepared.append(model.info.name)
                real_prepare(device)
        return Watched()


@pytest.fixture
def spy(tmp_path):
    return SpyRegistry(tmp_path / "no-models")


def call(task, registry, /, **overrides):
    """Run ``task`` with good arguments, except ``overrides``."""
    kw = {"device": "cpu", "registry": registry}
    if task == "denoise":
        kw.update(image=IMAGE, sigma=10.0, model="nlm")
        kw.update(overrides)
        return denoise(kw.pop("image"), kw.pop("sigma"), **kw)
    if task == "upscale":
        kw.update(image=IMAGE, scale=2, model="lanczos")
        kw.update(overrides)
        return upscale(kw.pop("image"), kw.pop("scale"), **kw)
    if task == "inpaint":
        kw.update(image=IMAGE, mask=MASK, model="telea")
        kw.update(overrides)
        return inpaint(kw.pop("image"), kw.pop("mask"), **kw)
    kw.update(overrides)
    return generate(**kw)   # no generator exists: only a bad argument may fail before ModelError


IMAGE_TASKS = ("denoise", "upscale", "inpaint")
ALL_TASKS = IMAGE_TASKS + ("generate",)
BAD_IMAGES = {
    "list": IMAGE.tolist(), "none": None, "empty rows": np.zeros((0, W, 3), np.uint8),
    "empty cols": np.zeros((H, 0), np.uint8), "4-D": IMAGE[None], "1-D": IMAGE[0, :, 0], "0-D": np.uint8(3),
    "bool": IMAGE > 128, "float32": IMAGE.astype(np.float32), "int16": IMAGE.astype(np.int16),
    "0 channels": np.zeros((H, W, 0), np.uint8), "5 channels": np.zeros((H, W, 5), np.uint8),
    "1000 channels": np.zeros((H, W, 1000), np.uint8),
}
BAD_MASKS = {
    "list": MASK.tolist(), "none": None, "wrong size": np.ones((W, H), np.uint8),
    "1-D": MASK[0], "4-D": MASK[None, :, :, None], "0 channels": np.zeros((H, W, 0), np.uint8),
    "7 channels": np.zeros((H, W, 7), np.uint8), "strings": np.full((H, W), "x"),
    "objects": np.full((H, W), None), "complex": MASK.astype(np.complex64),
}

# (tasks, parameter, bad value, word the message must contain)
CASES = [
    *[(("denoise",), "sigma", v, "sigma") for v in
      ("10", b"10", True, [10], math.nan, math.inf, -math.inf, -1, 0, 0.0, 101, 1e9, 10 ** 400, 1j)],
    *[(("upscale",), "scale", v, "scale") for v in
      (2.0, np.float32(2), "2", True, None, [2], 0, 1, 5, 9, -2, 2 ** 70)],
    *[(("inpaint", "generate"), "seed", v, "seed") for v in
      (-1, 2 ** 32, 2 ** 70, -(2 ** 70), 1.5, 1.0, True, "1", None, np.float64(3))],
    *[(("generate",), "count", v, "count") for v in (0, -1, 257, 2.0, True, "4", None)],
    *[(("generate",), "latent_dim", v, "latent") for v in (0, -5, 65537, 1.5, True, "8")],
    *[(IMAGE_TASKS, "tile", v, "tile") for v in ("x", "64", -1, 1.5, 64.0, True, 2 ** 20, [64])],
    *[(ALL_TASKS, "model", v, "model") for v in (123, 1.5, b"lanczos", ["lanczos"], {"name": "lanczos"})],
    *[(ALL_TASKS, "device", v, "device") for v in ("gpu", "tpu", "", 1, ["cpu"])],
    (ALL_TASKS, "progress", 1, "progress"),
    (ALL_TASKS, "cancel", "yes", "cancel"),
    (ALL_TASKS, "cancel", True, "cancel"),
    (ALL_TASKS, "registry", "default", "registry"),
    *[(IMAGE_TASKS, "image", v, "image") for v in BAD_IMAGES.values()],
    *[(("inpaint",), "mask", v, "mask") for v in BAD_MASKS.values()],
]


def case_id(case):
    _tasks, name, value, _word = case
    for table in (BAD_IMAGES, BAD_MASKS):
        for label, bad in table.items():
            if bad is value:
                return f"{name}={label}"
    text = repr(value)
    return f"{name}={text if len(text) < 20 else text[:17] + '...'}"


@pytest.mark.parametrize("tasks, name, value, word", CASES, ids=[case_id(c) for c in CASES])
def test_bad_argument_is_a_clear_error_before_any_model(tasks, name, value, word, spy):
    for task in tasks:
        with pytest.raises(RestoraError) as info:
            call(task, spy, **{name: value})
        assert type(info.value) is BadInputError, (task, info.value)
        message = str(info.value)
        assert word in message and "\n" not in message and len(message) < 200, (task, message)
        assert spy.looked_up == [] and spy.prepared == [], f"{task} looked up a model before checking {name}"


def test_a_bad_argument_wins_over_a_cancelled_token(spy):
    token = CancelToken()
    token.cancel()
    with pytest.raises(BadInputError, match="tile"):
        call("denoise", spy, tile=-1, cancel=token)


@pytest.mark.parametrize("task, overrides", [
    ("upscale", {"scale": np.int64(3), "tile": np.int32(64)}),
    ("upscale", {"scale": np.uint8(4), "model": Path("lanczos")}),
    ("denoise", {"sigma": np.float32(12.5), "tile": 0, "device": "CPU"}),
    ("denoise", {"sigma": 7, "model": Path("nlm")}),
    ("denoise", {"sigma": None, "device": None}),
    ("inpaint", {"seed": np.uint32(2 ** 32 - 1), "tile": None}),
    ("inpaint", {"seed": 0, "progress": lambda f: None, "cancel": CancelToken()}),
    ("denoise", {"image": IMAGE[::-1, ::2, ::-1]}),          # a non-contiguous view
    ("upscale", {"image": IMAGE[:, :, 1]}),                  # a strided 2-D view
    ("inpaint", {"image": np.asfortranarray(IMAGE)}),
])
def test_good_arguments_of_every_accepted_type(task, overrides, spy):
    image = overrides.get("image", IMAGE)
    out = call(task, spy, **overrides)
    scale = int(overrides.get("scale", 2)) if task == "upscale" else 1
    assert out.shape == (image.shape[0] * scale, image.shape[1] * scale) + image.shape[2:]
    assert out.dtype == image.dtype
    assert len(spy.prepared) == 1


@pytest.mark.parametrize("mask", [MASK > 0, MASK, MASK.astype(np.uint16) * 257, (MASK // 255).astype(np.int8),
                                  MASK.astype(np.float32) / 255, MASK.astype(np.float64),
                                  np.dstack([MASK] * 3), np.dstack([MASK, np.full((H, W), 255, np.uint8)]),
                                  MASK[:, :, None]],
                         ids=["bool", "u8", "u16", "i8", "f32", "f64", "rgb", "gray+alpha", "hw1"])
def test_any_numeric_mask_type_works(mask, spy):
    out = inpaint(IMAGE, mask, model="telea", device="cpu", registry=spy)
    hole = MASK > 0
    assert np.array_equal(out[~hole], IMAGE[~hole]) and not np.array_equal(out[hole], IMAGE[hole])


@pytest.mark.parametrize("model", ["telea", "navier-stokes"])
@pytest.mark.parametrize("mask", [np.ones((H, W), bool), np.full((H, W, 3), 255, np.uint8),
                                  np.full((H, W), 0.5, np.float32)], ids=["bool", "rgb", "float"])
def test_classical_inpaint_refuses_a_mask_covering_everything(model, mask, spy):
    with pytest.raises(BadInputError, match="mask covers the whole photo: there are no surrounding pixels"):
        inpaint(IMAGE, mask, model=model, device="cpu", registry=spy)
    assert spy.prepared == [], "refused before the model was prepared"


@pytest.mark.parametrize("model", ["telea", "navier-stokes"])
def test_classical_inpaint_fills_from_a_single_known_pixel(model, spy):
    image = np.zeros((H, W, 3), np.uint8)
    image[5, 4] = (200, 100, 50)
    mask = np.ones((H, W), np.uint8)
    mask[5, 4] = 0
    out = inpaint(image, mask, model=model, device="cpu", registry=spy)
    assert tuple(out[5, 4]) == (200, 100, 50)
    # the fill spreads the one known colour (roughly: OpenCV blurs as it goes)
    assert np.abs(out.reshape(-1, 3).astype(int) - (200, 100, 50)).max() < 40


class FillsFromNothing(ImageModel):
    """A stand-in for a generative inpainting network (needs no surrounding pixels)."""

    info = ModelInfo("fill-gray", "inpaint", "user", "test", "Test")

    def process(self, crop, *, mask, **_params):
        return np.full_like(crop, 0.5)


def test_a_generative_inpainter_may_fill_the_whole_photo(tmp_path):
    spy = SpyRegistry(tmp_path, extra=[FillsFromNothing()])
    out = inpaint(IMAGE, np.ones((H, W), bool), model="fill-gray", device="cpu", registry=spy)
    assert np.all(np.abs(out.astype(int) - 128) <= 1)


def test_generate_without_a_generator_is_a_model_error(spy):
    with pytest.raises(ModelError, match="no generate model"):
        generate(seed=np.int64(5), count=np.uint16(2), latent_dim=8, device="cpu", registry=spy)


def test_a_model_name_no_file_system_takes_is_a_model_error(spy):
    with pytest.raises(ModelError, match="cannot open the model"):
        call("upscale", spy, model="x" * 300)      # longer than a file name may be (OSError inside)

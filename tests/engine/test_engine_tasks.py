"""Every task through the engine API on synthetic photos: gray/RGB/RGBA, 8/16-bit,
odd sizes, tiling forced on (64 px tiles → a 2×3 grid on 97×131) and off.

Tiled vs untiled tolerance (measured on these images, asserted below): every classical
model (lanczos/bicubic upscale, OpenCV non-local means, Telea/Navier-Stokes inpaint) and
the spandrel Compact models: max |diff| ≤ 1 level of 255 and mean |diff| < 0.01 levels
(measured: 0 everywhere except bicubic ×3 at 1 level on a handful of pixels; 16-bit at most
0.004 of a level). Bounds are in 1/255 of full scale, so 16-bit images meet the same
relative bound (1 level = 257 16-bit steps). Before the fixes in this change the same
comparison gave 2 levels for NLM and up to 24 levels for tiled inpainting.
"""
from __future__ import annotations

import numpy as np
import pytest

from restora.engine import (BadInputError, CancelToken, Cancelled, ModelError, Registry, denoise, inpaint,
                            mask_to_bool, upscale)
from restora.engine.device import resolve_device

H, W = 97, 131          # odd, > 64 in both directions so 64 px tiles force several cores
TILE = 64
MIN_TILES = 3           # 97×131 px over 64² px cores: at least 4 cores, 3 for tasks that skip some
CHANNELS = [1, 3, 4]
DTYPES = [np.uint8, np.uint16]


def levels(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max, mean) |a-b| in 8-bit levels (1/255 of full scale)."""
    peak = 255.0 if a.dtype == np.uint8 else 65535.0
    d = np.abs(a.astype(np.float64) - b.astype(np.float64)) * (255.0 / peak)
    return float(d.max()), float(d.mean())


@pytest.fixture
def registry(tmp_path):
    return Registry(user_dir=tmp_path / "no-models")


def scratch_mask(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[h // 2:h // 2 + 3, 4:w - 4] = 255        # long horizontal scratch (crosses every tile)
    mask[10:h - 10, w // 2:w // 2 + 2] = 255      # vertical scratch
    mask[20:34, 15:32] = 255                      # a blob
    return mask


def run_task(task, img, registry, tile, model=None, progress=None, **kw):
    if task == "upscale":
        return upscale(img, kw.get("scale", 2), model=model or "lanczos", device="cpu", tile=tile,
                       registry=registry, progress=progress)
    if task == "denoise":
        return denoise(img, kw.get("sigma", 12.0), model=model or "nlm", device="cpu", tile=tile,
                       registry=registry, progress=progress)
    mask = scratch_mask(*img.shape[:2])
    return inpaint(img, mask, model=model or "telea", device="cpu", tile=tile, registry=registry,
                   progress=progress)


def expected_shape(task, img, scale=2):
    s = scale if task == "upscale" else 1
    return (img.shape[0] * s, img.shape[1] * s) + img.shape[2:]


@pytest.mark.parametrize("dtype", DTYPES, ids=["u8", "u16"])
@pytest.mark.parametrize("channels", CHANNELS, ids=["gray", "rgb", "rgba"])
@pytest.mark.parametrize("task", ["upscale", "denoise", "inpaint"])
def test_classical_tiled_matches_untiled(task, channels, dtype, registry, make_image):
    img = make_image(H, W, channels, dtype, seed=channels)
    before = img.copy()
    untiled_calls, tiled_calls = [], []
    whole = run_task(task, img, registry, 0, progress=untiled_calls.append)
    tiled = run_task(task, img, registry, TILE, progress=tiled_calls.append)

    assert np.array_equal(img, before), "the input array must not be modified"
    for out in (whole, tiled):
        assert out.dtype == img.dtype
        assert out.shape == expected_shape(task, img)
    # tiling really happened: one progress report per tile (plus the start report)
    assert len(tiled_calls) >= MIN_TILES + 1 > len(untiled_calls)
    assert tiled_calls == sorted(tiled_calls) and tiled_calls[-1] == pytest.approx(1.0)
    max_diff, mean_diff = levels(whole, tiled)
    assert max_diff <= 1.0 and mean_diff < 0.01, (max_diff, mean_diff)
    # the task did something (not a copy of the input)
    if task != "upscale":
        assert not np.array_equal(whole, img)


@pytest.mark.parametrize("channels", CHANNELS, ids=["gray", "rgb", "rgba"])
def test_alpha_and_untouched_pixels(channels, registry, make_image):
    img = make_image(61, 45, channels, np.uint8, seed=5)
    mask = scratch_mask(61, 45)
    out = inpaint(img, mask, model="navier-stokes", device="cpu", registry=registry)
    hole = mask > 0
    assert np.array_equal(out[~hole], img[~hole]), "pixels outside the mask must be unchanged"
    assert not np.array_equal(out[hole], img[hole])
    if channels == 4:
        assert np.array_equal(out[..., 3], img[..., 3]), "alpha passes through inpainting"
        dn = denoise(img, 20.0, device="cpu", registry=registry)
        assert np.array_equal(dn[..., 3], img[..., 3]), "alpha passes through denoising"
        up = upscale(img, 2, model="lanczos", device="cpu", registry=registry)
        # alpha is upscaled on its own (bicubic): a left→right ramp stays a ramp
        assert up.shape == (122, 90, 4)
        assert abs(float(up[..., 3].mean()) - float(img[..., 3].mean())) < 2.0
        assert np.all(np.diff(up[30, 4:-4, 3].astype(int)) >= -1)


def test_2d_gray_array_keeps_its_layout(registry, make_image):
    img = make_image(37, 53, 1, np.uint16)[:, :, 0]
    assert upscale(img, 3, model="bicubic", device="cpu", registry=registry).shape == (111, 159)
    assert denoise(img, 5.0, device="cpu", registry=registry).shape == (37, 53)
    assert inpaint(img, scratch_mask(37, 53), device="cpu", registry=registry).shape == (37, 53)


def test_denoise_reduces_noise_and_estimates_sigma(registry):
    from restora.engine import estimate_noise_sigma

    rng = np.random.default_rng(1)
    clean = np.full((64, 80, 3), 128, np.float32)
    noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).astype(np.uint8)
    sigma = estimate_noise_sigma(noisy)
    assert 10 < sigma < 20
    out = denoise(noisy, None, device="cpu", registry=registry)   # blind: σ estimated
    assert np.abs(out.astype(float) - 128).std() < 0.5 * np.abs(noisy.astype(float) - 128).std()


@pytest.mark.parametrize("sigma", [0, -1, 101])
def test_denoise_sigma_out_of_range(sigma, registry, make_image):
    with pytest.raises(BadInputError, match="out of range"):
        denoise(make_image(20, 20), sigma, device="cpu", registry=registry)


@pytest.mark.parametrize("scale", [1, 5])
def test_upscale_bad_scale(scale, registry, make_image):
    with pytest.raises(BadInputError, match="not supported"):
        upscale(make_image(20, 20), scale, device="cpu", registry=registry)


@pytest.mark.parametrize("bad", [np.zeros((5, 5, 3), np.float32), np.zeros((5, 5, 5), np.uint8),
                                 np.zeros((0, 5, 3), np.uint8), "not an image"])
def test_bad_arrays(bad, registry):
    with pytest.raises(BadInputError):
        upscale(bad, 2, device="cpu", registry=registry)


def test_inpaint_mask_size_mismatch(registry, make_image):
    img = make_image(40, 30)
    with pytest.raises(BadInputError, match="does not match"):
        inpaint(img, np.ones((30, 40), np.uint8), device="cpu", registry=registry)


def test_inpaint_empty_mask_is_identity(registry, make_image):
    img = make_image(40, 30)
    assert np.array_equal(inpaint(img, np.zeros((40, 30), np.uint8), device="cpu", registry=registry), img)


def test_mask_to_bool_ignores_transparent_pixels():
    mask = np.zeros((4, 4, 4), np.uint8)
    mask[0, 0] = (255, 255, 255, 255)
    mask[1, 1] = (255, 255, 255, 0)      # white but transparent: not a hole
    holes = mask_to_bool(mask, (4, 4))
    assert holes[0, 0] and not holes[1, 1] and holes.sum() == 1


# --- spandrel models: channels, fixed scales, tiling -----------------------------

@pytest.mark.parametrize("model_key, channels, dtype", [
    ("rgb_x2", 3, np.uint8), ("rgb_x2", 1, np.uint16),      # colour model on a gray photo
    ("gray_x2", 3, np.uint8), ("gray_x2", 4, np.uint16),    # gray model on a colour photo (luma)
    ("gray_x2", 1, np.uint8), ("rgb_x2_st", 4, np.uint8),
])
def test_spandrel_upscale_channels_and_tiling(model_key, channels, dtype, model_files, registry, make_image):
    img = make_image(H, W, channels, dtype, seed=2)
    path = str(model_files[model_key])
    whole = upscale(img, 2, model=path, device="cpu", tile=0, registry=registry)
    tiled = upscale(img, 2, model=path, device="cpu", tile=TILE, registry=registry)
    assert whole.shape == tiled.shape == (2 * H, 2 * W, channels)
    assert whole.dtype == dtype
    max_diff, _ = levels(whole, tiled)
    assert max_diff <= 1.0
    # the model ran (random weights: not the same as plain Lanczos)
    lanczos = upscale(img, 2, model="lanczos", device="cpu", registry=registry)
    assert levels(whole, lanczos)[1] > 0.5
    if channels == 4:
        assert np.array_equal(whole[..., 3], lanczos[..., 3]), "alpha is resized on its own"


def test_gray_model_on_colour_photo_keeps_colour(model_files, registry, make_image):
    img = make_image(45, 61, 3, np.uint8, seed=4)
    out = upscale(img, 2, model=str(model_files["gray_x2"]), device="cpu", registry=registry)
    ref = upscale(img, 2, model="bicubic", device="cpu", registry=registry).astype(float)
    # chroma comes from the photo: the per-channel differences of the result track the reference
    chroma_out = out[..., 0].astype(float) - out[..., 2].astype(float)
    chroma_ref = ref[..., 0] - ref[..., 2]
    assert np.corrcoef(chroma_out.ravel(), chroma_ref.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("model_key, channels", [("gray_denoise", 3), ("rgb_denoise", 1), ("rgb_denoise", 4)])
def test_spandrel_denoise_channels(model_key, channels, model_files, registry, make_image):
    img = make_image(H, W, channels, np.uint8, seed=3)
    path = str(model_files[model_key])
    whole = denoise(img, 10.0, model=path, device="cpu", tile=0, registry=registry)
    tiled = denoise(img, 10.0, model=path, device="cpu", tile=TILE, registry=registry)
    assert whole.shape == img.shape and levels(whole, tiled)[0] <= 1.0
    assert not np.array_equal(whole, img)


def test_fixed_scale_model_at_other_scale(model_files, registry, make_image):
    img = make_image(37, 53, 3, np.uint8)
    out = upscale(img, 4, model=str(model_files["rgb_x2"]), device="cpu", registry=registry)
    assert out.shape == (148, 212, 3)
    out3 = upscale(img, 3, model=str(model_files["rgb_x2"]), device="cpu", registry=registry)
    assert out3.shape == (111, 159, 3)


# --- cancellation and progress ---------------------------------------------------

def test_cancel_after_first_tile_stops_the_task(registry, make_image, monkeypatch):
    model = registry.get("lanczos", "upscale")
    calls = []
    real = model.process
    monkeypatch.setattr(model, "process", lambda crop, **kw: (calls.append(crop.shape), real(crop, **kw))[1])
    token = CancelToken()
    reports = []

    def progress(fraction):
        reports.append(fraction)
        if fraction > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        upscale(make_image(H, W), 2, model="lanczos", device="cpu", tile=TILE, registry=registry,
                progress=progress, cancel=token)
    assert len(calls) == 1, "no tile may run after cancellation"
    from restora.engine.tiling import grid

    n_tiles = len(grid(H, W, TILE, registry.get("lanczos", "upscale").context_px))
    assert n_tiles > 1 and reports == [0.0, pytest.approx(1 / n_tiles)]


@pytest.mark.parametrize("task", ["denoise", "inpaint"])
def test_cancel_other_tasks(task, registry, make_image):
    token = CancelToken()
    reports = []

    def progress(fraction):
        reports.append(fraction)
        if fraction > 0:
            token.cancel()

    img = make_image(150, 200, 3, np.uint8)
    with pytest.raises(Cancelled):
        if task == "denoise":
            denoise(img, 10.0, device="cpu", tile=TILE, registry=registry, progress=progress, cancel=token)
        else:
            # (Telea: its small context makes this mask several crops; the learned default
            # fills it in one crop; test_learned_inpaint cancels it between two holes)
            inpaint(img, scratch_mask(150, 200), model="telea", device="cpu", tile=TILE, registry=registry,
                    progress=progress, cancel=token)
    assert len([r for r in reports if r > 0]) == 1


def test_cancelled_before_start(registry, make_image):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        denoise(make_image(20, 20), 5.0, device="cpu", registry=registry, cancel=token)


# --- devices ------------------------------------------------------------------------

def test_cpu_device(registry, make_image):
    info = resolve_device("cpu")
    assert info.kind == "cpu" and not info.half and "CPU" in info.name
    assert upscale(make_image(20, 30), 2, device="cpu", registry=registry).shape == (40, 60, 3)


def test_missing_cuda_is_a_bad_input(registry, make_image):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the missing-CUDA message cannot be provoked")
    with pytest.raises(BadInputError, match="no CUDA GPU"):
        upscale(make_image(20, 30), 2, device="cuda", registry=registry)


def test_unknown_device(registry, make_image):
    with pytest.raises(BadInputError, match="unknown device"):
        denoise(make_image(20, 30), 5.0, device="tpu", registry=registry)


def test_run_guarded_fp16_nan_falls_back_to_fp32_on_cuda():
    import torch

    from restora.engine.models.torch_models import run_guarded

    if not torch.cuda.is_available():
        pytest.skip("fp16 NaN fallback needs a CUDA GPU (autocast fp16 is CUDA-only)")
    device = resolve_device("cuda")
    x = torch.full((1, 3, 8, 8), 300.0, device="cuda")
    w = torch.full((3, 3, 1, 1), 300.0, device="cuda")
    # 300*300*3 = 270000 overflows fp16 (max 65504) → inf under autocast; fp32 is fine
    call = lambda: torch.nn.functional.conv2d(x, w)  # noqa: E731
    out = run_guarded(call, device, half=True)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert float(out[0, 0, 0, 0]) == pytest.approx(270000.0)


def test_run_guarded_retry_logic_without_cuda(recwarn):
    """The retry decision itself (non-finite half result → one fp32 rerun), with a fake CUDA DeviceInfo.

    On a machine without CUDA, torch.autocast("cuda") only warns and does nothing, which
    is enough to exercise run_guarded's control flow."""
    import torch

    from restora.engine.device import DeviceInfo
    from restora.engine.models.torch_models import run_guarded

    fake_cuda = DeviceInfo("cuda", "cpu", "fake", True)
    results = [torch.tensor([float("nan")]), torch.tensor([1.0])]
    calls = []

    def call():
        calls.append(1)
        return results[len(calls) - 1]

    out = run_guarded(call, fake_cuda, half=True)
    assert len(calls) == 2 and torch.equal(out, torch.tensor([1.0]))
    calls.clear()
    results[0] = torch.tensor([2.0])
    assert torch.equal(run_guarded(call, fake_cuda, half=True), torch.tensor([2.0])) and len(calls) == 1
    calls.clear()
    cpu = resolve_device("cpu")
    results[0] = torch.tensor([float("nan")])
    out = run_guarded(call, cpu, half=True)   # no fp16 on the CPU: one fp32 call, returned as is
    assert len(calls) == 1 and torch.isnan(out).all()


def test_run_guarded_bf16_on_a_cpu_that_has_it():
    """bf16 autocast on a CPU with native bf16 when the model allows it; fp32 otherwise;
    a non-finite bf16 result is redone in fp32."""
    import torch

    from restora.engine.device import DeviceInfo
    from restora.engine.models.torch_models import run_guarded

    x, w = torch.rand(1, 3, 8, 8), torch.rand(4, 3, 3, 3)
    seen = []

    def call():
        y = torch.nn.functional.conv2d(x, w)
        seen.append(y.dtype)
        return y

    bf16_cpu = DeviceInfo("cpu", "cpu", "fake", False, True)
    out = run_guarded(call, bf16_cpu, half=True, cpu_bf16=True)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    assert torch.allclose(out, torch.nn.functional.conv2d(x, w), atol=0.05)
    seen.clear()
    run_guarded(call, bf16_cpu, half=True, cpu_bf16=False)                        # model says no
    run_guarded(call, DeviceInfo("cpu", "cpu", "fake", False, False), True, True)  # CPU has none
    assert seen == [torch.float32, torch.float32]
    results = [torch.tensor([float("inf")]), torch.tensor([1.0])]
    assert torch.equal(run_guarded(lambda: results.pop(0), bf16_cpu, False, True), torch.tensor([1.0]))
    assert not results


def test_cpu_bf16_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("RESTORA_CPU_BF16", "0")
    dev = resolve_device("cpu")
    assert not dev.bf16 and "bf16" not in dev.name


def test_wrong_task_model_through_api(registry, make_image):
    with pytest.raises(ModelError, match="cannot denoise"):
        denoise(make_image(20, 20), 5.0, model="lanczos", device="cpu", registry=registry)
    with pytest.raises(ModelError, match="cannot upscale"):
        upscale(make_image(20, 20), 2, model="telea", device="cpu", registry=registry)


@pytest.mark.parametrize("alpha", [False, True])
def test_black_and_white_saved_as_rgb_is_worked_as_gray(alpha, registry, make_image):
    """A B&W scan saved as RGB: every task gives exactly the gray photo's result, in three
    identical channels (no colour casts), and denoising defaults to the gray model."""
    from restora.engine.tasks.common import is_neutral

    gray = make_image(H, W, 1, np.uint8, seed=6)
    rgb = np.repeat(gray, 3, axis=2)
    if alpha:
        rgb = np.dstack([rgb, np.full((H, W, 1), 200, np.uint8)])
    assert is_neutral(rgb[..., :3]) and not is_neutral(make_image(H, W, 3, np.uint8, seed=6))
    tinted = rgb[..., :3].copy()
    tinted[H - 1, W - 1, 2] ^= 1                 # one value off
    assert not is_neutral(tinted)

    mask = scratch_mask(H, W)
    runs = [(denoise, (25.0,), {"model": None}), (denoise, (25.0,), {"model": "restora-denoise"}),
            (upscale, (2,), {"model": "lanczos"}), (inpaint, (mask,), {"model": "telea"})]
    for task, args, kw in runs:
        out = task(rgb, *args, device="cpu", registry=registry, **kw)
        want = task(gray, *args, device="cpu", registry=registry, **kw)
        assert out.shape[2] == rgb.shape[2]
        for c in range(3):
            assert np.array_equal(out[..., c], want[..., 0]), (task.__name__, kw)
        if alpha:
            assert (out[..., 3] == 200).all()

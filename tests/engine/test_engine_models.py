"""Registry, model files (safe loading, detection, wrong task), generators, the real model."""
import os

import numpy as np
import pytest

from restora.engine import (BadInputError, CancelToken, Cancelled, ModelError, Registry, UnsafeModelError,
                            generate, upscale)

CLASSICAL = {"telea": ("inpaint", 1), "navier-stokes": ("inpaint", 1), "nlm": ("denoise", 1),
             "bicubic": ("upscale", 0), "lanczos": ("upscale", 0)}


def test_registry_lists_classical_models(tmp_path):
    infos = {i.name: i for i in Registry(user_dir=tmp_path).models()}
    for name, (task, scale) in CLASSICAL.items():
        assert infos[name].task == task and infos[name].scale == scale and infos[name].source == "classical"
        assert infos[name].description
    assert {i.name for i in Registry(user_dir=tmp_path).models(task="upscale")} >= {"bicubic", "lanczos"}
    assert all(i.task == "inpaint" for i in Registry(user_dir=tmp_path).models(task="inpaint"))


def test_user_folder_models_are_detected(tmp_path, model_files, trusted_generators):
    import shutil

    folder = tmp_path / "user"
    folder.mkdir()
    for key in ("gray_x2", "rgb_denoise", "generator", "corrupt"):
        shutil.copy(model_files[key], folder / model_files[key].name)
    (folder / "readme.txt").write_text("not a model")
    reg = Registry(user_dir=folder)
    infos = {i.name: i for i in reg.models()}
    gray = infos["gray_x2"]
    assert (gray.task, gray.scale, gray.in_channels, gray.out_channels, gray.source) == ("upscale", 2, 1, 1, "user")
    assert gray.architecture == "RealESRGAN Compact" and gray.path == folder / "gray_x2.pth"
    dn = infos["rgb_denoise"]
    assert (dn.task, dn.scale, dn.in_channels) == ("denoise", 1, 3)
    gen = infos["gen"]
    assert gen.task == "generate" and gen.stochastic and "latent size 8" in gen.description
    assert "corrupt" not in infos and "readme" not in infos
    assert list(reg.problems) == [folder / "corrupt.pth"] and "truncated or damaged" in reg.problems[folder / "corrupt.pth"]
    # a user model is usable by name and is json-serialisable
    assert reg.get("gray_x2", "upscale").info == gray
    import json
    json.dumps([i.to_dict() for i in reg.models()])


def test_user_dir_from_environment(models_dir):
    from restora.engine import default_registry, user_models_dir

    assert user_models_dir() == models_dir and default_registry().user_dir == models_dir


def test_add_file_lists_it_for_the_session(tmp_path, model_files):
    reg = Registry(user_dir=tmp_path / "none")
    info = reg.add_file(model_files["rgb_x2"])
    assert info.task == "upscale" and info.scale == 2
    assert "rgb_x2" in {i.name for i in reg.models()}


def test_unsafe_pickle_refused_and_never_runs(evil_model, tmp_path):
    path, marker = evil_model
    reg = Registry(user_dir=tmp_path / "none")
    with pytest.raises(UnsafeModelError) as err:
        reg.get(str(path), "upscale")
    message = str(err.value)
    assert "\n" not in message and "refused" in message and "system" in message
    with pytest.raises(UnsafeModelError):
        reg.add_file(path)
    with pytest.raises(UnsafeModelError):
        upscale(np.zeros((8, 8, 3), np.uint8), 2, model=str(path), device="cpu", registry=reg)
    assert not marker.exists(), "the pickle's payload must never run"


def test_unsafe_plain_pickle_in_user_folder(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch '{tmp_path / 'PWNED'}'",))

    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "legacy.ckpt").write_bytes(pickle.dumps({"state_dict": Payload()}, protocol=2))
    reg = Registry(user_dir=folder)
    assert "legacy" not in {i.name for i in reg.models()}
    assert "refused" in reg.problems[folder / "legacy.ckpt"]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("key, message", [("unknown_arch", "unrecognised model architecture"),
                                          ("corrupt", "truncated or damaged")])
def test_unusable_model_files(key, message, model_files, tmp_path):
    with pytest.raises(ModelError, match=message):
        Registry(user_dir=tmp_path).get(str(model_files[key]), "upscale")


def test_unknown_and_missing_models(tmp_path):
    reg = Registry(user_dir=tmp_path)
    with pytest.raises(ModelError, match="unknown model 'sharpen-o-matic'"):
        reg.get("sharpen-o-matic", "upscale")
    with pytest.raises(ModelError, match="not found"):
        reg.get(str(tmp_path / "gone.pth"), "upscale")
    (tmp_path / "weights.txt").write_text("x")
    with pytest.raises(ModelError, match="not a model file"):
        reg.get(str(tmp_path / "weights.txt"), "upscale")


def test_wrong_task_refused(trusted_generators, model_files, tmp_path):
    reg = Registry(user_dir=tmp_path)
    with pytest.raises(ModelError, match=r"×2 upscaling model; it cannot denoise"):
        reg.get(str(model_files["rgb_x2"]), "denoise")
    with pytest.raises(ModelError, match="image generator model; it cannot upscale"):
        reg.get(str(model_files["generator"]), "upscale")
    with pytest.raises(ModelError, match="cannot generate images"):
        reg.get("lanczos", "generate")


def test_defaults_without_builtin_models(tmp_path):
    reg = Registry(user_dir=tmp_path, include_builtin=False)
    assert reg.get(None, "upscale", 2).info.name == "lanczos"
    assert reg.get(None, "denoise").info.name == "nlm"
    assert reg.get(None, "inpaint").info.name == "telea"
    with pytest.raises(ModelError, match="no generate model"):
        reg.get(None, "generate")


def test_unload_all_drops_weights_and_reloads(model_files, tmp_path, make_image):
    reg = Registry(user_dir=tmp_path)
    img = make_image(37, 53, 3, np.uint8)
    first = upscale(img, 2, model=str(model_files["rgb_x2"]), device="cpu", registry=reg)
    model = reg.get(str(model_files["rgb_x2"]), "upscale")
    assert model.loaded
    reg.unload_all()
    assert not model.loaded
    again = upscale(img, 2, model=str(model_files["rgb_x2"]), device="cpu", registry=reg)
    assert model.loaded and np.array_equal(first, again)


# --- generators -----------------------------------------------------------------------

def test_generate_is_deterministic(trusted_generators, model_files, tmp_path):
    reg = Registry(user_dir=tmp_path)
    path = str(model_files["generator"])
    batch = generate(model=path, seed=7, count=5, device="cpu", registry=reg)
    assert len(batch) == 5 and all(im.shape == (12, 12, 3) and im.dtype == np.uint8 for im in batch)
    again = generate(model=path, seed=7, count=5, device="cpu", registry=reg)
    assert all(np.array_equal(a, b) for a, b in zip(batch, again))
    for i in (0, 3, 4):   # image i of a batch == the single image with seed+i (across batch boundaries)
        single = generate(model=path, seed=7 + i, count=1, device="cpu", registry=reg)[0]
        assert np.array_equal(batch[i], single)
    assert not np.array_equal(batch[0], batch[1]), "different seeds give different images"


def test_generate_latent_dim_for_module_without_attribute(trusted_generators, model_files, tmp_path):
    reg = Registry(user_dir=tmp_path)
    path = str(model_files["generator_nodim"])
    with pytest.raises(BadInputError, match="--latent-dim"):
        generate(model=path, seed=1, device="cpu", registry=reg)
    images = generate(model=path, seed=1, count=2, latent_dim=6, device="cpu", registry=reg)
    assert len(images) == 2 and images[0].shape == (12, 12, 3)
    assert np.array_equal(images[1], generate(model=path, seed=2, latent_dim=6, device="cpu", registry=reg)[0])
    with pytest.raises(ModelError, match="check the latent size"):
        generate(model=path, seed=1, latent_dim=5, device="cpu", registry=reg)


@pytest.mark.parametrize("kwargs, message", [({"count": 0}, "count"), ({"count": 1000}, "count"),
                                             ({"seed": -1}, "seed"), ({"latent_dim": 0}, "latent size")])
def test_generate_bad_arguments(trusted_generators, kwargs, message, model_files, tmp_path):
    with pytest.raises(BadInputError, match=message):
        generate(model=str(model_files["generator"]), device="cpu", registry=Registry(user_dir=tmp_path), **kwargs)


def test_generate_cancel_between_batches(trusted_generators, model_files, tmp_path):
    token = CancelToken()
    reports = []

    def progress(f):
        reports.append(f)
        if f > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        generate(model=str(model_files["generator"]), count=12, device="cpu", registry=Registry(user_dir=tmp_path),
                 progress=progress, cancel=token)
    assert [r for r in reports if r > 0] == [pytest.approx(4 / 12)]


# --- the real third-party model ---------------------------------------------------------

def test_real_model_loads_and_upscales(real_model, tmp_path, make_image):
    reg = Registry(user_dir=tmp_path)
    info = reg.add_file(real_model)
    assert (info.task, info.scale, info.in_channels, info.architecture) == ("upscale", 4, 3, "RealESRGAN Compact")
    img = make_image(23, 31, 3, np.uint8)
    out = upscale(img, 4, model=str(real_model), device="cpu", registry=reg)
    assert out.shape == (92, 124, 3) and out.dtype == np.uint8
    # a real SR model: the result, shrunk back, resembles the input
    import cv2
    small = cv2.resize(out, (31, 23), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - img.astype(int)).mean() < 20


# --- Restora's built-in models (resources/models; produced by training, may be absent) ----------

@pytest.mark.parametrize("name, task", [("restora-sr-x2", "upscale"), ("restora-sr-x4", "upscale"),
                                        ("restora-denoise", "denoise"), ("restora-denoise-gray", "denoise")])
def test_builtin_bf16_on_cpu_matches_fp32(name, task, tmp_path, make_image, monkeypatch):
    """On a CPU with native bf16 the built-in nets run under bf16 autocast (about twice as
    fast); what comes out must be the fp32 result up to a rounding level. Autocast works on
    every CPU (emulated where not native), so the comparison runs everywhere. The colour
    denoiser's file says fp32: its σ25 target has no room for bf16's ~0.005 dB."""
    from dataclasses import replace

    from restora.engine import resolve_device
    from restora.engine.models import builtin

    _builtin(name)
    # the same passes in both precisions (the gray file asks for fewer in fp32 on a CPU)
    monkeypatch.setattr(builtin, "ensemble_passes", lambda meta, config, device: int(config.get("ensemble", 1)))
    model = Registry(user_dir=tmp_path).get(name, task)
    assert model.info.cpu_bf16 == (name != "restora-denoise")
    model.info = replace(model.info, cpu_bf16=True)  # compare the two precisions for every net
    fp32 = replace(resolve_device("cpu"), bf16=False)
    img = make_image(48, 64, model.info.in_channels, np.uint8).reshape(48, 64, -1).astype(np.float32) / 255
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.08, img.shape), 0, 1).astype(np.float32)
    outs = []
    for device in (fp32, replace(fp32, bf16=True)):
        model.prepare(device)
        outs.append(model.process(noisy, sigma=0.08))
    diff = np.abs(outs[0] - outs[1]) * 255
    assert diff.mean() < 0.4 and diff.max() < 3, f"{name}: bf16 differs by {diff.mean():.3f} (max {diff.max():.2f}) levels"

def _builtin(name):
    from restora.engine.models.builtin import builtin_dir

    if not (builtin_dir() / f"{name}.safetensors").is_file():
        pytest.skip(f"built-in model {name} not present in resources/models (training not exported yet)")


@pytest.mark.parametrize("name, task", [("restora-sr-x2", "upscale"), ("restora-denoise", "denoise"),
                                        ("restora-denoise-gray", "denoise")])
def test_builtin_models_run_and_tile(name, task, tmp_path, make_image):
    from restora.engine import denoise

    _builtin(name)
    reg = Registry(user_dir=tmp_path)
    assert reg.get(name, task).info.source == "builtin"
    img = make_image(70, 100, 3, np.uint8)
    if name.endswith("-gray"):  # a gray photo (the gray net runs its self-ensemble on every tile)
        img = img[..., 1]
    run = (lambda t: upscale(img, 2, model=name, device="cpu", tile=t, registry=reg)) if task == "upscale" \
        else (lambda t: denoise(img, 12.0, model=name, device="cpu", tile=t, registry=reg))
    whole, tiled = run(0), run(64)
    assert whole.shape == tiled.shape and whole.dtype == np.uint8
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    # Crops aligned to the net's stride with enough context match the whole-image run.
    assert diff.max() <= 2, f"{name}: tiles differ by up to {diff.max()} levels (mean {diff.mean():.2f})"


@pytest.mark.parametrize("name, task", [("restora-sr-x2", "upscale"), ("restora-denoise", "denoise"),
                                        ("real", "upscale")])
def test_channels_last_matches_plain_layout(name, task, tmp_path, make_image, request, monkeypatch):
    """Built-in and plain-conv community nets run in NHWC memory for speed; the result
    must be the one the net gives in the default NCHW layout."""
    import torch

    from restora.engine import resolve_device

    monkeypatch.setenv("RESTORA_CPU_BF16", "0")  # the same precision on both sides
    reg = Registry(user_dir=tmp_path)
    if name == "real":
        model = reg.get(str(reg.add_file(request.getfixturevalue("real_model")).path), task)
    else:
        _builtin(name)
        model = reg.get(name, task)
    assert model.channels_last
    model.prepare(resolve_device("cpu"))
    img = make_image(40, 56, 3, np.uint8).astype(np.float32) / 255
    fast = model.process(img, sigma=0.05)
    net = getattr(model._module, "model", model._module)
    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        net.to(memory_format=torch.contiguous_format)
        plain = model._call(model._module, x.contiguous(), {"sigma": 0.05})
    plain = plain[0].float().clamp(0, 1).permute(1, 2, 0).numpy()
    assert fast.shape == plain.shape
    assert np.abs(fast - plain).max() < 1e-4


def test_denoiser_self_ensemble():
    """The U-Net's self-ensemble: pass two is a quarter turn of the padded image (noise map
    turned with it); all eight passes make the net exactly rotation/mirror-equivariant."""
    import torch

    from restora.engine.models import nets

    torch.manual_seed(0)
    one = nets.build("UNetDenoiser", {"in_channels": 1, "channels": [8, 16, 32], "blocks": [1, 1, 1]}).eval()
    with torch.no_grad():
        for p in one.parameters():
            p.normal_(0, 0.1)
    two = nets.build("UNetDenoiser", {"in_channels": 1, "channels": [8, 16, 32], "blocks": [1, 1, 1],
                                      "ensemble": 2}).eval()
    eight = nets.build("UNetDenoiser", {"in_channels": 1, "channels": [8, 16, 32], "blocks": [1, 1, 1],
                                        "ensemble": 8}).eval()
    two.load_state_dict(one.state_dict())
    eight.load_state_dict(one.state_dict())
    x = torch.rand(1, 1, 21, 30)
    s = torch.rand(1, 1, 21, 30) * 0.2  # a per-pixel noise map
    xp = torch.nn.functional.pad(x, (0, 2, 0, 3), mode="reflect")
    sp = torch.nn.functional.pad(s, (0, 2, 0, 3), mode="reflect")
    with torch.no_grad():
        want = (one(xp, sp) + torch.rot90(one(torch.rot90(xp, 1, [2, 3]), torch.rot90(sp, 1, [2, 3])), -1, [2, 3])) / 2
        assert two(x, s).shape == x.shape
        assert torch.allclose(two(x, s), want[..., :21, :30], atol=1e-6)
        y = torch.rand(1, 1, 24, 32)
        m = torch.full((1, 1, 1, 1), 0.1)
        assert torch.allclose(eight(torch.rot90(y, 1, [2, 3]), m), torch.rot90(eight(y, m), 1, [2, 3]), atol=1e-5)
        assert torch.allclose(eight(torch.flip(y, [3]), m), torch.flip(eight(y, m), [3]), atol=1e-5)
        assert not torch.allclose(one(torch.flip(y, [3]), m), torch.flip(one(y, m), [3]), atol=1e-3)


def test_gray_denoiser_passes_follow_the_precision(tmp_path, make_image):
    """The gray file asks for two passes, one where the CPU computes the net in fp32 (no native
    bf16: twice the time per pass) so it stays in the speed budget."""
    from dataclasses import replace

    from restora.engine import resolve_device

    _builtin("restora-denoise-gray")
    model = Registry(user_dir=tmp_path).get("restora-denoise-gray", "denoise")
    img = make_image(24, 40, 1, np.uint8).reshape(24, 40, 1).astype(np.float32) / 255
    fp32 = replace(resolve_device("cpu"), bf16=False)
    passes = {}
    for device in (fp32, replace(fp32, bf16=True)):
        model.prepare(device)
        model.process(img, sigma=0.1)
        passes[device.bf16] = model._module.ensemble
    assert passes == {False: 1, True: 2}

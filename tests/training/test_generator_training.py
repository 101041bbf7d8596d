"""The texture GAN's training code: the generator is the layout restora's DCGAN loader reads
(built through dcgan.build it computes bit-identically), standing batch-norm statistics,
DiffAugment, the SWD figure, and a short real run that checkpoints, stops, resumes and
exports a file the app loads as a DCGAN generator (needs ../shared/data/train)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))

import common as C  # noqa: E402
import train_generator as TG  # noqa: E402
from restora.engine.models import dcgan  # noqa: E402

SMALL = {"latent": 8, "channels": 4, "disc_channels": 4}


def _trained_like(net):
    """Batch-norm statistics and affine terms away from their defaults, as after training."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def test_generator_layout_is_what_dcgan_build_reads():
    torch.manual_seed(0)
    net = _trained_like(TG.build_generator(SMALL))
    sd = net.state_dict()
    assert [k for k in sd if k.endswith(".weight") and sd[k].ndim == 4] == \
        ["main.0.weight", "main.3.weight", "main.6.weight", "main.9.weight", "main.12.weight"]
    chain = dcgan.conv_chain(sd)
    assert [s for _p, s in chain] == TG.generator_shapes(SMALL)
    back = dcgan.build(sd, Path("x.safetensors"))
    assert back is not None and back.latent_dim == 8
    z = TG.seed_latents(range(5), 8)
    with torch.no_grad():
        out = net(z)
        assert out.shape == (5, 3, 64, 64) and out.abs().max() <= 1.0
        assert torch.equal(back(z), out)                 # bit-identical
        assert torch.equal(back(z[:, :, None, None]), out)


def test_standing_statistics_make_eval_match_train_mode():
    torch.manual_seed(1)
    net = TG.build_generator(SMALL)
    z = torch.randn(256, 8, generator=torch.Generator().manual_seed(5))
    fixed = TG.standing_copy(net, 8, torch.device("cpu"), batches=1, batch=256, seed=5)   # the same latents
    assert not fixed.training and net.training
    with torch.no_grad():
        train_out = net.train()(z)       # batch statistics of all 256 = the standing ones
        eval_out = fixed(z)
        plain = net.eval()(z)            # untouched running stats: far off
    assert (eval_out - train_out).abs().max() < 1e-4
    assert (plain - train_out).abs().max() > 1e-2
    a = TG.standing_copy(net, 8, torch.device("cpu"), batches=2, batch=16)
    b = TG.standing_copy(net, 8, torch.device("cpu"), batches=2, batch=16)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())   # deterministic


@pytest.mark.parametrize("policy", ["", "color", "translation", "cutout", "color,translation,cutout"])
def test_diff_augment_shapes_and_gradients(policy):
    x = (torch.rand(4, 3, 64, 64) * 2 - 1).requires_grad_(True)
    y = TG.diff_augment(x, policy)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    if policy == "translation":   # a shift keeps the values (or zero padding)
        assert set(np.unique(np.round(y.detach().numpy(), 5))) - set(np.unique(np.round(x.detach().numpy(), 5))) <= {0.0}
    with pytest.raises(ValueError):
        TG.diff_augment(x, "zoom")


def test_laplacian_pyramid_reconstructs_and_matches_reference():
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    bands = TG.laplacian_pyramid(x)
    assert [b.shape[-1] for b in bands] == [64, 32, 16]
    # a reference in numpy from the definition: 5x5 binomial, mirrored borders, keep even samples
    k = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0

    def blur(a):
        p = np.pad(a, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
        return sum(k[i, j] * p[:, :, i:i + a.shape[2], j:j + a.shape[3]] for i in range(5) for j in range(5))

    a = x.numpy().astype(np.float64)
    down = blur(a)[:, :, ::2, ::2]
    up = np.zeros_like(a)
    up[:, :, ::2, ::2] = 4 * down
    assert np.abs(bands[0].numpy() - (a - blur(up))).max() < 1e-5
    assert np.abs(bands[2].numpy() - blur(down)[:, :, ::2, ::2]).max() < 1e-5


def test_swd_orders_distributions():
    g = torch.Generator().manual_seed(0)

    def textures(n, freq, shift=0.0):
        """Random sinusoid textures at a given frequency (a distribution of images)."""
        yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        th = torch.rand(n, 1, 1, generator=g) * np.pi
        ph = torch.rand(n, 1, 1, generator=g) * 6.28
        wave = torch.sin(freq * (xx * torch.cos(th) + yy * torch.sin(th)) + ph)
        col = torch.rand(n, 3, 1, 1, generator=g) * 0.5
        return (0.5 * wave[:, None] * col + shift).clamp(-1, 1)

    swd = TG.SWD(textures(256, 0.5), nhoods=16)
    same = swd(textures(256, 0.5))["swd"]
    other_freq = swd(textures(256, 1.5))["swd"]
    brighter = swd(textures(256, 0.5, shift=0.3))["swd"]
    noise = swd(torch.rand(256, 3, 64, 64, generator=g) * 2 - 1)["swd"]
    assert same < other_freq and same < brighter and same < noise
    assert swd(textures(256, 0.5))["swd"] == pytest.approx(swd(textures(256, 0.5))["swd"], rel=0.5)
    r = swd(textures(256, 0.5))
    assert set(r) == {"swd", *TG.SWD.NAMES} and r["swd"] == pytest.approx(np.mean([r[k] for k in TG.SWD.NAMES]))


def test_ema_ramps_up_then_caps():
    net = torch.nn.Linear(1, 1, bias=False)
    ema = TG.make_ema(net, {"ema": 0.999, "ema_rampup": 0.05})
    with torch.no_grad():
        net.weight.fill_(0.0)
        ema.update_parameters(net)          # the first update copies
        net.weight.fill_(1.0)
        for _ in range(100):
            ema.update_parameters(net)
    assert float(ema.module.weight.detach()) > 0.99   # a half-life of <= 5 steps by then, not 693
    fixed = TG.make_ema(net, {"ema": 0.999, "ema_rampup": 0})
    with torch.no_grad():
        net.weight.fill_(0.0)
        fixed.update_parameters(net)
        net.weight.fill_(1.0)
        for _ in range(100):
            fixed.update_parameters(net)
    assert float(fixed.module.weight.detach()) == pytest.approx(1 - 0.999 ** 100, abs=1e-4)


@pytest.mark.skipif(not Path(C.DATA, "kodak24").is_dir(),
                    reason=f"training data not found at {C.DATA} (../shared/data/train)")
def test_generator_training_checkpoints_resumes_and_exports(tmp_path):
    cfg = json.loads((REPO / "training" / "configs" / "generator.json").read_text())
    cfg.update(run="smoke_gen", steps=4, batch=4, val_every=1000, log_every=2, val_images=32, val_nhoods=8,
               standing_batches=2, standing_batch=8, net=SMALL)
    config = tmp_path / "smoke_gen.json"
    config.write_text(json.dumps(cfg))
    env = dict(os.environ, RESTORA_RUNS=str(tmp_path / "runs"))
    cmd = [sys.executable, str(REPO / "training" / "train_generator.py"), "--config", str(config)]
    first = subprocess.run(cmd + ["--max-minutes", "0.0001"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "time limit, checkpointed at 1" in first.stdout
    run = tmp_path / "runs" / "smoke_gen"
    assert (run / "last.pt").is_file() and not (run / "final.pt").exists()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resumed at step 1" in second.stdout and "done 4" in second.stdout
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    ref = [r for r in logged if "swd_real" in r]
    assert len(ref) == 1 and ref[0]["swd_floor"] > 0 and ref[0]["train_swd_floor"] > 0
    val = [r for r in logged if "swd" in r]
    assert [r["step"] for r in val] == [0, 4]
    assert all(r["swd"] > 0 and r["train_swd"] > 0 for r in val)
    assert [r for r in logged if "d" in r and "cpu_s_per_step" in r]
    assert (run / "samples_0.png").is_file() and (run / "samples_4.png").is_file() and (run / "real_val.png").is_file()
    last = torch.load(run / "last.pt", weights_only=False)
    assert last["step"] == 4 and int(last["ema"]["n_averaged"]) == 4 and "disc" in last and "opt_d" in last

    # export: a DCGAN state dict the app reads as data, identical to the checkpoint's net
    out = tmp_path / "models"
    res = subprocess.run([sys.executable, str(REPO / "training" / "export.py"), "generator", "--ckpt",
                          str(run / "best.pt"), "--config", str(config), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    path = out / "restora-texture-gan.safetensors"
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert "restora_arch" not in meta   # else the built-in loader, which has no DCGAN, takes it
    assert meta["latent_dim"] == "8" and meta["output_range"] == "-1,1" and meta["task"] == "generate"
    net = dcgan.build(load_file(str(path)), path)
    assert net is not None
    ref_net = TG.build_generator(SMALL)
    ref_net.load_state_dict(torch.load(run / "best.pt", weights_only=False)["model"])
    z = TG.seed_latents(range(6), 8)
    with torch.no_grad():
        assert torch.equal(net(z), ref_net.eval()(z))

    from restora.engine.models.sources import load_model_file
    model = load_model_file(path)   # through the app's own loader: the DCGAN entry
    assert type(model).__name__ == "TorchScriptGenerator" and model.latent_dim == 8
    assert "DCGAN" in model.info.description and model.info.trusted_code is False


def test_a_texture_generator_run_exports_what_the_built_in_loader_reads(tmp_path):
    """gen_v2 on: resize-convolutions; the file names its class, and reads back bit-identically."""
    net_cfg = {"arch": "TextureGenerator", "latent": 8, "widths": [16, 8, 8, 4, 4], "disc_channels": 4}
    torch.manual_seed(2)
    net = _trained_like(TG.build_generator(net_cfg))
    ckpt, config = tmp_path / "best.pt", tmp_path / "gen.json"
    torch.save({"model": net.state_dict(), "step": 7, "val": {"swd": 50.0}}, ckpt)
    cfg = json.loads((REPO / "training" / "configs" / "generator_v2.json").read_text())
    config.write_text(json.dumps(dict(cfg, net=net_cfg)))
    res = subprocess.run([sys.executable, str(REPO / "training" / "export.py"), "generator", "--ckpt", str(ckpt),
                          "--config", str(config), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    path = tmp_path / "out" / "restora-texture-gan.safetensors"
    from restora.engine.models import builtin
    meta = builtin.read_metadata(path)
    assert meta["generator_arch"] == "TextureGenerator" and "restora_arch" not in meta
    back = builtin.builtin_generator_net(path)
    z = TG.seed_latents(range(4), 8)
    with torch.no_grad():
        out = back(z)
        assert out.shape == (4, 3, 64, 64) and torch.equal(out, net(z))


def test_minibatch_std_shows_the_discriminator_a_batch_of_look_alikes():
    """disc_mbstd: the extra feature is 0 for identical images, positive for varied ones."""
    torch.manual_seed(3)
    d = TG.Discriminator(8, mbstd=True)
    seen = []
    d.out.register_forward_pre_hook(lambda _m, args: seen.append(args[0][:, -1].mean().item()))
    varied = torch.rand(8, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        d(varied[:1].expand(8, -1, -1, -1).contiguous())
        d(varied)
    assert seen[0] < 1e-3 < seen[1]


def test_near_twins_counts_look_alike_samples_against_the_real_spread():
    """eval_generator's look-alike count: 0 for samples as varied as the real set, and every
    sample of a set made of four images recoloured a little."""
    import eval_generator as EG

    g = torch.Generator().manual_seed(4)
    real = torch.rand(64, 3, 64, 64, generator=g) * 2 - 1
    assert EG.near_twins(torch.rand(64, 3, 64, 64, generator=g) * 2 - 1, real) == 0
    four = real[:4].repeat(16, 1, 1, 1) + 0.01 * torch.randn(64, 3, 1, 1, generator=g)
    assert EG.near_twins(four, real) == 64
    one_pair = torch.cat([real[:63], real[:1] + 0.001])
    assert EG.near_twins(one_pair, real) == 2
    other_real = torch.rand(64, 3, 64, 64, generator=g) * 2 - 1
    assert EG.near_twins(other_real, real) == 0

"""The training code that produced the built-in weights: growth, export folding, and a
short real run that checkpoints, stops and resumes (needs ../shared/data/train)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))

import common as C  # noqa: E402
import export  # noqa: E402
from restora.engine.models import nets  # noqa: E402


def _perturb(model):
    """Random weights everywhere (init_weights makes residual branches near zero)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model


def test_grown_unet_computes_what_the_small_one_did():
    small = _perturb(nets.build("UNetDenoiser", {"channels": [8, 16, 32], "blocks": [1, 2, 4]})).eval()
    big = nets.build("UNetDenoiser", {"channels": [8, 16, 32], "blocks": [1, 3, 8]}).eval()
    grown = C.load_grown(big, small.state_dict())
    assert grown == ["body.4", "body.5", "body.6", "body.7", "dec2.2", "enc2.2"]
    x, s = torch.rand(2, 3, 40, 48), torch.full((2, 1, 1, 1), 0.1)
    with torch.no_grad():
        assert torch.allclose(small(x, s), big(x, s), atol=1e-6)
        assert (big.body[7].conv2.weight == 0).all() and big.body[7].conv1.weight.abs().sum() > 0


def test_pruned_unet_keeps_the_leading_blocks():
    """Loading into a shallower net drops the trailing blocks (what growth added and training
    left near identity): pruned back, a grown net is the small one again."""
    small = _perturb(nets.build("UNetDenoiser", {"channels": [8, 16, 32], "blocks": [1, 2, 4]})).eval()
    big = nets.build("UNetDenoiser", {"channels": [8, 16, 32], "blocks": [1, 3, 8]}).eval()
    C.load_grown(big, small.state_dict())
    pruned = nets.build("UNetDenoiser", {"channels": [8, 16, 32], "blocks": [1, 2, 4]}).eval()
    assert C.load_grown(pruned, big.state_dict()) == []
    x, s = torch.rand(1, 3, 32, 24), torch.full((1, 1, 1, 1), 0.1)
    with torch.no_grad():
        assert torch.allclose(small(x, s), pruned(x, s), atol=1e-6)


def test_grown_sr_drops_other_heads():
    both = _perturb(nets.build("MultiScaleSR", {"scales": [2, 4], "channels": 8, "blocks": 3})).eval()
    x2 = nets.build("MultiScaleSR", {"scales": [2], "channels": 8, "blocks": 5}).eval()
    assert C.load_grown(x2, both.state_dict()) == ["body.3", "body.4"]
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.allclose(both(x, scale=2), x2(x, scale=2), atol=1e-6)


def test_growth_refuses_a_different_shape():
    a = nets.build("UNetDenoiser", {"channels": [8, 16, 32], "blocks": [1, 1, 1]})
    b = nets.build("UNetDenoiser", {"channels": [8, 16, 64], "blocks": [1, 1, 1]})
    with pytest.raises(ValueError, match="shape mismatch"):
        C.load_grown(b, a.state_dict())


def test_gray_fold_is_exact():
    colour = _perturb(nets.build("UNetDenoiser", {"channels": [8, 16, 32], "blocks": [1, 1, 2]})).eval()
    gray = nets.build("UNetDenoiser", {"in_channels": 1, "channels": [8, 16, 32], "blocks": [1, 1, 2]}).eval()
    gray.load_state_dict(export.fold_to_gray(colour.state_dict()))
    x, s = torch.rand(1, 1, 24, 40), torch.full((1, 1, 1, 1), 0.08)
    with torch.no_grad():
        want = colour(x.expand(-1, 3, -1, -1), s).mean(1, keepdim=True)
        assert torch.allclose(gray(x, s), want, atol=1e-5)


@pytest.mark.skipif(not Path(C.DATA, "kodak24").is_dir(),
                    reason=f"training data not found at {C.DATA} (../shared/data/train)")
@pytest.mark.parametrize("recipe", ["denoise_v3.json", "denoise_gray_v10.json"])  # fp32; bf16 + channels-last + EMA
def test_denoise_training_checkpoints_stops_and_resumes(tmp_path, recipe):
    cfg = json.loads((REPO / "training" / "configs" / recipe).read_text())
    cfg.update(run="smoke", init_from=None, steps=4, patch=32, batch=2, val_every=1000, log_every=2,
               net={"in_channels": 3, "channels": [8, 16, 32], "blocks": [1, 1, 1], "unshuffle": 2})
    config = tmp_path / "smoke.json"
    config.write_text(json.dumps(cfg))
    env = dict(os.environ, RESTORA_RUNS=str(tmp_path / "runs"))
    cmd = [sys.executable, str(REPO / "training" / "train_denoise.py"), "--config", str(config)]
    first = subprocess.run(cmd + ["--max-minutes", "0.0001"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "time limit, checkpointed at 1" in first.stdout
    run = tmp_path / "runs" / "smoke"
    assert (run / "last.pt").is_file() and not (run / "final.pt").exists()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resumed at step 1" in second.stdout and "done 4" in second.stdout
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    val = [r for r in logged if "val_color25" in r]
    assert [r["step"] for r in val] == [0, 4]  # the starting point, then the end
    assert 10 < val[-1]["val_color25"] < 40 and 10 < val[-1]["val_gray400_25"] < 40
    assert torch.load(run / "final.pt", weights_only=False)["step"] == 4
    last = torch.load(run / "last.pt", weights_only=False)
    if cfg.get("ema"):  # the average survives the stop and is what final.pt holds
        assert int(last["ema"]["n_averaged"]) == 4
        final = torch.load(run / "final.pt", weights_only=False)["model"]
        assert torch.equal(final["tail.weight"], last["ema"]["module.tail.weight"])
        assert not torch.equal(final["tail.weight"], last["model"]["tail.weight"])
    else:
        assert "ema" not in last


@pytest.mark.skipif(not Path(C.DATA, "kodak24").is_dir(),
                    reason=f"training data not found at {C.DATA} (../shared/data/train)")
def test_sr_training_runs_both_scales_and_logs_validation(tmp_path):
    cfg = json.loads((REPO / "training" / "configs" / "sr_v2.json").read_text())
    cfg.update(run="smoke_sr", init_from=None, steps=4, l2_from=0.5, val_every=1000, log_every=2, ema=0.9,
               net={"scales": [2, 4], "channels": 8, "blocks": 1},
               lr_patch={"2": 16, "4": 8}, batch={"2": 2, "4": 2})
    config = tmp_path / "smoke_sr.json"
    config.write_text(json.dumps(cfg))
    env = dict(os.environ, RESTORA_RUNS=str(tmp_path / "runs"))
    cmd = [sys.executable, str(REPO / "training" / "train_sr.py"), "--config", str(config)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "done 4" in done.stdout
    logged = [json.loads(line) for line in (tmp_path / "runs" / "smoke_sr" / "log.jsonl").read_text().splitlines()]
    losses = [r for r in logged if "loss_x2" in r]
    assert losses and all(r["loss_x2"] > 0 and r["loss_x4"] > 0 for r in losses)
    val = [r for r in logged if "x2_bicubic" in r]
    assert val and val[-1]["step"] == 4 and 15 < val[-1]["x4"] < 45
    last = torch.load(tmp_path / "runs" / "smoke_sr" / "last.pt", weights_only=False)
    assert int(last["ema"]["n_averaged"]) == 4  # the SR trainer keeps the weight average too

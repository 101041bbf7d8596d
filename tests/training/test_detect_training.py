"""The damage detector's training code: the damage synthesis, the net's contract, the
tolerant F1, and a short real run that checkpoints, stops and resumes (needs
../shared/data/train)."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "training"))

import common as C  # noqa: E402
import damage_look  # noqa: E402
import train_detect  # noqa: E402
from restora.engine.models import nets  # noqa: E402


def _photo(h=96, w=80, seed=0):
    """A smooth synthetic 'photo' (no data needed)."""
    r = np.random.default_rng(seed)
    small = r.uniform(40, 220, (6, 6, 3)).astype(np.float32)
    import cv2
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def test_synthesize_shapes_dtypes_and_clean_label():
    img = _photo()
    for seed in range(6):
        out, label = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed))
        assert out.shape == img.shape and out.dtype == np.uint8
        assert label.shape == img.shape[:2] and label.dtype == np.float32
        assert set(np.unique(label)) <= {0.0, 1.0}
        clean, none = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed), damaged=False,
                                             strong=True)
        assert clean.shape == img.shape and clean.dtype == np.uint8
        assert not none.any()                   # no damage: all-zero label
        assert not np.array_equal(clean, img)   # ... but grain and JPEG all the same


def test_synthesize_damage_is_labelled_and_seeded():
    img = _photo(128, 128)
    found = 0
    for seed in range(8):
        a = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed), damaged=True)
        b = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed), damaged=True)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])   # same seed, same sample
        found += a[1].mean() > 0.001
    assert found >= 6        # (a white scratch over a white patch may be invisible, hence unlabelled)
    gray = np.repeat(_photo(64, 64)[..., :1], 3, axis=2)
    out, _ = damage_look.synthesize(gray, random.Random(1), np.random.default_rng(1), damaged=True)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()   # gray stays gray


def test_clean_share_matches_p_clean():
    img = _photo(48, 48)
    clean = sum(not damage_look.synthesize(img, random.Random(s), np.random.default_rng(s), p_clean=0.2)[1].any()
                for s in range(200))
    assert 20 <= clean <= 70   # 20 % clean by draw, plus the odd invisible damage


@pytest.mark.parametrize("h,w", [(37, 53), (64, 64), (5, 3)])
def test_detector_logits_any_size(h, w):
    net = nets.build("DamageDetector", {"channels": [4, 8, 8], "blocks": [1, 1, 2]}).eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        y = net(x)
        assert y.shape == (2, 1, h, w) and y.dtype == torch.float32
        traced = torch.jit.trace(net, x)
        assert torch.allclose(traced(x), y, atol=1e-6)
        assert torch.isfinite(net.half()(x.half())).all()   # fp16-safe


def test_tolerant_f1():
    label = np.zeros((1, 20, 20), bool)
    label[0, 10, 2:18] = True
    shifted = np.roll(label, 1, axis=1)   # one pixel off: counts as right
    assert train_detect.f1_of(train_detect.counts(shifted, label)) == 1.0
    far = np.roll(label, 3, axis=1)
    assert train_detect.f1_of(train_detect.counts(far, label)) == 0.0
    assert train_detect.f1_of(train_detect.counts(np.zeros_like(label), label)) == 0.0


@pytest.mark.skipif(not Path(C.DATA, "kodak24").is_dir(),
                    reason=f"training data not found at {C.DATA} (../shared/data/train)")
def test_detect_training_checkpoints_stops_and_resumes(tmp_path):
    cfg = json.loads((REPO / "training" / "configs" / "detect.json").read_text())
    cfg.update(run="smoke_detect", steps=4, patch_sizes=[32, 48], batch=2, val_every=1000, log_every=2, ema=0.9, tune_crops=6,
               net={"in_channels": 3, "channels": [4, 8, 8], "blocks": [1, 1, 1]})
    config = tmp_path / "smoke_detect.json"
    config.write_text(json.dumps(cfg))
    env = dict(os.environ, RESTORA_RUNS=str(tmp_path / "runs"))
    cmd = [sys.executable, str(REPO / "training" / "train_detect.py"), "--config", str(config)]
    first = subprocess.run(cmd + ["--max-minutes", "0.0001"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "time limit, checkpointed at 1" in first.stdout
    run = tmp_path / "runs" / "smoke_detect"
    assert (run / "last.pt").is_file() and not (run / "final.pt").exists()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resumed at step 1" in second.stdout and "done 4" in second.stdout
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    base = [r for r in logged if "tophat_f1" in r]
    assert base and all(0 <= r["tophat_f1"] <= 1 and 0 <= r["tophat_flagged"] <= 1 for r in base)
    val = [r for r in logged if "f1_color" in r]
    assert [r["step"] for r in val] == [0, 4]   # the starting point, then the end
    assert all(0 <= r["f1"] <= 1 and 0 <= r["flagged"] <= 1 for r in val)
    assert [r for r in logged if "bce" in r and r["bce"] > 0]
    assert (run / "best.pt").is_file()
    last = torch.load(run / "last.pt", weights_only=False)
    assert last["step"] == 4 and int(last["ema"]["n_averaged"]) == 4

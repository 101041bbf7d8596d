"""The damage detector's training code: the damage synthesis (stage 1 exactly as it was,
stage 2's scene highlights and kind weights), the net's contract, the tolerant F1 and the
extra validation measures, and short real runs: stage 1 checkpoints, stops and resumes, and
stage 2 starts from its init weights as they are (need ../shared/data/train)."""
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


def test_stage1_synthesis_unchanged_without_stage2_options():
    img = _photo(64, 72)
    same = dict(damage_look.WEIGHTS)
    for seed in range(10):
        ref = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed))
        for look in ({}, {"p_highlight": 0.0}, {"kind_weights": same}):
            out = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed), look=look)
            assert np.array_equal(out[0], ref[0]) and np.array_equal(out[1], ref[1])
    assert train_detect.look_of(json.loads((REPO / "training" / "configs" / "detect.json").read_text())) == {}


@pytest.mark.parametrize("mode", sorted(damage_look.HIGHLIGHTS))
def test_highlight_negative_is_brighter_and_unlabelled(mode):
    only = {m: (1.0 if m == mode else 0.0) for m in damage_look.HIGHLIGHTS}
    brighter = 0
    for seed in range(6):
        img = _photo(96, 96, seed)
        src = img.astype(np.float32) / 255
        out = damage_look.highlights(src, random.Random(seed), np.random.default_rng(seed), only)
        assert out.shape == src.shape and out.dtype == np.float32
        assert out.max() <= 1.0 and out.min() >= 0.0
        if mode != "line":   # (a window frame may cast a shadow beside it)
            assert (out >= src - 1e-6).all()   # never darker
        brighter += out.mean() > src.mean() + 1 / 255
        # through synthesize: a highlighted clean sample has an all-zero label
        _, label = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed), damaged=False,
                                           look={"p_highlight": 1.0, "highlight_modes": only})
        assert label.dtype == np.float32 and not label.any()
    assert brighter >= 5   # (an edge sheen on a crop without strong edges falls back to a blob)


def test_highlighted_samples_brighter_than_plain_ones():
    """The same draws with and without highlights (tone is drawn first, the same): brighter."""
    gain = 0.0
    for seed in range(12):
        img = _photo(96, 96, seed)
        plain = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed), damaged=False)[0]
        hl, label = damage_look.synthesize(img, random.Random(seed), np.random.default_rng(seed), damaged=False,
                                           look={"p_highlight": 1.0})
        assert not label.any()
        gain += hl.astype(np.float64).mean() - plain.astype(np.float64).mean()
    assert gain / 12 > 3   # levels, on average


class _Spy(random.Random):
    """Records what rng.choices draws (the damage kinds)."""
    def __init__(self, seed):
        super().__init__(seed)
        self.drawn = []

    def choices(self, *a, **kw):
        r = super().choices(*a, **kw)
        self.drawn += r
        return r


def test_kind_weights_choose_the_kinds():
    img = _photo(64, 64).astype(np.float32) / 255
    only_dust = damage_look.kind_weights({k: 0 for k in damage_look.WEIGHTS if k != "dust"})
    assert only_dust["dust"] == damage_look.WEIGHTS["dust"]
    for seed in range(20):
        rng = _Spy(seed)
        _, label = damage_look.paint_damage(img, rng, np.random.default_rng(seed), weights=only_dust)
        assert set(rng.drawn) == {"dust"}
    with pytest.raises(ValueError):
        damage_look.kind_weights({"blcoks": 1})
    v2 = json.loads((REPO / "training" / "configs" / "detect_v2.json").read_text())
    w = damage_look.kind_weights(v2["kind_weights"])
    share = lambda ws, ks: sum(ws[k] for k in ks) / sum(ws.values())   # noqa: E731
    assert share(w, ("blocks", "torn")) < share(damage_look.WEIGHTS, ("blocks", "torn"))
    assert share(w, train_detect.THIN) > share(damage_look.WEIGHTS, train_detect.THIN)


def test_bright_crop_prefers_bright_parts():
    img = np.zeros((100, 300, 3), np.uint8)
    img[:, 200:] = 240
    crops = [train_detect.bright_crop(img, 64, random.Random(s), tries=6) for s in range(20)]
    plain = [C.random_crop(img, 64, random.Random(s)) for s in range(20)]
    assert np.mean([c.mean() for c in crops]) > np.mean([c.mean() for c in plain]) + 40


def test_extra_measures():
    kinds = np.array(list(train_detect.THIN) * 2)
    label = np.zeros((6, 16, 16), bool)
    label[:, 8, 2:14] = True
    pred = label.copy()
    pred[kinds == "cracks"] = False           # cracks all missed, the others all found
    clean_pred = np.zeros((6, 16, 16), bool)
    bright = np.zeros((6, 16, 16), bool)
    bright[:, :4] = True
    clean_pred[:, :2] = True                  # half the bright pixels flagged, nothing else
    sets = {"s": {"bright": bright, "thin": {"label": label, "label_dil": train_detect.dilate3(label), "kind": kinds}}}
    r = train_detect.extra_measures({"s": (None, clean_pred)}, {"s": pred}, sets)
    assert r["flagged_bright"] == 0.5
    assert r["f1_scratches"] == 1.0 and r["f1_dust"] == 1.0 and r["f1_cracks"] == 0.0
    assert 0.7 < r["f1_thin"] < 0.9


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
    assert all(0 <= r[k] <= 1 for r in val for k in ("flagged_bright", "f1_thin", "f1_scratches", "f1_cracks", "f1_dust"))
    assert [r for r in logged if "bce" in r and r["bce"] > 0]
    assert (run / "best.pt").is_file()
    last = torch.load(run / "last.pt", weights_only=False)
    assert last["step"] == 4 and int(last["ema"]["n_averaged"]) == 4


@pytest.mark.skipif(not Path(C.DATA, "kodak24").is_dir(),
                    reason=f"training data not found at {C.DATA} (../shared/data/train)")
def test_stage2_run_starts_from_its_init_weights(tmp_path):
    """detect_v2.json (highlights, bright crops, kind weights on) on a tiny net from a saved
    init: at lr 0 the weights that come out are the init's, tail bias included (the fresh-net
    bias must not overwrite it)."""
    small = {"in_channels": 3, "channels": [4, 8, 8], "blocks": [1, 1, 1]}
    torch.manual_seed(0)
    init = nets.build("DamageDetector", small).state_dict()
    init["tail.bias"].fill_(0.7)
    torch.save({"model": init, "step": 123}, tmp_path / "init.pt")
    cfg = json.loads((REPO / "training" / "configs" / "detect_v2.json").read_text())
    assert cfg["p_highlight"] > 0 and cfg["p_bright_crop"] > 0 and cfg["kind_weights"]
    cfg.update(run="smoke_detect_v2", init_from=str(tmp_path / "init.pt"), lr=0.0, steps=3, warmup=1,
               patch_sizes=[32, 48], batch=4, val_every=1000, log_every=3, tune_crops=6, net=small)
    config = tmp_path / "smoke_detect_v2.json"
    config.write_text(json.dumps(cfg))
    env = dict(os.environ, RESTORA_RUNS=str(tmp_path / "runs"))
    res = subprocess.run([sys.executable, str(REPO / "training" / "train_detect.py"), "--config", str(config)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "initialised from" in res.stdout and "step 123" in res.stdout and "done 3" in res.stdout
    final = torch.load(tmp_path / "runs" / "smoke_detect_v2" / "final.pt", weights_only=False)["model"]
    assert set(final) == set(init)
    assert all(torch.allclose(final[k], init[k], atol=1e-6) for k in init)

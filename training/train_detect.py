"""Train Restora's damage detector: a small U-Net that proposes the damage mask.

    python training/train_detect.py --config training/configs/detect.json [--max-minutes M]

Re-running with the same config resumes from training/runs/<run>/last.pt. CUDA when
available (same recipe), else CPU with ``threads`` threads.

Net: nets.DamageDetector (logits; gray photos as three equal channels). Data: the colour
training images and the gray400 training share, random crops, damage painted by
damage_look.py on shapes from damage.py (scratches, cracks, dust, stains, folds, blocks,
torn edges), grain / JPEG / blur / scan noise / tone on top; ``p_clean`` of the samples
have no damage, so grain and texture are learned as negatives. Loss: BCE (``pos_weight``)
+ soft Dice over the batch.

Validation (fixed seeded damage): the 15 held-out colour images (256 px centre crops) and 16
gray400 holdouts (176 px, all that the 180 px files allow): pixel F1 at threshold 0.5 with
a 1-pixel tolerance, and the share of pixels flagged on the same crops without damage but
with grain + JPEG (target <= 1 %). A morphological top-hat detector, tuned on training
crops, is the classical baseline (logged once at the start as step -1). best.pt keeps the
best ``f1 - 5 * max(0, flagged - 0.01)``. Also logged: ``flagged_bright``, the clean-crop flag
rate on bright pixels alone (blurred luma >= 0.8: walls, sky, white clothes, where stage 1
flagged most), and F1 on thin damage alone (the same crops, each with one kind of scratches,
cracks or dust, cycled): ``f1_scratches``, ``f1_cracks``, ``f1_dust``, pooled ``f1_thin``.

Stage 2 options (absent = stage 1, exactly): ``p_highlight``, ``highlight_modes``,
``kind_weights`` go to damage_look.synthesize (scene highlights as hard negatives, the mix of
damage kinds); ``p_bright_crop``: the share of crops taken, of ``bright_tries`` random ones,
where the photo is brightest (real white walls, sky and frames as negatives). With
``init_from`` the loaded weights are kept as they are (the tail's "little damage" bias is set
only on a fresh net).
"""
from __future__ import annotations

import os
import random
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import damage_look  # noqa: E402

cv2.setNumThreads(1)   # the data pipeline must not take the other core from a side-by-side job

LOOK_KEYS = ("p_highlight", "highlight_modes", "kind_weights")
THIN = ("scratches", "cracks", "dust")
BRIGHT = 0.8   # flagged_bright: clean pixels whose blurred luma is at least this


def look_of(cfg) -> dict:
    """The config's options for damage_look.synthesize (empty for a stage-1 config)."""
    return {k: cfg[k] for k in LOOK_KEYS if k in cfg}


def bright_crop(img: np.ndarray, size: int, rng: random.Random, tries: int = 6) -> np.ndarray:
    """Of ``tries`` random crops, the one with the most bright pixels (mean of the channels
    >= 200, counted on every 4th pixel)."""
    best, most = None, -1
    for _ in range(tries):
        c = C.random_crop(img, size, rng)
        n = int(np.count_nonzero(c[::4, ::4].mean(axis=2) >= 200))
        if n > most:
            best, most = c, n
    return best


class DetectData:
    def __init__(self, cfg, rng: random.Random, nrng: np.random.Generator):
        self.cfg, self.rng, self.nrng = cfg, rng, nrng
        self.color = [C.imread_rgb(f) for f in C.list_color("train")]
        self.gray = [C.imread_gray(f) for f in C.list_gray("train")]
        self.look = look_of(cfg)
        damage_look.kind_weights(self.look.get("kind_weights"))   # unknown names fail here, not later

    def sample(self, size):
        rng, cfg = self.rng, self.cfg
        if rng.random() < cfg.get("gray_share", 0.3):
            img = np.repeat(self.gray[rng.randrange(len(self.gray))][..., None], 3, axis=2)
        else:
            img = self.color[rng.randrange(len(self.color))]
        # sometimes a downscaled view: the same photo scanned at a lower resolution
        s = rng.uniform(cfg.get("min_scale", 0.5), 1.0) if rng.random() < cfg.get("p_scale", 0.3) else 1.0
        src = int(round(size / s))
        if src > min(img.shape[:2]):
            src = size
        p_bright = cfg.get("p_bright_crop", 0.0)
        if p_bright > 0 and rng.random() < p_bright:   # (no draw when off: stage-1 streams unchanged)
            crop = bright_crop(img, src, rng, cfg.get("bright_tries", 6))
        else:
            crop = C.random_crop(img, src, rng)
        if src != size:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        crop = C.augment(crop, rng=rng)[0]
        return damage_look.synthesize(crop, rng, self.nrng, p_clean=cfg.get("p_clean", 0.2), look=self.look)

    def batch(self, n, size):
        imgs, labels = zip(*[self.sample(size) for _ in range(n)])
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255)
        return x.contiguous(), torch.from_numpy(np.stack(labels))[:, None].contiguous()


# ---------------------------------------------------------------- validation

def _centre(im, crop):
    h, w = im.shape[:2]
    y, x = (h - crop) // 2, (w - crop) // 2
    return im[y:y + crop, x:x + crop]


def _synth_set(crops, seed, thin: bool = False):
    """Each crop damaged (fixed seed per crop) and the same crop clean but grainy + JPEG
    (stage-1 synthesis, whatever the config, so that runs compare), with the clean crop's
    bright pixels. ``thin``: also each crop with one thin kind alone (THIN, cycled)."""
    dam, lab, clean = [], [], []
    for i, c in enumerate(crops):
        d, m = damage_look.synthesize(c, random.Random(seed + i), np.random.default_rng(seed + i), damaged=True)
        dam.append(d)
        lab.append(m)
        clean.append(damage_look.synthesize(c, random.Random(seed + 10000 + i), np.random.default_rng(seed + 10000 + i),
                                            damaged=False, strong=True)[0])
    lab = np.stack(lab) > 0.5
    clean = np.stack(clean)
    luma = np.stack([cv2.GaussianBlur(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), (0, 0), 2.0) for im in clean])
    out = {"damaged": np.stack(dam), "label": lab, "label_dil": dilate3(lab), "clean": clean,
           "bright": luma >= round(BRIGHT * 255)}
    if thin:
        td, tl = [], []
        for i, c in enumerate(crops):
            s = seed + 20000 + i
            d, m = damage_look.synthesize(c, random.Random(s), np.random.default_rng(s), damaged=True,
                                          kinds=[THIN[i % len(THIN)]])
            td.append(d)
            tl.append(m)
        tl = np.stack(tl) > 0.5
        out["thin"] = {"damaged": np.stack(td), "label": tl, "label_dil": dilate3(tl),
                       "kind": np.array([THIN[i % len(THIN)] for i in range(len(crops))])}
    return out


def make_val(seed: int = 4321):
    color = [_centre(C.imread_rgb(f), 256) for f in C.list_color("val")]
    gray = [np.repeat(_centre(C.imread_gray(f), 176)[..., None], 3, axis=2) for f in C.list_gray("val")[::2]]
    return {"color": _synth_set(color, seed, thin=True), "gray": _synth_set(gray, seed + 500, thin=True)}


def make_tune(seed: int = 99, n: int = 48):
    """Training crops with the same synthesis: where the top-hat threshold is tuned."""
    rng = random.Random(seed)
    color, gray = C.list_color("train"), C.list_gray("train")
    crops = []
    for i in range(n):
        if i % 3 == 2:
            crops.append(np.repeat(_centre(C.imread_gray(rng.choice(gray)), 176)[..., None], 3, axis=2))
        else:
            crops.append(C.random_crop(C.imread_rgb(rng.choice(color)), 176, rng))
    return {"tune": _synth_set(crops, seed)}


def dilate3(a: np.ndarray) -> np.ndarray:
    """3x3 dilation of a stack of bool masks (N x H x W), all at once (as cv2.dilate: the
    border adds nothing)."""
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    h, w = a.shape[1:]
    out = np.zeros_like(a)
    for dy in range(3):
        for dx in range(3):
            out |= p[:, dy:dy + h, dx:dx + w]
    return out


def counts(pred: np.ndarray, label: np.ndarray, label_dil: np.ndarray = None):
    """Pixel counts for F1 with a 1-pixel tolerance: a predicted pixel is right if a true one
    lies within 1 px (3x3), a true pixel is found if a predicted one does."""
    label_dil = dilate3(label) if label_dil is None else label_dil
    return np.array([np.count_nonzero(pred & label_dil), np.count_nonzero(pred),
                     np.count_nonzero(label & dilate3(pred)), np.count_nonzero(label)], np.int64)


def f1_of(c) -> float:
    prec = c[0] / max(c[1], 1)
    rec = c[2] / max(c[3], 1)
    return float(2 * prec * rec / max(prec + rec, 1e-9))


def summarise(flags: dict, sets: dict) -> dict:
    """flags[name] = (pred on damaged, pred on clean), bool arrays; F1 and flagged per set and
    over all (pixels pooled), plus the selection score."""
    res, tot, fl = {}, np.zeros(4, np.int64), [0, 0]
    for name, (pd, pc) in flags.items():
        c = counts(pd, sets[name]["label"], sets[name]["label_dil"])
        res[f"f1_{name}"] = f1_of(c)
        res[f"flagged_{name}"] = float(pc.mean())
        tot += c
        fl[0] += int(pc.sum())
        fl[1] += pc.size
    res["f1"] = f1_of(tot)
    res["precision"], res["recall"] = float(tot[0] / max(tot[1], 1)), float(tot[2] / max(tot[3], 1))
    res["flagged"] = fl[0] / fl[1]
    res["score"] = res["f1"] - 5 * max(0.0, res["flagged"] - 0.01)
    return res


def tophat_response(imgs: np.ndarray, k: int, blur: float = 0.0) -> np.ndarray:
    """max(white top-hat, black top-hat) of the luma (blurred by ``blur`` first, against
    grain): thin bright or dark structures smaller than the k x k disc."""
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    out = []
    for im in imgs:
        y = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        if blur:
            y = cv2.GaussianBlur(y, (0, 0), blur)
        out.append(np.maximum(cv2.morphologyEx(y, cv2.MORPH_TOPHAT, se), cv2.morphologyEx(y, cv2.MORPH_BLACKHAT, se)))
    return np.stack(out)


def tophat_baseline(tune: dict, val: dict) -> dict:
    """Tune (kernel, threshold) of the top-hat detector on training crops by the selection
    score, then measure it on the validation crops."""
    best = (-9.0, None)
    for blur in (0.0, 0.8, 1.5):
        for k in (3, 5, 7, 9, 13, 17):
            rd = tophat_response(tune["tune"]["damaged"], k, blur)
            rc = tophat_response(tune["tune"]["clean"], k, blur)
            for t in np.arange(0.01, 0.5, 0.01):
                s = summarise({"tune": (rd > t, rc > t)}, tune)["score"]
                if s > best[0]:
                    best = (s, (k, blur, float(t)))
    k, blur, t = best[1]
    flags = {n: (tophat_response(v["damaged"], k, blur) > t, tophat_response(v["clean"], k, blur) > t)
             for n, v in val.items()}
    res = summarise(flags, val)
    return dict({"tophat_" + key: v for key, v in res.items()}, tophat_kernel=k, tophat_blur=blur,
                tophat_threshold=round(t, 3))


@torch.no_grad()
def predict(net, imgs: np.ndarray, device, chunk: int = 4) -> np.ndarray:
    out = []
    for i in range(0, len(imgs), chunk):
        x = torch.from_numpy(imgs[i:i + chunk]).permute(0, 3, 1, 2).float().div(255).to(device)
        out.append((net(x) > 0).cpu().numpy()[:, 0])   # logit > 0 <=> probability > 0.5
    return np.concatenate(out)


def extra_measures(preds: dict, thin_preds: dict, sets: dict) -> dict:
    """flagged_bright (clean crops, bright pixels only, pooled) and F1 per thin kind and
    over all thin kinds (pixels pooled over the sets), from the predictions already made."""
    res, fb = {}, [0, 0]
    for name, (_, pc) in preds.items():
        b = sets[name]["bright"]
        fb[0] += int(np.count_nonzero(pc & b))
        fb[1] += int(np.count_nonzero(b))
    res["flagged_bright"] = fb[0] / max(fb[1], 1)
    if thin_preds:
        per, tot = {k: np.zeros(4, np.int64) for k in THIN}, np.zeros(4, np.int64)
        for name, pt in thin_preds.items():
            t = sets[name]["thin"]
            for k in THIN:
                sel = t["kind"] == k
                if sel.any():
                    c = counts(pt[sel], t["label"][sel], t["label_dil"][sel])
                    per[k] += c
                    tot += c
        res.update({f"f1_{k}": f1_of(c) for k, c in per.items()})
        res["f1_thin"] = f1_of(tot)
    return res


def validate(net, val, device) -> dict:
    net.eval()
    preds = {n: (predict(net, v["damaged"], device), predict(net, v["clean"], device)) for n, v in val.items()}
    thin = {n: predict(net, v["thin"]["damaged"], device) for n, v in val.items() if "thin" in v}
    res = summarise(preds, val)
    res.update(extra_measures(preds, thin, val))
    net.train()
    return res


# ---------------------------------------------------------------- loss

def detect_loss(logits, target, cfg):
    """BCE (positives weighted by ``pos_weight``) + soft Dice over the whole batch (a batch
    Dice stays defined when a crop has no damage)."""
    lg = logits.float()
    bce = F.binary_cross_entropy_with_logits(lg, target, pos_weight=torch.tensor(cfg.get("pos_weight", 2.0), device=lg.device))
    p = torch.sigmoid(lg)
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    return bce + cfg.get("dice_weight", 1.0) * dice, bce, dice


def main():
    args, cfg, device, ck, log, rng, nrng, model, opt = C.start_run(__doc__, "DamageDetector")
    if not cfg.get("init_from"):   # (loaded weights stay as they are)
        with torch.no_grad():   # start at "little damage" (~5 %): BCE does not begin by unlearning 50 %
            model.tail.bias.fill_(-3.0)
    data = DetectData(cfg, rng, nrng)
    val = make_val()
    log.log(step=-1, **tophat_baseline(make_tune(n=cfg.get("tune_crops", 48)), val))
    ema = C.make_ema(model, cfg)
    net = C.evaluated(model, ema)
    step, best = C.resume(ck, model, opt, rng, nrng, ema)
    total, bs, sizes = cfg["steps"], cfg["batch"], cfg["patch_sizes"]
    t0 = t_start = time.time()
    acc, n_acc = {"loss": 0.0, "bce": 0.0, "dice": 0.0}, 0   # n_acc: steps since the last log line
    every = cfg.get("log_every", 50)

    def state():
        return C.run_state(model, opt, step, best, rng, nrng, cfg, ema)

    if step == 0:
        log.log(step=0, **validate(net, val, device))
    model.train()
    while step < total:
        lr_now = C.set_lr(opt, step, total, cfg)
        x, y = data.batch(bs, rng.choice(sizes))
        x, y = C.to_device(cfg, device, x, y)
        with C.amp_context(cfg, device):
            logits = model(x)
        loss, bce, dice = detect_loss(logits, y, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
        for k, v in (("loss", loss), ("bce", bce), ("dice", dice)):
            acc[k] += float(v.detach())
        step += 1
        n_acc += 1
        if step % every == 0:   # (a resumed run's first line averages the steps since the resume)
            dt = (time.time() - t0) / n_acc
            t0 = time.time()
            log.log(step=step, lr=lr_now, s_per_step=dt, **{k: v / n_acc for k, v in acc.items()})
            acc, n_acc = {k: 0.0 for k in acc}, 0
        if step % cfg.get("val_every", 500) == 0 or step == total:
            r = validate(net, val, device)
            best = C.keep_best(ck, net, step, r["score"], best, r, log)
        if C.checkpoint_or_stop(ck, state, step, t_start, args.max_minutes):
            return
    C.finish(ck, state, net, step)


if __name__ == "__main__":
    main()

"""Train the Restora super-resolution nets (x2 and x4 share one body).

    python training/train_sr.py --config training/configs/sr.json

Re-running with the same config resumes from training/runs/<run>/last.pt.
Uses CUDA when available (same recipe), else CPU with `threads` threads.
The model is a nets.MultiScaleSR; training/export.py writes one CompactSR
file per scale (shared body + that scale's tail).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

import cv2
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

_KERNELS = [Image.BICUBIC, Image.BILINEAR, Image.LANCZOS, Image.BOX]


class SRData:
    """HR/LR patch pairs.  Clean share: PIL (MATLAB-like) bicubic downsample.
    Degraded share (`p_degrade`): mild gaussian blur before downsampling, a
    random resampling kernel, then (independently) gaussian/signal-dependent
    noise and JPEG, as real photos are degraded."""

    def __init__(self, cfg, rng, nrng):
        self.cfg = cfg
        self.rng = rng
        self.nrng = nrng
        self.imgs = [C.imread_rgb(f) for f in C.list_color("train")]
        # gray400 (BSD photos) as R=G=B images: more natural structure for the luma the
        # PSNR-Y benchmark (and the eye) judges; colour still comes from the colour set
        self.gray = [C.imread_gray(f) for f in C.list_gray("train")] if cfg.get("gray_share") else []

    def sample(self, scale, lp):
        rng, nrng, cfg = self.rng, self.nrng, self.cfg
        hp = lp * scale
        if self.gray and rng.random() < cfg["gray_share"]:
            img = np.repeat(self.gray[rng.randrange(len(self.gray))][..., None], 3, axis=2)
        else:
            img = self.imgs[rng.randrange(len(self.imgs))]
        hr = C.augment(C.random_crop(img, hp, rng), rng=rng)[0]
        if rng.random() < cfg["p_degrade"]:
            src = hr
            if rng.random() < 0.5:
                src = cv2.GaussianBlur(hr, (0, 0), rng.uniform(0.3, cfg["blur_max"]))
            lr = np.asarray(Image.fromarray(src).resize((lp, lp), rng.choice(_KERNELS)))
            lrf = lr.astype(np.float32) / 255.0
            if rng.random() < 0.5:
                s = rng.uniform(1.0, cfg["noise_max"]) / 255.0
                n = nrng.standard_normal(lrf.shape, dtype=np.float32)
                if rng.random() < 0.5:
                    n = 0.6 * n + 0.8 * n[..., :1]
                lrf = lrf + n * s * np.sqrt(0.5 + lrf)
            lr = C.to_u8(lrf)
            if rng.random() < 0.5:
                lr = C.jpeg(lr, rng.randint(cfg["jpeg_min"], 95))
        else:
            lr = C.pil_resize(hr, lp, lp)
        return hr, lr

    def batch(self, scale, bs, lp):
        hs, ls = zip(*[self.sample(scale, lp) for _ in range(bs)])
        hr = torch.from_numpy(np.stack(hs)).permute(0, 3, 1, 2).float().div_(255)
        lr = torch.from_numpy(np.stack(ls)).permute(0, 3, 1, 2).float().div_(255)
        return hr.contiguous(), lr.contiguous()


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma (16..235 range, as in the SR literature), x in [0,1]."""
    return (16.0 + 65.481 * x[:, 0] + 128.553 * x[:, 1] + 24.966 * x[:, 2]) / 255.0


def y_psnr(sr, hr, shave):
    a = rgb_to_y(sr.clamp(0, 1))[..., shave:-shave, shave:-shave]
    b = rgb_to_y(hr)[..., shave:-shave, shave:-shave]
    return C.psnr(a, b)


def make_val(scales, crop=192):
    val = {}
    for s in scales:
        his, lis, bis = [], [], []
        for f in C.list_color("val"):
            im = C.imread_rgb(f)
            h, w = im.shape[:2]
            y, x = (h - crop) // 2, (w - crop) // 2
            hr = im[y:y + crop, x:x + crop]
            lr = C.pil_resize(hr, crop // s, crop // s)
            bi = C.pil_resize(lr, crop, crop)
            his.append(hr)
            lis.append(lr)
            bis.append(bi)
        t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float().div_(255)  # noqa
        val[s] = (t(his), t(lis), t(bis))
    return val


@torch.no_grad()
def validate(model, val, device):
    model.eval()
    res = {}
    for s, (hr, lr, bi) in val.items():
        sr = model(lr.to(device), scale=s).cpu()
        res["x%d" % s] = float(np.mean([y_psnr(sr[i:i + 1], hr[i:i + 1], s) for i in range(len(hr))]))
        res["x%d_bicubic" % s] = float(np.mean([y_psnr(bi[i:i + 1], hr[i:i + 1], s) for i in range(len(hr))]))
    model.train()
    return res


def main():
    args, cfg, device, ck, log, rng, nrng, model, opt = C.start_run(__doc__, "MultiScaleSR")
    data = SRData(cfg, rng, nrng)
    scales = cfg["net"]["scales"]
    val = make_val(scales)
    ema = C.make_ema(model, cfg)
    net = C.evaluated(model, ema)
    step, best = C.resume(ck, model, opt, rng, nrng, ema)
    total = cfg["steps"]
    t0 = t_start = time.time()
    acc = {s: 0.0 for s in scales}
    every = cfg.get("log_every", 50)

    def state():
        return C.run_state(model, opt, step, best, rng, nrng, cfg, ema)

    model.train()
    while step < total:
        lr_now = C.set_lr(opt, step, total, cfg)
        s = scales[step % len(scales)]
        hr, lr = data.batch(s, cfg["batch"][str(s)], cfg["lr_patch"][str(s)])
        hr, lr = C.to_device(cfg, device, hr, lr)
        acc[s] += C.optimise(opt, lambda: model(lr, scale=s), hr, step, total, cfg, device)
        if ema is not None:
            ema.update_parameters(model)
        step += 1
        if step % every == 0:
            dt = (time.time() - t0) / every
            t0 = time.time()
            log.log(step=step, lr=lr_now, s_per_step=dt,
                    **{"loss_x%d" % k: v / (every / len(scales)) for k, v in acc.items()})
            acc = {k: 0.0 for k in scales}
        if step % cfg.get("val_every", 250) == 0 or step == total:
            r = validate(net, val, device)
            score = sum(r["x%d" % k] - r["x%d_bicubic" % k] for k in scales)
            best = C.keep_best(ck, net, step, score, best, r, log)
        if C.checkpoint_or_stop(ck, state, step, t_start, args.max_minutes):
            return
    C.finish(ck, state, net, step)


if __name__ == "__main__":
    main()

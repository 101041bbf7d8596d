"""Train the Restora denoiser (colour, with a share of gray samples).

    python training/train_denoise.py --config training/configs/denoise.json

Re-running with the same config resumes from training/runs/<run>/last.pt.
Uses CUDA when available (same recipe), else CPU with `threads` threads.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


class DenoiseData:
    """On-the-fly noisy/clean patch pairs.

    Per sample, one of:
      * AWGN, independent per channel (sigma ~ U[0, max])             -- 'awgn'
      * gray image replicated to RGB, channel-correlated AWGN          -- 'gray'
      * signal-dependent Poisson-Gaussian noise (map = its mean std)   -- 'pg'
      * AWGN / PG followed by JPEG (q 60..95), map = sigma             -- 'jpeg'
      * spatially correlated noise (blurred gaussian, map = its std)   -- 'corr'
    The noisy patch is clipped to [0, 1] and quantised to 8 bit like a photo.
    """

    def __init__(self, cfg, rng: random.Random, nrng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng
        self.nrng = nrng
        self.color = [C.imread_rgb(f) for f in C.list_color("train")]
        self.gray = [C.imread_gray(f) for f in C.list_gray("train")]
        self.mix = cfg["mix"]  # dict kind -> weight
        self.kinds = list(self.mix)
        self.weights = [self.mix[k] for k in self.kinds]

    def sample(self, ps):
        rng, nrng = self.rng, self.nrng
        kind = rng.choices(self.kinds, self.weights)[0]
        smax = self.cfg["sigma_max"] / 255.0
        sigma = rng.uniform(0.0, smax)
        if kind == "gray":
            if rng.random() < self.cfg.get("gray400_share", 0.7):
                img = self.gray[rng.randrange(len(self.gray))]
            else:
                img = C.rgb_to_gray(self.color[rng.randrange(len(self.color))])
            img = C.augment(C.random_crop(img, ps, rng), rng=rng)[0]
            clean = img.astype(np.float32)[..., None] / 255.0
            noisy = clean + nrng.standard_normal(clean.shape, dtype=np.float32) * sigma
            clean = np.repeat(clean, 3, axis=2)
            noisy = np.repeat(noisy, 3, axis=2)
        else:
            img = self.color[rng.randrange(len(self.color))]
            img = C.augment(C.random_crop(img, ps, rng), rng=rng)[0]
            clean = img.astype(np.float32) / 255.0
            n = nrng.standard_normal(clean.shape, dtype=np.float32)
            if kind in ("awgn",):
                noisy = clean + n * sigma
            elif kind == "pg" or (kind == "jpeg" and rng.random() < 0.5):
                # std(x) = sqrt(a*x + b^2); split sigma^2 between the two terms
                frac = rng.uniform(0.3, 1.0)
                mean_x = float(clean.mean()) + 1e-3
                a = frac * sigma ** 2 / mean_x
                b2 = (1 - frac) * sigma ** 2
                std = np.sqrt(a * clean + b2).astype(np.float32)
                if rng.random() < 0.5:  # luminance-dominated (shared across channels)
                    n = 0.6 * n + 0.8 * n[..., :1]
                noisy = clean + n * std
                sigma = float(std.mean())
            elif kind == "corr":
                import cv2
                k = rng.uniform(0.4, 0.9)
                nb = cv2.GaussianBlur(n, (0, 0), k)
                nb = nb / (nb.std() + 1e-6)
                noisy = clean + nb * sigma
            else:  # jpeg after AWGN
                noisy = clean + n * sigma
            if kind == "jpeg":
                q = rng.randint(60, 95)
                noisy = C.jpeg(C.to_u8(noisy), q).astype(np.float32) / 255.0
        noisy = C.to_u8(noisy).astype(np.float32) / 255.0
        return clean, noisy, sigma

    def batch(self, bs, ps):
        cl, no, sg = [], [], []
        for _ in range(bs):
            c, n, s = self.sample(ps)
            cl.append(c)
            no.append(n)
            sg.append(s)
        cl = torch.from_numpy(np.stack(cl)).permute(0, 3, 1, 2).contiguous()
        no = torch.from_numpy(np.stack(no)).permute(0, 3, 1, 2).contiguous()
        sg = torch.tensor(sg, dtype=torch.float32).view(-1, 1, 1, 1)
        return cl, no, sg


def make_val(cfg, crop=256):
    """Fixed validation tensors: centre crops of the held-out colour images with
    AWGN sigma=25 (seeded), plus gray versions."""
    g = np.random.default_rng(1234)
    cl, no = [], []
    for f in C.list_color("val"):
        im = C.imread_rgb(f)
        h, w = im.shape[:2]
        y, x = (h - crop) // 2, (w - crop) // 2
        c = im[y:y + crop, x:x + crop].astype(np.float32) / 255.0
        n = C.to_u8(c + g.standard_normal(c.shape).astype(np.float32) * 25 / 255) / 255.0
        cl.append(c)
        no.append(n.astype(np.float32))
    cl = torch.from_numpy(np.stack(cl)).permute(0, 3, 1, 2).contiguous()
    no = torch.from_numpy(np.stack(no)).permute(0, 3, 1, 2).contiguous()
    gcl = cl.mean(1, keepdim=True)
    # The gray400 holdout (the benchmark's second gray set): centre 176x176 of each
    # 180x180 crop, so the U-Net needs no padding here.
    hcl = np.stack([C.imread_gray(f)[2:178, 2:178] for f in C.list_gray("val")])
    hcl = torch.from_numpy(hcl.astype(np.float32) / 255.0)[:, None]
    return cl, no, gcl, _noisy(gcl, g), hcl, _noisy(hcl, g)


def _noisy(clean: torch.Tensor, g: np.random.Generator) -> torch.Tensor:
    """AWGN sigma 25, clipped and quantised to 8 bit like a saved photo."""
    n = torch.from_numpy(g.standard_normal(clean.shape).astype(np.float32))
    return torch.from_numpy(C.to_u8((clean + n * 25 / 255).numpy()) / 255.0).float()


def _mean_psnr(model, noisy, clean, sigma, gray: bool) -> float:
    """Gray images go through the colour-shaped net as three copies, averaged back."""
    x = noisy.expand(-1, 3, -1, -1) if gray else noisy
    out = torch.cat([model(x[i:i + 4], sigma.expand(x[i:i + 4].shape[0], 1, 1, 1))
                     for i in range(0, len(x), 4)])
    if gray:
        out = out.mean(1, keepdim=True)
    return float(np.mean([C.psnr(out[i].clamp(0, 1), clean[i]) for i in range(len(clean))]))


@torch.no_grad()
def validate(model, val, device):
    """PSNR at sigma 25: colour val crops, their gray versions, the gray400 holdout."""
    model.eval()
    cl, no, gcl, gno, hcl, hno = [t.to(device) for t in val]
    s = torch.full((1, 1, 1, 1), 25 / 255, device=device)
    scores = (_mean_psnr(model, no, cl, s, gray=False), _mean_psnr(model, gno, gcl, s, gray=True),
              _mean_psnr(model, hno, hcl, s, gray=True))
    model.train()
    return scores


def main():
    args, cfg, device, ck, log, rng, nrng, model, opt = C.start_run(__doc__, None)
    data = DenoiseData(cfg, rng, nrng)
    val = make_val(cfg)
    ema = C.make_ema(model, cfg)
    net = C.evaluated(model, ema)
    step, best = C.resume(ck, model, opt, rng, nrng, ema)
    total = cfg["steps"]
    t0 = time.time()
    t_start = time.time()

    def state():
        return C.run_state(model, opt, step, best, rng, nrng, cfg, ema)

    model.train()
    loss_acc = 0.0
    if step == 0:  # the starting point, for the validation curve
        pc, pg, ph = validate(net, val, device)
        log.log(step=0, val_color25=pc, val_gray25=pg, val_gray400_25=ph, best=best)
    while step < total:
        lr = C.set_lr(opt, step, total, cfg)
        cl, no, sg = data.batch(cfg["batch"], cfg["patch"])
        cl, no = C.to_device(cfg, device, cl, no)
        sg = sg.to(device)
        loss_acc += C.optimise(opt, lambda: model(no, sg), cl, step, total, cfg, device)
        if ema is not None:
            ema.update_parameters(model)
        step += 1
        if step % cfg.get("log_every", 50) == 0:
            dt = (time.time() - t0) / cfg.get("log_every", 50)
            t0 = time.time()
            log.log(step=step, loss=loss_acc / cfg.get("log_every", 50), lr=lr, s_per_step=dt)
            loss_acc = 0.0
        if step % cfg.get("val_every", 250) == 0 or step == total:
            pc, pg, ph = validate(net, val, device)
            score = {"gray": pg, "gray400": ph}.get(cfg.get("select_on"), pc)
            if score > best:
                best = score
                torch.save({"model": net.state_dict(), "step": step, "val": score},
                           os.path.join(ck.dir, "best.pt"))
            log.log(step=step, val_color25=pc, val_gray25=pg, val_gray400_25=ph, best=best)
        if C.checkpoint_or_stop(ck, state, step, t_start, args.max_minutes):
            return
    C.finish(ck, state, net, step)


if __name__ == "__main__":
    main()

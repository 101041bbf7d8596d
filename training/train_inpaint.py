"""Train Restora's inpainter: a conditional GAN whose noise input samples the fill.

    python training/train_inpaint.py --config training/configs/inpaint.json [--max-minutes M]

Re-running with the same config resumes from training/runs/<run>/last.pt. CUDA when
available (same recipe), else CPU with ``threads`` threads.

Generator: nets.InpaintGenerator (photo with holes + mask + noise). Discriminator: a
spectrally normalised PatchGAN over (image, mask), trained here only (not shipped). No
pretrained feature network can be downloaded here, so the losses need none:

- reconstruction in the holes: L1 at full resolution, plus L1 of 4x4 averages (the low
  frequencies: what the fill must agree on, whatever the noise);
- hinge adversarial loss and discriminator feature matching (texture and grain);
- mode seeking (Mao et al. 2019): each input is filled twice with different noise and the
  generator is paid for fills that differ, so different seeds give different fills instead
  of the noise being ignored. With ``ms_margin`` only the hole pixels farther than that from
  known ones count: diversity where the fill is uncertain, none forced into thin scratches
  (forcing it there cost ~1 dB on them in inpaint_v3).

Masks: training/damage.py (scratches, cracks, dust, blotches, blocks, torn edges, border
holes). Validation: 15 held-out whole images (256 px centre crops), fixed block masks
(~5 % of the crop) and fixed scratch masks; PSNR inside the holes against OpenCV's Telea
and Navier-Stokes on the same crops.
"""
from __future__ import annotations

import os
import random
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import damage  # noqa: E402


class PatchDiscriminator(nn.Module):
    """Real/fake per ~70 px patch of (image, mask); returns (logits, features)."""

    def __init__(self, c: int = 64):
        super().__init__()
        sn = nn.utils.spectral_norm
        widths = [4, c, 2 * c, 4 * c, 4 * c]
        self.layers = nn.ModuleList(
            sn(nn.Conv2d(widths[i], widths[i + 1], 4 if i < 3 else 3, 2 if i < 3 else 1, 1)) for i in range(4))
        self.out = sn(nn.Conv2d(widths[-1], 1, 3, 1, 1))

    def forward(self, img, mask):
        h, feats = torch.cat([img * 2 - 1, mask], 1), []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            feats.append(h)
        return self.out(h), feats


class InpaintData:
    def __init__(self, cfg, rng: random.Random):
        self.cfg, self.rng = cfg, rng
        self.color = [C.imread_rgb(f) for f in C.list_color("train")]
        self.gray = [C.imread_gray(f) for f in C.list_gray("train")]

    def sample(self, size):
        rng = self.rng
        if rng.random() < self.cfg.get("gray_share", 0.25):
            img = np.repeat(self.gray[rng.randrange(len(self.gray))][..., None], 3, axis=2)
        else:
            img = self.color[rng.randrange(len(self.color))]
        crop = C.augment(C.random_crop(img, size, rng), rng=rng)[0]
        return crop, damage.mixed_mask(size, size, rng)

    def batch(self, n, size):
        imgs, masks = zip(*[self.sample(size) for _ in range(n)])
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255)
        m = torch.from_numpy(np.stack(masks))[:, None]
        return x.contiguous(), m.contiguous(), guides(x, m, self.cfg)


def guides(x, m, cfg):
    """The classical fills a ``prefill="ns"`` net refines (None for the other designs)."""
    if cfg["net"].get("prefill") != "ns":
        return None
    out = [C.load_nets().ns_guide(xi.permute(1, 2, 0).numpy(), mi[0].numpy()) for xi, mi in zip(x.cpu(), m.cpu())]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous().to(x.device)


# ---------------------------------------------------------------- validation

def make_val(crop: int = 256, seed: int = 1234):
    rng = random.Random(seed)
    imgs = []
    for f in C.list_color("val"):
        im = C.imread_rgb(f)
        h, w = im.shape[:2]
        y, x = (h - crop) // 2, (w - crop) // 2
        imgs.append(im[y:y + crop, x:x + crop])
    sets = {"blocks": [damage.blocks(crop, crop, rng, area=0.05) for _ in imgs],
            "scratches": [damage.scratches(crop, crop, rng, count=4) for _ in imgs]}
    return imgs, sets


def hole_psnr(out_u8: np.ndarray, gt_u8: np.ndarray, mask: np.ndarray) -> float:
    sel = mask > 0.5
    err = (out_u8.astype(np.float64) - gt_u8.astype(np.float64))[sel]
    return 10 * np.log10(255.0 ** 2 / max(float(np.mean(err ** 2)), 1e-10))


def classical_baselines(imgs, sets):
    """Mean hole PSNR of Telea and Navier-Stokes per mask set (computed once)."""
    res = {}
    for name, masks in sets.items():
        for method, flag in (("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS)):
            scores = []
            for im, m in zip(imgs, masks):
                m8 = (m > 0.5).astype(np.uint8) * 255
                out = cv2.inpaint(np.ascontiguousarray(im[..., ::-1]), m8, 3, flag)[..., ::-1]
                scores.append(hole_psnr(out, im, m))
            res[f"{name}_{method}"] = float(np.mean(scores))
    return res


@torch.no_grad()
def validate(net, imgs, sets, device, base, cfg=None):
    net.eval()
    res = {}
    gen = torch.Generator().manual_seed(0)
    for name, masks in sets.items():
        scores, spread = [], []
        for im, m in zip(imgs, masks):
            x = torch.from_numpy(im.copy()).permute(2, 0, 1)[None].float().div(255).to(device)
            mt = torch.from_numpy(m)[None, None].to(device)
            z = torch.randn(2, 1, *m.shape, generator=gen).to(device)
            g = guides(x.cpu(), mt.cpu(), cfg) if cfg else None
            out = net(x.expand(2, -1, -1, -1), mt.expand(2, -1, -1, -1), z,
                      None if g is None else g.to(device).expand(2, -1, -1, -1)).clamp(0, 1)
            a = C.to_u8(out[0].permute(1, 2, 0).cpu().numpy())
            b = C.to_u8(out[1].permute(1, 2, 0).cpu().numpy())
            scores.append(hole_psnr(a, im, m))
            spread.append(float(np.abs(a.astype(np.float32) - b)[m > 0.5].mean()))
        res[name] = float(np.mean(scores))
        res[f"{name}_gain"] = res[name] - max(base[f"{name}_telea"], base[f"{name}_ns"])
        res[f"{name}_spread"] = float(np.mean(spread))   # levels between two seeds' fills
    net.train()
    return res


# ---------------------------------------------------------------- losses

def hole_l1(out, gt, mask):
    return (out - gt).abs().sum() / (3 * mask.sum() + 1.0)


def low_l1(out, gt, mask):
    pool = F.avg_pool2d(mask, 4)
    return (F.avg_pool2d(out, 4) - F.avg_pool2d(gt, 4)).abs().sum() / (3 * (pool > 0).sum() + 1.0)


def deep_holes(mask, margin: int):
    """The hole pixels more than ``margin`` px from any known pixel: where a fill is truly
    uncertain (a thin scratch has none: its fill is fixed by its two sides)."""
    if margin <= 0:
        return mask
    near_known = F.max_pool2d(1 - mask, 2 * margin + 1, stride=1, padding=margin)
    return mask * (1 - near_known)


def mode_seeking(out, mask, z, target: float):
    """Mode seeking as a hinge: the two halves of the batch are the same inputs filled with
    different noise; while their fills differ by less than ``target`` (mean absolute difference
    in the holes per unit of noise difference) the generator pays the shortfall. The plain
    1/difference form kept pushing fills apart at the cost of the reconstruction (24 levels
    apart at step 500 of the first run, holes 33 levels off)."""
    half = out.shape[0] // 2
    m = mask[:half]
    diff = ((out[:half] - out[half:]).abs() * m).sum() / (3 * m.sum() + 1.0)
    dz = (z[:half] - z[half:]).abs().mean()
    return F.relu(target - diff / dz)


def main():
    args, cfg, device, ck, log, rng, nrng, model, opt = C.start_run(__doc__, "InpaintGenerator")
    disc = PatchDiscriminator(cfg.get("disc_channels", 64)).to(device)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg["lr_d"], betas=(0.5, 0.99))
    data = InpaintData(cfg, rng)
    imgs, sets = make_val()
    base = classical_baselines(imgs, sets)
    log.log(step=-1, **base)
    ema = C.make_ema(model, cfg)
    net = C.evaluated(model, ema)
    step, best = C.resume(ck, model, opt, rng, nrng, ema)
    st = ck.load()
    if st is not None and "disc" in st:
        disc.load_state_dict(st["disc"])
        opt_d.load_state_dict(st["opt_d"])
    elif cfg.get("init_from"):   # a new stage: the discriminator goes on from the snapshot too
        init = torch.load(C.init_path(cfg["init_from"]), map_location="cpu", weights_only=False)
        if "disc" in init:
            disc.load_state_dict({k: v.float() for k, v in init["disc"].items()})
        if "ema" in init and ema is not None:
            ema.module.load_state_dict({k.removeprefix("module."): v.float() for k, v in init["ema"].items()
                                        if k != "n_averaged"})   # (a run's last.pt holds the AveragedModel's)
            ema.n_averaged.fill_(1)   # else the first update copies the model over the average
    total, size, half = cfg["steps"], cfg["patch"], cfg["batch"] // 2
    w = cfg["weights"]
    t0 = t_start = time.time()
    acc: dict = {}
    every = cfg.get("log_every", 50)

    def state():
        s = C.run_state(model, opt, step, best, rng, nrng, cfg, ema)
        s.update(disc=disc.state_dict(), opt_d=opt_d.state_dict())
        return s

    if step == 0:
        log.log(step=0, **validate(net, imgs, sets, device, base, cfg))
    model.train()
    while step < total:
        lr_now = C.set_lr(opt, step, total, cfg)
        for group in opt_d.param_groups:
            group["lr"] = cfg["lr_d"] * lr_now / cfg["lr"]
        x, m, g = data.batch(half, size)
        x, m = torch.cat([x, x]).to(device), torch.cat([m, m]).to(device)   # each input twice
        g = None if g is None else torch.cat([g, g]).to(device)
        z = torch.randn(x.shape[0], 1, size, size, device=device)
        out = model(x, m, z, g)
        adv_on = step >= cfg.get("adv_from", 0)
        losses = {"l1": hole_l1(out, x, m), "low": low_l1(out, x, m), "ms": mode_seeking(out, deep_holes(m, cfg.get("ms_margin", 0)), z, cfg.get("ms_target", 0.03))}
        if adv_on:
            fake_logits, fake_feats = disc(out, m)
            with torch.no_grad():
                _, real_feats = disc(x, m)
            losses["adv"] = -fake_logits.mean()
            losses["fm"] = sum(F.l1_loss(f, r) for f, r in zip(fake_feats, real_feats)) / len(fake_feats)
        loss = sum(w.get(k, 0.0) * v for k, v in losses.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
        if adv_on:   # discriminator step (hinge)
            real_logits, _ = disc(x[:half], m[:half])
            fake_logits, _ = disc(out.detach(), m)
            loss_d = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            losses["d"] = loss_d
        for k, v in losses.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        step += 1
        if step % every == 0:
            dt = (time.time() - t0) / every
            t0 = time.time()
            log.log(step=step, lr=lr_now, s_per_step=dt, **{k: v / every for k, v in acc.items()})
            acc = {}
        if step % cfg.get("val_every", 500) == 0 or step == total:
            r = validate(net, imgs, sets, device, base, cfg)
            best = C.keep_best(ck, net, step, r["blocks_gain"] + r["scratches_gain"], best, r, log)
        if C.checkpoint_or_stop(ck, state, step, t_start, args.max_minutes):
            return
    C.finish(ck, state, net, step)


if __name__ == "__main__":
    main()

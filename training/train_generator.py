"""Train Restora's built-in texture generator: a small GAN of 64x64 natural photo patches.

    python training/train_generator.py --config training/configs/generator_v3.json [--max-minutes M]

Re-running with the same config resumes from training/runs/<run>/last.pt. CUDA when
available (same recipe), else CPU with ``threads`` threads. Cost measured on this machine's
CPU (one thread, sharing 2 cores with two other trainers): ~0.4 CPU s per step at batch 32
(0.7-1.0 s wall) for the DCGAN, ~0.6-0.7 for the TextureGenerator, ~30 CPU s per validation.

Generators (``net.arch``):

- ``TextureGenerator`` (gen_v2 on; ``restora.engine.models.nets``): latent -> linear to 4x4 ->
  four stages of nearest 2x upsampling and 3x3 convolutions with batch norm and ReLU -> 3x3
  conv to RGB -> tanh. Widths ``net.widths``; PyTorch's default init. Exported with its class
  and kwargs in the file's metadata (``generator_arch``), read by the built-in generator loader.
- the DCGAN (gen_v1), the engine's own ``restora.engine.models.dcgan.DCGANGenerator``
  (trained as that very class, so the weights it saves are the layout ``dcgan.build`` reads
  back): latent z ~ N(0, I) at 1x1 -> 4x4 transposed convolution to 4x4 -> three 4x4
  stride-2 transposed convolutions (8x8, 16x16, 32x32), each followed by batch norm and ReLU
  -> a last 4x4 stride-2 transposed convolution to 3 x 64 x 64 -> tanh. Widths 8c, 4c, 2c, c
  with c = ``net.channels``; no biases; init N(0, 0.02). Its samples repeated a ~16 px tile.

Diversity (``diversity_weight`` > 0, gen_v3): the generator is also paid
``relu(diversity_target - mean|G(z1) - G(z2)| / mean|z1 - z2|)`` over the two halves of each
batch (Mao et al. 2019's mode seeking as a hinge): without it gen_v2 collapsed to one image
by step 1000.

Discriminator (trained here only, not shipped): spectrally normalised DCGAN discriminator,
four 4x4 stride-2 convolutions (c, 2c, 4c, 8c; LeakyReLU 0.2) and a 4x4 convolution to one
logit. Hinge loss, one D step per G step, Adam (0.5, 0.999), lr 2e-4 for both, cosine decay
to ``final_lr_ratio`` over ``steps``. DiffAugment (Zhao et al. 2020: colour + translation,
differentiable, applied to real and fake alike before D) against D over-fitting the small
data set.

Data: 64x64 crops of the training images (the 56 colour training images and, with
probability ``gray_share``, a gray400 training image replicated to RGB: old photos are often
black and white), each crop taken at a random scale in [1, ``max_scale``] (a crop of up to
``max_scale`` x 64 px area-downscaled to 64), random rot90/flip.

Sampling: the weights shipped are the EMA of G (``ema`` decay, ramped up as in StyleGAN2-ADA: half-life ``ema_rampup`` x the
steps so far until that cap) with *standing* batch-norm
statistics: before every validation and save, the running means/variances of a copy of the
EMA generator are recomputed over ``standing_batches`` x ``standing_batch`` latents (fixed
seed) in train mode, so eval mode (what the app runs) reproduces the batch statistics the net
was trained with. best.pt / final.pt hold that copy; export.py generator writes it.

Validation every ``val_every`` steps (and at step 0): the sliced Wasserstein distance of
Karras et al. 2018 (ProGAN), between ``val_images`` generated patches and as many real
patches cut the same way from the held-out images (common.py's validation split): a
Laplacian pyramid (64, 32 and the 16 px low-pass), 7x7x3 neighbourhoods at random places
(``val_nhoods`` per image and level), 4 x 128 random projections, mean absolute difference
of the sorted projections, x1000. Unlike ProGAN, which normalises each set of descriptors by
its own mean and std per channel, both sets are normalised by the real set's, so a colour or
contrast shift counts too. Reported per level (swd_64, swd_32, swd_16) and averaged (swd);
``swd_real`` (logged once) is the same figure between real *training* patches and the
held-out ones: a generator indistinguishable from the training distribution would score
about that; ``swd_floor`` (also once) is between two sets of held-out crops, the estimate's
own noise level. The same figures against other crops of the training images are logged as
train_swd* (how closely G fits what it learns; train_swd_floor, once, is real training crops
against those). best.pt is the lowest ``best_by`` figure (default ``swd``, held-out; ``train_swd`` is
the better pick for new runs, because real training crops score ~83 against the held-out ones, so a held-out
figure below that rewards matching the held-out images' colours by chance rather than fitting
the training distribution), and every validated net is also kept as val_<step>.pt. A grid of seeds 0..63 (the app's seed convention:
z = torch.randn(latent, generator=torch.Generator().manual_seed(seed))) is written to
training/runs/<run>/samples_<step>.png at each validation, and the real held-out patches
to real_val.png once.
"""
from __future__ import annotations

import copy
import functools
import os
import random
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from restora.engine.models.dcgan import DCGANGenerator  # noqa: E402

SIZE = 64   # output size: 4 x 2^4


# ---------------------------------------------------------------- networks

def generator_shapes(net: dict) -> list[tuple]:
    """ConvTranspose2d weight shapes (in, out, 4, 4) of the generator a config describes."""
    c, nz = int(net["channels"]), int(net["latent"])
    widths = [nz, 8 * c, 4 * c, 2 * c, c, 3]
    return [(widths[i], widths[i + 1], 4, 4) for i in range(len(widths) - 1)]


def build_generator(net: dict) -> nn.Module:
    if net.get("arch") == "TextureGenerator":   # resize-convolutions (gen_v2 on); PyTorch's default init
        from restora.engine.models.nets import TextureGenerator
        return TextureGenerator(int(net["latent"]), net["widths"])
    shapes = generator_shapes(net)
    g = DCGANGenerator(shapes, [True] * (len(shapes) - 1) + [False])
    for m in g.modules():   # DCGAN init
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return g


class Discriminator(nn.Module):
    """Spectrally normalised DCGAN discriminator: 64 -> 32 -> 16 -> 8 -> 4 -> one logit."""

    def __init__(self, c: int = 32, mbstd: bool = False):
        super().__init__()
        sn = nn.utils.spectral_norm
        widths = [3, c, 2 * c, 4 * c, 8 * c]
        self.convs = nn.ModuleList(sn(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1)) for i in range(4))
        self.mbstd = mbstd   # ProGAN's minibatch standard deviation: a batch of look-alikes shows
        self.out = sn(nn.Conv2d(widths[-1] + int(mbstd), 1, 4, 1, 0))

    def forward(self, x):
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        if self.mbstd:   # std over groups of 4 images, averaged to one extra feature map
            n, c, h, w = x.shape
            g = 4 if n % 4 == 0 else 1
            std = x.reshape(g, n // g, c, h, w).var(0, unbiased=False).add(1e-8).sqrt().mean((1, 2, 3))
            x = torch.cat([x, std.reshape(1, -1, 1, 1).expand(g, -1, h, w).reshape(n, 1, h, w)], 1)
        return self.out(x).flatten()


def standing_copy(ema_net: nn.Module, latent: int, device, batches: int = 16, batch: int = 64,
                  seed: int = 0) -> DCGANGenerator:
    """A copy of the (EMA) generator whose batch-norm running statistics are the exact mean
    over ``batches`` x ``batch`` fixed latents of the train-mode batch statistics; in eval."""
    net = copy.deepcopy(ema_net)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None   # cumulative average
    net.train()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(batches):
            net(torch.randn(batch, latent, generator=gen).to(device))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1   # the default, as dcgan.build makes them
    return net.eval()


def make_ema(model: nn.Module, cfg: dict):
    """EMA of the generator's weights (common.make_ema's AveragedModel, so common.resume and
    run_state keep it) with StyleGAN2-ADA's ramp-up: after n updates the average's half-life
    is ``ema_rampup`` x n steps, capped by the ``ema`` decay. A fixed 0.999 from step 0 keeps
    the random init in the average for thousands of steps."""
    from torch.optim.swa_utils import AveragedModel

    cap, ramp = float(cfg["ema"]), float(cfg.get("ema_rampup", 0.05))

    @torch.no_grad()
    def update(averaged, current, n_averaged):
        n = float(n_averaged)
        decay = min(cap, 0.5 ** (1.0 / max(1.0, ramp * n))) if ramp > 0 else cap
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
        else:   # batch-norm counters
            for a, c in zip(averaged, current):
                a.copy_(c)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


# ---------------------------------------------------------------- DiffAugment

def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) on images in [-1, 1]: ``color`` (brightness, saturation,
    contrast), ``translation`` (up to 1/8 of the size, zero padded), ``cutout`` (a 1/2-size
    square). Differentiable; one draw per image."""
    if not policy:
        return x
    n = x.shape[0]
    dev = x.device
    for p in policy.split(","):
        if p == "color":
            x = x + (torch.rand(n, 1, 1, 1, device=dev) - 0.5)
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=dev) * 2) + mean
            mean = x.mean(dim=[1, 2, 3], keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=dev) + 0.5) + mean
        elif p == "translation":
            h, w = x.shape[2], x.shape[3]
            sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
            tx = torch.randint(-sh, sh + 1, (n, 1, 1), device=dev)
            ty = torch.randint(-sw, sw + 1, (n, 1, 1), device=dev)
            gb, gx, gy = torch.meshgrid(torch.arange(n, device=dev), torch.arange(h, device=dev),
                                        torch.arange(w, device=dev), indexing="ij")
            gx = torch.clamp(gx + tx + 1, 0, h + 1)
            gy = torch.clamp(gy + ty + 1, 0, w + 1)
            pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
            x = pad.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)
        elif p == "cutout":
            h, w = x.shape[2], x.shape[3]
            ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            ox = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=dev)
            oy = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=dev)
            gb, gx, gy = torch.meshgrid(torch.arange(n, device=dev), torch.arange(ch, device=dev),
                                        torch.arange(cw, device=dev), indexing="ij")
            gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
            gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
            mask = torch.ones(n, h, w, dtype=x.dtype, device=dev)
            mask[gb, gx, gy] = 0
            x = x * mask.unsqueeze(1)
        elif p:
            raise ValueError("unknown DiffAugment policy %r" % p)
    return x


# ---------------------------------------------------------------- data

@functools.lru_cache(maxsize=2)
def _images(split: str):
    """(colour images, gray images) of a split, read once."""
    return [C.imread_rgb(f) for f in C.list_color(split)], [C.imread_gray(f) for f in C.list_gray(split)]


class PatchData:
    """64x64 RGB patches in [-1, 1] from one split (see the module docstring)."""

    def __init__(self, cfg: dict, split: str, rng: random.Random):
        self.rng = rng
        self.gray_share = cfg.get("gray_share", 0.25)
        self.max_scale = cfg.get("max_scale", 1.0)
        self.color, gray = _images(split)
        self.gray = gray if self.gray_share > 0 else []

    def sample(self) -> np.ndarray:
        rng = self.rng
        if self.gray and rng.random() < self.gray_share:
            img = self.gray[rng.randrange(len(self.gray))]
        else:
            img = self.color[rng.randrange(len(self.color))]
        side = min(int(round(SIZE * rng.uniform(1.0, self.max_scale))), *img.shape[:2])
        crop = C.random_crop(img, side, rng)
        if side != SIZE:
            crop = cv2.resize(np.ascontiguousarray(crop), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        if crop.ndim == 2:
            crop = np.repeat(crop[..., None], 3, axis=2)
        return C.augment(crop, rng=rng)[0]

    def batch(self, n: int) -> torch.Tensor:
        x = torch.from_numpy(np.stack([self.sample() for _ in range(n)])).permute(0, 3, 1, 2)
        return x.float().div_(127.5).sub_(1.0).contiguous()


# ---------------------------------------------------------------- sliced Wasserstein distance

def laplacian_pyramid(x: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
    """[band-pass at full size, ..., low-pass at 1/2^(levels-1)] (Burt-Adelson with
    cv2.pyrDown/pyrUp, as ProGAN's SWD: 5x5 binomial filter, mirrored borders)."""
    ims = x.float().cpu().permute(0, 2, 3, 1).contiguous().numpy()
    bands = [[] for _ in range(levels)]
    for im in ims:
        for i in range(levels - 1):
            down = cv2.pyrDown(im)
            bands[i].append(im - cv2.pyrUp(down, dstsize=(im.shape[1], im.shape[0])))
            im = down
        bands[-1].append(im)
    return [torch.from_numpy(np.stack(b)).permute(0, 3, 1, 2) for b in bands]


def descriptors(imgs: torch.Tensor, nhoods: int, seed: int, size: int = 7) -> list[torch.Tensor]:
    """Per pyramid level, ``nhoods`` random 7x7x3 neighbourhoods per image, flattened
    (N*nhoods x 147, channel-major). The places come from ``seed``."""
    g = np.random.default_rng(seed)
    out = []
    for level in laplacian_pyramid(imgs):
        n, c, h, w = level.shape
        ys = torch.from_numpy(g.integers(0, h - size + 1, (n, nhoods)))
        xs = torch.from_numpy(g.integers(0, w - size + 1, (n, nhoods)))
        patches = level.unfold(2, size, 1).unfold(3, size, 1)   # n c H' W' 7 7
        d = patches[torch.arange(n)[:, None], :, ys, xs]        # n nhoods c 7 7
        out.append(d.reshape(n * nhoods, -1))
    return out


def sorted_projections(d: torch.Tensor, dirs: list[torch.Tensor]) -> list[np.ndarray]:
    """Per direction set (147 x k), the projections of the descriptors, sorted (k x N)."""
    return [np.sort((d @ u).T.contiguous().numpy(), axis=1) for u in dirs]


def projection_dirs(dim: int, seed: int, dirs: int = 128, repeats: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(repeats):
        u = torch.randn(dim, dirs, generator=g)
        out.append(u / u.norm(dim=0, keepdim=True))
    return out


def sliced_wasserstein(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Mean over the repeats and directions of the 1-D Wasserstein-1 distance between two
    sets' sorted projections (equal sizes)."""
    return float(np.mean([np.abs(pa - pb).mean() for pa, pb in zip(a, b)]))


class SWD:
    """The SWD of a batch of generated images against fixed real ones (see the docstring):
    the real set's descriptors are normalised, projected and sorted once."""

    NAMES = ("swd_64", "swd_32", "swd_16")

    def __init__(self, real: torch.Tensor, nhoods: int, seed: int = 4321):
        self.nhoods, self.seed = nhoods, seed
        desc = descriptors(real, nhoods, seed)
        self.stats = []
        for d in desc:
            per_channel = d.reshape(d.shape[0], 3, -1).transpose(0, 1).reshape(3, -1)
            self.stats.append((per_channel.mean(1), per_channel.std(1)))
        self.dirs = [projection_dirs(desc[i].shape[1], seed + 2 + i) for i in range(len(desc))]
        self.real = [sorted_projections(self._norm(d, i), self.dirs[i]) for i, d in enumerate(desc)]

    def _norm(self, d: torch.Tensor, level: int) -> torch.Tensor:
        mean, std = self.stats[level]
        d = d.reshape(d.shape[0], 3, -1)
        return ((d - mean[None, :, None]) / std[None, :, None]).reshape(d.shape[0], -1)

    def __call__(self, imgs: torch.Tensor, seed: int = None) -> dict:
        """``imgs``: as many images as the real set, in [-1, 1]."""
        fake = descriptors(imgs, self.nhoods, self.seed + 1 if seed is None else seed)
        res = {name: 1e3 * sliced_wasserstein(sorted_projections(self._norm(f, i), self.dirs[i]), self.real[i])
               for i, (name, f) in enumerate(zip(self.NAMES, fake))}
        res["swd"] = float(np.mean([res[k] for k in self.NAMES]))
        return res


# ---------------------------------------------------------------- validation

def seed_latents(seeds, latent: int) -> torch.Tensor:
    """The app's convention (generator.py): latent i from a CPU generator seeded with i."""
    return torch.stack([torch.randn(latent, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def to_u8(x: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W in [-1, 1] -> N x H x W x 3 uint8, as the app converts a tanh output."""
    return (((x.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def write_grid(x: torch.Tensor, path: str, cols: int = 8, pad: int = 2) -> None:
    ims = to_u8(x)
    n, h, w, _ = ims.shape
    rows = (n + cols - 1) // cols
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(ims):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    Image.fromarray(grid).save(path)


@torch.no_grad()
def generate(net: nn.Module, z: torch.Tensor, device, batch: int = 256) -> torch.Tensor:
    return torch.cat([net(z[i:i + batch].to(device)).float().cpu() for i in range(0, z.shape[0], batch)])


def validate(net: nn.Module, swd: SWD, swd_train: SWD, z_val: torch.Tensor, z_grid: torch.Tensor, device,
             run_dir: str, step: int) -> dict:
    write_grid(generate(net, z_grid, device), os.path.join(run_dir, "samples_%d.png" % step))
    fake = generate(net, z_val, device)
    res = swd(fake)
    res.update({"train_" + k: v for k, v in swd_train(fake).items()})
    res["fake_std"] = float(fake.std())   # overall spread of the output values ([-1, 1] units)
    return res


# ---------------------------------------------------------------- training

def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop (after checkpointing) after this many minutes")
    args = ap.parse_args()
    cfg = C.load_config(args.config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(cfg.get("threads", 1))
    cv2.setNumThreads(cfg.get("threads", 1))
    run_dir = os.path.join(C.RUNS, cfg["run"])
    ck = C.Checkpointer(run_dir, cfg.get("ckpt_every_s", 300))
    log = C.Logger(run_dir)
    rng = random.Random(cfg["seed"])
    nrng = np.random.default_rng(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    latent = int(cfg["net"]["latent"])

    model = build_generator(cfg["net"]).to(device)
    disc = Discriminator(cfg["net"].get("disc_channels") or cfg["net"]["channels"],
                         bool(cfg["net"].get("disc_mbstd", False))).to(device)
    betas = tuple(cfg.get("betas", (0.5, 0.999)))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg["lr_d"], betas=betas)
    ema = make_ema(model, cfg)
    ema_net = ema.module

    # validation set: fixed real held-out patches, fixed latents (made before the run's RNG is used)
    n_val = cfg.get("val_images", 2048)
    val_real = PatchData(cfg, "val", random.Random(1234)).batch(n_val)
    swd = SWD(val_real, cfg.get("val_nhoods", 32))
    swd_train = SWD(PatchData(cfg, "train", random.Random(2468)).batch(n_val), cfg.get("val_nhoods", 32))
    z_val = torch.randn(n_val, latent, generator=torch.Generator().manual_seed(98765))
    z_grid = seed_latents(range(64), latent)
    std_kw = dict(batches=cfg.get("standing_batches", 16), batch=cfg.get("standing_batch", 64))

    data = PatchData(cfg, "train", rng)
    step, best = C.resume(ck, model, opt, rng, nrng, ema)
    st = ck.load()
    if st is not None and "disc" in st:
        disc.load_state_dict(st["disc"])
        opt_d.load_state_dict(st["opt_d"])
    elif cfg.get("init_from"):   # a new stage: G, D and the EMA go on from the snapshot
        init = torch.load(C.init_path(cfg["init_from"]), map_location="cpu", weights_only=False)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in init["model"].items()})
        if "disc" in init:
            disc.load_state_dict({k: v.float() for k, v in init["disc"].items()})
        if ema is not None:
            src = init.get("ema", init["model"])   # snapshot.py's EMA weights, else the net's
            ema.module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in src.items()})
            ema.n_averaged.fill_(1)   # else the first update copies the model over the average
        print("initialised from", cfg["init_from"], "step", init.get("step"), flush=True)
    del st

    total, bs = cfg["steps"], cfg["batch"]
    policy = cfg.get("diffaug", "color,translation")
    div_w, div_target = float(cfg.get("diversity_weight", 0.0)), float(cfg.get("diversity_target", 0.3))
    every = cfg.get("log_every", 50)
    acc: dict = {}
    t0 = t_start = time.time()
    c0 = time.process_time()

    def state():
        s = C.run_state(model, opt, step, best, rng, nrng, cfg, ema)
        s.update(disc=disc.state_dict(), opt_d=opt_d.state_dict())
        return s

    def shipped():
        return standing_copy(ema_net, latent, device, **std_kw)

    best_by = cfg.get("best_by", "swd")

    def keep(net, at, r, best):
        # every validated net is kept (val_<step>.pt, export.py reads it like best.pt): the
        # held-out SWD and the eye need not agree, and the pick is made afterwards
        torch.save({"model": net.state_dict(), "step": at, "val": r}, os.path.join(run_dir, "val_%d.pt" % at))
        return C.keep_best(ck, net, at, -r[best_by], best, r, log)

    if step == 0:
        write_grid(val_real[:64], os.path.join(run_dir, "real_val.png"))
        # the figures real patches get: training images (what G learns), other held-out crops
        ref = swd(PatchData(cfg, "train", random.Random(4321)).batch(n_val))
        floor = swd(PatchData(cfg, "val", random.Random(5678)).batch(n_val))
        train_floor = swd_train(PatchData(cfg, "train", random.Random(4321)).batch(n_val))
        log.log(step=-1, swd_real=ref["swd"], swd_floor=floor["swd"], train_swd_floor=train_floor["swd"],
                **{k + "_real": ref[k] for k in SWD.NAMES}, **{k + "_floor": floor[k] for k in SWD.NAMES})
        net = shipped()
        r = validate(net, swd, swd_train, z_val, z_grid, device, run_dir, 0)
        best = keep(net, 0, r, best)
    t0, c0 = time.time(), time.process_time()
    model.train()
    disc.train()
    while step < total:
        lr_now = C.set_lr(opt, step, total, cfg)
        for group in opt_d.param_groups:
            group["lr"] = cfg["lr_d"] * lr_now / cfg["lr"]
        real = data.batch(bs).to(device)
        # discriminator step (hinge)
        with torch.no_grad():
            fake = model(torch.randn(bs, latent, device=device))
        d_real = disc(diff_augment(real, policy))
        d_fake = disc(diff_augment(fake, policy))
        loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # generator step
        z = torch.randn(bs, latent, device=device)
        fake = model(z)
        loss_g = -disc(diff_augment(fake, policy)).mean()
        if div_w:   # diversity: paid while two latents' images differ less than div_target per unit of z
            half = bs // 2
            ratio = (fake[:half] - fake[half:2 * half]).abs().mean() / (z[:half] - z[half:2 * half]).abs().mean()
            loss_div = F.relu(div_target - ratio)
            loss_g = loss_g + div_w * loss_div
            acc["div"] = acc.get("div", 0.0) + float(ratio.detach())
        opt.zero_grad(set_to_none=True)
        loss_g.backward()
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
        for k, v in (("d", loss_d), ("g", loss_g), ("d_real", d_real.mean()), ("d_fake", d_fake.mean())):
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        step += 1
        if step % every == 0:
            dt, cpu = (time.time() - t0) / every, (time.process_time() - c0) / every
            t0, c0 = time.time(), time.process_time()
            log.log(step=step, lr=lr_now, s_per_step=dt, cpu_s_per_step=cpu, **{k: v / every for k, v in acc.items()})
            acc = {}
        if step % cfg.get("val_every", 500) == 0 or step == total:
            net = shipped()
            r = validate(net, swd, swd_train, z_val, z_grid, device, run_dir, step)
            best = keep(net, step, r, best)
            t0, c0 = time.time(), time.process_time()   # the validation is not a training step
        if C.checkpoint_or_stop(ck, state, step, t_start, args.max_minutes):
            return
    C.finish(ck, state, shipped(), step)


if __name__ == "__main__":
    main()

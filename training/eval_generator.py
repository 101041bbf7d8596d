"""Score generator files the way the app loads them, with the trainer's own validation sets.

    python training/eval_generator.py resources/models/restora-texture-gan.safetensors [more.safetensors ...]
        [--config training/configs/generator_v6.json] [--grid DIR] [--repeats 3]

For each file: the sliced Wasserstein distance (train_generator.py's SWD, x1000, lower is
better) of 2048 samples against the held-out patches (``swd``, what best.pt is chosen by) and
against training patches (``train_swd``: how closely it fits what it learned), each as the
median over ``--repeats`` draws of latents; and ``near_twins``: how many of seeds 0..63 have
another seed among them whose 32 px thumbnail is closer than half the closest pair of 64 real
held-out patches (look-alike samples, the partial collapse the eye sees in a seed grid), and
the median nearest-neighbour distance among those 64 (``nn_median``; 64 real patches: ~15).
Files are read with the engine's built-in generator loader, so a score is the shipped net's.
"""
from __future__ import annotations

import argparse
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common as C  # noqa: E402
import train_generator as T  # noqa: E402


def _nn_dist(x: torch.Tensor) -> torch.Tensor:
    """Each image's distance to its nearest other image, on 32 px thumbnails."""
    t = F.avg_pool2d(x.float(), 2).flatten(1)
    d = torch.cdist(t, t)
    d.fill_diagonal_(float("inf"))
    return d.min(1).values


def near_twins(imgs: torch.Tensor, real: torch.Tensor) -> int:
    """How many of ``imgs`` have a look-alike among them: another image closer than half the
    closest pair of ``real`` (as many real patches; real sets of 64 score 0 here)."""
    return int((_nn_dist(imgs) < 0.5 * float(_nn_dist(real).min())).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--config", default=os.path.join(C.ROOT, "training", "configs", "generator_v6.json"))
    ap.add_argument("--grid", default=None, help="also write each file's 64-seed grid (PNG) here")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from pathlib import Path

    from restora.engine.models.builtin import builtin_generator_net

    torch.set_num_threads(1)
    cfg = C.load_config(args.config)
    n, nh = cfg.get("val_images", 2048), cfg.get("val_nhoods", 32)
    swd = T.SWD(T.PatchData(cfg, "val", random.Random(1234)).batch(n), nh)
    swd_train = T.SWD(T.PatchData(cfg, "train", random.Random(2468)).batch(n), nh)
    real64 = T.PatchData(cfg, "val", random.Random(1357)).batch(64)
    for f in args.files:
        net = builtin_generator_net(Path(f))
        latent = int(net.latent_dim)
        scores = []
        for r in range(args.repeats):
            z = torch.randn(n, latent, generator=torch.Generator().manual_seed(98765 + r))
            fake = T.generate(net, z, torch.device("cpu"))
            scores.append((swd(fake)["swd"], swd_train(fake)["swd"]))
        grid = T.generate(net, T.seed_latents(range(64), latent), torch.device("cpu"))
        if args.grid:
            os.makedirs(args.grid, exist_ok=True)
            T.write_grid(grid, os.path.join(args.grid, "%s-%s.png" % (Path(f).resolve().parent.name, Path(f).stem)))
        s = np.median(np.array(scores), 0)
        print("%-60s swd %.1f  train_swd %.1f  near_twins %d/64  nn_median %.1f (real %.1f)  (%d draws: %s)" % (
            f, s[0], s[1], near_twins(grid, real64), float(_nn_dist(grid).median()),
            float(_nn_dist(real64).median()), args.repeats,
            ", ".join("%.1f/%.1f" % p for p in scores)), flush=True)


if __name__ == "__main__":
    main()

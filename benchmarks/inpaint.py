"""Inpainting benchmark: the default inpainter through the engine, against OpenCV's Telea and
Navier-Stokes, on the held-out validation images.

    python benchmarks/inpaint.py                      # the default inpainter (the built-in one)
    python benchmarks/inpaint.py --model FILE_OR_NAME # another inpainter
    python benchmarks/inpaint.py --quick              # 5 images, one seed, no 24 MP run
    python benchmarks/inpaint.py --save-dir DIR       # before/after crops to look at

Prints, as lines of JSON:

* quality: PSNR inside the holes against the undamaged image, on the training run's fixed
  validation set (15 held-out colour images, 256 px centre crops; block holes of ~5 % of the
  crop and thin scratches: train_inpaint.make_val), mean over the images, for each seed in
  ``--seeds`` and for Telea and Navier-Stokes; ``*_gain`` is the mean over seeds of ours
  minus the better classical fill (the issue's target); ``spread`` is the mean absolute
  difference in levels between two seeds' fills inside the holes (how much the seed changes).
  The same on the whole held-out images (up to 768 px; holes scaled with the image) goes
  through the engine's crop strategy.
* speed: a 1 MP photo with one 5 % hole, median wall and CPU seconds of ``inpaint``; and,
  unless ``--quick``, a 24 MP photo with the same few scratches as a 1 MP one (in a
  subprocess): seconds for each and their ratio (cost follows the holes, not the photo).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

CLASSICAL = ("telea", "navier-stokes")


def _hole_psnr(out: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    err = (out.astype(np.float64) - clean.astype(np.float64))[mask > 0]
    return 10 * np.log10(255.0 ** 2 / max(float(np.mean(err ** 2)), 1e-10))


def _fill(img, mask, model, seed=0):
    from restora.engine import run_task

    return run_task("inpaint", img, {"seed": seed}, mask=mask, model=model).images[0]


def _u8_mask(m: np.ndarray) -> np.ndarray:
    return np.where(m > 0.5, 255, 0).astype(np.uint8)


def whole_images(quick: bool):
    """The held-out images whole (longest side <= 768) with seeded block and scratch holes."""
    import common as C
    import cv2
    import damage

    rng = random.Random(4321)
    imgs = []
    for f in C.list_color("val"):
        im = C.imread_rgb(f)
        s = 768 / max(im.shape[:2])
        if s < 1:
            im = cv2.resize(im, (round(im.shape[1] * s), round(im.shape[0] * s)), interpolation=cv2.INTER_AREA)
        imgs.append(np.ascontiguousarray(im))
    if quick:
        imgs = imgs[::3]
    sets = {"blocks": [damage.blocks(*im.shape[:2], rng, area=0.05) for im in imgs],
            "scratches": [damage.scratches(*im.shape[:2], rng, count=8) for im in imgs]}
    return imgs, sets


def quality(model, imgs, sets, seeds, save_dir=None, tag="crops") -> dict:
    out = {"images": len(imgs)}
    for name, masks in sets.items():
        masks = [_u8_mask(m) for m in masks]
        classical = {c: [_hole_psnr(_fill(im, m, c), im, m) for im, m in zip(imgs, masks)] for c in CLASSICAL}
        ours, spread = {s: [] for s in seeds}, []
        for i, (im, m) in enumerate(zip(imgs, masks)):
            fills = [_fill(im, m, model, s) for s in seeds]
            for s, f in zip(seeds, fills):
                ours[s].append(_hole_psnr(f, im, m))
            if len(fills) > 1:
                spread.append(float(np.abs(fills[0].astype(np.float32) - fills[1])[m > 0].mean()))
            if save_dir:
                _save_look(save_dir, f"{tag}_{name}_{i:02d}.png", im, m, fills, model)
        best_classical = max(float(np.mean(v)) for v in classical.values())
        r = {c: round(float(np.mean(v)), 3) for c, v in classical.items()}
        r.update({f"seed{s}": round(float(np.mean(v)), 3) for s, v in ours.items()})
        gains = [float(np.mean(v)) - best_classical for v in ours.values()]
        r["gain_db"] = round(float(np.mean(gains)), 3)
        r["images_better"] = int(np.sum(np.mean([ours[s] for s in seeds], 0)
                                        > np.maximum(*[np.array(v) for v in classical.values()])))
        if spread:
            r["spread_levels"] = round(float(np.mean(spread)), 2)
        out[name] = r
    return out


def _save_look(save_dir, name, im, m, fills, model):
    """One row: damaged (holes white) | Telea | Navier-Stokes | ours for each seed."""
    import cv2

    damaged = im.copy()
    damaged[m > 0] = 255
    row = [damaged, _fill(im, m, "telea"), _fill(im, m, "navier-stokes"), *fills]
    gap = np.full((im.shape[0], 4, 3), 255, np.uint8)
    strip = np.concatenate([x for r in row for x in (r, gap)][:-1], 1)
    os.makedirs(save_dir, exist_ok=True)
    cv2.imwrite(os.path.join(save_dir, name), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))


def _photo(megapixels: float) -> np.ndarray:
    from benchmarks.engine_speed import make_photo

    return make_photo(megapixels)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def speed(model, runs: int) -> dict:
    import torch

    photo = _photo(1.0)
    h, w = photo.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    side = int((0.05 * h * w) ** 0.5)
    mask[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2] = 255
    _fill(photo[:256, :256], mask[:256, :256] * 0 + 255 * (np.arange(256)[:, None] < 8), model)   # load, warm up
    walls, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), _cpu()
        _fill(photo, mask, model)
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return {"megapixels": round(h * w / 1e6, 2), "hole_pct": round(100 * float((mask > 0).mean()), 2),
            "wall_s_median": round(statistics.median(walls), 3), "cpu_s_median": round(statistics.median(cpus), 3),
            "runs": [round(t, 2) for t in walls], "threads": torch.get_num_threads()}


def scratch_mask(h: int, w: int) -> np.ndarray:
    """The same five 3-px scratches, 400 px long, near the top-left corner of any photo size."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    for i in range(5):
        cv2.line(m, (60 + 150 * i, 80), (260 + 150 * i, 420), 255, 3)
    return m


def big_child(model, megapixels: float) -> None:
    photo = _photo(megapixels)
    mask = scratch_mask(*photo.shape[:2])
    _fill(photo[:512, :512], mask[:512, :512], model)   # load, warm up
    t = time.perf_counter()
    _fill(photo, mask, model)
    print(json.dumps({"megapixels": round(photo.shape[0] * photo.shape[1] / 1e6, 1),
                      "seconds": round(time.perf_counter() - t, 2)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="inpainter name or file (default: the engine's default)")
    ap.add_argument("--quick", action="store_true", help="5 images, one seed, 3 timing runs, no 24 MP run")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of our fills (comma separated)")
    ap.add_argument("--save-dir", default=None, help="write before/after strips (PNG) here")
    ap.add_argument("--child-big", type=float, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    from restora.engine import Registry

    model = a.model   # a name or a file: the registry takes both
    if a.child_big:
        big_child(model, a.child_big)
        return
    print(json.dumps({"model": model or Registry().default_name("inpaint")}))
    import train_inpaint as TI

    seeds = [int(s) for s in a.seeds.split(",")][:1 if a.quick else None]
    imgs, sets = TI.make_val()
    if a.quick:
        imgs, sets = imgs[::3], {k: v[::3] for k, v in sets.items()}
    print(json.dumps({"quality_256_crops": quality(model, imgs, sets, seeds, a.save_dir)}))
    imgs, sets = whole_images(a.quick)
    print(json.dumps({"quality_whole_images": quality(model, imgs, sets, seeds[:1], a.save_dir, "whole")}))
    print(json.dumps({"speed_1mp_5pct_hole": speed(model, 3 if a.quick else 7)}))
    if not a.quick:
        res = {}
        for mp in (1.0, 24.0):
            cmd = [sys.executable, __file__, "--child-big", str(mp)] + (["--model", a.model] if a.model else [])
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ))
            res[f"{mp:g}mp"] = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                                else {"error": out.stderr.strip().splitlines()[-1:]})
        if all("seconds" in v for v in res.values()):
            res["ratio_24_to_1"] = round(res["24mp"]["seconds"] / res["1mp"]["seconds"], 2)
        print(json.dumps({"five_scratches": res}))


if __name__ == "__main__":
    main()

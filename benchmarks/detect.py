"""Damage detection benchmark: the shipped detector through the engine, against a tuned
morphological top-hat detector, on the held-out validation images with synthetic damage.

    python benchmarks/detect.py                       # the built-in restora-detect
    python benchmarks/detect.py --model FILE          # another detector file
    python benchmarks/detect.py --quick               # fewer images, no 24 MP run

Prints, as lines of JSON:

* quality: pixel F1 with a 1-pixel tolerance on damaged crops (colour and gray held-out
  images, the training run's fixed synthesis: scratches, cracks, dust, stains, folds, tears,
  with grain/JPEG/scan noise on top), and the share of pixels flagged on the same crops
  clean but grainy (``flagged``); per threshold (the sensitivity the window's slider moves).
  The top-hat baseline's kernel, blur and threshold are tuned on training crops by the
  same score the detector's training selects with (F1 minus a penalty above 1 % flagged).
* payoff: detect-then-fill (``restora inpaint --auto-mask``: detect, then the default
  inpainter) on the damaged colour crops: PSNR against the undamaged crop, before and after.
* speed: median seconds per megapixel of ``detect`` on a 1 MP photo (current device and
  threads), and with ``--big`` the time and peak memory of a 24 MP scan in a subprocess.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(err, 1e-10))


def _probabilities(imgs: np.ndarray, model) -> np.ndarray:
    from restora.engine.tasks.detect import damage_probability

    return np.stack([damage_probability(im, model=model) for im in imgs])


def quality(model, quick: bool) -> dict:
    import train_detect as TD

    val = TD.make_val()
    if quick:
        val = {k: {kk: (vv[::3] if isinstance(vv, np.ndarray) else vv) for kk, vv in v.items() if kk != "thin"}
               for k, v in val.items()}
    probs = {n: (_probabilities(v["damaged"], model), _probabilities(v["clean"], model)) for n, v in val.items()}
    out = {}
    for t in (0.3, 0.4, 0.5, 0.6, 0.7):
        r = TD.summarise({n: (pd >= t, pc >= t) for n, (pd, pc) in probs.items()}, val)
        out[f"t={t}"] = {"f1": round(r["f1"], 3), "precision": round(r["precision"], 3),
                         "recall": round(r["recall"], 3), "flagged_pct": round(100 * r["flagged"], 2),
                         **{f"f1_{n}": round(r[f"f1_{n}"], 3) for n in val}}
    base = TD.tophat_baseline(TD.make_tune(n=24 if quick else 48), val)
    out["tophat"] = {"f1": round(base["tophat_f1"], 3), "flagged_pct": round(100 * base["tophat_flagged"], 2),
                     "kernel": base["tophat_kernel"], "blur": base["tophat_blur"],
                     "threshold": base["tophat_threshold"]}
    out["images"] = {n: int(len(v["damaged"])) for n, v in val.items()}
    return out


def payoff(model, quick: bool) -> dict:
    """PSNR of the damaged colour crops and of detect-then-fill, against the clean crops."""
    import random

    import common as C
    import damage_look
    from restora.engine import run_task

    crops = [C.imread_rgb(f) for f in C.list_color("val")]
    crops = [im[(im.shape[0] - 256) // 2:][:256, (im.shape[1] - 256) // 2:][:, :256] for im in crops]
    if quick:
        crops = crops[::3]
    before, after, flagged = [], [], []
    for i, clean in enumerate(crops):
        # damage alone (no grain on top): what a fill can give back is then all there is to measure
        img, _label = damage_look.paint_damage(clean.astype(np.float32) / 255, random.Random(7000 + i),
                                               np.random.default_rng(7000 + i))
        damaged = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
        mask = run_task("detect", damaged, {"threshold": 0.5}, model=model).images[0]
        filled = run_task("inpaint", damaged, {}, mask=mask).images[0] if mask.any() else damaged
        before.append(_psnr(damaged, clean))
        after.append(_psnr(filled, clean))
        flagged.append(float((mask > 0).mean()))
    gain = np.array(after) - np.array(before)
    return {"images": len(crops), "psnr_damaged": round(float(np.mean(before)), 2),
            "psnr_auto_mask_filled": round(float(np.mean(after)), 2),
            "gain_db_mean": round(float(gain.mean()), 2), "gain_db_median": round(float(np.median(gain)), 2),
            "worse_images": int((gain < 0).sum()), "mask_pct": round(100 * float(np.mean(flagged)), 2)}


def _photo(megapixels: float) -> np.ndarray:
    from benchmarks.engine_speed import make_photo

    return make_photo(megapixels)


def speed(model, runs: int) -> dict:
    from restora.engine.tasks.detect import detect

    photo = _photo(1.0)
    mp = photo.shape[0] * photo.shape[1] / 1e6
    detect(photo[:256, :256], model=model)   # warm-up: model load, first-call costs
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        detect(photo, model=model)
        times.append(time.perf_counter() - t)
    import torch

    return {"megapixels": round(mp, 2), "s_per_mp_median": round(statistics.median(times) / mp, 3),
            "runs": [round(t, 2) for t in times], "threads": torch.get_num_threads()}


def big_child(model, megapixels: float) -> None:
    from restora.engine.tasks.detect import detect

    photo = _photo(megapixels)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    mask = detect(photo, model=model)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mp = photo.shape[0] * photo.shape[1] / 1e6
    print(json.dumps({"megapixels": round(mp, 1), "seconds": round(dt, 1), "s_per_mp": round(dt / mp, 3),
                      "peak_rss_mb": round(peak), "rss_before_detect_mb": round(base),
                      "photo_mb": round(photo.nbytes / 2 ** 20), "mask_pct": round(100 * float((mask > 0).mean()), 2)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="detector file or name (default: the built-in)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big", action="store_true", help="also a 24 MP scan in a subprocess (time, peak memory)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child-big", type=float, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_big:
        big_child(a.model, a.child_big)
        return
    print(json.dumps({"quality": quality(a.model, a.quick)}), flush=True)
    print(json.dumps({"payoff": payoff(a.model, a.quick)}), flush=True)
    print(json.dumps({"speed_1mp": speed(a.model, a.runs)}), flush=True)
    if a.big:
        cmd = [sys.executable, __file__, "--child-big", "24"] + (["--model", a.model] if a.model else [])
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ))
        print(json.dumps({"scan_24mp": json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                          else {"error": out.stderr.strip().splitlines()[-1:]}}), flush=True)


if __name__ == "__main__":
    main()

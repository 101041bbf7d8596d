"""Quality + speed benchmark of Restora's shipped built-in models.

Loads resources/models/*.safetensors through nets.build() and the files'
metadata (exactly what ships), and measures on the held-out validation images:

  * colour denoising, AWGN sigma 15/25/50: ours (given sigma, and blind with
    restora.engine.estimate_noise_sigma) vs OpenCV fastNlMeansDenoisingColored at its
    best h (searched per sigma on the same images: coarse grid 0.4..1.2 sigma,
    then refined in 0.08/0.04 sigma steps around the best; hColor = h);
  * gray denoising, sigma 25: ours vs fastNlMeansDenoising at its best h, on
    gray versions of the colour val images and on the held-out gray400 images;
  * B&W photos saved as RGB (the gray400 holdout, three identical channels), sigma 25:
    the engine's default against the colour model run on the three channels;
  * SR x2/x4: Y-PSNR (BT.601, `scale` px border shaved) vs bicubic.  LR images
    are made with PIL bicubic (MATLAB-like, antialiased); the bicubic baseline
    is PIL bicubic upsampling;
  * speed: median seconds per megapixel (1 MP input for denoising, 1 MP
    output for SR) on the current device.

Noisy inputs are clipped and quantised to 8 bit (like a photo) and seeded.

    python benchmarks/quality.py            # full (~10 min on 2 cores)
    python benchmarks/quality.py --quick    # fewer images / coarser h grid
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import cv2
import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "resources", "models")
sys.path.insert(0, os.path.join(ROOT, "training"))
# The held-out split and the data folder come from the training code: one definition.
from common import DATA, GRAY_VAL_COUNT, VAL_COLOR  # noqa: E402


def load_nets():
    """The shipped network definitions (restora is installed in the venv by `make`)."""
    from restora.engine.models import nets

    return nets


NETS = load_nets()
from restora.engine import denoise as eng_denoise, resolve_device, upscale as eng_upscale  # noqa: E402  (the app's path)
from restora.engine.models.builtin import ensemble_passes  # noqa: E402
from restora.engine.models.torch_models import low_precision  # noqa: E402


def load_model(name, device):
    path = os.path.join(MODELS, name + ".safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    model = NETS.build(meta["restora_arch"], json.loads(meta["restora_config"]))
    model.load_state_dict(load_file(path))
    # the precision the engine gives this net on this device (bf16 on a CPU that has it where the
    # file allows, fp16 on CUDA), so PSNR is measured the way the app computes it
    model.precision = low_precision(engine_device(device), True, meta.get("cpu_bf16", "1") != "0")
    model.ensemble = ensemble_passes(meta, json.loads(meta["restora_config"]), engine_device(device))
    return model.to(device).eval(), meta


def color_val():
    fs = []
    for ds, names in VAL_COLOR.items():
        fs += [os.path.join(DATA, ds, n) for n in names]
    return fs


def gray_val():
    return sorted(glob.glob(os.path.join(DATA, "gray400", "*")))[-GRAY_VAL_COUNT:]


def psnr_u8(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def to_u8(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def add_noise(img, sigma, seed):
    g = np.random.default_rng(seed)
    return to_u8(img.astype(np.float32) + g.standard_normal(img.shape).astype(np.float32) * sigma)


def engine_device(device):
    """The engine's DeviceInfo for a torch device (RESTORA_CPU_BF16 is read there)."""
    return resolve_device("cuda" if torch.device(device).type == "cuda" else "cpu")


def engine_precision(model):
    low = model.precision
    return torch.autocast("cuda" if low == torch.float16 else "cpu", dtype=low, enabled=low is not None)


@torch.no_grad()
def run_denoise(model, img_u8, sigma, device):
    """img_u8: HxWx3 RGB or HxW; sigma in 0..255 units or None (blind)."""
    x = torch.from_numpy(img_u8).float().div(255)
    x = x.permute(2, 0, 1)[None] if x.ndim == 3 else x[None, None]
    x = x.to(device)
    if sigma is None:  # blind: the engine's estimator, exactly what the app uses
        from restora.engine import estimate_noise_sigma
        sigma = estimate_noise_sigma(img_u8)
    s = torch.full((1, 1, 1, 1), sigma / 255.0, device=device)
    with engine_precision(model):
        y = model(x, s)[0].float().clamp(0, 1).mul(255).cpu()
    y = y.permute(1, 2, 0).numpy() if y.shape[0] == 3 else y[0].numpy()
    return to_u8(y), float(s.flatten()[0]) * 255


def nlm_color(noisy_rgb, h):
    bgr = noisy_rgb[..., ::-1].copy()
    return cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)[..., ::-1]


def nlm_gray(noisy, h):
    return cv2.fastNlMeansDenoising(noisy, None, h, 7, 21)


def best_h(fn, cleans, noisies, grid, sigma, refine=True):
    """Coarse search over `grid`, then refine around the best h in steps of
    0.04 * sigma (two rounds), so OpenCV gets its best h, not just a grid point."""
    tried = {}

    def score(h):
        h = round(float(h), 2)
        if h not in tried:
            tried[h] = np.mean([psnr_u8(fn(n, h), c) for c, n in zip(cleans, noisies)])
        return tried[h]

    for h in grid:
        score(h)
    if refine:
        for step in (0.08 * sigma, 0.04 * sigma):
            hb = max(tried, key=tried.get)
            for h in (hb - step, hb + step):
                if h > 0:
                    score(h)
    hb = max(tried, key=tried.get)
    return tried[hb], hb


def rgb_to_y(img):
    x = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def y_psnr(a, b, shave):
    ya = rgb_to_y(a)[shave:-shave, shave:-shave]
    yb = rgb_to_y(b)[shave:-shave, shave:-shave]
    mse = np.mean((ya - yb) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@torch.no_grad()
def run_sr(model, lr_u8, device):
    x = torch.from_numpy(lr_u8).float().div(255).permute(2, 0, 1)[None].to(device)
    with engine_precision(model):
        y = model(x)[0].float().clamp(0, 1).mul(255).permute(1, 2, 0).cpu().numpy()
    return to_u8(y)


def precision_note(model) -> str:
    passes = getattr(model, "ensemble", 1)
    return "in " + str(model.precision or torch.float32).replace("torch.", "") + \
        (", %d-pass self-ensemble" % passes if passes > 1 else "")


def timeit(fn, n):
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="7 images, coarse h grid, 3 timing runs")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--save-dir", default=None, help="write example outputs (PNG) here")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    ap.add_argument("--only", default="denoise,gray,bw,sr,speed",
                    help="comma list of parts to run: denoise,gray,bw,sr,speed")
    ap.add_argument("--no-bf16", action="store_true",
                    help="keep the CPU in fp32 (RESTORA_CPU_BF16=0), as on a CPU without bf16")
    a = ap.parse_args()
    if a.no_bf16:
        os.environ["RESTORA_CPU_BF16"] = "0"
    if a.threads:
        torch.set_num_threads(a.threads)
    cv2.setNumThreads(torch.get_num_threads())
    dev = torch.device(a.device)
    engdev = "cuda" if dev.type == "cuda" else "cpu"      # the engine's name for the same device
    t_start = time.time()
    files = color_val()
    gfiles = gray_val()
    if a.quick:
        files = files[::2]
        gfiles = gfiles[::4]
    colors = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    rows = []
    res = {}

    parts = set(a.only.split(","))
    den, _ = load_model("restora-denoise", dev)
    rel = [0.4, 0.55, 0.7, 0.85, 1.0, 1.2] if not a.quick else [0.45, 0.65, 0.85, 1.05]
    for sigma, target in ((15, 3.5), (25, 4.5), (50, 3.5)) if "denoise" in parts else ():
        noisies = [add_noise(c, sigma, 1000 * sigma + i) for i, c in enumerate(colors)]
        p_nlm, h = best_h(nlm_color, colors, noisies, [round(r * sigma, 1) for r in rel], sigma)
        outs = [run_denoise(den, n, sigma, dev)[0] for n in noisies]
        p_ours = np.mean([psnr_u8(o, c) for o, c in zip(outs, colors)])
        blind = [run_denoise(den, n, None, dev) for n in noisies]
        p_blind = np.mean([psnr_u8(o, c) for (o, _), c in zip(blind, colors)])
        est = np.mean([s for _, s in blind])
        rows.append(("denoise colour s=%d" % sigma, "NLM-colored h=%g" % h, p_nlm, p_ours, target,
                     "blind %.2f dB (est. sigma %.1f), %s" % (p_blind, est, precision_note(den))))
        res["color%d" % sigma] = dict(nlm=p_nlm, h=h, ours=p_ours, blind=p_blind, est_sigma=est)
        if a.save_dir and sigma == 25:
            os.makedirs(a.save_dir, exist_ok=True)
            i = 0
            Image.fromarray(np.concatenate([noisies[i], nlm_color(noisies[i], h), outs[i], colors[i]], 1)).save(
                os.path.join(a.save_dir, "denoise_color25.png"))

    gden, _ = load_model("restora-denoise-gray", dev)
    for label, cleans in () if "gray" not in parts else (("gray s=25 (colour val->gray)", [np.asarray(Image.fromarray(c).convert("L")) for c in colors]),
                          ("gray s=25 (gray400 last %d)" % GRAY_VAL_COUNT, [np.asarray(Image.open(f).convert("L")) for f in gfiles])):
        noisies = [add_noise(c, 25, 77 + i) for i, c in enumerate(cleans)]
        p_nlm, h = best_h(nlm_gray, cleans, noisies, [round(r * 25, 1) for r in rel], 25)
        outs = [run_denoise(gden, n, 25, dev)[0] for n in noisies]
        p_ours = np.mean([psnr_u8(o, c) for o, c in zip(outs, cleans)])
        blind = [run_denoise(gden, n, None, dev) for n in noisies]
        p_blind = np.mean([psnr_u8(o, c) for (o, _), c in zip(blind, cleans)])
        rows.append(("denoise " + label, "NLM h=%g" % h, p_nlm, p_ours, 2.3,
                     "blind %.2f dB (est. sigma %.1f), %s" % (p_blind, np.mean([s for _, s in blind]),
                                                           precision_note(gden))))
        res[label] = dict(nlm=p_nlm, h=h, ours=p_ours, blind=p_blind)

    if "bw" in parts:
        # A B&W photo saved as RGB (as most scans of old prints are): what the engine's default
        # does now (worked as gray, see tasks/common.is_neutral) against the colour model run on
        # the three channels, which is what it did before.
        cleans = [np.asarray(Image.open(f).convert("L")) for f in gfiles]
        noisies = [np.repeat(add_noise(c, 25, 77 + i)[..., None], 3, axis=2) for i, c in enumerate(cleans)]
        as_colour = [run_denoise(den, n, 25, dev)[0] for n in noisies]
        default = [eng_denoise(n, 25.0, device=engdev) for n in noisies]
        p_col = np.mean([psnr_u8(np.asarray(Image.fromarray(o).convert("L")), c) for o, c in zip(as_colour, cleans)])
        p_def = np.mean([psnr_u8(o[..., 0], c) for o, c in zip(default, cleans)])
        cast = lambda outs: max(int(np.ptp(o.astype(int), axis=2).max()) for o in outs)  # noqa: E731
        rows.append(("B&W saved as RGB s=25 (gray400)", "colour model on RGB", p_col, p_def, 0.0,
                     "colour casts up to %d levels before, %d now" % (cast(as_colour), cast(default))))
        res["bw_as_rgb"] = dict(colour_model=p_col, default=p_def)

    srm = {}
    for scale, target in ((2, 3.0), (4, 1.8)):
        m, _ = load_model("restora-sr-x%d" % scale, dev)
        srm[scale] = m
        if "sr" not in parts:
            continue
        pb, po = [], []
        for i, c in enumerate(colors):
            h, w = c.shape[0] // scale * scale, c.shape[1] // scale * scale
            hr = c[:h, :w]
            lr = np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))
            bi = np.asarray(Image.fromarray(lr).resize((w, h), Image.BICUBIC))
            sr = run_sr(m, lr, dev)
            pb.append(y_psnr(bi, hr, scale))
            po.append(y_psnr(sr, hr, scale))
            if a.save_dir and i == 0:
                Image.fromarray(np.concatenate([bi, sr, hr], 1)).save(os.path.join(a.save_dir, "sr_x%d.png" % scale))
        rows.append(("SR x%d (Y-PSNR)" % scale, "bicubic", float(np.mean(pb)), float(np.mean(po)), target,
                     precision_note(m)))
        res["sr_x%d" % scale] = dict(bicubic=float(np.mean(pb)), ours=float(np.mean(po)))

    # ---- speed: through the engine (what the app and CLI do: tiles, conversions,
    # channels-last), on a 1 MP photo; SR is quoted per output megapixel.
    n = 3 if a.quick else 5
    speed = {}
    if "speed" in parts:
        photo = np.ascontiguousarray(np.asarray(Image.open(files[0]).convert("RGB").resize((1000, 1000), Image.BICUBIC)))
        gphoto = np.ascontiguousarray(np.asarray(Image.fromarray(photo).convert("L")))
        noisy = add_noise(photo, 25, 5)
        gnoisy = add_noise(gphoto, 25, 6)
        speed["restora-denoise"] = timeit(lambda: eng_denoise(noisy, 25.0, model="restora-denoise", device=engdev), n)
        speed["restora-denoise-gray"] = timeit(
            lambda: eng_denoise(gnoisy, 25.0, model="restora-denoise-gray", device=engdev), n)
        for scale in (2, 4):
            t = timeit(lambda: eng_upscale(photo, scale, model="restora-sr-x%d" % scale, device=engdev), n)
            speed["restora-sr-x%d" % scale] = t / (scale * scale)
    res["speed_s_per_mp"] = speed

    print()
    print("Restora built-in models, held-out validation: %d colour images%s; on %s (each net in the engine's precision)" % (
        len(colors), " (--quick)" if a.quick else "", engine_device(dev).name))
    print("%-34s %-20s %9s %9s %8s %8s %s" % ("task", "baseline", "base dB", "ours dB", "gain", "target", "note"))
    for name, base, pb_, po_, tgt, note in rows:
        ok = "OK" if po_ - pb_ >= tgt else "MISS"
        print("%-34s %-20s %9.2f %9.2f %+8.2f %+7.1f %-4s %s" % (name, base, pb_, po_, po_ - pb_, tgt, ok, note))
    print()
    print("speed through the engine on %s (%d torch threads), 1 MP photo: seconds per megapixel (median of %d)" % (
        dev.type if dev.type != "cpu" else "CPU", torch.get_num_threads(), n))
    for k, v in speed.items():
        print("  %-22s %.3f s/MP %s  %s" % (k, v, "(output MP)" if "sr" in k else "(input MP) ",
                                          "OK" if v <= 1.5 or dev.type != "cpu" else "MISS (target 1.5)"))
    print("total benchmark time %.0f s" % (time.time() - t_start))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()

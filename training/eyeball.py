"""Run the shipped models (resources/models) on real photos for visual checks.

    python training/eyeball.py --out /tmp/eyeball [--scale-sigma 1.0] [files...]

Writes <out>/<name>_denoise.png (input | output, crop) per noisy_* sample,
with the blind sigma estimate (restora.engine.estimate_noise_sigma) in the log.
"""
import argparse, glob, os, sys
import numpy as np, torch
from PIL import Image
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import quality as Q  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", default="/tmp/eyeball")
ap.add_argument("--scale-sigma", type=float, default=1.0)
ap.add_argument("--crop", type=int, default=320)
ap.add_argument("files", nargs="*")
a = ap.parse_args()
torch.set_num_threads(1)
os.makedirs(a.out, exist_ok=True)
files = a.files or sorted(glob.glob(os.path.join(os.path.dirname(Q.DATA.rstrip("/")), "samples", "noisy_*")))
den, _ = Q.load_model("restora-denoise", "cpu")
gden, _ = Q.load_model("restora-denoise-gray", "cpu")
for f in files:
    im = Image.open(f)
    gray = im.mode in ("L", "I;16", "I")
    arr = np.asarray(im.convert("L" if gray else "RGB"))
    x = torch.from_numpy(arr).float().div(255)
    x = x[None, None] if gray else x.permute(2, 0, 1)[None]
    from restora.engine import estimate_noise_sigma
    s = torch.full((1, 1, 1, 1), estimate_noise_sigma(arr) / 255.0)
    m = gden if gray else den
    outs = []
    for mult in (a.scale_sigma, 1.5 * a.scale_sigma):
        with torch.no_grad():
            y = m(x, s * mult)[0].clamp(0, 1).mul(255).round().byte()
        outs.append(y[0].numpy() if gray else y.permute(1, 2, 0).numpy())
    h, w = arr.shape[:2]
    c = min(a.crop, h, w)
    y0, x0 = (h - c) // 2, (w - c) // 2
    tiles = [t[y0:y0 + c, x0:x0 + c] for t in [arr] + outs]
    Image.fromarray(np.concatenate(tiles, 1)).save(os.path.join(a.out, os.path.basename(f).rsplit(".", 1)[0] + "_denoise.png"))
    print("%-28s %s %dx%d blind sigma %.1f" % (os.path.basename(f), "gray" if gray else "rgb", w, h, float(s) * 255))

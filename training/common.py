"""Shared training utilities: data split, loading, degradations, checkpoints."""
from __future__ import annotations

import glob
import io
import json
import os
import random
import time

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("RESTORA_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data", "train"))
RUNS = os.environ.get("RESTORA_RUNS", os.path.join(ROOT, "training", "runs"))

# ---------------------------------------------------------------- val split
# Whole images held out from training (fixed, documented in training/README.md).
VAL_COLOR = {
    "kodak24": ["kodim04.png", "kodim08.png", "kodim12.png", "kodim16.png",
                "kodim20.png", "kodim24.png"],
    "mcmaster18": ["5.png", "10.png", "15.png", "18.png"],
    "live1": ["bikes.png", "caps.png", "lighthouse2.png", "parrots.png",
              "womanhat.png"],
}
GRAY_VAL_COUNT = 32  # the last 32 files (sorted) of gray400 are held out


def load_nets():
    """The shipped network definitions (restora is installed in the venv by `make`)."""
    from restora.engine.models import nets

    return nets


def _is_val(ds: str, fname: str) -> bool:
    keys = VAL_COLOR.get(ds, [])
    return fname in keys


def list_color(split: str):
    out = []
    for ds in ("kodak24", "mcmaster18", "live1"):
        for f in sorted(glob.glob(os.path.join(DATA, ds, "*"))):
            v = _is_val(ds, os.path.basename(f))
            if (split == "val") == v:
                out.append(f)
    return out


def list_gray(split: str):
    fs = sorted(glob.glob(os.path.join(DATA, "gray400", "*")))
    return fs[-GRAY_VAL_COUNT:] if split == "val" else fs[:-GRAY_VAL_COUNT]


def imread_rgb(path) -> np.ndarray:
    im = Image.open(path)
    return np.asarray(im.convert("RGB"))


def imread_gray(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def rgb_to_gray(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).convert("L"))


# ---------------------------------------------------------------- augment

def augment(*arrs, rng: random.Random):
    k = rng.randrange(4)
    flip = rng.random() < 0.5
    out = []
    for a in arrs:
        a = np.rot90(a, k, axes=(0, 1))
        if flip:
            a = a[:, ::-1]
        out.append(np.ascontiguousarray(a))
    return out


def random_crop(img, size, rng: random.Random, align: int = 1):
    h, w = img.shape[:2]
    y = rng.randrange(0, (h - size) // align + 1) * align
    x = rng.randrange(0, (w - size) // align + 1) * align
    return img[y:y + size, x:x + size]


def jpeg(img_u8: np.ndarray, q: int) -> np.ndarray:
    """img_u8: HxWx3 RGB or HxW uint8."""
    if img_u8.ndim == 3:
        ok, buf = cv2.imencode(".jpg", img_u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    ok, buf = cv2.imencode(".jpg", img_u8, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def pil_resize(img_u8: np.ndarray, w: int, h: int) -> np.ndarray:
    """MATLAB-like bicubic (a=-0.5, antialiased) resize via PIL."""
    return np.asarray(Image.fromarray(img_u8).resize((w, h), Image.BICUBIC))


# ---------------------------------------------------------------- ckpt

class Checkpointer:
    def __init__(self, run_dir: str, every_s: float = 180.0):
        self.dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.path = os.path.join(run_dir, "last.pt")
        self.every = every_s
        self.t_last = time.time()

    def load(self):
        if os.path.exists(self.path):
            return torch.load(self.path, map_location="cpu", weights_only=False)
        return None

    def save(self, state: dict, force=False):
        if not force and time.time() - self.t_last < self.every:
            return False
        tmp = self.path + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.path)
        self.t_last = time.time()
        return True


def rng_state(rng: random.Random, nrng: np.random.Generator):
    return {"py": rng.getstate(), "np": nrng.bit_generator.state,
            "torch": torch.get_rng_state()}


def set_rng_state(st, rng: random.Random, nrng: np.random.Generator):
    rng.setstate(st["py"])
    nrng.bit_generator.state = st["np"]
    torch.set_rng_state(st["torch"])


def lr_at(step: int, total: int, base: float, warmup: int, final_ratio: float = 0.01):
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (final_ratio + (1 - final_ratio) * 0.5 * (1 + np.cos(np.pi * p)))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.float() - b.float()) ** 2).item()
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def charbonnier(a, b, eps=1e-3):
    return torch.mean(torch.sqrt((a - b) ** 2 + eps * eps))


def set_lr(opt, step: int, total: int, cfg: dict) -> float:
    """Cosine schedule with warm-up from the config; returns the LR set."""
    lr = lr_at(step, total, cfg["lr"], cfg.get("warmup", 200), cfg.get("final_lr_ratio", 0.01))
    for group in opt.param_groups:
        group["lr"] = lr
    return lr


def amp_context(cfg: dict, device: torch.device):
    """``"amp": "bf16"`` runs forward passes under bf16 autocast: on a CPU with native bf16
    dot products (AVX512-BF16, AMX) a training step takes half the time of fp32 (0.32 vs
    0.65 s for the gray net), and on a GPU it is the usual mixed precision. Weights, the
    optimiser and the loss stay fp32."""
    import contextlib

    if cfg.get("amp") == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(cfg: dict):
    """NHWC tensors when the config asks (what oneDNN's bf16 kernels want)."""
    return torch.channels_last if cfg.get("channels_last") else torch.contiguous_format


def to_device(cfg: dict, device: torch.device, *images: torch.Tensor):
    """Batches of images onto ``device`` in the config's memory format."""
    fmt = memory_format(cfg)
    return [t.to(device, memory_format=fmt) for t in images]


def optimise(opt, forward, target, step: int, total: int, cfg: dict, device: torch.device) -> float:
    """One optimiser step on ``forward()`` (run under the config's autocast): Charbonnier,
    or L2 when the config says so or from ``l2_from`` (a fraction of the steps) on, since
    PSNR is what we measure."""
    with amp_context(cfg, device):
        out = forward()
    if cfg.get("loss", "charbonnier") == "l2" or step >= total * cfg.get("l2_from", 2.0):
        loss = torch.mean((out.float() - target) ** 2)
    else:
        loss = charbonnier(out.float(), target)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def load_config(path):
    with open(path) as f:
        return json.load(f)


class Logger:
    def __init__(self, run_dir):
        self.f = open(os.path.join(run_dir, "log.jsonl"), "a")

    def log(self, **kw):
        kw["time"] = time.time()
        self.f.write(json.dumps(kw) + "\n")
        self.f.flush()
        print(json.dumps(kw), flush=True)


def init_weights(model: torch.nn.Module, res_scale: float = 0.1):
    """Kaiming init; the last conv of every residual branch is scaled down so
    the nets start close to identity (stable with Adam at a high LR)."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_normal_(m.weight, a=0.0, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    for name, m in model.named_modules():
        if name.endswith("conv2") and isinstance(m, torch.nn.Conv2d):
            m.weight.data.mul_(res_scale)
    # output layers start small: the net starts as "no correction"
    for name, m in model.named_modules():
        if (name == "tail" or name.endswith("tail.conv") or name.startswith("tails.")) and isinstance(m, torch.nn.Conv2d):
            m.weight.data.mul_(0.1)
    for m in model.modules():   # layers a net wants to start at zero (a residual over a prefill)
        if getattr(m, "zero_init", False):
            torch.nn.init.zeros_(m.weight)
            torch.nn.init.zeros_(m.bias)


def load_grown(model: torch.nn.Module, sd: dict) -> list:
    """Load ``sd`` into a model that may be deeper (more residual blocks) or
    have fewer heads than the one that produced it.  Tensors are copied where
    names and shapes match; residual blocks that are new get a zero second conv,
    so the grown net computes exactly what the old one did and training starts
    from there (net2net-style growth).  Keys of ``sd`` the model lacks (e.g. the
    x4 tail when fine-tuning x2 alone) are dropped, and so are trailing blocks of a
    shallower model (pruning the blocks that growth added and training left near identity:
    stage 11).  Returns the new block names."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    bad = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    if bad:
        raise ValueError("shape mismatch when growing: %s" % bad[:4])
    blocks = sorted({k.rsplit(".", 2)[0] for k in missing})
    if any(not k.rsplit(".", 2)[1] in ("conv1", "conv2") for k in missing):
        raise ValueError("only whole residual blocks can be new: %s" % missing[:4])
    model.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False)
    with torch.no_grad():
        for b in blocks:
            model.get_submodule(b).conv2.weight.zero_()
            model.get_submodule(b).conv2.bias.zero_()
    return blocks


def init_path(rel: str) -> str:
    """The file a config's ``init_from`` names. Only the weights of the shipped stages are
    committed (the repo must stay small enough to travel to a GPU machine); an earlier stage's
    ``training/checkpoints/<run>-best.pt`` is found as ``training/runs/<run>/best.pt`` once that
    stage has been re-run here, or from git history."""
    path = os.path.join(ROOT, rel)
    if os.path.exists(path):
        return path
    name = os.path.basename(rel)
    if os.path.dirname(rel) == "training/checkpoints" and name.endswith("-best.pt"):
        run = os.path.join(ROOT, "training", "runs", name[:-len("-best.pt")], "best.pt")
        if os.path.exists(run):
            return run
    raise SystemExit("init_from %s is missing: run the config with \"run\": \"%s\" first, or restore it with "
                     "`git log --all -- %s` and `git checkout REV -- %s`" % (rel, name[:-len("-best.pt")] or rel, rel, rel))


def start_run(description: str, arch: str):
    """Parse --config/--max-minutes and set up what every training script needs.

    Returns (args, cfg, device, checkpointer, logger, rng, nrng, model, optimizer); the
    model is initialised (and, on a fresh run with ``init_from``, loaded from that file).
    """
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--config", required=True)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop (after checkpointing) after this many minutes")
    args = ap.parse_args()
    cfg = load_config(args.config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(cfg.get("threads", 2))
    run_dir = os.path.join(RUNS, cfg["run"])
    ck = Checkpointer(run_dir, cfg.get("ckpt_every_s", 180))
    log = Logger(run_dir)
    seed = cfg["seed"]
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = load_nets().build(arch or cfg["arch"], cfg["net"])
    init_weights(model)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.99))
    if cfg.get("init_from") and ck.load() is None:
        init = torch.load(init_path(cfg["init_from"]), map_location="cpu", weights_only=False)
        grown = load_grown(model, init["model"])
        print("initialised from", cfg["init_from"], "step", init.get("step"),
              "(new identity blocks: %s)" % (", ".join(grown) or "none"), flush=True)
    model = model.to(memory_format=memory_format(cfg))
    return args, cfg, device, ck, log, rng, nrng, model, opt


def make_ema(model: torch.nn.Module, cfg: dict):
    """With ``"ema": decay`` in the config, an exponential moving average of the weights (None
    without). With batches of 4 on a CPU the gradient is noisy; the average is what gets
    validated, kept as best.pt/final.pt and exported, while ``model`` goes on training."""
    decay = cfg.get("ema")
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def evaluated(model: torch.nn.Module, ema) -> torch.nn.Module:
    """The net that is validated and saved: the weight average when there is one."""
    return ema.module if ema is not None else model


def run_state(model, opt, step: int, best, rng, nrng, cfg: dict, ema=None) -> dict:
    """What ``last.pt`` holds: enough to resume exactly (weights, optimiser, EMA, RNG states)."""
    st = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
          "rng": rng_state(rng, nrng), "config": cfg}
    if ema is not None:
        st["ema"] = ema.state_dict()
    return st


def resume(ck: Checkpointer, model, opt, rng, nrng, ema=None) -> tuple[int, float]:
    """Load ``last.pt`` if there is one: (step, best score) to go on from, else (0, -1)."""
    st = ck.load()
    if st is None:
        return 0, -1.0
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["opt"])
    if ema is not None:
        ema.load_state_dict(st["ema"])
    set_rng_state(st["rng"], rng, nrng)
    print("resumed at step", st["step"], flush=True)
    return st["step"], st.get("best", -1.0)


def checkpoint_or_stop(ck: Checkpointer, state, step: int, t_start: float, max_minutes) -> bool:
    """The periodic checkpoint; True (after a forced one) once ``--max-minutes`` is up."""
    if ck.save(state()):
        print("checkpoint at", step, flush=True)
    if max_minutes and time.time() - t_start > max_minutes * 60:
        ck.save(state(), force=True)
        print("time limit, checkpointed at", step, flush=True)
        return True
    return False


def finish(ck: Checkpointer, state, model, step: int) -> None:
    ck.save(state(), force=True)
    torch.save({"model": model.state_dict(), "step": step}, os.path.join(ck.dir, "final.pt"))
    print("done", step, flush=True)


def keep_best(ck: Checkpointer, net, step: int, score: float, best: float, val: dict, log: Logger) -> float:
    """After a validation: ``best.pt`` holds the net whenever ``score`` beats ``best`` (or none
    is saved yet); logs the figures; returns the new best."""
    path = os.path.join(ck.dir, "best.pt")
    if score > best or not os.path.exists(path):
        best = score
        torch.save({"model": net.state_dict(), "step": step, "val": val}, path)
    log.log(step=step, best=best, **val)
    return best

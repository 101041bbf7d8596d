"""GAN sampling benchmark: time and memory of ``restora generate`` through the engine.

    python benchmarks/generate.py                     # built-in texture GAN + StyleGAN2 256 and 1024
    python benchmarks/generate.py --res 256 --count 4 # a quicker StyleGAN2 run

The StyleGAN2 files are written here with random weights at the sizes of NVlabs' config-f
networks (z = w = 512, 8 mapping layers, channels min(32768 / res, 512)) in the on-disk layout
NVlabs' training loop writes (tests/stylegan_files.py), so the figures are those of a real
FFHQ-sized file; what the weights are does not change the time. Each case runs in its own
process and prints one line of JSON: how long opening the file and the first image took
(reading the pickle as data, building the net), the median over three calls of ``--count``
seeds of the seconds per image, and the process's peak resident memory. Device: ``--device`` (auto: CUDA when there is one).

Then the folder of those files is listed as the window lists the models folder: the time, and
the resident memory afterwards next to that of importing torch alone (a file read only to be
listed keeps no weights).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def config_f(res: int):
    from tests.stylegan_files import Tiny

    resolutions = [2 ** i for i in range(2, res.bit_length())]
    return Tiny(z_dim=512, w_dim=512, mapping_layers=8, resolution=res,
                channels={r: min(32768 // r, 512) for r in resolutions}, conv_clamp=256.0)


def write_file(res: int, folder: Path) -> Path:
    from tests.stylegan_files import random_weights, write_nvlabs_pickle

    cfg = config_f(res)
    return write_nvlabs_pickle(folder / f"stylegan2-config-f-{res}.pkl", cfg, random_weights(cfg))


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the process image, so unlike
    ru_maxrss it does not inherit the parent's peak across the exec (ru_maxrss elsewhere)."""
    peak = _status_mb("VmHWM")
    if peak == peak:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def rss_mb() -> float:
    return _status_mb("VmRSS")


def run_listing(folder: str) -> dict:
    import torch  # noqa: F401 - the baseline: what importing torch costs on its own

    base = rss_mb()
    from restora.engine.registry import Registry

    t = time.perf_counter()
    infos = Registry(user_dir=Path(folder), include_builtin=False).models("generate")
    return {"listed": len([i for i in infos if i.source == "user"]), "s": round(time.perf_counter() - t, 2),
            "rss_after_mb": round(rss_mb()), "rss_torch_only_mb": round(base)}


def run_case(model: str, count: int, device: str, repeats: int = 3) -> dict:
    """In this process: open the model and draw seed 0, then ``repeats`` calls of ``count``
    seeds each (as the Generate window's "More" does)."""
    import torch

    from restora.engine.registry import Registry
    from restora.engine.tasks.generate import generate

    registry = Registry()
    t0 = time.perf_counter()
    first = generate(model=model or None, seed=0, count=1, device=device, registry=registry)[0]
    t_first = time.perf_counter() - t0
    per_image = []
    for r in range(repeats):
        t = time.perf_counter()
        generate(model=model or None, seed=1 + r * count, count=count, device=device, registry=registry)
        per_image.append((time.perf_counter() - t) / count)
    return {"model": Path(model).name if model else "built-in", "size": "%dx%d" % first.shape[1::-1],
            "open_and_first_s": round(t_first, 2), "s_per_image_median": round(statistics.median(per_image), 3),
            "batch": count, "repeats": repeats, "peak_rss_mb": round(peak_rss_mb()),
            "threads": torch.get_num_threads(), "device": device}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", default="256,1024", help="StyleGAN2 resolutions to write and time")
    ap.add_argument("--count", type=int, default=4, help="seeds per timed call (three calls)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)   # the child process's job
    ap.add_argument("--list", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.count, args.device)), flush=True)
        return
    if args.list is not None:
        print(json.dumps(run_listing(args.list)), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        cases = [""]
        for res in [int(r) for r in args.res.split(",") if r]:
            t = time.perf_counter()
            path = write_file(res, Path(tmp))
            print(json.dumps({"wrote": path.name, "mb": round(path.stat().st_size / 1e6, 1),
                              "s": round(time.perf_counter() - t, 1)}), flush=True)
            cases.append(str(path))
        for case in cases:
            subprocess.run([sys.executable, __file__, "--case", case, "--count", str(args.count),
                            "--device", args.device], check=True, env=dict(os.environ))
        if len(cases) > 1:
            subprocess.run([sys.executable, __file__, "--list", tmp], check=True, env=dict(os.environ))


if __name__ == "__main__":
    main()

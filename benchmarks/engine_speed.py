"""Speed and memory of every model on the current device.

    python benchmarks/engine_speed.py                 # all models, 1 MP, median of 3 runs
    python benchmarks/engine_speed.py --big           # + 40 MP denoise and ×2 upscale, peak memory
    python benchmarks/engine_speed.py --overhead      # + tiled vs whole-image time

Each measurement runs in a fresh subprocess so its peak memory (RSS on the CPU,
allocator peak on CUDA) is its own. Prints seconds per input and per output
megapixel (median of --runs), and peak memory in MB.
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
SAMPLE = ROOT.parent / "shared" / "data" / "train" / "kodak24"


def make_photo(megapixels: float, seed: int = 0) -> np.ndarray:
    """A photo-like RGB uint8 image of about ``megapixels``: tiled real photos when ../shared has them."""
    side_w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    side_h = int(megapixels * 1e6 / side_w)
    files = sorted(SAMPLE.glob("*.png"))
    if files:
        import cv2

        tile = cv2.cvtColor(cv2.imread(str(files[seed % len(files)])), cv2.COLOR_BGR2RGB)
        reps = (side_h // tile.shape[0] + 1, side_w // tile.shape[1] + 1, 1)
        return np.ascontiguousarray(np.tile(tile, reps)[:side_h, :side_w])
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (side_h, side_w, 3), dtype=np.uint8)


def noisy(photo: np.ndarray, sigma: float = 25.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    # Add noise in place-ish chunks so a 40 MP photo does not need a float copy of itself.
    out = np.empty_like(photo)
    for y in range(0, photo.shape[0], 512):
        band = photo[y:y + 512].astype(np.float32) + rng.normal(0, sigma, photo[y:y + 512].shape)
        out[y:y + 512] = np.clip(band + 0.5, 0, 255).astype(np.uint8)
    return out


def measure_one(task: str, model: str, megapixels: float, runs: int, device: str, tile) -> dict:
    """Runs in the child process."""
    from restora.engine import denoise, inpaint, resolve_device, upscale

    dev = resolve_device(device)
    photo = make_photo(megapixels)
    if task == "denoise":
        photo = noisy(photo)
        call = lambda: denoise(photo, 25.0, model=model, device=device, tile=tile)  # noqa: E731
    elif task == "upscale":
        scale = int(os.environ.get("BENCH_SCALE", "2"))
        call = lambda: upscale(photo, scale, model=model, device=device, tile=tile)  # noqa: E731
    else:
        mask = np.zeros(photo.shape[:2], np.uint8)
        mask[::97, :] = 255  # thin horizontal scratches every 97 rows
        mask[:, ::89] = 255
        call = lambda: inpaint(photo, mask, model=model, device=device, tile=tile)  # noqa: E731
    if dev.kind == "cuda":
        import torch
        torch.cuda.reset_peak_memory_stats()
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = call()
        if dev.kind == "cuda":
            import torch
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    in_mp = photo.shape[0] * photo.shape[1] / 1e6
    out_mp = out.shape[0] * out.shape[1] / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"task": task, "model": model, "device": dev.name, "in_mp": round(in_mp, 2),
              "out_mp": round(out_mp, 2), "median_s": statistics.median(times),
              "s_per_in_mp": statistics.median(times) / in_mp, "s_per_out_mp": statistics.median(times) / out_mp,
              "peak_rss_mb": round(peak_mb)}
    if dev.kind == "cuda":
        import torch
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return result


def measure_overhead(task: str, model: str, megapixels: float, runs: int, device: str) -> dict:
    """Whole-image and tiled runs alternated in one process, so drift in machine load hits both."""
    from restora.engine import denoise, upscale

    photo = make_photo(megapixels)
    if task == "denoise":
        photo = noisy(photo)
        call = lambda tile: denoise(photo, 25.0, model=model, device=device, tile=tile)  # noqa: E731
    else:
        call = lambda tile: upscale(photo, 2, model=model, device=device, tile=tile)  # noqa: E731
    call(None)  # warm-up: model load, allocator
    times = {"whole": [], "tiled": []}
    for _ in range(runs):
        for kind, tile in (("whole", 0), ("tiled", None)):
            start = time.perf_counter()
            call(tile)
            times[kind].append(time.perf_counter() - start)
    whole, tiled = statistics.median(times["whole"]), statistics.median(times["tiled"])
    return {"task": task, "model": model, "mp": megapixels, "whole_s": whole, "tiled_s": tiled,
            "overhead_pct": 100 * (tiled / whole - 1)}


def run_child(task, model, megapixels, runs, device, tile, scale=2) -> dict:
    cmd = [sys.executable, __file__, "--child", task, model, str(megapixels), str(runs), device, str(tile)]
    env = dict(os.environ, BENCH_SCALE=str(scale))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"task": task, "model": model, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(r: dict) -> str:
    if "error" in r:
        return f"{r['task']:8} {r['model']:26} ERROR {r['error']}"
    gpu = f"  gpu {r['peak_gpu_mb']:6d} MB" if "peak_gpu_mb" in r else ""
    return (f"{r['task']:8} {r['model']:26} {r['in_mp']:6.2f} MP -> {r['out_mp']:6.2f} MP  "
            f"{r['median_s']:7.2f} s  {r['s_per_in_mp']:6.2f} s/MP-in  {r['s_per_out_mp']:6.2f} s/MP-out  "
            f"peak RSS {r['peak_rss_mb']:6d} MB{gpu}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-overhead":
        task, model, mp, runs, device = sys.argv[2:7]
        print(json.dumps(measure_overhead(task, model, float(mp), int(runs), device)))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        task, model, mp, runs, device, tile = sys.argv[2:8]
        tile_value = None if tile == "None" else int(tile)
        print(json.dumps(measure_one(task, model, float(mp), int(runs), device, tile_value)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--mp", type=float, default=1.0, help="photo size in megapixels (default 1)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="", help="comma-separated model names (default: all)")
    parser.add_argument("--big", action="store_true", help="also 40 MP denoise and ×2 upscale (slow)")
    parser.add_argument("--big-mp", type=float, default=40.0)
    parser.add_argument("--overhead", action="store_true", help="also tiled vs whole-image time")
    args = parser.parse_args()

    from restora.engine import default_registry, resolve_device

    print(f"device: {resolve_device(args.device).name}; median of {args.runs} runs; "
          f"photo {args.mp} MP (kodak tiles when ../shared is present)")
    wanted = set(filter(None, args.models.split(",")))
    for info in default_registry().models():
        if info.task == "generate" or (wanted and info.name not in wanted):
            continue
        scales = [2, 4] if info.task == "upscale" and info.scale == 0 else [info.scale or 2]
        for scale in scales:
            print(fmt(run_child(info.task, info.name, args.mp, args.runs, args.device, None, scale)), flush=True)
    reg = default_registry()
    if args.big:
        print(f"\n{args.big_mp:g} MP photo, automatic tiles (memory must stay flat):")
        for task, scale in (("denoise", 1), ("upscale", 2)):
            name = reg.default_name(task, scale)
            print(fmt(run_child(task, name, args.big_mp, 1, args.device, None, scale)), flush=True)
    if args.overhead:
        mp = max(args.mp, 4.0)
        print(f"\ntiling overhead on a {mp:g} MP photo (whole image vs automatic tiles, alternated, "
              f"median of {args.runs}):")
        for task, scale in (("denoise", 1), ("upscale", 2)):
            name = reg.default_name(task, scale)
            cmd = [sys.executable, __file__, "--child-overhead", task, name, str(mp), str(args.runs), args.device]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{task:8} {name:26} ERROR {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{task:8} {name:26} whole {r['whole_s']:7.2f} s  tiled {r['tiled_s']:7.2f} s  "
                  f"tiling costs {r['overhead_pct']:+.1f}%", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time a config's network alone (no engine, no tiling) before spending hours training it.

    python training/speedtest.py training/configs/denoise_gray_v5.json [more configs...]

Prints parameters and the median of 3 runs in seconds per megapixel on `--threads` CPU
threads (denoisers: per input MP; SR: per output MP), random weights - speed only.
Channels-last as in the engine; `--bf16` times bf16 autocast (what the engine does on a
CPU with native bf16).
"""
import argparse
import contextlib
import json
import statistics
import time

import torch

import common as C

nets = C.load_nets()


def seconds(model, *args, runs=3, bf16=False, **kwargs) -> float:
    model = model.to(memory_format=torch.channels_last)
    args = [a.contiguous(memory_format=torch.channels_last) for a in args]
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), amp:
        model(*args, **kwargs)  # warm-up: allocator, oneDNN kernels
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(*args, **kwargs)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="under bf16 autocast")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for path in args.configs:
        cfg = json.load(open(path))
        arch = cfg.get("arch", "MultiScaleSR")  # SR configs name no arch (train_sr.py fixes it)
        model = nets.build(arch, cfg["net"]).eval()
        params = sum(p.numel() for p in model.parameters())
        if arch == "UNetDenoiser":
            c = cfg["net"].get("in_channels", 3)
            s = seconds(model, torch.rand(1, c, 1000, 1000), torch.full((1, 1, 1, 1), 25 / 255), bf16=args.bf16)
            print(f"{path}: {params / 1e6:.2f} M params, {s:.3f} s per MP")
        else:
            for scale in cfg["net"].get("scales", [cfg["net"].get("scale", 2)]):
                x = torch.rand(1, 3, 1000 // scale, 1000 // scale)
                kw = {"scale": scale} if "scales" in cfg["net"] else {}
                s = seconds(model, x, bf16=args.bf16, **kw)
                print(f"{path} x{scale}: {params / 1e6:.2f} M params, {s:.3f} s per output MP")


if __name__ == "__main__":
    main()

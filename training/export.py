"""Export trained checkpoints to resources/models/*.safetensors.

    python training/export.py denoise [--ckpt training/runs/denoise_v1/best.pt]
    python training/export.py sr      [--ckpt training/runs/sr_v1/best.pt]

Weights are stored as float16 (halves the file size; load_state_dict casts
them to the model's dtype).  Metadata (all strings) is what the engine reads:
restora_arch, restora_config, task, scale, in_channels, out_channels, name,
description.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

OUT = os.path.join(C.ROOT, "resources", "models")


def _save(sd, name, arch, config, task, scale, cin, cout, desc, extra=None):
    os.makedirs(OUT, exist_ok=True)
    nets = C.load_nets()
    model = nets.build(arch, config)
    model.load_state_dict(sd)  # strict check: file must load into build(arch, config)
    sd16 = {k: v.detach().to(torch.float16).contiguous() for k, v in sd.items()}
    meta = {
        "restora_arch": arch,
        "restora_config": json.dumps(config),
        "task": task,
        "scale": str(scale),
        "in_channels": str(cin),
        "out_channels": str(cout),
        "name": name,
        "description": desc,
    }
    if extra:
        meta.update({k: str(v) for k, v in extra.items()})
    path = os.path.join(OUT, name + ".safetensors")
    save_file(sd16, path, metadata=meta)
    os.chmod(path, 0o644)
    print("wrote", path, "%.2f MB" % (os.path.getsize(path) / 1e6),
          "params %d" % sum(v.numel() for v in sd.values()))


def export_denoise(ckpt):
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(os.path.join(C.ROOT, "training", "configs", "denoise.json"))
    sd = st["model"]
    net_cfg = dict(cfg["net"])
    net_cfg["channels"] = list(net_cfg["channels"])
    net_cfg["blocks"] = list(net_cfg["blocks"])
    extra = {"train_step": st.get("step", "?"), "sigma_units": "sigma/255 (0..~0.24)"}
    _save(sd, "restora-denoise", cfg["arch"], net_cfg, "denoise", 1, 3, 3,
          "Restora denoiser (colour): small U-Net, noise-level map input, blind or strength-controlled",
          extra)
    gsd = {"net." + k: v for k, v in sd.items()}
    _save(gsd, "restora-denoise-gray", "GrayFromColor",
          {"inner_arch": cfg["arch"], "inner_config": net_cfg}, "denoise", 1, 1, 1,
          "Restora denoiser (gray): the colour denoiser run on the replicated channel",
          extra)


def export_sr(ckpt):
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(os.path.join(C.ROOT, "training", "configs", "sr.json"))
    nets = C.load_nets()
    ms = nets.build("MultiScaleSR", cfg["net"])
    ms.load_state_dict(st["model"])
    for s in cfg["net"]["scales"]:
        conf = {"scale": s, "channels": cfg["net"]["channels"], "blocks": cfg["net"]["blocks"]}
        _save(ms.export_state(s), "restora-sr-x%d" % s, "CompactSR", conf, "upscale", s, 3, 3,
              "Restora super-resolution x%d: compact residual net, fast on CPU" % s,
              {"train_step": st.get("step", "?")})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["denoise", "sr"])
    ap.add_argument("--ckpt", default=None)
    a = ap.parse_args()
    if a.task == "denoise":
        export_denoise(a.ckpt or os.path.join(C.ROOT, "training", "runs", "denoise_v1", "best.pt"))
    else:
        export_sr(a.ckpt or os.path.join(C.ROOT, "training", "runs", "sr_v1", "best.pt"))


if __name__ == "__main__":
    main()

"""Export trained checkpoints to resources/models/*.safetensors.

    python training/export.py denoise      --ckpt CKPT [--config training/configs/denoise_v4.json]
    python training/export.py denoise-gray --ckpt CKPT [--config training/configs/denoise_gray_v10.json]
    python training/export.py sr           --ckpt CKPT [--config training/configs/sr_x2_v4.json] [--scales 2]
    python training/export.py inpaint      --ckpt training/runs/inpaint_v2/best.pt [--out FOLDER]
    python training/export.py detect       --ckpt training/runs/detect_v1/best.pt [--out FOLDER]
    python training/export.py generator    --ckpt training/runs/gen_v1/best.pt [--out FOLDER] [--dtype float16]

``--config`` must be the config the checkpoint was trained with (it gives the
net's shape and the export options); ``--scales`` picks which SR heads to write.

Weights are stored as float16 (halves the file size; load_state_dict casts
them to the model's dtype).  Metadata (all strings) is what the engine reads:
restora_arch, restora_config, task, scale, in_channels, out_channels, name,
description. The generator is the exception: a plain DCGAN state dict that the engine's
``dcgan`` loader reads from the weights alone, with no ``restora_arch`` (see export_generator).
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


def _save(sd, name, arch, config, task, scale, cin, cout, desc, extra=None, out_dir=None):
    out_dir = out_dir or OUT
    os.makedirs(out_dir, exist_ok=True)
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
    path = os.path.join(out_dir, name + ".safetensors")
    save_file(sd16, path, metadata=meta)
    os.chmod(path, 0o644)
    print("wrote", path, "%.2f MB" % (os.path.getsize(path) / 1e6),
          "params %d" % sum(v.numel() for v in sd.values()))


def export_denoise(ckpt, config):
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(config)
    sd = st["model"]
    net_cfg = dict(cfg["net"])
    net_cfg["channels"] = list(net_cfg["channels"])
    net_cfg["blocks"] = list(net_cfg["blocks"])
    extra = {"train_step": st.get("step", "?"), "sigma_units": "sigma/255 (0..~0.24)"}
    _save(sd, "restora-denoise", cfg["arch"], net_cfg, "denoise", 1, 3, 3,
          "Restora denoiser (colour): small U-Net, noise-level map input, blind or strength-controlled",
          dict(extra, **_bf16(cfg)))
    # (the gray model is its own run now: `export.py denoise-gray`, not this net on three copies)


def _bf16(cfg) -> dict:
    """Whether the engine may run the net in bf16 on a CPU that has it. A config says no
    (``"export_cpu_bf16": false``) where the measured bf16 loss would cost a target."""
    return {"cpu_bf16": "1" if cfg.get("export_cpu_bf16", True) else "0"}


def fold_to_gray(sd, r=2):
    """Exactly convert a 3-channel UNetDenoiser that is applied to a replicated
    gray image (output averaged over channels) into an in_channels=1 net.
    pixel_unshuffle channel order is c*r*r + k, the noise map is the last
    input channel of the head."""
    r2 = r * r
    out = dict(sd)
    hw = sd["head.weight"]                       # [c1, 3*r2 + 1, 3, 3]
    out["head.weight"] = torch.cat([hw[:, 0:r2] + hw[:, r2:2 * r2] + hw[:, 2 * r2:3 * r2],
                                    hw[:, 3 * r2:]], 1)
    tw, tb = sd["tail.weight"], sd["tail.bias"]  # [3*r2, c1, 3, 3]
    out["tail.weight"] = (tw[0:r2] + tw[r2:2 * r2] + tw[2 * r2:3 * r2]) / 3.0
    out["tail.bias"] = (tb[0:r2] + tb[r2:2 * r2] + tb[2 * r2:3 * r2]) / 3.0
    return out


def export_denoise_gray(ckpt, config):
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(config)
    net_cfg = dict(cfg["net"])
    net_cfg["channels"] = list(net_cfg["channels"])
    net_cfg["blocks"] = list(net_cfg["blocks"])
    gsd = fold_to_gray(st["model"], net_cfg.get("unshuffle", 2))
    gcfg = dict(net_cfg, in_channels=1)
    # check the fold is exact
    nets = C.load_nets()
    m3 = nets.build(cfg["arch"], net_cfg)
    m3.load_state_dict(st["model"])
    m1 = nets.build(cfg["arch"], gcfg)
    m1.load_state_dict(gsd)
    with torch.no_grad():
        x = torch.rand(1, 1, 40, 56)
        s = torch.full((1, 1, 1, 1), 0.1)
        d = (m3(x.expand(-1, 3, -1, -1), s).mean(1, keepdim=True) - m1(x, s)).abs().max().item()
    assert d < 1e-4, d
    extra = {"train_step": st.get("step", "?"), "sigma_units": "sigma/255 (0..~0.24)", **_bf16(cfg)}
    if int(cfg.get("export_ensemble", 1)) > 1:  # self-ensemble passes at inference
        gcfg["ensemble"] = int(cfg["export_ensemble"])
        if "export_cpu_fp32_ensemble" in cfg:  # fewer where the CPU computes it in fp32 (slow)
            extra["cpu_fp32_ensemble"] = int(cfg["export_cpu_fp32_ensemble"])
    _save(gsd, "restora-denoise-gray", cfg["arch"], gcfg, "denoise", 1, 1, 1,
          "Restora denoiser (gray): small U-Net fine-tuned on gray photos, noise-level map input", extra)


def export_sr(ckpt, config, scales=None):
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(config)
    nets = C.load_nets()
    ms = nets.build("MultiScaleSR", cfg["net"])
    ms.load_state_dict(st["model"])
    for s in scales or cfg["net"]["scales"]:
        conf = {"scale": s, "channels": cfg["net"]["channels"], "blocks": cfg["net"]["blocks"],
                "ensemble": int(cfg.get("export_ensemble", {}).get(str(s), 1))}
        _save(ms.export_state(s), "restora-sr-x%d" % s, "CompactSR", conf, "upscale", s, 3, 3,
              "Restora super-resolution x%d: compact residual net, fast on CPU" % s,
              {"train_step": st.get("step", "?"), **_bf16(cfg)})


def export_inpaint(ckpt, config, out_dir=None):
    """The inpainting generator (the EMA weights best.pt keeps); the discriminator stays behind."""
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(config)
    net_cfg = dict(cfg["net"], channels=list(cfg["net"]["channels"]))
    if cfg.get("export_noise_depth"):   # where the shipped net lets the seed vary the fill
        net_cfg["noise_depth"] = list(cfg["export_noise_depth"])
    val = st.get("val", {})
    _save(st["model"], "restora-inpaint", "InpaintGenerator", net_cfg, "inpaint", 1, 3, 3,
          "Restora inpainter: GAN-trained U-Net (dilated + Fourier blocks); the seed picks the fill",
          {"train_step": st.get("step", "?"), "val_blocks_gain_db": round(val.get("blocks_gain", 0.0), 3),
           "val_scratches_gain_db": round(val.get("scratches_gain", 0.0), 3)}, out_dir=out_dir)


def export_detect(ckpt, config, out_dir=None):
    """The damage detector (EMA weights of best.pt); the file says its validation figures."""
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(config)
    net_cfg = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in cfg["net"].items()}
    val = st.get("val", {})
    _save(st["model"], "restora-detect", "DamageDetector", net_cfg, "detect", 1, 3, 1,
          "Restora damage detector: proposes a mask over scratches, dust, stains and tears",
          {"train_step": st.get("step", "?"), "val_f1": round(val.get("f1", 0.0), 3),
           "val_clean_flagged": round(val.get("flagged", 0.0), 4), **_bf16(cfg)}, out_dir=out_dir)


GENERATOR_NAME = "restora-texture-gan"


def _logged_val(ckpt, step) -> dict:
    """The validation figures the run logged at ``step`` (final.pt carries none of its own)."""
    log = os.path.join(os.path.dirname(os.path.abspath(ckpt)), "log.jsonl")
    found = {}
    if step is not None and os.path.exists(log):
        with open(log) as f:
            for line in f:
                entry = json.loads(line)
                if entry.get("step") == step and "swd" in entry:
                    found = entry
    return found


def export_generator(ckpt, config, out_dir=None, dtype="float32"):
    """The texture GAN's generator: best.pt's EMA weights with their standing batch-norm
    statistics (train_generator.py).

    A DCGAN run (gen_v1) is written as the plain DCGAN state dict that
    ``restora.engine.models.dcgan.build`` reads, like any DCGAN file a person brings. A
    ``TextureGenerator`` run (gen_v2 on) names its class and kwargs in ``generator_arch`` /
    ``generator_config``, which only the built-in generator loader reads (builtin.py). Neither
    carries ``restora_arch`` (that is the image models' loader). float32 by default, so the
    file computes exactly what was validated (``--dtype float16`` halves it). Checked here:
    the file, read back through the app's own loader, gives bit-identical output to the
    trainer's network with the same weights."""
    from pathlib import Path

    from safetensors.torch import load_file

    from restora.engine.models import builtin, dcgan
    import train_generator as TG

    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = C.load_config(config)
    net = TG.build_generator(cfg["net"])
    net.load_state_dict(st["model"])   # strict: the checkpoint is the config's net
    cast = getattr(torch, dtype)
    sd = {k: (v.detach().to(cast) if v.is_floating_point() else v.detach()).contiguous()
          for k, v in st["model"].items()}
    net.load_state_dict(sd)            # (the weights as stored, for the check below)
    net.eval()
    val = st.get("val") or _logged_val(ckpt, st.get("step"))
    latent = int(cfg["net"]["latent"])
    texture = cfg["net"].get("arch") == "TextureGenerator"
    meta = {
        "name": GENERATOR_NAME,
        "task": "generate",
        "description": ("Restora texture generator: small GAN of 64x64 natural photo and texture patches "
                        "(colour and gray), sources of texture for repairs"),
        "latent_dim": str(latent),
        "latent": "standard normal; seed N: torch.randn(latent_dim, generator=torch.Generator().manual_seed(N))",
        "resolution": str(TG.SIZE),
        "out_channels": "3",
        "output_range": "-1,1",
        "batchnorm": "eval mode (standing statistics of the EMA weights)",
        "train_step": str(st.get("step", "?")),
        "train_config": json.dumps(cfg),
        "val_swd": "%.2f" % val.get("swd", float("nan")),
        "val_swd_levels": ",".join("%.2f" % val.get(k, float("nan")) for k in TG.SWD.NAMES),
        "train_swd": "%.2f" % val.get("train_swd", float("nan")),
    }
    if texture:
        meta.update(format="restora-generator", generator_arch="TextureGenerator",
                    generator_config=json.dumps({"latent": latent, "widths": list(cfg["net"]["widths"])}))
    else:
        meta["format"] = "dcgan-state-dict"
    out_dir = out_dir or OUT
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, GENERATOR_NAME + ".safetensors")
    save_file(sd, path, metadata=meta)
    os.chmod(path, 0o644)
    if texture:
        back = builtin.builtin_generator_net(Path(path))
    else:
        back = dcgan.build(load_file(path), Path(path))
    assert back is not None, "the app's loader does not recognise the exported weights"
    z = TG.seed_latents(range(16), latent)
    with torch.no_grad():
        a, b = back(z), net(z)
    assert torch.equal(a, b), "the app's loader computes something else: max diff %g" % (a - b).abs().max()
    ref = TG.build_generator(cfg["net"])
    ref.load_state_dict(st["model"])
    with torch.no_grad():
        drift = float((ref.eval()(z) - a).abs().max())   # 0 in float32; the rounding in float16
    print("wrote", path, "%.2f MB" % (os.path.getsize(path) / 1e6),
          "params %d" % sum(v.numel() for v in sd.values() if v.is_floating_point()),
          "step", st.get("step"), "val swd", meta["val_swd"],
          "| app loader: identical; vs the float32 checkpoint: max diff %.2g (%.2f levels)"
          % (drift, drift * 127.5))
    return path


DEFAULT_CONFIG = {"denoise": "denoise_v4.json", "denoise-gray": "denoise_gray_v10.json",
                  "sr": "sr_x2_v4.json", "inpaint": "inpaint_v6.json", "detect": "detect_v2.json",
                  "generator": "generator_v6.json"}  # the shipped runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["denoise", "denoise-gray", "sr", "inpaint", "detect", "generator"])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--config", default=None, help="the checkpoint's training config")
    ap.add_argument("--scales", default=None, help="SR heads to export, e.g. 2 or 2,4")
    ap.add_argument("--out", default=None, help="folder to write to (default: resources/models)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"],
                    help="generator only: the weights' type in the file")
    a = ap.parse_args()
    config = a.config or os.path.join(C.ROOT, "training", "configs", DEFAULT_CONFIG[a.task])
    if a.task == "denoise":
        export_denoise(a.ckpt, config)
    elif a.task == "denoise-gray":
        export_denoise_gray(a.ckpt, config)
    elif a.task == "inpaint":
        export_inpaint(a.ckpt, config, a.out)
    elif a.task == "detect":
        export_detect(a.ckpt, config, a.out)
    elif a.task == "generator":
        export_generator(a.ckpt, config, a.out, a.dtype)
    else:
        export_sr(a.ckpt, config, [int(s) for s in a.scales.split(",")] if a.scales else None)


if __name__ == "__main__":
    main()

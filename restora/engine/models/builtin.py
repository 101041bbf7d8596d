"""Restora's own trained models: safetensors under resources/models with their recipe in metadata.

Each file's metadata names the network class in :mod:`.nets` and its kwargs, so the
app builds exactly what training exported; no code is read from the file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..device import DeviceInfo
from ..jobs import ModelError
from .base import ModelInfo
from .torch_models import TorchImageModel, low_precision

def _resources() -> Path:
    """resources/models beside the package (source tree, editable install) or in a PyInstaller bundle."""
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources" / "models"
    return Path(__file__).resolve().parents[3] / "resources" / "models"


RESOURCES = _resources()


def builtin_dir() -> Path:
    return RESOURCES


def read_metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def is_restora_file(path: Path) -> bool:
    try:
        return path.suffix.lower() == ".safetensors" and "restora_arch" in read_metadata(path)
    except Exception:  # noqa: BLE001 - not ours, let spandrel have a go
        return False


def _run_denoise(net, x, params):
    import torch

    sigma = torch.full((x.shape[0], 1, 1, 1), float(params["sigma"]), device=x.device, dtype=x.dtype)
    return net(x, sigma)


def _run_upscale(net, x, _params):
    return net(x)


def restora_model(path: Path, source: str = "builtin") -> TorchImageModel:
    meta = read_metadata(path)
    try:
        arch, config = meta["restora_arch"], json.loads(meta.get("restora_config", "{}"))
        task, scale = meta["task"], int(meta.get("scale", "1"))
        info = ModelInfo(name=meta.get("name", path.stem), task=task, source=source,
                         description=meta.get("description", f"Restora {task} model"),
                         architecture=arch, scale=scale, in_channels=int(meta.get("in_channels", "3")),
                         out_channels=int(meta.get("out_channels", "3")), half=True,
                         cpu_bf16=meta.get("cpu_bf16", "1") != "0", path=path)
        int(meta.get("cpu_fp32_ensemble", "1"))  # read on every run (ensemble_passes): check it here
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{path}: Restora model file with incomplete metadata ({exc})") from exc
    if task not in ("denoise", "upscale"):
        raise ModelError(f"{path}: unknown task '{task}' in Restora model file")

    def loader():
        from safetensors.torch import load_file

        from . import nets

        net = nets.build(arch, config)
        net.load_state_dict(load_file(str(path), device="cpu"))
        model.align_px = _stride(net)
        return net

    run = _run_denoise if task == "denoise" else _run_upscale

    def call(net, x, params):
        if "cpu_fp32_ensemble" in meta:
            net.ensemble = ensemble_passes(meta, config, model.device)
        return run(net, x, params)

    model = TorchImageModel(info, loader, call,
                            context_px=int(meta.get("context_px", "48" if task == "denoise" else "24")),
                            bytes_per_pixel=int(meta.get("bytes_per_pixel", _bytes_per_pixel(task, scale))),
                            max_cpu_tile=_cpu_tile_cap(task, scale), channels_last=True)
    return model


def ensemble_passes(meta: dict, config: dict, device: DeviceInfo) -> int:
    """Self-ensemble passes of a Restora file's net on ``device``: the config's ``ensemble``,
    except on a CPU that computes the net in fp32 (no native bf16: about twice the time per
    pass, so the full ensemble would blow the speed budget), where a file may ask for fewer
    with ``cpu_fp32_ensemble``. The benchmark uses this too, to measure what the app runs."""
    passes = int(config.get("ensemble", 1))
    if "cpu_fp32_ensemble" not in meta or device.kind != "cpu":
        return passes
    fp32 = low_precision(device, True, meta.get("cpu_bf16", "1") != "0") is None
    return int(meta["cpu_fp32_ensemble"]) if fp32 else passes


def _bytes_per_pixel(task: str, scale: int) -> int:
    """Peak working memory per input pixel of a whole-image CPU run (fp32), measured on 1 MP:
    denoise 345 B, ×2 707 B, ×4 1624 B (RSS growth, output buffer included)."""
    return 360 if task == "denoise" else 400 + 77 * scale * scale


def _cpu_tile_cap(task: str, scale: int) -> int:
    """Largest CPU tile (input px). SR nets are memory-bound on big tiles: with 32-channel
    feature maps kept near cache size (and the ×scale tail's maps with them), a 1 MP
    ×2 / ×4 job ran 24 % / 17 % faster than in one piece on 2 cores (448 / 320 px tiles)."""
    if task != "upscale":
        return 2048
    return int(640 / math.sqrt(max(scale, 1))) // 32 * 32


def _stride(net) -> int:
    """How far apart two crops' origins must be for a net to see them identically."""
    for module in (net, getattr(net, "net", None)):
        stride = getattr(module, "mult", None)
        if isinstance(stride, int) and stride > 0:
            return stride
    return 1


def builtin_models() -> list[TorchImageModel]:
    if not RESOURCES.is_dir():
        return []
    return [restora_model(p) for p in sorted(RESOURCES.glob("*.safetensors")) if is_restora_file(p)]

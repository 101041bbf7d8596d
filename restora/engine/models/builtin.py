"""Restora's own trained models: safetensors under resources/models with their recipe in metadata.

Each file's metadata names the network class in :mod:`.nets` and its kwargs, so the
app builds exactly what training exported; no code is read from the file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..device import DeviceInfo
from ..jobs import ModelError
from .base import ModelInfo, printable
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
    try:  # only a file whose header says it is ours; anything else goes to spandrel
        return path.suffix.lower() == ".safetensors" and "restora_arch" in read_metadata(path)
    except Exception:  # noqa: BLE001 - not ours, let spandrel have a go
        return False


def _run_denoise(net, x, params):
    import torch

    sigma = torch.full((x.shape[0], 1, 1, 1), float(params["sigma"]), device=x.device, dtype=x.dtype)
    return net(x, sigma)


def _run_upscale(net, x, _params):
    return net(x)


def _run_inpaint(net, x, params):
    """The holes and a noise map made from the seed and the pixels' positions on the photo
    (``origin``: where the crop starts): the seed names the fill, the same on every device
    and however the photo is cut into crops; another seed gives another plausible one."""
    import torch

    mask = (torch.from_numpy(params["mask"]) > 0.5)[None, None].to(x.device, x.dtype)
    y0, x0 = params.get("origin", (0, 0))
    noise = torch.from_numpy(lattice_noise(int(params.get("seed", 0)), y0, x0, *mask.shape[-2:]))
    guide = None
    if getattr(net, "prefill", False) == "ns":   # the classical fill the net refines near the edges
        from .nets import ns_guide

        crop = x[0].float().permute(1, 2, 0).cpu().numpy()
        guide = torch.from_numpy(ns_guide(crop, params["mask"])).permute(2, 0, 1)[None].to(x.device, x.dtype)
    return net(x, mask, noise[None, None].to(x.device, x.dtype), guide)


def lattice_noise(seed: int, y0: int, x0: int, height: int, width: int) -> np.ndarray:
    """float32 standard normal noise for the pixels [y0:y0+height, x0:x0+width] of an endless
    lattice named by ``seed``: each value is a hash (splitmix64) of (seed, y, x), so any crop
    of the lattice is the same numbers whoever cuts it."""
    ys = np.arange(y0, y0 + height, dtype=np.uint64)[:, None]
    xs = np.arange(x0, x0 + width, dtype=np.uint64)[None, :]
    base = (ys << np.uint64(32)) | xs

    def uniform(stream: int) -> np.ndarray:
        z = base ^ np.uint64((seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03) % (1 << 64))
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53))   # (0, 1)

    u1, u2 = uniform(1), uniform(2)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)).astype(np.float32)   # Box-Muller


def _run_detect(net, x, _params):
    import torch

    return torch.sigmoid(net(x).float())   # the probability that a pixel is damage


_RUNS = {"denoise": _run_denoise, "upscale": _run_upscale, "inpaint": _run_inpaint, "detect": _run_detect}


# Tile sizing and context come from the file: bounded near what our nets need (context 48,
# ~1.6 kB/px for x4), since a file asking 1024 px of context per 128 px tile made a 0.8 MP
# denoise take 142 s instead of 6.
_META_LIMITS = {"scale": (1, 8), "in_channels": (1, 4), "out_channels": (1, 4), "context_px": (0, 128),
                "bytes_per_pixel": (1, 16384), "cpu_fp32_ensemble": (1, 8)}
_MAX_CONFIG_BYTES = 16 << 10
_MAX_CONFIG_INT = 4096     # channel widths, block counts: ours are at most 128
_MAX_CONFIG_ITEMS = 64


def restora_model(path: Path, source: str = "builtin") -> TorchImageModel:
    """A Restora model from its safetensors file, checked before it is listed: a known
    architecture, a bounded config, and weights whose names and shapes are exactly what
    that config builds (so a wrong or hostile file is refused here, not on first use)."""
    meta = read_metadata(path)
    try:
        arch, task = meta["restora_arch"], meta["task"]
        raw_config = meta.get("restora_config", "{}")
        if len(raw_config) > _MAX_CONFIG_BYTES:
            raise ValueError(f"restora_config is {len(raw_config)} bytes")
        config = json.loads(raw_config)
        _check_config(config)
        numbers = {key: _bounded_int(meta, key, default) for key, default in
                   (("scale", "1"), ("in_channels", "3"), ("out_channels", "3"), ("cpu_fp32_ensemble", "1"),
                    ("context_px", {"denoise": "48", "inpaint": "96", "detect": "64"}.get(task, "24")),
                    ("bytes_per_pixel", str(_bytes_per_pixel(task, int(meta.get("scale", "1")))) ))}
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise ModelError(f"{path}: Restora model file with bad metadata "
                         f"({printable(exc, 100) or type(exc).__name__})") from exc
    if task not in _RUNS:
        raise ModelError(f"{path}: unknown task '{printable(task, 40)}' in Restora model file")
    net = _check_weights(path, arch, config)
    if source != "builtin":   # ours are tested; the first meta pass costs ~1.3 s at start-up
        _check_shapes(path, net, task, numbers)
    scale = numbers["scale"]
    info = ModelInfo(name=meta.get("name", path.stem), task=task, source=source,
                     description=meta.get("description", f"Restora {task} model"),
                     architecture=arch, scale=scale, in_channels=numbers["in_channels"],
                     out_channels=numbers["out_channels"], half=True, stochastic=task == "inpaint",
                     cpu_bf16=meta.get("cpu_bf16", "1") != "0", path=path)

    def loader():
        from safetensors.torch import load_file

        from . import nets

        net = nets.build(arch, config)
        net.load_state_dict(load_file(str(path), device="cpu"))
        model.align_px = _stride(net)
        return net

    run = _RUNS[task]

    def call(net, x, params):
        if "cpu_fp32_ensemble" in meta:
            net.ensemble = ensemble_passes(meta, config, model.device)
        return run(net, x, params)

    model = TorchImageModel(info, loader, call, context_px=numbers["context_px"],
                            bytes_per_pixel=numbers["bytes_per_pixel"],
                            max_cpu_tile=_cpu_tile_cap(task, scale), channels_last=True)
    return model


def _bounded_int(meta: dict, key: str, default: str) -> int:
    value = int(meta.get(key, default))
    lo, hi = _META_LIMITS[key]
    if not lo <= value <= hi:
        raise ValueError(f"{key} {value} is outside {lo}..{hi}")
    return value


def _check_config(value, depth: int = 0) -> None:
    """A config is small plain JSON: no huge numbers (a width of 10**6 asks for terabytes)."""
    if depth == 0 and not isinstance(value, dict):
        raise ValueError("restora_config is not a JSON object")
    if depth > 4:
        raise ValueError("restora_config is nested too deeply")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not (math.isfinite(value) and 0 <= value <= _MAX_CONFIG_INT):   # widths, counts, scales
            raise ValueError(f"restora_config value {value} is out of range")
        return
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(value, (dict, list)) or len(items) > _MAX_CONFIG_ITEMS:
        raise ValueError("restora_config is too large")
    for item in items:
        _check_config(item, depth + 1)


def _check_weights(path: Path, arch: str, config: dict) -> None:
    """The net ``arch(**config)`` built on the meta device (no memory) must have exactly the
    tensors the file holds, with the same shapes."""
    import torch
    from safetensors import safe_open

    from . import nets

    if arch not in nets.ARCHS:
        raise ModelError(f"{path}: unknown architecture '{printable(arch, 40)}' in Restora model file "
                         f"(known: {', '.join(nets.ARCHS)})")
    try:
        with torch.device("meta"):
            net = nets.build(arch, config)
        wanted = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        with safe_open(str(path), framework="pt") as fh:
            held = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - a config the architecture rejects
        raise ModelError(f"{path}: Restora model file whose config does not fit {arch} "
                         f"({(str(exc).splitlines() or [type(exc).__name__])[0][:100]})") from exc
    if wanted != held:
        bad = sorted(set(wanted) ^ set(held)) or [k for k in wanted if wanted[k] != held[k]]
        raise ModelError(f"{path}: the weights do not match the {arch} config they name "
                         f"({len(bad)} tensors differ, e.g. {printable(bad[0], 60)})")
    return net


def _check_shapes(path: Path, net, task: str, numbers: dict) -> None:
    """What the metadata says (scale, channels) must be what the net computes: one pass of a
    small input on the meta device (shapes only, no memory) shows it."""
    import torch

    cin, cout, scale = numbers["in_channels"], numbers["out_channels"], numbers["scale"]
    x = torch.empty(1, cin, 32, 32, device="meta")
    try:
        with torch.no_grad():
            second = {"denoise": (1, 1, 1, 1), "inpaint": (1, 1, 32, 32)}.get(task)
            out = net(x, torch.empty(*second, device="meta")) if second else net(x)
    except Exception as exc:  # noqa: BLE001 - a net that rejects its declared input
        raise ModelError(f"{path}: the network does not take the {cin}-channel input its metadata names "
                         f"({(str(exc).splitlines() or [type(exc).__name__])[0][:80]})") from exc
    want = (1, cout, 32 * scale, 32 * scale)
    if tuple(out.shape) != want:
        raise ModelError(f"{path}: the metadata says x{scale}, {cin}->{cout} channels, but the network makes "
                         f"{tuple(out.shape)[1]} channels at {tuple(out.shape)[2] / 32:g}x")


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


def builtin_models() -> list:
    """The models shipped in resources/models: Restora-format image models, and our own
    generator (DCGAN weights, read as data like a person's DCGAN file)."""
    if not RESOURCES.is_dir():
        return []
    found: list = []
    for path in sorted(RESOURCES.glob("*.safetensors")):
        if is_restora_file(path):
            found.append(restora_model(path))
            continue
        try:   # a damaged file is left out here; the self-test names what is missing
            meta = read_metadata(path)
            if meta.get("task") == "generate":
                found.append(_builtin_generator(path, meta))
        except Exception:  # noqa: BLE001 - one broken shipped file must not stop the others
            continue
    return found


#: the generator classes a shipped file may name (``generator_arch``)
_GENERATOR_ARCHS = ("TextureGenerator",)


def builtin_generator_net(path: Path, meta: dict = None):
    """The network of a shipped generator file: our ``TextureGenerator`` when its metadata
    (``meta``, read here if not given) names it (with bounded kwargs, and weights exactly of
    that shape), else read as DCGAN weights."""
    from safetensors.torch import load_file

    from . import dcgan

    meta = read_metadata(path) if meta is None else meta
    state = load_file(str(path))
    arch = meta.get("generator_arch")
    if arch is None:
        net = dcgan.build(state, path)
        if net is None:
            raise ModelError(f"{path}: the built-in generator's weights are not a DCGAN generator")
        return net
    if arch not in _GENERATOR_ARCHS:
        raise ModelError(f"{path}: unknown generator architecture '{printable(arch, 40)}'")
    from . import nets

    try:
        raw = meta.get("generator_config", "{}")
        if len(raw) > _MAX_CONFIG_BYTES:
            raise ValueError(f"generator_config is {len(raw)} bytes")
        config = json.loads(raw)
        _check_config(config)
        net = nets.build(arch, config)
        net.load_state_dict(state, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError, RecursionError) as exc:
        raise ModelError(f"{path}: the built-in generator's weights do not match its "
                         f"{arch} ({printable(exc, 100) or type(exc).__name__})") from exc
    return net.eval()


def _builtin_generator(path: Path, meta: dict):
    from .generator import TorchScriptGenerator

    net = builtin_generator_net(path, meta)
    what = "Restora texture generator" if meta.get("generator_arch") else "DCGAN generator"
    return TorchScriptGenerator(path, net, what, trusted_code=False, source="builtin",
                                description=printable(meta.get("description", "Restora texture generator")))

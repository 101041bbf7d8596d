"""rosinality stylegan2-pytorch ``.pt`` checkpoints, mapped into our StyleGAN2.

A checkpoint is a ``torch.save`` dict: ``g_ema`` (the state dict we sample from), and from
their train.py also ``g``, ``d``, optimiser states, ``args`` (an ``argparse.Namespace``) and
``ada_aug_p``; their convert_weight.py writes ``g_ema`` and ``latent_avg``. It is read by torch's
weights-only unpickler with ``argparse.Namespace`` as the one extra class allowed (a bag of
attributes, no code).

Their math is StyleGAN2's with other names: ``EqualLinear`` (weight * lr_mul/sqrt(in), bias *
lr_mul) is NVlabs' FullyConnectedLayer, ``ModulatedConv2d``'s ``scale`` cancels in the
demodulation and equals ToRGB's weight gain, ``FusedLeakyReLU`` is bias + lrelu(0.2) * sqrt(2),
``Blur``/``Upsample`` kernels are the normalised [1,3,3,1] outer product times 4 (our filter
times the upsampling gain), ``NoiseInjection`` adds weight * noise after the convolution.

Conventions (their generate.py has no seed option and draws fresh noise per image): seed N
is ``torch.randn(1, style_dim, generator=torch.Generator().manual_seed(N))`` on the CPU; the
noise is the file's stored ``noises.noise_i`` buffers (their ``randomize_noise=False``);
truncation goes toward ``latent_avg`` when the file has one, else toward the mean W of 4096
latents drawn from ``torch.Generator().manual_seed(0)`` (their ``mean_latent(4096)``, made
reproducible); pixels are torchvision's ``save_image(normalize=True, range=(-1, 1))``.
"""
from __future__ import annotations

import argparse
import copy
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from ...jobs import ModelError, UnsafeModelError
from ..base import printable
from .network import BlockSpec, ConvSpec, DenseSpec, MappingSpec, RGBSpec, StyleGAN2, StyleGAN2Spec, build

LR_MLP = 0.01            # their Generator's default lr_mlp (train.py never changes it)
MEAN_LATENTS = 4096      # their generate.py's --truncation_mean
_STYLE = re.compile(r"^style\.(\d+)\.(weight|bias)$")


def read_checkpoint(path: Path) -> dict:
    """The checkpoint dict, read as data (weights-only, plus argparse.Namespace)."""
    import pickle

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        raise UnsafeModelError(f"{path}: refused to load: the checkpoint asks to build Python objects besides "
                               f"weights ({printable(str(exc).splitlines()[0], 100)})") from None
    except Exception as exc:  # noqa: BLE001 - damaged
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:100]
        raise ModelError(f"{path}: the model file is truncated or damaged ({printable(first, 100)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("g_ema"), dict):
        raise ModelError(f"{path}: a checkpoint without a g_ema generator")
    return data


def load(path: Path) -> tuple[StyleGAN2, dict]:
    """Our network with the checkpoint's ``g_ema``, and its ``latent_avg`` (or None)."""
    data = read_checkpoint(path)
    args = data.get("args")
    arch = getattr(args, "arch", "stylegan2") if isinstance(args, argparse.Namespace) else "stylegan2"
    if arch != "stylegan2":
        raise ModelError(f"{path}: a rosinality '{printable(arch, 20)}' generator; Restora runs their stylegan2 one")
    lr_mlp = getattr(args, "lr_mlp", LR_MLP) if isinstance(args, argparse.Namespace) else LR_MLP
    g = {k[len("module."):] if k.startswith("module.") else k: v for k, v in data["g_ema"].items()}
    try:
        spec, state = map_state(g, float(lr_mlp))
        net = build(spec, state)
    except (ValueError, TypeError, KeyError, RuntimeError, AttributeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ModelError(f"{path}: not a rosinality StyleGAN2 generator Restora can rebuild ({first})") from None
    avg = data.get("latent_avg")
    if isinstance(avg, torch.Tensor) and avg.numel() == spec.w_dim:
        net.mapping.w_avg.copy_(avg.reshape(-1).float())
    else:
        avg = None
    return net, {"latent_avg": avg is not None}


def _t(g: dict, key: str) -> torch.Tensor:
    value = g.get(key)
    if not isinstance(value, torch.Tensor):
        raise KeyError(f"no '{key}'")
    return value.float()


def map_state(g: dict, lr_mlp: float = LR_MLP) -> tuple[StyleGAN2Spec, dict]:
    """Their ``g_ema`` state dict as our spec and our (NVlabs') names. Every key is used once."""
    used: set = set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return _t(g, key)

    style_ids = sorted({int(m.group(1)) for k in g if (m := _STYLE.match(k))})
    if style_ids != list(range(1, len(style_ids) + 1)) or not style_ids:
        raise ValueError("the mapping layers are not style.1 .. style.N")
    state: dict = {}
    layers = []
    for i in style_ids:
        w, b = take(f"style.{i}.weight"), take(f"style.{i}.bias")
        layers.append(DenseSpec(int(w.shape[1]), int(w.shape[0]), "lrelu", lr_mlp / math.sqrt(w.shape[1]), lr_mlp))
        state[f"mapping.fc{i - 1}.weight"], state[f"mapping.fc{i - 1}.bias"] = w, b
    w_dim = layers[-1].out_features
    n_rgb = len({k.split(".")[1] for k in g if k.startswith("to_rgbs.")})
    res_max = 2 ** (n_rgb + 2)
    blur = take("to_rgbs.0.upsample.kernel") / 4 if n_rgb else torch.tensor([1., 3, 3, 1]).outer(
        torch.tensor([1., 3, 3, 1])) / 64
    blocks = []

    def conv(prefix: str, noise: str, res: int, up: int, dest: str, kernel_key=None) -> ConvSpec:
        w = take(f"{prefix}.conv.weight")
        if w.ndim != 5 or w.shape[0] != 1:
            raise ValueError(f"{prefix}.conv.weight is not 1 x out x in x k x k")
        w = w[0]
        mw = take(f"{prefix}.conv.modulation.weight")
        state[f"{dest}.weight"] = w
        state[f"{dest}.affine.weight"] = mw
        state[f"{dest}.affine.bias"] = take(f"{prefix}.conv.modulation.bias")
        state[f"{dest}.bias"] = take(f"{prefix}.activate.bias")
        state[f"{dest}.noise_strength"] = take(f"{prefix}.noise.weight").reshape([])
        state[f"{dest}.noise_const"] = take(f"noises.{noise}").reshape(res, res)
        f = take(kernel_key) / 4 if kernel_key else blur
        state[f"{dest}.resample_filter"] = f
        return ConvSpec(int(w.shape[1]), int(w.shape[0]), res, DenseSpec(int(mw.shape[1]), int(mw.shape[0]), "linear",
                        1 / math.sqrt(mw.shape[1]), 1.0), kernel_size=int(w.shape[-1]), up=up,
                        filter_shape=tuple(f.shape))

    def rgb(prefix: str, dest: str) -> RGBSpec:
        w = take(f"{prefix}.conv.weight")[0]
        mw = take(f"{prefix}.conv.modulation.weight")
        state[f"{dest}.weight"], state[f"{dest}.affine.weight"] = w, mw
        state[f"{dest}.affine.bias"] = take(f"{prefix}.conv.modulation.bias")
        state[f"{dest}.bias"] = take(f"{prefix}.bias").reshape(-1)
        return RGBSpec(int(w.shape[1]), int(w.shape[0]), DenseSpec(int(mw.shape[1]), int(mw.shape[0]), "linear",
                       1 / math.sqrt(mw.shape[1]), 1.0), int(w.shape[-1]), 1 / math.sqrt(w.shape[1] * w.shape[-1] ** 2))

    const = take("input.input")
    state["synthesis.b4.const"] = const[0]
    state["synthesis.b4.resample_filter"] = blur
    c1 = conv("conv1", "noise_0", 4, 1, "synthesis.b4.conv1")
    blocks.append(BlockSpec(4, 0, c1.out_channels, 3, "skip", None, c1, rgb("to_rgb1", "synthesis.b4.torgb"),
                            filter_shape=tuple(blur.shape)))
    for k in range(n_rgb):
        res, dest = 2 ** (k + 3), f"synthesis.b{2 ** (k + 3)}"
        up_kernel = f"convs.{2 * k}.conv.blur.kernel"
        c0 = conv(f"convs.{2 * k}", f"noise_{2 * k + 1}", res, 2, f"{dest}.conv0", up_kernel)
        c1 = conv(f"convs.{2 * k + 1}", f"noise_{2 * k + 2}", res, 1, f"{dest}.conv1")
        f = take(f"to_rgbs.{k}.upsample.kernel") / 4
        state[f"{dest}.resample_filter"] = f
        blocks.append(BlockSpec(res, c0.in_channels, c1.out_channels, 3, "skip", c0, c1,
                                rgb(f"to_rgbs.{k}", f"{dest}.torgb"), filter_shape=tuple(f.shape)))
    unused = sorted(set(g) - used)
    if unused:
        raise ValueError(f"unexpected weights ({printable(unused[0], 60)}, ...): not their StyleGAN2 layout")
    state["mapping.w_avg"] = torch.zeros(w_dim)
    spec = StyleGAN2Spec(MappingSpec(int(layers[0].in_features), w_dim, tuple(layers), has_w_avg=True),
                         tuple(blocks), res_max, 3)
    return spec, state


def seed_latent(seed: int, z_dim: int) -> torch.Tensor:
    """Our documented CPU convention for their files (their generate.py takes no seed)."""
    return torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed))[0]


def mean_w(net: StyleGAN2) -> torch.Tensor:
    """Their ``mean_latent(4096)``, drawn from a fixed CPU generator so it is the same everywhere."""
    mapping = copy.deepcopy(net.mapping).to("cpu").float()
    z = torch.randn(MEAN_LATENTS, net.spec.z_dim, generator=torch.Generator().manual_seed(0))
    return mapping(z).mean(0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """torchvision ``save_image(x, normalize=True, range=(-1, 1))``'s pixels."""
    x = x.clamp(-1, 1).sub(-1).div(2)
    return x.mul(255).add(0.5).clamp(0, 255).permute(0, 2, 3, 1).to("cpu", torch.uint8).numpy()

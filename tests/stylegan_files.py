"""Tiny StyleGAN2 generators with random weights, written in their authors' real on-disk layouts.

- :func:`write_nvlabs_pickle`: what NVlabs' training loop writes (``pickle.dump`` of a dict
  whose networks are ``torch_utils.persistence`` records), built *without* NVlabs' code: a
  fake ``torch_utils.persistence`` / ``dnnlib.util`` are registered only while pickling, so
  the file names exactly the globals theirs do; tensors are pickled by torch itself
  (``_rebuild_parameter`` → ``_rebuild_tensor_v2`` → ``_load_from_bytes`` of a legacy
  torch.save stream); gains are numpy float64 scalars, kwargs EasyDicts.
- :func:`write_rosinality_checkpoint`: what rosinality's train.py writes (``torch.save`` of
  ``g``, ``g_ema``, optimiser state, ``args`` as an ``argparse.Namespace``, ``ada_aug_p``).

Weights are described once, under NVlabs' names (:func:`random_weights`).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

RESAMPLE = torch.tensor([1.0, 3.0, 3.0, 1.0])
FILTER = torch.outer(RESAMPLE, RESAMPLE) / torch.outer(RESAMPLE, RESAMPLE).sum()


@dataclass(frozen=True)
class Tiny:
    z_dim: int = 8
    w_dim: int = 12
    mapping_layers: int = 2
    resolution: int = 16
    channels: dict = field(default_factory=lambda: {4: 8, 8: 6, 16: 4, 32: 4})
    img_channels: int = 3
    lr: float = 0.01                 # the mapping network's learning-rate multiplier
    conv_clamp: float | None = None

    @property
    def resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.resolution)) + 1)]


def random_weights(cfg: Tiny, seed: int = 0) -> dict:
    """NVlabs-named tensors of a generator of ``cfg``'s size."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape, s=1.0: torch.randn(shape, generator=g) * s  # noqa: E731
    t = {}
    dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
    for i in range(cfg.mapping_layers):
        t[f"mapping.fc{i}.weight"] = rnd(dims[i + 1], dims[i]) / cfg.lr
        t[f"mapping.fc{i}.bias"] = rnd(dims[i + 1], s=0.1) / cfg.lr
    t["mapping.w_avg"] = rnd(cfg.w_dim, s=0.5)

    def layer(prefix, cin, cout, res, k=3, noise=True):
        t[f"{prefix}.affine.weight"] = rnd(cin, cfg.w_dim)
        t[f"{prefix}.affine.bias"] = 1 + rnd(cin, s=0.1)
        t[f"{prefix}.weight"] = rnd(cout, cin, k, k)
        t[f"{prefix}.bias"] = rnd(cout, s=0.1)
        if noise:
            t[f"{prefix}.noise_const"] = rnd(res, res)
            t[f"{prefix}.noise_strength"] = rnd(s=0.2).reshape([])
            t[f"{prefix}.resample_filter"] = FILTER.clone()

    for res in cfg.resolutions:
        b, c = f"synthesis.b{res}", cfg.channels[res]
        t[f"{b}.resample_filter"] = FILTER.clone()
        if res == 4:
            t[f"{b}.const"] = rnd(c, 4, 4)
        else:
            layer(f"{b}.conv0", cfg.channels[res // 2], c, res)
        layer(f"{b}.conv1", c, c, res)
        layer(f"{b}.torgb", c, cfg.img_channels, res, k=1, noise=False)
    return t


# --- NVlabs: persistence records, pickled the way their training loop does ----------------------

@contextlib.contextmanager
def fake_nvlabs_modules():
    """``torch_utils.persistence`` and ``dnnlib.util`` stand-ins, importable while pickling."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}

    def _reconstruct_persistent_obj(meta):   # never called: the reader must not call it
        raise AssertionError("NVlabs' reconstruct hook was called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    mods["dnnlib.util"].EasyDict = EasyDict
    mods["torch_utils"].persistence = mods["torch_utils.persistence"]
    mods["dnnlib"].util = mods["dnnlib.util"]
    sys.modules.update(mods)
    try:
        yield _reconstruct_persistent_obj, EasyDict
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


SOURCE = "import torch\n\nclass Generator(torch.nn.Module):\n    pass\n"   # what NVlabs embeds (abridged)


class Persistent:
    """Pickles like an NVlabs ``@persistent_class`` module: ``_reconstruct_persistent_obj(meta)``."""
    hook = None
    module_src = SOURCE

    def __init__(self, class_name, params=None, buffers=None, modules=None, init_kwargs=None, **attrs):
        self.class_name, self.attrs = class_name, attrs
        self.params, self.buffers, self.modules = params or {}, buffers or {}, modules or {}
        self.init_kwargs = init_kwargs or {}

    def __reduce__(self):
        hooks = ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_state_dict_hooks",
                 "_load_state_dict_pre_hooks")
        state = {"training": False,
                 "_parameters": OrderedDict((k, torch.nn.Parameter(v, requires_grad=False) if v is not None else None)
                                            for k, v in self.params.items()),
                 "_buffers": OrderedDict(self.buffers), "_non_persistent_buffers_set": set(),
                 **{h: OrderedDict() for h in hooks}, "_modules": OrderedDict(self.modules), **self.attrs,
                 "_init_args": (), "_init_kwargs": self.init_kwargs}
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name, state=state)
        return (Persistent.hook, (meta,))


def _fc(t, prefix, activation, lr):
    w = t[f"{prefix}.weight"]
    return Persistent("FullyConnectedLayer", {"weight": w, "bias": t[f"{prefix}.bias"]}, activation=activation,
                      weight_gain=np.float64(lr) / np.sqrt(w.shape[1]), bias_gain=lr)


def nvlabs_generator(cfg: Tiny, t: dict, easydict) -> Persistent:
    """The record tree of an NVlabs ``Generator`` holding tensors ``t``."""
    fcs = {f"fc{i}": _fc(t, f"mapping.fc{i}", "lrelu", cfg.lr) for i in range(cfg.mapping_layers)}
    num_ws = 2 * len(cfg.resolutions)
    mapping = Persistent("MappingNetwork", buffers={"w_avg": t["mapping.w_avg"]}, modules=fcs, z_dim=cfg.z_dim,
                         c_dim=0, w_dim=cfg.w_dim, num_ws=num_ws, num_layers=cfg.mapping_layers, w_avg_beta=0.995)

    def conv(prefix, res, up):
        return Persistent("SynthesisLayer", {k: t[f"{prefix}.{k}"] for k in ("weight", "noise_strength", "bias")},
                          {k: t[f"{prefix}.{k}"] for k in ("resample_filter", "noise_const")},
                          {"affine": _fc(t, f"{prefix}.affine", "linear", 1)}, resolution=res, up=up, use_noise=True,
                          activation="lrelu", conv_clamp=cfg.conv_clamp, padding=1, act_gain=np.sqrt(2))

    blocks = {}
    for res in cfg.resolutions:
        b = f"synthesis.b{res}"
        w = t[f"{b}.torgb.weight"]
        torgb = Persistent("ToRGBLayer", {k: t[f"{b}.torgb.{k}"] for k in ("weight", "bias")},
                           modules={"affine": _fc(t, f"{b}.torgb.affine", "linear", 1)}, conv_clamp=cfg.conv_clamp,
                           weight_gain=1 / np.sqrt(w.shape[1]))
        modules = {"conv1": conv(f"{b}.conv1", res, 1), "torgb": torgb}
        if res > 4:
            modules = {"conv0": conv(f"{b}.conv0", res, 2), **modules}
        blocks[f"b{res}"] = Persistent(
            "SynthesisBlock", {"const": t[f"{b}.const"]} if res == 4 else {},
            {"resample_filter": t[f"{b}.resample_filter"]}, modules,
            init_kwargs=easydict(w_dim=cfg.w_dim, resolution=res, img_channels=cfg.img_channels,
                                 is_last=res == cfg.resolution, use_fp16=False, conv_clamp=cfg.conv_clamp),
            in_channels=0 if res == 4 else cfg.channels[res // 2], w_dim=cfg.w_dim, resolution=res,
            img_channels=cfg.img_channels, is_last=res == cfg.resolution, architecture="skip", use_fp16=False,
            channels_last=False, num_conv=1 if res == 4 else 2, num_torgb=1)
    synthesis = Persistent("SynthesisNetwork", modules=blocks, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
                           img_resolution_log2=int(math.log2(cfg.resolution)), img_channels=cfg.img_channels,
                           block_resolutions=cfg.resolutions, num_ws=num_ws)
    kwargs = easydict(z_dim=cfg.z_dim, w_dim=cfg.w_dim, mapping_kwargs=easydict(num_layers=cfg.mapping_layers),
                      synthesis_kwargs=easydict(channel_base=256, channel_max=8, conv_clamp=cfg.conv_clamp),
                      c_dim=0, img_resolution=cfg.resolution, img_channels=cfg.img_channels)
    return Persistent("Generator", modules={"synthesis": synthesis, "mapping": mapping}, init_kwargs=kwargs,
                      z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
                      img_channels=cfg.img_channels, num_ws=num_ws)


def nvlabs_snapshot_bytes(cfg: Tiny, t: dict, *, protocol: int = 4, g_train: dict | None = None,
                          module_src: str | None = None, tweak=None) -> bytes:
    """The bytes of ``network-snapshot-*.pkl``: G (training weights), D, G_ema (``t``), augment_pipe."""
    with fake_nvlabs_modules() as (hook, easydict):
        Persistent.hook = hook
        if module_src is not None:
            Persistent.module_src = module_src
        try:
            g_ema = nvlabs_generator(cfg, t, easydict)
            if tweak is not None:
                tweak(g_ema)
            g = nvlabs_generator(cfg, g_train if g_train is not None else {k: torch.zeros_like(v) for k, v in t.items()},
                                 easydict)
            d = Persistent("Discriminator", {"b4.conv.weight": torch.randn(4, 4, 3, 3)}, init_kwargs=easydict(c_dim=0))
            aug = Persistent("AugmentPipe", buffers={"p": torch.zeros([]), "Hz_geom": FILTER.clone()},
                             init_kwargs=easydict(xflip=1, rotate90=1, brightness=0.5), p_float=np.float32(0.25))
            data = {"training_set_kwargs": dict(easydict(class_name="training.dataset.ImageFolderDataset",
                                                         path="/data/faces.zip", use_labels=False, max_size=70000,
                                                         xflip=False, resolution=cfg.resolution)),
                    "G": g, "D": d, "G_ema": g_ema, "augment_pipe": aug}
            return pickle.dumps(data, protocol=protocol)
        finally:
            Persistent.hook, Persistent.module_src = None, SOURCE


def write_nvlabs_pickle(path: Path, cfg: Tiny, t: dict, **kw) -> Path:
    path.write_bytes(nvlabs_snapshot_bytes(cfg, t, **kw))
    return path


# --- rosinality: their key names, torch.save'd the way their train.py does -------------------------

def rosinality_state(cfg: Tiny, t: dict) -> dict:
    """``t`` under rosinality stylegan2-pytorch's names and shapes (their Generator's state_dict)."""
    out = {}
    for i in range(cfg.mapping_layers):
        out[f"style.{i + 1}.weight"], out[f"style.{i + 1}.bias"] = t[f"mapping.fc{i}.weight"], t[f"mapping.fc{i}.bias"]

    def styled(theirs, ours, noise, blur=False):
        out[f"{theirs}.conv.weight"] = t[f"{ours}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = t[f"{ours}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = t[f"{ours}.affine.bias"]
        if blur:
            out[f"{theirs}.conv.blur.kernel"] = t[f"{ours}.resample_filter"] * 4
        out[f"{theirs}.noise.weight"] = t[f"{ours}.noise_strength"].reshape(1)
        out[f"{theirs}.activate.bias"] = t[f"{ours}.bias"]
        out[f"noises.{noise}"] = t[f"{ours}.noise_const"][None, None]

    def rgb(theirs, ours, upsample):
        out[f"{theirs}.conv.weight"] = t[f"{ours}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = t[f"{ours}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = t[f"{ours}.affine.bias"]
        out[f"{theirs}.bias"] = t[f"{ours}.bias"].reshape(1, -1, 1, 1)
        if upsample is not None:
            out[f"{theirs}.upsample.kernel"] = upsample * 4

    out["input.input"] = t["synthesis.b4.const"][None]
    styled("conv1", "synthesis.b4.conv1", "noise_0")
    rgb("to_rgb1", "synthesis.b4.torgb", None)
    for k, res in enumerate(cfg.resolutions[1:]):
        b = f"synthesis.b{res}"
        styled(f"convs.{2 * k}", f"{b}.conv0", f"noise_{2 * k + 1}", blur=True)
        styled(f"convs.{2 * k + 1}", f"{b}.conv1", f"noise_{2 * k + 2}")
        rgb(f"to_rgbs.{k}", f"{b}.torgb", t[f"{b}.resample_filter"])
    return {k: v.clone() for k, v in out.items()}


def write_rosinality_checkpoint(path: Path, cfg: Tiny, t: dict, *, latent_avg: bool = False,
                                legacy: bool = False) -> Path:
    g_ema = rosinality_state(cfg, t)
    if latent_avg:   # their convert_weight.py: g_ema and the TF file's dlatent_avg
        ckpt = {"g_ema": g_ema, "latent_avg": t["mapping.w_avg"].clone()}
    else:            # their train.py
        params = [torch.nn.Parameter(v.clone()) for v in g_ema.values()]
        optim = torch.optim.Adam(params, lr=0.002, betas=(0.0, 0.99))
        ckpt = {"g": {k: v.clone() for k, v in g_ema.items()}, "d": {"convs.0.0.weight": torch.randn(4, 3, 1, 1)},
                "g_ema": g_ema, "g_optim": optim.state_dict(), "d_optim": optim.state_dict(),
                "args": argparse.Namespace(path="/data/lmdb", arch="stylegan2", size=cfg.resolution, latent=cfg.w_dim,
                                           n_mlp=cfg.mapping_layers, channel_multiplier=2, r1=10.0, lr=0.002),
                "ada_aug_p": 0.0}
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return path


# --- NVlabs StyleGAN3 (alias-free): Fourier-feature input, filtered layers ------------------------

@dataclass(frozen=True)
class Tiny3:
    """Input 12x12 at sampling rate 8, one upsampling-by-2 layer at 12x12, one critically sampled
    layer down to the 8x8 image, ToRGB."""
    z_dim: int = 8
    w_dim: int = 8
    channels: int = 6
    taps: int = 6                 # filter taps per layer (NVlabs: filter_size * up_factor)
    size: int = 12
    sampling_rate: float = 8.0
    bandwidth: float = 2.0
    resolution: int = 8
    conv_clamp: float | None = 256.0

    @property
    def layers(self) -> list[tuple]:
        """(name, in_size, out_size, out_channels, kernel, up, down, is_torgb)"""
        c = self.channels
        return [("L0_12_6", self.size, self.size, c, 3, 2, 2, False),
                ("L1_8_6", self.size, self.resolution, c, 3, 2, 2, False),
                ("L2_8_3", self.resolution, self.resolution, 3, 1, 1, 1, True)]


def sg3_padding(in_size, out_size, kernel, up, down, up_taps, down_taps) -> list[int]:
    """NVlabs SynthesisLayer's padding (their formula)."""
    total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
    lo = (total + up) // 2
    return [lo, total - lo, lo, total - lo]


def random_weights3(cfg: Tiny3, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape, s=1.0: torch.randn(shape, generator=g) * s  # noqa: E731
    t = {"mapping.fc0.weight": rnd(cfg.w_dim, cfg.z_dim) * 100, "mapping.fc0.bias": rnd(cfg.w_dim),
         "mapping.fc1.weight": rnd(cfg.w_dim, cfg.w_dim) * 100, "mapping.fc1.bias": rnd(cfg.w_dim),
         "mapping.w_avg": rnd(cfg.w_dim, s=0.5)}
    c = cfg.channels
    freqs = rnd(c, 2)
    t.update({"synthesis.input.weight": rnd(c, c), "synthesis.input.affine.weight": rnd(4, cfg.w_dim, s=0.3),
              "synthesis.input.affine.bias": torch.tensor([1.0, 0.1, 0.2, -0.3]),
              "synthesis.input.transform": torch.eye(3),
              "synthesis.input.freqs": freqs / freqs.norm(dim=1, keepdim=True) * cfg.bandwidth * 0.9,
              "synthesis.input.phases": torch.rand(c, generator=g) - 0.5})
    window = torch.hann_window(cfg.taps + 2, periodic=False)[1:-1]
    lowpass = window / window.sum()
    cin = c
    for name, _i, _o, cout, k, up, down, torgb in cfg.layers:
        p = f"synthesis.{name}"
        t.update({f"{p}.affine.weight": rnd(cin, cfg.w_dim), f"{p}.affine.bias": 1 + rnd(cin, s=0.1),
                  f"{p}.weight": rnd(cout, cin, k, k), f"{p}.bias": rnd(cout, s=0.1),
                  f"{p}.magnitude_ema": torch.rand([], generator=g) + 0.5})
        if not torgb:
            t[f"{p}.up_filter"], t[f"{p}.down_filter"] = lowpass.clone(), lowpass.clone()
        cin = cout
    return t


def nvlabs_generator3(cfg: Tiny3, t: dict, easydict) -> Persistent:
    fcs = {f"fc{i}": _fc(t, f"mapping.fc{i}", "lrelu", 0.01) for i in range(2)}
    num_ws = len(cfg.layers) + 1
    mapping = Persistent("MappingNetwork", buffers={"w_avg": t["mapping.w_avg"]}, modules=fcs, z_dim=cfg.z_dim, c_dim=0,
                         w_dim=cfg.w_dim, num_ws=num_ws, num_layers=2, w_avg_beta=0.998)
    i = "synthesis.input"
    inp = Persistent("SynthesisInput", {"weight": t[f"{i}.weight"]},
                     {k: t[f"{i}.{k}"] for k in ("transform", "freqs", "phases")},
                     {"affine": _fc(t, f"{i}.affine", "linear", 1)}, w_dim=cfg.w_dim, channels=cfg.channels,
                     size=np.broadcast_to(np.asarray(cfg.size), [2]), sampling_rate=np.float64(cfg.sampling_rate),
                     bandwidth=np.float64(cfg.bandwidth))
    layers, cin = {}, cfg.channels
    for name, isz, osz, cout, k, up, down, torgb in cfg.layers:
        p = f"synthesis.{name}"
        taps = (1, 1) if torgb else (cfg.taps, cfg.taps)
        layers[name] = Persistent(
            "SynthesisLayer", {k_: t[f"{p}.{k_}"] for k_ in ("weight", "bias")},
            {"magnitude_ema": t[f"{p}.magnitude_ema"], "up_filter": t.get(f"{p}.up_filter"),
             "down_filter": t.get(f"{p}.down_filter")}, {"affine": _fc(t, f"{p}.affine", "linear", 1)},
            w_dim=cfg.w_dim, is_torgb=torgb, in_channels=cin, out_channels=cout,
            in_size=np.broadcast_to(np.asarray(isz), [2]), out_size=np.broadcast_to(np.asarray(osz), [2]),
            conv_kernel=k, conv_clamp=cfg.conv_clamp, up_factor=up, down_factor=down, up_taps=taps[0],
            down_taps=taps[1], padding=sg3_padding(isz, osz, k, up, down, *taps))
        cin = cout
    synthesis = Persistent("SynthesisNetwork", modules={"input": inp, **layers}, w_dim=cfg.w_dim, num_ws=num_ws,
                           img_resolution=cfg.resolution, img_channels=3, num_layers=len(cfg.layers) - 1,
                           output_scale=0.25, layer_names=[n for n, *_ in cfg.layers])
    return Persistent("Generator", modules={"synthesis": synthesis, "mapping": mapping}, z_dim=cfg.z_dim, c_dim=0,
                      w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=3, num_ws=num_ws)


def write_nvlabs3_pickle(path: Path, cfg: Tiny3, t: dict) -> Path:
    with fake_nvlabs_modules() as (hook, easydict):
        Persistent.hook = hook
        try:
            g = nvlabs_generator3(cfg, t, easydict)
            path.write_bytes(pickle.dumps({"training_set_kwargs": None, "G": g, "D": None, "G_ema": g,
                                           "augment_pipe": None}))
        finally:
            Persistent.hook = None
    return path

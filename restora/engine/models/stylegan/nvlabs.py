"""NVlabs StyleGAN2-ADA / StyleGAN3 ``.pkl`` files, read as data into our StyleGAN2 or StyleGAN3.

The pickle (see :mod:`.pickle_reader`) is a dict ``training_set_kwargs, G, D, G_ema,
augment_pipe``; we sample from ``G_ema`` (the moving average of the weights NVlabs' own
generate.py uses, not ``G``). Every persistent record carries its module's ``__dict__``, so the
network's layout is read from the recorded attributes (``in_channels``, ``up``, ``conv_clamp``,
``weight_gain``, ...) and the tensors' shapes, not by running the embedded source.

Seeds follow NVlabs' generate.py: seed N is ``np.random.RandomState(N).randn(1, z_dim)``,
``noise_mode='const'``, and pixels are ``(x * 127.5 + 128).clamp(0, 255)`` truncated to uint8.
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ...jobs import ModelError
from .network import BlockSpec, ConvSpec, DenseSpec, MappingSpec, RGBSpec, SkipSpec, StyleGAN2Spec, build
from .network3 import InputSpec, Layer3Spec, StyleGAN3, StyleGAN3Spec
from .network3 import check_spec as check_spec3
from .pickle_reader import Record, read_pickle

# Layer counts a real generator stays far below (NVlabs: 2 or 8 mapping layers, 15 StyleGAN3
# layers; StyleGAN2 has a block per doubling, 4 to 8192 px): a file's own count would otherwise
# size the loops and the network built to compare shapes with (a name listed 100 000 times).
MAX_MAPPING_LAYERS = 64
MAX_LAYERS3 = 64
MAX_BLOCKS = 12

def load(path: Path):
    """Our network (StyleGAN2 or StyleGAN3) with the file's ``G_ema`` weights."""
    data = read_pickle(path)
    size = path.stat().st_size
    if not isinstance(data, dict) or not isinstance(data.get("G_ema"), Record):
        raise ModelError(f"{path}: an NVlabs pickle without a G_ema generator (not a StyleGAN training snapshot)")
    g = data["G_ema"]
    kind = "StyleGAN3" if is_stylegan3(g) else "StyleGAN2"
    try:
        if kind == "StyleGAN3":
            spec = spec3_of(g)
            net = build(spec, state_of(g, spec, size), StyleGAN3, check_spec3)
        else:
            spec = spec_of(g)
            net = build(spec, state_of(g, spec, size))
    except ModelError as exc:   # a kind of generator we do not run: say which
        raise ModelError(f"{path}: {exc}") from None
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError, AttributeError, ArithmeticError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ModelError(f"{path}: not a {kind} generator Restora can rebuild ({first})") from None
    return net


def _num(value, what: str) -> float:
    try:   # float() of an int of 400 digits overflows
        number = None if isinstance(value, bool) or not isinstance(value, numbers.Real) else float(value)
    except OverflowError:
        number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{what} is not a number")
    return number


def _int(record: Record, name: str, default=None) -> int:
    value = record.attr(name, record.init_kwargs.get(name, default))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{record.class_name}.{name} is not a whole number")
    return int(value)


def _str(record: Record, name: str, default: str) -> str:
    """A recorded name (``activation``, ``architecture``). Only a str: str() of what a file holds
    could be a list shared 2**60 ways, printed forever."""
    value = record.attr(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{record.class_name}.{name} is not a name")
    return value


def _clamp(record: Record) -> Optional[float]:
    value = record.attr("conv_clamp")
    return None if value is None else _num(value, "conv_clamp")


def _child(record: Record, name: str) -> Record:
    child = record.modules.get(name)
    if not isinstance(child, Record):
        raise ValueError(f"{record.class_name} has no '{name}' layer")
    return child


def _weight(record: Record) -> torch.Tensor:
    w = record.parameters.get("weight", record.buffers.get("weight"))
    if not isinstance(w, torch.Tensor):
        raise ValueError(f"{record.class_name} has no weight")
    return w


def _dense(record: Record) -> DenseSpec:
    out_f, in_f = _weight(record).shape
    return DenseSpec(int(in_f), int(out_f), _str(record, "activation", "linear"),
                     _num(record.attr("weight_gain"), "weight_gain"), _num(record.attr("bias_gain", 1), "bias_gain"))


def _filter_shape(record: Record) -> tuple:
    f = record.buffers.get("resample_filter")
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() > 64:
        raise ValueError(f"{record.class_name} has no usable resample filter")
    return tuple(f.shape)


def _conv(record: Record) -> ConvSpec:
    out_ch, in_ch, k, _ = _weight(record).shape
    return ConvSpec(int(in_ch), int(out_ch), _int(record, "resolution"), _dense(_child(record, "affine")),
                    kernel_size=int(k), up=_int(record, "up", 1), use_noise=bool(record.attr("use_noise", True)),
                    activation=_str(record, "activation", "lrelu"),
                    act_gain=_num(record.attr("act_gain", math.sqrt(2)), "act_gain"), conv_clamp=_clamp(record),
                    filter_shape=_filter_shape(record))


def _block(record: Record, img_channels: int) -> BlockSpec:
    in_ch = _int(record, "in_channels")
    conv1 = _conv(_child(record, "conv1"))
    torgb = skip = None
    if "torgb" in record.modules:
        rgb = _child(record, "torgb")
        out_ch, rgb_in, k, _ = _weight(rgb).shape
        torgb = RGBSpec(int(rgb_in), int(out_ch), _dense(_child(rgb, "affine")), int(k),
                        _num(rgb.attr("weight_gain"), "weight_gain"), _clamp(rgb))
    if "skip" in record.modules:
        sk = _child(record, "skip")
        out_ch, sk_in, _, _ = _weight(sk).shape
        skip = SkipSpec(int(sk_in), int(out_ch), _num(sk.attr("weight_gain"), "weight_gain"), _filter_shape(sk))
    return BlockSpec(_int(record, "resolution"), in_ch, conv1.out_channels, img_channels,
                     _str(record, "architecture", "skip"), _conv(_child(record, "conv0")) if in_ch else None,
                     conv1, torgb, skip, _filter_shape(record))


def is_stylegan3(g: Record) -> bool:
    """Fourier-feature synthesis (an ``input`` layer) instead of StyleGAN2's ``b4 .. bN`` blocks."""
    synthesis = g.modules.get("synthesis")
    return isinstance(synthesis, Record) and "input" in synthesis.modules


def _mapping(g: Record) -> MappingSpec:
    if g.class_name != "Generator":
        raise ValueError(f"G_ema is a {g.class_name}, not a Generator")
    if _int(g, "c_dim", 0):
        raise ModelError("a conditional (class-label) generator; Restora samples unconditional ones")
    mapping = _child(g, "mapping")
    num_layers = _int(mapping, "num_layers", 8)
    if not 0 < num_layers <= MAX_MAPPING_LAYERS:
        raise ValueError(f"{num_layers} mapping layers")
    layers = tuple(_dense(_child(mapping, f"fc{i}")) for i in range(num_layers))
    return MappingSpec(_int(g, "z_dim"), _int(g, "w_dim"), layers, isinstance(mapping.buffers.get("w_avg"), torch.Tensor))


def _check_num_ws(g: Record, spec) -> None:
    num_ws = g.attr("num_ws")
    if num_ws is None:
        return
    if isinstance(num_ws, bool) or not isinstance(num_ws, int):   # never formatted: it may be anything
        raise ValueError("the file's count of W inputs is not a whole number")
    if num_ws != spec.num_ws:
        raise ValueError(f"the file says {num_ws} W inputs, its layers take {spec.num_ws}")


def spec_of(g: Record) -> StyleGAN2Spec:
    """The StyleGAN2 network a ``Generator`` record describes."""
    mapping_spec = _mapping(g)
    synthesis = _child(g, "synthesis")
    img_channels = _int(g, "img_channels", 3)
    names = [n for n in synthesis.modules if isinstance(n, str) and n.startswith("b") and n[1:].isdigit()]
    if len(names) > MAX_BLOCKS:
        raise ValueError(f"{len(names)} synthesis blocks")
    names.sort(key=lambda n: int(n[1:]))
    blocks = tuple(_block(_child(synthesis, n), img_channels) for n in names)
    spec = StyleGAN2Spec(mapping_spec, blocks, _int(g, "img_resolution"), img_channels)
    _check_num_ws(g, spec)
    return spec


def _pair(value, what: str) -> tuple:
    """A recorded ``[width, height]`` (a numpy array, list or int) as two ints."""
    values = list(value.tolist() if hasattr(value, "tolist") else value) if not isinstance(value, int) else [value]
    values = values * 2 if len(values) == 1 else values
    if len(values) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{what} is not a size")
    return tuple(values)


def _filter(record: Record, name: str) -> Optional[tuple]:
    f = record.buffers.get(name)
    if f is None:
        return None
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() > 4096:
        raise ValueError(f"{name} of {record.class_name} is not a FIR filter")
    return tuple(f.shape)


def _layer3(name: str, record: Record) -> Layer3Spec:
    out_ch, in_ch, k, _ = _weight(record).shape
    padding = record.attr("padding")
    if not (isinstance(padding, (list, tuple)) and len(padding) == 4 and all(type(p) is int for p in padding)):
        raise ValueError(f"{name}: no padding recorded")
    return Layer3Spec(name, int(in_ch), int(out_ch), _pair(record.attr("in_size"), "in_size"),
                      _pair(record.attr("out_size"), "out_size"), int(k), bool(record.attr("is_torgb", False)),
                      _int(record, "up_factor"), _int(record, "down_factor"), tuple(padding), _clamp(record),
                      _dense(_child(record, "affine")), _filter(record, "up_filter"), _filter(record, "down_filter"))


def spec3_of(g: Record) -> StyleGAN3Spec:
    """The StyleGAN3 network a ``Generator`` record describes (layers in ``layer_names`` order)."""
    mapping_spec = _mapping(g)
    synthesis = _child(g, "synthesis")
    inp = _child(synthesis, "input")
    channels = int(_weight(inp).shape[0])
    input_spec = InputSpec(channels, _pair(inp.attr("size"), "size"), _num(inp.attr("sampling_rate"), "sampling_rate"),
                           _num(inp.attr("bandwidth"), "bandwidth"), _dense(_child(inp, "affine")))
    names = synthesis.attr("layer_names")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise ValueError("the synthesis network lists no layers")
    if len(names) > MAX_LAYERS3 or len(set(names)) != len(names):
        raise ValueError("the synthesis network lists too many layers, or one twice")
    layers = tuple(_layer3(n, _child(synthesis, n)) for n in names)
    spec = StyleGAN3Spec(mapping_spec, input_spec, layers, _int(g, "img_resolution"), _int(g, "img_channels", 3),
                         _num(synthesis.attr("output_scale", 0.25), "output_scale"))
    _check_num_ws(g, spec)
    return spec


def state_of(g: Record, spec, file_size: int) -> dict:
    """The record tree's tensors under their dotted names (torch state-dict names).

    A pickle's memo lets one record or tensor appear under any number of names for a few bytes
    each: each record is walked once (a module tree shares none), and the tensors are copied
    only if they hold no more elements than the file has bytes (each element takes at least one
    there), so a small file cannot ask for gigabytes of copies."""
    found: dict = {}
    seen: set = set()

    def walk(record: Record, prefix: str, depth: int) -> None:
        if depth > 8:
            raise ValueError("layers nested too deep")
        if id(record) in seen:
            raise ValueError(f"{prefix[:-1]} is a layer recorded in two places")
        seen.add(id(record))
        for table in (record.parameters, record.buffers):
            for name, value in table.items():
                if isinstance(value, torch.Tensor):
                    found[prefix + str(name)] = value
        for name, child in record.modules.items():
            if isinstance(child, Record):
                walk(child, f"{prefix}{name}.", depth + 1)

    for name in ("mapping", "synthesis"):
        walk(_child(g, name), f"{name}.", 0)
    if sum(t.numel() for t in found.values()) > file_size:
        raise ValueError("its tensors share memory: more elements than the file has bytes")
    # copies: the reader's tensors view the file's bytes
    state = {name: value.to(torch.float32, copy=True) for name, value in found.items()}
    for i, layer in enumerate(spec.mapping.layers):   # layers recorded without a bias add none
        state.setdefault(f"mapping.fc{i}.bias", torch.zeros(layer.out_features))
    if not spec.mapping.has_w_avg:
        state["mapping.w_avg"] = torch.zeros(spec.w_dim)
    return state


def seed_latent(seed: int, z_dim: int) -> torch.Tensor:
    """NVlabs generate.py's latent for ``seed`` (float64, as they draw it)."""
    return torch.from_numpy(np.random.RandomState(seed).randn(1, z_dim))[0]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """NCHW in [-1, 1] to NHWC uint8, NVlabs' way (truncating)."""
    return (x.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()

"""Our StyleGAN3 (alias-free) generator in plain PyTorch: NVlabs stylegan3 ``networks_stylegan3.py``
through the reference path of its ops (``filtered_lrelu`` = bias, FIR upsampling, leaky ReLU,
clamp, FIR downsampling), float32 everywhere. Names are NVlabs' (``synthesis.input.freqs``,
``synthesis.L3_52_512.up_filter``, ...). The mapping network is StyleGAN2's.

The layers' filters, sizes and paddings are the file's (buffers and recorded attributes), so
nothing is redesigned here: no scipy filter design is needed to sample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .network import Dense, DenseSpec, MappedSpec, MappingSpec, StyleGAN2, upfirdn2d

MAX_SIZE = 1 << 14


@dataclass(frozen=True)
class InputSpec:
    """SynthesisInput: Fourier features of a grid, rotated and shifted by an affine of w."""
    channels: int
    size: tuple                 # (width, height)
    sampling_rate: float
    bandwidth: float
    affine: DenseSpec


@dataclass(frozen=True)
class Layer3Spec:
    name: str                   # NVlabs' layer name, "L3_52_512"
    in_channels: int
    out_channels: int
    in_size: tuple              # (width, height)
    out_size: tuple
    kernel: int
    is_torgb: bool
    up: int
    down: int
    padding: tuple              # (x0, x1, y0, y1) of filtered_lrelu
    conv_clamp: Optional[float]
    affine: DenseSpec
    up_filter: Optional[tuple]  # the filter's shape, None = identity
    down_filter: Optional[tuple]


@dataclass(frozen=True)
class StyleGAN3Spec(MappedSpec):
    mapping: MappingSpec
    input: InputSpec
    layers: tuple               # Layer3Spec, ...; the last is ToRGB
    img_resolution: int
    img_channels: int
    output_scale: float = 0.25

    @property
    def num_ws(self) -> int:
        return len(self.layers) + 1


def modulated_conv2d(x, weight, styles, *, demodulate: bool, padding: int, input_gain) -> torch.Tensor:
    """StyleGAN3's modulated convolution: weights and styles pre-normalised to unit RMS (styles
    over the whole batch, as NVlabs does: one image per batch here), demodulated, input gain."""
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    w, s = weight, styles
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    w = w.unsqueeze(0) * s.unsqueeze(1).unsqueeze(3).unsqueeze(4)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        w = w * input_gain.expand(batch, in_ch).unsqueeze(1).unsqueeze(3).unsqueeze(4)
    x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_ch, kh, kw), padding=padding, groups=batch)
    return x.reshape(batch, -1, *x.shape[2:])


def filtered_lrelu(x, fu, fd, b, up: int, down: int, padding: tuple, gain: float, slope: float,
                   clamp: Optional[float]) -> torch.Tensor:
    """NVlabs ``_filtered_lrelu_ref``: bias, upsample (gain up^2), leaky ReLU * gain, clamp, downsample."""
    x = x + b.reshape(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2)
    x = F.leaky_relu(x, slope)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


class SynthesisInput(nn.Module):
    def __init__(self, spec: InputSpec, w_dim: int):
        super().__init__()
        self.spec = spec
        c = spec.channels
        self.weight = nn.Parameter(torch.zeros(c, c))
        self.affine = Dense(spec.affine)
        self.register_buffer("transform", torch.zeros(3, 3))
        self.register_buffer("freqs", torch.zeros(c, 2))
        self.register_buffer("phases", torch.zeros(c))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        s = self.spec
        transforms = self.transform.unsqueeze(0)
        freqs, phases = self.freqs.unsqueeze(0), self.phases.unsqueeze(0)
        t = self.affine(w)                                   # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat([w.shape[0], 1, 1])   # inverse rotation
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device).unsqueeze(0).repeat([w.shape[0], 1, 1])   # inverse translation
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ transforms
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        amplitudes = (1 - (freqs.norm(dim=2) - s.bandwidth) / (s.sampling_rate / 2 - s.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * s.size[0] / s.sampling_rate
        theta[1, 1] = 0.5 * s.size[1] / s.sampling_rate
        grids = F.affine_grid(theta.unsqueeze(0), [1, 1, s.size[1], s.size[0]], align_corners=False)
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (math.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / math.sqrt(s.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer3(nn.Module):
    def __init__(self, spec: Layer3Spec):
        super().__init__()
        self.spec = spec
        self.affine = Dense(spec.affine)
        self.weight = nn.Parameter(torch.zeros(spec.out_channels, spec.in_channels, spec.kernel, spec.kernel))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        for name, shape in (("up_filter", spec.up_filter), ("down_filter", spec.down_filter)):
            self.register_buffer(name, torch.zeros(shape) if shape is not None else None)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.spec
        styles = self.affine(w)
        if s.is_torgb:
            styles = styles * (1 / math.sqrt(s.in_channels * s.kernel ** 2))
        x = modulated_conv2d(x, self.weight, styles, demodulate=not s.is_torgb, padding=s.kernel - 1,
                             input_gain=self.magnitude_ema.rsqrt())
        gain, slope = (1.0, 1.0) if s.is_torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, s.up, s.down, s.padding, gain, slope,
                              s.conv_clamp)


class SynthesisNetwork3(nn.Module):
    def __init__(self, spec: StyleGAN3Spec):
        super().__init__()
        self.spec = spec
        self.input = SynthesisInput(spec.input, spec.w_dim)
        for layer in spec.layers:
            setattr(self, layer.name, SynthesisLayer3(layer))

    def forward(self, ws: torch.Tensor, check: Optional[Callable[[], None]] = None) -> torch.Tensor:
        ws = ws.unbind(dim=1)
        x = self.input(ws[0])
        for layer, w in zip(self.spec.layers, ws[1:]):
            if check is not None:
                check()
            x = getattr(self, layer.name)(x, w)
        return x * self.spec.output_scale if self.spec.output_scale != 1 else x


class StyleGAN3(StyleGAN2):
    """The same interface as :class:`~.network.StyleGAN2` (mapping, truncate, synthesize)."""
    kind = "StyleGAN3"

    def __init__(self, spec: StyleGAN3Spec):
        super().__init__(spec, SynthesisNetwork3(spec))

    def forward(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        return self.synthesize(self.truncate(self.mapping(z), psi))


def check_spec(spec: StyleGAN3Spec) -> None:
    """ValueError (in words) for sizes that do not chain, or that claim far more than a file holds."""
    res = spec.img_resolution
    if not (4 <= res <= 8192) or not spec.layers or not spec.layers[-1].is_torgb:
        raise ValueError("not a StyleGAN3 synthesis network (size, or no RGB output layer)")
    size = tuple(spec.input.size)
    if not all(0 < v <= MAX_SIZE for v in size) or spec.input.sampling_rate <= 0:
        raise ValueError(f"input size {size} is out of range")
    for layer in spec.layers:
        if tuple(layer.in_size) != size or not all(0 < v <= MAX_SIZE for v in layer.out_size):
            raise ValueError(f"layer {layer.name}: sizes do not chain")
        if not (1 <= layer.up <= 16 and 1 <= layer.down <= 16) or any(abs(p) > MAX_SIZE for p in layer.padding):
            raise ValueError(f"layer {layer.name}: resampling out of range")
        fu = layer.up_filter[-1] if layer.up_filter else 1
        fd = layer.down_filter[-1] if layer.down_filter else 1
        for axis, (p0, p1) in enumerate((layer.padding[:2], layer.padding[2:])):
            conv = size[axis] + layer.kernel - 1        # the modulated conv pads kernel-1 on each side
            out = (conv * layer.up + p0 + p1 - (fu - 1) - (fd - 1) + layer.down - 1) // layer.down
            if out != layer.out_size[axis]:
                raise ValueError(f"layer {layer.name}: padding gives {out} pixels, not {layer.out_size[axis]}")
        size = tuple(layer.out_size)
    if size != (res, res):
        raise ValueError(f"the last layer makes {size}, not {res}x{res}")

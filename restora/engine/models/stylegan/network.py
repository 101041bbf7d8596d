"""Our StyleGAN2 generator in plain PyTorch (CPU and CUDA, no custom ops).

The numerical semantics are those of NVlabs' stylegan2-ada-pytorch ``training/networks.py``
run through the reference paths of its ops (``bias_act``, ``upfirdn2d``, ``conv2d_resample``)
with ``fused_modconv`` on, in float32 everywhere. Parameter and buffer names are NVlabs'
(``mapping.fc0.weight``, ``synthesis.b8.conv0.noise_const``, ...), stored raw: gains (the
equalised learning rate) are applied at run time, as NVlabs does. A file's loader (``nvlabs``,
``rosinality``) describes the network as a :class:`StyleGAN2Spec` and hands over a state dict
in these names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"linear": 1.0, "relu": math.sqrt(2), "lrelu": math.sqrt(2)}   # name → default gain
LRELU_SLOPE = 0.2
ARCHITECTURES = ("orig", "skip", "resnet")


@dataclass(frozen=True)
class DenseSpec:
    """A FullyConnectedLayer: ``act(x @ (W * weight_gain).T + b * bias_gain) * gain``."""
    in_features: int
    out_features: int
    activation: str = "linear"
    weight_gain: float = 1.0
    bias_gain: float = 1.0


@dataclass(frozen=True)
class ConvSpec:
    """A SynthesisLayer: modulated (demodulated) conv, optional 2x upsampling, noise, bias+act."""
    in_channels: int
    out_channels: int
    resolution: int                 # output size
    affine: DenseSpec
    kernel_size: int = 3
    up: int = 1
    use_noise: bool = True
    activation: str = "lrelu"
    act_gain: float = math.sqrt(2)
    conv_clamp: Optional[float] = None
    filter_shape: tuple = (4, 4)


@dataclass(frozen=True)
class RGBSpec:
    """A ToRGBLayer: modulated conv without demodulation, bias, clamp."""
    in_channels: int
    out_channels: int
    affine: DenseSpec
    kernel_size: int = 1
    weight_gain: float = 1.0
    conv_clamp: Optional[float] = None


@dataclass(frozen=True)
class SkipSpec:
    """The resnet architecture's 1x1 upsampling shortcut (a Conv2dLayer without bias)."""
    in_channels: int
    out_channels: int
    weight_gain: float
    filter_shape: tuple = (4, 4)


@dataclass(frozen=True)
class BlockSpec:
    resolution: int
    in_channels: int                # 0 = the first block, starting from a learned constant
    out_channels: int
    img_channels: int
    architecture: str
    conv0: Optional[ConvSpec]
    conv1: ConvSpec
    torgb: Optional[RGBSpec]
    skip: Optional[SkipSpec] = None
    filter_shape: tuple = (4, 4)

    @property
    def num_conv(self) -> int:
        return 1 + (self.conv0 is not None)

    @property
    def num_torgb(self) -> int:
        return int(self.torgb is not None)


@dataclass(frozen=True)
class MappingSpec:
    z_dim: int
    w_dim: int
    layers: tuple                  # DenseSpec, ...
    has_w_avg: bool = True


class MappedSpec:
    """z and w sizes of a generator spec, read from its ``mapping`` (StyleGAN2 and 3 alike)."""

    @property
    def z_dim(self) -> int:
        return self.mapping.z_dim

    @property
    def w_dim(self) -> int:
        return self.mapping.w_dim


@dataclass(frozen=True)
class StyleGAN2Spec(MappedSpec):
    mapping: MappingSpec
    blocks: tuple                  # BlockSpec, 4x4 first
    img_resolution: int
    img_channels: int

    @property
    def num_ws(self) -> int:
        return sum(b.num_conv for b in self.blocks) + self.blocks[-1].num_torgb


# --- ops: NVlabs' reference semantics ---------------------------------------------------------

def bias_act(x: torch.Tensor, b: Optional[torch.Tensor], act: str = "linear", gain: float = 1.0,
             clamp: Optional[float] = None) -> torch.Tensor:
    """Add a per-channel bias, activate, scale by ``gain``, clamp to +-clamp."""
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif act == "relu":
        x = F.relu(x)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: int = 1, down: int = 1, padding=(0, 0, 0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative = crop), convolve with FIR ``f`` (a true
    convolution), downsample by dropping pixels. ``f``: 2-D, or 1-D taps applied separably."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is None:   # the identity filter: NVlabs convolves with a 1x1 [gain]
        x = x * gain if gain != 1 else x
        return x[:, :, ::down, ::down] if down > 1 else x
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype).flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None, :].repeat(c, 1, 1, 1), groups=c)   # rows, then columns (NVlabs)
        x = F.conv2d(x, f[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def filter_size(f: torch.Tensor) -> int:
    return int(f.shape[-1])


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x FIR upsampling whose output is exactly twice the input size (NVlabs upsample2d)."""
    fw = filter_size(f)
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return upfirdn2d(x, f, up=2, padding=(p0, p1, p0, p1), gain=4)


def _conv_up2(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, padding: int, groups: int) -> torch.Tensor:
    """NVlabs conv2d_resample with up=2 (a true convolution of the upsampled image): a stride-2
    transposed convolution, then the FIR filter over what it left."""
    out_ch, in_per_group, kh, kw = w.shape
    fw = filter_size(f)
    p0 = padding + (fw + 1) // 2 - (kw - 1)
    p1 = padding + (fw - 2) // 2 - (kw - 2)
    pt = max(min(-p0, -p1), 0)
    if groups == 1:
        w = w.transpose(0, 1)
    else:
        w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        w = w.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    x = F.conv_transpose2d(x, w, stride=2, padding=pt, groups=groups)
    return upfirdn2d(x, f, padding=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=4)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                     up: int = 1, padding: int = 0, f: Optional[torch.Tensor] = None,
                     noise: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-sample weights ``W * s`` (each output row scaled to unit norm when demodulating), as
    one grouped convolution; ``noise`` is added to the result."""
    batch, in_ch, h, w_ = x.shape
    out_ch, _, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, h, w_)
    w = w.reshape(-1, in_ch, kh, kw)
    if up == 1:
        x = F.conv2d(x, w, padding=padding, groups=batch)
    else:
        x = _conv_up2(x, w, f, padding, batch)
    x = x.reshape(batch, -1, *x.shape[2:])
    return x + noise if noise is not None else x


# --- layers ----------------------------------------------------------------------------------

class Dense(nn.Module):
    def __init__(self, spec: DenseSpec):
        super().__init__()
        self.spec = spec
        self.weight = nn.Parameter(torch.zeros(spec.out_features, spec.in_features))
        self.bias = nn.Parameter(torch.zeros(spec.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        w = self.weight * s.weight_gain
        b = self.bias * s.bias_gain if s.bias_gain != 1 else self.bias
        if s.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, s.activation, ACTIVATIONS[s.activation])


class StyledConv(nn.Module):
    def __init__(self, spec: ConvSpec):
        super().__init__()
        self.spec = spec
        k = spec.kernel_size
        self.affine = Dense(spec.affine)
        self.weight = nn.Parameter(torch.zeros(spec.out_channels, spec.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("resample_filter", torch.zeros(spec.filter_shape))
        if spec.use_noise:
            self.register_buffer("noise_const", torch.zeros(spec.resolution, spec.resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        s = self.spec
        noise = self.noise_const * self.noise_strength if s.use_noise else None   # noise_mode='const'
        x = modulated_conv2d(x, self.weight, self.affine(w), up=s.up, padding=s.kernel_size // 2,
                             f=self.resample_filter, noise=noise)
        clamp = s.conv_clamp * gain if s.conv_clamp is not None else None
        return bias_act(x, self.bias, s.activation, s.act_gain * gain, clamp)


class ToRGB(nn.Module):
    def __init__(self, spec: RGBSpec):
        super().__init__()
        self.spec = spec
        k = spec.kernel_size
        self.affine = Dense(spec.affine)
        self.weight = nn.Parameter(torch.zeros(spec.out_channels, spec.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.spec.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)   # NVlabs: no padding (1x1)
        return bias_act(x, self.bias, clamp=self.spec.conv_clamp)


class Skip(nn.Module):
    def __init__(self, spec: SkipSpec):
        super().__init__()
        self.spec = spec
        self.weight = nn.Parameter(torch.zeros(spec.out_channels, spec.in_channels, 1, 1))
        self.register_buffer("resample_filter", torch.zeros(spec.filter_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1x1 conv first, then the FIR upsampling (NVlabs' fast path), linear, gain sqrt(1/2)
        x = F.conv2d(x, self.weight * self.spec.weight_gain)
        fw = filter_size(self.resample_filter)
        p0, p1 = (fw + 1) // 2, (fw - 2) // 2
        x = upfirdn2d(x, self.resample_filter, up=2, padding=(p0, p1, p0, p1), gain=4)
        return x * math.sqrt(0.5)


class SynthesisBlock(nn.Module):
    def __init__(self, spec: BlockSpec):
        super().__init__()
        self.spec = spec
        self.register_buffer("resample_filter", torch.zeros(spec.filter_shape))
        if spec.in_channels == 0:
            self.const = nn.Parameter(torch.zeros(spec.out_channels, spec.resolution, spec.resolution))
        else:
            self.conv0 = StyledConv(spec.conv0)
        self.conv1 = StyledConv(spec.conv1)
        if spec.torgb is not None:
            self.torgb = ToRGB(spec.torgb)
        if spec.skip is not None:
            self.skip = Skip(spec.skip)

    def forward(self, x, img, ws: torch.Tensor):
        s = self.spec
        w_iter = iter(ws.unbind(dim=1))
        if s.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter))
        elif s.architecture == "resnet":
            y = self.skip(x)
            x = self.conv0(x, next(w_iter))
            x = self.conv1(x, next(w_iter), gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(w_iter))
            x = self.conv1(x, next(w_iter))
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if s.torgb is not None:
            y = self.torgb(x, next(w_iter))
            img = img + y if img is not None else y
        return x, img


class MappingNetwork(nn.Module):
    def __init__(self, spec: MappingSpec, num_ws: int):
        super().__init__()
        self.spec, self.num_ws = spec, num_ws
        for i, layer in enumerate(spec.layers):
            setattr(self, f"fc{i}", Dense(layer))
        self.register_buffer("w_avg", torch.zeros(spec.w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """One W per latent (the broadcast to num_ws happens in :meth:`StyleGAN2.synthesis`)."""
        x = z.to(torch.float32)
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()   # normalize_2nd_moment
        for i in range(len(self.spec.layers)):
            x = getattr(self, f"fc{i}")(x)
        return x


class SynthesisNetwork(nn.Module):
    def __init__(self, spec: StyleGAN2Spec):
        super().__init__()
        self.spec = spec
        for block in spec.blocks:
            setattr(self, f"b{block.resolution}", SynthesisBlock(block))

    def forward(self, ws: torch.Tensor, check: Optional[Callable[[], None]] = None) -> torch.Tensor:
        x = img = None
        w_idx = 0
        for block in self.spec.blocks:
            if check is not None:
                check()
            cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            x, img = getattr(self, f"b{block.resolution}")(x, img, cur)
            w_idx += block.num_conv
        return img


class StyleGAN2(nn.Module):
    """``mapping(z) -> w``; ``truncate(w, psi)``; ``synthesis(w) -> NCHW image in about [-1, 1]``."""
    kind = "StyleGAN2"

    def __init__(self, spec: StyleGAN2Spec, synthesis: Optional[nn.Module] = None):
        super().__init__()
        self.spec = spec
        self.synthesis = synthesis if synthesis is not None else SynthesisNetwork(spec)
        self.mapping = MappingNetwork(spec.mapping, spec.num_ws)

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """Toward the average W (NVlabs ``w_avg.lerp(w, psi)``)."""
        return w if psi == 1 else self.mapping.w_avg.lerp(w, psi)

    def synthesize(self, w: torch.Tensor, check: Optional[Callable[[], None]] = None) -> torch.Tensor:
        ws = w.unsqueeze(1).repeat([1, self.spec.num_ws, 1])
        return self.synthesis(ws, check)

    def forward(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        return self.synthesize(self.truncate(self.mapping(z), psi))


def check_spec(spec: StyleGAN2Spec) -> None:
    """ValueError (in words) for a description our network cannot be, before it is built."""
    res = spec.img_resolution
    if not (4 <= res <= 8192 and res & (res - 1) == 0):
        raise ValueError(f"image size {res} is not a power of two from 4 to 8192")
    if not (0 < spec.z_dim <= 1 << 16 and 0 < spec.w_dim <= 1 << 16):
        raise ValueError(f"latent sizes z {spec.z_dim}, w {spec.w_dim} are out of range")
    layers = [*spec.mapping.layers]
    for b in spec.blocks:
        if b.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture '{b.architecture}'")
        for conv in (b.conv0, b.conv1):
            if conv is not None:
                layers.append(conv.affine)
                if conv.activation not in ACTIVATIONS or conv.up not in (1, 2) or conv.kernel_size % 2 == 0:
                    raise ValueError(f"layer at {b.resolution}px: {conv.activation}, up {conv.up}, "
                                     f"kernel {conv.kernel_size} is not a StyleGAN2 layer")
    if any(d.activation not in ACTIVATIONS for d in layers):
        raise ValueError("an activation other than linear, relu or lrelu")
    if [b.resolution for b in spec.blocks] != [2 ** i for i in range(2, int(math.log2(res)) + 1)]:
        raise ValueError("the blocks do not double from 4x4 to the image size")
    if spec.blocks[-1].torgb is None:
        raise ValueError("the last block has no RGB output")
    if any(b.torgb is not None and b.torgb.kernel_size != 1 for b in spec.blocks):
        raise ValueError("an RGB output layer that is not 1x1")


def build(spec, state: dict, network: type = None, check: Callable = None):
    """The network ``spec`` describes (StyleGAN2, or ``network`` checked by ``check``), holding
    ``state`` (our names; the tensors become its weights).

    The layout is first built on the meta device (no memory) and every shape compared with the
    file's tensors: a small file whose settings claim a huge network is refused, not allocated.
    """
    (check or check_spec)(spec)
    with torch.device("meta"):
        net = (network or StyleGAN2)(spec)
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if want.keys() != got.keys():
        missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
        raise ValueError(f"missing {missing[0]}" if missing else f"unexpected {extra[0]}")
    bad = next((k for k in want if want[k] != got[k]), None)
    if bad is not None:
        raise ValueError(f"{bad} is {list(got[bad])}, its layer needs {list(want[bad])}")
    net.load_state_dict({k: v.to(torch.float32).contiguous() for k, v in state.items()}, strict=True, assign=True)
    return net.eval().requires_grad_(False)

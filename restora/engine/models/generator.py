"""GAN generators: seeds in, uint8 RGB images out.

:class:`Generator` is what the generate task and the window call, whatever the file was:

- ``sample(seed, count, ctx, truncation)``: one image per seed ``seed, seed+1, ...``;
- ``interpolate(seed_a, seed_b, steps, ctx, truncation)``: a walk of ``steps`` images from
  seed_a's image to seed_b's, both ends included (they equal those seeds' samples).

A kind of generator says how a seed becomes a latent (its authors' convention), how latents
become the codes a walk goes through (W for StyleGAN, Z otherwise), and how codes become images.
Truncation (psi, 1 = none) pulls codes toward the average: StyleGAN's W average, or Z's mean
(zero) for generators without a mapping network.

:class:`TorchScriptGenerator` wraps a module mapping a latent batch to images (a trusted
TorchScript program, or our own network rebuilt from plain weights, see ``dcgan``). Its
latent size comes from the module (``latent_dim``, ``z_dim``, ``nz`` or ``latent_size``) or
from the person; seed N's latent is ``torch.randn(dim, generator=torch.Generator().manual_seed(N))``
on the CPU, so a seed names one image on every device.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional

import numpy as np

from ..device import DeviceInfo
from ..jobs import BadInputError, JobContext, ModelError
from .base import ModelInfo
from .torch_models import run_guarded

LATENT_ATTRS = ("latent_dim", "z_dim", "nz", "latent_size")


class Generator(ABC):
    """A stochastic image generator (see the module docstring)."""

    info: ModelInfo
    path: Path
    latent_dim: Optional[int] = None
    batch = 4                      # latents per forward pass
    _device: Optional[DeviceInfo] = None

    # --- what each kind of generator defines -------------------------------------------------
    @abstractmethod
    def latent(self, seed: int, dim: int):
        """The latent (1-D CPU tensor) seed ``seed`` names."""

    @abstractmethod
    def codes(self, z, truncation: float):
        """Latents (N x dim, on the device) to the codes a walk goes through, truncated."""

    @abstractmethod
    def render(self, codes, ctx: JobContext) -> list[np.ndarray]:
        """Codes to uint8 RGB HxWx3 images."""

    def blend(self, a, b, t: float):
        """The code a fraction ``t`` of the way from ``a`` to ``b`` (Z: spherical)."""
        return slerp(a, b, t)

    def prepare(self, device: DeviceInfo) -> None:
        self._device = device

    def unload(self) -> None:
        self._device = None

    # --- shared ---------------------------------------------------------------------------
    def sample(self, seed: int, count: int, ctx: JobContext, truncation: Optional[float] = None,
               latent_dim: Optional[int] = None) -> list[np.ndarray]:
        """One image per seed ``seed .. seed+count-1``."""
        import torch

        dim, psi = self._dim(latent_dim), 1.0 if truncation is None else float(truncation)
        device = self._ready()
        images: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, count, self.batch):
                ctx.check()
                n = min(self.batch, count - start)
                z = torch.stack([self.latent(seed + start + i, dim) for i in range(n)]).to(device.torch_device)
                images.extend(self.render(self.codes(z, psi), ctx))
                ctx.report((start + n) / count)
        return images

    def interpolate(self, seed_a: int, seed_b: int, steps: int, ctx: JobContext, truncation: Optional[float] = None,
                    latent_dim: Optional[int] = None) -> list[np.ndarray]:
        """``steps`` images from seed_a's to seed_b's (both included), evenly spaced in code space."""
        import torch

        dim, psi = self._dim(latent_dim), 1.0 if truncation is None else float(truncation)
        device = self._ready()
        images: list[np.ndarray] = []
        with torch.inference_mode():
            # each end on its own, exactly as `sample` computes it, so the walk starts and ends on them
            a, b = (self.codes(self.latent(s, dim)[None].to(device.torch_device), psi)[0] for s in (seed_a, seed_b))
            ts = [i / (steps - 1) for i in range(steps)]
            for start in range(0, steps, self.batch):
                ctx.check()
                chunk = ts[start:start + self.batch]
                images.extend(self.render(torch.stack([self.blend(a, b, t) for t in chunk]), ctx))
                ctx.report((start + len(chunk)) / steps)
        return images

    def _dim(self, latent_dim: Optional[int]) -> int:
        if latent_dim and self.latent_dim and latent_dim != self.latent_dim:
            raise BadInputError(f"{self.info.name}: its latent size is {self.latent_dim}, read from the file; "
                                f"a latent size of {latent_dim} (--latent-dim) does not fit it")
        dim = latent_dim or self.latent_dim
        if not dim:
            raise BadInputError(f"{self.path}: the generator does not say its latent size: give it (--latent-dim N)")
        return dim

    def _ready(self) -> DeviceInfo:
        if self._device is None:
            raise RuntimeError("prepare() must be called before sampling")
        return self._device


def slerp(a, b, t: float):
    """Spherical interpolation between two latents (exactly ``a`` at 0 and ``b`` at 1)."""
    import torch

    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    a64, b64 = a.double(), b.double()
    cos = torch.dot(a64.flatten() / a64.norm(), b64.flatten() / b64.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if float(omega) < 1e-6:
        return torch.lerp(a, b, t)
    s = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / s * a64 + torch.sin(t * omega) / s * b64).to(a.dtype)


class TorchScriptGenerator(Generator):
    """A module mapping a latent batch to images; ``sample`` returns uint8 RGB HxWx3 images.

    Built from an already loaded module: only a file the person trusts is ever loaded as a
    program (see sources.load_model_file), and it is loaded once.
    """

    def __init__(self, path: Path, module, what: str = "TorchScript GAN generator", trusted_code: bool = True,
                 source: str = "user", description: Optional[str] = None):
        self.path = path
        self._module = module.eval()
        self._device = None
        self.latent_dim = None
        for attr in LATENT_ATTRS:
            value = getattr(module, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 65536:
                self.latent_dim = value
                break
        range_attr = getattr(module, "output_range", None)
        self.output_range = _output_range(range_attr)
        self.info = ModelInfo(path.stem, "generate", source,
                              description or (f"{what} from {path.name}"
                                              + (f", latent size {self.latent_dim}" if self.latent_dim else "")),
                              what.replace(" GAN", ""), scale=1, in_channels=0, out_channels=3,
                              stochastic=True, half=False, path=path, trusted_code=trusted_code)

    def prepare(self, device: DeviceInfo) -> None:
        if self._device != device:
            self._module = self._module.to(device.torch_device)
            self._device = device

    def unload(self) -> None:
        self._device = None
        self._module = self._module.to("cpu")

    def latents(self, seed: int, count: int, latent_dim: int):
        import torch

        return torch.stack([self.latent(seed + i, latent_dim) for i in range(count)])

    def latent(self, seed: int, dim: int):
        import torch

        return torch.randn(dim, generator=torch.Generator().manual_seed(seed))

    def codes(self, z, truncation: float):
        return z * truncation if truncation != 1 else z   # toward the prior's mean, zero

    def render(self, codes, ctx: JobContext) -> list[np.ndarray]:
        if self.output_range is None:
            self.output_range = self._probe_range(codes.shape[1], codes.device)
        return self._to_images(self._forward(codes))

    def _probe_range(self, dim: int, device) -> tuple[float, float]:
        """The output range of a module that does not declare one, decided once from fixed
        latents (seeds 0 .. batch-1, one batch, so no more memory than sampling): guessed from
        each batch instead, a seed's pixels would depend on which seeds share its batch.
        Anything clearly below zero means tanh's [-1, 1]."""
        import torch

        z = torch.stack([self.latent(s, dim) for s in range(self.batch)]).to(device)
        out = self._forward(z)
        return (-1.0, 1.0) if float(out.min()) < -0.01 else (0.0, 1.0)

    def _forward(self, z):
        try:
            return run_guarded(lambda: self._module(z), self._device, False)
        except RuntimeError as first:
            try:  # DCGAN-style generators take N×d×1×1
                return run_guarded(lambda: self._module(z[:, :, None, None]), self._device, False)
            except RuntimeError:
                raise ModelError(f"{self.path}: the generator rejected a latent batch of shape "
                                 f"{tuple(z.shape)} ({str(first).splitlines()[0][:100]}): check the latent size") from first

    def _to_images(self, out) -> list[np.ndarray]:
        if out.ndim != 4 or out.shape[1] not in (1, 3):
            raise ModelError(f"{self.path}: the generator returned shape {tuple(out.shape)}, expected N×3×H×W")
        lo, hi = self.output_range
        out = ((out - lo) / (hi - lo)).clamp(0, 1)
        if out.shape[1] == 1:
            out = out.repeat(1, 3, 1, 1)
        arr = (out.permute(0, 2, 3, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        return [np.ascontiguousarray(a) for a in arr]


def _output_range(value) -> Optional[tuple[float, float]]:
    """A module's declared (lo, hi) output range, if it is two distinct finite numbers."""
    import math

    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) and lo != hi else None

"""GAN generators: a module mapping a latent batch to images (a trusted TorchScript program,
or our own network rebuilt from plain weights, see ``dcgan``).

The latent size comes from the module (``latent_dim``, ``z_dim``, ``nz`` or
``latent_size`` attribute) or from the person. Latent ``i`` of a request is drawn
from a CPU generator seeded with ``seed + i``, so a seed names one image on every
device and whatever the batch size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..device import DeviceInfo
from ..jobs import BadInputError, JobContext, ModelError
from .base import ModelInfo
from .torch_models import run_guarded

LATENT_ATTRS = ("latent_dim", "z_dim", "nz", "latent_size")


class TorchScriptGenerator:
    """A stochastic image generator. ``sample`` returns uint8 RGB HxWx3 images.

    Built from an already loaded TorchScript module: only a file the person trusts is
    ever loaded (see sources.load_model_file), and it is loaded once.
    """

    def __init__(self, path: Path, module, what: str = "TorchScript GAN generator", trusted_code: bool = True):
        self.path = path
        self._module = module.eval()
        self._device: Optional[DeviceInfo] = None
        self.latent_dim: Optional[int] = None
        for attr in LATENT_ATTRS:
            value = getattr(module, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 65536:
                self.latent_dim = value
                break
        range_attr = getattr(module, "output_range", None)
        self.output_range = _output_range(range_attr)
        self.info = ModelInfo(path.stem, "generate", "user",
                              f"{what} from {path.name}"
                              + (f", latent size {self.latent_dim}" if self.latent_dim else ""),
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

        rows = [torch.randn(latent_dim, generator=torch.Generator().manual_seed(seed + i)) for i in range(count)]
        return torch.stack(rows)

    def sample(self, seed: int, count: int, ctx: JobContext, latent_dim: Optional[int] = None,
               batch: int = 4) -> list[np.ndarray]:
        dim = latent_dim or self.latent_dim
        if not dim:
            raise BadInputError(f"{self.path}: the generator does not say its latent size: give it (--latent-dim N)")
        if self._device is None:
            raise RuntimeError("prepare() must be called before sample()")
        images: list[np.ndarray] = []
        for start in range(0, count, batch):
            ctx.check()
            n = min(batch, count - start)
            z = self.latents(seed + start, n, dim).to(self._device.torch_device)
            out = self._forward(z)
            images.extend(self._to_images(out))
            ctx.report((start + n) / count)
        return images

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
        lo, hi = self.output_range or ((-1.0, 1.0) if float(out.min()) < -0.01 else (0.0, 1.0))
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

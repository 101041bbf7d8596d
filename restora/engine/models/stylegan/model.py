"""A StyleGAN2 or StyleGAN3 network as a :class:`~restora.engine.models.generator.Generator`.

The format (NVlabs or rosinality) brings its authors' conventions: how a seed becomes a
latent, and how the network's output becomes pixels. Sampling itself is shared: W =
mapping(z), truncated toward the average W, walks lerped in W, constant noise, float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ...device import DeviceInfo
from ...jobs import BadInputError, JobContext, ModelError
from ..base import ModelInfo
from ..generator import Generator


@dataclass(frozen=True)
class Conventions:
    """What a file format's authors do around the network (see nvlabs.py, rosinality.py)."""
    format: str                            # for people: "NVlabs StyleGAN2-ADA pickle"
    latent: Callable                       # (seed, z_dim) -> 1-D CPU tensor
    to_uint8: Callable                     # NCHW float -> NHWC uint8 numpy
    w_avg: Optional[Callable] = None       # (net) -> W average, when the file has none of its own


class StyleGANGenerator(Generator):
    # One image per pass: a seed's pixels then never depend on which other seeds share its
    # batch, and NVlabs' generate.py runs one at a time too.
    batch = 1

    def __init__(self, path: Path, net, conventions: Conventions, has_w_avg: bool = True,
                 reload: Optional[Callable] = None):
        self.path, self.net, self.conventions = path, net.eval(), conventions
        spec = self.spec = net.spec
        self.latent_dim = spec.z_dim
        self._has_w_avg = self._w_avg_ready = has_w_avg
        self._reload = reload
        res, layers = spec.img_resolution, len(spec.mapping.layers)
        self.info = ModelInfo(path.stem, "generate", "user",
                              f"{net.kind} generator from {path.name} ({conventions.format}): {res}×{res}, "
                              f"latent {spec.z_dim}, W {spec.w_dim}, {layers} mapping layers",
                              net.kind, scale=1, in_channels=0, out_channels=3, stochastic=True,
                              half=False, path=path, trusted_code=False)

    def prepare(self, device: DeviceInfo) -> None:
        if self.net is None:
            net = self._reload()
            if net.spec != self.spec:
                raise ModelError(f"{self.path}: the file changed since it was listed; add it again")
            self.net = net.eval()
        if self._device != device:
            self.net = self.net.to(device.torch_device)
            self._device = device

    def unload(self) -> None:
        """Drop the weights (a big file's are hundreds of MB); the next ``prepare`` reads the
        file again. Without a way to reload, they only leave the GPU."""
        self._device = None
        if self._reload is not None:
            self.net, self._w_avg_ready = None, self._has_w_avg   # a computed mean W goes with them
        elif self.net is not None:
            self.net = self.net.to("cpu")

    def latent(self, seed: int, dim: int):
        return self.conventions.latent(seed, dim)

    def codes(self, z, truncation: float):
        w = self.net.mapping(z)
        if truncation != 1:
            self._need_w_avg()
        return self.net.truncate(w, truncation)

    def blend(self, a, b, t: float):
        import torch

        return torch.lerp(a, b, t)   # W is where StyleGAN's walks are linear

    def render(self, codes, ctx: JobContext) -> list[np.ndarray]:
        img = self.net.synthesize(codes, ctx.check)
        if img.shape[1] == 1:
            img = img.repeat(1, 3, 1, 1)
        return [np.ascontiguousarray(a) for a in self.conventions.to_uint8(img[:, :3])]

    def _need_w_avg(self) -> None:
        if self._w_avg_ready:
            return
        if self.conventions.w_avg is None:
            raise BadInputError(f"{self.path}: the file has no average W, so it cannot be truncated: "
                                "use truncation 1")
        import torch

        with torch.inference_mode():
            avg = self.conventions.w_avg(self.net)
        self.net.mapping.w_avg.copy_(avg.to(self.net.mapping.w_avg.device))
        self._w_avg_ready = True

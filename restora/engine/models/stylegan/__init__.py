"""StyleGAN generator files loaded as data into our own networks (nothing in a file runs).

- ``nvlabs``: stylegan2-ada-pytorch / stylegan3 ``.pkl`` snapshots, through the restricted
  unpickler in ``pickle_reader``;
- ``rosinality``: stylegan2-pytorch ``.pt`` checkpoints, through torch's weights-only loader;
- ``network``, ``network3``: StyleGAN2 and StyleGAN3 (pure PyTorch, NVlabs' numerical semantics);
- ``model``: the network as a :class:`~restora.engine.models.generator.Generator`.

This module imports no torch: the registry lists files without paying for it.
"""
from __future__ import annotations

from pathlib import Path

from ..formats import ModelFileKind


def is_nvlabs(_path: Path, kind: ModelFileKind) -> bool:
    return kind.kind == "nvlabs"


def is_rosinality(path: Path, kind: ModelFileKind) -> bool:
    from .detect import looks_like_rosinality

    return looks_like_rosinality(path, kind)


def load_nvlabs(path: Path, _kind=None):
    """A :class:`~.model.StyleGANGenerator` with NVlabs' seed and pixel conventions."""
    from . import nvlabs
    from .model import Conventions, StyleGANGenerator

    net = nvlabs.load(path)
    return StyleGANGenerator(path, net, Conventions("NVlabs pickle", nvlabs.seed_latent, nvlabs.to_uint8),
                             has_w_avg=net.spec.mapping.has_w_avg, reload=lambda: nvlabs.load(path))


def load_rosinality(path: Path, _kind=None):
    """A :class:`~.model.StyleGANGenerator` with our documented conventions for their files."""
    from . import rosinality
    from .model import Conventions, StyleGANGenerator

    net, facts = rosinality.load(path)
    return StyleGANGenerator(path, net, Conventions("rosinality stylegan2-pytorch checkpoint", rosinality.seed_latent,
                                                    rosinality.to_uint8, rosinality.mean_w),
                             has_w_avg=facts["latent_avg"], reload=lambda: rosinality.load(path)[0])


__all__ = ["is_nvlabs", "is_rosinality", "load_nvlabs", "load_rosinality"]

from __future__ import annotations

from typing import Optional

import numpy as np

from ..jobs import BadInputError, CancelToken, ProgressFn
from ..registry import Registry
from .common import setup

MAX_COUNT = 256


def generate(*, model: Optional[str] = None, seed: int = 0, count: int = 1, latent_dim: Optional[int] = None,
             device: str = "auto", registry: Optional[Registry] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> list[np.ndarray]:
    """Sample ``count`` images (uint8 RGB HxWx3) for seeds ``seed, seed+1, ...``.

    The same seed gives the same image. ``latent_dim`` overrides the size the
    model declares. Raises ``Cancelled`` between batches.
    """
    if not (1 <= count <= MAX_COUNT):
        raise BadInputError(f"count {count} is out of range: use 1..{MAX_COUNT}")
    if seed < 0:
        raise BadInputError(f"seed {seed} must be 0 or more")
    if latent_dim is not None and latent_dim < 1:
        raise BadInputError(f"latent size {latent_dim} must be positive")
    gen, _dev, ctx = setup(model, "generate", device, registry, progress, cancel)
    return gen.sample(seed, count, ctx, latent_dim=latent_dim)

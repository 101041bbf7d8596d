from __future__ import annotations

from typing import Optional

import numpy as np

from ..jobs import CancelToken, ProgressFn
from ..registry import Registry
from .common import check_int, check_job, check_seed, setup

MAX_COUNT = 256
MAX_LATENT_DIM = 1 << 16


def generate(*, model: Optional[str] = None, seed: int = 0, count: int = 1, latent_dim: Optional[int] = None,
             device: str = "auto", registry: Optional[Registry] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> list[np.ndarray]:
    """Sample ``count`` images (uint8 RGB HxWx3) for seeds ``seed, seed+1, ...``.

    The same seed gives the same image. ``latent_dim`` overrides the size the
    model declares. Raises ``Cancelled`` between batches.
    """
    count = check_int("count", count, 1, MAX_COUNT)
    seed = check_seed(seed)
    if latent_dim is not None:
        latent_dim = check_int("latent size", latent_dim, 1, MAX_LATENT_DIM)
    model = check_job(model, device, registry, progress, cancel)
    gen, _dev, ctx = setup(model, "generate", device, registry, progress, cancel)
    return gen.sample(seed, count, ctx, latent_dim=latent_dim)

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..jobs import CancelToken, ProgressFn
from ..registry import Registry
from .catalog import register
from .spec import OUTPUT_IMAGES, Task, param
from .common import MAX_SEED, check_int, check_job, check_seed, setup

MAX_COUNT = 256
MAX_LATENT_DIM = 1 << 16


def generate(*, model: Optional[str] = None, seed: int = 0, count: int = 1, latent_dim: Optional[int] = None,
             device: str = "auto", registry: Optional[Registry] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
            record: Optional[dict] = None) -> list[np.ndarray]:
    """Sample ``count`` images (uint8 RGB HxWx3) for seeds ``seed, seed+1, ...``.

    The same seed gives the same image. ``latent_dim`` overrides the size the
    model declares. Raises ``Cancelled`` between batches.
    """
    count = check_int("count", count, 1, MAX_COUNT)
    seed = check_seed(seed)
    if latent_dim is not None:
        latent_dim = check_int("latent size", latent_dim, 1, MAX_LATENT_DIM)
    model = check_job(model, device, registry, progress, cancel)
    gen, _dev, ctx = setup(model, "generate", device, registry, progress, cancel, record=record)
    return gen.sample(seed, count, ctx, latent_dim=latent_dim)


@dataclass(frozen=True)
class GenerateParams:
    seed: int = param(0, kind=int, lo=0, hi=MAX_SEED, help="first seed; image i uses seed+i")
    count: int = param(1, kind=int, lo=1, hi=MAX_COUNT, help=f"number of images (1..{MAX_COUNT})")
    latent_dim: Optional[int] = param(None, kind=int, lo=1, hi=MAX_LATENT_DIM, optional=True,
                                      help="latent size, when the generator does not declare it")


def _run(_pixels, _mask, p: GenerateParams, *, tile=None, **job):
    return generate(seed=p.seed, count=p.count, latent_dim=p.latent_dim, **job)


register(Task("generate", "Generate", "Sample images from a GAN generator.", "generate", GenerateParams,
              run=_run, takes_photo=False, output=OUTPUT_IMAGES))

"""Sampling images from a GAN generator: seeds, truncation, and walks between two seeds.

Which latent a seed names is the generator file's authors' convention (NVlabs:
``np.random.RandomState(seed).randn(1, z_dim)``; see each format's module). The same seed
gives the same image, bit for bit on the same device, whatever else is sampled with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..jobs import BadInputError, CancelToken, ProgressFn
from ..registry import Registry
from .catalog import register
from .spec import OUTPUT_IMAGES, Task, param
from .common import MAX_SEED, check_int, check_job, check_number, check_seed, setup

MAX_COUNT = 256
MAX_LATENT_DIM = 1 << 16
MAX_TRUNCATION = 2.0
DEFAULT_STEPS = 8


def generate(*, model: Optional[str] = None, seed: int = 0, count: int = 1, latent_dim: Optional[int] = None,
             truncation: float = 1.0, interpolate: Optional[tuple[int, int]] = None, steps: Optional[int] = None,
             device: str = "auto", registry: Optional[Registry] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
             record: Optional[dict] = None) -> list[np.ndarray]:
    """Sample ``count`` images (uint8 RGB HxWx3) for seeds ``seed, seed+1, ...``; or, with
    ``interpolate=(seed_a, seed_b)``, the ``steps`` images (default 8) of the walk from seed_a's
    image to seed_b's, both included (lerp in W for StyleGAN, slerp in Z otherwise).

    ``truncation`` (psi, 0..2, 1 = none) pulls each code toward the average (StyleGAN: the
    file's average W). ``latent_dim`` overrides the size the model declares. Raises
    ``Cancelled`` between images.
    """
    count = check_int("count", count, 1, MAX_COUNT)
    seed = check_seed(seed)
    psi = check_number("truncation", truncation)
    if not 0 <= psi <= MAX_TRUNCATION:
        raise BadInputError(f"truncation {psi:g} is out of range: use 0..{MAX_TRUNCATION:g} (1 = none)")
    if latent_dim is not None:
        latent_dim = check_int("latent size", latent_dim, 1, MAX_LATENT_DIM)
    if interpolate is not None:
        if not isinstance(interpolate, (tuple, list)) or len(interpolate) != 2:
            raise BadInputError(f"interpolate takes two seeds, got {str(interpolate)[:40]}")
        interpolate = (check_seed(interpolate[0]), check_seed(interpolate[1]))
        steps = check_int("steps", DEFAULT_STEPS if steps is None else steps, 2, MAX_COUNT)
        if count != 1:
            raise BadInputError("give either a count of seeds or an interpolation between two seeds, not both")
    elif steps is not None:
        raise BadInputError("steps is the length of an interpolation: give the two seeds to walk between too")
    model = check_job(model, device, registry, progress, cancel)
    gen, _dev, ctx = setup(model, "generate", device, registry, progress, cancel, record=record)
    if interpolate is not None:
        return gen.interpolate(interpolate[0], interpolate[1], steps, ctx, truncation=psi, latent_dim=latent_dim)
    return gen.sample(seed, count, ctx, truncation=psi, latent_dim=latent_dim)


@dataclass(frozen=True)
class GenerateParams:
    seed: int = param(0, kind=int, lo=0, hi=MAX_SEED, help="first seed; image i uses seed+i")
    count: int = param(1, kind=int, lo=1, hi=MAX_COUNT, help=f"number of images (1..{MAX_COUNT})")
    # truncation and walks are the window's own controls (a slider, picking two samples): form=False
    truncation: float = param(1.0, lo=0, hi=MAX_TRUNCATION, label="Truncation ψ", metavar="PSI", form=False,
                              help="truncation psi: 1 = none; lower gives more typical, less varied images "
                                   "(StyleGAN: W toward the file's average W; others: Z scaled toward zero)")
    interpolate: Optional[tuple] = param(None, kind=int, lo=0, hi=MAX_SEED, optional=True, count=2,
                                         metavars=("SEED_A", "SEED_B"), form=False,
                                         help="write the walk from SEED_A's image to SEED_B's instead "
                                              "(lerp in W for StyleGAN, slerp in Z otherwise)")
    steps: Optional[int] = param(None, kind=int, lo=2, hi=MAX_COUNT, optional=True, form=False,
                                 help=f"images in the interpolation, both ends included (default {DEFAULT_STEPS})")
    latent_dim: Optional[int] = param(None, kind=int, lo=1, hi=MAX_LATENT_DIM, optional=True,
                                      help="latent size, for a TorchScript generator that does not declare it")

    def __post_init__(self) -> None:
        # the combinations single values cannot say (checked before any model is loaded)
        if self.interpolate is not None and self.count != 1:
            raise BadInputError("give either --count or --interpolate SEED_A SEED_B, not both")
        if self.interpolate is None and self.steps is not None:
            raise BadInputError("--steps is the length of an interpolation: give --interpolate SEED_A SEED_B too")

    @property
    def images(self) -> int:
        """How many images these parameters make."""
        return (self.steps or DEFAULT_STEPS) if self.interpolate is not None else self.count


def _run(_pixels, _mask, p: GenerateParams, *, tile=None, **job):
    return generate(seed=p.seed, count=p.count, latent_dim=p.latent_dim, truncation=p.truncation,
                    interpolate=p.interpolate, steps=p.steps, **job)


register(Task("generate", "Generate", "Sample images from a GAN generator.", "generate", GenerateParams,
              run=_run, takes_photo=False, output=OUTPUT_IMAGES))

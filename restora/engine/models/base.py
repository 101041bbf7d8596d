"""The one interface every model answers, wherever it came from.

A model is described by a frozen :class:`ModelInfo` (what the registry lists and
what the window shows) and does its work on float32 ``HxWxC`` crops in [0, 1]
through :meth:`ImageModel.process`. Tasks decide channels, alpha and tiling;
models never slice photos.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Optional

import numpy as np

from ..device import DeviceInfo

TASKS = ("inpaint", "denoise", "upscale", "generate", "detect")
SOURCES = ("classical", "builtin", "user")


@dataclass(frozen=True)
class ModelInfo:
    name: str                 # unique, what --model NAME takes
    task: str                 # one of TASKS
    source: str               # one of SOURCES
    description: str          # one line for people
    architecture: str         # "OpenCV Telea", "Compact", "RestoraUNet", ...
    scale: int = 1            # output/input size; 0 = any scale (classical resize)
    in_channels: int = 3      # 1 gray, 3 RGB
    out_channels: int = 3
    stochastic: bool = False  # takes a seed; different seeds give different results
    half: bool = False        # may run in fp16 on CUDA
    cpu_bf16: bool = False    # may run in bf16 on a CPU that has it (measured for our nets)
    path: Optional[Path] = None
    trusted_code: bool = False  # a program file (TorchScript) the person chose to trust

    def __post_init__(self) -> None:
        # Names and descriptions may come from a model file: one printable line each, so
        # a file cannot clear the terminal or fake another entry in a listing.
        for name, limit in (("name", 80), ("description", 200), ("architecture", 80)):
            object.__setattr__(self, name, printable(getattr(self, name), limit))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


def printable(text, limit: int = 200) -> str:
    """``text`` as one line of printable characters (control characters become spaces),
    at most ``limit`` characters."""
    clean = "".join(ch if ch.isprintable() else " " for ch in str(text))
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[:limit - 1] + "…"


class ImageModel(ABC):
    """A model over image crops. Subclasses set ``info`` and implement ``process``."""

    info: ModelInfo
    #: What the model needs of its crops, read by the strategies: the fields (and meanings)
    #: of ``strategies.Needs`` — context, alignment, padding, fixed size, memory, tiling hint.
    context_px: int = 16
    align_px: int = 1
    multiple_of: int = 1
    min_side: int = 1
    square: bool = False
    fixed_size: Optional[int] = None
    bytes_per_pixel: int = 64
    max_cpu_tile: int = 2048
    tiling: str = "supported"

    def prepare(self, device: DeviceInfo) -> None:
        """Load weights onto ``device`` (cached). Classical models need nothing."""

    def unload(self) -> None:
        """Free weights; ``prepare`` loads them again."""

    @abstractmethod
    def process(self, crop: np.ndarray, **params) -> np.ndarray:
        """Work on a float32 HxWxC crop in [0, 1] and return float32 in [0, 1].

        ``check`` (all tasks, optional) raises ``Cancelled``; models may call it mid-crop.
        params by task: denoise ``sigma`` (noise σ in 0..1 units) and ``bit_depth``;
        upscale ``scale`` (only for scale-0 models); inpaint ``mask`` (float32 HxW,
        1 = fill) and ``seed``.
        """

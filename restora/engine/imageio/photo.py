"""The decoded photo the engine works on."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np


@dataclass
class Photo:
    """A decoded photo: pixels plus the metadata to carry into outputs.

    ``pixels`` is HxWxC (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), uint8 or uint16,
    already turned upright by EXIF orientation.
    """
    pixels: np.ndarray
    icc_profile: Optional[bytes] = None
    exif: Optional[bytes] = None          # TIFF-structured EXIF, orientation reset to 1
    source: Optional[Path] = None
    format: str = "PNG"
    extra: dict = field(default_factory=dict)

    def with_pixels(self, pixels: np.ndarray) -> "Photo":
        return replace(self, pixels=pixels)

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

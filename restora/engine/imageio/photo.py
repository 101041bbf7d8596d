"""The decoded photo the engine works on."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import BadInputError


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

    def __post_init__(self):
        # Pixels are checked when written (a Photo may hold them before they are valid);
        # metadata is checked here, where a wrong type is made, not as a confusing encode error.
        self.icc_profile = _metadata_bytes("icc_profile", self.icc_profile)
        self.exif = _metadata_bytes("exif", self.exif)

    def with_pixels(self, pixels: np.ndarray) -> "Photo":
        return replace(self, pixels=pixels)

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)


def _metadata_bytes(name: str, value) -> Optional[bytes]:
    """``value`` as bytes (bytearray and memoryview are copied), None as None, else BadInputError."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise BadInputError(f"a photo's {name} must be bytes or None, not {type(value).__name__}")

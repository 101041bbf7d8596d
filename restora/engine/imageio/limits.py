"""The pixel limit: the largest image read, checked against the header size before any pixel
is decoded (decompression bombs)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import BadInputError, TooLargeError

#: The largest image read unless the person raises the limit. 300 MP covers every camera
#: sensor (≤ 200 MP) and most stitched panoramas and large-format scans, while one decoded
#: 16-bit RGBA frame stays at 2.4 GB; restoring works on several float copies of it. A
#: hostile file can claim 60000x60000 (3.6 GP, ~29 GB of RGBA16) in a few hundred bytes.
DEFAULT_MAX_PIXELS = 300_000_000
_max_pixels_override: Optional[int] = None


def set_max_pixels(n: Optional[int]) -> None:
    """Set the process-wide pixel limit (the CLI's --max-pixels, the window's setting);
    ``None`` goes back to the default."""
    global _max_pixels_override
    _max_pixels_override = None if n is None else _checked_limit(n)


def _checked_limit(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise BadInputError(f"the pixel limit must be a whole number above 0 (got {n!r})")
    return int(n)


def max_pixels() -> int:
    """The active pixel limit: the value given to :func:`set_max_pixels` (``--max-pixels``,
    the window's setting), else RESTORA_MAX_PIXELS if set to a valid number, else
    :data:`DEFAULT_MAX_PIXELS`. What the person says in this run beats the environment."""
    if _max_pixels_override is not None:
        return _max_pixels_override
    env = os.environ.get("RESTORA_MAX_PIXELS", "").strip()
    try:
        value = int(env) if env else 0
    except ValueError:
        value = 0  # invalid: ignored
    return value if value > 0 else DEFAULT_MAX_PIXELS


def _active_limit(explicit: Optional[int]) -> int:
    """A ``max_pixels`` argument (checked like :func:`set_max_pixels`), else the active limit."""
    return _checked_limit(explicit) if explicit is not None else max_pixels()


def _amount(pixels: int) -> str:
    if pixels < 1_000_000:
        return f"{pixels:,} pixels"
    return f"{pixels / 1e6:.1f}".rstrip("0").rstrip(".") + " MP"


def _check_limit(path: Path, width: int, height: int, limit: int) -> None:
    pixels = width * height
    if pixels <= limit:
        return
    have, allowed = _amount(pixels), _amount(limit)
    if have == allowed:  # just over: rounding would make both read the same
        have, allowed = f"{pixels:,} pixels", f"{limit:,}-pixel"
    raise TooLargeError(f"{path}: {width}x{height} pixels ({have}) is over the {allowed} limit; "
                        "raise it with --max-pixels or RESTORA_MAX_PIXELS", width, height, limit)

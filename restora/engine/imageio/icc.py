"""Colour profiles: which ICC profile may go with which pixels."""
from __future__ import annotations

from typing import Optional

#: the largest profile kept, about 16 MB: as much as JPEG can carry (255 APP2 segments of
#: 65519 bytes). Real profiles are far smaller, even printers' with big lookup tables; a
#: bigger one is dropped (the pixels are kept) rather than copied into every output.
_MAX_ICC_BYTES = 255 * 65519


def _usable_icc(icc) -> Optional[bytes]:
    """``icc``, or None when it is empty or larger than :data:`_MAX_ICC_BYTES`."""
    return icc if icc and len(icc) <= _MAX_ICC_BYTES else None


def _icc_space(icc: Optional[bytes]) -> Optional[bytes]:
    """The data colour space of an ICC profile (header bytes 16..20: b'RGB ', b'GRAY', b'CMYK'...)."""
    if not icc or len(icc) < 128:  # the ICC header alone is 128 bytes
        return None
    return bytes(icc[16:20])


def _profile_for(pixels_channels: int, icc: Optional[bytes]) -> Optional[bytes]:
    """The profile to write with pixels stored as ``pixels_channels`` channels, or None.

    Rule: a profile describes pixels of one colour space, so it is written only when that
    space matches what is stored: 'GRAY' for gray (1) and gray+alpha (2), 'RGB ' for RGB (3)
    and RGBA (4). A CMYK profile on RGB pixels, or a gray one on pixels that became RGB
    (a colour model, WebP's RGB-only storage), would make viewers show wrong colours.
    """
    want = b"GRAY" if pixels_channels in (1, 2) else b"RGB "
    return _usable_icc(icc) if _icc_space(icc) == want else None

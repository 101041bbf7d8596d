"""The file formats we read and write: suffixes, signatures, EXIF constants, and Pillow."""
from __future__ import annotations

import functools
from pathlib import Path

#: suffix → format name
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
           ".webp": "WEBP", ".bmp": "BMP"}
IMAGE_SUFFIXES = tuple(FORMATS)
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUPPORTED = "PNG, JPEG, TIFF, WebP or BMP"
_MAX_PNG_TEXT = 64 << 20


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


@functools.lru_cache(maxsize=1)
def _pil():
    """Pillow's Image module, with its own decompression-bomb check off: we check the header
    size against our (configurable) limit ourselves, with a message that says how to raise it.

    Pillow also refuses a whole PNG whose iCCP, zTXt or iTXt chunk inflates to over 1 MB, so a
    PNG we wrote with a large ICC profile (wide-gamut and printer profiles reach megabytes),
    or one with a long comment, that every other reader opens, read as "corrupt". 64 MB, per
    chunk and for all text together, still stops inflation bombs."""
    from PIL import Image, PngImagePlugin

    Image.MAX_IMAGE_PIXELS = None
    PngImagePlugin.MAX_TEXT_CHUNK = PngImagePlugin.MAX_TEXT_MEMORY = _MAX_PNG_TEXT
    return Image

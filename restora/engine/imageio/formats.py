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


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


@functools.lru_cache(maxsize=1)
def _pil():
    """Pillow's Image module, with its own decompression-bomb check off: we check the header
    size against our (configurable) limit ourselves, with a message that says how to raise it."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    return Image

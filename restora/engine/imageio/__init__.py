"""Reading and writing photos without losing what makes them the person's photo.

Pixels go through OpenCV (fast, 16-bit, alpha); metadata (EXIF, orientation, ICC)
through Pillow, which reads headers without decoding pixels. Inside the engine
images are RGB/RGBA (or gray) ``HxWxC`` arrays; BGR exists only in this package.
Writes go to a temporary file in the target folder and are renamed into place,
so a failed or cancelled run never leaves a half-written file.

Hostile input is refused with one plain line (a :class:`BadInputError`) before any
pixel is decoded where possible: the size in the header is checked against a pixel
limit (decompression bombs), files that end early are refused as truncated, and the
C libraries' own warnings never reach the terminal.

Modules: ``formats`` (suffixes, signatures, Pillow), ``limits`` (the pixel limit),
``probe`` (header and truncation checks), ``quiet`` (silencing the C libraries),
``photo`` (:class:`Photo`), ``decode`` (:func:`read_image`, :func:`image_size`),
``icc`` (which profile goes with which pixels), ``encode`` (:func:`encode_image`,
:func:`write_image`) and ``files`` (:func:`atomic_write_bytes`, :func:`check_target`).
"""
from __future__ import annotations

from .decode import apply_orientation, image_size, read_image
from .encode import encode_image, output_format, write_image
from .files import atomic_write_bytes, check_target
from .formats import FORMATS, IMAGE_SUFFIXES, is_image_path
from .limits import DEFAULT_MAX_PIXELS, max_pixels, set_max_pixels
from .photo import Photo

__all__ = [
    "DEFAULT_MAX_PIXELS", "FORMATS", "IMAGE_SUFFIXES", "Photo", "apply_orientation", "atomic_write_bytes",
    "check_target", "encode_image", "image_size", "is_image_path", "max_pixels", "output_format", "read_image",
    "set_max_pixels", "write_image",
]

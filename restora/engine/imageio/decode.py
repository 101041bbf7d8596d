"""Reading photos: the header is checked first (see probe), then pixels are decoded through
OpenCV (Pillow for CMYK and animated WebP, tifffile for TIFF alpha) into engine order
(RGB/RGBA/gray) and turned upright by EXIF orientation."""
from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import BadInputError
from .files import as_path
from .formats import _pil
from .icc import _icc_space
from .limits import _active_limit
from .photo import Photo
from .probe import _check_file, _complete, _corrupt, _Header, _probe, _read_file
from .quiet import _quiet_stderr, _quiet_tifffile


def image_size(path: os.PathLike | str, max_pixels: Optional[int] = None) -> tuple[int, int]:
    """(width, height) of the pixels :func:`read_image` would give (EXIF rotation applied),
    from the header alone.

    Raises the BadInputError :func:`read_image` would raise for a missing, empty, non-image or
    over-limit file, so a batch can check every input before any model runs.
    """
    path = as_path(path)
    limit = _active_limit(max_pixels)
    _check_file(path)
    try:
        with open(path, "rb") as fh:
            head = _probe(path, fh, limit)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from exc
    return (head.height, head.width) if head.orientation >= 5 else (head.width, head.height)


def read_image(path: os.PathLike | str, max_pixels: Optional[int] = None) -> Photo:
    """Decode a PNG/JPEG/TIFF/WebP/BMP file. Raises BadInputError for anything unusable.

    ``max_pixels`` overrides :func:`max_pixels` for this call. Multi-page TIFFs and animated
    WebPs give their first page/frame (the photo; later pages are usually thumbnails or
    layers), like every viewer's default.
    """
    path = as_path(path)
    limit = _active_limit(max_pixels)  # a bad argument is refused before the file is read
    data = _read_file(path)
    head = _probe(path, io.BytesIO(data), limit)
    if not _complete(head.fmt, data):
        raise _corrupt(path, head.fmt, " (it ends too early)")
    pixels, icc = _decode(path, data, head)
    pixels = apply_orientation(pixels, head.orientation)
    return Photo(np.ascontiguousarray(pixels), icc, head.exif, path, head.fmt)


def _decode(path: Path, data: bytes, head: _Header) -> tuple[np.ndarray, Optional[bytes]]:
    """Pixels in engine order (RGB/RGBA/gray) and the ICC profile that goes with them."""
    if head.mode == "CMYK":
        return _decode_cmyk(path, data, head)
    pixels = _cv2_decode(data)
    if pixels is None and head.fmt == "WEBP":  # animated WebP: OpenCV < 4.11 cannot read it
        return _pillow_first_frame(path, data, head), head.icc
    if pixels is None or pixels.size == 0:
        if head.width * head.height > 1 << 30:
            raise BadInputError(f"{path}: {head.width}x{head.height} pixels is more than the image "
                                "decoder can read (1073 MP)")
        raise _corrupt(path, head.fmt)
    if head.fmt == "TIFF" and (pixels.ndim == 2 or pixels.shape[2] in (1, 4)):
        pixels = _tiff_straight_alpha(data, pixels)
    return _normalise_decoded(pixels, path), head.icc


def _cv2_decode(data: bytes) -> Optional[np.ndarray]:
    import cv2

    with _quiet_stderr():
        try:
            return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error:
            return None


def _pillow_first_frame(path: Path, data: bytes, head: _Header) -> np.ndarray:
    try:
        with _pil().open(io.BytesIO(data), formats=[head.fmt]) as im:
            im.seek(0)
            rgb = np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "PA") else "RGB"))
    except Exception as exc:  # noqa: BLE001
        raise _corrupt(path, head.fmt) from exc
    return np.ascontiguousarray(rgb)


def _decode_cmyk(path: Path, data: bytes, head: _Header) -> tuple[np.ndarray, Optional[bytes]]:
    """CMYK JPEG/TIFF to RGB through Pillow (which undoes Adobe's inverted JPEG CMYK): with the
    file's CMYK profile when it has a usable one (the result carries sRGB), else the naive
    formula (no profile: the CMYK one does not describe RGB pixels)."""
    try:
        with _pil().open(io.BytesIO(data), formats=[head.fmt]) as im:
            im.load()
            rgb, icc = _cmyk_to_rgb(im, head.icc)
            return np.ascontiguousarray(np.asarray(rgb)), icc
    except Exception as exc:  # noqa: BLE001 - Pillow's truncated-file errors vary
        raise _corrupt(path, head.fmt) from exc


def _cmyk_to_rgb(im, icc: Optional[bytes]):
    if _icc_space(icc) == b"CMYK":
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, source, _srgb_profile(), outputMode="RGB")
            return rgb, _srgb_profile().tobytes()
        except Exception:  # noqa: BLE001 - a broken or unsupported profile: naive below
            pass
    return im.convert("RGB"), None


@functools.lru_cache(maxsize=1)
def _srgb_profile():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _tiff_straight_alpha(data: bytes, decoded: np.ndarray) -> np.ndarray:
    """OpenCV reads 8-bit RGBA TIFFs through libtiff's RGBA interface, which premultiplies
    unassociated alpha (colours of semi-transparent pixels darken), and drops the alpha of
    gray+alpha TIFFs. Read those with tifffile instead; return BGRA like OpenCV (or gray+alpha),
    or ``decoded`` when tifffile cannot."""
    try:
        import tifffile

        with _quiet_tifffile(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            if tuple(page.extrasamples or ())[:1] != (2,):  # 2 = unassociated alpha
                return decoded
            arr = page.asarray()
        if arr.ndim == 3 and arr.shape[2] == 2 and arr.shape[:2] == decoded.shape[:2] \
                and arr.dtype in (np.uint8, np.uint16):
            return np.ascontiguousarray(arr)
        if arr.shape == decoded.shape and arr.dtype == np.uint8:
            return np.ascontiguousarray(arr[:, :, [2, 1, 0, 3]])
    except Exception:  # noqa: BLE001 - keep OpenCV's decode
        pass
    return decoded


def _normalise_decoded(pixels: np.ndarray, path: Path) -> np.ndarray:
    import cv2

    if pixels.dtype not in (np.uint8, np.uint16):
        if pixels.dtype.kind == "f":  # float TIFF: keep precision as 16-bit
            pixels = np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 65535.0 + 0.5
            pixels = pixels.astype(np.uint16)
        else:
            raise BadInputError(f"{path}: {pixels.dtype} pixels are not supported (8- or 16-bit only)")
    if pixels.ndim == 2:
        return pixels[:, :, None]
    channels = pixels.shape[2]
    if channels == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    if channels in (1, 2):
        return pixels
    raise BadInputError(f"{path}: images with {channels} channels are not supported")


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels upright for an EXIF orientation value (1..8)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1, :],
    }
    op = ops.get(orientation)
    return pixels if op is None else np.ascontiguousarray(op(pixels))

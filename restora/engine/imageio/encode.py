"""Writing photos: checked pixels encoded as PNG/JPEG/TIFF/WebP/BMP with their ICC profile and
EXIF, then written atomically."""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import BadInputError
from .files import as_path, atomic_write_bytes, check_target
from .formats import _EXIF_HEADER, _PNG_SIGNATURE, FORMATS, _pil
from .icc import _profile_for
from .photo import Photo, _metadata_bytes

#: largest width/height each encoder takes (WebP: 14-bit sizes; libjpeg: JPEG_MAX_DIMENSION)
_MAX_SIDE = {"WEBP": 16383, "JPEG": 65500}


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadInputError(f"{path}: unsupported output format '{path.suffix}' "
                            "(use .png, .jpg, .tif, .webp or .bmp)")
    return fmt


def _check_pixels(pixels) -> np.ndarray:
    """Pixels as a contiguous HxWxC uint8/uint16 array with 1..4 channels, or BadInputError."""
    if not isinstance(pixels, np.ndarray):
        raise BadInputError(f"cannot write {type(pixels).__name__} as an image (expected a numpy pixel array)")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise BadInputError(f"cannot write {pixels.dtype} pixels (only 8- or 16-bit: uint8 or uint16)")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3:
        raise BadInputError(f"cannot write a {pixels.ndim}-dimensional array as an image "
                            "(expected height x width x channels)")
    h, w, channels = pixels.shape
    if not 1 <= channels <= 4:
        raise BadInputError(f"cannot write an image with {channels} channels "
                            "(1 to 4: gray, gray+alpha, RGB or RGBA)")
    if h == 0 or w == 0:
        raise BadInputError(f"cannot write an empty image ({w}x{h} pixels)")
    return np.ascontiguousarray(pixels)


def _check_quality(quality) -> int:
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise BadInputError(f"quality must be a whole number from 1 to 100 (got {quality!r})")
    return int(quality)


def _check_side(pixels: np.ndarray, fmt: str) -> None:
    h, w = pixels.shape[:2]
    side = _MAX_SIDE.get(fmt)
    if side and max(h, w) > side:
        raise BadInputError(f"{fmt} images can be at most {side} pixels wide and high; this one is "
                            f"{w}x{h} (use PNG or TIFF)")


def _as_photo(photo) -> Photo:
    """A Photo as is, a bare pixel array as a Photo without metadata, else BadInputError."""
    if isinstance(photo, np.ndarray):
        return Photo(photo)
    if not isinstance(photo, Photo):
        raise BadInputError(f"cannot write {type(photo).__name__} as an image "
                            "(expected a Photo or a numpy pixel array)")
    return photo


def encode_image(photo: Photo | np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """Encode ``photo`` as ``fmt`` with its ICC profile and EXIF where the format allows."""
    photo = _as_photo(photo)
    pixels = _check_pixels(photo.pixels)
    quality = _check_quality(quality)
    _check_side(pixels, fmt)
    exif = _metadata_bytes("exif", photo.exif)  # again: the fields may have been set since
    if fmt in ("JPEG", "WEBP", "BMP") and pixels.dtype == np.uint16:
        pixels = (pixels.astype(np.uint32) * 255 + 32767) // 65535  # 16→8 bit, rounded
        pixels = pixels.astype(np.uint8)
    if fmt == "JPEG" and pixels.shape[2] in (2, 4):
        pixels = np.ascontiguousarray(pixels[:, :, :-1])  # JPEG has no alpha
    stored = max(pixels.shape[2], 3) if fmt == "WEBP" else pixels.shape[2]  # WebP is RGB(A) only
    icc = _profile_for(stored, _metadata_bytes("icc_profile", photo.icc_profile))
    try:
        return _encode(pixels, fmt, quality, icc, exif)
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - cv2.error, Pillow's OSError...: one line for people
        h, w, c = pixels.shape
        raise BadInputError(f"cannot encode a {w}x{h} {pixels.dtype} image with {c} channels as {fmt}") from exc


def _encode(pixels: np.ndarray, fmt: str, quality: int, icc: Optional[bytes], exif: Optional[bytes]) -> bytes:
    import cv2

    if fmt == "WEBP":
        return _encode_webp(pixels, quality, icc, exif)
    if fmt == "TIFF":
        return _encode_tiff(pixels, icc)
    channels = pixels.shape[2]
    if fmt == "PNG" and channels == 2:
        return _png_with_metadata(_png_gray_alpha(pixels), icc, exif)
    if channels == 3:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    elif channels == 2:  # gray+alpha BMP: OpenCV has no such layout, write BGRA
        bgr = np.dstack([pixels[:, :, 0]] * 3 + [pixels[:, :, 1]])
    else:
        bgr = pixels[:, :, 0]
    ext = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp"}[fmt]
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "JPEG" else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    if not ok:
        raise BadInputError(f"cannot encode a {pixels.dtype} image with {channels} channels as {fmt}")
    data = buf.tobytes()
    if fmt == "PNG":
        return _png_with_metadata(data, icc, exif)
    if fmt == "JPEG":
        return _jpeg_with_metadata(data, icc, exif)
    return data


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_gray_alpha(pixels: np.ndarray) -> bytes:
    """A gray+alpha PNG (colour type 4), 8- or 16-bit. OpenCV writes 2 channels as RGBA and
    Pillow has no 16-bit LA mode, but gray+alpha is plain PNG: IHDR, filtered rows, IEND."""
    h, w = pixels.shape[:2]
    itemsize = pixels.dtype.itemsize
    rows = pixels.astype(pixels.dtype.newbyteorder(">")).view(np.uint8).reshape(h, w * 2 * itemsize)
    filtered = rows.copy()
    filtered[:, 2 * itemsize:] -= rows[:, :-2 * itemsize]  # "Sub" filter (wraps mod 256, as PNG wants)
    body = np.hstack([np.ones((h, 1), np.uint8), filtered])  # filter type 1 on every row
    ihdr = struct.pack(">IIBBBBB", w, h, 8 * itemsize, 4, 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(body.tobytes(), 6)) + _png_chunk(b"IEND", b""))


def _png_with_metadata(data: bytes, icc: Optional[bytes], exif: Optional[bytes]) -> bytes:
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        extra += _png_chunk(b"eXIf", exif)
    if not extra:
        return data
    ihdr_end = 8 + 8 + 13 + 4  # signature + IHDR(len, type, 13 bytes, crc)
    return data[:ihdr_end] + extra + data[ihdr_end:]


def _jpeg_with_metadata(data: bytes, icc: Optional[bytes], exif: Optional[bytes]) -> bytes:
    segments = b""
    if exif:
        payload = _EXIF_HEADER + exif
        if len(payload) <= 65533:
            segments += b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    if icc:
        chunk = 65519
        parts = [icc[i:i + chunk] for i in range(0, len(icc), chunk)]
        for n, part in enumerate(parts, 1):
            payload = b"ICC_PROFILE\x00" + bytes([n, len(parts)]) + part
            segments += b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload
    if not segments:
        return data
    pos = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF APP0 first
        pos = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:pos] + segments + data[pos:]


def _encode_webp(pixels: np.ndarray, quality: int, icc: Optional[bytes], exif: Optional[bytes]) -> bytes:
    Image = _pil()
    if pixels.shape[2] == 1:
        im = Image.fromarray(pixels[:, :, 0], "L")
    elif pixels.shape[2] == 2:
        im = Image.fromarray(pixels, "LA").convert("RGBA")
    else:
        im = Image.fromarray(pixels, "RGB" if pixels.shape[2] == 3 else "RGBA")
    kwargs = {"quality": quality}
    if icc:
        kwargs["icc_profile"] = icc
    if exif:
        kwargs["exif"] = _EXIF_HEADER + exif
    out = io.BytesIO()
    im.save(out, "WEBP", **kwargs)
    return out.getvalue()


def _encode_tiff(pixels: np.ndarray, icc: Optional[bytes]) -> bytes:
    import tifffile

    channels = pixels.shape[2]
    data = pixels[:, :, 0] if channels == 1 else pixels
    kwargs = {"photometric": "minisblack" if channels <= 2 else "rgb", "compression": "zlib"}
    if channels in (2, 4):
        kwargs["extrasamples"] = ["unassalpha"]
    if icc:
        kwargs["iccprofile"] = icc
    out = io.BytesIO()
    tifffile.imwrite(out, np.ascontiguousarray(data), **kwargs)
    return out.getvalue()


def write_image(path: os.PathLike | str, photo: Photo | np.ndarray, *, overwrite: bool = False,
                quality: int = 95) -> Path:
    """Encode and atomically write ``photo`` (or bare pixels) to ``path``.

    Refuses to replace an existing file unless ``overwrite``, and never replaces anything but
    a regular file; never leaves a partial file (temporary file + rename). A symlink is
    written through: its target gets the new content and the link stays.
    """
    path = as_path(path)
    photo = _as_photo(photo)
    fmt = output_format(path)
    check_target(path)  # before "already exists": a device or a dangling link is never replaced
    if path.exists() and not overwrite:
        raise BadInputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.exists():
        raise BadInputError(f"{path.parent}: output folder does not exist")
    data = encode_image(photo, fmt, quality)
    try:
        atomic_write_bytes(path, data, replace=overwrite)
    except FileExistsError:   # another program made it while this one was encoding
        raise BadInputError(f"{path}: already exists (pass --overwrite to replace it)") from None
    except OSError as exc:  # read-only folder, full disk...: a one-line user error, nothing left behind
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path

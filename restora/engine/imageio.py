"""Reading and writing photos without losing what makes them the person's photo.

Pixels go through OpenCV (fast, 16-bit, alpha); metadata (EXIF, orientation, ICC)
through Pillow, which reads headers without decoding pixels. Inside the engine
images are RGB/RGBA (or gray) ``HxWxC`` arrays; BGR exists only in this module.
Writes go to a temporary file in the target folder and are renamed into place,
so a failed or cancelled run never leaves a half-written file.
"""
from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from .jobs import BadInputError

#: suffix → format name
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
           ".webp": "WEBP", ".bmp": "BMP"}
IMAGE_SUFFIXES = tuple(FORMATS)
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112


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


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


def _sniff(data: bytes) -> Optional[str]:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    return None


def read_image(path: os.PathLike | str) -> Photo:
    """Decode a PNG/JPEG/TIFF/WebP/BMP file. Raises BadInputError for anything unusable."""
    import cv2

    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: file not found")
    if path.is_dir():
        raise BadInputError(f"{path}: is a folder, expected an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from exc
    fmt = _sniff(data)
    if fmt is None:
        raise BadInputError(f"{path}: not a supported image (use PNG, JPEG, TIFF, WebP or BMP)")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise BadInputError(f"{path}: the {fmt} file is corrupt or truncated")
    if fmt == "TIFF" and (pixels.ndim == 2 or pixels.shape[2] in (1, 4)):
        pixels = _tiff_straight_alpha(data, pixels)
    pixels = _normalise_decoded(pixels, path)
    icc, exif, orientation = _read_metadata(data)
    pixels = apply_orientation(pixels, orientation)
    return Photo(np.ascontiguousarray(pixels), icc, exif, path, fmt)


def _tiff_straight_alpha(data: bytes, decoded: np.ndarray) -> np.ndarray:
    """OpenCV reads 8-bit RGBA TIFFs through libtiff's RGBA interface, which premultiplies
    unassociated alpha (colours of semi-transparent pixels darken), and drops the alpha of
    gray+alpha TIFFs. Read those with tifffile instead; return BGRA like OpenCV (or gray+alpha),
    or ``decoded`` when tifffile cannot."""
    try:
        import tifffile

        with tifffile.TiffFile(io.BytesIO(data)) as tif:
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
            pixels = np.clip(pixels, 0.0, 1.0) * 65535.0 + 0.5
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


def _read_metadata(data: bytes) -> tuple[Optional[bytes], Optional[bytes], int]:
    """(icc profile, EXIF with orientation reset, orientation 1..8). Never raises."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            icc = im.info.get("icc_profile") or None
            exif = im.getexif()
            orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
            exif_bytes = None
            if len(exif):
                exif[_ORIENTATION_TAG] = 1
                exif_bytes = exif.tobytes()
                if exif_bytes.startswith(_EXIF_HEADER):
                    exif_bytes = exif_bytes[len(_EXIF_HEADER):]
            return icc, exif_bytes, orientation if 1 <= orientation <= 8 else 1
    except Exception:  # noqa: BLE001 - metadata is best effort; pixels already decoded
        return None, None, 1


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


# --- writing -------------------------------------------------------------------

def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadInputError(f"{path}: unsupported output format '{path.suffix}' "
                            "(use .png, .jpg, .tif, .webp or .bmp)")
    return fmt


def encode_image(photo: Photo, fmt: str, quality: int = 95) -> bytes:
    """Encode ``photo`` as ``fmt`` with its ICC profile and EXIF where the format allows."""
    import cv2

    pixels = photo.pixels
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if fmt in ("JPEG", "WEBP", "BMP") and pixels.dtype == np.uint16:
        pixels = (pixels.astype(np.uint32) * 255 + 32767) // 65535  # 16→8 bit, rounded
        pixels = pixels.astype(np.uint8)
    if fmt == "JPEG" and pixels.shape[2] in (2, 4):
        pixels = pixels[:, :, :-1]  # JPEG has no alpha
    if fmt == "WEBP":
        return _encode_webp(pixels, photo, quality)
    if fmt == "TIFF":
        return _encode_tiff(pixels, photo)
    channels = pixels.shape[2]
    if channels == 3:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    elif channels == 2:  # gray+alpha: OpenCV has no such layout, write BGRA
        bgr = np.dstack([pixels[:, :, 0]] * 3 + [pixels[:, :, 1]])
    else:
        bgr = pixels[:, :, 0]
    ext = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp"}[fmt]
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "JPEG" else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    if not ok:
        raise BadInputError(f"cannot encode a {pixels.dtype} image with {channels} channels as {fmt}")
    data = buf.tobytes()
    if fmt == "PNG":
        return _png_with_metadata(data, photo.icc_profile, photo.exif)
    if fmt == "JPEG":
        return _jpeg_with_metadata(data, photo.icc_profile, photo.exif)
    return data


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


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


def _encode_webp(pixels: np.ndarray, photo: Photo, quality: int) -> bytes:
    from PIL import Image

    if pixels.shape[2] == 1:
        im = Image.fromarray(pixels[:, :, 0], "L")
    elif pixels.shape[2] == 2:
        im = Image.fromarray(np.ascontiguousarray(pixels), "LA").convert("RGBA")
    else:
        im = Image.fromarray(np.ascontiguousarray(pixels), "RGB" if pixels.shape[2] == 3 else "RGBA")
    kwargs = {"quality": int(quality)}
    if photo.icc_profile:
        kwargs["icc_profile"] = photo.icc_profile
    if photo.exif:
        kwargs["exif"] = _EXIF_HEADER + photo.exif
    out = io.BytesIO()
    im.save(out, "WEBP", **kwargs)
    return out.getvalue()


def _encode_tiff(pixels: np.ndarray, photo: Photo) -> bytes:
    import tifffile

    channels = pixels.shape[2]
    data = pixels[:, :, 0] if channels == 1 else pixels
    kwargs = {"photometric": "minisblack" if channels <= 2 else "rgb", "compression": "zlib"}
    if channels in (2, 4):
        kwargs["extrasamples"] = ["unassalpha"]
    if photo.icc_profile:
        kwargs["iccprofile"] = photo.icc_profile
    out = io.BytesIO()
    tifffile.imwrite(out, np.ascontiguousarray(data), **kwargs)
    return out.getvalue()


def write_image(path: os.PathLike | str, photo: Photo, *, overwrite: bool = False, quality: int = 95) -> Path:
    """Encode and atomically write ``photo`` to ``path``.

    Refuses to replace an existing file unless ``overwrite``; never leaves a
    partial file (temporary file + rename).
    """
    path = Path(path)
    fmt = output_format(path)
    if path.exists() and not overwrite:
        raise BadInputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.exists():
        raise BadInputError(f"{path.parent}: output folder does not exist")
    data = encode_image(photo, fmt, quality)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:  # read-only folder, full disk...: a one-line user error, nothing left behind
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

"""Reading and writing photos without losing what makes them the person's photo.

Pixels go through OpenCV (fast, 16-bit, alpha); metadata (EXIF, orientation, ICC)
through Pillow, which reads headers without decoding pixels. Inside the engine
images are RGB/RGBA (or gray) ``HxWxC`` arrays; BGR exists only in this module.
Writes go to a temporary file in the target folder and are renamed into place,
so a failed or cancelled run never leaves a half-written file.

Hostile input is refused with one plain line (a :class:`BadInputError`) before any
pixel is decoded where possible: the size in the header is checked against a pixel
limit (decompression bombs), files that end early are refused as truncated, and the
C libraries' own warnings never reach the terminal.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import stat
import struct
import sys
import tempfile
import threading
import time
import warnings
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from .jobs import BadInputError, TooLargeError

#: suffix → format name
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
           ".webp": "WEBP", ".bmp": "BMP"}
IMAGE_SUFFIXES = tuple(FORMATS)
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUPPORTED = "PNG, JPEG, TIFF, WebP or BMP"

#: The largest image read unless the person raises the limit. 300 MP covers every camera
#: sensor (≤ 200 MP) and most stitched panoramas and large-format scans, while one decoded
#: 16-bit RGBA frame stays at 2.4 GB; restoring works on several float copies of it. A
#: hostile file can claim 60000x60000 (3.6 GP, ~29 GB of RGBA16) in a few hundred bytes.
DEFAULT_MAX_PIXELS = 300_000_000
_max_pixels_override: Optional[int] = None

# Pillow warns about odd files it reads anyway ("Corrupt EXIF data", "Truncated File Read"):
# we either read the file or refuse it with one line of our own, so those would only be noise.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")


# --- pixel limit -----------------------------------------------------------------

def set_max_pixels(n: Optional[int]) -> None:
    """Set the process-wide pixel limit (the CLI's --max-pixels, the window's setting);
    ``None`` goes back to the default."""
    global _max_pixels_override
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise BadInputError(f"the pixel limit must be a whole number above 0 (got {n!r})")
    _max_pixels_override = None if n is None else int(n)


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
    return int(explicit) if explicit is not None else max_pixels()


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


# --- reading ---------------------------------------------------------------------

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


@dataclass
class _Header:
    """What the file's header says, read without decoding pixels."""
    fmt: str
    width: int
    height: int
    mode: str = ""                        # Pillow's mode ("" when Pillow could not read it)
    icc: Optional[bytes] = None
    exif: Optional[bytes] = None
    orientation: int = 1


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


def _sniff(data: bytes) -> Optional[str]:
    if data.startswith(_PNG_SIGNATURE):
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


def _other_image_kind(data: bytes) -> Optional[str]:
    """Name image formats we recognise but do not read, for a more helpful refusal."""
    if data[:4] == b"GIF8":
        return "GIF"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "HEIC"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "AVIF"
    if data.startswith(b"\xff\x0a") or data.startswith(b"\x00\x00\x00\x0cJXL "):
        return "JPEG XL"
    if data.startswith(b"\x00\x00\x00\x0cjP  "):
        return "JPEG 2000"
    if data.startswith(b"8BPS"):
        return "Photoshop (PSD)"
    return None


@functools.lru_cache(maxsize=1)
def _pil():
    """Pillow's Image module, with its own decompression-bomb check off: we check the header
    size against our (configurable) limit ourselves, with a message that says how to raise it."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    return Image


def _check_file(path: Path) -> None:
    if not path.exists():
        raise BadInputError(f"{path}: file not found")
    if path.is_dir():
        raise BadInputError(f"{path}: is a folder, expected an image file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from exc
    if size == 0:
        raise BadInputError(f"{path}: the file is empty (0 bytes)")


def _read_file(path: Path) -> bytes:
    _check_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from exc
    if not data:
        raise BadInputError(f"{path}: the file is empty (0 bytes)")
    return data


def _corrupt(path: Path, fmt: str, why: str = "") -> BadInputError:
    return BadInputError(f"{path}: the {fmt} file is corrupt or truncated{why}")


def _probe(path: Path, fh, limit: int) -> _Header:
    """Format, size and metadata from the header of the open file ``fh``; refuses what is not
    a supported image and what is over ``limit`` pixels. Decodes no pixels."""
    magic = fh.read(16)
    fh.seek(0)
    fmt = _sniff(magic)
    if fmt is None:
        other = _other_image_kind(magic)
        if other:
            raise BadInputError(f"{path}: {other} is not a supported image format (use {_SUPPORTED})")
        raise BadInputError(f"{path}: not an image (its content is not a supported image format: {_SUPPORTED})")
    head = _pillow_header(fh, fmt)
    if head is None and fmt == "TIFF":
        head = _tifffile_header(fh)
    if head is None or head.width < 1 or head.height < 1:
        raise _corrupt(path, fmt)
    _check_limit(path, head.width, head.height, limit)
    return head


def _pillow_header(fh, fmt: str) -> Optional[_Header]:
    try:
        with _pil().open(fh, formats=[fmt]) as im:
            return _Header(fmt, int(im.size[0]), int(im.size[1]), im.mode, *_metadata(im))
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for a bad header
        return None
    finally:
        fh.seek(0)


def _tifffile_header(fh) -> Optional[_Header]:
    """Size of the first page of a TIFF that Pillow cannot open (planar, float, odd bit depths)."""
    try:
        import tifffile

        with _quiet_tifffile(), tifffile.TiffFile(fh) as tif:
            page = tif.pages[0]
            return _Header("TIFF", int(page.imagewidth), int(page.imagelength))
    except Exception:  # noqa: BLE001
        return None
    finally:
        fh.seek(0)


def _metadata(im) -> tuple[Optional[bytes], Optional[bytes], int]:
    """(icc profile, EXIF with orientation reset, orientation 1..8). Never raises."""
    try:
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
    except Exception:  # noqa: BLE001 - metadata is best effort
        return None, None, 1


def image_size(path: os.PathLike | str, max_pixels: Optional[int] = None) -> tuple[int, int]:
    """(width, height) of the pixels :func:`read_image` would give (EXIF rotation applied),
    from the header alone.

    Raises the BadInputError :func:`read_image` would raise for a missing, empty, non-image or
    over-limit file, so a batch can check every input before any model runs.
    """
    path = Path(path)
    _check_file(path)
    try:
        with open(path, "rb") as fh:
            head = _probe(path, fh, _active_limit(max_pixels))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from exc
    return (head.height, head.width) if head.orientation >= 5 else (head.width, head.height)


def read_image(path: os.PathLike | str, max_pixels: Optional[int] = None) -> Photo:
    """Decode a PNG/JPEG/TIFF/WebP/BMP file. Raises BadInputError for anything unusable.

    ``max_pixels`` overrides :func:`max_pixels` for this call. Multi-page TIFFs and animated
    WebPs give their first page/frame (the photo; later pages are usually thumbnails or
    layers), like every viewer's default.
    """
    path = Path(path)
    data = _read_file(path)
    head = _probe(path, io.BytesIO(data), _active_limit(max_pixels))
    if not _complete(head.fmt, data):
        raise _corrupt(path, head.fmt, " (it ends too early)")
    pixels, icc = _decode(path, data, head)
    pixels = apply_orientation(pixels, head.orientation)
    return Photo(np.ascontiguousarray(pixels), icc, head.exif, path, head.fmt)


# --- truncation ------------------------------------------------------------------

# A marker: 0xFF then a marker code; not 0xFF00 (a stuffed 0xFF in entropy-coded data),
# not RSTn (0xD0-0xD7, inside entropy-coded data), not 0xFFFF (fill bytes).
_JPEG_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_JPEG_NO_LENGTH = {0x01, 0xD8, 0xD9}


def _complete(fmt: str, data: bytes) -> bool:
    """False when the file visibly ends early. Decoders often return a partial image (a grey
    or black bottom) or fail with a message that blames something else."""
    if fmt == "PNG":
        return data.rfind(b"\x00\x00\x00\x00IEND") >= 0
    if fmt == "JPEG":
        return _jpeg_complete(data)
    if fmt == "TIFF":
        return _tiff_complete(data)
    if fmt == "WEBP":
        return len(data) >= struct.unpack_from("<I", data, 4)[0] + 8
    return True  # BMP: OpenCV refuses short pixel data itself


def _jpeg_complete(data: bytes) -> bool:
    """True when the segments from SOI reach an EOI marker. Follows segment lengths and skips
    entropy-coded data, so an EXIF thumbnail's own EOI does not count, and data appended after
    EOI (motion photos append a video) is fine."""
    pos, n = 2, len(data)
    while True:
        m = _JPEG_MARKER.search(data, pos)
        if m is None:
            return False
        marker, pos = data[m.start() + 1], m.end()
        if marker == 0xD9:
            return True
        if marker in _JPEG_NO_LENGTH:
            continue
        if pos + 2 > n:
            return False
        pos += struct.unpack_from(">H", data, pos)[0]
        if pos > n:
            return False


def _tiff_complete(data: bytes) -> bool:
    """False when the first page's strips/tiles run past the end of the file."""
    try:
        import tifffile

        with _quiet_tifffile(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts) if c]
    except Exception:  # noqa: BLE001 - not ours to judge: the decoder will say
        return True
    return not ends or max(ends) <= len(data)


# --- decoding --------------------------------------------------------------------

_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr():
    """Point file descriptor 2 at the null device while a C decoder runs: libpng, libjpeg and
    libtiff print their warnings there directly ("libpng error: ..."), next to our own clear
    message. The lock keeps concurrent decodes from saving/restoring each other's descriptor;
    other threads' stderr output during a decode is lost, which is the price of doing it."""
    with _stderr_lock:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (pythonw): nothing to silence
            saved = None
        if saved is None:
            yield
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _QuietInThisThread:
    """A filter for tifffile's logger, which would print odd-tag warnings on stderr: drops the
    records of threads inside :func:`_quiet_tifffile` (installed once, so threads don't race)."""
    local = threading.local()

    def filter(self, _record) -> bool:
        return not getattr(self.local, "quiet", False)


@functools.lru_cache(maxsize=1)
def _tifffile_filter() -> _QuietInThisThread:
    import logging

    quiet = _QuietInThisThread()
    logging.getLogger("tifffile").addFilter(quiet)
    return quiet


@contextlib.contextmanager
def _quiet_tifffile():
    local = _tifffile_filter().local
    was, local.quiet = getattr(local, "quiet", False), True
    try:
        yield
    finally:
        local.quiet = was


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


# --- colour profiles -------------------------------------------------------------

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
    return icc if _icc_space(icc) == want else None


# --- writing ---------------------------------------------------------------------

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


def encode_image(photo: Photo, fmt: str, quality: int = 95) -> bytes:
    """Encode ``photo`` as ``fmt`` with its ICC profile and EXIF where the format allows."""
    pixels = _check_pixels(photo.pixels)
    quality = _check_quality(quality)
    _check_side(pixels, fmt)
    if fmt in ("JPEG", "WEBP", "BMP") and pixels.dtype == np.uint16:
        pixels = (pixels.astype(np.uint32) * 255 + 32767) // 65535  # 16→8 bit, rounded
        pixels = pixels.astype(np.uint8)
    if fmt == "JPEG" and pixels.shape[2] in (2, 4):
        pixels = np.ascontiguousarray(pixels[:, :, :-1])  # JPEG has no alpha
    stored = max(pixels.shape[2], 3) if fmt == "WEBP" else pixels.shape[2]  # WebP is RGB(A) only
    icc = _profile_for(stored, photo.icc_profile)
    try:
        return _encode(pixels, fmt, quality, icc, photo.exif)
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


def write_image(path: os.PathLike | str, photo: Photo, *, overwrite: bool = False, quality: int = 95) -> Path:
    """Encode and atomically write ``photo`` to ``path``.

    Refuses to replace an existing file unless ``overwrite``; never leaves a
    partial file (temporary file + rename). A symlink is written through: its target
    gets the new content and the link stays.
    """
    path = Path(path)
    fmt = output_format(path)
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise BadInputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.exists():
        raise BadInputError(f"{path.parent}: output folder does not exist")
    data = encode_image(photo, fmt, quality)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:  # read-only folder, full disk...: a one-line user error, nothing left behind
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


# --- atomic writes ---------------------------------------------------------------

#: our temporary files: ".NAME." + mkstemp's 8 random characters + ".part"
_PART_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.part$")
_STALE_PART_S = 600      # a write that has not touched its part file for 10 minutes is dead
_SWEEP_EVERY_S = 60      # a batch writing thousands of files scans its folder once a minute
_swept: dict[str, float] = {}
_sweep_lock = threading.Lock()
_umask_lock = threading.Lock()


def atomic_write_bytes(path: Path, data: bytes, mode: Optional[int] = None) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place.

    A replaced file keeps its mode; a new one gets ``mode``, by default the one a plain
    ``open()`` would give it (0o666 minus the umask). A symlink keeps pointing at its
    (rewritten) target.
    """
    path = _write_target(Path(path))
    mode = _mode_for(path, mode)
    _sweep_stale_parts(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)  # mkstemp made it 0600, which os.replace would keep
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]  # os.write may write less than asked


def _write_target(path: Path) -> Path:
    """Where the bytes go: through a symlink to the file it names (renaming onto the link
    itself would replace it by a regular file and leave the target stale)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def _mode_for(path: Path, new_mode: Optional[int]) -> Optional[int]:
    if os.name == "nt":  # no POSIX modes to carry
        return None
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return new_mode if new_mode is not None else 0o666 & ~_umask()


def _umask() -> int:
    """The process umask. Linux shows it in /proc; elsewhere it can only be read by setting
    it, so set a strict one for that instant (a file another thread creates meanwhile is
    private, not world-writable) and put it back, under a lock."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _umask_lock:
        old = os.umask(0o077)
        os.umask(old)
    return old


def _sweep_stale_parts(folder: Path) -> None:
    """Delete our own temporary files that a killed write left behind, once they are old
    enough that no live write can own them. Only names of our pattern; errors ignored."""
    key, now = os.path.abspath(folder), time.time()
    with _sweep_lock:
        if now - _swept.get(key, float("-inf")) < _SWEEP_EVERY_S:
            return
        _swept[key] = now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not _PART_NAME.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > _STALE_PART_S:
                os.unlink(entry.path)

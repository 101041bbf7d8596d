"""What a file is before any pixel is decoded: format sniffing, the header's size and metadata,
and whether the file visibly ends early."""
from __future__ import annotations

import io
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..jobs import BadInputError
from .formats import _EXIF_HEADER, _ORIENTATION_TAG, _PNG_SIGNATURE, _SUPPORTED, _pil
from .icc import _usable_icc
from .limits import _check_limit
from .quiet import _quiet_tifffile


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


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise BadInputError(f"{path}: file not found") from None
    except OSError as exc:  # too long a name, a loop of links, no permission...
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise BadInputError(f"{path}: is a folder, expected an image file")
    if not stat.S_ISREG(st.st_mode):  # reading a FIFO or a terminal would wait forever
        raise BadInputError(f"{path}: is not a regular file (a device, pipe or socket)")
    if st.st_size == 0:
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
        icc = _usable_icc(im.info.get("icc_profile"))
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

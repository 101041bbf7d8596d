"""Turning engine arrays into pictures for the screen (and the painted mask into an array).

This is display only: 16-bit photos are shown through an 8-bit copy, and every photo
gets a small pyramid of halved images so drawing a 40-megapixel photo zoomed out
never scales the whole thing. Building it is slow for big photos, so it happens on
worker threads (QImage is safe to use off the GUI thread).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage

#: The smallest pyramid level is at most this many pixels on its longer side.
MIN_LEVEL_SIDE = 512


def _screen_bytes(pixels: np.ndarray) -> np.ndarray:
    """8-bit view for the screen (the document keeps 16 bits); a single plane as HxW."""
    arr = pixels
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise TypeError(f"cannot display {arr.dtype} pixels")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return arr


def array_to_qimage(pixels: np.ndarray) -> QImage:
    """A QImage (owning its memory) showing an engine array: HxW[xC], uint8/uint16, C in 1..4."""
    arr = _screen_bytes(pixels)
    if arr.ndim == 3 and arr.shape[2] == 2:         # gray + alpha → RGBA
        arr = np.dstack([arr[:, :, 0]] * 3 + [arr[:, :, 1]])
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        fmt, target = QImage.Format_Grayscale8, QImage.Format_RGB32
    elif arr.shape[2] == 3:
        fmt, target = QImage.Format_RGB888, QImage.Format_RGB32
    else:
        fmt, target = QImage.Format_RGBA8888, QImage.Format_ARGB32_Premultiplied
    view = QImage(arr.data, w, h, arr.strides[0], fmt)
    return view.convertToFormat(target)          # a deep copy in the format QPainter draws fastest


def build_levels(image: QImage, min_side: int = MIN_LEVEL_SIDE) -> list[QImage]:
    """[full, 1/2, 1/4, ...] smoothly halved until the longer side is <= ``min_side``."""
    levels = [image]
    while max(levels[-1].width(), levels[-1].height()) > min_side:
        prev = levels[-1]
        w, h = max(1, (prev.width() + 1) // 2), max(1, (prev.height() + 1) // 2)
        levels.append(prev.scaled(w, h, Qt.IgnoreAspectRatio, Qt.SmoothTransformation))
    return levels


@dataclass
class Display:
    """What the canvas draws for one array: the full image and its halved levels.

    ``buffers`` owns the pixel memory the levels point into (when they were built from
    numpy arrays): it lives exactly as long as the Display.
    """
    levels: list[QImage] = field(default_factory=list)
    buffers: list = field(default_factory=list, repr=False)

    @property
    def width(self) -> int:
        return self.levels[0].width() if self.levels else 0

    @property
    def height(self) -> int:
        return self.levels[0].height() if self.levels else 0

    @property
    def nbytes(self) -> int:
        return sum(level.sizeInBytes() for level in self.levels)

    def level_for(self, zoom: float) -> int:
        """The smallest level still at least as detailed as the screen at ``zoom``."""
        k = 0
        while k + 1 < len(self.levels) and zoom <= 0.5 ** (k + 1):
            k += 1
        return k


def _screen_bgra(pixels: np.ndarray) -> tuple[np.ndarray, QImage.Format]:
    """HxWx4 uint8 in QImage's 32-bit memory order (B, G, R, A), and its QImage format.

    Built with numpy/OpenCV, which let go of Python's lock while they work, so a worker
    thread doing this for a huge photo never stalls the window (a single long Qt call would).
    """
    arr = _screen_bytes(pixels)
    if arr.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_GRAY2BGRA), QImage.Format_RGB32
    if arr.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGRA), QImage.Format_RGB32
    if arr.shape[2] == 2:                           # gray + alpha → RGBA
        arr = np.dstack([arr[:, :, 0]] * 3 + [arr[:, :, 1]])
    premultiplied = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGBA2mRGBA)
    return cv2.cvtColor(premultiplied, cv2.COLOR_RGBA2BGRA), QImage.Format_ARGB32_Premultiplied


def _wrap(bgra: np.ndarray, fmt: QImage.Format) -> QImage:
    h, w = bgra.shape[:2]
    return QImage(bgra.data, w, h, bgra.strides[0], fmt)


def make_display(pixels: np.ndarray, min_side: int = MIN_LEVEL_SIDE) -> Display:
    """The screen image of an engine array with its pyramid (call it on a worker thread for big photos)."""
    base, fmt = _screen_bgra(pixels)
    buffers = [base]
    while max(buffers[-1].shape[:2]) > min_side:
        prev = buffers[-1]
        h, w = prev.shape[:2]
        buffers.append(cv2.resize(prev, (max(1, (w + 1) // 2), max(1, (h + 1) // 2)), interpolation=cv2.INTER_AREA))
    return Display([_wrap(b, fmt) for b in buffers], buffers)


# --- the mask ----------------------------------------------------------------------

def new_mask_image(width: int, height: int) -> QImage:
    image = QImage(width, height, QImage.Format_Alpha8)
    image.fill(0)
    return image


def mask_view(mask: QImage) -> np.ndarray:
    """A read-only HxW uint8 view of an Alpha8 mask image (valid while ``mask`` lives unchanged)."""
    h, w, bpl = mask.height(), mask.width(), mask.bytesPerLine()
    return np.frombuffer(mask.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)[:, :w]


def mask_to_array(mask: QImage) -> np.ndarray:
    """HxW bool: True where the person painted (alpha > half)."""
    return mask_view(mask) > 127


def array_to_mask(values: np.ndarray) -> QImage:
    """Alpha8 mask image from an HxW array (bool or 0..255: non-zero means painted)."""
    arr = np.ascontiguousarray(np.where(np.asarray(values) > 0, 255, 0).astype(np.uint8))
    h, w = arr.shape
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format_Alpha8).copy()


def mask_overlay(mask: QImage, rect: QRect | None = None) -> QImage:
    """Opaque red where the mask is painted, transparent elsewhere (premultiplied ARGB), for ``rect``."""
    part = mask if rect is None else mask.copy(rect)
    alpha = np.ascontiguousarray(mask_view(part))
    zero = np.zeros_like(alpha)
    bgra = cv2.merge([zero, zero, alpha, alpha])        # premultiplied: R = A = mask value
    h, w = alpha.shape
    return QImage(bgra.data, w, h, bgra.strides[0], QImage.Format_ARGB32_Premultiplied).copy()

"""The mask a person paints: an Alpha8 QImage the size of the photo (255 = fill here).

Strokes are painted with QPainter (round pen, brush or eraser). A stroke remembers
the patch it changed, before and after, so undo restores exactly that rectangle.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from ..engine.document import PackedBits
from .display import array_to_mask, mask_to_array, mask_view, new_mask_image


#: side of the tiles a stroke saves before painting over them (undo)
TILE = 256


def bits_to_image(bits: PackedBits) -> QImage:
    """The Alpha8 mask image (255 = fill) of packed bits."""
    values = bits.to_uint8(255)
    return QImage(values.data, bits.width, bits.height, bits.width, QImage.Format_Alpha8).copy()


class PackedMask:
    """A mask image kept in the undo history: the engine's :class:`PackedBits` (one bit per pixel,
    zlib-compressed) of a QImage, given back as a QImage.

    Masks are binary (strokes are not antialiased, loaded masks are thresholded) and
    long runs of 0 and 255, so a whole-mask step of a 24 MP photo (clear, invert, a mask
    cleared by inpainting) keeps ~100 kB instead of 24 MB.
    """
    __slots__ = ("bits",)

    def __init__(self, image: QImage):
        self.bits = PackedBits(mask_view(image) > 127)

    @property
    def width(self) -> int:
        return self.bits.width

    @property
    def height(self) -> int:
        return self.bits.height

    @property
    def nbytes(self) -> int:
        return self.bits.nbytes

    def image(self) -> QImage:
        return bits_to_image(self.bits)


class MaskLayer(QObject):
    #: the rectangle (image pixels) whose mask values changed
    changed = Signal(QRect)

    def __init__(self, width: int, height: int, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.image = new_mask_image(width, height)
        self._stroke_before: Optional[dict[tuple[int, int], QImage]] = None   # tile → before
        self._stroke_rect = QRect()
        self._last: Optional[QPointF] = None
        self._pen = QPen()
        self._erase = False
        self._known_empty: Optional[bool] = True    # None = unknown; scanning a 40 MP mask costs ~10 ms
        self.changed.connect(self._forget_emptiness)

    def _forget_emptiness(self, _rect: QRect) -> None:
        if self.stroking and not self._erase and self._known_empty is False:
            return                      # painting more on a non-empty mask keeps it non-empty
        self._known_empty = None

    # --- queries --------------------------------------------------------------------
    @property
    def width(self) -> int:
        return self.image.width()

    @property
    def height(self) -> int:
        return self.image.height()

    def rect(self) -> QRect:
        return self.image.rect()

    def is_empty(self) -> bool:
        if self._known_empty is None:
            self._known_empty = not bool(mask_view(self.image).any())
        return self._known_empty

    def to_array(self) -> np.ndarray:
        """HxW bool, True where painted."""
        return mask_to_array(self.image)

    def snapshot(self) -> QImage:
        return self.image.copy()

    # --- strokes --------------------------------------------------------------------
    @property
    def stroking(self) -> bool:
        return self._stroke_before is not None

    def begin_stroke(self, pos: QPointF, size: float, erase: bool = False) -> None:
        # Tiles are saved just before the stroke first touches them, so a stroke on a
        # 40-megapixel mask copies only what it changes.
        self._stroke_before = {}
        self._stroke_rect = QRect()
        self._erase = erase
        self._pen = QPen(QColor(0, 0, 0, 255), max(1.0, float(size)), Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin)
        self._last = QPointF(pos)
        self._paint_segment(QPointF(pos), QPointF(pos))

    def stroke_to(self, pos: QPointF) -> None:
        if self._last is None:
            return
        self._paint_segment(self._last, QPointF(pos))
        self._last = QPointF(pos)

    def end_stroke(self) -> Optional[tuple[QRect, QImage, QImage]]:
        """Finish the stroke: (rect, before patch, after patch), or None if nothing changed."""
        tiles, rect = self._stroke_before, self._stroke_rect
        self._stroke_before, self._last = None, None
        if tiles is None or rect.isEmpty():
            return None
        new = self.image.copy(rect)
        old = new.copy()
        painter = QPainter(old)
        painter.setCompositionMode(QPainter.CompositionMode_Source)
        for (tx, ty), tile in tiles.items():
            painter.drawImage(tx * TILE - rect.x(), ty * TILE - rect.y(), tile)
        painter.end()
        if old == new:
            return None
        return rect, old, new

    def _save_tiles(self, dirty: QRect) -> None:
        for ty in range(dirty.top() // TILE, dirty.bottom() // TILE + 1):
            for tx in range(dirty.left() // TILE, dirty.right() // TILE + 1):
                if (tx, ty) not in self._stroke_before:
                    self._stroke_before[(tx, ty)] = self.image.copy(QRect(tx * TILE, ty * TILE, TILE, TILE))

    def _paint_segment(self, a: QPointF, b: QPointF) -> None:
        half = self._pen.widthF() / 2 + 2
        dirty = QRectF(a, b).normalized().adjusted(-half, -half, half, half).toAlignedRect() & self.rect()
        if dirty.isEmpty():
            return
        self._save_tiles(dirty)
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.Antialiasing, False)
        if self._erase:
            painter.setCompositionMode(QPainter.CompositionMode_Clear)
        painter.setPen(self._pen)
        if a == b:
            painter.drawPoint(a)
        else:
            painter.drawLine(a, b)
        painter.end()
        self._stroke_rect = self._stroke_rect.united(dirty)
        self.changed.emit(dirty)

    # --- whole-mask edits and undo ---------------------------------------------------
    def put_patch(self, rect: QRect, patch: QImage) -> None:
        painter = QPainter(self.image)
        painter.setCompositionMode(QPainter.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), patch)
        painter.end()
        self.changed.emit(QRect(rect))
        if mask_view(patch).any():
            self._known_empty = False        # no need to scan the whole mask to know that

    def set_image(self, image: QImage) -> None:
        """Replace the whole mask (size may change, e.g. after upscaling)."""
        self.image = image.convertToFormat(QImage.Format_Alpha8) if image.format() != QImage.Format_Alpha8 \
            else image.copy()
        self.changed.emit(self.rect())

    def cleared(self) -> QImage:
        return new_mask_image(self.width, self.height)

    def inverted(self) -> QImage:
        image = self.image.copy()
        image.invertPixels(QImage.InvertRgba)     # Alpha8: painted 255 <-> 0
        return image

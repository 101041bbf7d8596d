"""The mask a person paints: an Alpha8 QImage the size of the photo (255 = fill here).

Strokes are painted with QPainter (round pen, brush or eraser). A stroke remembers
the patch it changed, before and after, so undo restores exactly that rectangle.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from .display import array_to_mask, mask_to_array, mask_view, new_mask_image


class MaskLayer(QObject):
    #: the rectangle (image pixels) whose mask values changed
    changed = Signal(QRect)

    def __init__(self, width: int, height: int, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.image = new_mask_image(width, height)
        self._stroke_before: Optional[QImage] = None
        self._stroke_rect = QRect()
        self._last: Optional[QPointF] = None
        self._pen = QPen()
        self._erase = False

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
        return not bool(mask_view(self.image).any())

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
        self._stroke_before = self.image.copy()
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
        before, rect = self._stroke_before, self._stroke_rect
        self._stroke_before, self._last = None, None
        if before is None or rect.isEmpty():
            return None
        old, new = before.copy(rect), self.image.copy(rect)
        if old == new:
            return None
        return rect, old, new

    def _paint_segment(self, a: QPointF, b: QPointF) -> None:
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
        half = self._pen.widthF() / 2 + 2
        dirty = QRectF(a, b).normalized().adjusted(-half, -half, half, half).toAlignedRect() & self.rect()
        if not dirty.isEmpty():
            self._stroke_rect = self._stroke_rect.united(dirty)
            self.changed.emit(dirty)

    # --- whole-mask edits and undo ---------------------------------------------------
    def put_patch(self, rect: QRect, patch: QImage) -> None:
        painter = QPainter(self.image)
        painter.setCompositionMode(QPainter.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), patch)
        painter.end()
        self.changed.emit(QRect(rect))

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

"""The photo view: zoom, pan, mask painting and before/after comparison.

The photo is drawn by :class:`PhotoItem` from a pyramid of pre-scaled QImages, only
over the exposed rectangle: zoomed out it reads the smallest level that still has
enough detail and filters smoothly; zoomed in it draws the full image with nearest-
neighbour sampling so pixels stay crisp. Nothing is reconverted per paint, which
keeps 40-megapixel photos fluid. Scene coordinates are photo pixels.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from PySide6.QtCore import QEvent, QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QCursor
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QGraphicsEllipseItem, QGraphicsItem, QGraphicsScene,
                               QGraphicsView, QLineEdit, QPlainTextEdit, QStyleOptionGraphicsItem, QTextEdit,
                               QWidget)

from .display import Display, mask_overlay
from .document import Document
from .mask_layer import MaskLayer

MIN_ZOOM, MAX_ZOOM = 1 / 64, 64.0
ZOOM_STEP = 1.25
MASK_OPACITY = 0.45
BACKGROUND = QColor(38, 40, 44)
SPLIT_GRIP_W, SPLIT_GRIP_H = 14, 36    # the divider's grip, in screen pixels


def _checker() -> QPixmap:
    pm = QPixmap(16, 16)
    pm.fill(QColor(200, 200, 200))
    p = QPainter(pm)
    p.fillRect(0, 0, 8, 8, QColor(150, 150, 150))
    p.fillRect(8, 8, 8, 8, QColor(150, 150, 150))
    p.end()
    return pm


def _draw_levels(painter: QPainter, display: Display, target: QRect, bounds: QRectF, zoom: float) -> None:
    """Draw the part ``target`` (photo pixels, within ``bounds``) of ``display`` stretched over ``bounds``."""
    if not display.levels:
        return
    sx = display.width / bounds.width()
    sy = display.height / bounds.height()
    k = display.level_for(zoom * min(sx, sy))
    image = display.levels[k]
    fx, fy = sx * image.width() / display.width, sy * image.height() / display.height
    source = QRectF(target.x() * fx, target.y() * fy, target.width() * fx, target.height() * fy)
    painter.drawImage(QRectF(target), image, source)


class PhotoItem(QGraphicsItem):
    """The photo (and, for comparison, the photo as it was opened)."""

    def __init__(self):
        super().__init__()
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self.display: Optional[Display] = None
        self.before: Optional[Display] = None
        self.mode = "normal"          # "normal", "original" or "split"
        self.split = 0.5              # fraction of the width showing the original
        self.has_alpha = False
        self._rect = QRectF()
        self._checker = QBrush(_checker())

    def set_display(self, display: Display) -> None:
        rect = QRectF(0, 0, display.width, display.height)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.display = display
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self.display is None:
            return
        zoom = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setRenderHint(QPainter.SmoothPixmapTransform, zoom < 1.0)
        exposed = option.exposedRect.toAlignedRect() & self._rect.toRect()
        if exposed.isEmpty():
            return
        if self.has_alpha:
            painter.fillRect(exposed, self._checker)
        before = self.before if self.mode in ("original", "split") else None
        if before is None:
            _draw_levels(painter, self.display, exposed, self._rect, zoom)
            return
        if self.mode == "original":
            _draw_levels(painter, before, exposed, self._rect, zoom)
            return
        split_x = int(round(self._rect.width() * self.split))
        left = exposed & QRect(0, 0, split_x, int(self._rect.height()))
        right = exposed & QRect(split_x, 0, int(self._rect.width()) - split_x, int(self._rect.height()))
        if not left.isEmpty():
            _draw_levels(painter, before, left, self._rect, zoom)
        if not right.isEmpty():
            _draw_levels(painter, self.display, right, self._rect, zoom)
        # the divider: a cosmetic line readable on any photo (Canvas draws its grip in screen pixels)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing, True)
        x = float(split_x)
        pen = QPen(QColor(0, 0, 0, 150), 3)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(QPointF(x, 0), QPointF(x, self._rect.height()))
        pen = QPen(QColor(255, 255, 255, 230), 1)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(QPointF(x, 0), QPointF(x, self._rect.height()))
        painter.restore()


class MaskItem(QGraphicsItem):
    """The mask drawn as translucent red. Zoomed out it uses cached reduced overlays,
    updated in place as strokes land; zoomed in it colours just the exposed pixels."""

    def __init__(self, mask: MaskLayer):
        super().__init__()
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self.setOpacity(MASK_OPACITY)
        self._levels: dict[int, QImage] = {}
        self.mask = mask
        self._empty = mask.is_empty()     # known empty: nothing to draw, no overlay to build
        mask.changed.connect(self._on_changed)

    def set_mask(self, mask: MaskLayer) -> None:
        self.mask.changed.disconnect(self._on_changed)
        self.mask = mask
        mask.changed.connect(self._on_changed)
        self._levels.clear()
        self._empty = mask.is_empty()
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self.mask.rect())

    def _on_changed(self, rect: QRect) -> None:
        if self.mask.rect().size() != self.boundingRect().size() or rect == self.mask.rect():
            self.prepareGeometryChange()
            self._levels.clear()
            self._empty = self.mask.is_empty()
        else:
            if self._empty:
                # first paint on a clear mask: start from blank levels instead of scanning the
                # whole (possibly 40 MP) mask, then update just the painted rectangle below
                self._levels = {k: self._blank_level(k) for k in range(1, self._max_level() + 1)}
                self._empty = False
            for k, level in self._levels.items():
                self._update_level(k, level, rect)
        self.update(QRectF(rect))

    def _level_size(self, k: int) -> tuple[int, int]:
        f = 1 << k
        return max(1, -(-self.mask.width // f)), max(1, -(-self.mask.height // f))

    def _max_level(self) -> int:
        k = 0
        while max(self._level_size(k + 1)) >= 64:
            k += 1
        return k

    def _blank_level(self, k: int) -> QImage:
        w, h = self._level_size(k)
        image = QImage(w, h, QImage.Format_ARGB32_Premultiplied)
        image.fill(0)
        return image

    def _build_level(self, k: int) -> QImage:
        w, h = self._level_size(k)
        small = self.mask.image.scaled(w, h, Qt.IgnoreAspectRatio, Qt.FastTransformation)
        return mask_overlay(small)

    def _update_level(self, k: int, level: QImage, rect: QRect) -> None:
        f = 1 << k
        x0, y0 = rect.x() // f * f, rect.y() // f * f
        x1 = min(self.mask.width, -(-(rect.x() + rect.width()) // f) * f)
        y1 = min(self.mask.height, -(-(rect.y() + rect.height()) // f) * f)
        if x1 <= x0 or y1 <= y0:
            return
        piece = self.mask.image.copy(QRect(x0, y0, x1 - x0, y1 - y0))
        small = piece.scaled(max(1, -(-(x1 - x0) // f)), max(1, -(-(y1 - y0) // f)),
                             Qt.IgnoreAspectRatio, Qt.FastTransformation)
        painter = QPainter(level)
        painter.setCompositionMode(QPainter.CompositionMode_Source)
        painter.drawImage(x0 // f, y0 // f, mask_overlay(small))
        painter.end()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        zoom = option.levelOfDetailFromTransform(painter.worldTransform())
        exposed = option.exposedRect.toAlignedRect() & self.mask.rect()
        if exposed.isEmpty() or self._empty:
            return
        k, top = 0, self._max_level()
        while k < top and zoom <= 0.5 ** (k + 1):
            k += 1
        painter.setRenderHint(QPainter.SmoothPixmapTransform, zoom < 1.0)
        if k == 0:
            painter.drawImage(exposed.topLeft(), mask_overlay(self.mask.image, exposed))
            return
        level = self._levels.get(k)
        if level is None:
            level = self._levels[k] = self._build_level(k)
        f = float(1 << k)
        source = QRectF(exposed.x() / f, exposed.y() / f, exposed.width() / f, exposed.height() / f)
        painter.drawImage(QRectF(exposed), level, source)


class Canvas(QGraphicsView):
    zoom_changed = Signal(float)
    cursor_moved = Signal(int, int)      # photo pixel under the mouse (-1, -1 outside)
    brush_size_changed = Signal(int)
    split_changed = Signal(float)

    def __init__(self, document: Document, parent=None):
        super().__init__(parent)
        self.document = document
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QGraphicsView.NoFrame)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.DontAdjustForAntialiasing, True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setAcceptDrops(False)          # the main window takes drops
        self.viewport().setAcceptDrops(False)

        self.photo_item = PhotoItem()
        self.photo_item.has_alpha = document.photo.has_alpha
        self.scene().addItem(self.photo_item)
        self.mask_item = MaskItem(document.mask)
        self.scene().addItem(self.mask_item)
        self.cursor_item = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255, 220), 1.5)
        pen.setCosmetic(True)
        self.cursor_item.setPen(pen)
        self.cursor_item.setZValue(10)
        self.cursor_item.setVisible(False)
        self.scene().addItem(self.cursor_item)
        self.cursor_inner = QGraphicsEllipseItem(self.cursor_item)
        pen2 = QPen(QColor(0, 0, 0, 200), 1.0)
        pen2.setCosmetic(True)
        self.cursor_inner.setPen(pen2)

        self.tool = "brush"             # "brush", "eraser" or "pan"
        self.brush_size = 40
        self.mask_visible = True
        self._fit_mode = True
        self._panning: Optional[QPointF] = None
        self._space = False
        self._dragging_split = False
        self._painting = False
        self._holding_original = False

        document.display_changed.connect(self._on_display)
        document.pixels_changed.connect(self._on_pixels)
        self._on_display()

    # --- document -----------------------------------------------------------------------
    def _on_display(self) -> None:
        display = self.document.display
        if display is None:
            return
        size_changed = QRectF(0, 0, display.width, display.height) != self.photo_item.boundingRect()
        self.photo_item.set_display(display)
        self.photo_item.has_alpha = self.document.photo.has_alpha
        self.scene().setSceneRect(self.photo_item.boundingRect())
        if size_changed and self._fit_mode:
            self.fit()

    def _on_pixels(self) -> None:
        self.mask_item.prepareGeometryChange()

    # --- zoom ------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor_under_mouse: bool = False) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse if anchor_under_mouse
                                     else QGraphicsView.AnchorViewCenter)
        factor = zoom / self.zoom()
        self.scale(factor, factor)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.refresh_pointer()
        self.zoom_changed.emit(self.zoom())

    def zoom_in(self) -> None:
        self._fit_mode = False
        self.set_zoom(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self._fit_mode = False
        self.set_zoom(self.zoom() / ZOOM_STEP)

    def actual_size(self) -> None:
        self._fit_mode = False
        self.set_zoom(1.0)

    def fit(self) -> None:
        self._fit_mode = True
        rect = self.photo_item.boundingRect()
        if rect.isEmpty() or self.viewport().width() < 2:
            return
        vw, vh = self.viewport().width() - 16, self.viewport().height() - 16
        self.set_zoom(min(vw / rect.width(), vh / rect.height()))
        self.centerOn(rect.center())
        self.refresh_pointer()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        self._fit_mode = False
        self.set_zoom(self.zoom() * ZOOM_STEP ** (delta / 120.0), anchor_under_mouse=True)

    # --- comparison --------------------------------------------------------------------------
    def _ensure_before(self) -> bool:
        before = self.document.original_display(ready=self._before_ready)
        self.photo_item.before = before
        return before is not None

    def _before_ready(self) -> None:
        self.photo_item.before = self.document.original_display()
        self.photo_item.update()

    def set_compare(self, mode: str) -> None:
        """``normal``, ``original`` (the photo as opened) or ``split`` (original left of the divider)."""
        if mode != "normal":
            self._ensure_before()
        self.photo_item.mode = mode
        self.photo_item.update()
        self.viewport().update()
        self._update_cursor_item()

    def set_split(self, fraction: float) -> None:
        self.photo_item.split = min(max(fraction, 0.0), 1.0)
        self.photo_item.update()
        self.viewport().update()
        self.split_changed.emit(self.photo_item.split)

    def hold_original(self, on: bool) -> None:
        if on == self._holding_original:
            return
        self._holding_original = on
        if on:
            self._mode_before_hold = self.photo_item.mode
            self.set_compare("original")
        else:
            self.set_compare(getattr(self, "_mode_before_hold", "normal"))

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if self.photo_item.mode != "normal":      # the labels are fixed to the viewport
            self.viewport().update()
        self.refresh_pointer()

    def split_x(self) -> float:
        """The divider's x in viewport pixels."""
        width = self.photo_item.boundingRect().width()
        return self.mapFromScene(QPointF(round(width * self.photo_item.split), 0)).x()

    def split_handle_rect(self) -> QRectF:
        """The divider's grip in viewport pixels: on the line, halfway down the visible photo."""
        photo = self.mapFromScene(self.photo_item.boundingRect()).boundingRect()
        top, bottom = max(photo.top(), 0), min(photo.bottom(), self.viewport().height())
        x, y = min(max(self.split_x(), 0), self.viewport().width()), (top + bottom) / 2
        return QRectF(x - SPLIT_GRIP_W / 2, y - SPLIT_GRIP_H / 2, SPLIT_GRIP_W, SPLIT_GRIP_H)

    def _draw_split_grip(self, painter: QPainter) -> None:
        grip = self.split_handle_rect()
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0, 170), 1))
        painter.setBrush(QColor(245, 245, 245))
        painter.drawRoundedRect(grip, 4, 4)
        painter.setPen(QPen(QColor(90, 90, 90), 1))
        c = grip.center()
        for dx in (-2.0, 2.0):
            painter.drawLine(QPointF(c.x() + dx, c.y() - 8), QPointF(c.x() + dx, c.y() + 8))

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self.photo_item.mode not in ("split", "original") or self.photo_item.display is None:
            return
        painter.save()
        painter.resetTransform()
        font = painter.font()
        font.setPointSizeF(max(font.pointSizeF(), 9.0))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        top = 10

        def tag(text: str, x: float, align_right: bool) -> None:
            w = metrics.horizontalAdvance(text) + 16
            h = metrics.height() + 8
            left = x - w - 8 if align_right else x + 8
            box = QRectF(left, top, w, h)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor(240, 240, 240))
            painter.drawText(box, Qt.AlignCenter, text)

        if self.photo_item.mode == "original":
            tag("Original", 0, False)
        else:
            x = min(max(self.split_x(), 0), self.viewport().width())
            tag("Original", x, True)
            tag("Result", x, False)
            self._draw_split_grip(painter)
        painter.restore()

    # --- tools ------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self._update_cursor_item()

    def set_brush_size(self, size: int) -> None:
        size = int(min(max(size, 1), 1000))
        if size != self.brush_size:
            self.brush_size = size
            self._update_cursor_item()
            self.brush_size_changed.emit(size)

    def set_mask_visible(self, on: bool) -> None:
        self.mask_visible = on
        self.mask_item.setVisible(on)

    def _update_cursor_item(self, scene_pos: Optional[QPointF] = None) -> None:
        painting_tool = self.tool in ("brush", "eraser") and not self._space
        if scene_pos is None:
            scene_pos = self.mapToScene(self.viewport().mapFromGlobal(QCursor.pos()))
        r = self.brush_size / 2
        self.cursor_item.setRect(QRectF(scene_pos.x() - r, scene_pos.y() - r, 2 * r, 2 * r))
        inner = max(r - 1.5 / max(self.zoom(), 1e-6), 0.1)
        self.cursor_inner.setRect(QRectF(scene_pos.x() - inner, scene_pos.y() - inner, 2 * inner, 2 * inner))
        on_divider = self._dragging_split or (self._panning is None and not self._painting
                                              and self._near_split(self.mapFromScene(scene_pos)))
        self.cursor_item.setVisible(painting_tool and self.underMouse() and not on_divider)
        if on_divider:
            self.viewport().setCursor(Qt.SplitHCursor)
        elif self._space or self.tool == "pan":
            self.viewport().setCursor(Qt.OpenHandCursor if self._panning is None else Qt.ClosedHandCursor)
        elif painting_tool:
            self.viewport().setCursor(Qt.CrossCursor if self.brush_size * self.zoom() < 6 else Qt.BlankCursor)

    def refresh_pointer(self) -> None:
        """The view moved under a still mouse (fit, zoom, scroll, divider): move the brush ring and
        report the photo pixel now under the mouse."""
        pos = self.viewport().mapFromGlobal(QCursor.pos())
        scene = self.mapToScene(pos)
        self._update_cursor_item(scene)
        if self.isVisible() and self.viewport().rect().contains(pos):
            self._report_cursor(scene)

    def _report_cursor(self, scene: QPointF) -> None:
        inside = self.photo_item.boundingRect().contains(scene)
        self.cursor_moved.emit(int(scene.x()) if inside else -1, int(scene.y()) if inside else -1)

    def _near_split(self, view_pos) -> bool:
        """On the divider line or its grip (split view only)."""
        if self.photo_item.mode != "split":
            return False
        pos = QPointF(view_pos)
        return abs(pos.x() - self.split_x()) <= 6 or self.split_handle_rect().adjusted(-2, -2, 2, 2).contains(pos)

    # --- mouse & keys -----------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        pos = event.position()
        if event.button() == Qt.LeftButton and self._near_split(pos):    # the divider drags with any tool
            self._dragging_split = True
            self._update_cursor_item()
            event.accept()
            return
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton
                                                 and (self._space or self.tool == "pan")):
            self._panning = pos
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.LeftButton and self.tool in ("brush", "eraser"):
            scene = self.mapToScene(pos.toPoint())
            self._painting = True
            self.document.mask.begin_stroke(scene, self.brush_size, erase=self.tool == "eraser")
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        scene = self.mapToScene(pos.toPoint())
        if self._panning is not None:
            delta = pos - self._panning
            self._panning = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        if self._dragging_split:
            width = self.photo_item.boundingRect().width()
            if width > 0:
                self.set_split(scene.x() / width)
            self._report_cursor(scene)
            self._update_cursor_item(scene)
            return
        if self._painting:
            self.document.mask.stroke_to(scene)
        self._report_cursor(scene)
        self._update_cursor_item(scene)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._panning is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._panning = None
            self._update_cursor_item()
            return
        if self._dragging_split:
            self._dragging_split = False
            self._update_cursor_item(self.mapToScene(event.position().toPoint()))
            return
        if self._painting and event.button() == Qt.LeftButton:
            self._painting = False
            self.finish_stroke()
            return
        super().mouseReleaseEvent(event)

    def finish_stroke(self) -> None:
        erase = self.tool == "eraser"
        result = self.document.mask.end_stroke()
        if result is not None:
            rect, before, after = result
            self.document.push_stroke(rect, before, after, erase)

    def enterEvent(self, event) -> None:
        super().enterEvent(event)
        self._update_cursor_item()

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self.cursor_item.setVisible(False)
        self.cursor_moved.emit(-1, -1)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor_item()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._panning = None
            self._update_cursor_item()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self._space = False
        self.hold_original(False)


class HoldKey(QObject):
    """Calls ``on_hold(True)`` while ``key`` is held down anywhere in ``window`` and ``on_hold(False)``
    when it is released or the window loses focus. An application event filter, so it works wherever
    the keyboard focus is (a History step, the Run button...), except in fields that take text."""

    def __init__(self, window: QWidget, key: Qt.Key, on_hold: Callable[[bool], None]):
        super().__init__(window)
        self._window, self._key, self._on_hold = window, key, on_hold
        self.held = False
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind in (QEvent.KeyPress, QEvent.KeyRelease):
            if event.key() != self._key or not self._applies_to(obj):
                return False
            if not event.isAutoRepeat():
                self._set(kind == QEvent.KeyPress)
            return True
        if kind == QEvent.WindowDeactivate and self.held and obj is self._window:
            self._set(False)
        return False

    def _applies_to(self, obj) -> bool:
        if not isinstance(obj, QWidget) or obj.window() is not self._window:
            return False
        typing = isinstance(obj, (QTextEdit, QPlainTextEdit)) or (
            isinstance(obj, QLineEdit) and not isinstance(obj.parent(), QAbstractSpinBox))
        return not typing

    def _set(self, on: bool) -> None:
        if on != self.held:
            self.held = on
            self._on_hold(on)

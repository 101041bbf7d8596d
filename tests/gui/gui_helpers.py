from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def _send(widget, kind, pos: QPoint, button, buttons) -> None:
    local = QPointF(pos)
    glob = QPointF(widget.mapToGlobal(pos))
    event = QMouseEvent(kind, local, glob, button, buttons, Qt.NoModifier)
    QApplication.sendEvent(widget, event)


def drag_stroke(canvas, scene_points) -> None:
    """Press, move through and release at photo-pixel positions with the left button."""
    vp = canvas.viewport()
    pts = [canvas.mapFromScene(QPointF(*p)) for p in scene_points]
    _send(vp, QEvent.MouseButtonPress, pts[0], Qt.LeftButton, Qt.LeftButton)
    for p in pts[1:]:
        _send(vp, QEvent.MouseMove, p, Qt.NoButton, Qt.LeftButton)
    _send(vp, QEvent.MouseButtonRelease, pts[-1], Qt.LeftButton, Qt.NoButton)


def make_image(height: int = 96, width: int = 128, seed: int = 0, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A smooth gradient with some texture: inpainting and denoising visibly change it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x + y) / (width + height)], axis=2)[:, :, :channels]
    img = np.clip(base * 200 + 20 + rng.normal(0, 12, base.shape), 0, 255)
    if dtype == np.uint16:
        return (img * 257).astype(np.uint16)
    return img.astype(np.uint8)



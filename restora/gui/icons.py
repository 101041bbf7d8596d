"""qtawesome icons by purpose, with a plain fallback if an icon name is missing."""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon

NAMES = {
    "open": "mdi6.folder-open-outline", "save": "mdi6.content-save-outline", "save-as": "mdi6.content-save-edit-outline",
    "export": "mdi6.export", "undo": "mdi6.undo", "redo": "mdi6.redo", "brush": "mdi6.brush",
    "eraser": "mdi6.eraser", "pan": "mdi6.hand-back-right-outline", "clear": "mdi6.selection-remove",
    "invert": "mdi6.invert-colors", "mask-load": "mdi6.image-filter-center-focus", "mask-save": "mdi6.content-save-cog-outline",
    "mask-show": "mdi6.eye-outline", "zoom-in": "mdi6.magnify-plus-outline", "zoom-out": "mdi6.magnify-minus-outline",
    "fit": "mdi6.fit-to-screen-outline", "actual": "mdi6.numeric-1-box-outline", "original": "mdi6.compare",
    "split": "mdi6.compare-horizontal", "run": "mdi6.play", "cancel": "mdi6.stop", "add-model": "mdi6.file-plus-outline",
    "inpaint": "mdi6.auto-fix", "denoise": "mdi6.blur-off", "upscale": "mdi6.arrow-expand-all", "generate": "mdi6.creation",
    "classical": "mdi6.cog-outline", "builtin": "mdi6.star-outline", "user": "mdi6.file-outline",
    "device-gpu": "mdi6.expansion-card", "device-cpu": "mdi6.cpu-64-bit", "history": "mdi6.history",
    "close": "mdi6.close", "app": "mdi6.image-auto-adjust", "recent": "mdi6.clock-outline", "warning": "mdi6.alert-outline",
    "detect": "mdi6.magnify-scan", "sensitivity": "mdi6.tune-variant",
}


@lru_cache(maxsize=None)
def icon(purpose: str, color: str = "#d8dadf") -> QIcon:
    try:
        import qtawesome as qta
        return qta.icon(NAMES.get(purpose, purpose), color=color, color_disabled="#6b6f78")
    except Exception:  # noqa: BLE001 - an icon is never worth a crash
        return QIcon()

"""Small dialogs: export options and the grid of samples / variants to pick from."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QListView, QListWidget, QListWidgetItem, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

EXPORT_FORMATS = {  # label: (suffix, keeps 16-bit, keeps alpha, has quality)
    "PNG": (".png", True, True, False),
    "JPEG": (".jpg", False, False, True),
    "TIFF": (".tif", True, True, False),
    "WebP": (".webp", False, True, True),
}
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"
SAVE_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;TIFF (*.tif *.tiff);;WebP (*.webp)"
MODEL_FILTER = "Model files (*.pth *.pt *.ckpt *.safetensors);;All files (*)"


class ExportDialog(QDialog):
    """Where and how to export: format, JPEG/WebP quality. The document keeps its own path."""

    def __init__(self, suggested: Path, sixteen_bit: bool, alpha: bool, quality: int = 92, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export — Restora")
        self.sixteen_bit, self.alpha = sixteen_bit, alpha
        form = QFormLayout()
        self.format = QComboBox()
        self.format.addItems(list(EXPORT_FORMATS))
        self.path = QLineEdit(str(suggested))
        browse = QPushButton("Browse…")
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.path, 1)
        lay.addWidget(browse)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(quality)
        self.quality.setSuffix(" %")
        self.quality.setToolTip("Higher keeps more detail and makes bigger files")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setObjectName("hint")
        form.addRow("Format", self.format)
        form.addRow("File", row)
        form.addRow("Quality", self.quality)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addLayout(form)
        outer.addWidget(self.note)
        outer.addWidget(buttons)
        self.format.currentTextChanged.connect(self._on_format)
        browse.clicked.connect(self._browse)
        suffix = suggested.suffix.lower()
        for label, (ext, *_rest) in EXPORT_FORMATS.items():
            if suffix in (ext, ".jpeg" if ext == ".jpg" else ext, ".tiff" if ext == ".tif" else ext):
                self.format.setCurrentText(label)
        self._on_format(self.format.currentText())
        self.resize(520, self.sizeHint().height())

    def _on_format(self, label: str) -> None:
        ext, keeps16, keeps_alpha, has_quality = EXPORT_FORMATS[label]
        self.quality.setEnabled(has_quality)
        path = Path(self.path.text())
        self.path.setText(str(path.with_suffix(ext)))
        notes = ["Colour profile and EXIF are kept."]
        if self.sixteen_bit and not keeps16:
            notes.append(f"{label} is 8-bit: the 16-bit photo is reduced to 8 bits.")
        if self.alpha and not keeps_alpha:
            notes.append(f"{label} has no transparency: the alpha channel is dropped.")
        self.note.setText(" ".join(notes))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), SAVE_FILTER)
        if path:
            self.path.setText(path)

    def values(self) -> tuple[Path, int]:
        return Path(self.path.text()).expanduser(), self.quality.value()


class SamplesDialog(QDialog):
    """A grid of thumbnails; clicking one emits ``picked(index)``."""

    picked = Signal(int)

    def __init__(self, title: str, text: str, thumbnails: list, captions: list[str], close_on_pick: bool, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"{title} — Restora")
        self.close_on_pick = close_on_pick
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMovement(QListView.Static)
        self.grid.setIconSize(QSize(180, 180))
        self.grid.setGridSize(QSize(200, 215))
        self.grid.setSpacing(6)
        for thumb, caption in zip(thumbnails, captions):
            item = QListWidgetItem(QPixmap.fromImage(thumb), caption)
            item.setTextAlignment(Qt.AlignHCenter)
            self.grid.addItem(item)
        self.grid.itemClicked.connect(lambda item: self._pick(self.grid.row(item)))
        lay = QVBoxLayout(self)
        label = QLabel(text)
        label.setObjectName("hint")
        lay.addWidget(label)
        lay.addWidget(self.grid, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(min(4, max(2, len(thumbnails))) * 205 + 40, 520 if len(thumbnails) > 4 else 320)

    def _pick(self, index: int) -> None:
        self.picked.emit(index)
        if self.close_on_pick:
            self.accept()

"""Small dialogs: export options, the grid of samples / variants to pick from, the shortcut list,
About, Save All on quitting, the one message for files that could not be opened, and the
highlight shown while files are dragged over the window."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QListView, QListWidget, QListWidgetItem, QMessageBox,
                               QPushButton, QSpinBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from ..engine.registry import MODEL_SUFFIXES

EXPORT_FORMATS = {  # label: (suffix, keeps 16-bit, keeps alpha, has quality)
    "PNG": (".png", True, True, False),
    "JPEG": (".jpg", False, False, True),
    "TIFF": (".tif", True, True, False),
    "WebP": (".webp", False, True, True),
}
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"
SAVE_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;TIFF (*.tif *.tiff);;WebP (*.webp)"
MODEL_FILTER = ("Model files (" + " ".join("*" + s for s in MODEL_SUFFIXES) + ");;All files (*)")


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


# --- Help ------------------------------------------------------------------------------------
#: keys that act while held, which no QAction can describe
HELD_KEYS = [("Show the original (hold)", "\\"), ("Pan (hold, then drag)", "Space"),
             ("Pan", "Middle-button drag"), ("Zoom", "Mouse wheel")]
ABOUT_LINE = ("Restora repairs old and damaged photos on your own computer: it fills scratches and tears, "
              "removes noise and enlarges photos, with classical methods or the models you add.")


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").replace("…", "").strip()


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action of ``window`` that has a shortcut, in menu order, then
    the held keys. Read from the QActions themselves, so the list stays true."""
    rows, seen = [], set()

    def add(section: str, action) -> None:
        keys = [k.toString(QKeySequence.NativeText) for k in action.shortcuts() if not k.isEmpty()]
        if keys and id(action) not in seen:
            seen.add(id(action))
            label = action.property("helpText") or action.text()
            rows.append((section, _plain(label), " or ".join(dict.fromkeys(keys))))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            for action in top.menu().actions():
                add(_plain(top.text()), action)
    for action in window.actions():
        add("Other", action)
    return rows + [("Photo view", label, keys) for label, keys in HELD_KEYS]


class ShortcutsDialog(QDialog):
    """The keyboard shortcuts, grouped by menu."""

    def __init__(self, rows: list[tuple[str, str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts — Restora")
        self.rows = rows
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setRootIsDecorated(False)
        sections: dict[str, QTreeWidgetItem] = {}
        for section, label, keys in rows:
            if section not in sections:
                sections[section] = QTreeWidgetItem(self.tree, [section])
                sections[section].setFirstColumnSpanned(True)
                font = sections[section].font(0)
                font.setBold(True)
                sections[section].setFont(0, font)
            QTreeWidgetItem(sections[section], [label, keys])
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tree)
        lay.addWidget(buttons)
        self.resize(460, 560)


def app_version() -> str:
    try:
        return importlib.metadata.version("restora")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


def about_text() -> str:
    return f"<h3>Restora {app_version()}</h3><p>{ABOUT_LINE}</p>"


# --- quitting with changes ---------------------------------------------------------------------
def ask_save_all(parent, titles: list[str]) -> str:
    """'save', 'discard' or 'cancel' for several photos with unsaved changes, in one question."""
    box = QMessageBox(QMessageBox.Warning, "Restora", f"Save the changes to {len(titles)} photos?",
                      QMessageBox.NoButton, parent)
    box.setInformativeText("Your changes are lost if you don't save them.\n\n" + "\n".join(titles))
    save = box.addButton("Save All", QMessageBox.AcceptRole)
    discard = box.addButton("Discard All", QMessageBox.DestructiveRole)
    box.setDefaultButton(save)
    box.setEscapeButton(box.addButton(QMessageBox.Cancel))
    box.exec()
    clicked = box.clickedButton()
    return "save" if clicked is save else "discard" if clicked is discard else "cancel"


# --- files that could not be opened ---------------------------------------------------------------
def file_problem(path: Path, message: str) -> str:
    """``name: reason``: the engine's message without the path it starts with, so the path is said once."""
    reason = message.strip()
    for prefix in (str(path), str(path.resolve()), path.name):
        if reason.startswith(prefix + ":"):
            reason = reason[len(prefix) + 1:].strip()
            break
    return f"{path.name}: {reason}"


class FileProblems:
    """Collects what went wrong with files opened together (dropped, chosen or given on the command
    line) and reports them in ONE message, one file a line, once every file has been tried.

    ``begin()`` before each background open, ``end(path, message)`` when it fails or ``end()``
    when it is done; ``close()`` once every open has been started."""

    def __init__(self, report: Callable[[str, str], None]):
        self._report = report
        self._pending = 0
        self._closed = False
        self.problems: list[str] = []

    @classmethod
    def alone(cls, report: Callable[[str, str], None]) -> "FileProblems":
        """For a file opened on its own: reported as soon as it fails."""
        problems = cls(report)
        problems.close()
        return problems

    def add(self, path: Path, message: str) -> None:
        self.problems.append(file_problem(path, message))
        self._flush()

    def begin(self) -> None:
        self._pending += 1

    def end(self, path: Optional[Path] = None, message: str = "") -> None:
        self._pending -= 1
        if path is not None:
            self.add(path, message)
        self._flush()

    def close(self) -> None:
        self._closed = True
        self._flush()

    def _flush(self) -> None:
        if self._closed and self._pending <= 0 and self.problems:
            lines, self.problems = self.problems, []
            self._report("\n".join(lines), "Cannot open this file" if len(lines) == 1
                         else f"Cannot open {len(lines)} files")


# --- drag and drop ------------------------------------------------------------------------------
class DropOverlay(QLabel):
    """A highlighted frame over its parent while files are dragged over the window."""

    TEXT = "Drop photos or model files to open them"

    def __init__(self, parent: QWidget):
        super().__init__(self.TEXT, parent)
        self.setObjectName("dropOverlay")
        self.setAlignment(Qt.AlignCenter)
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setStyleSheet("QLabel#dropOverlay { background: rgba(61, 111, 217, 60); color: #e6e8ec;"
                           " border: 3px dashed #5b8def; border-radius: 10px; font-size: 18px;"
                           " font-weight: 600; }")
        self.hide()

    def show_over_parent(self) -> None:
        self.setGeometry(self.parentWidget().rect().adjusted(8, 8, -8, -8))
        self.raise_()
        self.show()


class SensitivityDialog(QDialog):
    """A slider for the damage detector's threshold: ``changed(threshold)`` fires as it moves
    (the window re-thresholds the stored map, the network does not run again)."""

    changed = Signal(float)

    def __init__(self, threshold: float, parent=None):
        from PySide6.QtWidgets import QSlider

        super().__init__(parent)
        self.setWindowTitle("Detection Sensitivity")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Move right to mark more (fainter damage), left to mark less."))
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(1, 99)
        self.slider.setValue(int(round((1.0 - threshold) * 100)))
        self.value_label = QLabel()
        lay.addWidget(self.slider)
        lay.addWidget(self.value_label)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.slider.valueChanged.connect(self._moved)
        self._moved(self.slider.value())

    def threshold(self) -> float:
        return round(1.0 - self.slider.value() / 100.0, 2)

    def _moved(self, _value: int) -> None:
        self.value_label.setText(f"Sensitivity {self.slider.value()} % (marks pixels the detector is "
                                 f"{self.threshold():.0%} sure of)")
        self.changed.emit(self.threshold())

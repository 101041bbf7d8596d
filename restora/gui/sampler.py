"""The Generate window: a grid of samples from one generator, "More" to extend it, a
truncation slider, two samples picked for a walk between them, a click to open one.

The dialog only shows and asks: every sampling runs as a window job (worker, progress,
cancel) started by ``JobControlMixin`` from the requests this dialog emits.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QDialog, QDialogButtonBox, QHBoxLayout, QLabel,
                               QListView, QListWidget, QListWidgetItem, QPushButton, QSlider, QSpinBox,
                               QVBoxLayout)

HINT = ("Click a sample to open it as a new photo. Ctrl+click two samples, then Walk, for the images "
        "between them.")
PSI_STEPS = 100            # the slider's units per 1.0 of truncation psi


class SamplerDialog(QDialog):
    """Samples of ``model``: ``results`` (jobs.Result, with ``seed``) in grid order."""

    open_requested = Signal(int)                 # a sample's index: open it as a new photo
    more_requested = Signal(int, int, float)     # first seed, count, psi
    resample_requested = Signal(list, float)     # the grid's seeds again, at another psi
    walk_requested = Signal(int, int, int, float)  # seed A, seed B, steps, psi

    def __init__(self, model: str, count: int, parent=None):
        super().__init__(parent)
        self.model, self.count = model, max(int(count), 1)
        self.results: list = []
        self.setWindowTitle(f"Samples of {model} — Restora")
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMovement(QListView.Static)
        self.grid.setSelectionMode(QAbstractItemView.MultiSelection)
        self.grid.setIconSize(QSize(160, 160))
        self.grid.setGridSize(QSize(180, 195))
        self.grid.setSpacing(6)
        self.grid.itemClicked.connect(self._clicked)
        self.grid.itemSelectionChanged.connect(self._selection_changed)

        self.psi = QSlider(Qt.Horizontal)
        self.psi.setRange(0, 2 * PSI_STEPS)
        self.psi.setValue(PSI_STEPS)
        self.psi.setToolTip("Truncation ψ: 1 = none; lower gives more typical, less varied images "
                            "(toward the generator's average)")
        self.psi_label = QLabel()
        self.psi.valueChanged.connect(self._psi_moved)
        self._psi_timer = QTimer(self, singleShot=True, interval=350)   # resample once the slider rests
        self._psi_timer.timeout.connect(self._resample)
        self.more = QPushButton("More")
        self.more.setToolTip("Sample the next seeds")
        self.more.clicked.connect(self._more)
        self.steps = QSpinBox()
        self.steps.setRange(2, 64)
        self.steps.setValue(8)
        self.steps.setToolTip("Images in the walk, both ends included")
        self.walk = QPushButton("Walk")
        self.walk.clicked.connect(self._walk)

        lay = QVBoxLayout(self)
        hint = QLabel(HINT)
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        lay.addWidget(self.grid, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Truncation ψ"))
        row.addWidget(self.psi, 1)
        row.addWidget(self.psi_label)
        row.addSpacing(12)
        row.addWidget(self.more)
        row.addSpacing(12)
        row.addWidget(QLabel("Steps"))
        row.addWidget(self.steps)
        row.addWidget(self.walk)
        lay.addLayout(row)
        self.status = QLabel()
        self.status.setObjectName("hint")
        lay.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._busy = False
        self._psi_moved(self.psi.value())
        self._selection_changed()
        self.resize(4 * 185 + 60, 560)

    # --- what the window tells it --------------------------------------------------------
    def truncation(self) -> float:
        return self.psi.value() / PSI_STEPS

    def set_results(self, results: list, append: bool = False) -> None:
        """Show ``results`` (replacing the grid, or after it)."""
        if not append:
            self.grid.clear()
            self.results = []
        for r in results:
            item = QListWidgetItem(QPixmap.fromImage(r.thumbnail), r.label.replace("Generated ", ""))
            item.setTextAlignment(Qt.AlignHCenter)
            item.setToolTip(r.label)
            self.grid.addItem(item)
            self.results.append(r)
        self._selection_changed()

    def set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        for w in (self.more, self.psi):
            w.setEnabled(not busy)
        self.status.setText(text)
        self._selection_changed()

    # --- what the person does -------------------------------------------------------------
    def _clicked(self, item: QListWidgetItem) -> None:
        if QApplication.keyboardModifiers() & (Qt.ControlModifier | Qt.ShiftModifier | Qt.MetaModifier):
            return                                   # picking for a walk, not opening
        item.setSelected(False)
        self._pick(self.grid.row(item))

    def _pick(self, index: int) -> None:
        self.open_requested.emit(index)

    def picked(self) -> list[int]:
        return sorted(self.grid.row(i) for i in self.grid.selectedItems())

    def _selection_changed(self) -> None:
        picked = self.picked()
        if len(picked) > 2:                          # keep the last two picks
            for row in picked[:-2]:
                self.grid.item(row).setSelected(False)
            picked = self.picked()
        seeds = [self.results[i].seed for i in picked] if len(picked) == 2 else []
        ok = len(seeds) == 2 and None not in seeds and not self._busy
        self.walk.setEnabled(ok)
        self.walk.setToolTip(f"The walk from seed {seeds[0]} to seed {seeds[1]}" if ok else
                             "Ctrl+click two samples to walk between them")

    def _psi_moved(self, value: int) -> None:
        self.psi_label.setText(f"{value / PSI_STEPS:.2f}")
        if self.results:
            self._psi_timer.start()

    def _seeds(self) -> list[int]:
        return [r.seed for r in self.results if r.seed is not None]

    def _resample(self) -> None:
        seeds = self._seeds()
        if seeds and not self._busy:
            self.resample_requested.emit(seeds, self.truncation())

    def _more(self) -> None:
        seeds = self._seeds()
        self.more_requested.emit((max(seeds) + 1) if seeds else 0, self.count, self.truncation())

    def _walk(self) -> None:
        picked = self.picked()
        if len(picked) == 2:
            a, b = (self.results[i].seed for i in picked)
            self.walk_requested.emit(a, b, self.steps.value(), self.truncation())

    def walk_seeds(self) -> Optional[tuple[int, int]]:
        picked = self.picked()
        return tuple(self.results[i].seed for i in picked) if len(picked) == 2 else None

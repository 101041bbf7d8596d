"""The Generate window: a grid of samples from one generator, "More" to extend it, a
truncation slider, two samples picked for a walk between them, a click to open one.

The dialog only shows and asks: every sampling runs as a window job (worker, progress,
cancel) started by ``JobControlMixin`` from the requests this dialog emits; the dialog shows
that job's progress and a Cancel button of its own, and closing it cancels the job.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListView,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSlider, QSpinBox,
                               QVBoxLayout)

from .worker import show_fraction

HINT = ("Click a sample to open it as a new photo. Ctrl+click two samples, then Walk, for a walk "
        "from the first to the second.")
PICK_MODIFIERS = Qt.ControlModifier | Qt.ShiftModifier | Qt.MetaModifier
PSI_STEPS = 100            # the slider's units per 1.0 of truncation psi


class SamplerDialog(QDialog):
    """Samples of ``model``: ``results`` (jobs.Result, with ``seed``) in grid order."""

    open_requested = Signal(int)                 # a sample's index: open it as a new photo
    more_requested = Signal(int, int, float)     # first seed, count, psi
    resample_requested = Signal(list, float)     # the grid again at another psi: seeds, (a, b, steps) walks
    walk_requested = Signal(int, int, int, float)  # seed A, seed B, steps, psi
    cancel_requested = Signal()                  # stop this window's running job

    def __init__(self, model: str, count: int, parent=None):
        super().__init__(parent)
        self.model, self.count = model, max(int(count), 1)
        self.results: list = []
        self._picks: list[int] = []                  # picked rows, oldest first
        self._pressed: Optional[int] = None          # the row a plain press landed on
        self.setWindowTitle(f"Samples of {model} — Restora")
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMovement(QListView.Static)
        self.grid.setSelectionMode(QAbstractItemView.MultiSelection)
        self.grid.setIconSize(QSize(160, 160))
        self.grid.setGridSize(QSize(180, 195))
        self.grid.setSpacing(6)
        self.grid.viewport().installEventFilter(self)   # clicks are ours: open, or pick with Ctrl
        self.grid.itemActivated.connect(self._activated)  # the keyboard's (mouse presses never reach it)
        self.grid.itemSelectionChanged.connect(self._selection_changed)

        self.psi = QSlider(Qt.Horizontal)
        self.psi.setRange(0, 2 * PSI_STEPS)
        self.psi.setValue(PSI_STEPS)
        self.psi.setToolTip("Truncation ψ: 1 = none; lower gives more typical, less varied images "
                            "(StyleGAN: toward the file's average W; other generators: the latent scaled "
                            "toward zero)")
        self.psi_label = QLabel()
        self.psi.valueChanged.connect(self._psi_moved)
        self._psi_timer = QTimer(self, singleShot=True, interval=350)   # resample once the slider rests
        self._psi_timer.timeout.connect(self._resample)
        self.more = QPushButton("More")
        self.more.setAutoDefault(False)                  # Return in Steps must not sample more
        self.more.setToolTip("Sample the next seeds")
        self.more.clicked.connect(self._more)
        self.steps = QSpinBox()
        self.steps.setRange(2, 64)
        self.steps.setValue(8)
        self.steps.setToolTip("Images in the walk, both ends included")
        self.walk = QPushButton("Walk")
        self.walk.setAutoDefault(False)
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
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop sampling; what is shown stays")
        self.cancel.clicked.connect(self.cancel_requested)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.progress)
        status_row.addWidget(self.cancel)
        lay.addLayout(status_row)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._busy = False
        self._resample_pending = False               # the slider moved while a job ran
        self.progress.hide()
        self.cancel.hide()
        self._psi_moved(self.psi.value())
        self._selection_changed()
        self.resize(4 * 185 + 60, 560)

    # --- what the window tells it --------------------------------------------------------
    def truncation(self) -> float:
        return self.psi.value() / PSI_STEPS

    def set_results(self, results: list, append: bool = False, redraw: bool = False) -> None:
        """Show ``results`` (replacing the grid, or after it). ``redraw``: the same grid at
        another truncation, so the picks stay on the same rows."""
        keep = self._picks if redraw and len(results) == len(self.results) else []
        if not append:
            self._picks = []
            self.grid.blockSignals(True)
            self.grid.clear()
            self.grid.blockSignals(False)
            self.results = []
        for r in results:
            item = QListWidgetItem(QPixmap.fromImage(r.thumbnail), r.label.replace("Generated ", ""))
            item.setTextAlignment(Qt.AlignHCenter)
            item.setToolTip(r.label)
            self.grid.addItem(item)
            self.results.append(r)
        if keep:
            self.grid.blockSignals(True)
            for row in keep:
                self.grid.item(row).setSelected(True)
            self.grid.blockSignals(False)
            self._picks = list(keep)
        self._selection_changed()

    def set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        for w in (self.more, self.psi):
            w.setEnabled(not busy)
        self.status.setText(text)
        self.progress.setRange(0, 0)                 # busy until the job's first report
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        self.cancel.setEnabled(busy)
        self._selection_changed()
        if not busy and self._resample_pending:      # redraw at the ψ the slider now shows
            self._resample_pending = False
            self._psi_timer.start()

    def set_progress(self, fraction: float) -> None:
        show_fraction(self.progress, fraction)

    def cancelling(self) -> None:
        self.cancel.setEnabled(False)
        self.status.setText("Cancelling…")

    def reject(self) -> None:                        # Close, Esc and the title bar's close
        if self._busy:                               # its result would have nowhere to go
            self.cancel_requested.emit()
        super().reject()

    # --- what the person does -------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:
        """A plain click on a sample opens it; Ctrl (or Shift, Cmd) + click picks it for a walk.
        The grid never toggles a pick itself, so opening a sample leaves the picks as they were."""
        kind = event.type()
        if obj is not self.grid.viewport():
            return super().eventFilter(obj, event)
        if kind == QEvent.MouseMove and event.buttons() & Qt.LeftButton:
            return True                              # a drag would pick every sample it crosses
        if kind in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease, QEvent.MouseButtonDblClick):
            item = self.grid.itemAt(event.position().toPoint())
            if kind == QEvent.MouseButtonPress:
                self._pressed = None
            if item is None or event.button() != Qt.LeftButton:
                return super().eventFilter(obj, event)
            row = self.grid.row(item)
            if event.modifiers() & PICK_MODIFIERS:
                if kind == QEvent.MouseButtonPress:
                    item.setSelected(not item.isSelected())
            elif kind == QEvent.MouseButtonPress:
                self._pressed = row
            elif kind == QEvent.MouseButtonRelease and self._pressed == row:
                self._pressed = None
                self._pick(row)
            return True
        return super().eventFilter(obj, event)

    def _activated(self, item: QListWidgetItem) -> None:
        """Return (or Enter) on the current sample opens it, as a click does."""
        self._pick(self.grid.row(item))

    def _pick(self, index: int) -> None:
        self.open_requested.emit(index)

    def picked(self) -> list[int]:
        """The picked rows, in the order they were picked."""
        return list(self._picks)

    def _selection_changed(self) -> None:
        rows = {self.grid.row(i) for i in self.grid.selectedItems()}
        self._picks = [r for r in self._picks if r in rows] + sorted(rows - set(self._picks))
        if len(self._picks) > 2:                     # a third pick replaces the oldest
            self.grid.blockSignals(True)
            for row in self._picks[:-2]:
                self.grid.item(row).setSelected(False)
            self.grid.blockSignals(False)
            self._picks = self._picks[-2:]
        seeds = self.walk_seeds() or ()
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

    def entries(self) -> list:
        """What the grid shows, in order, as the window can make it again: a seed (int), or
        a walk (seed A, seed B, steps) for each walk's run of images."""
        out: list = []
        for r in self.results:
            if r.seed is not None:
                out.append(r.seed)
            elif r.walk is not None and r.walk[3] == 0:
                out.append(tuple(r.walk[:3]))
        return out

    def _resample(self) -> None:
        entries = self.entries()
        if entries and self._busy:
            self._resample_pending = True
        elif entries:
            self.resample_requested.emit(entries, self.truncation())

    def _more(self) -> None:
        seeds = self._seeds()
        self.more_requested.emit((max(seeds) + 1) if seeds else 0, self.count, self.truncation())

    def _walk(self) -> None:
        seeds = self.walk_seeds()
        if seeds is not None and None not in seeds:
            self.walk_requested.emit(seeds[0], seeds[1], self.steps.value(), self.truncation())

    def walk_seeds(self) -> Optional[tuple[int, int]]:
        """The two picked samples' seeds, first pick first (None for a walk image)."""
        if len(self._picks) != 2:
            return None
        return tuple(self.results[i].seed for i in self._picks)

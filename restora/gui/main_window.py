"""Restora's main window: tabs of photos, the model dock, history, and the jobs that run them.

``MainWindow`` composes one mixin per concern and keeps what ties them together: building the
window, the open documents and their tabs, the mask tools, and closing.

- ``actions.ActionsMixin``: actions, toolbar, menus, status bar, ``_update_state``
- ``files.FilesMixin``: open / save / export / recent / drops / mask, recipe and model files
- ``job_control.JobControlMixin``: ``run_task``, ``start_job``, progress, cancel, results, detection
- ``compare.CompareMixin``: Show Original and the split view
"""
from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QUndoGroup
from PySide6.QtWidgets import (QApplication, QDockWidget, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                               QPushButton, QStackedWidget, QTabWidget, QToolButton, QUndoView, QVBoxLayout, QWidget)

from ..engine import Registry, default_registry, set_max_pixels
from ..engine.spill import SpillStore
from . import jobs
from .actions import APP_NAME, BRUSH_MAX, BRUSH_MIN, ActionsMixin
from .canvas import Canvas, HoldKey
from .compare import CompareMixin
from .dialogs import DropOverlay, SamplesDialog
from .document import Document
from .files import MAX_RECENT, FilesMixin, expand_paths
from .icons import icon
from .job_control import JobControlMixin
from .model_panel import TASK_LABELS, ModelPanel
from .worker import Worker, wait_all

__all__ = ["APP_NAME", "BRUSH_MAX", "BRUSH_MIN", "DEFAULT_SIZE", "MAX_RECENT", "EmptyPage", "MainWindow",
           "expand_paths", "settings_store"]

log = logging.getLogger(__name__)

DEFAULT_SIZE = QSize(1400, 900)


def settings_store() -> QSettings:
    """Restora's settings (an INI file in the user's config folder)."""
    return QSettings(QSettings.IniFormat, QSettings.UserScope, "Restora", "Restora")


class EmptyPage(QWidget):
    """What the window shows with no photo open."""

    def __init__(self, window: "MainWindow"):
        super().__init__()
        self.setObjectName("empty")
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        logo = QLabel()
        logo.setPixmap(icon("app", "#5b8def").pixmap(96, 96))
        logo.setAlignment(Qt.AlignCenter)
        outer.addWidget(logo)
        title = QLabel("Restora")
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignCenter)
        outer.addWidget(title)
        text = QLabel("Open a photo to repair scratches, remove noise or enlarge it.\n"
                      "You can also drop photos, folders or model files anywhere on this window.")
        text.setObjectName("hint")
        text.setAlignment(Qt.AlignCenter)
        outer.addWidget(text)
        row = QHBoxLayout()
        row.addStretch(1)
        button = QPushButton(icon("open", "#ffffff"), "  Open photo…")
        button.setObjectName("run")
        button.setMinimumWidth(180)
        button.clicked.connect(window.open_dialog)
        row.addWidget(button)
        row.addStretch(1)
        outer.addLayout(row)
        self.recent_box = QVBoxLayout()
        self.recent_box.setAlignment(Qt.AlignHCenter)
        outer.addSpacing(12)
        outer.addLayout(self.recent_box)
        outer.addStretch(3)
        self.window_ = window

    def set_recent(self, paths: list[str]) -> None:
        while self.recent_box.count():
            item = self.recent_box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not paths:
            return
        head = QLabel("RECENT")
        head.setObjectName("heading")
        head.setAlignment(Qt.AlignCenter)
        self.recent_box.addWidget(head)
        for p in paths[:6]:
            b = QPushButton(icon("recent"), Path(p).name)
            b.setFlat(True)
            b.setObjectName("link")
            b.setToolTip(p)
            b.clicked.connect(lambda _=False, p=p: self.window_.open_paths([p]))
            self.recent_box.addWidget(b)


class MainWindow(ActionsMixin, FilesMixin, JobControlMixin, CompareMixin, QMainWindow):
    """The window: its parts are built here; each concern's methods come from its mixin."""

    def __init__(self, registry: Optional[Registry] = None, settings: Optional[QSettings] = None):
        super().__init__()
        self.registry = registry or default_registry()
        self.settings = settings or settings_store()
        self.documents: list[Document] = []
        #: one memory budget for the history of every open photo (older steps go to disk)
        self.history_store = SpillStore()
        self.job: Optional[Worker] = None
        self.job_doc: Optional[Document] = None
        self.job_label = ""
        self.last_error: Optional[str] = None
        self._opening: list[Worker] = []
        self._saving: list[Worker] = []
        self._samples: list[SamplesDialog] = []
        self.brush_size = int(self.settings.value("brush/size", 40))
        limit = self.settings.value("limits/max_megapixels")
        if limit is not None:   # the person's own limit (Edit ▸ Largest Photo to Open…)
            set_max_pixels(max(1, int(limit)) * 1_000_000)

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(icon("app", "#5b8def"))
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks)

        self.undo_group = QUndoGroup(self)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(False)      # our own close buttons (see add_document)
        self.tabs.setMovable(True)
        self.tabs.currentChanged.connect(self._on_tab)
        self.empty = EmptyPage(self)
        self.central = QStackedWidget()
        self.central.addWidget(self.empty)
        self.central.addWidget(self.tabs)
        self.setCentralWidget(self.central)
        self.drop_overlay = DropOverlay(self.central)
        #: hold \ anywhere in the window to see the photo as it was opened
        self.hold_key = HoldKey(self, Qt.Key_Backslash, lambda on: self._canvas_call("hold_original", on))

        self.panel = ModelPanel()
        self.panel_dock = QDockWidget("Restore", self)
        self.panel_dock.setObjectName("modelDock")
        self.panel_dock.setWidget(self.panel)
        self.panel_dock.setMinimumWidth(290)
        self.addDockWidget(Qt.RightDockWidgetArea, self.panel_dock)
        self.history = QUndoView(self.undo_group)
        self.history.setEmptyLabel("Opened")
        self.history.setCleanIcon(icon("save"))
        self.history_dock = QDockWidget("History", self)
        self.history_dock.setObjectName("historyDock")
        self.history_dock.setWidget(self.history)
        self.addDockWidget(Qt.RightDockWidgetArea, self.history_dock)
        self.resizeDocks([self.panel_dock, self.history_dock], [620, 220], Qt.Vertical)

        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_statusbar()

        self.panel.run_requested.connect(self.run_task)
        self.panel.cancel_requested.connect(self.cancel_job)
        self.panel.add_model_requested.connect(self.add_model_dialog)
        self.panel.set_user_dir(self.registry.user_dir)
        task = self.settings.value("panel/task", "inpaint")
        if task in TASK_LABELS:
            self.panel.set_task(task)

        self.elapsed_timer = QTimer(self)
        self.elapsed_timer.setInterval(100)
        self.elapsed_timer.timeout.connect(self._tick)

        self._restore_layout()
        self._update_recent()
        self._update_state()
        self.refresh_models()
        self._start_background(jobs.detect_device, self._device_ready,
                               lambda msg: self.panel.set_device("CPU (no GPU detected)"))

    # ------------------------------------------------------------------------------------------
    # dialogs (one method each, so tests can replace them)
    def show_error(self, message: str, title: str = "Restora") -> None:
        self.last_error = message
        self.statusBar().showMessage(message.replace("\n", "; "), 8000)
        QMessageBox.warning(self, title, message)

    def ask(self, title: str, text: str, yes: str = "OK", no: str = "Cancel") -> bool:
        box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.NoButton, self)
        ok = box.addButton(yes, QMessageBox.AcceptRole)
        box.addButton(no, QMessageBox.RejectRole)
        box.exec()
        return box.clickedButton() is ok

    # ------------------------------------------------------------------------------------------
    # documents
    def current_canvas(self) -> Optional[Canvas]:
        w = self.tabs.currentWidget()
        return w if isinstance(w, Canvas) else None

    def current_document(self) -> Optional[Document]:
        c = self.current_canvas()
        return c.document if c else None

    def canvas_for(self, doc: Document) -> Optional[Canvas]:
        for i in range(self.tabs.count()):
            if self.tabs.widget(i).document is doc:
                return self.tabs.widget(i)
        return None

    def add_document(self, doc: Document) -> Canvas:
        self.documents.append(doc)
        canvas = Canvas(doc)
        canvas.set_brush_size(self.brush_size)
        canvas.set_tool(self._tool())
        canvas.set_mask_visible(self.act_show_mask.isChecked())
        canvas.zoom_changed.connect(self._on_zoom)
        canvas.cursor_moved.connect(self._on_cursor)
        canvas.split_changed.connect(lambda _f: None)
        self.undo_group.addStack(doc.undo_stack)
        doc.undo_stack.cleanChanged.connect(lambda _c, d=doc: self._on_history(d))
        doc.undo_stack.indexChanged.connect(lambda _i, d=doc: self._on_history(d))
        doc.path_changed.connect(lambda d=doc: self._update_titles(d))
        doc.pixels_changed.connect(lambda d=doc: d is self.current_document() and self._update_state())
        index = self.tabs.addTab(canvas, doc.title)
        close = QToolButton()
        close.setIcon(icon("close", "#9aa0aa"))
        close.setAutoRaise(True)
        close.setToolTip("Close this photo (Ctrl+W)")
        close.setFixedSize(18, 18)
        close.clicked.connect(lambda _=False, d=doc: self.close_document(d))
        self.tabs.tabBar().setTabButton(index, self.tabs.tabBar().ButtonPosition.RightSide, close)
        self.tabs.setTabToolTip(index, str(doc.path) if doc.path else doc.title)
        self.tabs.setCurrentIndex(index)
        self.central.setCurrentWidget(self.tabs)
        self._update_titles(doc)
        canvas.setFocus()
        if self.act_split.isChecked():
            canvas.set_compare("split")
        return canvas

    def close_document(self, doc: Optional[Document], ask: bool = True) -> bool:
        if doc is None:
            return False
        if ask and doc.modified:
            self.tabs.setCurrentWidget(self.canvas_for(doc))
            answer = self.ask_save_changes(doc)
            if answer == "cancel":
                return False
            if answer == "save" and not self.save_blocking(doc):
                return False
        if self.job is not None and self.job_doc is doc:
            self.job.cancel()
        canvas = self.canvas_for(doc)
        self.tabs.removeTab(self.tabs.indexOf(canvas))
        canvas.deleteLater()
        self.undo_group.removeStack(doc.undo_stack)
        self.documents.remove(doc)
        doc.close()
        self._update_state()
        return True

    def _on_tab(self, _index: int) -> None:
        doc = self.current_document()
        self.undo_group.setActiveStack(doc.undo_stack if doc else None)
        canvas = self.current_canvas()
        if canvas is not None:
            canvas.set_compare(self._compare_mode())
            self._on_zoom(canvas.zoom())
        self._update_state()

    def _on_history(self, doc: Document) -> None:
        try:
            self._update_titles(doc)
        except RuntimeError:      # the stack is being destroyed with the window
            return
        if doc is self.current_document():
            self._update_state()

    def _update_titles(self, doc: Document) -> None:
        if doc.closed or doc not in self.documents:
            return
        canvas = self.canvas_for(doc)
        if canvas is not None:
            i = self.tabs.indexOf(canvas)
            self.tabs.setTabText(i, doc.title + (" •" if doc.modified else ""))
            self.tabs.setTabToolTip(i, str(doc.path) if doc.path else doc.title)
        self._update_window_title()

    def _update_window_title(self) -> None:
        doc = self.current_document()
        if doc is None:
            self.setWindowTitle(APP_NAME)
        else:
            self.setWindowTitle(f"{doc.title}{' •' if doc.modified else ''} — {APP_NAME}")

    # ------------------------------------------------------------------------------------------
    # mask & tools
    def _tool(self) -> str:
        return "eraser" if self.act_eraser.isChecked() else "pan" if self.act_pan.isChecked() else "brush"

    def set_tool(self, tool: str) -> None:
        for c in self._canvases():
            c.set_tool(tool)

    def _canvases(self) -> list[Canvas]:
        return [self.tabs.widget(i) for i in range(self.tabs.count())]

    def set_brush_size(self, size: float) -> None:
        size = int(round(min(max(size, BRUSH_MIN), BRUSH_MAX)))
        self.brush_size = size
        for w in (self.size_slider, self.size_spin):
            if w.value() != size:
                w.blockSignals(True)
                w.setValue(size)
                w.blockSignals(False)
        for c in self._canvases():
            c.set_brush_size(size)

    def set_mask_visible(self, on: bool) -> None:
        for c in self._canvases():
            c.set_mask_visible(on)

    def clear_mask(self) -> None:
        doc = self.current_document()
        if doc and not doc.mask.is_empty():
            doc.push_mask(doc.mask.cleared(), "Clear mask")

    def invert_mask(self) -> None:
        doc = self.current_document()
        if doc:
            doc.push_mask(doc.mask.inverted(), "Invert mask")

    # ------------------------------------------------------------------------------------------
    # layout & closing
    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = QApplication.primaryScreen()
            size = DEFAULT_SIZE
            if screen is not None:
                avail = screen.availableGeometry().size()
                size = QSize(min(size.width(), int(avail.width() * 0.9)), min(size.height(), int(avail.height() * 0.9)))
            self.resize(size)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("brush/size", self.brush_size)
        self.settings.setValue("panel/task", self.panel.task())
        self.settings.sync()

    def _settle_unsaved(self) -> bool:
        """Before quitting: ask about each changed photo, or once (Save All / Discard All) for several.
        False when the person cancels (or a save does not happen)."""
        changed = [d for d in self.documents if d.modified]
        answer = self.ask_save_all(changed) if len(changed) > 1 else None
        if answer in ("cancel", "discard"):
            return answer == "discard"
        for doc in changed:
            self.tabs.setCurrentWidget(self.canvas_for(doc))
            answer = answer or self.ask_save_changes(doc)
            if answer == "cancel" or (answer == "save" and not self.save_blocking(doc)):
                return False
        return True

    def closeEvent(self, event) -> None:
        if not self._settle_unsaved():
            event.ignore()
            return
        self.save_layout()
        if self.job is not None:
            self.job.cancel()
        for dialog in list(self._samples):
            dialog.close()
        wait_all(10000)
        for doc in list(self.documents):
            self.close_document(doc, ask=False)
        self.history_store.close()
        gc.unfreeze()        # let interpreter shutdown collect everything normally
        event.accept()

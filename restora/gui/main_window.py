"""Restora's main window: tabs of photos, the model dock, history, and the jobs that run them."""
from __future__ import annotations

import gc
import logging
import os
import time
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSlider, QSpinBox, QStackedWidget,
                               QTabWidget, QToolBar, QToolButton, QUndoView, QVBoxLayout, QWidget)

from ..engine import (IMAGE_SUFFIXES, Photo, Registry, RestoraError, default_registry, is_image_path,
                      mask_to_bool, max_pixels, read_image, set_max_pixels, write_image)
from ..engine.jobs import TooLargeError, UntrustedCodeError
from ..engine.registry import MODEL_SUFFIXES
from ..engine.spill import SpillStore
from . import jobs
from .canvas import Canvas, HoldKey
from .dialogs import (MODEL_FILTER, OPEN_FILTER, SAVE_FILTER, DropOverlay, ExportDialog, FileProblems, SamplesDialog,
                      ShortcutsDialog, about_text, ask_save_all, shortcut_rows)
from .display import array_to_mask, mask_view, make_display
from .document import Document
from .icons import icon
from .model_panel import TASK_LABELS, ModelPanel
from .worker import Worker, wait_all

log = logging.getLogger(__name__)

APP_NAME = "Restora"
MAX_RECENT = 10
DEFAULT_SIZE = QSize(1400, 900)
BRUSH_MIN, BRUSH_MAX = 1, 500


def settings_store() -> QSettings:
    """Restora's settings (an INI file in the user's config folder)."""
    return QSettings(QSettings.IniFormat, QSettings.UserScope, "Restora", "Restora")


def _is_model_file(path: Path) -> bool:
    return path.suffix.lower() in MODEL_SUFFIXES


def expand_paths(paths: list[str]) -> tuple[list[Path], list[Path], list[Path]]:
    """(images, model files, unusable) from files and folders (a folder gives its images, sorted)."""
    images, models, bad = [], [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            images += sorted(p for p in path.iterdir() if p.is_file() and is_image_path(p))
        elif _is_model_file(path):
            models.append(path)
        elif is_image_path(path) or not path.exists():
            images.append(path)     # a missing file gets the engine's clear message
        else:
            bad.append(path)
    return images, models, bad


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


class MainWindow(QMainWindow):
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

    def _device_ready(self, name: str) -> None:
        self.panel.set_device(name)
        # torch is imported now: hundreds of thousands of long-lived objects. A full garbage
        # collection scanning them holds Python's lock for ~0.3 s, freezing the window in the
        # middle of a job; freezing them out of the collector keeps every collection short.
        gc.freeze()

    # ------------------------------------------------------------------------------------------
    # building
    def _act(self, name: str, text: str, slot: Callable, shortcut=None, tip: str = "", icon_name: str = "",
             checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        keys = action.shortcut().toString(QKeySequence.NativeText)
        action.setToolTip(f"{tip or text.replace('…', '')}" + (f"  ({keys})" if keys else ""))
        action.setStatusTip(tip or text.replace("…", ""))
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _=False: slot())
        self.addAction(action)
        setattr(self, f"act_{name}", action)
        return action

    def _build_actions(self) -> None:
        A = self._act
        A("open", "&Open…", self.open_dialog, QKeySequence.Open, "Open photos", "open")
        A("save", "&Save", self.save, QKeySequence.Save, "Save the photo (asks before replacing the original)", "save")
        A("save_as", "Save &As…", self.save_as, QKeySequence.SaveAs, "Save the photo under a new name", "save-as")
        A("export", "&Export…", self.export, "Ctrl+E", "Export as PNG, JPEG, TIFF or WebP", "export")
        A("close", "&Close Photo", lambda: self.close_document(self.current_document()), QKeySequence.Close,
          "Close the current photo", "close")
        A("quit", "&Quit", self.close, QKeySequence.Quit, "Quit Restora")
        self.act_undo = self.undo_group.createUndoAction(self, "&Undo")
        self.act_undo.setIcon(icon("undo"))
        self.act_undo.setShortcuts([QKeySequence.Undo])
        self.act_undo.setToolTip("Undo (Ctrl+Z)")
        self.act_redo = self.undo_group.createRedoAction(self, "&Redo")
        self.act_redo.setIcon(icon("redo"))
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_redo.setToolTip("Redo (Ctrl+Shift+Z)")
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)

        self.tool_group = QActionGroup(self)
        for name, text, key, tip in (("brush", "&Brush", "B", "Paint the mask"),
                                     ("eraser", "&Eraser", "E", "Erase the mask"),
                                     ("pan", "&Hand", "H", "Pan the photo (or hold Space, or drag with the middle button)")):
            act = A(name, text, lambda on, n=name: on and self.set_tool(n), key, tip, name, checkable=True)
            self.tool_group.addAction(act)
        self.act_brush.setChecked(True)
        A("smaller", "Smaller Brush", lambda: self.set_brush_size(self.brush_size / 1.2 if self.brush_size > 5 else self.brush_size - 1), "[",
          "Smaller brush")
        A("bigger", "Bigger Brush", lambda: self.set_brush_size(self.brush_size * 1.2 if self.brush_size > 5 else self.brush_size + 1), "]",
          "Bigger brush")
        A("clear_mask", "&Clear Mask", self.clear_mask, "Ctrl+Shift+D", "Clear the mask", "clear")
        A("invert_mask", "&Invert Mask", self.invert_mask, "Ctrl+Shift+I", "Invert the mask", "invert")
        A("detect", "&Detect Damage", self.detect_damage, "Ctrl+D",
          "Propose a mask over scratches, dust, stains and tears (one undoable step; refine it with the brush)",
          None)
        A("sensitivity", "Detection &Sensitivity…", self.detection_sensitivity_dialog, None,
          "Mark more or less of what the detector found, without running it again", None)
        A("load_mask", "&Load Mask…", self.load_mask, None, "Load a mask image (white or opaque = fill)", "mask-load")
        A("save_mask", "&Save Mask…", self.save_mask, None, "Save the mask as a black-and-white PNG", "mask-save")
        A("show_mask", "Show &Mask", self.set_mask_visible, "M", "Show or hide the red mask overlay", "mask-show",
          checkable=True)
        self.act_show_mask.setChecked(True)

        A("zoom_in", "Zoom &In", lambda: self._canvas_call("zoom_in"), [QKeySequence.ZoomIn, "Ctrl+="], "Zoom in", "zoom-in")
        A("zoom_out", "Zoom &Out", lambda: self._canvas_call("zoom_out"), QKeySequence.ZoomOut, "Zoom out", "zoom-out")
        A("fit", "&Fit to Window", lambda: self._canvas_call("fit"), "F", "Fit the photo to the window", "fit")
        A("actual", "&100%", lambda: self._canvas_call("actual_size"), "1", "Show photo pixels 1:1", "actual")
        A("original", "Show &Original", self.set_show_original, None,
          "Show the photo as it was opened (or hold \\)", "original", checkable=True)
        A("split", "S&plit View", self.set_split_view, "Y", "Original on the left, result on the right; drag the divider",
          "split", checkable=True)

        A("run", "&Run", self.run_task, "Ctrl+Return", "Run the chosen task", "run")
        A("cancel", "&Cancel Job", self.cancel_job, "Esc", "Stop the running job; the photo stays as it was", "cancel")
        A("add_model", "&Add Model File…", self.add_model_dialog, None, "Add a .pth / .safetensors model", "add-model")
        A("export_recipe", "&Export Recipe…", self.export_recipe, None,
          "Save what was done to this photo (tasks, models, parameters, masks) to replay elsewhere", None)
        A("apply_recipe", "A&pply Recipe…", self.apply_recipe, None,
          "Replay a recipe file on this photo (steps whose mask does not fit use the painted mask)", None)
        A("max_pixels", "Largest Photo to &Open…", self.set_max_megapixels_dialog, None,
          "Photos bigger than this are refused before they are read (asks to open them anyway)", None)
        A("shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, "F1", "List every keyboard shortcut")
        A("about", "&About Restora", self.show_about, None, "Restora's version and what it does")
        self.act_undo.setProperty("helpText", "Undo")     # their text names the step to undo
        self.act_redo.setProperty("helpText", "Redo")

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setIconSize(QSize(20, 20))
        bar.setMovable(False)
        self.addToolBar(Qt.TopToolBarArea, bar)
        for a in (self.act_open, self.act_save, self.act_export):
            bar.addAction(a)
        bar.addSeparator()
        bar.addAction(self.act_undo)
        bar.addAction(self.act_redo)
        bar.addSeparator()
        for a in (self.act_brush, self.act_eraser, self.act_pan):
            bar.addAction(a)
        self.size_slider = QSlider(Qt.Horizontal)
        self.size_slider.setRange(BRUSH_MIN, BRUSH_MAX)
        self.size_slider.setFixedWidth(120)
        self.size_slider.setToolTip("Brush size in photo pixels ([ and ])")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(BRUSH_MIN, BRUSH_MAX)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip(self.size_slider.toolTip())
        self.size_slider.valueChanged.connect(self.set_brush_size)
        self.size_spin.valueChanged.connect(self.set_brush_size)
        size_label = QLabel(" Size ")
        size_label.setObjectName("hint")
        bar.addWidget(size_label)
        bar.addWidget(self.size_slider)
        bar.addWidget(self.size_spin)
        for a in (self.act_show_mask, self.act_clear_mask, self.act_invert_mask):
            bar.addAction(a)
        bar.addSeparator()
        for a in (self.act_zoom_out, self.act_zoom_in, self.act_fit, self.act_actual):
            bar.addAction(a)
        bar.addSeparator()
        bar.addAction(self.act_original)
        bar.addAction(self.act_split)
        self.toolbar = bar
        self.set_brush_size(self.brush_size)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_open)
        self.recent_menu = m.addMenu(icon("recent"), "Open &Recent")
        m.addAction(self.act_add_model)
        m.addSeparator()
        for a in (self.act_save, self.act_save_as, self.act_export):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_close)
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        m.addAction(self.act_undo)
        m.addAction(self.act_redo)
        m.addSeparator()
        m.addAction(self.act_export_recipe)
        m.addAction(self.act_apply_recipe)
        m.addSeparator()
        m.addAction(self.act_max_pixels)
        m = mb.addMenu("&Mask")
        for a in (self.act_brush, self.act_eraser, self.act_pan, self.act_smaller, self.act_bigger, None,
                  self.act_show_mask, self.act_clear_mask, self.act_invert_mask, None, self.act_detect,
                  self.act_sensitivity, None, self.act_load_mask,
                  self.act_save_mask):
            m.addSeparator() if a is None else m.addAction(a)
        m = mb.addMenu("&View")
        for a in (self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_actual, None, self.act_original,
                  self.act_split, None):
            m.addSeparator() if a is None else m.addAction(a)
        m.addAction(self.panel_dock.toggleViewAction())
        m.addAction(self.history_dock.toggleViewAction())
        m = mb.addMenu("&Run")
        for a in (self.act_run, self.act_cancel, None, self.act_add_model):
            m.addSeparator() if a is None else m.addAction(a)
        m = mb.addMenu("&Help")
        m.addAction(self.act_shortcuts)
        m.addAction(self.act_about)

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.status_progress = QProgressBar()
        self.status_progress.setRange(0, 1000)
        self.status_progress.setFixedWidth(180)
        self.status_progress.setFixedHeight(14)
        self.status_progress.setTextVisible(False)
        self.status_progress.setVisible(False)
        self.elapsed_label = QLabel()
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.act_cancel)
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.setVisible(False)
        self.pos_label = QLabel()
        self.size_label = QLabel()
        self.zoom_label = QLabel()
        for w in (self.pos_label, self.size_label, self.zoom_label):
            w.setObjectName("statusField")
        self.pos_label.setMinimumWidth(90)
        self.pos_label.setToolTip("Photo pixel under the mouse")
        self.size_label.setToolTip("Photo size, channels and bit depth")
        self.zoom_label.setToolTip("Zoom (F fits, 1 shows 100%)")
        self.zoom_label.setMinimumWidth(56)
        for w in (self.elapsed_label, self.status_progress, self.cancel_button, self.pos_label, self.size_label,
                  self.zoom_label):
            sb.addPermanentWidget(w)
        sb.showMessage("Ready", 3000)

    # ------------------------------------------------------------------------------------------
    # dialogs (one method each, so tests can replace them)
    def show_error(self, message: str, title: str = "Restora") -> None:
        self.last_error = message
        self.statusBar().showMessage(message.replace("\n", "; "), 8000)
        QMessageBox.warning(self, title, message)

    def show_shortcuts(self) -> None:
        self._keep_dialog(ShortcutsDialog(shortcut_rows(self), self))

    def show_about(self) -> None:
        QMessageBox.about(self, "About Restora", about_text())

    def ask(self, title: str, text: str, yes: str = "OK", no: str = "Cancel") -> bool:
        box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.NoButton, self)
        ok = box.addButton(yes, QMessageBox.AcceptRole)
        box.addButton(no, QMessageBox.RejectRole)
        box.exec()
        return box.clickedButton() is ok

    def ask_save_changes(self, doc: Document) -> str:
        """'save', 'discard' or 'cancel' for a photo with unsaved changes."""
        box = QMessageBox(QMessageBox.Warning, APP_NAME, f"Save the changes to “{doc.title}”?",
                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, self)
        box.setInformativeText("Your changes are lost if you don't save them.")
        answer = box.exec()
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def ask_save_all(self, docs: list[Document]) -> str:
        """'save', 'discard' or 'cancel' for several photos with unsaved changes (when quitting)."""
        return ask_save_all(self, [d.title for d in docs])

    def ask_overwrite_original(self, doc: Document) -> str:
        """'overwrite', 'save_as' or 'cancel' before saving over the file a photo was opened from."""
        box = QMessageBox(QMessageBox.Warning, APP_NAME, f"Replace the original file “{doc.title}”?", parent=self)
        box.setInformativeText("The original photo will be overwritten. Choose Save As to keep it.")
        replace = box.addButton("Replace", QMessageBox.DestructiveRole)
        save_as = box.addButton("Save As…", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(save_as)
        box.exec()
        clicked = box.clickedButton()
        return "overwrite" if clicked is replace else "save_as" if clicked is save_as else "cancel"

    def get_open_paths(self) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open photos", self._last_dir(), OPEN_FILTER)
        return paths

    def get_save_path(self, doc: Document, caption: str = "Save photo as", suggested: Optional[Path] = None) -> Optional[str]:
        suggested = suggested or self._suggest_path(doc)
        path, _ = QFileDialog.getSaveFileName(self, caption, str(suggested), SAVE_FILTER)
        return path or None

    def get_export(self, doc: Document) -> Optional[tuple[Path, int]]:
        dialog = ExportDialog(self._suggest_path(doc), doc.pixels.dtype.itemsize == 2, doc.photo.has_alpha,
                              int(self.settings.value("export/quality", 92)), self)
        if dialog.exec() != ExportDialog.Accepted:
            return None
        return dialog.values()

    def get_model_path(self) -> Optional[str]:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model file", self._last_dir(), MODEL_FILTER)
        return path or None

    def get_mask_path(self, save: bool) -> Optional[str]:
        if save:
            doc = self.current_document()
            base = (doc.path or Path(self._last_dir()) / "photo.png") if doc else Path("mask.png")
            path, _ = QFileDialog.getSaveFileName(self, "Save mask", str(base.with_name(base.stem + "_mask.png")),
                                                  "PNG (*.png)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Load mask", self._last_dir(), OPEN_FILTER)
        return path or None

    def _last_dir(self) -> str:
        return str(self.settings.value("paths/last_dir", str(Path.home())))

    def _suggest_path(self, doc: Document) -> Path:
        if doc.path is not None:
            if doc.path == doc.source:
                return doc.path.with_name(doc.path.stem + "_restored" + doc.path.suffix)
            return doc.path
        name = doc.title.replace(" ", "_").lower()
        return Path(self._last_dir()) / f"{name}.png"

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

    def open_dialog(self) -> None:
        paths = self.get_open_paths()
        if paths:
            self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """Open photos, folders and model files; what fails is reported in one message at the end."""
        images, models, bad = expand_paths([str(p) for p in paths])
        problems = FileProblems(self.show_error)
        for path in bad:
            problems.add(path, f"not a photo or a model file (photos: {', '.join(sorted(set(IMAGE_SUFFIXES)))}; "
                               f"models: {', '.join(MODEL_SUFFIXES)})")
        for path in models:
            self.add_model(str(path), problems)
        if not images and not models and not bad and paths:
            self.statusBar().showMessage("No photos found there", 5000)
        for path in images:
            resolved = path.resolve() if path.exists() else path
            existing = next((d for d in self.documents if d.source and d.source.resolve() == resolved), None)
            if existing is not None:
                self.tabs.setCurrentWidget(self.canvas_for(existing))
                continue
            self._open_one(resolved, problems=problems)
        problems.close()

    def ask_open_large(self, path: Path, exc: TooLargeError) -> bool:
        """Whether to open a photo over the pixel limit anyway (default: no)."""
        need_gb = exc.width * exc.height * 4 * 6 / 1e9   # pixels, display, undo copy, work: ~24 B/px
        return self.ask("Open a very large photo?",
                        f"“{path.name}” is {exc.width:,} × {exc.height:,} pixels "
                        f"({exc.width * exc.height / 1e6:,.0f} megapixels), more than the "
                        f"{exc.limit / 1e6:,.0f}-megapixel limit (Edit ▸ Largest Photo to Open…).\n\n"
                        f"Opening it needs roughly {need_gb:,.0f} GB of memory. A damaged or hostile "
                        "file can claim a huge size it does not have.", "Open Anyway", "Cancel")

    def set_max_megapixels_dialog(self) -> None:
        current = int(self.settings.value("limits/max_megapixels", max_pixels() // 1_000_000))
        value, ok = QInputDialog.getInt(self, "Largest Photo to Open",
                                        "Refuse photos larger than (megapixels):", current, 1, 100_000)
        if ok:
            self.settings.setValue("limits/max_megapixels", value)
            set_max_pixels(value * 1_000_000)

    def _open_one(self, path: Path, limit: Optional[int] = None, problems: Optional[FileProblems] = None) -> None:
        self.statusBar().showMessage(f"Opening {path.name}…")
        worker = Worker(jobs.open_photo, str(path), limit)
        self._opening.append(worker)
        problems = problems or FileProblems.alone(self.show_error)
        problems.begin()

        def done(result) -> None:
            if isinstance(result, TooLargeError):
                if self.ask_open_large(path, result):
                    self._open_one(path, result.width * result.height, problems)
                else:
                    self.statusBar().showMessage(f"Not opened: {path.name} (too large)", 6000)
                problems.end()
                return
            photo, display = result
            photo.source = Path(path)
            self.add_document(Document(photo, display, history=self.history_store))
            self._remember_recent(str(path))
            self.settings.setValue("paths/last_dir", str(Path(path).parent))
            self.statusBar().showMessage(f"Opened {path.name}", 3000)
            problems.end()

        def failed(message: str) -> None:
            self._forget_recent(str(path))
            problems.end(path, message)

        worker.finished.connect(done)
        worker.failed.connect(failed)
        worker.ended.connect(lambda: self._opening.remove(worker) if worker in self._opening else None)
        worker.start()

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
            canvas.set_compare("split" if self.act_split.isChecked() else
                               "original" if self.act_original.isChecked() else "normal")
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

    def _update_state(self) -> None:
        doc = self.current_document()
        has = doc is not None
        self.central.setCurrentWidget(self.tabs if self.documents else self.empty)
        self.act_export_recipe.setEnabled(bool(has and doc.recipe_steps()))
        self.act_apply_recipe.setEnabled(has and self.job is None)
        self.act_detect.setEnabled(has and self.job is None)
        self.act_sensitivity.setEnabled(has and self._detection_fits(doc))
        for a in (self.act_save, self.act_save_as, self.act_export, self.act_close, self.act_clear_mask,
                  self.act_invert_mask, self.act_load_mask, self.act_save_mask, self.act_zoom_in, self.act_zoom_out,
                  self.act_fit, self.act_actual, self.act_original, self.act_split):
            a.setEnabled(has)
        has_mask = bool(has and not doc.mask.is_empty())
        self.act_save_mask.setEnabled(has_mask)
        self.act_clear_mask.setEnabled(has_mask)
        self.panel.set_context(has, has_mask)
        if has:
            self.panel.set_photo_kind(doc.is_gray)
        self.act_run.setEnabled(self.panel.run_button.isEnabled())
        self.act_cancel.setEnabled(self.job is not None)
        self.size_label.setText(doc.size_text() if has else "")
        if not has:
            self.zoom_label.setText("")
            self.pos_label.setText("")
        self._update_window_title()

    def _on_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%" if zoom >= 0.1 else f"{zoom * 100:.1f}%")

    def _on_cursor(self, x: int, y: int) -> None:
        self.pos_label.setText(f"{x}, {y}" if x >= 0 else "")

    def _canvas_call(self, name: str, *args) -> None:
        canvas = self.current_canvas()
        if canvas is not None:
            getattr(canvas, name)(*args)

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

    def detect_damage(self) -> Optional[Worker]:
        """Run the damage detector; its mask joins the painted one as one undoable step."""
        doc = self.current_document()
        if doc is None or self.job is not None:
            return None
        if self.registry.default_name("detect") is None:
            self.show_error("No damage detector is installed: add a detection model file "
                            "(File ▸ Add Model File…).", "Detect damage")
            return None
        return self.start_job(jobs.detect_damage, (doc.pixels, self.registry), "Detecting damage", doc, "detect")

    def _detected(self, doc: Document, found: "jobs.Detection") -> None:
        from ..engine.tasks.detect import threshold_mask

        doc.detection = found
        doc.mask_before_detection = doc.mask.to_array()
        doc.push_mask(array_to_mask(doc.mask_before_detection | (threshold_mask(found.probability,
                                                                                found.threshold) > 0)),
                      "Detect damage")

    def detection_sensitivity_dialog(self) -> None:
        """Move the threshold over the stored map: the overlay follows, OK makes it one step."""
        from ..engine.tasks.detect import threshold_mask
        from .dialogs import SensitivityDialog

        doc = self.current_document()
        found = getattr(doc, "detection", None) if doc else None
        if not self._detection_fits(doc):
            return self._hint("Run Mask ▸ Detect Damage on this photo first.")
        start = doc.mask.snapshot()
        base = doc.mask_before_detection

        def preview(t: float) -> None:
            doc.mask.set_image(array_to_mask(base | (threshold_mask(found.probability, t) > 0)))

        dialog = self.make_sensitivity_dialog(found.threshold)
        dialog.changed.connect(preview)
        accepted = dialog.exec() == SensitivityDialog.Accepted
        after = doc.mask.snapshot()
        doc.mask.set_image(start)
        if accepted:
            found.threshold = dialog.threshold()
            doc.push_mask(after, f"Detection sensitivity {1 - found.threshold:.0%}")

    @staticmethod
    def _detection_fits(doc: Document) -> bool:
        """The stored detection is of the photo as it is now (not before a later result)."""
        found = doc.detection
        return found is not None and found.pixels_id == id(doc.pixels) \
            and found.probability.shape == doc.pixels.shape[:2]

    def make_sensitivity_dialog(self, threshold: float):
        from .dialogs import SensitivityDialog

        return SensitivityDialog(threshold, self)

    def clear_mask(self) -> None:
        doc = self.current_document()
        if doc and not doc.mask.is_empty():
            doc.push_mask(doc.mask.cleared(), "Clear mask")

    def invert_mask(self) -> None:
        doc = self.current_document()
        if doc:
            doc.push_mask(doc.mask.inverted(), "Invert mask")

    def load_mask(self) -> None:
        doc = self.current_document()
        path = self.get_mask_path(save=False) if doc else None
        if not path:
            return
        try:
            image = read_image(path)
            holes = mask_to_bool(image.pixels, doc.pixels.shape[:2])
        except RestoraError as exc:
            self.show_error(str(exc), "Cannot load mask")
            return
        doc.push_mask(array_to_mask(holes), f"Load mask {Path(path).name}")

    def save_mask(self) -> None:
        doc = self.current_document()
        path = self.get_mask_path(save=True) if doc else None
        if not path:
            return
        try:
            write_image(path, Photo(pixels=mask_view(doc.mask.image).copy()), overwrite=True)
        except (RestoraError, OSError) as exc:
            self.show_error(str(exc), "Cannot save mask")
            return
        self.statusBar().showMessage(f"Mask saved to {path}", 4000)

    # ------------------------------------------------------------------------------------------
    # comparison
    def set_show_original(self, on: bool) -> None:
        canvas = self.current_canvas()
        if on and self.act_split.isChecked():
            self.act_split.setChecked(False)
        if canvas is not None:
            canvas.set_compare("original" if on else ("split" if self.act_split.isChecked() else "normal"))

    def set_split_view(self, on: bool) -> None:
        if on and self.act_original.isChecked():
            self.act_original.setChecked(False)
        canvas = self.current_canvas()
        if canvas is not None:
            canvas.set_compare("split" if on else "normal")
        if on:
            self.statusBar().showMessage("Split view: original on the left — drag the divider", 4000)

    # ------------------------------------------------------------------------------------------
    # saving
    def save(self, doc: Optional[Document] = None) -> None:
        doc = doc or self.current_document()
        if doc is None:
            return
        if doc.path is None:
            self.save_as(doc)
            return
        if doc.path == doc.source and not doc.overwrite_confirmed:
            answer = self.ask_overwrite_original(doc)
            if answer == "save_as":
                self.save_as(doc)
                return
            if answer != "overwrite":
                return
            doc.overwrite_confirmed = True
        self._write(doc, doc.path, overwrite=True)

    def save_as(self, doc: Optional[Document] = None) -> None:
        doc = doc or self.current_document()
        if doc is None:
            return
        path = self.get_save_path(doc)
        if path:
            self._write(doc, Path(path), overwrite=True, becomes_path=True)   # the dialog asked about replacing

    def export(self) -> None:
        doc = self.current_document()
        if doc is None:
            return
        chosen = self.get_export(doc)
        if chosen is None:
            return
        path, quality = chosen
        self.settings.setValue("export/quality", quality)
        if path.exists() and not self.ask(APP_NAME, f"“{path.name}” already exists. Replace it?", "Replace"):
            return
        self._write(doc, path, overwrite=True, quality=quality, becomes_path=False)

    def _write(self, doc: Document, path: Path, overwrite: bool, quality: Optional[int] = None,
               becomes_path: bool = True) -> None:
        quality = quality or int(self.settings.value("export/quality", 92))
        index = doc.undo_stack.index()
        worker = Worker(jobs.save_photo, str(path), doc.photo, overwrite, quality)
        self._saving.append(worker)
        self.statusBar().showMessage(f"Saving {path.name}…")

        def done(written) -> None:
            if becomes_path and not doc.closed:
                if doc.undo_stack.index() == index:
                    doc.set_saved(Path(written))
                else:
                    doc.path = Path(written)
                    doc.path_changed.emit()
            self._remember_recent(str(written))
            self.settings.setValue("paths/last_dir", str(Path(written).parent))
            self.statusBar().showMessage(f"Saved {Path(written).name}", 4000)

        worker.finished.connect(done)
        worker.failed.connect(lambda msg: self.show_error(msg, "Cannot save"))
        worker.ended.connect(lambda: self._saving.remove(worker) if worker in self._saving else None)
        worker.start()

    def save_blocking(self, doc: Document) -> bool:
        """Save now (when closing): True if written. Asks for a name / before replacing the original."""
        path = doc.path
        if path is None or (path == doc.source and not doc.overwrite_confirmed):
            if path is not None:
                answer = self.ask_overwrite_original(doc)
                if answer == "cancel":
                    return False
                if answer == "overwrite":
                    doc.overwrite_confirmed = True
                else:
                    path = None
            if path is None:
                chosen = self.get_save_path(doc)
                if not chosen:
                    return False
                path = Path(chosen)
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            write_image(path, doc.photo, overwrite=True, quality=int(self.settings.value("export/quality", 92)))
        except (RestoraError, OSError) as exc:
            self.show_error(str(exc), "Cannot save")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        doc.set_saved(path)
        return True

    # ------------------------------------------------------------------------------------------
    # recent files
    def _recent(self) -> list[str]:
        value = self.settings.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, path: str) -> None:
        items = [p for p in self._recent() if p != path]
        self.settings.setValue("recent/files", ([path] + items)[:MAX_RECENT])
        self._update_recent()

    def _forget_recent(self, path: str) -> None:
        items = self._recent()
        if path in items:
            self.settings.setValue("recent/files", [p for p in items if p != path])
            self._update_recent()

    def _update_recent(self) -> None:
        self.recent_menu.clear()
        items = self._recent()
        for i, p in enumerate(items):
            act = self.recent_menu.addAction(f"&{(i + 1) % 10}  {Path(p).name}")
            act.setToolTip(p)
            act.setStatusTip(p)
            act.triggered.connect(lambda _=False, p=p: self.open_paths([p]))
        if not items:
            self.recent_menu.addAction("No recent photos").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: (self.settings.setValue("recent/files", []),
                                                              self._update_recent()))
        self.empty.set_recent(items)

    # ------------------------------------------------------------------------------------------
    # models
    def _start_background(self, fn, on_done, on_fail=None, *args) -> Worker:
        worker = Worker(fn, *args)
        worker.finished.connect(on_done)
        worker.failed.connect(on_fail or (lambda msg: self.show_error(msg)))
        self._opening.append(worker)
        worker.ended.connect(lambda: self._opening.remove(worker) if worker in self._opening else None)
        worker.start()
        return worker

    def refresh_models(self, select: Optional[str] = None) -> None:
        extra = [p for p in self._extra_models() if Path(p).exists()]
        registry = self.registry

        def list_all(*, progress, cancel):
            for p in extra:
                try:
                    registry.add_file(p)
                except RestoraError:
                    pass
            models, problems = jobs.list_models(registry, progress=progress, cancel=cancel)
            defaults = {t: registry.default_name(t) for t in TASK_LABELS}
            gray = {t: registry.default_name(t, channels=1) for t in TASK_LABELS}
            return models, problems, (defaults, gray)

        def done(result) -> None:
            models, problems, (defaults, gray_defaults) = result
            gc.freeze()      # model classes and loaded weights are long-lived too (see _device_ready)
            self.panel.set_models(models, defaults, gray_defaults)
            if select:
                info = next((m for m in models if m.name == select), None)
                if info is not None:
                    self.panel.set_task(info.task)
                    self.panel.select_model(info.name)
            self._update_state()
            untrusted = [Path(p).name for p in self.registry.untrusted]
            others = [m for p, m in problems.items() if p not in self.registry.untrusted]
            if untrusted or others:
                notes = ([f"not loaded, program files that run code: {', '.join(untrusted)} "
                          "(File ▸ Add Model File… to review one)"] if untrusted else []) + others
                self.statusBar().showMessage("Model files: " + "; ".join(notes), 12000)

        self._start_background(list_all, done)

    def _extra_models(self) -> list[str]:
        value = self.settings.value("models/extra", [])
        return [value] if isinstance(value, str) else [str(v) for v in (value or [])]

    def add_model_dialog(self) -> None:
        path = self.get_model_path()
        if path:
            self.add_model(path)

    def ask_trust_program(self, path: Path, what: str) -> bool:
        """Whether the person lets a program model file run (default: no)."""
        box = QMessageBox(QMessageBox.Warning, "Run code from this model file?",
                          f"“{path.name}” is {what}, not just weights.\n\n"
                          "Loading it runs code written by whoever made the file, and that code can read, "
                          "change or delete your files. Only trust files from people you trust.\n\n"
                          "Restora remembers your choice for this exact file; if the file changes, it asks "
                          "again.", QMessageBox.NoButton, self)
        trust = box.addButton("Trust and Load", QMessageBox.AcceptRole)
        box.setDefaultButton(box.addButton(QMessageBox.Cancel))
        box.exec()
        return box.clickedButton() is trust

    def add_model(self, path: str, problems: Optional[FileProblems] = None) -> None:
        """Add a model file; a failure goes to ``problems`` (files opened together) or its own message."""
        self.statusBar().showMessage(f"Reading model {Path(path).name}…")
        problems = problems or FileProblems.alone(lambda msg, _title: self.show_error(msg, "Cannot use this model"))
        problems.begin()
        fail = lambda msg: problems.end(Path(path), msg)  # noqa: E731

        def done(info) -> None:
            if isinstance(info, UntrustedCodeError):
                if self.ask_trust_program(Path(path), info.what):
                    self._start_background(jobs.trust_model, done, fail, self.registry, str(path))
                    return
                self.statusBar().showMessage(f"Not loaded: {Path(path).name} (not trusted)", 6000)
                problems.end()
                return
            if info.path is not None and Path(info.path).parent != self.registry.user_dir:
                extra = [p for p in self._extra_models() if p != str(info.path)] + [str(info.path)]
                self.settings.setValue("models/extra", extra)
            self.statusBar().showMessage(f"Added model {info.name} ({TASK_LABELS[info.task].lower()})", 6000)
            self.refresh_models(select=info.name)
            problems.end()

        self._start_background(jobs.add_model, done, fail, self.registry, str(path))

    # ------------------------------------------------------------------------------------------
    # running tasks
    def run_task(self) -> Optional[Worker]:
        if self.job is not None:
            return None
        p = self.panel.params()
        task, model = p["task"], p["model"]
        doc = self.current_document()
        if task != "generate" and doc is None:
            return self._hint("Open a photo first.")
        if model is None:
            return self._hint(f"Choose a {task} model first (or add a model file).")
        has_mask = doc is not None and not doc.mask.is_empty()
        if task == "inpaint":
            if not has_mask:
                return self._hint("Paint a mask over the area to fill first (brush: B).")
            fn, args = jobs.run_inpaint, (doc.pixels, doc.mask.snapshot(), model, p["seed"], p["variants"],
                                          self.registry)
            label = f"Inpainting with {model}"
        elif task == "denoise":
            mask = doc.mask.snapshot() if p["mask_only"] and has_mask else None
            fn, args = jobs.run_denoise, (doc.pixels, p["sigma"], model, self.registry, mask)
            label = f"Denoising with {model}"
        elif task == "upscale":
            mask = doc.mask.snapshot() if p["mask_only"] and has_mask else None
            fn, args = jobs.run_upscale, (doc.pixels, p["scale"], model, self.registry, mask)
            label = f"Upscaling ×{p['scale']} with {model}"
        elif task == "generate":
            fn, args = jobs.run_generate, (model, p["seed"], p["count"], self.registry)
            label = f"Generating {p['count']} with {model}"
        else:   # any other registered task: its generated form's values, through the engine's run_task
            mask = doc.mask.snapshot() if p.get("mask_only") and has_mask else None
            title = TASK_LABELS.get(task, task)

            def fn(*args, progress, cancel, _title=title, _model=model):
                return jobs._run_photo_task(*args, progress, cancel, None, f"{_title} {_model}")

            args = (task, doc.pixels, p.get("params", {}), model, self.registry, mask)
            label = f"{title} with {model}"
        self.settings.setValue("panel/task", task)
        return self.start_job(fn, args, label, doc, task)

    def get_recipe_path(self, save: bool) -> Optional[str]:
        doc = self.current_document()
        if save:
            base = (doc.path or Path(self._last_dir()) / "photo.png") if doc else Path("recipe.json")
            path, _ = QFileDialog.getSaveFileName(self, "Export recipe", str(base.with_name(base.stem + "_recipe.json")),
                                                  "Restora recipe (*.json)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Apply recipe", self._last_dir(), "Restora recipe (*.json)")
        return path or None

    def export_recipe(self) -> None:
        doc = self.current_document()
        steps = doc.recipe_steps() if doc else []
        if not steps:
            return self._hint("Nothing to export yet: run a task on this photo first.")
        path = self.get_recipe_path(save=True)
        if path:
            self._start_background(jobs.export_recipe, lambda p: self.statusBar().showMessage(
                f"Recipe of {len(steps)} steps saved to {p}", 5000),
                lambda msg: self.show_error(msg, "Cannot save the recipe"), path, steps)

    def apply_recipe(self) -> Optional[Worker]:
        doc = self.current_document()
        if doc is None or self.job is not None:
            return None
        path = self.get_recipe_path(save=False)
        if not path:
            return None
        mask = doc.mask.snapshot() if not doc.mask.is_empty() else None
        return self.start_job(jobs.apply_recipe, (path, doc.pixels, mask, self.registry),
                              f"Applying {Path(path).name}", doc, "recipe")

    def _hint(self, text: str) -> None:
        """A nudge, not an error: status bar and panel, no dialog."""
        self.statusBar().showMessage(text, 5000)
        self.panel.status.setText(text)
        return None

    def start_job(self, fn, args, label: str, doc: Optional[Document], task: str) -> Worker:
        worker = Worker(fn, *args)
        self.job, self.job_doc, self.job_label, self.job_task = worker, doc, label, task
        worker.progress.connect(self._on_progress)
        worker.finished.connect(lambda result: self._job_done(worker, result))
        worker.failed.connect(lambda msg: self._job_failed(worker, msg))
        worker.cancelled.connect(lambda: self._job_cancelled(worker))
        worker.ended.connect(lambda: self._job_ended(worker))
        self.panel.set_running(True, f"{label}…")
        self.status_progress.setRange(0, 0)        # busy until the first tile reports
        self.panel.progress.setRange(0, 0)
        self.status_progress.setValue(0)
        self.status_progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.elapsed_label.setText(f"{label} · 0.0 s")
        self.elapsed_timer.start()
        self.statusBar().showMessage(f"{label}…")
        self._update_state()
        worker.start()
        return worker

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.statusBar().showMessage("Cancelling…")
            self.panel.status.setText("Cancelling…")

    def _tick(self) -> None:
        if self.job is not None:
            self.elapsed_label.setText(f"{self.job_label} · {self.job.elapsed():.1f} s")

    def _on_progress(self, fraction: float) -> None:
        if fraction > 0 and self.status_progress.maximum() == 0:
            self.status_progress.setRange(0, 1000)
            self.panel.progress.setRange(0, 1000)
        self.status_progress.setValue(int(fraction * 1000))
        self.panel.set_progress(fraction)

    def _job_done(self, worker: Worker, result) -> None:
        doc, task, seconds = self.job_doc, self.job_task, worker.elapsed()
        if task == "generate":
            self._show_samples(result)
        elif doc is None or doc.closed:
            return
        elif task == "detect":
            self._detected(doc, result)
        elif task == "inpaint" and len(result) > 1:
            self._show_variants(doc, result)
        else:
            r = result[0] if isinstance(result, list) else result
            doc.apply_result(r.pixels, r.label.strip(), r.display, clear_mask=(task == "inpaint"),
                             steps=r.steps or [r.step])
        self.statusBar().showMessage(f"{self.job_label}: done in {seconds:.1f} s", 6000)

    def _job_failed(self, worker: Worker, message: str) -> None:
        self._finish_job_ui()
        self.show_error(message, f"{TASK_LABELS.get(self.job_task, 'Job')} failed")

    def _job_cancelled(self, worker: Worker) -> None:
        self.statusBar().showMessage("Cancelled — the photo is unchanged", 5000)

    def _job_ended(self, worker: Worker) -> None:
        if self.job is worker:
            self._finish_job_ui()
            self.job = None
            self.job_doc = None
            self._update_state()

    def _finish_job_ui(self) -> None:
        self.elapsed_timer.stop()
        self.status_progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.elapsed_label.setText("")
        self.panel.set_running(False)

    def _show_samples(self, results: list) -> None:
        dialog = SamplesDialog("Generated samples", "Click a sample to open it as a new photo.",
                               [r.thumbnail for r in results], [f"seed {r.seed}" for r in results],
                               close_on_pick=False, parent=self)
        dialog.picked.connect(lambda i: self.open_generated(results[i]))
        self._keep_dialog(dialog)

    def _show_variants(self, doc: Document, results: list) -> None:
        dialog = SamplesDialog("Inpainting variants", "Click the variant to keep (the others are discarded).",
                               [r.thumbnail for r in results], [f"seed {r.seed}" for r in results],
                               close_on_pick=True, parent=self)
        dialog.picked.connect(lambda i: not doc.closed and doc.apply_result(
            results[i].pixels, results[i].label, results[i].display, clear_mask=True, steps=[results[i].step]))
        self._keep_dialog(dialog)

    def _keep_dialog(self, dialog: SamplesDialog) -> None:
        self._samples.append(dialog)
        dialog.finished.connect(lambda _r: self._samples.remove(dialog) if dialog in self._samples else None)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()

    def open_generated(self, result) -> Document:
        doc = Document(Photo(pixels=result.pixels), result.display, title=f"Generated seed {result.seed}",
                       history=self.history_store)
        self.add_document(doc)
        return doc

    # ------------------------------------------------------------------------------------------
    # drag and drop
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
            self.drop_overlay.show_over_parent()

    def dragLeaveEvent(self, event) -> None:
        self.drop_overlay.hide()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.drop_overlay.hide()
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

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

"""The window's chrome: its actions (with shortcuts and tips), toolbar, menus and status bar, and
``_update_state``, which enables each action for the photo in front and the job running."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar, QSlider, QSpinBox, QToolBar, QToolButton

from .dialogs import ShortcutsDialog, about_text, shortcut_rows
from .icons import icon

APP_NAME = "Restora"
BRUSH_MIN, BRUSH_MAX = 1, 500


class ActionsMixin:
    """Builds ``act_*`` (one attribute per action), the toolbar, the menus and the status bar fields."""

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
          "detect")
        A("sensitivity", "Detection &Sensitivity…", self.detection_sensitivity_dialog, None,
          "Mark more or less of what the detector found, without running it again", "sensitivity")
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
        A("add_model", "&Add Model File…", self.add_model_dialog, None, "Add a model file: .safetensors, .pth, .pt, .ckpt, or a StyleGAN .pkl", "add-model")
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

    def show_shortcuts(self) -> None:
        self._keep_dialog(ShortcutsDialog(shortcut_rows(self), self))

    def show_about(self) -> None:
        QMessageBox.about(self, "About Restora", about_text())

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

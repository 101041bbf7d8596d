"""Files in and out of the window: open (dialogs, folders, drops, recent list, the large-photo
question), save / save as / export, masks and recipes to and from files, and model files (adding
one, the trust question for program files, listing the registry)."""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from ..engine import (IMAGE_SUFFIXES, Photo, RestoraError, is_image_path, mask_to_bool, max_pixels, read_image,
                      set_max_pixels, write_image)
from ..engine.jobs import TooLargeError, UntrustedCodeError
from ..engine.registry import MODEL_SUFFIXES
from . import jobs
from .actions import APP_NAME
from .dialogs import MODEL_FILTER, OPEN_FILTER, SAVE_FILTER, ExportDialog, FileProblems, ask_save_all
from .display import array_to_mask, mask_view
from .document import Document
from .model_panel import TASK_LABELS
from .worker import Worker

MAX_RECENT = 10


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


class FilesMixin:
    """Opening, saving, exporting, recent files, drops, mask and recipe files, model files."""

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

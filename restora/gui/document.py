"""One open photo in the window: the engine's Qt-free :class:`DocumentModel` (pixels, the photo
as opened, the history of results with their recipes, the spill store) adapted to Qt: the
painted mask (a QImage layer), a QUndoStack, signals and the screen images.

Every operation result and every mask stroke is a QUndoCommand on the document's
QUndoStack. Undo swaps arrays (results) or rectangles (strokes); nothing is
recomputed. A result's command holds the model's :class:`HistoryStep`, whose slots of a
SpillStore (never copies of arrays) wait on disk past the memory budget until undo needs them.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage, QUndoCommand, QUndoStack

from ..engine import Photo
from ..engine.document import DocumentModel, HistoryStep
from ..engine.spill import SpillStore
from .display import Display, make_display
from .mask_layer import MaskLayer, PackedMask, bits_to_image
from .worker import Worker

#: Photos up to this many pixels get their screen image built at once on undo/redo;
#: bigger ones on a worker thread (the old picture stays up meanwhile).
SYNC_DISPLAY_PIXELS = 3_000_000
DISPLAY_CACHE_BYTES = 700 << 20


def _pack(image: Optional[QImage]) -> Optional[PackedMask]:
    return None if image is None else PackedMask(image)


# Mask commands keep their masks packed (see PackedMask): a history of whole-mask steps
# on a big photo would otherwise hold a full-size mask per step.
class StrokeCommand(QUndoCommand):
    def __init__(self, mask: MaskLayer, rect: QRect, before: QImage, after: QImage, text: str):
        super().__init__(text)
        self.mask, self.rect, self.before, self.after = mask, rect, _pack(before), _pack(after)
        self._first = True

    def redo(self) -> None:
        if self._first:        # the stroke is already painted
            self._first = False
            return
        self.mask.put_patch(self.rect, self.after.image())

    def undo(self) -> None:
        self.mask.put_patch(self.rect, self.before.image())


class MaskCommand(QUndoCommand):
    def __init__(self, mask: MaskLayer, before: QImage, after: QImage, text: str):
        super().__init__(text)
        self.mask, self.before, self.after = mask, _pack(before), _pack(after)

    def redo(self) -> None:
        self.mask.set_image(self.after.image())

    def undo(self) -> None:
        self.mask.set_image(self.before.image())


class PixelsCommand(QUndoCommand):
    """An operation result: the model's history step, done and undone (it swaps the photo's
    array, and the mask when it changes with it)."""

    def __init__(self, doc: "Document", step: HistoryStep):
        super().__init__(step.label)
        self.doc, self.step = doc, step

    @property
    def steps(self) -> list:
        """The recipe steps that made the result."""
        return self.step.recipe

    def redo(self) -> None:
        pixels, mask = self.doc.model.apply(self.step)
        self.doc._shown(pixels, mask)

    def undo(self) -> None:
        pixels, mask = self.doc.model.revert(self.step)
        self.doc._shown(pixels, mask)


def _model_attr(name: str, doc: str = ""):
    """A property reading and writing the document model's attribute ``name``."""
    return property(lambda self: getattr(self.model, name), lambda self, value: setattr(self.model, name, value),
                    doc=doc or None)


class Document(QObject):
    pixels_changed = Signal()     # the array changed (size may have too)
    display_changed = Signal()    # a new screen image is ready
    path_changed = Signal()
    busy_changed = Signal(bool)

    def __init__(self, photo: Photo, display: Optional[Display] = None, title: Optional[str] = None,
                 parent: Optional[QObject] = None, history: Optional[SpillStore] = None):
        super().__init__(parent)
        #: what the document is, without Qt (pixels, original, history of results, spill store)
        self.model = DocumentModel(photo, history, title)
        h, w = photo.pixels.shape[:2]
        self.mask = MaskLayer(w, h, self)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(0)
        # screen images by array; weak, so a result moved to disk is not kept alive here
        self._displays: "OrderedDict[int, tuple[weakref.ref, Display]]" = OrderedDict()
        self.display: Optional[Display] = None
        self._pending: Optional[Worker] = None
        self._original_display: Optional[Display] = None
        self._original_pending: Optional[Worker] = None
        self.closed = False
        self._set_display(photo.pixels, display or make_display(photo.pixels))
        self._original_display = self.display

    # --- the model's state, under the names the window uses ----------------------------
    photo = _model_attr("photo")
    history = _model_attr("history", "the spill store of the history (shared, or this document's own)")
    path = _model_attr("path")
    source = _model_attr("source", "the file this document was read from; saving over it needs the person's OK")
    overwrite_confirmed = _model_attr("overwrite_confirmed")
    detection = _model_attr("detection", "the last damage detection (probability map)")

    # --- naming ---------------------------------------------------------------------
    @property
    def title(self) -> str:
        return self.model.title

    @property
    def pixels(self) -> np.ndarray:
        return self.model.pixels

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean() or self.path is None

    @property
    def original_pixels(self) -> np.ndarray:
        """The photo as opened (pinned in memory: the compare view shows it)."""
        return self.model.original_pixels

    @property
    def channels(self) -> int:
        return self.model.channels

    @property
    def is_gray(self) -> bool:
        """Gray, gray+alpha, or RGB(A) with three identical channels (a B&W scan saved as colour,
        which the engine treats as gray); the panel preselects models made for gray photos."""
        return self.model.is_gray

    def size_text(self) -> str:
        return self.model.size_text()

    def set_saved(self, path: Path) -> None:
        self.model.saved_as(path)
        self.undo_stack.setClean()
        self.path_changed.emit()

    # --- history --------------------------------------------------------------------
    def push_stroke(self, rect: QRect, before: QImage, after: QImage, erase: bool) -> None:
        self.undo_stack.push(StrokeCommand(self.mask, rect, before, after, "Erase mask" if erase else "Paint mask"))

    def push_mask(self, after: QImage, text: str) -> None:
        self.undo_stack.push(MaskCommand(self.mask, self.mask.snapshot(), after, text))

    def apply_result(self, pixels: np.ndarray, text: str, display: Optional[Display] = None,
                     clear_mask: bool = False, steps: Optional[list] = None) -> None:
        """Make ``pixels`` the photo as one undoable step (made by recipe ``steps``)."""
        if display is not None:
            self._cache_display(pixels, display)
        changes_mask = pixels.shape[:2] != self.pixels.shape[:2] or (clear_mask and not self.mask.is_empty())
        step = self.model.result_step(pixels, text, self.mask.to_array() if changes_mask else None,
                                      clear_mask=clear_mask, recipe=steps)
        self.undo_stack.push(PixelsCommand(self, step))

    def recipe_steps(self) -> list:
        """The recipe of the photo as it is now: the steps of every result up to the current
        point of the history (undone ones excluded)."""
        return self.model.recipe_steps()

    def _shown(self, pixels: np.ndarray, mask) -> None:
        """The model now shows ``pixels`` (and ``mask``, packed bits, when it changed with them)."""
        self._set_pixels(pixels)
        if mask is not None:
            self.mask.set_image(bits_to_image(mask))

    def _set_pixels(self, pixels: np.ndarray) -> None:
        self.pixels_changed.emit()
        cached = self._displays.get(id(pixels))
        if cached is not None and cached[0]() is pixels:
            self._displays.move_to_end(id(pixels))
            self._set_display(pixels, cached[1])
        elif pixels.shape[0] * pixels.shape[1] <= SYNC_DISPLAY_PIXELS:
            self._set_display(pixels, make_display(pixels))
        else:
            self._build_display_async(pixels)

    # --- screen images -----------------------------------------------------------------
    def _cache_display(self, pixels: np.ndarray, display: Display) -> None:
        for key in [k for k, (ref, _d) in self._displays.items() if ref() is None]:
            del self._displays[key]
        self._displays[id(pixels)] = (weakref.ref(pixels), display)
        self._displays.move_to_end(id(pixels))
        while len(self._displays) > 1 and sum(d.nbytes for _a, d in self._displays.values()) > DISPLAY_CACHE_BYTES:
            self._displays.popitem(last=False)

    def _set_display(self, pixels: np.ndarray, display: Display) -> None:
        self._cache_display(pixels, display)
        self.display = display
        self.display_changed.emit()

    def _build_display_async(self, pixels: np.ndarray) -> None:
        worker = Worker(make_display, pixels, pass_context=False)
        self._pending = worker
        self.busy_changed.emit(True)

        def done(display: Display) -> None:
            if not self.closed and self.pixels is pixels:
                self._set_display(pixels, display)
            if self._pending is worker:
                self._pending = None
                self.busy_changed.emit(False)

        worker.finished.connect(done)
        worker.start()

    def original_display(self, ready=None) -> Optional[Display]:
        """The screen image of the photo as opened (built on demand, in the background if big)."""
        if self._original_display is not None:
            return self._original_display
        cached = self._displays.get(id(self.original_pixels))
        if cached is not None and cached[0]() is self.original_pixels:
            self._original_display = cached[1]
            return self._original_display
        pixels = self.original_pixels
        if pixels.shape[0] * pixels.shape[1] <= SYNC_DISPLAY_PIXELS:
            self._original_display = make_display(pixels)
            return self._original_display
        if self._original_pending is None:
            worker = Worker(make_display, pixels, pass_context=False)
            self._original_pending = worker

            def done(display: Display) -> None:
                self._original_display = display
                self._original_pending = None
                if ready is not None and not self.closed:
                    ready()

            worker.finished.connect(done)
            worker.start()
        return None

    def close(self) -> None:
        self.closed = True
        self._displays.clear()
        self.undo_stack.clear()
        self.model.close()   # a shared store outlives the document; its files go with its steps

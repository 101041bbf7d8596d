"""One open photo: its pixels, the painted mask and the undo history.

Every operation result and every mask stroke is a QUndoCommand on the document's
QUndoStack. Undo swaps arrays (results) or rectangles (strokes); nothing is
recomputed. History steps hold slots of a SpillStore, never copies of arrays: past
the memory budget the older results wait on disk until undo needs them.
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
from ..engine.spill import Slot, SpillStore
from ..engine.tasks.common import is_neutral
from ..engine.tasks.masking import resize_mask
from .display import Display, array_to_mask, make_display
from .mask_layer import MaskLayer, PackedMask
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
    """An operation result: swaps the photo's array (and the mask when it changes with it)."""

    def __init__(self, doc: "Document", before: Slot, after: Slot, text: str,
                 mask_before: Optional[QImage] = None, mask_after: Optional[QImage] = None,
                 steps: Optional[list] = None):
        super().__init__(text)
        self.doc, self.before, self.after = doc, before, after
        self.steps = list(steps or [])   # the recipe steps that made ``after``
        self.mask_before, self.mask_after = _pack(mask_before), _pack(mask_after)

    def redo(self) -> None:
        self.doc._show_slot(self.after)
        if self.mask_after is not None:
            self.doc.mask.set_image(self.mask_after.image())

    def undo(self) -> None:
        self.doc._show_slot(self.before)
        if self.mask_before is not None:
            self.doc.mask.set_image(self.mask_before.image())


class Document(QObject):
    pixels_changed = Signal()     # the array changed (size may have too)
    display_changed = Signal()    # a new screen image is ready
    path_changed = Signal()
    busy_changed = Signal(bool)

    def __init__(self, photo: Photo, display: Optional[Display] = None, title: Optional[str] = None,
                 parent: Optional[QObject] = None, history: Optional[SpillStore] = None):
        super().__init__(parent)
        self.photo = photo
        self._own_history = history is None
        self.history = history or SpillStore()
        # the photo as opened stays in memory anyway (the compare view shows it)
        self._original_slot = self._slot = self.history.put(photo.pixels, pinned=True)
        self._neutral: Optional[tuple[weakref.ref, bool]] = None
        self.path: Optional[Path] = Path(photo.source) if photo.source else None
        #: the file this document was read from; saving over it needs the person's OK
        self.source: Optional[Path] = self.path
        self.overwrite_confirmed = False
        self._title = title
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
        #: the last damage detection (probability map) and the mask it was added to
        self.detection = None
        self.mask_before_detection: Optional[np.ndarray] = None
        self._set_display(photo.pixels, display or make_display(photo.pixels))
        self._original_display = self.display

    # --- naming ---------------------------------------------------------------------
    @property
    def title(self) -> str:
        if self.path is not None:
            return self.path.name
        return self._title or "Untitled"

    @property
    def pixels(self) -> np.ndarray:
        return self.photo.pixels

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean() or self.path is None

    @property
    def original_pixels(self) -> np.ndarray:
        """The photo as opened (pinned in memory: the compare view shows it)."""
        return self._original_slot.get()

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else self.pixels.shape[2]

    @property
    def is_gray(self) -> bool:
        """Gray, gray+alpha, or RGB(A) with three identical channels (a B&W scan saved as colour,
        which the engine treats as gray); the panel preselects models made for gray photos."""
        if self.channels <= 2:
            return True
        if self._neutral is None or self._neutral[0]() is not self._slot:   # once per history step
            self._neutral = (weakref.ref(self._slot), is_neutral(self.pixels[:, :, :3]))
        return self._neutral[1]

    def size_text(self) -> str:
        h, w = self.pixels.shape[:2]
        c = self.channels
        kind = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}[c]
        if c >= 3 and self.is_gray:
            kind += " (black and white)"
        bits = 16 if self.pixels.dtype == np.uint16 else 8
        return f"{w} × {h} · {kind} · {bits}-bit"

    def set_saved(self, path: Path) -> None:
        self.path = Path(path)
        self.undo_stack.setClean()
        self._title = None
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
        before = self.pixels
        mask_before = mask_after = None
        if pixels.shape[:2] != before.shape[:2]:
            mask_before = self.mask.snapshot()
            h, w = pixels.shape[:2]
            mask_after = array_to_mask(resize_mask(self.mask.to_array(), h, w))
        if clear_mask and not self.mask.is_empty():
            mask_before = mask_before or self.mask.snapshot()
            h, w = pixels.shape[:2]
            mask_after = MaskLayer(w, h).image
        after = self.history.put(pixels, pinned=True)  # shown next: writing it out would be wasted
        self.undo_stack.push(PixelsCommand(self, self._slot, after, text, mask_before, mask_after, steps))

    def recipe_steps(self) -> list:
        """The recipe of the photo as it is now: the steps of every result up to the current
        point of the history (undone ones excluded)."""
        steps = []
        for i in range(self.undo_stack.index()):
            command = self.undo_stack.command(i)
            steps.extend(getattr(command, "steps", []))
        return steps

    def _show_slot(self, slot: Slot) -> None:
        if slot is not self._slot:
            if self._slot is not self._original_slot:
                self.history.pin(self._slot, False)
            self.history.pin(slot)
            self._slot = slot
        self._set_pixels(slot.get())

    def _set_pixels(self, pixels: np.ndarray) -> None:
        self.photo = self.photo.with_pixels(pixels)
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
        if self._own_history:
            self.history.close()   # a shared store outlives the document; its files go with its steps

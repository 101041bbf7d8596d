"""One open photo without any user interface: its pixels, the photo as opened, and the history of
results, each with the recipe steps that made it.

The history holds slots of a :class:`~restora.engine.spill.SpillStore`, never copies of arrays:
past the memory budget the older results wait on disk until undo needs them. Masks kept in the
history are :class:`PackedBits` (one bit per pixel, compressed).

A window adapts this model to its own undo machinery: it makes a :class:`HistoryStep` with
:meth:`DocumentModel.result_step`, then calls :meth:`DocumentModel.apply` and
:meth:`DocumentModel.revert` as the step is done and undone (last in, first out), and shows the
pixels and mask they return. Nothing here imports Qt.
"""
from __future__ import annotations

import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .imageio import Photo
from .spill import Slot, SpillStore
from .tasks.common import is_neutral
from .tasks.masking import resize_mask


class PackedBits:
    """A bool mask kept in a history: one bit per pixel, zlib-compressed.

    Masks are binary with long runs of the same value, so a whole-mask step of a 24 MP photo
    (clear, invert, a mask cleared by inpainting) keeps ~100 kB instead of 24 MB.
    """
    __slots__ = ("width", "height", "_data")

    def __init__(self, mask: np.ndarray):
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"a mask is height × width, not {mask.shape}")
        self.height, self.width = mask.shape
        self._data = zlib.compress(np.packbits(mask.astype(bool, copy=False)).tobytes(), 1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def nbytes(self) -> int:
        return len(self._data)

    def to_uint8(self, on: int = 255) -> np.ndarray:
        """HxW uint8: ``on`` where set, 0 elsewhere (a new array)."""
        bits = np.frombuffer(zlib.decompress(self._data), np.uint8)
        values = np.unpackbits(bits, count=self.width * self.height).reshape(self.height, self.width)
        if on != 1:
            values *= np.uint8(on)
        return values

    def to_bool(self) -> np.ndarray:
        """HxW bool, True where set (a new array)."""
        return self.to_uint8(1).astype(bool)


def _pack(mask: Optional[np.ndarray]) -> Optional[PackedBits]:
    return None if mask is None else PackedBits(mask)


@dataclass(eq=False)
class HistoryStep:
    """One result in the history: the pixels before and after (spill slots), what it is called,
    the recipe steps that made it, and the mask before and after when it changes with it."""
    label: str
    before: Slot
    after: Slot
    recipe: list = field(default_factory=list)
    mask_before: Optional[PackedBits] = None
    mask_after: Optional[PackedBits] = None


class DocumentModel:
    """The photo, the pixels shown now (a history slot), the photo as opened, and the applied
    history steps. ``history`` is the spill store (shared by several documents, or its own)."""

    def __init__(self, photo: Photo, history: Optional[SpillStore] = None, title: Optional[str] = None):
        self.photo = photo
        self._own_history = history is None
        self.history = history or SpillStore()
        # the photo as opened stays in memory anyway (the compare view shows it)
        self.original_slot = self.slot = self.history.put(photo.pixels, pinned=True)
        self._neutral: Optional[tuple[weakref.ref, bool]] = None
        self.path: Optional[Path] = Path(photo.source) if photo.source else None
        #: the file this document was read from; saving over it needs the person's OK
        self.source: Optional[Path] = self.path
        self.overwrite_confirmed = False
        self.title_hint = title
        #: the results applied, oldest first (what undo would take back, last first)
        self.applied: list[HistoryStep] = []
        #: the last damage detection (its probability map), for the sensitivity control
        self.detection: Any = None
        self.closed = False

    # --- what the photo is ----------------------------------------------------------
    @property
    def title(self) -> str:
        if self.path is not None:
            return self.path.name
        return self.title_hint or "Untitled"

    @property
    def pixels(self) -> np.ndarray:
        return self.photo.pixels

    @property
    def original_pixels(self) -> np.ndarray:
        """The photo as opened (pinned in memory)."""
        return self.original_slot.get()

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else self.pixels.shape[2]

    @property
    def is_gray(self) -> bool:
        """Gray, gray+alpha, or RGB(A) with three identical channels (a B&W scan saved as colour,
        which the engine treats as gray)."""
        if self.channels <= 2:
            return True
        if self._neutral is None or self._neutral[0]() is not self.slot:   # once per history step
            self._neutral = (weakref.ref(self.slot), is_neutral(self.pixels[:, :, :3]))
        return self._neutral[1]

    def size_text(self) -> str:
        h, w = self.pixels.shape[:2]
        c = self.channels
        kind = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}[c]
        if c >= 3 and self.is_gray:
            kind += " (black and white)"
        bits = 16 if self.pixels.dtype == np.uint16 else 8
        return f"{w} × {h} · {kind} · {bits}-bit"

    def saved_as(self, path: Path) -> None:
        self.path = Path(path)
        self.title_hint = None

    # --- history --------------------------------------------------------------------
    def result_step(self, pixels: np.ndarray, label: str, mask: Optional[np.ndarray] = None,
                    clear_mask: bool = False, recipe: Optional[list] = None) -> HistoryStep:
        """A step that makes ``pixels`` the photo (not applied yet). ``mask`` is the painted mask
        now (HxW bool): a result of another size takes it resized, ``clear_mask`` empties it."""
        mask_before = mask_after = None
        h, w = pixels.shape[:2]
        if mask is not None and (pixels.shape[:2] != self.pixels.shape[:2] or (clear_mask and mask.any())):
            mask_before = mask
            mask_after = np.zeros((h, w), bool) if clear_mask and mask.any() else resize_mask(mask, h, w)
        after = self.history.put(pixels, pinned=True)  # shown next: writing it out would be wasted
        return HistoryStep(label, self.slot, after, list(recipe or []), _pack(mask_before), _pack(mask_after))

    def apply(self, step: HistoryStep) -> tuple[np.ndarray, Optional[PackedBits]]:
        """Do ``step`` (first time or redo): (pixels now, mask to show or None to keep it)."""
        self.applied.append(step)
        return self._show(step.after), step.mask_after

    def revert(self, step: HistoryStep) -> tuple[np.ndarray, Optional[PackedBits]]:
        """Undo ``step``, the last one applied: (pixels now, mask to show or None to keep it)."""
        if not self.applied or self.applied[-1] is not step:
            raise ValueError(f"“{step.label}” is not the last step applied")
        self.applied.pop()
        return self._show(step.before), step.mask_before

    def recipe_steps(self) -> list:
        """The recipe of the photo as it is now: the steps of every applied result, in order."""
        return [s for step in self.applied for s in step.recipe]

    def _show(self, slot: Slot) -> np.ndarray:
        if slot is not self.slot:
            if self.slot is not self.original_slot:
                self.history.pin(self.slot, False)
            self.history.pin(slot)
            self.slot = slot
        self.photo = self.photo.with_pixels(slot.get())
        return self.photo.pixels

    def close(self) -> None:
        self.closed = True
        self.applied.clear()
        if self._own_history:
            self.history.close()   # a shared store outlives the document; its files go with its steps

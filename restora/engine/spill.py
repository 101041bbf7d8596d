"""Undo history that fits in memory: arrays past a byte budget move to a temp folder.

A 40 MP 16-bit RGB photo is 240 MB, so ten operations on it would hold 2.4 GB if every
history step kept its array in memory. A :class:`SpillStore` keeps the most recently used
arrays in memory up to a budget and writes older ones to disk on a background thread
(the window never waits for a write), reading one back when undo or redo needs it.
A failed write (disk full) keeps the array in memory: nothing is ever lost. Folders left
behind by a process that was killed are swept the next time a store writes (on Windows too:
the kernel is asked whether the pid still runs).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

ENV_BUDGET = "RESTORA_HISTORY_MB"


def default_budget() -> int:
    """Bytes of history kept in memory: $RESTORA_HISTORY_MB, else a quarter of RAM (<= 4 GiB)."""
    env = os.environ.get(ENV_BUDGET)
    if env:
        return max(0, int(float(env) * (1 << 20)))
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        ram = 8 << 30
    return int(min(ram // 4, 4 << 30))


class Slot:
    """One array of the history, in memory or on disk. Get it back with :meth:`get`."""

    def __init__(self, store: "SpillStore", array: np.ndarray, pinned: bool):
        self.store = store
        self.nbytes = array.nbytes
        self.pinned = pinned     # never spilled (the photo as opened, the current pixels)
        self._array: Optional[np.ndarray] = array
        self._file = _File()
        self._writing: Optional[Future] = None
        # a step dropped from the history (undo, then a new operation) frees its file
        weakref.finalize(self, store._forget, id(self), self._file)

    @property
    def _path(self) -> Optional[Path]:
        return self._file.path

    @property
    def in_memory(self) -> bool:
        return self._array is not None

    def get(self) -> np.ndarray:
        """The array (read back from disk if it was spilled); marks it recently used."""
        return self.store._get(self)


FOLDER_PREFIX = "restora-history-"


def _alive_windows(pid: int) -> bool:
    """os.kill(pid, 0) would terminate the process on Windows: ask the kernel instead."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)     # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() != 87              # ERROR_INVALID_PARAMETER: no such process
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259                          # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _alive(pid: int) -> bool:
    if os.name == "nt":
        try:
            return _alive_windows(pid)
        except (OSError, AttributeError):                 # no way to tell: keep the folder
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):   # someone else's process, or no way to tell
        return True
    return True


def sweep_stale(parent: Optional[Path] = None) -> int:
    """Delete spill folders whose process is gone (a crash or kill -9). Returns how many."""
    parent = Path(parent or tempfile.gettempdir())
    removed = 0
    for folder in parent.glob(FOLDER_PREFIX + "*"):
        try:
            pid = int((folder / "pid").read_text())
        except (OSError, ValueError):
            continue                     # not ours, or still being created
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


class _File:
    __slots__ = ("path",)

    def __init__(self):
        self.path: Optional[Path] = None


class SpillStore:
    def __init__(self, budget_bytes: Optional[int] = None, folder: Optional[Path] = None):
        self.budget = default_budget() if budget_bytes is None else int(budget_bytes)
        self._folder = folder
        self._own_folder = folder is None
        # in memory and unpinned, oldest first; weak so a dropped step is not kept alive
        self._lru: "OrderedDict[int, weakref.ref[Slot]]" = OrderedDict()
        self._lock = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._count = 0
        self.closed = False

    # --- public -------------------------------------------------------------------------
    def put(self, array: np.ndarray, pinned: bool = False) -> Slot:
        slot = Slot(self, array, pinned)
        if not pinned:
            with self._lock:
                self._lru[id(slot)] = weakref.ref(slot)
        self._enforce()
        return slot

    def pin(self, slot: Slot, pinned: bool = True) -> None:
        """Pin the slot now shown (spilling it would free nothing), unpin the one left."""
        with self._lock:
            slot.pinned = pinned
            if pinned:
                self._lru.pop(id(slot), None)
            elif slot._array is not None:
                self._lru[id(slot)] = weakref.ref(slot)
                self._lru.move_to_end(id(slot))
        if not pinned:
            self._enforce()

    def memory_bytes(self) -> int:
        """Bytes of unpinned arrays held in memory (what the budget limits)."""
        return sum(s.nbytes for s in self._slots())

    def wait(self) -> None:
        """Block until pending writes are done (tests, benchmarks)."""
        if self._pool is not None:
            self._pool.submit(lambda: None).result()

    def close(self) -> None:
        """Drop everything and delete the spill folder."""
        self.closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        with self._lock:
            self._lru.clear()
        if self._own_folder and self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    # --- internals ----------------------------------------------------------------------
    def _slots(self) -> "list[Slot]":
        with self._lock:
            refs = list(self._lru.values())
        return [s for s in (r() for r in refs) if s is not None]

    def _forget(self, key: int, file: _File) -> None:
        with self._lock:
            self._lru.pop(key, None)
        if file.path is not None:
            try:
                file.path.unlink()
            except OSError:
                pass

    def _get(self, slot: Slot) -> np.ndarray:
        with self._lock:
            array = slot._array
            if array is not None:
                if id(slot) in self._lru:
                    self._lru.move_to_end(id(slot))
                return array
            path = slot._path
        array = np.load(path, allow_pickle=False)   # the file stays: spilling again is free
        with self._lock:
            slot._array = array
            if not slot.pinned:
                self._lru[id(slot)] = weakref.ref(slot)
        self._enforce()
        return array

    def _enforce(self) -> None:
        if self.closed:
            return
        slots = self._slots()                         # oldest first
        with self._lock:
            total = sum(s.nbytes for s in slots if s._writing is None)
            victims = []
            for slot in slots:
                if total <= self.budget:
                    break
                if slot._writing is None:
                    victims.append(slot)
                    total -= slot.nbytes
            for slot in victims:
                if slot._path is not None:            # already on disk: just let go of it
                    slot._array = None
                    self._lru.pop(id(slot), None)
                else:
                    slot._writing = self._executor().submit(self._write, slot)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="restora-spill")
        return self._pool

    def _write(self, slot: Slot) -> None:
        array = slot._array
        try:
            if self._folder is None:
                sweep_stale()
                folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
                (folder / "pid").write_text(str(os.getpid()))
                self._folder = folder
            self._count += 1
            path = self._folder / f"{self._count:06d}.npy"
            if self.closed:
                return
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, path)
        except OSError as e:                          # keep it in memory; try again later
            log.warning("could not move a history step to disk: %s", e)
            with self._lock:
                slot._writing = None
            return
        with self._lock:
            slot._file.path = path
            slot._writing = None
            if not slot.pinned and id(slot) in self._lru:
                slot._array = None
                self._lru.pop(id(slot), None)

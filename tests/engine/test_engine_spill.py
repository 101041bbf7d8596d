"""The undo history's memory budget: older arrays move to disk and come back intact."""
from __future__ import annotations

import gc
import os

import numpy as np

from restora.engine.spill import SpillStore, default_budget


def _arrays(n, shape=(64, 64, 3)):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, shape, dtype=np.uint8) for _ in range(n)]


def test_spills_oldest_past_budget_and_reads_back(tmp_path):
    arrays = _arrays(6)
    store = SpillStore(budget_bytes=2 * arrays[0].nbytes, folder=tmp_path)
    slots = [store.put(a) for a in arrays]
    store.wait()
    assert store.memory_bytes() <= 2 * arrays[0].nbytes
    assert [s.in_memory for s in slots] == [False] * 4 + [True] * 2
    assert len(list(tmp_path.glob("*.npy"))) == 4
    back = slots[0].get()                     # read back, now the most recent
    assert np.array_equal(back, arrays[0]) and back.dtype == np.uint8
    store.wait()
    assert slots[0].in_memory and not slots[4].in_memory
    assert all(np.array_equal(s.get(), a) for s, a in zip(slots, arrays))
    store.close()


def test_pinned_slots_stay_and_unpinning_spills(tmp_path):
    a, b, c = _arrays(3, (32, 32))
    store = SpillStore(budget_bytes=0, folder=tmp_path)
    keep = store.put(a, pinned=True)
    shown = store.put(b)
    store.pin(shown)
    store.wait()
    assert keep.in_memory and keep.get() is a
    other = store.put(c)
    store.wait()
    assert not other.in_memory and np.array_equal(other.get(), c)
    store.pin(shown, False)
    store.wait()
    assert not shown.in_memory and np.array_equal(shown.get(), b)


def test_dropped_steps_free_their_files(tmp_path):
    store = SpillStore(budget_bytes=0, folder=tmp_path)
    slots = [store.put(a) for a in _arrays(3, (16, 16))]
    store.wait()
    assert len(list(tmp_path.glob("*.npy"))) == 3
    del slots
    gc.collect()
    assert list(tmp_path.glob("*.npy")) == [] and store.memory_bytes() == 0


def test_failed_write_keeps_the_array(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")                   # writing "into" a file fails
    store = SpillStore(budget_bytes=0, folder=blocker)
    (a,) = _arrays(1)
    slot = store.put(a)
    store.wait()
    assert slot.in_memory and slot.get() is a


def test_own_folder_removed_on_close():
    store = SpillStore(budget_bytes=0)
    slot = store.put(_arrays(1)[0])
    store.wait()
    folder = slot._path.parent
    assert folder.is_dir() and folder.name.startswith("restora-history-")
    store.close()
    assert not folder.exists()


def test_budget_from_environment(monkeypatch):
    monkeypatch.setenv("RESTORA_HISTORY_MB", "1.5")
    assert default_budget() == int(1.5 * (1 << 20))
    monkeypatch.delenv("RESTORA_HISTORY_MB")
    assert 0 < default_budget() <= 4 << 30


def test_sweeps_folders_of_dead_processes(tmp_path):
    import subprocess
    import sys

    from restora.engine.spill import FOLDER_PREFIX, sweep_stale

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale, live, foreign = (tmp_path / (FOLDER_PREFIX + n) for n in ("a", "b", "c"))
    for folder, pid in ((stale, dead), (live, str(os.getpid())), (foreign, None)):
        folder.mkdir()
        (folder / "000001.npy").write_bytes(b"x")
        if pid:
            (folder / "pid").write_text(pid)
    assert sweep_stale(tmp_path) == 1
    assert not stale.exists() and live.exists() and foreign.exists()


def test_keeps_folders_when_liveness_cannot_be_told(monkeypatch):
    """Where the Windows process query is unavailable, a folder is kept, never deleted under a live app."""
    import subprocess
    import sys

    from restora.engine import spill

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    assert not spill._alive(dead)
    monkeypatch.setattr(spill, "_alive_windows", lambda pid: (_ for _ in ()).throw(OSError("no kernel32")))
    monkeypatch.setattr(spill.os, "name", "nt")
    assert spill._alive(dead)

"""Memory held by the undo history of a big photo, with and without the disk spill.

Opens a synthetic photo in a real Document (offscreen), applies N results as history
steps (as a job's result is applied), then walks undo to the start and redo to the end.
Prints the live Python/NumPy memory after the steps (tracemalloc: arrays alive, not what
malloc keeps cached; Qt's screen images are not in it), the history bytes kept in memory,
and the median time of one undo (reading a step back from disk when it was spilled).

    python benchmarks/history_memory.py                       # 24 MP RGB, 10 steps, 300 MB budget
    python benchmarks/history_memory.py --mp 40 --bits 16 --budget-mb 0
    python benchmarks/history_memory.py --budget-mb none      # everything in memory (the old way)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from restora.engine import Photo  # noqa: E402
from restora.engine.spill import SpillStore  # noqa: E402
from restora.gui.document import Document  # noqa: E402
from restora.gui.worker import wait_all  # noqa: E402


def live_mb() -> float:
    return tracemalloc.get_traced_memory()[0] / 2 ** 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mp", type=float, default=24)
    ap.add_argument("--bits", type=int, choices=(8, 16), default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--budget-mb", default="300", help="history budget in MB, or 'none' for no limit")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])  # noqa: F841
    side = int((args.mp * 1e6) ** 0.5)
    dtype = np.uint16 if args.bits == 16 else np.uint8
    base = np.random.default_rng(0).integers(0, 2 ** args.bits - 1, (side, side, 3), dtype=dtype)
    budget = 1 << 62 if args.budget_mb == "none" else float(args.budget_mb) * (1 << 20)
    store = SpillStore(budget_bytes=budget)
    tracemalloc.start()
    live0 = live_mb()
    doc = Document(Photo(pixels=base), history=store)
    for i in range(args.steps):
        doc.apply_result(base + np.asarray(i + 1, dtype), f"step {i + 1}")   # a new array each step
    store.wait()
    wait_all(60000)
    live_steps = live_mb()
    undo = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        doc.undo_stack.undo()
        undo.append(time.perf_counter() - t0)
    for _ in range(args.steps):
        doc.undo_stack.redo()
    store.wait()
    wait_all(60000)          # screen images of big photos are built on worker threads
    QApplication.processEvents()
    ok = np.array_equal(doc.pixels, base + np.asarray(args.steps, dtype))
    step_mb = base.nbytes / 2 ** 20
    print(f"photo {side}x{side} RGB {args.bits}-bit ({step_mb:.0f} MB a step), {args.steps} steps, "
          f"budget {args.budget_mb} MB")
    print(f"  live memory after the steps: {live_steps - live0:.0f} MB on top of the opened photo")
    print(f"  history bytes in memory: {store.memory_bytes() / 2 ** 20:.0f} MB")
    print(f"  undo one step: median {statistics.median(undo) * 1000:.0f} ms, max {max(undo) * 1000:.0f} ms")
    print(f"  redo back to the end restores the last result exactly: {ok}")
    doc.close()
    store.close()


if __name__ == "__main__":
    main()

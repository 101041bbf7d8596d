"""Longest event-loop stall of the window while it denoises a large photo.

Runs the real MainWindow (offscreen unless a display is set), puts a synthetic noisy
photo in it and runs the Denoise task (OpenCV non-local means by default) through
the real Worker, exactly as the Run button does: engine call, screen image built on
the worker thread, result applied as a history step and painted. A QTimer ticks
every 10 ms on the GUI thread; the figure is the longest gap between ticks beyond
its 10 ms period, from Run until the result is on screen.

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_stall.py            # 12 MP
    QT_QPA_PLATFORM=offscreen python benchmarks/ui_stall.py --mp 24 --model nlm
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from restora.engine import Photo, Registry  # noqa: E402
from restora.gui import jobs  # noqa: E402
from restora.gui.app import apply_theme  # noqa: E402
from restora.gui.display import make_display  # noqa: E402
from restora.gui.document import Document  # noqa: E402
from restora.gui.main_window import MainWindow  # noqa: E402


def synthetic_photo(megapixels: float, seed: int = 0) -> np.ndarray:
    width = int(round(np.sqrt(megapixels * 1e6 * 4 / 3)))
    height = int(round(megapixels * 1e6 / width))
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    base = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                     np.broadcast_to((x + y) / 2, (height, width))], axis=2)
    noise = rng.normal(0, 20, (height, width, 1)).astype(np.float32)
    return np.clip(base * 200 + 25 + noise, 0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mp", type=float, default=12.0, help="photo size in megapixels (default 12)")
    ap.add_argument("--model", default="nlm", help="denoise model (default nlm)")
    ap.add_argument("--sigma", type=float, default=20.0)
    args = ap.parse_args()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    tmp = tempfile.mkdtemp(prefix="restora-stall-")
    settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.IniFormat)
    window = MainWindow(registry=Registry(user_dir=os.path.join(tmp, "models")), settings=settings)
    window.show_error = lambda message, title="": print("error:", message)
    window.resize(1400, 900)
    window.show()

    pixels = synthetic_photo(args.mp)
    h, w = pixels.shape[:2]
    print(f"photo: {w}x{h} ({w * h / 1e6:.1f} MP), model {args.model}, sigma {args.sigma}")
    doc = Document(Photo(pixels=pixels), make_display(pixels), title="synthetic")
    window.add_document(doc)
    deadline = time.monotonic() + 60      # let start-up work (model list, device, torch import) finish
    while (window.panel.model_list.count() == 0 or "detecting" in window.panel.device_label.text()) \
            and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    state = {"done": None, "applied": None}

    def finished(_result) -> None:
        state["done"] = time.perf_counter()

    doc.display_changed.connect(lambda: state.__setitem__("applied", time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    ticks.append(t0)
    worker = window.start_job(jobs.run_denoise, (doc.pixels, args.sigma, args.model, window.registry, None),
                              f"Denoising with {args.model}", doc, "denoise")
    worker.finished.connect(finished)
    while window.job is not None:
        app.processEvents()
        time.sleep(0.001)
    t_end = time.perf_counter()
    while time.perf_counter() - t_end < 0.5:      # the repaint of the new result
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    window.grab()        # one full repaint of the window with the new photo, as on screen
    ticks.append(time.perf_counter())

    gaps = np.diff(np.array(ticks)) * 1000.0
    worst = int(np.argmax(gaps))
    print(f"job: {worker.outcome}, {state['done'] - t0 if state['done'] else float('nan'):.1f} s "
          f"(result on screen after {((state['applied'] or t_end) - t0):.1f} s)")
    print(f"timer ticks: {len(gaps)}, median gap {np.median(gaps):.1f} ms, p99 {np.percentile(gaps, 99):.1f} ms")
    print(f"LONGEST EVENT-LOOP STALL: {gaps.max():.1f} ms (at t = {ticks[worst] - t0:.2f} s)")
    window.ask_save_changes = lambda d: "discard"
    window.close()
    return 0 if gaps.max() < 100 else 1


if __name__ == "__main__":
    sys.exit(main())

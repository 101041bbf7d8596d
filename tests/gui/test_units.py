"""Smaller pieces: masking helper, display conversion, the worker, the mask layer."""
from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRect
from PySide6.QtGui import QImage

from restora.engine import BadInputError, Cancelled
from restora.engine.tasks.masking import blend_inside_mask, resize_mask
from restora.gui.display import (Display, array_to_mask, array_to_qimage, build_levels, make_display,
                                 mask_overlay, mask_to_array)
from restora.gui.mask_layer import MaskLayer
from restora.gui.worker import Worker


def test_blend_inside_mask_keeps_outside_and_feathers():
    a = np.zeros((40, 50, 3), np.uint8)
    b = np.full((40, 50, 3), 200, np.uint8)
    mask = np.zeros((40, 50), bool)
    mask[10:20, 10:20] = True
    out = blend_inside_mask(a, b, mask, feather_px=3)
    assert out.dtype == np.uint8
    assert (out[12:18, 12:18] == 200).all()
    assert (out[30:, 30:] == 0).all()
    assert 0 < out[15, 21, 0] < 200          # soft edge just outside the mask
    assert (out[15, 25] == 0).all()


def test_blend_inside_mask_16bit_and_resized_mask():
    a = np.zeros((20, 20), np.uint16)
    b = np.full((20, 20), 60000, np.uint16)
    small = np.zeros((10, 10), np.uint8)
    small[0:5, 0:5] = 255
    out = blend_inside_mask(a, b, small, feather_px=0)
    assert out.dtype == np.uint16 and out[:10, :10].min() == 60000 and out[10:, 10:].max() == 0
    assert resize_mask(small, 20, 20).shape == (20, 20)
    with pytest.raises(BadInputError):
        blend_inside_mask(a, b[:10], small)


@pytest.mark.parametrize("shape,dtype", [((30, 40), np.uint8), ((30, 40, 1), np.uint16), ((30, 40, 2), np.uint8),
                                         ((30, 40, 3), np.uint16), ((30, 40, 4), np.uint8)])
def test_array_to_qimage_all_layouts(qapp, shape, dtype):
    arr = np.full(shape, 40000 if dtype == np.uint16 else 156, dtype)
    for img in (array_to_qimage(arr), make_display(arr).levels[0]):
        assert (img.width(), img.height()) == (40, 30)
        assert abs(img.pixelColor(5, 5).red() - 156) <= 1


def test_levels_shrink_to_min_side(qapp):
    img = array_to_qimage(np.zeros((1000, 3000, 3), np.uint8))
    levels = build_levels(img, min_side=512)
    assert [lv.width() for lv in levels] == [3000, 1500, 750, 375]
    levels = make_display(np.zeros((1000, 3000, 3), np.uint8)).levels
    assert [lv.width() for lv in levels] == [3000, 1500, 750, 375]
    d = Display(levels)
    assert d.level_for(1.0) == 0 and d.level_for(0.5) == 1 and d.level_for(0.3) == 1 and d.level_for(0.01) == 3


def test_mask_roundtrip_and_overlay(qapp):
    m = np.zeros((20, 30), bool)
    m[5:10, 3:8] = True
    img = array_to_mask(m)
    assert img.format() == QImage.Format_Alpha8
    assert (mask_to_array(img) == m).all()
    over = mask_overlay(img, QRect(0, 0, 10, 10))
    assert over.pixelColor(4, 6).red() == 255 and over.pixelColor(0, 0).alpha() == 0


def test_mask_layer_stroke_patch_and_invert(qapp):
    layer = MaskLayer(64, 48)
    layer.begin_stroke(QPointF(10, 10), 6)
    layer.stroke_to(QPointF(40, 10))
    rect, before, after = layer.end_stroke()
    arr = layer.to_array()
    assert arr[10, 25] and not arr[30, 25]
    assert rect.contains(25, 10)
    layer.put_patch(rect, before)
    assert not layer.to_array().any()
    layer.put_patch(rect, after)
    assert (layer.to_array() == arr).all()
    layer.set_image(layer.inverted())
    assert (layer.to_array() == ~arr).all()
    layer.begin_stroke(QPointF(5, 40), 4, erase=True)   # erasing already-clear... on inverted: clears
    assert layer.end_stroke() is not None
    assert not layer.to_array()[40, 5]


def _slow(n, *, progress, cancel):
    for i in range(n):
        cancel.raise_if_cancelled()
        progress(i / n)
        time.sleep(0.01)
    return n


def test_worker_finishes_throttles_and_cancels(qtbot):
    w = Worker(_slow, 30)
    seen = []
    w.progress.connect(seen.append)
    with qtbot.waitSignal(w.ended, timeout=10000):
        w.start()
    assert w.outcome == "finished" and w.result == 30
    assert 1 <= len(seen) <= 12          # ~0.3 s of work, at most one report per 50 ms
    w2 = Worker(_slow, 10000)
    with qtbot.waitSignal(w2.cancelled, timeout=10000):
        w2.start()
        qtbot.wait(50)
        w2.cancel()
    assert w2.outcome == "cancelled"


def test_finished_worker_lets_go_of_its_arrays(qapp):
    """Closures that capture the worker (as the window's do) must not keep photos alive."""
    import gc
    import weakref

    def run_one():
        photo = np.zeros((500, 500, 3), np.uint8)
        w = Worker(lambda a, *, progress, cancel: a + 1, photo)
        got = []
        w.finished.connect(lambda result: got.append(w.outcome))    # captures w: a cycle via Qt
        w.start()
        w.wait()
        for _ in range(5):
            qapp.processEvents()
        assert got == ["finished"]
        return weakref.ref(w), weakref.ref(photo)

    worker_ref, photo_ref = run_one()
    gc.collect()
    assert worker_ref() is None and photo_ref() is None


def test_worker_reports_failures(qtbot):
    def boom(*, progress, cancel):
        raise BadInputError("photo.png: cannot read it (the file is damaged)")

    w = Worker(boom)
    with qtbot.waitSignal(w.failed, timeout=10000) as blocker:
        w.start()
    assert blocker.args == ["photo.png: cannot read it (the file is damaged)"]

    def bug(*, progress, cancel):
        raise ZeroDivisionError("division by zero")

    w = Worker(bug)
    with qtbot.waitSignal(w.failed, timeout=10000) as blocker:
        w.start()
    assert "ZeroDivisionError" in blocker.args[0]


def test_worker_signals_arrive_on_gui_thread(qtbot):
    import threading
    threads = []
    w = Worker(_slow, 3)
    w.finished.connect(lambda _r: threads.append(threading.current_thread()))
    with qtbot.waitSignal(w.ended, timeout=10000):
        w.start()
    assert threads == [threading.main_thread()]


def test_many_qt_calls_do_not_exhaust_none(qapp):
    """PySide6 6.12 on Python 3.11 drops a reference to None per void call (see gui/compat.py)."""
    from PySide6.QtCore import QObject
    probe = QObject()
    for _ in range(200_000):
        probe.setObjectName("x")
    assert sys.getrefcount(None) > 1000


def test_document_history_spills_to_disk_and_undoes_exactly(qapp, tmp_path):
    from restora.engine import Photo
    from restora.engine.spill import SpillStore
    from restora.gui.document import Document

    rng = np.random.default_rng(3)
    steps = [rng.integers(0, 255, (40, 50, 3), dtype=np.uint8) for _ in range(5)]
    store = SpillStore(budget_bytes=steps[0].nbytes, folder=tmp_path)
    doc = Document(Photo(pixels=steps[0]), history=store)
    for i, pixels in enumerate(steps[1:], 1):
        doc.apply_result(pixels, f"step {i}")
    store.wait()
    assert doc.pixels is steps[-1] and store.memory_bytes() <= steps[0].nbytes
    assert len(list(tmp_path.glob("*.npy"))) >= 2         # older results went to disk
    for want in reversed(steps[:-1]):
        doc.undo_stack.undo()
        assert np.array_equal(doc.pixels, want) and doc.display is not None
    assert doc.pixels is steps[0]                          # the original never leaves memory
    for want in steps[1:]:
        doc.undo_stack.redo()
        assert np.array_equal(doc.pixels, want)
    doc.undo_stack.setIndex(2)
    doc.apply_result(steps[0][::-1].copy(), "new branch")  # drops steps 3 and 4 ...
    store.wait()
    import gc
    gc.collect()
    assert doc.undo_stack.count() == 3 and len(list(tmp_path.glob("*.npy"))) <= 2  # ... and their files
    doc.close()


def test_mask_history_is_packed_and_undoes_exactly(qapp):
    from restora.engine import Photo
    from restora.gui.document import Document
    from restora.gui.mask_layer import PackedMask

    rng = np.random.default_rng(5)
    odd = rng.integers(0, 2, (37, 53)).astype(bool)          # width 53: QImage rows are padded to 56
    image = array_to_mask(odd)
    assert (mask_to_array(PackedMask(image).image()) == odd).all()

    big = np.zeros((2000, 3000), bool)
    big[500:900, 700:2500] = True                             # a typical painted area, 6 MP mask
    assert PackedMask(array_to_mask(big)).nbytes < 100_000    # vs 6,000,000 bytes unpacked

    doc = Document(Photo(pixels=np.zeros((37, 53, 3), np.uint8)))
    doc.push_mask(image, "Load mask")
    doc.push_mask(doc.mask.inverted(), "Invert mask")
    assert (doc.mask.to_array() == ~odd).all()
    doc.undo_stack.undo()
    assert (doc.mask.to_array() == odd).all()
    doc.undo_stack.undo()
    assert not doc.mask.to_array().any()
    doc.undo_stack.redo()
    doc.undo_stack.redo()
    assert (doc.mask.to_array() == ~odd).all()
    doc.close()

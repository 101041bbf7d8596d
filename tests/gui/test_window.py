"""The window, end to end, offscreen: open, paint, run, cancel, undo, save, errors."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QLabel

from restora.engine import ModelError, Photo, read_image, write_image
from restora.gui import jobs
from restora.gui.display import array_to_mask

from gui_helpers import drag_stroke, make_image


def drop(window, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)


def run_and_wait(window, qtbot, timeout=20000):
    assert window.panel.run_button.isEnabled(), window.panel.status.text()
    qtbot.mouseClick(window.panel.run_button, Qt.LeftButton)
    job = window.job
    assert job is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=timeout)
    return job


def test_empty_window(window):
    assert "Restora" in window.windowTitle()
    assert window.central.currentWidget() is window.empty
    assert not window.act_save.isEnabled()
    names = [window.panel.model_list.item(i).data(Qt.UserRole) for i in range(window.panel.model_list.count())]
    assert "telea" in names


def test_open_by_drop_files_and_folder(window, qtbot, make_photo_file, tmp_path):
    a = make_photo_file("a.png")
    drop(window, [a])
    qtbot.waitUntil(lambda: len(window.documents) == 1, timeout=10000)
    assert window.tabs.count() == 1
    assert "a.png" in window.windowTitle() and "Restora" in window.windowTitle()
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("b.png", "c.jpg"):
        write_image(folder / name, Photo(pixels=make_image()))
    (folder / "notes.txt").write_text("not a photo")
    drop(window, [folder])
    qtbot.waitUntil(lambda: len(window.documents) == 3, timeout=10000)
    assert {d.title for d in window.documents} == {"a.png", "b.png", "c.jpg"}
    drop(window, [a])           # already open: switches to it
    QApplication.processEvents()
    assert len(window.documents) == 3 and window.current_document().title == "a.png"
    assert window._recent()[0].endswith(("b.png", "c.jpg", "a.png"))


def test_paint_stroke_and_undo(window, qtbot, open_doc):
    doc = open_doc()
    canvas = window.current_canvas()
    window.set_brush_size(10)
    drag_stroke(canvas, [(20, 30), (40, 30), (60, 30)])
    mask = doc.mask.to_array()
    assert mask[30, 20] and mask[30, 40] and mask[30, 60] and mask[28, 50]
    assert not mask[60, 40] and not mask[30, 100]
    assert doc.undo_stack.count() == 1 and doc.modified
    window.act_eraser.trigger()
    drag_stroke(canvas, [(40, 30), (41, 30)])
    assert not doc.mask.to_array()[30, 40] and doc.mask.to_array()[30, 20]
    window.act_undo.trigger()
    assert doc.mask.to_array()[30, 40]
    window.act_undo.trigger()
    assert not doc.mask.to_array().any()
    window.act_redo.trigger()
    assert (doc.mask.to_array() == mask).all()


def test_brush_keys_and_slider(window, open_doc, qtbot):
    open_doc()
    window.set_brush_size(40)
    window.act_bigger.trigger()
    assert window.brush_size == 48 and window.size_slider.value() == 48
    window.act_smaller.trigger()
    window.act_smaller.trigger()
    assert window.brush_size < 48
    window.size_slider.setValue(77)
    assert window.current_canvas().brush_size == 77


def test_inpaint_through_worker(window, qtbot, open_doc):
    doc = open_doc()
    original = doc.pixels.copy()
    doc.push_mask(array_to_mask(_square_mask(doc.pixels.shape[:2], 30, 40, 20)), "test mask")
    holes = doc.mask.to_array()
    window.panel.set_task("inpaint")
    assert window.panel.select_model("telea")
    job = run_and_wait(window, qtbot)
    assert job.outcome == "finished", job.error
    after = doc.pixels
    assert not np.array_equal(after[holes], original[holes])
    assert np.array_equal(after[~holes], original[~holes])
    assert not doc.mask.to_array().any()           # the filled mask is cleared...
    window.act_undo.trigger()                      # ...and one undo brings back photo and mask
    assert np.array_equal(doc.pixels, original)
    assert np.array_equal(doc.mask.to_array(), holes)
    window.act_redo.trigger()
    assert np.array_equal(doc.pixels, after)
    window.history.setCurrentIndex(window.history.model().index(0, 0))   # jump back in the history list
    assert np.array_equal(doc.pixels, original) and not doc.mask.to_array().any()


def _square_mask(shape, y, x, side):
    m = np.zeros(shape, bool)
    m[y:y + side, x:x + side] = True
    return m


def test_denoise_inside_mask_only(window, qtbot, open_doc):
    doc = open_doc()
    original = doc.pixels.copy()
    doc.push_mask(array_to_mask(_square_mask(doc.pixels.shape[:2], 10, 10, 30)), "mask")
    window.panel.set_task("denoise")
    window.panel.select_model("nlm")
    window.panel.denoise_in_mask.setChecked(True)
    job = run_and_wait(window, qtbot)
    assert job.outcome == "finished", job.error
    assert not np.array_equal(doc.pixels[15:35, 15:35], original[15:35, 15:35])
    assert np.array_equal(doc.pixels[60:, 60:], original[60:, 60:])
    assert doc.mask.to_array()[20, 20]            # denoise keeps the mask


def test_upscale_changes_size_and_undo(window, qtbot, open_doc):
    doc = open_doc()
    doc.push_mask(array_to_mask(_square_mask(doc.pixels.shape[:2], 10, 10, 8)), "mask")
    window.panel.set_task("upscale")
    window.panel.select_model("lanczos")
    window.panel.scale_combo.setCurrentIndex(0)
    job = run_and_wait(window, qtbot)
    assert job.outcome == "finished", job.error
    assert doc.pixels.shape[:2] == (192, 256)
    assert doc.mask.to_array().shape == (192, 256) and doc.mask.to_array()[30, 30]
    assert window.current_canvas().photo_item.boundingRect().width() == 256
    window.act_undo.trigger()
    assert doc.pixels.shape[:2] == (96, 128) and doc.mask.to_array().shape == (96, 128)


def test_cancel_running_job(window, qtbot, open_doc, monkeypatch):
    import functools
    monkeypatch.setattr(jobs, "run_denoise", functools.partial(jobs.run_denoise, tile=64))   # many tiles
    doc = open_doc(height=640, width=640)
    original = doc.pixels
    steps = doc.undo_stack.count()
    window.panel.set_task("denoise")
    window.panel.select_model("nlm")
    qtbot.mouseClick(window.panel.run_button, Qt.LeftButton)
    job = window.job
    assert window.panel.cancel_button.isEnabled() and window.status_progress.isVisible()
    qtbot.waitUntil(lambda: window.status_progress.value() > 0, timeout=20000)
    t0 = time.monotonic()
    qtbot.mouseClick(window.panel.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.job is None, timeout=20000)
    assert job.outcome == "cancelled"
    assert time.monotonic() - t0 < 5
    assert doc.pixels is original and doc.undo_stack.count() == steps
    assert not window.status_progress.isVisible() and window.panel.run_button.isEnabled()
    assert not window.errors


def test_save_as_and_reload(window, qtbot, open_doc, tmp_path):
    doc = open_doc()
    source_bytes = Path(doc.source).read_bytes()
    doc.push_mask(array_to_mask(_square_mask(doc.pixels.shape[:2], 30, 40, 20)), "mask")
    window.panel.set_task("inpaint")
    window.panel.select_model("telea")
    run_and_wait(window, qtbot)
    assert doc.modified
    # Save on the original asks first; "cancel" leaves the file alone
    asked = []
    window.ask_overwrite_original = lambda d: asked.append(d) or "cancel"
    window.save()
    assert asked and Path(doc.source).read_bytes() == source_bytes
    out = tmp_path / "restored.png"
    window.get_save_path = lambda d, *a, **k: str(out)
    window.save_as()
    qtbot.waitUntil(lambda: not doc.modified, timeout=10000)
    assert np.array_equal(read_image(out).pixels, doc.pixels)
    assert doc.path == out and "restored.png" in window.windowTitle()
    assert Path(doc.source).read_bytes() == source_bytes
    # plain Save now writes to the new file without asking
    window.ask_overwrite_original = lambda d: pytest.fail("must not ask for a non-original file")
    window.act_undo.trigger()
    window.save()
    qtbot.waitUntil(lambda: not doc.modified, timeout=10000)
    assert np.array_equal(read_image(out).pixels, doc.pixels)
    window.close_document(doc)
    window.open_paths([str(out)])
    qtbot.waitUntil(lambda: len(window.documents) == 1, timeout=10000)
    assert np.array_equal(window.documents[0].pixels, read_image(out).pixels)


def test_export_keeps_16_bit_and_metadata(window, qtbot, tmp_path):
    src = tmp_path / "deep.png"
    icc = None
    write_image(src, Photo(pixels=make_image(dtype=np.uint16)))
    window.open_paths([str(src)])
    qtbot.waitUntil(lambda: len(window.documents) == 1, timeout=10000)
    doc = window.documents[0]
    assert doc.pixels.dtype == np.uint16
    for name, quality in (("e.tif", 90), ("e.jpg", 80), ("e.webp", 85)):
        window.get_export = lambda d, n=name, q=quality: (tmp_path / n, q)
        window.export()
        qtbot.waitUntil(lambda n=name: (tmp_path / n).exists(), timeout=10000)
    assert read_image(tmp_path / "e.tif").pixels.dtype == np.uint16
    assert read_image(tmp_path / "e.jpg").pixels.dtype == np.uint8
    assert doc.path == src       # exporting does not change where Save writes


def test_failing_model_shows_error_and_window_survives(window, qtbot, open_doc, tmp_path, monkeypatch):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a model at all")
    drop(window, [bad])
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10000)
    assert "broken.pth" in window.errors[-1]
    doc = open_doc()
    original = doc.pixels

    def explode(*args, **kwargs):
        raise ModelError("broken.pth: the model file is damaged (re-download it)")

    monkeypatch.setattr(jobs, "run_denoise", explode)
    window.panel.set_task("denoise")
    window.panel.select_model("nlm")
    job = run_and_wait(window, qtbot)
    assert job.outcome == "failed"
    assert window.errors[-1] == "broken.pth: the model file is damaged (re-download it)"
    assert doc.pixels is original and window.panel.run_button.isEnabled()

    def oom(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(jobs, "run_denoise", oom)
    run_and_wait(window, qtbot)
    assert "out of memory" in window.errors[-1].lower()
    monkeypatch.undo()
    job = run_and_wait(window, qtbot)
    assert job.outcome == "finished"


def test_open_corrupt_file_shows_error(window, qtbot, tmp_path):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    window.open_paths([str(bad)])
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10000)
    assert "corrupt.png" in window.errors[-1]
    assert not window.documents


def test_close_with_unsaved_changes_asks(window, qtbot, open_doc):
    doc = open_doc()
    window.set_brush_size(8)
    drag_stroke(window.current_canvas(), [(10, 10), (30, 30)])
    answers = ["cancel"]
    window.ask_save_changes = lambda d: answers.pop(0)
    assert not window.close_document(doc)
    assert doc in window.documents
    answers.append("discard")
    assert window.close_document(doc)
    assert not window.documents and window.central.currentWidget() is window.empty


def test_generate_grid_opens_sample(window, qtbot, monkeypatch):
    from restora.gui.display import make_display

    def fake_generate(model, seed, count, registry, *, progress, cancel):
        results = []
        for i in range(count):
            img = make_image(32, 32, seed=seed + i)
            d = make_display(img)
            results.append(jobs.Result(img, d, f"Generated seed {seed + i}", seed + i, jobs._thumb(d)))
        return results

    monkeypatch.setattr(jobs, "run_generate", fake_generate)
    window.panel.set_models(window.panel._models + [
        __import__("restora.engine", fromlist=["ModelInfo"]).ModelInfo("fake-gan", "generate", "user", "test", "GAN")])
    window.panel.set_task("generate")
    window.panel.select_model("fake-gan")
    window.panel.count.setValue(4)
    window.panel.generate_seed.setValue(7)
    run_and_wait(window, qtbot)
    dialog = window._samples[-1]
    assert dialog.grid.count() == 4
    dialog._pick(2)
    assert window.current_document().title == "Generated seed 9"
    assert window.current_document().modified


def test_compare_modes_and_zoom_render(window, qtbot, open_doc):
    doc = open_doc()
    canvas = window.current_canvas()
    doc.push_mask(array_to_mask(_square_mask(doc.pixels.shape[:2], 10, 10, 30)), "mask")
    window.act_actual.trigger()
    assert canvas.zoom() == pytest.approx(1.0)
    window.act_zoom_in.trigger()
    assert canvas.zoom() > 1.0
    canvas.grab()
    window.act_fit.trigger()
    window.act_split.setChecked(True)
    assert canvas.photo_item.mode == "split" and canvas.photo_item.before is not None
    canvas.set_split(0.3)
    canvas.grab()
    window.act_original.setChecked(True)
    assert canvas.photo_item.mode == "original" and not window.act_split.isChecked()
    window.act_original.setChecked(False)
    assert canvas.photo_item.mode == "normal"
    canvas.set_zoom(0.05)
    canvas.grab()


def test_settings_remember_layout(window, settings):
    window.set_brush_size(123)
    window.save_layout()
    assert int(settings.value("brush/size")) == 123
    assert settings.value("window/geometry") is not None


def test_split_divider_drags_with_mouse(window, qtbot, open_doc):
    from gui_helpers import _send
    from PySide6.QtCore import QEvent
    doc = open_doc()
    canvas = window.current_canvas()
    window.act_split.setChecked(True)
    canvas.set_split(0.5)
    vp = canvas.viewport()
    start = canvas.mapFromScene(QPointF(64, 48))
    end = canvas.mapFromScene(QPointF(32, 48))
    _send(vp, QEvent.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    _send(vp, QEvent.MouseMove, end, Qt.NoButton, Qt.LeftButton)
    _send(vp, QEvent.MouseButtonRelease, end, Qt.LeftButton, Qt.NoButton)
    assert canvas.photo_item.split == pytest.approx(0.25, abs=0.03)
    assert not doc.mask.to_array().any()          # dragging the divider paints nothing


def test_hold_backslash_shows_original(window, qtbot, open_doc):
    open_doc()
    canvas = window.current_canvas()
    canvas.setFocus()
    qtbot.keyPress(canvas, Qt.Key_Backslash)
    assert canvas.photo_item.mode == "original"
    qtbot.keyRelease(canvas, Qt.Key_Backslash)
    assert canvas.photo_item.mode == "normal"


def test_closing_window_asks_for_unsaved_photos(window, qtbot, open_doc):
    doc = open_doc()
    drag_stroke(window.current_canvas(), [(10, 10), (30, 30)])
    window.ask_save_changes = lambda d: "cancel"
    window.close()
    assert window.isVisible() and doc in window.documents
    window.ask_save_changes = lambda d: "discard"
    window.close()
    assert not window.isVisible()


def test_load_and_save_mask(window, qtbot, open_doc, tmp_path):
    doc = open_doc()
    m = np.zeros(doc.pixels.shape[:2], np.uint8)
    m[5:25, 5:45] = 255
    write_image(tmp_path / "m.png", Photo(pixels=m))
    window.get_mask_path = lambda save: str(tmp_path / ("saved.png" if save else "m.png"))
    window.load_mask()
    assert (doc.mask.to_array() == (m > 0)).all()
    window.save_mask()
    assert (read_image(tmp_path / "saved.png").pixels.squeeze() == m).all()
    window.invert_mask()
    assert (doc.mask.to_array() == (m == 0)).all()
    window.clear_mask()
    assert not doc.mask.to_array().any()
    window.act_undo.trigger()
    window.act_undo.trigger()
    assert (doc.mask.to_array() == (m > 0)).all()
    write_image(tmp_path / "wrong.png", Photo(pixels=np.zeros((5, 5), np.uint8)))
    window.get_mask_path = lambda save: str(tmp_path / "wrong.png")
    window.load_mask()
    assert "does not match" in window.errors[-1]


def test_command_line_paths_open(qtbot, registry, settings, make_photo_file, monkeypatch):
    from restora.gui.main_window import MainWindow
    path = make_photo_file("cli.png")
    win = MainWindow(registry=registry, settings=settings)
    qtbot.addWidget(win)
    win.open_paths([str(path)])
    qtbot.waitUntil(lambda: len(win.documents) == 1, timeout=10000)
    assert str(path) in win._recent()[0]
    win.ask_save_changes = lambda d: "discard"


def test_inpaint_variants_pick_one(window, qtbot, open_doc, monkeypatch):
    from restora.engine import ModelInfo
    from restora.gui.display import make_display
    doc = open_doc()
    doc.push_mask(array_to_mask(_square_mask(doc.pixels.shape[:2], 10, 10, 10)), "mask")
    calls = []

    def fake_inpaint(pixels, mask, model, seed, variants, registry, *, progress, cancel):
        calls.append((model, seed, variants))
        out = []
        for i in range(variants):
            img = np.full_like(pixels, 10 * (i + 1))
            d = make_display(img)
            out.append(jobs.Result(img, d, f"Inpaint {model} (seed {seed + i})", seed + i, jobs._thumb(d)))
        return out

    monkeypatch.setattr(jobs, "run_inpaint", fake_inpaint)
    window.panel.set_models(window.panel._models + [
        ModelInfo("fake-lama", "inpaint", "user", "stochastic test model", "Test", stochastic=True)])
    window.panel.set_task("inpaint")
    window.panel.select_model("fake-lama")
    assert window.panel.variants.isEnabled()
    window.panel.variants.setValue(3)
    window.panel.inpaint_seed.setValue(5)
    run_and_wait(window, qtbot)
    assert calls == [("fake-lama", 5, 3)]
    dialog = window._samples[-1]
    assert dialog.grid.count() == 3
    dialog._pick(1)
    assert (doc.pixels == 20).all()
    assert doc.undo_stack.undoText().endswith("(seed 6)")


def test_denoise_preselects_the_model_made_for_the_photos_kind(qtbot, settings, tmp_path, monkeypatch):
    """Gray photo -> restora-denoise-gray, colour -> restora-denoise, until the person picks one."""
    from restora.engine import Registry
    from restora.gui.main_window import MainWindow

    monkeypatch.setenv("RESTORA_MODELS_DIR", str(tmp_path / "models"))
    registry = Registry(user_dir=tmp_path / "models")
    if registry.default_name("denoise", channels=1) != "restora-denoise-gray":
        pytest.skip("the built-in gray denoiser is not installed")
    win = MainWindow(registry=registry, settings=settings)
    win.ask_save_changes = lambda doc: "discard"
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.panel.model_list.count() > 0, timeout=20000)
    win.panel.set_task("denoise")
    for name, channels in (("gray.png", 1), ("colour.png", 3), ("bw-as-rgb.png", 3)):
        path = tmp_path / name
        pixels = make_image(channels=channels)
        if name == "gray.png":
            pixels = pixels[..., 0]
        elif name == "bw-as-rgb.png":          # a B&W scan saved as RGB counts as gray
            pixels = np.repeat(pixels[..., :1], 3, axis=2)
        write_image(path, Photo(pixels=pixels))
        win.open_paths([str(path)])
    qtbot.waitUntil(lambda: len(win.documents) == 3, timeout=10000)
    docs = {d.title: d for d in win.documents}
    gray, colour, bw = docs["gray.png"], docs["colour.png"], docs["bw-as-rgb.png"]
    assert gray.is_gray and bw.is_gray and not colour.is_gray
    assert "black and white" in bw.size_text() and "black and white" not in colour.size_text()
    win.tabs.setCurrentWidget(win.canvas_for(gray))
    assert win.panel.model_name() == "restora-denoise-gray"
    win.tabs.setCurrentWidget(win.canvas_for(colour))
    assert win.panel.model_name() == "restora-denoise"
    win.tabs.setCurrentWidget(win.canvas_for(bw))
    assert win.panel.model_name() == "restora-denoise-gray"
    win.panel.select_model("nlm")                   # the person's pick sticks
    win.tabs.setCurrentWidget(win.canvas_for(gray))
    assert win.panel.model_name() == "nlm"
    for doc in list(win.documents):
        win.close_document(doc, ask=False)


def test_inpaint_variant_thumbnails_show_the_holes_and_say_when_they_are_alike(window, open_doc, tmp_path):
    """Thumbnails are of the part around the holes (a fill is invisible in a whole-photo
    thumbnail); variants of thin scratches alone, which the seed does not vary, say so."""
    from helpers import restora_model_file

    from restora.engine import Registry, holes_box

    restora_model_file(tmp_path, "InpaintGenerator", {"channels": [8, 16, 32], "blocks": 1, "spectral_every": 0,
                                                      "prefill": "ns", "noise_depth": [4, 12]}, "inpaint", "gated")
    reg = Registry(user_dir=tmp_path, include_builtin=False)
    pixels = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    scratch = np.zeros((200, 300), bool)
    scratch[100:102, 120:180] = True
    assert holes_box(scratch) == (53, 149, 90, 210) and holes_box(scratch * False) is None
    token = jobs.CancelToken()
    thin = jobs.run_inpaint(pixels, array_to_mask(scratch), "gated", 1, 3, reg, progress=lambda _f: None, cancel=token)
    assert [r.same_as_first for r in thin] == [False, True, True]
    thumb = thin[0].thumbnail   # of the 120x96 box, not of the whole 300x200 photo
    assert thumb.width() == 256 and abs(thumb.height() - 256 * 96 / 120) <= 1
    doc = open_doc()
    window._show_variants(doc, thin)
    assert "alike" in window._samples[-1].findChild(QLabel, "hint").text()
    block = scratch.copy()
    block[20:60, 20:70] = True
    wide = jobs.run_inpaint(pixels, array_to_mask(block), "gated", 1, 2, reg, progress=lambda _f: None, cancel=token)
    assert [r.same_as_first for r in wide] == [False, False]
    window._show_variants(doc, wide)
    assert "alike" not in window._samples[-1].findChild(QLabel, "hint").text()

"""The window as a new user meets it: keys that work wherever the focus is, the split divider,
Help, controls that say why they are greyed out, one message for many bad files, Save All on
quitting, and the highlight while files are dragged over the window."""
from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QCursor, QDragEnterEvent, QDragLeaveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from restora.engine import ModelInfo, read_image
from restora.gui import dialogs
from restora.gui.display import array_to_mask
from restora.gui.model_panel import NO_SEED_TIP, RUN_TIP

from gui_helpers import _send, drag_stroke


def _mask(shape, y=10, x=10, side=20):
    m = np.zeros(shape, bool)
    m[y:y + side, x:x + side] = True
    return m


def _drag(canvas, start: QPointF, end: QPointF) -> None:
    vp = canvas.viewport()
    a, b = start.toPoint(), end.toPoint()
    _send(vp, QEvent.MouseButtonPress, a, Qt.LeftButton, Qt.LeftButton)
    _send(vp, QEvent.MouseMove, b, Qt.NoButton, Qt.LeftButton)
    _send(vp, QEvent.MouseButtonRelease, b, Qt.LeftButton, Qt.NoButton)


def _ring_center(canvas) -> QPointF:
    return canvas.cursor_item.rect().center()


# --- 1. keys wherever the focus is; the pointer follows ---------------------------------------------
@pytest.mark.parametrize("focus", ["history", "run_button"])
def test_backslash_and_split_work_wherever_the_focus_is(window, qtbot, open_doc, focus):
    open_doc()
    canvas = window.current_canvas()
    target = window.history if focus == "history" else window.panel.run_button
    window.activateWindow()
    target.setFocus()
    qtbot.keyPress(target, Qt.Key_Backslash)
    assert canvas.photo_item.mode == "original"
    qtbot.keyRelease(target, Qt.Key_Backslash)
    assert canvas.photo_item.mode == "normal"
    assert window.act_split.shortcut() == QKeySequence("Y")
    assert window.act_split.shortcutContext() in (Qt.WindowShortcut, Qt.ApplicationShortcut)
    qtbot.keyClick(target, Qt.Key_Y)
    assert window.act_split.isChecked() and canvas.photo_item.mode == "split"
    qtbot.keyPress(target, Qt.Key_Backslash)          # held over the split view, back to split after
    assert canvas.photo_item.mode == "original"
    qtbot.keyRelease(target, Qt.Key_Backslash)
    assert canvas.photo_item.mode == "split"


def test_pointer_ring_and_coordinates_follow_after_fit(window, qtbot, open_doc):
    open_doc()
    canvas = window.current_canvas()
    window.act_actual.trigger()
    vp = canvas.viewport()
    spot = QPoint(vp.width() // 2 + 30, vp.height() // 2 + 20)
    QCursor.setPos(vp.mapToGlobal(spot))
    QApplication.processEvents()
    before = canvas.mapToScene(spot)
    window.act_fit.trigger()
    after = canvas.mapToScene(spot)
    assert (int(after.x()), int(after.y())) != (int(before.x()), int(before.y()))   # the photo moved
    assert window.pos_label.text() == f"{int(after.x())}, {int(after.y())}"
    ring = _ring_center(canvas)
    assert ring.x() == pytest.approx(after.x(), abs=0.01) and ring.y() == pytest.approx(after.y(), abs=0.01)


def test_pointer_ring_and_coordinates_follow_the_divider(window, qtbot, open_doc):
    doc = open_doc()
    canvas = window.current_canvas()
    window.act_split.setChecked(True)
    canvas.set_split(0.5)
    start, end = canvas.mapFromScene(QPointF(64, 48)), canvas.mapFromScene(QPointF(40, 60))
    _drag(canvas, QPointF(start), QPointF(end))
    assert canvas.photo_item.split == pytest.approx(40 / 128, abs=0.03)
    scene = canvas.mapToScene(end)
    assert window.pos_label.text() == f"{int(scene.x())}, {int(scene.y())}"
    assert _ring_center(canvas).x() == pytest.approx(scene.x(), abs=0.01)
    assert not doc.mask.to_array().any()


# --- 2. the divider drags with any tool and has a grip ---------------------------------------------
def test_divider_drags_with_the_hand_tool_and_has_a_grip(window, qtbot, open_doc):
    open_doc()
    canvas = window.current_canvas()
    window.act_pan.trigger()
    window.act_split.setChecked(True)
    canvas.set_split(0.5)
    window.act_zoom_in.trigger()
    window.act_zoom_in.trigger()      # zoomed in, so a pan would move the scroll bars
    grip = canvas.split_handle_rect()
    assert grip.width() > 4 and grip.height() > 10
    assert abs(grip.center().x() - canvas.split_x()) < 1
    scroll = (canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value())
    _drag(canvas, grip.center(), grip.center() - QPointF(60, 0))
    assert canvas.photo_item.split < 0.45
    assert (canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()) == scroll
    # the grip is drawn: a light handle on the divider, over a mid-grey photo
    canvas.set_split(0.5)
    grip = canvas.split_handle_rect()
    image = canvas.viewport().grab().toImage()
    inside = image.pixelColor(int(grip.center().x()) + 4, int(grip.center().y()))
    assert min(inside.red(), inside.green(), inside.blue()) > 220
    away = image.pixelColor(int(grip.center().x()) + 4, int(grip.top()) - 30)
    assert min(away.red(), away.green(), away.blue()) < 220


# --- 3. Help -------------------------------------------------------------------------------------
def test_help_menu_lists_every_shortcut(window, qtbot):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert "Help" in menus
    assert window.act_shortcuts in menus["Help"].actions() and window.act_about in menus["Help"].actions()
    assert window.act_shortcuts.shortcut() == QKeySequence("F1")
    window.act_shortcuts.trigger()
    dialog = window._samples[-1]
    assert isinstance(dialog, dialogs.ShortcutsDialog) and dialog.isVisible()
    listed = {(label, keys) for _section, label, keys in dialog.rows}
    for action in window.actions():
        keys = action.shortcut().toString(QKeySequence.NativeText)
        if keys:
            assert any(keys in k for _l, k in listed), action.text()
    assert ("Split View", "Y") in listed and ("Keyboard Shortcuts", "F1") in listed
    assert ("Undo", QKeySequence(QKeySequence.Undo).toString(QKeySequence.NativeText)) in listed
    assert any(k == "\\" for _l, k in listed)                   # the held key too
    assert dialog.tree.topLevelItemCount() >= 5
    dialog.close()


def test_about_shows_the_version(window, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda parent, title, text: shown.append((title, text))))
    window.act_about.trigger()
    assert shown and shown[0][0] == "About Restora"
    assert importlib.metadata.version("restora") in shown[0][1] and "photos" in shown[0][1]

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert dialogs.app_version() == "0.1.0"


# --- 4. greyed-out controls say why; 5. the Generate page says which files --------------------------
def test_seed_and_variants_say_why_they_are_off(window):
    panel = window.panel
    panel.set_task("inpaint")
    assert panel.select_model("telea")
    assert not panel.inpaint_seed.isEnabled() and not panel.variants.isEnabled()
    assert panel.inpaint_seed.toolTip() == NO_SEED_TIP == panel.variants.toolTip()
    assert "no seed" in NO_SEED_TIP
    panel.set_models(panel._models + [ModelInfo("fake-lama", "inpaint", "user", "test", "Test", stochastic=True)])
    panel.select_model("fake-lama")
    assert panel.inpaint_seed.isEnabled() and panel.variants.isEnabled()
    assert panel.inpaint_seed.toolTip() != NO_SEED_TIP and panel.variants.toolTip() != NO_SEED_TIP


def test_run_button_says_why_it_is_disabled(window, open_doc):
    panel = window.panel
    panel.set_task("inpaint")
    panel.select_model("telea")
    assert not panel.run_button.isEnabled()
    assert panel.run_button.toolTip() == panel.status.text() == "Open a photo first."
    doc = open_doc()
    assert not panel.run_button.isEnabled() and "Paint a mask" in panel.run_button.toolTip()
    assert panel.run_button.toolTip() == panel.status.text()
    doc.push_mask(array_to_mask(_mask(doc.pixels.shape[:2])), "mask")
    assert panel.run_button.isEnabled() and panel.run_button.toolTip() == RUN_TIP
    panel.set_task("generate")                       # no generator in this registry
    assert not panel.run_button.isEnabled()
    assert "model" in panel.run_button.toolTip() and panel.run_button.toolTip() == panel.status.text()


def test_generate_page_says_which_files_and_where(window, registry):
    window.panel.set_task("generate")
    note = window.panel.generate_note
    assert note.isVisible()
    assert ".pt" in note.text() and "Add Model File" in note.text() and str(registry.user_dir) in note.text()
    file_menu = window.menuBar().actions()[0].menu()
    assert window.act_add_model in file_menu.actions()        # where the note says it is


# --- 6. several bad files, one message ------------------------------------------------------------
def test_several_bad_files_give_one_message(window, qtbot, tmp_path, make_photo_file):
    good = make_photo_file("good.png")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    model = tmp_path / "broken.pth"
    model.write_bytes(b"this is not a model at all")
    missing = tmp_path / "missing.jpg"
    window.open_paths([str(p) for p in (good, corrupt, notes, model, missing)])
    qtbot.waitUntil(lambda: bool(window.errors) and len(window.documents) == 1, timeout=20000)
    qtbot.wait(100)
    assert len(window.errors) == 1
    lines = window.errors[0].splitlines()
    assert sorted(line.split(":")[0] for line in lines) == ["broken.pth", "corrupt.png", "missing.jpg", "notes.txt"]
    assert str(tmp_path) not in window.errors[0]           # the path is not repeated; the name is said once
    for line in lines:
        name = line.split(":")[0]
        assert line.count(name) == 1 and line[len(name) + 1:].strip()


def test_one_bad_file_still_says_what_is_wrong(window, qtbot, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    window.open_paths([str(corrupt)])
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10000)
    assert len(window.errors) == 1 and window.errors[0].startswith("corrupt.png: ")
    assert "corrupt" in window.errors[0][len("corrupt.png: "):] and str(tmp_path) not in window.errors[0]


def test_file_problem_strips_the_path_once(tmp_path):
    path = tmp_path / "a.png"
    assert dialogs.file_problem(path, f"{path}: file not found") == "a.png: file not found"
    assert dialogs.file_problem(path, "a.png: damaged") == "a.png: damaged"
    assert dialogs.file_problem(path, "out of memory") == "a.png: out of memory"


# --- 7. quitting with several changed photos ------------------------------------------------------
def _two_changed(window, open_doc):
    a, b = open_doc("a.png"), open_doc("b.png")
    for doc in (a, b):
        window.tabs.setCurrentWidget(window.canvas_for(doc))
        drag_stroke(window.current_canvas(), [(10, 10), (30, 30)])
        assert doc.modified
    return a, b


def test_quitting_with_several_changed_photos_asks_once(window, qtbot, open_doc, tmp_path):
    a, b = _two_changed(window, open_doc)
    asked_all, asked_one = [], []
    window.ask_save_changes = lambda d: asked_one.append(d.title) or "discard"
    window.ask_save_all = lambda docs: asked_all.append([d.title for d in docs]) or "cancel"
    window.close()
    assert window.isVisible() and asked_all == [["a.png", "b.png"]] and not asked_one
    # Save All: today's per-photo rules (asks before replacing an original; Save As may be cancelled)
    window.ask_save_all = lambda docs: asked_all.append([d.title for d in docs]) or "save"
    window.ask_overwrite_original = lambda d: "overwrite" if d.title == "a.png" else "save_as"
    window.get_save_path = lambda d, *args, **kwargs: None
    window.close()
    assert window.isVisible() and not a.modified and b.modified     # a saved, b's Save As cancelled
    assert np.array_equal(read_image(a.path).pixels, a.pixels)
    # one changed photo left: the per-photo question again
    window.close()
    assert asked_one == ["b.png"] and not window.isVisible()


def test_save_all_saves_each_photo(window, qtbot, open_doc, tmp_path):
    a, b = _two_changed(window, open_doc)
    window.ask_save_all = lambda docs: "save"
    window.ask_save_changes = lambda d: pytest.fail("asked per photo")
    window.ask_overwrite_original = lambda d: "save_as"
    window.get_save_path = lambda d, *args, **kwargs: str(tmp_path / f"saved_{d.title}")
    window.close()
    assert not window.isVisible()
    assert (tmp_path / "saved_a.png").exists() and (tmp_path / "saved_b.png").exists()


def test_discard_all_closes_without_asking_each(window, qtbot, open_doc):
    _two_changed(window, open_doc)
    window.ask_save_all = lambda docs: "discard"
    window.ask_save_changes = lambda d: pytest.fail("asked per photo")
    window.close()
    assert not window.isVisible() and not window.documents


# --- 8. the drop highlight ---------------------------------------------------------------------
def test_dragging_files_over_the_window_highlights_it(window, qtbot, make_photo_file):
    path = make_photo_file("dropped.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    overlay = window.drop_overlay
    assert not overlay.isVisible()
    window.dragEnterEvent(QDragEnterEvent(QPoint(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert overlay.isVisible() and "Drop photos or model files" in overlay.text()
    assert window.central.rect().contains(overlay.geometry())
    window.dragLeaveEvent(QDragLeaveEvent())
    assert not overlay.isVisible()
    window.dragEnterEvent(QDragEnterEvent(QPoint(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert not overlay.isVisible()
    qtbot.waitUntil(lambda: len(window.documents) == 1, timeout=10000)
    text = QMimeData()
    text.setText("just text")
    window.dragEnterEvent(QDragEnterEvent(QPoint(50, 50), Qt.CopyAction, text, Qt.LeftButton, Qt.NoModifier))
    assert not overlay.isVisible()

"""The window and program model files: nothing runs at start; adding one asks first."""
from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt


def _model_names(window):
    return [window.panel.model_list.item(i).data(Qt.UserRole) for i in range(window.panel.model_list.count())]


@pytest.fixture
def payload_in_user_folder(code_payload, registry):
    path, marker = code_payload
    target = registry.user_dir / "faces.pt"
    shutil.copy(path, target)
    return target, marker


def test_window_start_never_loads_a_program_file(payload_in_user_folder, qtbot, registry, settings):
    from restora.gui.main_window import MainWindow

    target, marker = payload_in_user_folder
    win = MainWindow(registry=registry, settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.panel.model_list.count() > 0, timeout=10000)
    qtbot.waitUntil(lambda: "faces.pt" in win.statusBar().currentMessage(), timeout=10000)
    assert "program files that run code" in win.statusBar().currentMessage()
    assert "faces" not in _model_names(win)
    assert not marker.exists()


@pytest.mark.parametrize("answer", [False, True])
def test_adding_a_program_file_asks_and_remembers(window, qtbot, code_payload, answer):
    path, marker = code_payload
    asked = []

    def ask(p, what):
        asked.append((p.name, what))
        return answer

    window.ask_trust_program = ask
    window.add_model(str(path))
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)
    assert asked == [("payload.pt", "a TorchScript program")]
    if not answer:
        qtbot.waitUntil(lambda: "not trusted" in window.statusBar().currentMessage(), timeout=5000)
        assert "payload" not in _model_names(window) and not marker.exists()
        return
    qtbot.waitUntil(lambda: "payload" in _model_names(window), timeout=10000)
    assert marker.exists() and window.panel.task() == "generate"
    # remembered: adding it again does not ask again
    asked.clear()
    window.add_model(str(path))
    qtbot.waitUntil(lambda: "Added model payload" in window.statusBar().currentMessage(), timeout=10000)
    assert asked == []


@pytest.mark.parametrize("answer", [False, True])
def test_a_photo_over_the_pixel_limit_asks_before_opening(window, qtbot, make_photo_file, monkeypatch, answer):
    from restora.engine import imageio

    monkeypatch.setattr(imageio.limits, "_max_pixels_override", 100)
    path = make_photo_file("big.png")
    asked = []
    window.ask_open_large = lambda p, exc: asked.append((p.name, exc.width * exc.height, exc.limit)) or answer
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)
    assert asked[0][0] == "big.png" and asked[0][1] > 100 and asked[0][2] == 100
    if answer:
        qtbot.waitUntil(lambda: len(window.documents) == 1, timeout=10000)
    else:
        qtbot.waitUntil(lambda: "too large" in window.statusBar().currentMessage(), timeout=5000)
        assert window.documents == [] and window.errors == []


def test_the_pixel_limit_setting_is_applied_at_start(qtbot, registry, settings, monkeypatch):
    from restora.engine import imageio
    from restora.gui.main_window import MainWindow

    monkeypatch.setattr(imageio.limits, "_max_pixels_override", None)
    settings.setValue("limits/max_megapixels", 42)
    win = MainWindow(registry=registry, settings=settings)
    qtbot.addWidget(win)
    assert imageio.max_pixels() == 42_000_000

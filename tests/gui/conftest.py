"""Fixtures for the window tests: offscreen Qt, temp settings, a temp user-models folder."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402

from restora.engine import Photo, Registry, write_image  # noqa: E402

from gui_helpers import make_image  # noqa: E402


@pytest.fixture
def make_photo_file(tmp_path):
    def make(name: str = "photo.png", **kwargs) -> Path:
        path = tmp_path / name
        write_image(path, Photo(pixels=make_image(**kwargs)))
        return path
    return make


@pytest.fixture
def settings(tmp_path, monkeypatch):
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    return QSettings(str(tmp_path / "settings" / "restora-test.ini"), QSettings.IniFormat)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("RESTORA_MODELS_DIR", str(models))
    return Registry(user_dir=models, include_builtin=False)


@pytest.fixture
def window(qtbot, registry, settings, monkeypatch):
    from restora.gui.main_window import MainWindow

    win = MainWindow(registry=registry, settings=settings)
    win.errors = []
    win.show_error = lambda message, title="Restora": (win.errors.append(message),
                                                     setattr(win, "last_error", message))
    win.ask_save_changes = lambda doc: "discard"
    win.ask_save_all = lambda docs: "discard"
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitUntil(lambda: win.panel.model_list.count() > 0, timeout=10000)
    yield win
    from restora.gui.worker import wait_all
    if win.job is not None:
        win.job.cancel()
    wait_all(20000)
    for doc in list(win.documents):
        win.close_document(doc, ask=False)


@pytest.fixture
def open_doc(window, qtbot, make_photo_file):
    def open_(name: str = "photo.png", **kwargs):
        path = make_photo_file(name, **kwargs)
        before = len(window.documents)
        window.open_paths([str(path)])
        qtbot.waitUntil(lambda: len(window.documents) == before + 1, timeout=10000)
        return window.documents[-1]
    return open_


@pytest.fixture(autouse=True, scope="session")
def _unfreeze_gc_at_end():
    yield
    import gc
    gc.unfreeze()
    gc.collect()

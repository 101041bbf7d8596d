"""Mask ▸ Detect Damage: the detector's mask joins the painted one as one undoable step; the
sensitivity moves over the stored map without running the network again."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import restora_model_file

from restora.gui.display import array_to_mask


class _SliderMovedTo:
    """Stands in for the sensitivity dialog: the slider moves to ``threshold``, then OK."""
    Accepted = 1

    def __init__(self, threshold: float):
        from PySide6.QtCore import QObject, Signal

        class Emitter(QObject):
            changed = Signal(float)
        self._emitter, self._threshold = Emitter(), threshold
        self.changed = self._emitter.changed

    def exec(self):
        self.changed.emit(self._threshold)
        return 1

    def threshold(self):
        return self._threshold


@pytest.fixture
def detector(registry):
    restora_model_file(registry.user_dir, "DamageDetector", {"in_channels": 3, "channels": [8, 16, 16],
                                                            "blocks": [1, 1, 1]}, "detect", "tiny-detect",
                       out_channels=1, seed=1)
    return registry


def test_detect_then_move_the_sensitivity(window, qtbot, open_doc, detector, monkeypatch):
    doc = open_doc()
    painted = np.zeros(doc.pixels.shape[:2], bool)
    painted[2:5, 2:5] = True
    doc.push_mask(array_to_mask(painted), "paint")
    assert not window.act_sensitivity.isEnabled()
    assert not window.act_detect.icon().isNull() and not window.act_sensitivity.icon().isNull()
    window.act_detect.trigger()
    job = window.job
    qtbot.waitUntil(lambda: window.job is None, timeout=20000)
    assert job.outcome == "finished", job.error
    mask = doc.mask.to_array()
    assert mask[3, 3] and doc.undo_stack.count() == 2 and doc.undo_stack.command(1).text() == "Detect damage"
    assert window.act_sensitivity.isEnabled()

    calls = []
    import restora.engine.tasks.detect as detect_module

    monkeypatch.setattr(detect_module, "damage_probability", lambda *a, **k: calls.append(1))

    window.make_sensitivity_dialog = lambda t: _SliderMovedTo(0.01)   # "mark everything", then OK
    window.detection_sensitivity_dialog()
    assert calls == [], "the network did not run again"
    assert doc.mask.to_array().mean() > mask.mean() and doc.undo_stack.count() == 3
    window.act_undo.trigger()
    assert np.array_equal(doc.mask.to_array(), mask)


def test_detect_without_a_detector_says_so(window, open_doc):
    open_doc()
    assert window.detect_damage() is None
    assert "No damage detector" in window.errors[-1]


def test_the_sensitivity_keeps_strokes_made_after_detection(window, qtbot, open_doc, detector):
    doc = open_doc()
    window.act_detect.trigger()
    qtbot.waitUntil(lambda: window.job is None, timeout=20000)
    found = doc.detection
    detected = found.probability >= found.threshold
    stroke = np.argwhere(~detected)[0]                     # a pixel the detector left alone
    erase = np.argwhere(detected)[0] if detected.any() else None
    mask = doc.mask.to_array()
    mask[tuple(stroke)] = True
    if erase is not None:
        mask[tuple(erase)] = False
    doc.push_mask(array_to_mask(mask), "paint")

    window.make_sensitivity_dialog = lambda t: _SliderMovedTo(0.99)
    window.detection_sensitivity_dialog()
    after = doc.mask.to_array()
    assert after[tuple(stroke)], "a stroke painted after detection stays"
    if erase is not None:
        assert not after[tuple(erase)], "a detected pixel the person erased stays erased"

"""The Generate window: a real generator file (DCGAN weights) sampled, extended with More,
resampled at another truncation, a walk between two picked samples, one opened as a photo."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from restora.gui.sampler import PSI_STEPS, SamplerDialog


@pytest.fixture
def gan_window(window, registry, qtbot):
    import torch
    from safetensors.torch import save_file
    from torch import nn

    torch.manual_seed(0)
    layers = [nn.ConvTranspose2d(16, 32, 4, 1, 0, bias=False), nn.BatchNorm2d(32), nn.ReLU(True),
              nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(True),
              nn.ConvTranspose2d(16, 3, 4, 2, 1, bias=False), nn.Tanh()]
    net = nn.Module()
    net.main = nn.Sequential(*layers)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(registry.user_dir / "tiny-gan.safetensors"))
    window.refresh_models()
    qtbot.waitUntil(lambda: any(i.name == "tiny-gan" for i in window.panel._models), timeout=10000)
    return window


def _run_sampler(window, qtbot) -> SamplerDialog:
    panel = window.panel
    panel.set_task("generate")
    assert panel.select_model("tiny-gan")
    panel.count.setValue(3)
    panel.generate_seed.setValue(10)
    assert window.run_task() is not None
    qtbot.waitUntil(lambda: window.job is None and bool(window._samples), timeout=20000)
    dialog = window._samples[-1]
    assert isinstance(dialog, SamplerDialog)
    return dialog


def _wait_idle(window, qtbot, dialog):
    qtbot.waitUntil(lambda: window.job is None and dialog.more.isEnabled(), timeout=20000)


def _click(qtbot, dialog, row, ctrl=False):
    """A real mouse click on a sample (Ctrl held: a pick for a walk)."""
    grid = dialog.grid
    grid.scrollToItem(grid.item(row))
    qtbot.mouseClick(grid.viewport(), Qt.LeftButton, Qt.ControlModifier if ctrl else Qt.NoModifier,
                     grid.visualItemRect(grid.item(row)).center())


def test_more_truncation_walk_and_open(gan_window, qtbot):
    window = gan_window
    dialog = _run_sampler(window, qtbot)
    assert [r.seed for r in dialog.results] == [10, 11, 12] and dialog.grid.count() == 3
    first = dialog.results[0].pixels.copy()

    dialog.more.click()                                   # the next seeds, appended
    _wait_idle(window, qtbot, dialog)
    assert [r.seed for r in dialog.results] == [10, 11, 12, 13, 14, 15]

    dialog.psi.setValue(int(0.3 * PSI_STEPS))             # truncation: the same seeds again
    qtbot.waitUntil(lambda: window.job is not None or "ψ 0.3" in dialog.results[0].label, timeout=5000)
    _wait_idle(window, qtbot, dialog)
    assert [r.seed for r in dialog.results] == [10, 11, 12, 13, 14, 15]
    assert "ψ 0.3" in dialog.results[0].label
    assert not np.array_equal(dialog.results[0].pixels, first)

    assert not dialog.walk.isEnabled()
    qtbot.waitExposed(dialog)
    _click(qtbot, dialog, 0, ctrl=True)
    _click(qtbot, dialog, 2, ctrl=True)
    assert dialog.walk.isEnabled() and dialog.walk_seeds() == (10, 12)
    dialog.steps.setValue(4)
    dialog.walk.click()
    _wait_idle(window, qtbot, dialog)
    walk = dialog.results[6:]
    assert len(walk) == 4 and walk[0].label.startswith("Walk 10→12")
    assert np.array_equal(walk[0].pixels, dialog.results[0].pixels)     # the walk starts at seed 10's image
    assert np.array_equal(walk[-1].pixels, dialog.results[2].pixels)    # and ends at seed 12's

    _click(qtbot, dialog, 1)                              # a plain click opens it
    assert window.current_document().title == "Generated seed 11 ψ 0.3"
    assert dialog.picked() == [0, 2]                      # and leaves the picks alone


def test_picks_keep_their_order_and_a_third_replaces_the_oldest(gan_window, qtbot):
    window = gan_window
    dialog = _run_sampler(window, qtbot)
    qtbot.waitExposed(dialog)
    docs = len(window.documents)
    _click(qtbot, dialog, 2, ctrl=True)
    _click(qtbot, dialog, 0, ctrl=True)
    assert dialog.walk_seeds() == (12, 10)                # the walk goes from the first pick
    _click(qtbot, dialog, 0)                              # opening a picked sample keeps it picked
    assert dialog.picked() == [2, 0] and len(window.documents) == docs + 1
    _click(qtbot, dialog, 1, ctrl=True)                   # a third pick drops the oldest (row 2)
    assert dialog.picked() == [0, 1] and dialog.walk_seeds() == (10, 11)
    assert sorted(dialog.grid.row(i) for i in dialog.grid.selectedItems()) == [0, 1]
    _click(qtbot, dialog, 0, ctrl=True)                   # Ctrl+click again: unpicked
    assert dialog.picked() == [1] and not dialog.walk.isEnabled()


def test_a_drag_picks_nothing_and_a_stale_press_opens_nothing(gan_window, qtbot):
    window = gan_window
    dialog = _run_sampler(window, qtbot)
    qtbot.waitExposed(dialog)
    grid, docs = dialog.grid, len(window.documents)
    at = lambda row: grid.visualItemRect(grid.item(row)).center()  # noqa: E731
    qtbot.mousePress(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at(0))
    for row in (1, 2):
        qtbot.mouseMove(grid.viewport(), at(row))
    qtbot.mouseRelease(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at(2))
    assert dialog.picked() == [] and len(window.documents) == docs
    qtbot.mousePress(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at(1))   # pressed on 1 ...
    qtbot.mouseRelease(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at(0))  # ... let go on 0
    qtbot.mousePress(grid.viewport(), Qt.LeftButton, Qt.ControlModifier, at(1))
    qtbot.mouseRelease(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at(1))
    assert dialog.picked() == [1] and len(window.documents) == docs
    grid.setCurrentRow(2)
    qtbot.keyClick(grid, Qt.Key_Return)                   # Return opens the current sample
    assert len(window.documents) == docs + 1 and window.current_document().title == "Generated seed 12"
    before = len(dialog.results)
    qtbot.keyClick(dialog.steps, Qt.Key_Return)           # and in Steps it samples nothing
    assert window.job is None and len(dialog.results) == before


def test_a_truncation_change_during_a_job_is_drawn_after_it(gan_window, qtbot):
    window = gan_window
    dialog = _run_sampler(window, qtbot)
    dialog.more.click()                                   # busy now
    dialog.set_busy(True, "Sampling…")
    dialog.psi.setValue(int(0.4 * PSI_STEPS))
    dialog._resample()                                    # the slider's timer fires mid-job
    qtbot.waitUntil(lambda: "ψ 0.4" in dialog.results[0].label, timeout=20000)
    _wait_idle(window, qtbot, dialog)
    assert all("ψ 0.4" in r.label for r in dialog.results) and len(dialog.results) == 6


def test_truncation_redraws_walks_too(gan_window, qtbot):
    window = gan_window
    dialog = _run_sampler(window, qtbot)
    qtbot.waitExposed(dialog)
    _click(qtbot, dialog, 0, ctrl=True)
    _click(qtbot, dialog, 1, ctrl=True)
    dialog.steps.setValue(3)
    dialog.walk.click()
    _wait_idle(window, qtbot, dialog)
    assert dialog.entries() == [10, 11, 12, (10, 11, 3)]
    dialog.psi.setValue(int(0.5 * PSI_STEPS))
    qtbot.waitUntil(lambda: "ψ 0.5" in dialog.results[-1].label, timeout=20000)
    _wait_idle(window, qtbot, dialog)
    assert dialog.entries() == [10, 11, 12, (10, 11, 3)] and len(dialog.results) == 6
    assert dialog.picked() == [0, 1] and dialog.walk.isEnabled()          # the picks stay
    walk = dialog.results[3:]
    assert [r.label for r in walk] == ["Walk 10→11 %d/3 ψ 0.5" % i for i in (1, 2, 3)]
    assert np.array_equal(walk[0].pixels, dialog.results[0].pixels)    # ends: the seeds at the new ψ
    assert np.array_equal(walk[-1].pixels, dialog.results[1].pixels)


def test_the_sampler_shows_its_job_and_cancels_it(gan_window, qtbot, monkeypatch):
    """More runs with the window's own progress bar and Cancel; Cancel stops that job and
    keeps the grid; closing the window while sampling cancels too."""
    import threading

    from restora.engine import Cancelled
    from restora.gui import jobs

    window = gan_window
    dialog = _run_sampler(window, qtbot)
    started = threading.Event()

    def waits_for_cancel(*_a, progress, cancel):
        progress(0.25)
        started.set()
        while not cancel.cancelled:
            threading.Event().wait(0.01)
        raise Cancelled("cancelled")

    monkeypatch.setattr(jobs, "run_generate", waits_for_cancel)
    dialog.more.click()
    qtbot.waitUntil(lambda: started.is_set() and dialog.progress.value() == 250, timeout=10000)
    assert dialog.progress.isVisible() and dialog.cancel.isVisible() and not dialog.more.isEnabled()
    dialog.cancel.click()
    qtbot.waitUntil(lambda: window.job is None, timeout=10000)
    assert "Cancelled" in dialog.status.text() and not dialog.cancel.isVisible()
    assert [r.seed for r in dialog.results] == [10, 11, 12] and dialog.more.isEnabled()
    assert not window.errors

    started.clear()
    dialog.more.click()
    qtbot.waitUntil(started.is_set, timeout=10000)
    dialog.close()                                        # closing cancels its job
    qtbot.waitUntil(lambda: window.job is None, timeout=10000)
    assert not window.errors


def test_closing_the_sampler_mid_job_is_harmless(gan_window, qtbot):
    window = gan_window
    dialog = _run_sampler(window, qtbot)
    dialog.more.click()
    dialog.close()
    qtbot.waitUntil(lambda: window.job is None, timeout=20000)
    assert not window.errors

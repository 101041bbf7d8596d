"""The Generate window: a real generator file (DCGAN weights) sampled, extended with More,
resampled at another truncation, a walk between two picked samples, one opened as a photo."""
from __future__ import annotations

import numpy as np
import pytest

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
    dialog.grid.item(0).setSelected(True)
    dialog.grid.item(2).setSelected(True)
    assert dialog.walk.isEnabled() and dialog.walk_seeds() == (10, 12)
    dialog.steps.setValue(4)
    dialog.walk.click()
    _wait_idle(window, qtbot, dialog)
    walk = dialog.results[6:]
    assert len(walk) == 4 and walk[0].label.startswith("Walk 10→12")
    assert np.array_equal(walk[0].pixels, dialog.results[0].pixels)     # the walk starts at seed 10's image
    assert np.array_equal(walk[-1].pixels, dialog.results[2].pixels)    # and ends at seed 12's

    dialog._pick(1)
    assert window.current_document().title == "Generated seed 11 ψ 0.3"


def test_closing_the_sampler_mid_job_is_harmless(gan_window, qtbot):
    window = gan_window
    dialog = _run_sampler(window, qtbot)
    dialog.more.click()
    dialog.close()
    qtbot.waitUntil(lambda: window.job is None, timeout=20000)
    assert not window.errors

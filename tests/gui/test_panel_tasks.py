"""The Restore panel's tasks come from the engine's task list: a task registered with
``restora.engine.register`` appears in the Task combo with a generated parameter form and
runs from the window, as one undoable step with its recipe step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest
from helpers import invert_task_spec
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QSpinBox

from restora.engine import register
from restora.engine.tasks import catalog
from restora.engine.tasks.spec import OUTPUT_MASK, Task, param
from restora.gui.display import array_to_mask
from restora.gui.model_panel import TASK_LABELS
from restora.gui.param_form import ParamForm


@pytest.fixture
def invert_task():
    task = register(invert_task_spec())
    yield task
    catalog.unregister("invert")


@pytest.fixture
def invert_window(invert_task, window):
    """The window, made after the invert task was registered."""
    return window


def _run(window, qtbot):
    assert window.panel.run_button.isEnabled(), window.panel.status.text()
    qtbot.mouseClick(window.panel.run_button, Qt.LeftButton)
    job = window.job
    assert job is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=20000)
    assert job.outcome == "finished", job.error
    return job


def _combo_tasks(panel) -> list[str]:
    return [panel.task_combo.itemData(i) for i in range(panel.task_combo.count())]


def test_builtin_tasks_and_labels_come_from_the_task_list(window):
    panel = window.panel
    assert _combo_tasks(panel)[:4] == ["inpaint", "denoise", "upscale", "generate"]
    assert "detect" not in _combo_tasks(panel)            # a Mask-menu action, not a panel task
    assert TASK_LABELS["denoise"] == "Denoise" and TASK_LABELS["detect"] == "Detect damage"
    assert list(TASK_LABELS)[:4] == ["inpaint", "denoise", "upscale", "generate"]


def test_a_registered_task_appears_with_a_generated_form_and_runs(invert_window, qtbot, open_doc):
    window = invert_window
    panel = window.panel
    assert "invert" in _combo_tasks(panel)
    assert panel.task_combo.itemText(panel.task_combo.findData("invert")) == "Invert"
    assert TASK_LABELS["invert"] == "Invert"

    doc = open_doc()
    original = doc.pixels.copy()
    steps = doc.undo_stack.count()
    assert panel.set_task("invert")
    form = panel.forms["invert"]
    assert panel.stack.currentWidget().isAncestorOf(form)
    amount = form.boxes["amount"]
    assert isinstance(amount, QDoubleSpinBox)
    assert (amount.minimum(), amount.maximum(), amount.value()) == (0.0, 1.0, 1.0)
    assert "invert" in amount.toolTip()
    # its models are those of its model task (denoise)
    names = [panel.model_list.item(i).data(Qt.UserRole) for i in range(panel.model_list.count())]
    assert names and "nlm" in names and "telea" not in names
    assert panel.params()["params"] == {"amount": 1.0}

    _run(window, qtbot)
    assert np.array_equal(doc.pixels, 255 - original)
    assert doc.undo_stack.count() == steps + 1
    step = doc.recipe_steps()[-1]
    assert step.task == "invert" and step.params["amount"] == 1.0
    window.act_undo.trigger()
    assert np.array_equal(doc.pixels, original)
    window.act_redo.trigger()
    assert np.array_equal(doc.pixels, 255 - original)


def test_a_generated_task_limited_to_the_mask(invert_window, qtbot, open_doc):
    window = invert_window
    panel = window.panel
    doc = open_doc()
    original = doc.pixels.copy()
    holes = np.zeros(doc.pixels.shape[:2], bool)
    holes[10:40, 10:40] = True
    doc.push_mask(array_to_mask(holes), "mask")
    panel.set_task("invert")
    panel.forms["invert"].boxes["amount"].setValue(0.5)
    inside = panel._inside_boxes["invert"]
    assert inside.isEnabled()
    inside.setChecked(True)
    _run(window, qtbot)
    assert not np.array_equal(doc.pixels[15:35, 15:35], original[15:35, 15:35])
    assert np.array_equal(doc.pixels[70:, 90:], original[70:, 90:])
    step = doc.recipe_steps()[-1]
    assert step.task == "invert" and step.params["amount"] == 0.5 and step.inside is not None


def test_a_task_registered_after_the_window_appears_on_refresh(window, qtbot):
    panel = window.panel
    assert "invert" not in _combo_tasks(panel)
    panel.set_task("denoise")
    register(invert_task_spec())
    try:
        panel.refresh_tasks()
        assert "invert" in _combo_tasks(panel) and panel.task() == "denoise"
        assert panel.set_task("invert") and "amount" in panel.forms["invert"].boxes
    finally:
        catalog.unregister("invert")
    panel.refresh_tasks()
    assert "invert" not in _combo_tasks(panel)
    assert panel.task() == "inpaint"      # the task shown went away: the first one instead


def test_mask_making_tasks_are_not_offered(window):
    @dataclass(frozen=True)
    class NoParams:
        pass

    register(Task("find_things", "Find things", "A mask maker (a test task).", "detect", NoParams,
                  run=lambda *a, **k: None, output=OUTPUT_MASK))
    try:
        window.panel.refresh_tasks()
        assert "find_things" not in _combo_tasks(window.panel)
        assert not window.panel.set_task("find_things")
    finally:
        catalog.unregister("find_things")


def test_param_form_widgets_follow_the_params(qtbot):
    @dataclass(frozen=True)
    class P:
        scale: Optional[int] = param(None, kind=int, choices=(2, 3, 4, 8), optional=True, help="factor")
        count: int = param(3, kind=int, lo=1, hi=64, help="how many")
        sigma: Optional[float] = param(None, lo=0.0, hi=100.0, lo_open=True, optional=True, help="strength")
        weight: float = param(0.25, lo=0.0, hi=1.0, help="blend")

    form = ParamForm(P)
    qtbot.addWidget(form)
    assert isinstance(form.boxes["scale"], QComboBox) and form.boxes["scale"].count() == 4
    assert isinstance(form.boxes["count"], QSpinBox)
    assert (form.boxes["count"].minimum(), form.boxes["count"].maximum()) == (1, 64)
    assert isinstance(form.boxes["sigma"], QDoubleSpinBox) and form.boxes["sigma"].minimum() > 0
    assert form.boxes["weight"].toolTip() == "blend"
    assert form.values() == {"scale": None, "count": 3, "sigma": None, "weight": 0.25}
    assert not form.boxes["sigma"].isEnabled()
    form.auto["sigma"].setChecked(False)
    assert form.boxes["sigma"].isEnabled()
    form.boxes["sigma"].setValue(20)
    form.auto["scale"].setChecked(False)
    form.boxes["scale"].setCurrentIndex(2)
    assert form.values() == {"scale": 4, "count": 3, "sigma": 20.0, "weight": 0.25}
    form.set_values({"sigma": None, "count": 5})
    assert form.values()["sigma"] is None and form.values()["count"] == 5
    from restora.engine import get_task

    assert get_task("upscale").parse({"scale": form.values()["scale"]}).scale == 4


def test_every_page_is_generated_from_its_tasks_params(window):
    from restora.engine import get_task
    from restora.engine.tasks.spec import fields_of

    panel = window.panel
    for name in ("inpaint", "denoise", "upscale", "generate"):
        form = panel.forms[name]
        assert list(form.specs) == [n for n, s, _d in fields_of(get_task(name).Params) if s.form]
    # the Param says how it is shown: σ has a slider in step with its value and its own "automatic" text
    form = panel.forms["denoise"]
    assert form.auto["sigma"].text() == "Estimate from the photo"
    form.auto["sigma"].setChecked(False)
    form.sliders["sigma"].setValue(40)
    assert form.values() == {"sigma": 40.0}
    form.boxes["sigma"].setValue(22)
    assert form.sliders["sigma"].value() == 22
    assert [panel.forms["upscale"].boxes["scale"].itemText(i) for i in range(4)] == ["×2", "×3", "×4", "×8"]
    panel.set_task("upscale")
    assert panel.params()["scale"] == 2                 # the window starts at ×2, as before
    panel.forms["upscale"].auto["scale"].setChecked(True)
    assert panel.params()["params"] == {"scale": None}  # "the model's own" scale

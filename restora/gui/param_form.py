"""A parameter form generated from a task's typed parameters (``Task.Params``).

Each field's :class:`~restora.engine.tasks.spec.Param` decides its widget: values from a
fixed list → a combo box; an int range → a spin box; a float range → a decimal spin box
(with a slider beside it when the parameter asks for one). A parameter that may be None
("optional") gets an "Automatic" box (or its own ``auto_text``): ticked, the value is
disabled and the form yields None (the engine then picks, as its help says).
``values()`` is the plain dict ``run_task`` checks against the task.
"""
from __future__ import annotations

import math
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QSlider, QSpinBox,
                               QWidget)

from ..engine.tasks.spec import Param, fields_of

INT_MIN, INT_MAX = -(2**31 - 1), 2**31 - 1
FLOAT_SPAN = 1e9          # an open-ended float range is shown as ±this


def field_label(name: str) -> str:
    """"latent_dim" -> "Latent dim"."""
    return name.replace("_", " ").capitalize()


def _decimals(lo: float, hi: float) -> int:
    span = hi - lo
    return 3 if span <= 10 else 2 if span <= 1000 else 1


def _spin_for(spec: Param):
    """The value widget for ``spec`` (a range, or its choices)."""
    if spec.choices:
        box = QComboBox()
        for choice in spec.choices:
            box.addItem(spec.choice_format.format(choice), spec.kind(choice))
        return box
    if spec.kind is int:
        box = QSpinBox()
        lo = INT_MIN if spec.lo is None else int(math.ceil(spec.lo)) + (1 if spec.lo_open else 0)
        hi = INT_MAX if spec.hi is None else int(math.floor(spec.hi))
        box.setRange(max(lo, INT_MIN), min(hi, INT_MAX))
        return _with_unit(box, spec)
    box = QDoubleSpinBox()
    lo = -FLOAT_SPAN if spec.lo is None else float(spec.lo)
    hi = FLOAT_SPAN if spec.hi is None else float(spec.hi)
    decimals = _decimals(lo, hi) if spec.lo is not None and spec.hi is not None else 2
    box.setDecimals(decimals)
    if spec.lo_open:
        lo += 10.0 ** -decimals
    box.setRange(lo, hi)
    if spec.lo is not None and spec.hi is not None and hi > lo:
        step = 10.0 ** math.floor(math.log10(hi - lo)) / 10
        box.setSingleStep(max(step, 10.0 ** -decimals))
    return _with_unit(box, spec)


def _with_unit(box, spec: Param):
    if spec.unit:
        box.setSuffix(f" {spec.unit}")
    return box


def _slider_for(box) -> QSlider:
    """A slider over a spin box's range, in whole steps, kept in step with it both ways."""
    slider = QSlider(Qt.Horizontal)
    slider.setRange(int(math.ceil(box.minimum())), int(math.floor(box.maximum())))
    slider.setValue(int(round(box.value())))
    slider.valueChanged.connect(lambda v: box.setValue(v) if int(round(box.value())) != v else None)
    box.valueChanged.connect(lambda v: slider.setValue(int(round(v))))
    return slider


def _set(box, value) -> None:
    if isinstance(box, QComboBox):
        index = box.findData(value)
        if index >= 0:
            box.setCurrentIndex(index)
    else:
        box.setValue(value)


def _get(box, spec: Param):
    if isinstance(box, QComboBox):
        return box.currentData()
    return int(box.value()) if spec.kind is int else float(box.value())


class ParamForm(QWidget):
    """Widgets for each parameter of ``params_type`` (a task's Params dataclass)."""

    def __init__(self, params_type: type, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.params_type = params_type
        self.specs: dict[str, Param] = {}
        #: the value widget of each parameter (QComboBox, QSpinBox or QDoubleSpinBox)
        self.boxes: dict[str, QWidget] = {}
        #: the "Automatic" box of each optional parameter (ticked: the value is None)
        self.auto: dict[str, QCheckBox] = {}
        #: the slider of each parameter that asks for one
        self.sliders: dict[str, QSlider] = {}
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        for name, spec, default in fields_of(params_type):
            if not spec.form:   # the window's own control supplies it (a slider, picking two images)
                continue
            self.specs[name] = spec
            box = _spin_for(spec)
            box.setToolTip(spec.help)
            self.boxes[name] = box
            if default is not None:
                _set(box, default)
            elif spec.start is not None:
                _set(box, spec.kind(spec.start))
            elif not spec.choices and spec.lo is not None:
                box.setValue(box.minimum())
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            widgets = [box]
            if spec.slider and not spec.choices and spec.lo is not None and spec.hi is not None:
                self.sliders[name] = slider = _slider_for(box)
                slider.setToolTip(spec.help)
                widgets.insert(0, slider)
            for w in widgets:
                lay.addWidget(w, 1)
            if spec.optional:
                auto = QCheckBox(spec.auto_text or "Automatic")
                auto.setToolTip(f"Let Restora choose: {spec.help}")
                auto.toggled.connect(lambda on, ws=tuple(widgets): [w.setEnabled(not on) for w in ws])
                auto.setChecked(default is None)
                for w in widgets:
                    w.setEnabled(default is not None)
                self.auto[name] = auto
                if spec.auto_text:   # a sentence of its own: a row of its own, above the value
                    self.layout_.addRow(spec.label or field_label(name), auto)
                    self.layout_.addRow("", row)
                else:
                    lay.addWidget(auto)
                    self.layout_.addRow(spec.label or field_label(name), row)
            else:
                self.layout_.addRow(spec.label or field_label(name), row)
            label = self.layout_.labelForField(row)
            if label is not None:
                label.setToolTip(spec.help)

    def values(self) -> dict:
        """Each parameter's value (None for an optional one left automatic)."""
        out = {}
        for name, spec in self.specs.items():
            auto = self.auto.get(name)
            out[name] = None if auto is not None and auto.isChecked() else _get(self.boxes[name], spec)
        return out

    def set_values(self, values: dict) -> None:
        """Show ``values`` (None ticks an optional parameter's "Automatic"); unknown names are ignored."""
        for name, value in values.items():
            if name not in self.specs:
                continue
            auto = self.auto.get(name)
            if auto is not None:
                auto.setChecked(value is None)
            if value is not None:
                _set(self.boxes[name], value)

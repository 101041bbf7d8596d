"""The dock where a person picks a task, a model and its parameters, and runs it."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Optional

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSlider, QSpinBox, QStackedWidget,
                               QVBoxLayout, QWidget)

from ..engine import ModelInfo, all_tasks
from ..engine.tasks.spec import MASK_REQUIRED, OUTPUT_IMAGE, OUTPUT_MASK, Task
from .icons import NAMES as ICON_NAMES
from .icons import icon
from .param_form import ParamForm

#: tasks the window runs its own way (inpaint: variants to pick from; generate: a set of
#: images); their pages are generated from their Params like every other task's
WINDOW_JOBS = ("inpaint", "denoise", "upscale", "generate")


class _TaskLabels(Mapping):
    """Each registered task's label by name, read from the engine's task list when asked
    (so a task registered after this module was imported is here too)."""

    def __getitem__(self, name: str) -> str:
        for task in all_tasks():
            if task.name == name:
                return task.label
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([task.name for task in all_tasks()])

    def __len__(self) -> int:
        return len(all_tasks())

    def __repr__(self) -> str:
        return repr(dict(self))


TASK_LABELS: Mapping[str, str] = _TaskLabels()
TASK_HINTS = {
    "inpaint": "Paint over scratches, dust or tears, then Run to fill them from their surroundings.",
    "denoise": "Removes grain and sensor noise from the whole photo, or only inside the mask.",
    "upscale": "Enlarges the photo; learned models add detail, classical ones interpolate.",
    "generate": "Samples new images from a generator model; click one to open it.",
}
SOURCE_LABELS = {"classical": "classical", "builtin": "built-in", "user": "your file"}
SEED_TIP = "Random seed: the same seed gives the same result"
VARIANTS_TIP = "Several results with consecutive seeds to choose from"
NO_SEED_TIP = "This model always fills the same way (it takes no seed)"
SIGMA_TIP = "Noise strength σ in 0..255 units: higher removes more noise and more detail"
RUN_TIP = "Run the task on the current photo (Ctrl+Return)"


def panel_tasks() -> list[Task]:
    """The tasks the Restore panel offers, in the engine's order: not the ones that make a
    mask (damage detection is a Mask-menu action), and any other only when the window can run
    it generically (a photo in, a photo out, no mask to paint first)."""
    return [t for t in all_tasks() if t.output != OUTPUT_MASK and (
        t.name in WINDOW_JOBS or (t.takes_photo and t.output == OUTPUT_IMAGE and t.mask != MASK_REQUIRED))]


def _row(*widgets) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for x in widgets:
        lay.addWidget(x)
    return w


class ModelPanel(QWidget):
    run_requested = Signal()
    cancel_requested = Signal()
    add_model_requested = Signal()
    task_changed = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._models: list[ModelInfo] = []
        #: the person's own pick per task; without one the list follows the photo's kind
        self._remembered: dict[str, str] = {}
        self._defaults: dict[str, Optional[str]] = {}
        self._gray_defaults: dict[str, Optional[str]] = {}
        self._gray = False
        self._auto = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)

        self.task_combo = QComboBox()
        self._tasks: dict[str, Task] = {}        # what the combo offers, by name
        self._pages: dict[str, QWidget] = {}     # each task's parameter page in the stack
        #: each task's parameter form, generated from its Params
        self.forms: dict[str, ParamForm] = {}
        self._inside_boxes: dict[str, QCheckBox] = {}   # "Only inside the mask" of generated pages
        self.task_combo.setToolTip("What to do with the photo")
        self.task_combo.setIconSize(QSize(18, 18))
        lay.addWidget(self._heading("Task"))
        lay.addWidget(self.task_combo)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        lay.addWidget(self.hint)

        lay.addWidget(self._heading("Model"))
        self.model_list = QListWidget()
        self.model_list.setIconSize(QSize(16, 16))
        self.model_list.setMinimumHeight(110)
        self.model_list.setToolTip("Models from Restora's registry: classical, built-in and your files")
        lay.addWidget(self.model_list, 1)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        self.model_info.setObjectName("hint")
        self.model_info.setTextFormat(Qt.RichText)
        lay.addWidget(self.model_info)
        self.add_button = QPushButton(icon("add-model"), "Add model file…")
        self.add_button.setToolTip("Add a .pth / .safetensors / .ckpt / .pt model (you can also drop one on the window)")
        lay.addWidget(self.add_button)

        lay.addWidget(self._heading("Parameters"))
        self.stack = QStackedWidget()
        self._tasks = {t.name: t for t in panel_tasks()}
        for task in self._tasks.values():
            self._pages[task.name] = self._generated_page(task)
            self.stack.addWidget(self._pages[task.name])
        lay.addWidget(self.stack)

        line = QFrame()
        line.setFrameShape(QFrame.HLine)
        line.setObjectName("sep")
        lay.addWidget(line)
        self.device_label = QLabel("Device: detecting…")
        self.device_label.setToolTip("Where models run (a CUDA or Apple GPU when there is one, otherwise the CPU)")
        lay.addWidget(self.device_label)
        self.run_button = QPushButton(icon("run", "#ffffff"), "Run")
        self.run_button.setObjectName("run")
        self.run_button.setToolTip(RUN_TIP)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self.cancel_button.setToolTip("Stop the running job; the photo stays as it was (Esc)")
        self.cancel_button.setEnabled(False)
        lay.addWidget(_row(self.run_button, self.cancel_button))
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)

        self._has_document = False
        self._has_mask = False
        self._running = False
        self.refresh_tasks()
        self.task_combo.currentIndexChanged.connect(self._on_task)
        self.model_list.currentItemChanged.connect(self._on_model)
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.add_button.clicked.connect(self.add_model_requested)
        self._on_task()

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = QLabel(text.upper())
        label.setObjectName("heading")
        return label

    # --- parameter pages ---------------------------------------------------------------
    def _generated_page(self, task: Task) -> QWidget:
        """The form made from ``task.Params``, and "Only inside the mask" when the task can be
        limited to a painted area."""
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        form = ParamForm(task.Params)
        form.setObjectName(f"form-{task.name}")
        self.forms[task.name] = form
        lay.addWidget(form)
        extra = getattr(self, f"_{task.name}_extras", None)
        if extra is not None:   # what only the window does with this task
            extra(form)
        if task.inside_mask:
            box = QCheckBox("Only inside the mask")
            box.setToolTip("Apply only where the mask is painted (soft edge)")
            self._inside_boxes[task.name] = box
            if task.name in ("denoise", "upscale"):
                setattr(self, f"{task.name}_in_mask", box)   # (the window's tests and shortcuts name them)
            lay.addWidget(box)
        lay.addStretch(1)
        return page

    def _inpaint_extras(self, form: ParamForm) -> None:
        self.inpaint_seed = form.boxes["seed"]
        self.variants = QSpinBox()
        self.variants.setRange(1, 8)
        self.variants.setToolTip(VARIANTS_TIP + " (stochastic models only)")
        form.layout_.addRow("Variants", self.variants)

    def _denoise_extras(self, form: ParamForm) -> None:
        self.auto_sigma, self.sigma_spin, self.sigma_slider = form.auto["sigma"], form.boxes["sigma"], form.sliders["sigma"]
        self.auto_sigma.toggled.connect(self._on_auto_sigma)
        self._on_auto_sigma(self.auto_sigma.isChecked())

    def _upscale_extras(self, form: ParamForm) -> None:
        form.set_values({"scale": 2})      # the window starts at ×2; "The model's own" is a tick away
        self.scale_combo = form.boxes["scale"]

    def _generate_extras(self, form: ParamForm) -> None:
        self.generate_seed, self.count = form.boxes["seed"], form.boxes["count"]
        self.count.setValue(8)
        self.generate_note = QLabel()
        self.generate_note.setWordWrap(True)
        self.generate_note.setObjectName("hint")
        self.generate_note.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form.layout_.addRow(self.generate_note)
        self.set_user_dir(None)

    def refresh_tasks(self) -> None:
        """Offer the engine's current task list (a task registered since is added, with a
        generated page; one unregistered is dropped), keeping the current task if it stays."""
        tasks = panel_tasks()
        names = [t.name for t in tasks]
        self._tasks = {t.name: t for t in tasks}
        for task in tasks:
            if task.name not in self._pages:
                self._pages[task.name] = self._generated_page(task)
                self.stack.addWidget(self._pages[task.name])
        offered = [self.task_combo.itemData(i) for i in range(self.task_combo.count())]
        if offered == names:
            return
        current = self.task_combo.currentData()
        self.task_combo.blockSignals(True)
        try:
            self.task_combo.clear()
            for task in tasks:
                self.task_combo.addItem(icon(task.name if task.name in ICON_NAMES else "run"), task.label, task.name)
            index = self.task_combo.findData(current)
            self.task_combo.setCurrentIndex(max(index, 0))
        finally:
            self.task_combo.blockSignals(False)
        if current is not None and self.task_combo.currentData() != current:
            self._on_task()

    def _on_auto_sigma(self, on: bool) -> None:
        for w in (self.sigma_slider, self.sigma_spin):
            w.setEnabled(not on)
            w.setToolTip("Measured from the photo: untick “Estimate from the photo” to set it yourself"
                         if on else SIGMA_TIP)

    def set_user_dir(self, folder) -> None:
        """Say on the Generate page which files it takes and where they go."""
        where = f", or put them in {folder}" if folder else ""
        self.generate_note.setText("Generators it also takes: NVlabs StyleGAN2 / StyleGAN3 .pkl, rosinality .pt, DCGAN "
                                   "weights (.pth / .safetensors), all read as data; TorchScript .pt only if "
                                   f"you trust it. Add one with File ▸ Add Model File…{where}.")

    # --- state ------------------------------------------------------------------------------
    def task(self) -> str:
        return self.task_combo.currentData()

    def set_task(self, task: str) -> bool:
        """Show ``task`` (False, and nothing changes, when the panel does not offer it: a
        mask-making task, or one no longer registered)."""
        index = self.task_combo.findData(task)
        if index < 0:
            self.refresh_tasks()
            index = self.task_combo.findData(task)
        if index < 0:
            return False
        self.task_combo.setCurrentIndex(index)
        return True

    def task_spec(self, name: Optional[str] = None) -> Optional[Task]:
        """The engine's Task shown now (or called ``name``)."""
        return self._tasks.get(name or self.task())

    def _label(self, task: str) -> str:
        spec = self._tasks.get(task)
        return spec.label if spec is not None else task

    def model_info_for(self, name: Optional[str]) -> Optional[ModelInfo]:
        return next((m for m in self._models if m.name == name), None)

    def model_name(self) -> Optional[str]:
        item = self.model_list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def select_model(self, name: str) -> bool:
        for i in range(self.model_list.count()):
            if self.model_list.item(i).data(Qt.UserRole) == name:
                self.model_list.setCurrentRow(i)
                return True
        return False

    def params(self) -> dict:
        """The task, the model and the page's values: flat (``seed``, ``sigma``, ...) and as
        ``params`` (what run_task checks), plus what the window adds (``variants``, ``mask_only``)."""
        task = self.task()
        p = {"task": task, "model": self.model_name()}
        if task not in self.forms:
            return p
        values = self.forms[task].values()
        for name, value in values.items():
            p.setdefault(name, value)      # (never over "task" or "model")
        box = self._inside_boxes.get(task)
        p.update(params=values, mask_only=box is not None and box.isChecked())
        if task == "inpaint":
            p["variants"] = self.variants.value() if self.variants.isEnabled() else 1
        return p

    def set_models(self, models: list[ModelInfo], default_names: dict[str, Optional[str]] | None = None,
                   gray_default_names: dict[str, Optional[str]] | None = None) -> None:
        """``default_names``: each task's default for colour photos; ``gray_default_names``
        for gray ones (the engine's choice when no model is named)."""
        self._models = list(models)
        self._defaults = default_names or {}
        self._gray_defaults = gray_default_names or self._defaults
        self.refresh_tasks()         # tasks registered since the panel was made
        self._fill_list()

    def set_photo_kind(self, gray: bool) -> None:
        """The current photo is gray (or colour): preselect the default made for it."""
        if gray != self._gray:
            self._gray = gray
            self._fill_list()

    def set_device(self, name: str) -> None:
        gpu = not name.upper().startswith("CPU")
        self.device_label.setText(f"Device: {name}")
        self.device_label.setToolTip(("Models run on this GPU" if gpu else "No GPU found: models run on the CPU"))

    def set_context(self, has_document: bool, has_mask: bool) -> None:
        self._has_document, self._has_mask = has_document, has_mask
        self._update_enabled()

    def set_running(self, running: bool, text: str = "") -> None:
        self._running = running
        self.progress.setVisible(running)
        self.progress.setValue(0)
        self.cancel_button.setEnabled(running)
        if text or not running:
            self.status.setText(text)
        self._update_enabled()

    # --- internals -------------------------------------------------------------------------
    def _fill_list(self) -> None:
        task = self.task()
        spec = self._tasks.get(task)
        model_task = spec.model_task if spec is not None else task    # which models it runs
        previous = self._remembered.get(task)
        self.model_list.blockSignals(True)
        self.model_list.clear()
        for info in self._models:
            if info.task != model_task:
                continue
            scale = f" ×{info.scale}" if info.task == "upscale" and info.scale else ""
            item = QListWidgetItem(icon(info.source), f"{info.name}{scale}   · {SOURCE_LABELS.get(info.source, info.source)}")
            item.setData(Qt.UserRole, info.name)
            tip = f"<b>{info.name}</b> ({info.architecture})<br>{info.description}"
            if info.path:
                tip += f"<br><small>{info.path}</small>"
            item.setToolTip(tip)
            self.model_list.addItem(item)
        self.model_list.blockSignals(False)
        self._auto = True            # a preselection, not the person's pick
        try:
            if not (previous and self.select_model(previous)):
                default = (self._gray_defaults if self._gray else self._defaults).get(model_task)
                if not (default and self.select_model(default)) and self.model_list.count():
                    self.model_list.setCurrentRow(0)
            if self.model_list.count() == 0:
                self.model_info.setText(f"No {self._label(model_task).lower()} model yet: add a model file "
                                        "(or drop one on the window)." if self._models else "Loading models…")
            self._on_model()
        finally:
            self._auto = False

    def _on_task(self) -> None:
        task = self.task()
        if task is None:
            return
        self.stack.setCurrentWidget(self._pages[task])
        spec = self._tasks.get(task)
        self.hint.setText(TASK_HINTS.get(task) or (spec.summary if spec is not None else ""))
        self._fill_list()
        self.task_changed.emit(task)

    def _on_model(self, *_args) -> None:
        info = self.model_info_for(self.model_name())
        if info is not None:
            if not self._auto:
                self._remembered[self.task()] = info.name
            bits = [info.architecture, SOURCE_LABELS.get(info.source, info.source)]
            if info.task == "upscale":
                bits.append(f"×{info.scale}" if info.scale else "any scale")
            if info.stochastic:
                bits.append("stochastic")
            self.model_info.setText(f"{info.description}<br><span style='color:#8a8f99'>{' · '.join(bits)}</span>")
            self.variants.setEnabled(info.stochastic)
            self.variants.setToolTip(VARIANTS_TIP if info.stochastic else NO_SEED_TIP)
            self.inpaint_seed.setEnabled(info.stochastic)
            self.inpaint_seed.setToolTip(SEED_TIP if info.stochastic else NO_SEED_TIP)
            if self.task() == "upscale" and info.task == "upscale" and info.scale:
                index = self.scale_combo.findData(info.scale)
                if index >= 0:
                    self.scale_combo.setCurrentIndex(index)   # a fixed-scale model is best at its own scale
        self._update_enabled()

    def _update_enabled(self) -> None:
        task = self.task()
        spec = self._tasks.get(task)
        has_model = self.model_name() is not None
        needs_doc = spec.takes_photo if spec is not None else task != "generate"
        needs_mask = spec is not None and spec.mask == MASK_REQUIRED
        ok = has_model and not self._running and (self._has_document or not needs_doc)
        reason = ""
        if needs_mask and self._has_document and not self._has_mask:
            ok, reason = False, "Paint a mask over the area to fill first."
        elif needs_doc and not self._has_document:
            reason = "Open a photo first."
        elif not has_model:
            reason = ("Loading models…" if not self._models else "Choose a model." if self.model_list.count()
                      else f"No {self._label(spec.model_task if spec else task).lower()} model yet: add a model file.")
        self.run_button.setEnabled(ok)
        busy = "A job is running: wait for it, or Cancel (Esc)." if self._running else ""
        self.run_button.setToolTip(reason or busy or RUN_TIP)
        for box in self._inside_boxes.values():
            box.setEnabled(self._has_mask)
            if not self._has_mask:
                box.setToolTip("Paint a mask to apply only inside it")
            else:
                box.setToolTip("Apply only where the mask is painted (soft edge)")
        if not self._running:
            self.status.setText(reason)

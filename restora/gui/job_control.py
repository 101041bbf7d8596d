"""Jobs on the open photo: ``run_task`` (the panel's task and parameters), ``start_job``, progress,
cancel, done / failed / cancelled, generated samples and inpainting variants, recipes applied, and
damage detection with its sensitivity; plus ``_start_background`` for short background work."""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt

from ..engine import Photo
from . import jobs
from .dialogs import SamplesDialog
from .display import array_to_mask
from .document import Document
from .model_panel import TASK_LABELS
from .sampler import SamplerDialog
from .worker import Worker, show_fraction


class JobControlMixin:
    """One job at a time (``self.job``) on one photo (``self.job_doc``), shown in the panel and status bar."""

    def _device_ready(self, name: str) -> None:
        self.panel.set_device(name)
        # torch is imported now: hundreds of thousands of long-lived objects. A full garbage
        # collection scanning them holds Python's lock for ~0.3 s, freezing the window in the
        # middle of a job; freezing them out of the collector keeps every collection short.
        gc.freeze()

    def detect_damage(self) -> Optional[Worker]:
        """Run the damage detector; its mask joins the painted one as one undoable step."""
        doc = self.current_document()
        if doc is None or self.job is not None:
            return None
        if self.registry.default_name("detect") is None:
            self.show_error("No damage detector is installed: add a detection model file "
                            "(File ▸ Add Model File…).", "Detect damage")
            return None
        return self.start_job(jobs.detect_damage, (doc.pixels, self.registry), "Detecting damage", doc, "detect")

    def _detected(self, doc: Document, found: "jobs.Detection") -> None:
        from ..engine.tasks.detect import threshold_mask

        if not found.fits(doc.pixels):   # the photo changed while the detector ran
            self.statusBar().showMessage("The photo changed during detection: run Detect Damage again", 6000)
            return
        doc.detection = found
        doc.push_mask(array_to_mask(doc.mask.to_array() | (threshold_mask(found.probability, found.threshold) > 0)),
                      "Detect damage")

    def detection_sensitivity_dialog(self) -> None:
        """Move the threshold over the stored map: only the detector's share of the mask
        follows (strokes painted or erased since stay as they are); OK makes it one step."""
        from ..engine.tasks.detect import threshold_mask
        from .dialogs import SensitivityDialog

        doc = self.current_document()
        if not self._detection_fits(doc):
            return self._hint("Run Mask ▸ Detect Damage on this photo first.")
        found = doc.detection
        start = doc.mask.snapshot()
        current = doc.mask.to_array()
        detected = threshold_mask(found.probability, found.threshold) > 0
        painted = current & ~detected       # the person's own strokes
        erased = detected & ~current        # detected pixels the person took out

        def preview(t: float) -> None:
            doc.mask.set_image(array_to_mask(painted | ((threshold_mask(found.probability, t) > 0) & ~erased)))

        dialog = self.make_sensitivity_dialog(found.threshold)
        dialog.changed.connect(preview)
        accepted = dialog.exec() == SensitivityDialog.Accepted
        after = doc.mask.snapshot()
        doc.mask.set_image(start)
        if accepted:
            found.threshold = dialog.threshold()
            doc.push_mask(after, f"Detection sensitivity {1 - found.threshold:.0%}")

    @staticmethod
    def _detection_fits(doc: Optional[Document]) -> bool:
        return doc is not None and doc.detection is not None and doc.detection.fits(doc.pixels)

    def make_sensitivity_dialog(self, threshold: float):
        from .dialogs import SensitivityDialog

        return SensitivityDialog(threshold, self)

    def _start_background(self, fn, on_done, on_fail=None, *args) -> Worker:
        worker = Worker(fn, *args)
        worker.finished.connect(on_done)
        worker.failed.connect(on_fail or (lambda msg: self.show_error(msg)))
        self._opening.append(worker)
        worker.ended.connect(lambda: self._opening.remove(worker) if worker in self._opening else None)
        worker.start()
        return worker

    def run_task(self) -> Optional[Worker]:
        if self.job is not None:
            return None
        p = self.panel.params()
        task, model = p["task"], p["model"]
        doc = self.current_document()
        if task != "generate" and doc is None:
            return self._hint("Open a photo first.")
        if model is None:
            return self._hint(f"Choose a {task} model first (or add a model file).")
        has_mask = doc is not None and not doc.mask.is_empty()
        if task == "inpaint":
            if not has_mask:
                return self._hint("Paint a mask over the area to fill first (brush: B).")
            fn, args = jobs.run_inpaint, (doc.pixels, doc.mask.snapshot(), model, p["seed"], p["variants"],
                                          self.registry)
            label = f"Inpainting with {model}"
        elif task == "denoise":
            mask = doc.mask.snapshot() if p["mask_only"] and has_mask else None
            fn, args = jobs.run_denoise, (doc.pixels, p["sigma"], model, self.registry, mask)
            label = f"Denoising with {model}"
        elif task == "upscale":
            mask = doc.mask.snapshot() if p["mask_only"] and has_mask else None
            fn, args = jobs.run_upscale, (doc.pixels, p["scale"], model, self.registry, mask)
            label = f"Upscaling ×{p['scale']} with {model}" if p["scale"] else f"Upscaling with {model}"
        elif task == "generate":
            fn, args = jobs.run_generate, (model, p["seed"], p["count"], self.registry)
            label = f"Generating {p['count']} with {model}"
            self._sampling = (None, "new", model, p["count"])
        else:   # any other registered task: its generated form's values, through the engine's run_task
            mask = doc.mask.snapshot() if p.get("mask_only") and has_mask else None
            title = TASK_LABELS.get(task, task)

            def fn(*args, progress, cancel, _title=title, _model=model):
                return jobs._run_photo_task(*args, progress, cancel, None, f"{_title} {_model}")

            args = (task, doc.pixels, p.get("params", {}), model, self.registry, mask)
            label = f"{title} with {model}"
        self.settings.setValue("panel/task", task)
        return self.start_job(fn, args, label, doc, task)

    def apply_recipe(self) -> Optional[Worker]:
        doc = self.current_document()
        if doc is None or self.job is not None:
            return None
        path = self.get_recipe_path(save=False)
        if not path:
            return None
        mask = doc.mask.snapshot() if not doc.mask.is_empty() else None
        return self.start_job(jobs.apply_recipe, (path, doc.pixels, mask, self.registry),
                              f"Applying {Path(path).name}", doc, "recipe")

    def _hint(self, text: str) -> None:
        """A nudge, not an error: status bar and panel, no dialog."""
        self.statusBar().showMessage(text, 5000)
        self.panel.status.setText(text)
        return None

    def start_job(self, fn, args, label: str, doc: Optional[Document], task: str) -> Worker:
        worker = Worker(fn, *args)
        self.job, self.job_doc, self.job_label, self.job_task = worker, doc, label, task
        worker.progress.connect(self._on_progress)
        worker.finished.connect(lambda result: self._job_done(worker, result))
        worker.failed.connect(lambda msg: self._job_failed(worker, msg))
        worker.cancelled.connect(lambda: self._job_cancelled(worker))
        worker.ended.connect(lambda: self._job_ended(worker))
        self.panel.set_running(True, f"{label}…")
        self.status_progress.setRange(0, 0)        # busy until the first tile reports
        self.panel.progress.setRange(0, 0)
        self.status_progress.setValue(0)
        self.status_progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.elapsed_label.setText(f"{label} · 0.0 s")
        self.elapsed_timer.start()
        self.statusBar().showMessage(f"{label}…")
        self._update_state()
        worker.start()
        return worker

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.statusBar().showMessage("Cancelling…")
            self.panel.status.setText("Cancelling…")

    def _tick(self) -> None:
        if self.job is not None:
            self.elapsed_label.setText(f"{self.job_label} · {self.job.elapsed():.1f} s")

    def _on_progress(self, fraction: float) -> None:
        show_fraction(self.status_progress, fraction)
        show_fraction(self.panel.progress, fraction)

    def _job_done(self, worker: Worker, result) -> None:
        doc, task, seconds = self.job_doc, self.job_task, worker.elapsed()
        if task == "generate":
            self._show_samples(result)
        elif task == "generate-more":
            self._sampled(result)
        elif doc is None or doc.closed:
            return
        elif task == "detect":
            self._detected(doc, result)
        elif task == "inpaint" and len(result) > 1:
            self._show_variants(doc, result)
        else:
            r = result[0] if isinstance(result, list) else result
            doc.apply_result(r.pixels, r.label.strip(), r.display, clear_mask=(task == "inpaint"),
                             steps=r.steps or [r.step])
        self.statusBar().showMessage(f"{self.job_label}: done in {seconds:.1f} s", 6000)

    def _job_failed(self, worker: Worker, message: str) -> None:
        self._finish_job_ui()
        self.show_error(message, f"{TASK_LABELS.get(self.job_task, 'Job')} failed")

    def _job_cancelled(self, worker: Worker) -> None:
        self.statusBar().showMessage("Cancelled — the photo is unchanged", 5000)

    def _job_ended(self, worker: Worker) -> None:
        if self.job is worker:
            self._finish_job_ui()
            self.job = None
            self.job_doc = None
            self._update_state()

    def _finish_job_ui(self) -> None:
        self.elapsed_timer.stop()
        self.status_progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.elapsed_label.setText("")
        self.panel.set_running(False)

    def _show_samples(self, results: list) -> None:
        """A new Generate window with the panel's samples; its requests run as jobs here."""
        _d, _mode, model, count = getattr(self, "_sampling", (None, "new", None, len(results)))
        dialog = SamplerDialog(model or "the generator", count, parent=self)
        dialog.set_results(results)
        dialog.open_requested.connect(lambda i: self.open_generated(dialog.results[i]))
        dialog.more_requested.connect(lambda seed, n, psi: self._sample_more(
            dialog, "more", jobs.run_generate, (model, seed, n, self.registry, psi), f"Sampling seeds {seed}–{seed + n - 1}"))
        dialog.resample_requested.connect(lambda seeds, psi: self._sample_more(
            dialog, "resample", jobs.run_resample, (model, seeds, self.registry, psi), f"Resampling at ψ {psi:g}"))
        dialog.walk_requested.connect(lambda a, b, steps, psi: self._sample_more(
            dialog, "walk", jobs.run_walk, (model, a, b, steps, self.registry, psi), f"Walking from seed {a} to {b}"))
        dialog.cancel_requested.connect(lambda: self._cancel_sampling(dialog))
        self._keep_dialog(dialog)

    def _sample_more(self, dialog: SamplerDialog, mode: str, fn, args, label: str) -> None:
        if self.job is not None:
            dialog.status.setText("Another job is running: wait for it, or cancel it.")
            return
        self._sampling = (dialog, mode, args[0], dialog.count)
        dialog.set_busy(True, f"{label}…")
        worker = self.start_job(fn, args, label, None, "generate-more")
        alive = lambda: dialog in self._samples   # noqa: E731 - (unless closed meanwhile)
        worker.progress.connect(lambda f: alive() and dialog.set_progress(f))
        worker.cancelled.connect(lambda: alive() and dialog.set_busy(False, "Cancelled: the samples shown are kept"))
        worker.failed.connect(lambda _m: alive() and dialog.set_busy(False, "Failed"))
        worker.finished.connect(lambda _r: alive() and dialog.set_busy(False))

    def _cancel_sampling(self, dialog: SamplerDialog) -> None:
        """The Generate window's Cancel (or its closing): stop its job, not another one."""
        if self.job is not None and self.job_task == "generate-more" and self._sampling[0] is dialog:
            dialog.cancelling()
            self.cancel_job()

    def _sampled(self, results: list) -> None:
        dialog, mode, _model, _count = self._sampling
        if dialog is None or dialog not in self._samples:   # closed meanwhile
            return
        dialog.set_results(results, append=mode in ("more", "walk"), redraw=mode == "resample")

    def _show_variants(self, doc: Document, results: list) -> None:
        text = "Click the variant to keep (the others are discarded)."
        if len(results) > 1 and all(r.same_as_first for r in results[1:]):
            text = ("These variants are alike: the holes are thin, so their surroundings decide the fill "
                    "(the seed varies only wider holes). " + text)
        dialog = SamplesDialog("Inpainting variants", text,
                               [r.thumbnail for r in results], [f"seed {r.seed}" for r in results],
                               close_on_pick=True, parent=self)
        dialog.picked.connect(lambda i: not doc.closed and doc.apply_result(
            results[i].pixels, results[i].label, results[i].display, clear_mask=True, steps=[results[i].step]))
        self._keep_dialog(dialog)

    def _keep_dialog(self, dialog: SamplesDialog) -> None:
        self._samples.append(dialog)
        dialog.finished.connect(lambda _r: self._samples.remove(dialog) if dialog in self._samples else None)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()

    def open_generated(self, result) -> Document:
        doc = Document(Photo(pixels=result.pixels), result.display, title=result.label,
                       history=self.history_store)
        self.add_document(doc)
        return doc

"""The work the window hands to a Worker: engine calls composed, plus the screen image.

Each function runs on a worker thread, takes ``progress`` and ``cancel`` and returns
plain data. No pixel arithmetic here: that is the engine's (including masking).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from ..engine import (CancelToken, Photo, Registry, TooLargeError, generate, holes_box, read_image, replay,
                      resolve_device, run_task, write_image)
from ..engine.recipe import RecipeStep, load_recipe, save_recipe
from ..engine.jobs import JobContext, UntrustedCodeError, make_context
from .display import Display, array_to_qimage, make_display, mask_to_array

THUMB_SIDE = 256


@dataclass
class Result:
    pixels: np.ndarray
    display: Display
    label: str
    seed: Optional[int] = None
    thumbnail: Optional[QImage] = None
    step: Optional[RecipeStep] = None   # what made it: the photo's recipe grows by it
    steps: list = field(default_factory=list)   # a replayed recipe: every step it ran
    same_as_first: bool = False   # an inpainting variant identical to the first (thin holes)
    walk: Optional[tuple] = None  # a walk's image: (seed A, seed B, steps, index)


def _thumb(display: Display, box: Optional[tuple[int, int, int, int]] = None) -> QImage:
    """The photo, or the part ``box`` (y0, y1, x0, x1) of it, at thumbnail size."""
    if box is None:
        small = display.levels[-1]
    else:
        y0, y1, x0, x1 = box
        small = display.levels[0].copy(x0, y0, x1 - x0, y1 - y0)
    return small.scaled(THUMB_SIDE, THUMB_SIDE, Qt.KeepAspectRatio, Qt.SmoothTransformation)


def open_photo(path: str, max_pixels: Optional[int] = None, *, progress: Callable[[float], None],
               cancel: CancelToken):
    """(photo, display), or the TooLargeError of a photo over the pixel limit: the window
    then asks whether to open it anyway (again with ``max_pixels`` = its size)."""
    try:
        photo = read_image(path, max_pixels=max_pixels)
    except TooLargeError as exc:
        return exc
    progress(0.5)
    cancel.raise_if_cancelled()
    return photo, make_display(photo.pixels)


def save_photo(path: str, photo: Photo, overwrite: bool, quality: int, *, progress, cancel) -> Path:
    return write_image(path, photo, overwrite=overwrite, quality=quality)


def detect_device(*, progress, cancel) -> str:
    return resolve_device("auto").name


def list_models(registry: Registry, *, progress, cancel):
    return registry.models(), dict(registry.problems)


def add_model(registry: Registry, path: str, *, progress, cancel):
    """The file's ModelInfo, or the UntrustedCodeError of a program file: the window then
    asks the person whether to trust it (see ``trust_model``)."""
    try:
        return registry.add_file(path)
    except UntrustedCodeError as exc:
        return exc


def trust_model(registry: Registry, path: str, *, progress, cancel):
    return registry.trust(path)


def run_denoise(pixels: np.ndarray, sigma: Optional[float], model: Optional[str], registry: Registry,
                mask=None, *, progress, cancel, tile: Optional[int] = None) -> Result:
    return _run_photo_task("denoise", pixels, {"sigma": sigma}, model, registry, mask, progress, cancel, tile,
                           f"Denoise {model or ''}")


def run_upscale(pixels: np.ndarray, scale: int, model: Optional[str], registry: Registry,
                mask=None, *, progress, cancel) -> Result:
    return _run_photo_task("upscale", pixels, {"scale": scale}, model, registry, mask, progress, cancel, None,
                           f"Upscale ×{scale} {model or ''}" if scale else f"Upscale {model or ''}")


def _run_photo_task(task: str, pixels, params: dict, model, registry, mask, progress, cancel, tile,
                    label: str) -> Result:
    """The engine runs the task (and "only inside the mask"); here only the screen image."""
    ctx = make_context(progress, cancel)
    inside = mask_to_array(mask) if mask is not None else None
    done = run_task(task, pixels, params, inside=inside, model=model, registry=registry, tile=tile,
                    progress=ctx.sub(0, 0.9).report, cancel=cancel)
    out = done.images[0]
    cancel.raise_if_cancelled()
    display = make_display(out)
    ctx.report(1.0)
    where = " (inside mask)" if mask is not None else ""
    return Result(out, display, f"{label}{where}".replace("  ", " "), step=done.step)


def run_inpaint(pixels: np.ndarray, mask, model: Optional[str], seed: int, variants: int, registry: Registry,
                *, progress, cancel) -> list[Result]:
    ctx = make_context(progress, cancel)
    holes = mask_to_array(mask)
    box = holes_box(holes) if variants > 1 else None   # the variants differ only there: show that part
    results = []
    for i in range(variants):
        sub = ctx.sub(i / variants, (i + 1) / variants)
        done = run_task("inpaint", pixels, {"seed": seed + i}, mask=holes, model=model, registry=registry,
                        progress=sub.sub(0, 0.9).report, cancel=cancel)
        out = done.images[0]
        display = make_display(out)
        label = f"Inpaint {model or ''}" + (f" (seed {seed + i})" if variants > 1 else "")
        results.append(Result(out, display, label, seed + i, _thumb(display, box) if variants > 1 else None,
                              done.step, same_as_first=bool(results) and np.array_equal(out, results[0].pixels)))
        sub.report(1.0)
    return results


def run_generate(model: Optional[str], seed: int, count: int, registry: Registry, truncation: float = 1.0,
                 *, progress, cancel) -> list[Result]:
    ctx = make_context(progress, cancel)
    images = generate(model=model, seed=seed, count=count, truncation=truncation, registry=registry,
                      progress=ctx.sub(0, 0.9).report, cancel=cancel)
    return _samples(images, [seed + i for i in range(len(images))], truncation, cancel, ctx)


def run_resample(model: Optional[str], entries: list, registry: Registry, truncation: float,
                 *, progress, cancel) -> list[Result]:
    """The Generate window's grid again at another truncation: ``entries`` are seeds (one run
    per stretch of consecutive seeds) and walks ``(seed_a, seed_b, steps)``, in grid order."""
    ctx = make_context(progress, cancel)
    runs: list = []
    for e in entries:
        if isinstance(e, int) and runs and isinstance(runs[-1], list) and e == runs[-1][-1] + 1:
            runs[-1].append(e)
        else:
            runs.append([e] if isinstance(e, int) else tuple(e))
    results: list[Result] = []
    for k, run in enumerate(runs):
        sub = ctx.sub(0.9 * k / len(runs), 0.9 * (k + 1) / len(runs))
        if isinstance(run, list):
            images = generate(model=model, seed=run[0], count=len(run), truncation=truncation, registry=registry,
                              progress=sub.report, cancel=cancel)
            results += _samples(images, run, truncation, cancel)
        else:
            a, b, steps = run
            images = generate(model=model, interpolate=(a, b), steps=steps, truncation=truncation,
                              registry=registry, progress=sub.report, cancel=cancel)
            results += _walk_results(images, a, b, truncation, cancel)
    ctx.report(1.0)
    return results


def run_walk(model: Optional[str], seed_a: int, seed_b: int, steps: int, registry: Registry,
             truncation: float = 1.0, *, progress, cancel) -> list[Result]:
    """The walk from seed_a's image to seed_b's (``steps`` images, both ends)."""
    ctx = make_context(progress, cancel)
    images = generate(model=model, interpolate=(seed_a, seed_b), steps=steps, truncation=truncation,
                      registry=registry, progress=ctx.sub(0, 0.9).report, cancel=cancel)
    results = _walk_results(images, seed_a, seed_b, truncation, cancel)
    ctx.report(1.0)
    return results


def _psi_text(truncation: float) -> str:
    return f" ψ {truncation:g}" if truncation != 1.0 else ""


def _walk_results(images, seed_a: int, seed_b: int, truncation: float, cancel) -> list[Result]:
    results = []
    for i, img in enumerate(images):
        cancel.raise_if_cancelled()
        display = make_display(img)
        results.append(Result(img, display, f"Walk {seed_a}→{seed_b} {i + 1}/{len(images)}{_psi_text(truncation)}",
                              None, _thumb(display), walk=(seed_a, seed_b, len(images), i)))
    return results


def _samples(images, seeds, truncation: float, cancel, ctx=None) -> list[Result]:
    results = []
    for img, seed in zip(images, seeds):
        cancel.raise_if_cancelled()
        display = make_display(img)
        results.append(Result(img, display, f"Generated seed {seed}{_psi_text(truncation)}", seed, _thumb(display)))
    if ctx is not None:
        ctx.report(1.0)
    return results


def apply_recipe(path: str, pixels: np.ndarray, mask, registry: Registry, *, progress, cancel) -> Result:
    """A recipe file's steps on the photo; steps whose stored mask does not fit use the
    photo's painted mask."""
    steps = load_recipe(path)
    painted = mask_to_array(mask) if mask is not None else None

    def masks(_index, _step, shape, _kind):
        return painted if painted is not None and painted.shape == tuple(shape) else None

    ctx = make_context(progress, cancel)
    out, ran = replay(steps, pixels, masks=masks, registry=registry, progress=ctx.sub(0, 0.9).report,
                      cancel=cancel)
    display = make_display(out)
    ctx.report(1.0)
    return Result(out, display, f"Recipe {Path(path).name} ({len(ran)} steps)", steps=ran)


def export_recipe(path: str, steps: list, *, progress, cancel) -> Path:
    return save_recipe(path, steps, overwrite=True)


@dataclass
class Detection:
    probability: np.ndarray   # float32 HxW: kept, so the sensitivity can move without the network
    pixels: "weakref.ref"     # the array it was computed on (a weak reference: never kept alive here)
    threshold: float

    def fits(self, pixels: np.ndarray) -> bool:
        """Computed on exactly this array (not on the photo before a later result)."""
        return self.pixels() is pixels and self.probability.shape == pixels.shape[:2]


def detect_damage(pixels: np.ndarray, registry: Registry, threshold: float = 0.5, *, progress, cancel) -> Detection:
    from ..engine.tasks.detect import damage_probability

    prob = damage_probability(pixels, registry=registry, progress=progress, cancel=cancel)
    return Detection(prob, weakref.ref(pixels), threshold)

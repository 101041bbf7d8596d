"""Running any task by name, limiting it to a painted area, and replaying recipes.

``run_task`` is the one door the CLI (and recipes) go through: it checks the typed
parameters, runs the task, applies "only inside the mask" (the engine's job, for every
task whose result is a photo), and returns the result with the recipe step that made it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np

from ..jobs import BadInputError, CancelToken, ModelError, ProgressFn, make_context
from ..recipe import MaskRef, ModelRef, RecipeStep
from ..registry import Registry, default_registry
from .catalog import get_task
from .masking import blend_inside_mask, resize_mask
from .spec import MASK_NONE, MASK_REQUIRED, OUTPUT_IMAGE, Task, as_plain


@dataclass
class TaskResult:
    images: list[np.ndarray]   # one for a photo task, ``count`` for generate
    step: RecipeStep


def run_task(task: Union[str, Task], pixels: Optional[np.ndarray] = None, params=None, *,
             mask: Optional[np.ndarray] = None, inside: Optional[np.ndarray] = None,
             model: Optional[str] = None, device: str = "auto", tile: Optional[int] = None,
             registry: Optional[Registry] = None, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> TaskResult:
    """Run ``task`` with ``params`` (its Params, or a plain dict checked against it).

    ``mask``: what the task works on (inpaint's holes). ``inside``: keep the result only
    inside this area (soft edge), the photo elsewhere (for an upscale, the photo enlarged
    plainly). Raises RestoraError subclasses for anything wrong, before work starts.
    """
    task = get_task(task) if isinstance(task, str) else task
    p = params if isinstance(params, task.Params) else task.parse(params)
    _check_inputs(task, pixels, mask, inside)
    ctx = make_context(progress, cancel)
    record: dict = {}
    main = ctx.sub(0.0, 0.9 if inside is not None else 1.0)
    job = dict(model=model, device=device, tile=tile, registry=registry, cancel=cancel, record=record)
    out = task.run(pixels, mask, p, progress=main.report, **job)
    images = out if isinstance(out, list) else [out]
    if inside is not None:
        images = [_limit_to(inside, pixels, images[0], registry, ctx.sub(0.9, 1.0), cancel)]
    info = record.get("model")
    step = RecipeStep(task.name, {**as_plain(p), **record.get("resolved", {})},
                      ModelRef.of(info) if info is not None else None, record.get("tile"),
                      MaskRef.of(_as_bool(mask)) if mask is not None else None,
                      MaskRef.of(_as_bool(inside)) if inside is not None else None)
    return TaskResult(images, step)


def _check_inputs(task: Task, pixels, mask, inside) -> None:
    if task.takes_photo and pixels is None:
        raise BadInputError(f"{task.name} needs a photo")
    if task.mask == MASK_REQUIRED and mask is None:
        raise BadInputError(f"{task.name} needs a mask (white = the area to work on)")
    if task.mask == MASK_NONE and mask is not None:
        raise BadInputError(f"{task.name} takes no mask")
    if inside is not None:
        if not (task.inside_mask and task.output == OUTPUT_IMAGE):
            raise BadInputError(f"{task.name} cannot be limited to a masked area")
        from .inpaint import mask_to_bool

        if not mask_to_bool(inside, np.asarray(pixels).shape[:2]).any():
            raise BadInputError("the area to limit the result to is empty (the mask is all black)")


def _as_bool(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return np.any(mask > 0, axis=2) if mask.ndim == 3 else mask > 0


def _limit_to(inside, pixels, result, registry, ctx, cancel) -> np.ndarray:
    """``result`` inside the area, the photo (enlarged plainly when the task changed its
    size) outside, over a soft edge."""
    from .common import as_hwc, restore_layout
    from .upscale import upscale

    base = np.asarray(pixels)
    if result.shape[:2] != base.shape[:2]:
        scale = result.shape[0] // base.shape[0]
        base = upscale(base, scale, model="lanczos", registry=registry, progress=ctx.report, cancel=cancel)
    area = resize_mask(_as_bool(inside), *result.shape[:2])
    out = blend_inside_mask(as_hwc(base), as_hwc(result), area)
    return restore_layout(out, result)


# --- recipes -----------------------------------------------------------------------

#: (step index, step, photo (h, w), "mask" or "inside") -> a mask for that step, or None
MaskSource = Callable[[int, RecipeStep, tuple[int, int], str], Optional[np.ndarray]]


def check_models(steps: list[RecipeStep], registry: Optional[Registry] = None) -> None:
    """Every step's model is here and is the same file the recipe was made with (refused
    before any work otherwise)."""
    for i, step in enumerate(steps):
        _recipe_model(step, i, registry or default_registry())


def _recipe_model(step: RecipeStep, index: int, registry: Registry) -> Optional[str]:
    """The name or path to run a step's model by."""
    ref = step.model
    if ref is None:
        return None
    task = get_task(step.task)
    where = f"recipe step {index + 1} ({step.task})"
    for candidate in filter(None, (ref.name, ref.path)):
        try:
            model = registry.get(candidate, task.model_task)
        except ModelError:
            continue
        if ref.sha256 is not None:
            path = getattr(model.info, "path", None)
            from ..trust import file_digest

            if path is None or file_digest(path) != ref.sha256:
                raise ModelError(f"{where}: model '{ref.name}' is not the file the recipe was made with "
                                 f"(sha256 {ref.sha256[:12]}… expected)")
        return candidate
    raise ModelError(f"{where}: model '{ref.name}' ({ref.source}) is not available here")


def replay(steps: list[RecipeStep], pixels: np.ndarray, *, masks: Optional[MaskSource] = None,
           device: str = "auto", registry: Optional[Registry] = None, progress: Optional[ProgressFn] = None,
           cancel: Optional[CancelToken] = None) -> tuple[np.ndarray, list[RecipeStep]]:
    """Apply a recipe's steps to ``pixels`` in order: (the result, the steps as run). A
    step's mask is its own stored mask when it fits the photo at that step, else
    ``masks(index, step, (h, w), kind)`` supplies one."""
    registry = registry or default_registry()
    check_models(steps, registry)
    ctx = make_context(progress, cancel)
    done: list[RecipeStep] = []
    current = pixels
    for i, step in enumerate(steps):
        task = get_task(step.task)
        if not task.takes_photo or task.output != OUTPUT_IMAGE:
            raise BadInputError(f"recipe step {i + 1}: {step.task} makes {task.output}s, not a new photo; "
                                "it cannot be replayed on a photo")
        shape = np.asarray(current).shape[:2]
        mask = _step_mask(step.mask, i, step, shape, masks, "mask") if task.mask != MASK_NONE else None
        inside = _step_mask(step.inside, i, step, shape, masks, "inside") if step.inside is not None else None
        result = run_task(task, current, step.params, mask=mask, inside=inside,
                          model=_recipe_model(step, i, registry), device=device, tile=step.tile,
                          registry=registry, progress=ctx.sub(i / len(steps), (i + 1) / len(steps)).report,
                          cancel=cancel)
        current = result.images[0]
        done.append(result.step)
    return current, done


def _step_mask(ref: Optional[MaskRef], index: int, step: RecipeStep, shape, masks: Optional[MaskSource],
               kind: str):
    if ref is not None and (ref.height, ref.width) == tuple(shape):
        return ref.to_array()
    supplied = masks(index, step, tuple(shape), kind) if masks is not None else None
    if supplied is None:
        have = f" (its stored one is {ref.width}x{ref.height}, the photo {shape[1]}x{shape[0]})" if ref else ""
        raise BadInputError(f"recipe step {index + 1} ({step.task}) needs a{'n area' if kind == 'inside' else ' mask'} "
                            f"for this photo{have}: pass --{kind}")
    return supplied

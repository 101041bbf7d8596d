"""The ordered list of tasks. A task module registers itself with ``register``; the CLI,
recipes and the engine's ``run_task`` look tasks up here."""
from __future__ import annotations

from ..jobs import BadInputError
from .spec import Task

_TASKS: dict[str, Task] = {}
_BUILTIN = ("inpaint", "denoise", "upscale", "generate", "detect")


def register(task: Task) -> Task:
    if task.name in _TASKS and _TASKS[task.name] is not task:
        raise ValueError(f"a task named {task.name!r} is registered already")
    _TASKS[task.name] = task
    return task


def unregister(name: str) -> None:
    """Remove a task (tests register throw-away ones)."""
    _TASKS.pop(name, None)


def _load_builtin() -> None:
    import importlib

    for name in _BUILTIN:
        importlib.import_module(f"{__package__}.{name}")


def all_tasks() -> list[Task]:
    """The built-in tasks in their usual order, then any registered later."""
    _load_builtin()
    rank = {name: i for i, name in enumerate(_BUILTIN)}
    return sorted(_TASKS.values(), key=lambda t: rank.get(t.name, len(rank)))


def get_task(name: str) -> Task:
    _load_builtin()
    task = _TASKS.get(name)
    if task is None:
        raise BadInputError(f"unknown task '{name}' (tasks: {', '.join(_TASKS)})")
    return task

"""Every model Restora knows, listed together: classical, built-in and user files.

Model objects are created on first use and cached (with their loaded weights)
until :meth:`Registry.unload_all`. User files are the ones in the user models
folder plus any added by path during this session.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional, Union

from .device import release_cached_memory
from .jobs import ModelError, UntrustedCodeError
from .models.base import TASKS, ModelInfo, printable
from .models.builtin import builtin_models
from .models.classical import classical_models
from .models.sources import MODEL_SUFFIXES, AnyModel, load_model_file

TASK_VERBS = {"inpaint": "inpaint", "denoise": "denoise", "upscale": "upscale", "generate": "generate images",
              "detect": "detect damage"}


def user_models_dir() -> Path:
    """``$RESTORA_MODELS_DIR`` or the platform's user data folder + ``models/``."""
    override = os.environ.get("RESTORA_MODELS_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_path

    return user_data_path("Restora", appauthor=False) / "models"


def is_model_path(text: str) -> bool:
    return text.lower().endswith(MODEL_SUFFIXES) or os.sep in text or "/" in text


class Registry:
    def __init__(self, user_dir: Optional[Path] = None, include_builtin: bool = True):
        self.user_dir = Path(user_dir) if user_dir else user_models_dir()
        self._lock = threading.RLock()
        self._fixed: dict[str, AnyModel] = {m.info.name: m for m in classical_models()}
        if include_builtin:
            self._fixed.update({m.info.name: m for m in builtin_models()})
        self._files: dict[Path, tuple[Optional[tuple[int, ...]], AnyModel]] = {}
        self._extra_paths: list[Path] = []
        #: user files that could not be read at the last listing: path → message
        self.problems: dict[Path, str] = {}
        #: program files among them that only wait for the person's trust: path → error
        self.untrusted: dict[Path, UntrustedCodeError] = {}

    # --- listing ---------------------------------------------------------------
    def user_files(self) -> list[Path]:
        found = []
        if self.user_dir.is_dir():
            found = sorted(p for p in self.user_dir.iterdir() if p.suffix.lower() in MODEL_SUFFIXES)
        return found + [p for p in self._extra_paths if p not in found]

    def models(self, task: Optional[str] = None) -> list[ModelInfo]:
        """All usable models (optionally for one task): classical, built-in, then user files."""
        with self._lock:
            infos = [m.info for m in self._fixed.values()]
            self.problems, self.untrusted = {}, {}
            dropped = False
            for path in self.user_files():
                try:
                    model, fresh = self._listed(path)
                    infos.append(model.info)
                    dropped |= fresh
                except UntrustedCodeError as exc:
                    self.problems[path], self.untrusted[path] = str(exc), exc
                except ModelError as exc:
                    self.problems[path] = str(exc)
                except (OSError, ValueError) as exc:   # an unreadable entry of the folder
                    self.problems[path] = f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"
            if dropped:   # hand the freed weights back to the system
                release_cached_memory()
        order = {"classical": 1, "builtin": 0, "user": 2}
        infos.sort(key=lambda i: (TASKS.index(i.task), order[i.source], i.name))
        return [i for i in infos if task is None or i.task == task]

    def default_name(self, task: str, scale: Optional[int] = None,
                     channels: Optional[int] = None) -> Optional[str]:
        """Best available model for a task: built-in ones first, then the classical fallback.

        ``scale`` picks among upscalers; ``channels`` (1 gray, 3 colour) prefers a
        built-in model made for the photo's kind, else the colour one.
        """
        builtins = [m.info for m in self._fixed.values() if m.info.source == "builtin" and m.info.task == task]
        builtins.sort(key=lambda i: (i.in_channels != (channels or 3), i.in_channels != 3, i.name))
        if task == "upscale" and builtins:
            exact = [i for i in builtins if i.scale == scale]
            bigger = sorted((i for i in builtins if scale is None or i.scale >= scale), key=lambda i: i.scale)
            pick = exact or bigger or sorted(builtins, key=lambda i: -i.scale)
            return pick[0].name
        if builtins:
            return builtins[0].name
        classical = {"inpaint": "telea", "denoise": "nlm", "upscale": "lanczos"}.get(task)
        if classical is not None:
            return classical
        # no built-in and no classical one (detect, generate): the person's own file, if any
        users = [i for i in self.models(task) if i.source == "user"]
        return users[0].name if users else None

    # --- resolving -------------------------------------------------------------
    def get(self, name_or_path: Optional[str], task: str, scale: Optional[int] = None,
            channels: Optional[int] = None) -> AnyModel:
        """The model called ``name_or_path`` (a registry name or a file), checked against ``task``.

        Without a name, the task's default for ``scale``/``channels`` (see ``default_name``).
        """
        if task not in TASKS:
            raise ModelError(f"unknown task '{printable(task, 40)}' (tasks: {', '.join(TASKS)})")
        if not name_or_path:
            name_or_path = self.default_name(task, scale, channels)
            if name_or_path is None:
                raise ModelError(f"no {task} model is available: pass --model FILE "
                                 f"or put one in {self.user_dir}")
        with self._lock:
            model = self._fixed.get(name_or_path)
            if model is None:
                model = self._find_user(name_or_path)
        if model.info.task != task:
            raise ModelError(f"{model.info.name}: a {_describe_task(model.info)} model; it cannot "
                             f"{TASK_VERBS[task]} (see `restora models` for {task} models)")
        return model

    def _find_user(self, name_or_path: str) -> AnyModel:
        name_or_path = str(name_or_path)
        path = Path(name_or_path).expanduser()
        try:
            if path.exists() or is_model_path(name_or_path):
                return self._from_file(path.resolve() if path.exists() else path)
        except (OSError, ValueError) as exc:  # a name too long for a file name, a NUL in it, unreadable
            raise ModelError(f"{printable(name_or_path, 60)}: cannot open the model "
                             f"({getattr(exc, 'strerror', None) or exc})") from exc
        for candidate in self.user_files():
            if candidate.stem == name_or_path or candidate.name == name_or_path:
                return self._from_file(candidate)
        for candidate in self.user_files():   # the name `restora models` lists (a file's own name)
            try:
                model = self._from_file(candidate)
            except (ModelError, OSError, ValueError):
                continue
            if model.info.name == name_or_path:
                return model
        raise ModelError(f"unknown model '{name_or_path}': see `restora models`, or pass a model file path")

    def _listed(self, path: Path) -> tuple[AnyModel, bool]:
        """A user file's model, for the list, and whether it was read just now: one read only
        to be listed keeps no weights (a folder of StyleGAN pickles would hold hundreds of MB
        each); the first use reads the file again. A model already in use keeps its weights."""
        known = self._files.get(path)
        model = self._from_file(path)
        fresh = known is None or known[1] is not model
        if fresh:
            model.unload()
        return model, fresh

    def _from_file(self, path: Path) -> AnyModel:
        st = path.stat() if path.exists() else None
        # ctime and inode too: a copy that keeps the old time and size (cp -p, rsync -t) is another file
        stamp = (st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino) if st else None
        cached = self._files.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        model = load_model_file(path)
        self._files[path] = (stamp, model)
        return model

    def add_file(self, path: Union[str, Path]) -> ModelInfo:
        """Check a model file and list it for this session. Raises ModelError if unusable."""
        try:
            path = Path(path).expanduser().resolve()
            with self._lock:
                model, fresh = self._listed(path)   # checked and listed; its weights wait for first use
                if fresh:
                    release_cached_memory()
        except (OSError, ValueError) as exc:
            raise ModelError(f"{printable(path, 200)}: cannot open the model "
                             f"({getattr(exc, 'strerror', None) or exc})") from exc
        with self._lock:
            if path not in self._extra_paths and path.parent != self.user_dir:
                self._extra_paths.append(path)
        return model.info

    def trust(self, path: Union[str, Path]) -> ModelInfo:
        """The person trusts this program file (TorchScript, ...): remember its content hash,
        load it and list it for this session. Raises ModelError if it still cannot be used."""
        from . import trust

        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        trust.trust(path)
        with self._lock:
            self._files.pop(path, None)
        return self.add_file(path)

    def untrust(self, path: Union[str, Path]) -> bool:
        """Forget the trust decision for this file's content. True if there was one."""
        from . import trust

        path = Path(path).expanduser().resolve()
        with self._lock:
            self._files.pop(path, None)
        return trust.untrust(path)

    def unload_all(self) -> None:
        """Drop loaded weights everywhere (they reload on next use) and free device caches."""
        with self._lock:
            for model in list(self._fixed.values()) + [m for _t, m in self._files.values()]:
                model.unload()
        release_cached_memory()


def _describe_task(info: ModelInfo) -> str:
    if info.task == "upscale":
        return f"×{info.scale} upscaling" if info.scale else "upscaling"
    return {"denoise": "denoise/restoration", "inpaint": "inpainting", "generate": "image generator",
            "detect": "damage detection"}[info.task]


_default: Optional[Registry] = None


def default_registry() -> Registry:
    """The process-wide registry (user folder from platformdirs or $RESTORA_MODELS_DIR)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default

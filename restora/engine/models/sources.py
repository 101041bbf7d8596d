"""Where user model files go: an ordered list of (detect, load) entries, like spandrel's
architecture registry. The first entry whose ``detect`` accepts a file loads it.

``detect`` reads data only (the file's kind from its bytes, safetensors metadata). A
program file (TorchScript, torch.export) reaches an entry only once the person trusts
its exact content; the trusted bytes are hashed and loaded from the same buffer, so a
file swapped after the check is never the one that runs.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from .. import trust
from ..jobs import ModelError, UntrustedCodeError
from .base import ImageModel
from .builtin import is_restora_file, restora_model
from .formats import ModelFileKind, sniff_model_file
from .generator import Generator, TorchScriptGenerator
from .spandrel_models import spandrel_model, untrusted_error
from . import stylegan

MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors", ".pkl")
AnyModel = Union[ImageModel, Generator]


@dataclass(frozen=True)
class ModelSource:
    name: str
    detect: Callable[[Path, ModelFileKind], bool]
    load: Callable[[Path, ModelFileKind], AnyModel]


def _load_torchscript(path: Path, _kind: ModelFileKind) -> AnyModel:
    """A trusted TorchScript file: an image network spandrel knows, else a generator."""
    module = load_trusted_torchscript(path)
    try:
        return spandrel_model(path, module, reload=lambda: load_trusted_torchscript(path))
    except UntrustedCodeError:
        raise
    except ModelError:
        return TorchScriptGenerator(path, module)


def _dcgan(path: Path, kind: ModelFileKind):
    """Our DCGAN generator if the weights are one (read as data), else None."""
    from . import dcgan
    from .spandrel_models import check_state_dict, read_state_dict

    if kind.kind not in ("safetensors", "pickle"):
        return None
    try:
        state_dict = check_state_dict(read_state_dict(path), path)
    except ModelError:
        return None   # the spandrel entry says what is wrong with it
    net = dcgan.build(state_dict, path)
    if net is None:
        _read[path] = state_dict   # for the spandrel entry next: a big file is read once
        return None
    return TorchScriptGenerator(path, net, "DCGAN generator", trusted_code=False)


# what the DCGAN check read, handed on within one load_model_file call (then dropped):
_pending: dict = {}   # a DCGAN generator, to its loader
_read: dict = {}      # the weights of anything else, to spandrel


def _is_dcgan(path: Path, kind: ModelFileKind) -> bool:
    model = _dcgan(path, kind)
    if model is not None:
        _pending[path] = model
    return model is not None


SOURCES: list[ModelSource] = [
    ModelSource("restora", lambda p, k: k.kind == "safetensors" and is_restora_file(p),
                lambda p, _k: restora_model(p, source="user")),
    ModelSource("torchscript", lambda _p, k: k.kind == "torchscript", _load_torchscript),
    # StyleGAN files before the generic readers: an NVlabs pickle is read only by our
    # restricted unpickler, and a rosinality checkpoint is theirs, not a DCGAN's or spandrel's
    ModelSource("nvlabs", stylegan.is_nvlabs, stylegan.load_nvlabs),
    ModelSource("rosinality", stylegan.is_rosinality, stylegan.load_rosinality),
    ModelSource("dcgan", _is_dcgan, lambda p, _k: _pending.pop(p)),
    ModelSource("spandrel", lambda _p, k: k.kind in ("safetensors", "pickle"), lambda p, _k: spandrel_model(p, state_dict=_read.pop(p, None))),
]


def load_model_file(path: Path) -> AnyModel:
    """The model a user file holds (see the module docstring for what is read and run)."""
    if not path.exists():
        raise ModelError(f"{path}: model file not found")
    if not path.is_file():
        raise ModelError(f"{path}: is not a regular file, not a model file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelError(f"{path}: not a model file (expected {', '.join(MODEL_SUFFIXES)})")
    kind = sniff_model_file(path)
    if kind.is_program and not trust.is_trusted(path):
        raise untrusted_error(path, kind)
    try:
        for source in SOURCES:
            if source.detect(path, kind):
                return source.load(path, kind)
    finally:
        _pending.pop(path, None)
        _read.pop(path, None)
    raise ModelError(f"{path}: {kind.what}; Restora cannot run these yet")


def load_trusted_torchscript(path: Path):
    """Load a TorchScript program from the very bytes whose hash the person trusted."""
    import torch

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not trust.is_trusted(path, hashlib.sha256(data).hexdigest()):
        raise ModelError(f"{path}: changed since you trusted it; trust it again to run it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jit.load's deprecation notice is not for users
            return torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure is "unusable"
        raise ModelError(f"{path}: the TorchScript file is damaged or not loadable "
                         f"({(str(exc).splitlines() or [type(exc).__name__])[0][:100]})") from exc

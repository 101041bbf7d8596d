"""What a model file is, told from its bytes alone (never by running anything in it).

Suffixes lie: a ``.pth`` may be a TorchScript program and a ``.pt`` a plain state dict.
The kind decides how a file may be read:

- ``safetensors``: tensors and a JSON header, data only;
- ``pickle``: a ``torch.save`` file (zip or legacy), read by torch's weights-only
  unpickler, which refuses any Python global that is not a tensor or container;
- ``nvlabs``: a plain ``pickle.dump`` of NVlabs StyleGAN networks (``torch_utils.persistence``
  records), read only by our restricted unpickler (``stylegan.pickle_reader``), never by torch;
- ``torchscript`` / ``export``: programs. Loading one runs code its author wrote
  (a scripted ``__setstate__`` can write any file), so they are loaded only after the
  person trusts that exact file (see :mod:`restora.engine.trust`).
"""
from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..jobs import ModelError

PROGRAM_KINDS = frozenset({"torchscript", "export"})
_PICKLE_PROTOCOL = b"\x80"               # every torch.save pickle starts with PROTO
_NVLABS_MARKERS = (b"torch_utils.persistence", b"dnnlib.tflib")   # named in their first kB
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."   # torch.save's first pickle
_SAFETENSORS_MAX_HEADER = 100 << 20      # the safetensors library's own cap


@dataclass(frozen=True)
class ModelFileKind:
    kind: str          # safetensors | pickle | nvlabs | torchscript | export
    what: str          # for people: "a TorchScript program", ...

    @property
    def is_program(self) -> bool:
        return self.kind in PROGRAM_KINDS


def sniff_model_file(path: Path) -> ModelFileKind:
    """The kind of model file at ``path``; ModelError (in plain words) for anything else."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size == 0:
        raise ModelError(f"{path}: the file is empty (0 bytes), not a model")
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path)
    if _looks_like_safetensors(path, head, size):
        return ModelFileKind("safetensors", "a safetensors weights file")
    if head.startswith(_PICKLE_PROTOCOL):
        if not head.startswith(_LEGACY_TORCH_MAGIC) and _is_nvlabs_pickle(path):
            return ModelFileKind("nvlabs", "an NVlabs StyleGAN pickle")
        return ModelFileKind("pickle", "a PyTorch weights file")
    raise ModelError(f"{path}: not a model file (its content is not PyTorch weights, safetensors "
                     "or TorchScript)")


def _sniff_zip(path: Path) -> ModelFileKind:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(f"{path}: the model file is truncated or damaged (an incomplete archive)") from exc
    parts = [n.split("/") for n in names]
    if any("code" in p[:-1] or n.endswith(".py") for n, p in zip(names, parts)):
        return ModelFileKind("torchscript", "a TorchScript program")
    if any(p[-1] in ("archive_format", "serialized_exported_program.json") or n.endswith(".json")
           for n, p in zip(names, parts)):
        return ModelFileKind("export", "a torch.export program")
    if any(p[-1] == "data.pkl" for p in parts):
        return ModelFileKind("pickle", "a PyTorch weights file")
    raise ModelError(f"{path}: not a model file (a zip archive without PyTorch weights)")


def _is_nvlabs_pickle(path: Path, limit: int = 1 << 18) -> bool:
    """A plain pickle naming NVlabs' persistence module near its start (a legacy torch.save
    file starts with torch's magic number instead, and names only storages)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(limit)
    except OSError:
        return False
    return any(m in head for m in _NVLABS_MARKERS)


def _looks_like_safetensors(path: Path, head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if not (2 <= length <= min(_SAFETENSORS_MAX_HEADER, size - 8)) or head[8:9] != b"{":
        return False
    try:
        with open(path, "rb") as fh:
            fh.seek(8)
            json.loads(fh.read(length))
    except (OSError, ValueError, RecursionError):
        return False
    return True

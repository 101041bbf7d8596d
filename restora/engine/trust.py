"""The person's per-file decision to let a model *program* run.

TorchScript archives and torch.export programs are code, not data: loading one runs
what its author wrote (a scripted ``__setstate__`` can write any file the user can).
Restora never loads one until the person trusts that exact file. The decision is
keyed by the SHA-256 of the file's bytes, not its name, so a file swapped in under a
trusted name is untrusted again. Decisions live in a small JSON file in the user's
config folder (``$RESTORA_CONFIG_DIR`` overrides it).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Optional

from .jobs import ModelError

TRUST_FILE = "trusted-models.json"
_MAX_STORE_BYTES = 4 << 20
_lock = threading.RLock()
_digests: dict[tuple[str, int, int], str] = {}   # (path, size, mtime_ns) → sha256


def config_dir() -> Path:
    override = os.environ.get("RESTORA_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_path

    return user_config_path("Restora", appauthor=False)


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (cached while its size and mtime stay the same)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        cached = _digests.get(key)
    if cached:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _lock:
        _digests[key] = digest
    return digest


def _store_path() -> Path:
    return config_dir() / TRUST_FILE


class DamagedStoreError(ModelError):
    """The trust store cannot be read: nothing in it counts, and it is not overwritten (that
    would silently forget every earlier decision)."""


def _read(strict: bool = False) -> dict[str, dict]:
    """The stored decisions; a damaged store trusts nothing (``strict``: raises instead)."""
    path = _store_path()
    try:
        if path.stat().st_size > _MAX_STORE_BYTES:
            raise ValueError("too large")
        data = json.loads(path.read_bytes())
        entries = data["trusted"]
        if not isinstance(entries, dict):
            raise ValueError("not a mapping")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        if strict:
            raise DamagedStoreError(f"{path}: the list of trusted model files is damaged ({exc}); "
                                    "move it away to start a new one") from exc
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, dict)}


def _write(entries: dict[str, dict]) -> None:
    from .imageio import atomic_write_bytes

    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"trusted": entries}, indent=1, sort_keys=True).encode("utf-8")
    atomic_write_bytes(_store_path(), payload, mode=0o600)  # the person's own decisions


def is_trusted(path: Path, digest: Optional[str] = None) -> bool:
    digest = digest or file_digest(path)
    with _lock:
        return digest in _read()


def trust(path: Path) -> str:
    """Remember that the person trusts this file's exact content; returns its digest."""
    digest = file_digest(path)
    with _lock:
        entries = _read(strict=True)
        entries[digest] = {"name": path.name, "path": str(path.resolve()),
                           "trusted_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        _write(entries)
    return digest


def untrust(path: Optional[Path] = None, digest: Optional[str] = None) -> bool:
    """Forget a trust decision (by file or digest). True if there was one."""
    digest = digest or (file_digest(path) if path is not None else None)
    with _lock:
        entries = _read(strict=True)
        if digest not in entries:
            return False
        del entries[digest]
        _write(entries)
    return True


def trusted_entries() -> dict[str, dict]:
    with _lock:
        return _read()

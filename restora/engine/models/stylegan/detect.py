"""Telling StyleGAN files from their bytes, cheaply and without torch (the registry lists
every file in the models folder this way)."""
from __future__ import annotations

import zipfile
from pathlib import Path

from ..formats import ModelFileKind

ROSINALITY_KEYS = (b"g_ema", b"style.1.weight", b"to_rgb1.conv.weight")   # in their checkpoints' pickle


def mentions(path: Path, needles: tuple[bytes, ...], limit: int = 1 << 18) -> bool:
    """True when the first ``limit`` bytes contain every needle (a sniff, not a parse)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(limit)
    except OSError:
        return False
    return all(n in head for n in needles)


def looks_like_rosinality(path: Path, kind: ModelFileKind) -> bool:
    """Their key names in the pickle: a zip's data.pkl (tensor data lives in other members),
    or the head of a legacy torch.save file (its pickle precedes the raw storages)."""
    if kind.kind != "pickle":
        return False
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                if name is None or zf.getinfo(name).file_size > 64 << 20:
                    return False
                head = zf.read(name)
            return all(n in head for n in ROSINALITY_KEYS)
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return mentions(path, ROSINALITY_KEYS, limit=8 << 20)

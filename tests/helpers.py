"""Helpers the test modules import (fixtures live in conftest.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def random_pixels(rng, shape, dtype):
    """Random pixels of any dtype (bool, float in [0, 1), the whole integer range)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


def restora_model_file(folder: Path, arch: str, config: dict, task: str, name: str, in_channels: int = 3,
                       out_channels: int = 3, seed: int = 0) -> Path:
    """A Restora-format safetensors file of ``arch(**config)`` with random weights."""
    import json

    import torch
    from safetensors.torch import save_file

    from restora.engine.models import nets

    torch.manual_seed(seed)
    net = nets.build(arch, config)
    for module in net.modules():   # a layer that starts at zero (a residual) gets weights too
        if getattr(module, "zero_init", False):
            torch.nn.init.normal_(module.weight, std=0.2)
    meta = {"restora_arch": arch, "restora_config": json.dumps(config), "task": task, "scale": "1",
            "in_channels": str(in_channels), "out_channels": str(out_channels), "name": name,
            "description": f"test {task} model"}
    path = Path(folder) / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), meta)
    return path


# --- a test-only task: proves adding a task is one module and one register line ------------

def invert_task_spec():
    """A task that inverts the photo's tones, with one float parameter ``amount``."""
    from dataclasses import dataclass

    from restora.engine.tasks.spec import Task, param

    @dataclass(frozen=True)
    class InvertParams:
        amount: float = param(1.0, lo=0.0, hi=1.0, metavar="A", help="how far to invert (0..1)")

    def invert(pixels, _mask, p, *, record=None, **_job):
        peak = 255 if pixels.dtype == np.uint8 else 65535
        out = pixels.astype(np.float32) * (1 - p.amount) + (peak - pixels.astype(np.float32)) * p.amount
        return np.clip(out + 0.5, 0, peak).astype(pixels.dtype)

    return Task("invert", "Invert", "Invert the tones of photos (a test task).", "denoise", InvertParams,
                run=invert, inside_mask=True)


QT_BLOCKER = ("import sys, importlib.abc\n"
              "class Block(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path, target=None):\n"
              "        if name.split('.')[0] in ('PySide6', 'shiboken6', 'PyQt5', 'PyQt6', 'qtawesome'):\n"
              "            raise ImportError('Qt is blocked: ' + name)\n"
              "sys.meta_path.insert(0, Block())\n")


def run_without_qt(code: str) -> "subprocess.CompletedProcess":
    """Run ``code`` in a fresh Python with every Qt binding blocked from importing."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", QT_BLOCKER + code], capture_output=True, text=True, timeout=120)

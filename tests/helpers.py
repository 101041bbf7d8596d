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
    meta = {"restora_arch": arch, "restora_config": json.dumps(config), "task": task, "scale": "1",
            "in_channels": str(in_channels), "out_channels": str(out_channels), "name": name,
            "description": f"test {task} model"}
    path = Path(folder) / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), meta)
    return path

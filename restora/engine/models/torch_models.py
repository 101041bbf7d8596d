"""Running torch networks: device placement, fp16 with an fp32 safety net, safe loading.

Everything torch-specific that is shared by community (spandrel), built-in and
generator models lives here, so each of those is a small class.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..device import DeviceInfo
from ..jobs import ModelError, UnsafeModelError
from .base import ImageModel, ModelInfo

# A call receives (loaded module, NCHW input tensor, params) and returns an NCHW tensor.
CallFn = Callable[[Any, Any, dict], Any]


def load_pickled_weights(path: Path) -> dict:
    """Read a .pth/.ckpt state dict without executing anything from the file.

    torch's ``weights_only`` unpickler admits tensors and plain containers only; a
    file that names any other Python global (the way malicious pickles run code)
    is refused before that global is ever looked up.
    """
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        hint = _forbidden_global(str(exc))
        if not hint:  # not a refusal, a pickle that does not parse
            raise ModelError(f"{path}: the model file is truncated or damaged") from exc
        raise UnsafeModelError(
            f"{path}: refused to load: the file asks to run code or build Python objects ({hint}), "
            "not just weights. Only load model files you trust converted to .safetensors") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, MemoryError) as exc:
        raise ModelError(f"{path}: the model file is truncated or damaged "
                         f"({(str(exc).splitlines() or [type(exc).__name__])[0][:100]})") from exc
    return _unwrap_state_dict(data, path)


def _forbidden_global(message: str) -> str:
    import re

    match = re.search(r"GLOBAL ([\w.]+)", message) or re.search(r"global '?([\w.]+)", message, re.I)
    return match.group(1) if match else ""


def _unwrap_state_dict(data: Any, path: Path) -> dict:
    import torch

    if isinstance(data, dict):
        for key in ("params_ema", "params", "state_dict", "model", "generator", "g_ema"):
            inner = data.get(key)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        if any(isinstance(v, torch.Tensor) for v in data.values()):
            return data
    raise ModelError(f"{path}: holds no model weights")


def to_tensor(crop: np.ndarray, device: DeviceInfo, channels_last: bool = False):
    import torch

    if channels_last:  # HWC is already NHWC memory: no transpose copy
        return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].to(device.torch_device)
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None].to(device.torch_device)


def to_numpy(tensor) -> np.ndarray:
    return tensor[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def low_precision(device: DeviceInfo, half: bool, cpu_bf16: bool):
    """The autocast dtype a model runs in on ``device`` (None: fp32): fp16 on CUDA, bf16 on a
    CPU with native bf16, each only where the model allows it."""
    import torch

    if half and device.kind == "cuda":
        return torch.float16
    if cpu_bf16 and device.kind == "cpu" and device.bf16:
        return torch.bfloat16
    return None


def run_guarded(call: Callable[[], Any], device: DeviceInfo, half: bool, cpu_bf16: bool = False):
    """Run ``call`` at the model's low precision on ``device`` (see ``low_precision``);
    redo in fp32 on NaN/Inf."""
    import torch

    with torch.inference_mode():
        low = low_precision(device, half, cpu_bf16)
        if low is not None:
            with torch.autocast(device.kind, dtype=low):
                out = call()
            if torch.isfinite(out).all():
                return out.float()
        return call().float()


class TorchImageModel(ImageModel):
    """A torch network over image crops, loaded lazily and cached on one device."""

    def __init__(self, info: ModelInfo, loader: Callable[[], Any], call: CallFn, *,
                 context_px: int = 32, bytes_per_pixel: int = 2048, max_cpu_tile: int = 2048,
                 channels_last: bool = False, first: Any = None):
        self.info = info
        self._first = first   # the net checking the file already built: the first prepare uses it
        # NHWC convolutions are 1.3-1.5x faster on the CPU for our conv nets (big feature
        # maps are memory-bound) and suit tensor cores; results are the same up to rounding.
        self.channels_last = channels_last
        self._loader, self._call = loader, call
        self.context_px, self.bytes_per_pixel, self.max_cpu_tile = context_px, bytes_per_pixel, max_cpu_tile
        self._module: Any = None
        self._device: Optional[DeviceInfo] = None
        self._hooked = False
        self._check: Optional[Callable[[], None]] = None

    @property
    def loaded(self) -> bool:
        return self._module is not None

    @property
    def device(self) -> Optional[DeviceInfo]:
        """The device the net was last prepared for (None before ``prepare``)."""
        return self._device

    def prepare(self, device: DeviceInfo) -> None:
        if self._module is None:
            self._module, self._first = (self._first if self._first is not None else self._loader()), None
            self._hooked = False
        if self._device != device:
            self._module = self._module.to(device.torch_device).eval()
            if self.channels_last:
                import torch

                getattr(self._module, "model", self._module).to(memory_format=torch.channels_last)
            self._device = device
        if not self._hooked:
            self._add_cancel_hooks()

    def _add_cancel_hooks(self) -> None:
        """Check for cancellation before every layer, so Cancel answers within a layer, not a tile."""
        net = getattr(self._module, "model", self._module)  # spandrel descriptors wrap the nn.Module
        for layer in net.modules():
            if not any(True for _ in layer.children()):
                layer.register_forward_pre_hook(self._before_layer)
        self._hooked = True

    def _before_layer(self, _layer, _inputs) -> None:
        if self._check is not None:
            self._check()

    def unload(self) -> None:
        self._module, self._device, self._first = None, None, None

    def process(self, crop: np.ndarray, **params) -> np.ndarray:
        if self._device is None:
            raise RuntimeError("prepare() must be called before process()")
        device = self._device
        x = to_tensor(crop, device, self.channels_last)
        self._check = params.get("check")
        try:
            out = run_guarded(lambda: self._call(self._module, x, params), device, self.info.half,
                              self.info.cpu_bf16)
        finally:
            self._check = None
        return to_numpy(out)

"""What every image task shares: checking input, alpha, channel adaptation (the way a model
meets the photo, tiles or crops, is ``strategies``).

The ``check_*`` helpers are the one place task arguments are validated: every task calls
them before any model is loaded or any work starts, so a bad argument is always a
:class:`BadInputError` with a one-line message naming the parameter.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Callable, Optional

import cv2
import numpy as np

from ..device import DEVICE_CHOICES, resolve_device
from ..jobs import BadInputError, CancelToken, ModelError, ProgressFn, make_context
from ..models.base import ImageModel
from ..registry import Registry, default_registry

MAX_TILE = 1 << 16
MAX_SEED = 2 ** 32 - 1       # numpy's RandomState range: stochastic models may seed one with it
Crop = np.ndarray
CropFn = Callable[[Crop], Crop]


def _show(value) -> str:
    """A bad value for a one-line message: its repr, shortened."""
    try:
        text = repr(value)
    except ValueError:       # an int past Python's 4300-digit str limit
        text = "a huge number"
    return text if len(text) <= 40 else text[:37] + "..."


def check_int(name: str, value, lo: Optional[int] = None, hi: Optional[int] = None, why: str = "") -> int:
    """``value`` as an int in lo..hi. numpy integers are fine; bools and floats (2.0) are mistakes."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadInputError(f"{name} must be an integer, got {_show(value)}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BadInputError(f"{name} {_show(value)} is out of range: use {lo}..{hi}{why}")
    return value


def check_number(name: str, value) -> float:
    """``value`` as a finite float (numpy numbers are fine; bools and strings are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadInputError(f"{name} must be a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:    # an int or Fraction beyond float range
        raise BadInputError(f"{name} {_show(value)} is far too large") from None
    if not math.isfinite(number):
        raise BadInputError(f"{name} must be a finite number, got {_show(value)}")
    return number


def check_seed(seed) -> int:
    return check_int("seed", seed, 0, MAX_SEED, " (a 32-bit seed, the range numpy's RandomState takes)")


def check_tile(tile) -> Optional[int]:
    return None if tile is None else check_int("tile", tile, 0, MAX_TILE, " (0 = whole image, none = automatic)")


def check_job(model, device, registry, progress, cancel) -> Optional[str]:
    """Check the arguments every task takes; returns ``model`` as a str (paths as text) or None."""
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if model is not None and not isinstance(model, str):
        raise BadInputError(f"model must be a model name or a file path, got {_show(model)}")
    if device is not None and not (isinstance(device, str) and device.lower() in DEVICE_CHOICES):
        raise BadInputError(f"unknown device {_show(device)}: use one of {', '.join(DEVICE_CHOICES)}")
    if registry is not None and not isinstance(registry, Registry):
        raise BadInputError(f"registry must be a Registry, got {_show(registry)}")
    if progress is not None and not callable(progress):
        raise BadInputError(f"progress must be a function of the fraction done, got {_show(progress)}")
    if cancel is not None and not isinstance(cancel, CancelToken):
        raise BadInputError(f"cancel must be a CancelToken, got {_show(cancel)}")
    return model


def as_hwc(image: np.ndarray) -> np.ndarray:
    """Validate an engine image and return it as HxWxC (C in 1..4), uint8 or uint16."""
    if not isinstance(image, np.ndarray):
        raise BadInputError(f"expected an image array, got {type(image).__name__}")
    image = np.asarray(image)  # a subclass (np.matrix, masked array) as a plain array
    if image.dtype not in (np.uint8, np.uint16):
        raise BadInputError(f"unsupported image pixel type {image.dtype}: 8- or 16-bit images only")
    shape = image.shape
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise BadInputError(f"unsupported image shape {shape}: expected HxW or HxWxC with C in 1..4")
    return image


def restore_layout(result: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Give ``result`` the same 2-D/3-D layout the caller passed in."""
    return result[:, :, 0] if original.ndim == 2 else result


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(colour HxWx1|3, alpha HxWx1 or None). Alpha is never fed to a colour model."""
    if image.shape[2] in (2, 4):
        return image[:, :, :-1], image[:, :, -1:]
    return image, None


def is_neutral(color: np.ndarray) -> bool:
    """True for an RGB image whose three channels are identical everywhere.

    That is a black-and-white photo saved as colour, which is how most scans of old
    prints arrive. Tasks treat it as gray: models made for gray photos by default, one
    plane of work instead of three, and a result that stays neutral (a colour model
    left alone would add faint colour casts to a B&W print).
    """
    if color.ndim != 3 or color.shape[2] != 3:
        return False
    rows = max(1, color.shape[0] // 64)     # a few rows first: a colour photo fails at once
    for part in (color[::rows], color):
        if not (np.array_equal(part[:, :, 0], part[:, :, 1]) and np.array_equal(part[:, :, 1], part[:, :, 2])):
            return False
    return True


def gray_if_neutral(color: np.ndarray) -> tuple[np.ndarray, bool]:
    """(the one plane of a neutral RGB image, True), else (``color``, False)."""
    return (color[:, :, :1], True) if is_neutral(color) else (color, False)


def as_neutral_rgb(plane: np.ndarray) -> np.ndarray:
    """Back to three identical channels (undoes :func:`gray_if_neutral`)."""
    return np.repeat(plane, 3, axis=2)


def merge_alpha(color: np.ndarray, alpha: Optional[np.ndarray]) -> np.ndarray:
    return color if alpha is None else np.ascontiguousarray(np.concatenate([color, alpha], axis=2))


def bit_depth(image: np.ndarray) -> int:
    return 16 if image.dtype == np.uint16 else 8


def rgb_to_ycrcb(crop: Crop) -> Crop:
    return cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)


def ycrcb_to_rgb(crop: Crop) -> Crop:
    return np.clip(cv2.cvtColor(crop, cv2.COLOR_YCrCb2RGB), 0.0, 1.0)


def adapt_channels(model: ImageModel, photo_channels: int, fn: CropFn, *, luma_only: bool,
                   scale: int = 1) -> CropFn:
    """Wrap a crop function so a model with other channels works on this photo.

    - colour model, gray photo: the gray plane is repeated to RGB and the result averaged back;
    - gray model, colour photo: ``luma_only`` (upscaling) runs the model on Y and resizes the
      chroma bicubically; otherwise (denoising, inpainting) the model runs on each channel.
    """
    wanted = model.info.in_channels
    if wanted == photo_channels or wanted not in (1, 3):
        return fn
    if wanted == 3 and photo_channels == 1:
        return lambda crop: fn(np.repeat(crop, 3, axis=2)).mean(axis=2, keepdims=True)
    if luma_only:
        def luma(crop: Crop) -> Crop:
            ycc = rgb_to_ycrcb(crop)
            y = fn(ycc[:, :, :1])
            h, w = y.shape[:2]
            chroma = cv2.resize(ycc[:, :, 1:], (w, h), interpolation=cv2.INTER_CUBIC) if scale != 1 else ycc[:, :, 1:]
            return ycrcb_to_rgb(np.dstack([y.reshape(h, w, 1), chroma]))
        return luma
    return lambda crop: np.dstack([fn(crop[:, :, c:c + 1]) for c in range(crop.shape[2])])


def setup(model_name: Optional[str], task: str, device: str, registry: Optional[Registry],
          progress: Optional[ProgressFn], cancel: Optional[CancelToken], scale: Optional[int] = None,
          channels: Optional[int] = None, accept: Optional[Callable[[ImageModel], None]] = None,
          record: Optional[dict] = None):
    """Resolve device and model (loading it), and build the job context.

    Arguments must have passed :func:`check_job`. ``accept(model)`` may refuse the resolved
    model (raising) before its weights are loaded.
    """
    ctx = make_context(progress, cancel)
    ctx.check()
    dev = resolve_device(device)
    try:
        model = (registry or default_registry()).get(model_name, task, scale, channels)
    except OSError as exc:   # e.g. a name too long for a file name, an unreadable file
        raise ModelError(f"{_show(model_name)}: cannot open the model ({exc.strerror or exc})") from exc
    if accept is not None:
        accept(model)
    if record is not None:   # what a recipe needs to name the model and replay the run
        record.update(model=model.info, device=dev.name)
    model.prepare(dev)
    ctx.report(0.0)
    return model, dev, ctx

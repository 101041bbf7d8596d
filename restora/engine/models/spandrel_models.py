"""Community model files (.pth/.pt/.ckpt/.safetensors) through spandrel."""
from __future__ import annotations

from pathlib import Path

from ..jobs import ModelError, UntrustedCodeError
from .base import ModelInfo, printable
from .formats import sniff_model_file
from .torch_models import TorchImageModel, load_pickled_weights

_PURPOSE_TASK = {"SR": "upscale", "Restoration": "denoise", "Inpainting": "inpaint"}

# Pure-convolution architectures: safe and faster in channels-last memory (attention
# nets reshape with .view(), which channels-last tensors do not always allow).
_PLAIN_CONV = frozenset({"Compact", "ESRGAN", "SPAN", "RealCUGAN", "DnCNN", "DRUNet", "FBCNN", "SwiftSRGAN"})


def read_state_dict(path: Path, module=None) -> dict:
    """State dict of a weights file, read as data only.

    ``module``: an already loaded TorchScript program the person trusts (its weights are
    read from it); program files are never loaded here.
    """
    if module is not None:
        return dict(module.state_dict())
    kind = sniff_model_file(path)
    if kind.is_program:
        raise untrusted_error(path, kind)
    try:
        if kind.kind == "safetensors":
            from safetensors.torch import load_file
            return load_file(str(path), device="cpu")
        return load_pickled_weights(path)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder error is "damaged"
        raise ModelError(f"{path}: the model file is truncated or damaged "
                         f"({str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__})") from exc


def untrusted_error(path: Path, kind) -> UntrustedCodeError:
    return UntrustedCodeError(
        f"{path}: {kind.what}, not just weights: loading it would run code from the file, so Restora "
        f"does not load it unless you trust this file (restora models --trust FILE, or --trust-code)",
        path=path, what=kind.what)


# Bounds on what a weights file may ask spandrel to build: the largest community models
# (big-lama ~51 M weights, HAT-L ~41 M) sit far below them.
MAX_TENSORS = 20_000
MAX_WEIGHTS = 1 << 30            # elements (4 GB in fp32)
MAX_LAYER_INDEX = 4096


def check_state_dict(state_dict: dict, path: Path) -> dict:
    """Refuse weights that would make building the network cost more than the file holds:
    tensors whose shape claims more elements than their storage has (a 3 kB pickle can hold
    an "expanded" 10^6 x 10^6 tensor), absurd totals, and layer numbers far beyond the layers
    present (spandrel sizes some nets by the highest index: ``body.20001.bias`` alone would
    build 20 000 layers)."""
    import torch

    if len(state_dict) > MAX_TENSORS:
        raise ModelError(f"{path}: {len(state_dict):,} tensors is more than any model Restora knows")
    if any(not isinstance(k, str) for k in state_dict):
        raise ModelError(f"{path}: not a model file (its weight names are not text)")
    total = 0
    for name, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            continue
        held = value.untyped_storage().nbytes() - value.storage_offset() * value.element_size()
        if value.numel() * value.element_size() > held:
            raise ModelError(f"{path}: tensor '{printable(name, 60)}' claims {value.numel():,} weights but the file "
                             "holds far fewer (a crafted file)")
        total += value.numel()
    if total > MAX_WEIGHTS:
        raise ModelError(f"{path}: {total:,} weights is more than any model Restora knows")
    _check_layer_numbers(state_dict, path)
    return state_dict


def _check_layer_numbers(state_dict: dict, path: Path) -> None:
    seen: dict[str, set[int]] = {}
    for key in state_dict:
        parts = key.split(".")
        for i, part in enumerate(parts):
            if part.isdigit() and len(part) < 12:
                seen.setdefault(".".join(parts[:i]), set()).add(int(part))
            elif part.isdigit():
                raise ModelError(f"{path}: layer number in '{printable(key, 60)}' is out of range")
    for prefix, numbers in seen.items():
        top = max(numbers)
        if top > MAX_LAYER_INDEX or top + 1 > 8 * len(numbers) + 16:
            raise ModelError(f"{path}: names layer {top} of '{printable(prefix, 40)}' but holds weights for "
                             f"{len(numbers)} of them (a damaged or crafted file)")


def describe(path: Path, module=None, state_dict=None):
    """Load ``path`` (or a trusted program's weights, or ``state_dict`` already read from
    ``path``) with spandrel on the CPU; returns the descriptor."""
    from spandrel import ModelLoader, UnsupportedModelError, canonicalize_state_dict

    state_dict = check_state_dict(state_dict if state_dict is not None else read_state_dict(path, module), path)
    try:
        state_dict = canonicalize_state_dict(state_dict)
        return ModelLoader("cpu").load_from_state_dict(state_dict)
    except UnsupportedModelError as exc:
        raise ModelError(f"{path}: unrecognised model architecture (not one spandrel supports)") from exc
    except Exception as exc:  # noqa: BLE001 - a recognised but inconsistent file
        raise ModelError(f"{path}: model file is damaged or incomplete ({str(exc).splitlines()[0][:120]})") from exc


def _run_image(descriptor, x, _params):
    return descriptor(x)


def _run_masked(descriptor, x, params):
    import torch

    mask = torch.from_numpy(params["mask"])[None, None].to(x.device)
    return descriptor(x, (mask > 0.5).to(x.dtype))


def spandrel_model(path: Path, module=None, reload=None, state_dict=None) -> TorchImageModel:
    """A spandrel-recognised model from a weights file (or its ``state_dict``, already read),
    or from a trusted TorchScript ``module`` (then ``reload`` loads it again after an
    unload, re-checking the trust)."""
    descriptor = describe(path, module, state_dict)
    task = _PURPOSE_TASK.get(descriptor.purpose)
    if task is None:
        raise ModelError(f"{path}: a {descriptor.purpose} model ({descriptor.architecture.name}); "
                         "Restora runs upscale, restoration/denoise and inpainting models")
    arch = descriptor.architecture.name
    what = {"upscale": f"×{descriptor.scale} upscaling", "denoise": "restoration (denoise/deblur/JPEG)",
            "inpaint": "inpainting"}[task]
    info = ModelInfo(name=path.stem, task=task, source="user", description=f"{arch} {what} model from {path.name}",
                     architecture=arch, scale=descriptor.scale, in_channels=descriptor.input_channels,
                     out_channels=descriptor.output_channels, stochastic=False,
                     half=bool(descriptor.supports_half), path=path, trusted_code=module is not None)
    # The first load is the one `describe` already did; reloads read the file again.
    model = TorchImageModel(info, lambda: describe(path, reload() if reload else None),
                            _run_masked if task == "inpaint" else _run_image,
                            context_px=64 if task == "inpaint" else 32,
                            channels_last=descriptor.architecture.id in _PLAIN_CONV, first=descriptor)
    # Window-attention and downsampling nets pad to a multiple; aligned crops see the same grid.
    req = descriptor.size_requirements   # padded by the strategy, so spandrel's own padding is idle
    model.align_px = model.multiple_of = max(1, int(getattr(req, "multiple_of", 1)))
    model.min_side = max(1, int(getattr(req, "minimum", 1)))
    model.square = bool(getattr(req, "square", False))
    model.tiling = getattr(getattr(descriptor, "tiling", None), "name", "SUPPORTED").lower()
    return model

"""Community model files (.pth/.pt/.ckpt/.safetensors) through spandrel."""
from __future__ import annotations

from pathlib import Path

from ..jobs import ModelError, UntrustedCodeError
from .base import ModelInfo
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


def describe(path: Path, module=None):
    """Load ``path`` (or a trusted program's weights) with spandrel on the CPU; returns the descriptor."""
    from spandrel import ModelLoader, UnsupportedModelError, canonicalize_state_dict

    state_dict = canonicalize_state_dict(read_state_dict(path, module))
    try:
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


def spandrel_model(path: Path, module=None, reload=None) -> TorchImageModel:
    """A spandrel-recognised model from a weights file, or from a trusted TorchScript
    ``module`` (then ``reload`` loads it again after an unload, re-checking the trust)."""
    descriptor = describe(path, module)
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
    holder = {"descriptor": descriptor}

    def loader():
        # The first load is the one `describe` already did; reloads read the file again.
        return holder.pop("descriptor", None) or describe(path, reload() if reload else None)

    model = TorchImageModel(info, loader, _run_masked if task == "inpaint" else _run_image,
                            context_px=64 if task == "inpaint" else 32,
                            channels_last=descriptor.architecture.id in _PLAIN_CONV)
    # Window-attention and downsampling nets pad to a multiple; aligned crops see the same grid.
    model.align_px = max(1, int(getattr(descriptor.size_requirements, "multiple_of", 1)))
    return model

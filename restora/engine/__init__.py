"""Restora's engine: Qt-free image restoration over numpy arrays.

The whole public surface used by the window, the CLI and the tests::

    photo = read_image("in.jpg")                      # Photo: pixels + ICC/EXIF
    clean = denoise(photo.pixels, sigma=None)         # None = estimate the noise
    big   = upscale(clean, scale=2, model="lanczos")
    fixed = inpaint(big, mask, model="telea")
    write_image("out.png", photo.with_pixels(fixed))  # atomic, never overwrites unasked
    imgs  = generate(model="gan.pt", seed=1, count=4)
    default_registry().models(task="upscale")         # [ModelInfo, ...]

Every task takes ``progress`` (fraction 0..1) and ``cancel`` (CancelToken) and
raises ``Cancelled`` between tiles. User-caused problems raise ``RestoraError``
subclasses whose message is written for people.
"""
from .device import DeviceInfo, resolve_device
from .imageio import (IMAGE_SUFFIXES, Photo, image_size, is_image_path, max_pixels, read_image, set_max_pixels,
                      write_image)
from .jobs import (BadInputError, CancelToken, Cancelled, JobContext, ModelError, OutOfMemoryError,
                   RestoraError, TooLargeError, UnsafeModelError, UntrustedCodeError)
from .models.base import TASKS, ModelInfo
from .registry import Registry, default_registry, user_models_dir
from .tasks.denoise import denoise
from .tasks.generate import generate
from .tasks.inpaint import holes_box, inpaint, mask_to_bool
from .tasks.noise import estimate_noise_sigma
from .tasks.upscale import upscale
from .tasks.catalog import all_tasks, get_task, register
from .tasks.runner import TaskResult, replay, run_task
from .recipe import RecipeStep, load_recipe, save_recipe

__all__ = [
    "BadInputError", "CancelToken", "Cancelled", "DeviceInfo", "IMAGE_SUFFIXES", "JobContext", "ModelError",
    "ModelInfo", "OutOfMemoryError", "Photo", "Registry", "RestoraError", "TASKS", "TooLargeError",
    "UnsafeModelError", "UntrustedCodeError", "image_size", "max_pixels", "set_max_pixels",
    "default_registry", "denoise", "estimate_noise_sigma", "generate", "holes_box", "inpaint", "is_image_path", "mask_to_bool",
    "read_image", "resolve_device", "upscale", "user_models_dir", "write_image",
    "RecipeStep", "TaskResult", "all_tasks", "get_task", "load_recipe", "register", "replay", "run_task",
    "save_recipe",
]

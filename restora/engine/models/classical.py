"""OpenCV's classical algorithms as models: always available, no weights."""
from __future__ import annotations

import cv2
import numpy as np

from .base import ImageModel, ModelInfo


def _to_u8(crop: np.ndarray) -> np.ndarray:
    return np.clip(crop * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _to_u16(crop: np.ndarray) -> np.ndarray:
    return np.clip(crop * 65535.0 + 0.5, 0, 65535).astype(np.uint16)


class OpenCVInpaint(ImageModel):
    """Telea (fast marching) or Navier-Stokes diffusion fill. Good for scratches and thin tears."""

    context_px = 24
    bytes_per_pixel = 16
    #: Holes are filled by propagating known pixels inwards: with none left there is nothing
    #: to fill from (tasks.inpaint refuses a mask covering the whole photo).
    fills_from_surroundings = True

    def __init__(self, name: str, flag: int, label: str, description: str, radius: int = 5):
        self.flag, self.radius = flag, radius
        self.info = ModelInfo(name, "inpaint", "classical", description, f"OpenCV {label}")

    def process(self, crop: np.ndarray, *, mask: np.ndarray, bit_depth: int = 8, **_params) -> np.ndarray:
        mask_u8 = (mask > 0.5).astype(np.uint8)
        if bit_depth == 8 and crop.shape[2] == 3:
            return cv2.inpaint(_to_u8(crop), mask_u8, self.radius, self.flag).astype(np.float32) / 255.0
        # OpenCV fills 16-bit images one channel at a time; this keeps 16-bit precision.
        planes = [cv2.inpaint(_to_u16(crop[:, :, c]), mask_u8, self.radius, self.flag)
                  for c in range(crop.shape[2])]
        return np.dstack(planes).astype(np.float32) / 65535.0


class OpenCVDenoise(ImageModel):
    """Non-local means. ``sigma`` (noise σ, 0..1 units) sets the filter strength h."""

    context_px = 16   # search window 21 → 10 px + template 7 → 3 px
    bytes_per_pixel = 32
    max_cpu_tile = 1024  # ~3 s a tile on 2 cores: Cancel stays responsive

    def __init__(self):
        self.info = ModelInfo("nlm", "denoise", "classical",
                              "OpenCV non-local means: removes moderate noise, smooths fine detail",
                              "OpenCV fastNlMeans", scale=1, in_channels=3, out_channels=3)

    @staticmethod
    def h_for_sigma(sigma_255: float) -> float:
        # Measured on Kodak crops: the best h is 0.6σ up to σ=25, falling to 0.5σ at σ=50.
        ratio = 0.6 - 0.1 * min(max(sigma_255 - 25.0, 0.0) / 25.0, 1.0)
        return max(1.0, ratio * sigma_255)

    def process(self, crop: np.ndarray, *, sigma: float, bit_depth: int = 8, **_params) -> np.ndarray:
        h = self.h_for_sigma(sigma * 255.0)
        channels = crop.shape[2]
        if bit_depth == 8:
            img = _to_u8(crop)
            if channels == 3:
                out = cv2.fastNlMeansDenoisingColored(img, None, h, h, 7, 21)
            else:
                out = cv2.fastNlMeansDenoising(np.ascontiguousarray(img), None, h, 7, 21)
            out = out.reshape(crop.shape)
            return out.astype(np.float32) / 255.0
        # 16-bit: the L1 variant is the one OpenCV supports; h is in 16-bit units.
        img = _to_u16(crop)
        # (the list-of-h overload takes h before dst: src, h, dst, template, search, norm)
        out = cv2.fastNlMeansDenoising(np.ascontiguousarray(img), [h * 257.0], None, 7, 21, cv2.NORM_L1)
        return out.reshape(crop.shape).astype(np.float32) / 65535.0


class OpenCVResize(ImageModel):
    """Bicubic or Lanczos interpolation, any scale."""

    context_px = 8
    bytes_per_pixel = 16

    def __init__(self, name: str, flag: int, label: str, description: str):
        self.flag = flag
        self.info = ModelInfo(name, "upscale", "classical", description, f"OpenCV {label}", scale=0)

    def process(self, crop: np.ndarray, *, scale: int, **_params) -> np.ndarray:
        h, w = crop.shape[:2]
        out = cv2.resize(crop, (w * scale, h * scale), interpolation=self.flag)
        return np.clip(out.reshape(h * scale, w * scale, crop.shape[2]), 0.0, 1.0)


def classical_models() -> list[ImageModel]:
    return [
        OpenCVInpaint("telea", cv2.INPAINT_TELEA, "Telea",
                      "Fast marching fill (Telea): thin scratches, dust, small tears"),
        OpenCVInpaint("navier-stokes", cv2.INPAINT_NS, "Navier-Stokes",
                      "Fluid-dynamics fill: continues edges into thin gaps"),
        OpenCVDenoise(),
        OpenCVResize("bicubic", cv2.INTER_CUBIC, "bicubic", "Bicubic interpolation: smooth, no new detail"),
        OpenCVResize("lanczos", cv2.INTER_LANCZOS4, "Lanczos",
                     "Lanczos interpolation: a little sharper than bicubic"),
    ]

"""Applying a whole-photo result only inside a painted mask, with a soft edge."""
from __future__ import annotations

import cv2
import numpy as np

from ..jobs import BadInputError

FEATHER_PX = 3


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool HxW mask resized (nearest neighbour) to ``height`` x ``width``."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = np.any(mask > 0, axis=2)
    if mask.shape == (height, width):
        return mask > 0
    small = (mask > 0).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST) > 0


def feathered_weight(mask: np.ndarray, feather_px: float = FEATHER_PX) -> np.ndarray:
    """float32 HxW in [0, 1]: 1 inside the mask, falling to 0 over ``feather_px`` outside it."""
    inside = mask.astype(np.float32)
    if feather_px <= 0 or not mask.any() or mask.all():
        return inside
    # Distance (px) from each outside pixel to the mask: weight 1 at the edge, 0 beyond feather_px.
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(1.0 - dist / float(feather_px + 1), 0.0, 1.0).astype(np.float32)


def blend_inside_mask(original: np.ndarray, result: np.ndarray, mask: np.ndarray,
                      feather_px: float = FEATHER_PX) -> np.ndarray:
    """``result`` inside ``mask`` and ``original`` outside, blended over a soft edge.

    ``original`` and ``result`` must have the same shape and dtype (for upscaling, pass
    the plainly interpolated photo as ``original``). ``mask`` is any HxW(xC) array,
    non-zero = use the result; it is resized (nearest) when its size differs.
    Returns a new array of the same dtype; pixels far outside the mask equal ``original``.
    """
    if original.shape != result.shape or original.dtype != result.dtype:
        raise BadInputError(f"cannot blend images of different shapes {original.shape} and {result.shape}")
    h, w = original.shape[:2]
    inside = resize_mask(mask, h, w)
    weight = feathered_weight(inside, feather_px)
    out = original.copy()
    ys, xs = np.nonzero(weight > 0)
    if ys.size == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1   # work on the bounding box only
    wgt = weight[y0:y1, x0:x1]
    if original.ndim == 3:
        wgt = wgt[:, :, None]
    a = original[y0:y1, x0:x1].astype(np.float32)
    b = result[y0:y1, x0:x1].astype(np.float32)
    peak = 255.0 if original.dtype == np.uint8 else 65535.0
    out[y0:y1, x0:x1] = np.clip(a + (b - a) * wgt + 0.5, 0, peak).astype(original.dtype)
    return out

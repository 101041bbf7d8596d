"""Recipes: what was done to a photo, step by step, so it can be done again.

A step names the task, the model (name, source and the SHA-256 of its file), the full
typed parameters, the tile size that was used (tiled and whole-image results differ by
a level or two, so replaying the same tiles gives the same pixels, bit for bit), and the
masks it used, stored packed (1 bit a pixel, zlib, base64) with their hash. A recipe
file is JSON, ``{"restora_recipe": 1, "steps": [...]}``; two recipes' steps put one
after the other are a valid recipe.

Recipe files come from elsewhere: everything read from one is checked (types, sizes,
known tasks and parameters) and refused with a one-line message.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .jobs import BadInputError
from .models.base import printable

RECIPE_VERSION = 1
MAX_RECIPE_BYTES = 64 << 20        # masks of a few 24 MP steps, packed, fit easily
MAX_STEPS = 1000
MAX_MASK_SIDE = 1 << 17


@dataclass(frozen=True)
class ModelRef:
    name: str
    source: str
    sha256: Optional[str] = None     # None for classical models (no file)
    path: Optional[str] = None       # where a user file was, to find it again

    @classmethod
    def of(cls, info) -> "ModelRef":
        from .trust import file_digest

        path = getattr(info, "path", None)
        digest = file_digest(Path(path)) if path and Path(path).is_file() else None
        return cls(info.name, info.source, digest, str(path) if path and info.source == "user" else None)


@dataclass(frozen=True)
class MaskRef:
    """A bool HxW mask, packed: a 24 MP mask of a few scratches is tens of kB."""
    width: int
    height: int
    sha256: str
    bits: str

    @classmethod
    def of(cls, mask: np.ndarray) -> "MaskRef":
        mask = np.ascontiguousarray(mask, dtype=bool)
        packed = np.packbits(mask, axis=None).tobytes()
        return cls(mask.shape[1], mask.shape[0], hashlib.sha256(packed).hexdigest(),
                   base64.b64encode(zlib.compress(packed, 6)).decode("ascii"))

    def to_array(self) -> np.ndarray:
        size = (self.width * self.height + 7) // 8
        try:
            inflate = zlib.decompressobj()
            # at most the bytes such a mask takes: a small recipe could inflate to gigabytes
            packed = inflate.decompress(base64.b64decode(self.bits, validate=True), size)
        except (ValueError, zlib.error) as exc:
            raise BadInputError("recipe: a stored mask is damaged") from exc
        if inflate.unconsumed_tail or not inflate.eof or len(packed) != size:
            raise BadInputError(f"recipe: a stored mask is not the {self.width}x{self.height} mask it says it is")
        if hashlib.sha256(packed).hexdigest() != self.sha256:
            raise BadInputError("recipe: a stored mask does not match its hash")
        bits = np.unpackbits(np.frombuffer(packed, np.uint8), count=self.width * self.height)
        return bits.reshape(self.height, self.width).astype(bool)


@dataclass(frozen=True)
class RecipeStep:
    task: str
    params: dict
    model: Optional[ModelRef] = None
    tile: Optional[int] = None       # 0 = whole image, N = N px tiles, None = automatic
    mask: Optional[MaskRef] = None   # what an inpaint step filled
    inside: Optional[MaskRef] = None  # the area a step was limited to

    def to_dict(self) -> dict:
        out = {"task": self.task, "params": self.params, "tile": self.tile}
        if self.model is not None:
            out["model"] = {k: v for k, v in vars(self.model).items() if v is not None}
        for name in ("mask", "inside"):
            ref = getattr(self, name)
            if ref is not None:
                out[name] = vars(ref).copy()
        return out

    @classmethod
    def from_dict(cls, data, index: int) -> "RecipeStep":
        where = f"recipe step {index + 1}"
        if not isinstance(data, dict):
            raise BadInputError(f"{where}: not an object")
        from .tasks.catalog import get_task

        task = get_task(_text(data.get("task"), f"{where}: task"))
        params = data.get("params", {})
        if not isinstance(params, dict):
            raise BadInputError(f"{where}: params must be an object")
        task.parse(params)     # known names, checked values: refused here, before any work
        tile = data.get("tile")
        if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or not 0 <= tile <= 1 << 16):
            raise BadInputError(f"{where}: tile must be 0..65536")
        return cls(task.name, params, _model_ref(data.get("model"), where), tile,
                   _mask_ref(data.get("mask"), where), _mask_ref(data.get("inside"), where))


def _text(value, where: str, limit: int = 400) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadInputError(f"{where} must be a short text")
    return value


def _model_ref(data, where: str) -> Optional[ModelRef]:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise BadInputError(f"{where}: model must be an object")
    digest = data.get("sha256")
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                   and all(c in "0123456789abcdef" for c in digest)):
        raise BadInputError(f"{where}: model sha256 must be 64 hex digits")
    path = data.get("path")
    return ModelRef(_text(data.get("name"), f"{where}: model name"),
                    _text(data.get("source"), f"{where}: model source", 20), digest,
                    _text(path, f"{where}: model path", 4096) if path is not None else None)


def _mask_ref(data, where: str) -> Optional[MaskRef]:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise BadInputError(f"{where}: mask must be an object")
    w, h = data.get("width"), data.get("height")
    for value in (w, h):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MASK_SIDE:
            raise BadInputError(f"{where}: mask size must be 1..{MAX_MASK_SIDE} pixels a side")
    return MaskRef(w, h, _text(data.get("sha256"), f"{where}: mask sha256", 64),
                   _text(data.get("bits"), f"{where}: mask bits", MAX_RECIPE_BYTES))


def recipe_dict(steps: list[RecipeStep]) -> dict:
    return {"restora_recipe": RECIPE_VERSION, "steps": [s.to_dict() for s in steps]}


def save_recipe(path, steps: list[RecipeStep], overwrite: bool = False) -> Path:
    from .imageio import atomic_write_bytes

    path = Path(path)
    if path.exists() and not overwrite:
        raise BadInputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.is_dir():
        raise BadInputError(f"{path.parent}: folder does not exist")
    try:
        atomic_write_bytes(path, (json.dumps(recipe_dict(steps), indent=1) + "\n").encode("utf-8"),
                           replace=overwrite)
    except FileExistsError:   # made by another program meanwhile
        raise BadInputError(f"{path}: already exists (pass --overwrite to replace it)") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


def load_recipe(path) -> list[RecipeStep]:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_RECIPE_BYTES:
            raise BadInputError(f"{path}: {size:,} bytes is too large for a recipe")
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BadInputError(f"{path}: recipe file not found") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:
        raise BadInputError(f"{path}: not a recipe (not valid JSON)") from exc
    return parse_recipe(data, str(path))


def parse_recipe(data, where: str = "recipe") -> list[RecipeStep]:
    if not isinstance(data, dict) or data.get("restora_recipe") is None:
        raise BadInputError(f"{printable(where, 200)}: not a Restora recipe (no \"restora_recipe\")")
    if data["restora_recipe"] != RECIPE_VERSION:
        raise BadInputError(f"{printable(where, 200)}: recipe version {printable(data['restora_recipe'], 20)} "
                            f"is not one this Restora reads ({RECIPE_VERSION})")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps or len(steps) > MAX_STEPS:
        raise BadInputError(f"{printable(where, 200)}: a recipe needs 1..{MAX_STEPS} steps")
    return [RecipeStep.from_dict(s, i) for i, s in enumerate(steps)]

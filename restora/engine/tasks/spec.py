"""A task is one object: what it is called, its typed parameters, what it needs and makes.

Each task module defines a frozen dataclass of parameters whose fields carry a
:class:`Param` (type, range, unit, help) and registers one :class:`Task`. The CLI's
subcommands and options, argument checking and recipes are all derived from that, so
adding a task is one module plus one ``register`` line (see ``catalog``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..jobs import BadInputError
from .common import check_int, check_number

# What a task needs besides its parameters, and what it makes.
MASK_NONE, MASK_OPTIONAL, MASK_REQUIRED = "none", "optional", "required"
OUTPUT_IMAGE, OUTPUT_IMAGES, OUTPUT_MASK = "image", "images", "mask"


@dataclass(frozen=True)
class Param:
    """One parameter, described once for checking, the command line and recipes."""
    help: str
    kind: type = float          # int or float
    lo: Optional[float] = None
    hi: Optional[float] = None
    lo_open: bool = False       # lo itself is not allowed (0 < sigma)
    choices: tuple = ()
    optional: bool = False      # None is allowed; ``help`` says what it means
    metavar: str = "N"
    # how a form shows it (the window's panel is generated from these; the CLI uses help)
    label: str = ""             # "σ" (default: the field name, capitalised)
    unit: str = ""              # "levels" (shown after the value)
    slider: bool = False        # a bounded number also gets a slider
    auto_text: str = ""         # what the "Automatic" box of an optional parameter says
    choice_format: str = "{:g}"  # how a choice is shown ("×{:g}")
    start: Optional[float] = None  # where a form's value starts when the default is None
    form: bool = True           # False: not on the generated form; the window has its own control
    count: int = 1              # values it takes: 2 is a pair (a tuple), e.g. two seeds
    metavars: tuple = ()        # the pair's names on the command line: ("SEED_A", "SEED_B")

    def check(self, name: str, value):
        """``value`` checked and converted; BadInputError naming ``name`` otherwise."""
        if value is None:
            if self.optional:
                return None
            raise BadInputError(f"{name} is required")
        if self.count > 1:
            if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) != self.count:
                text = repr(value)
                raise BadInputError(f"{name} takes {self.count} values, got {text[:40]}")
            return tuple(self.check_one(name, v) for v in value)
        return self.check_one(name, value)

    def check_one(self, name: str, value):
        """One value (of a pair, too) checked and converted."""
        if self.kind is int:
            value = check_int(name, value)
        else:
            value = check_number(name, value)
        if self.choices and value not in self.choices:
            raise BadInputError(f"{name} {value:g} is not supported: use one of "
                                f"{', '.join(f'{c:g}' for c in self.choices)}")
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        if low_bad or (self.hi is not None and value > self.hi):
            raise BadInputError(f"{name} {value:g} is out of range: use {self.span()}")
        return value

    def span(self) -> str:
        """The allowed values, for messages and help: "1..256", "0 < value <= 100", "1 or more"."""
        if self.choices:
            return ", ".join(f"{c:g}" for c in self.choices)
        if self.lo_open:
            return f"{self.lo:g} < value" + (f" <= {self.hi:g}" if self.hi is not None else "")
        if self.lo is not None and self.hi is not None:
            return f"{self.lo:g}..{self.hi:g}"
        return f"{self.lo:g} or more" if self.lo is not None else (
            f"at most {self.hi:g}" if self.hi is not None else "any value")


def param(default, **spec) -> Any:
    """A dataclass field with its :class:`Param` description."""
    return field(default=default, metadata={"param": Param(**spec)})


def fields_of(params_type) -> list[tuple[str, Param, Any]]:
    """(name, Param, default) of each parameter, in declaration order."""
    return [(f.name, f.metadata["param"], f.default) for f in dataclasses.fields(params_type)]


@dataclass(frozen=True)
class Task:
    name: str                    # the CLI command and the recipe's task name
    label: str                   # for people: "Denoise"
    summary: str                 # one line: what it does
    model_task: str              # the registry task of the models it runs
    Params: type                 # frozen dataclass of typed parameters
    run: Callable[..., Any]      # run(pixels, mask, params, **job) -> result (see runner)
    mask: str = MASK_NONE        # whether it takes a mask
    output: str = OUTPUT_IMAGE   # one image (the photo's), a set of images, or a mask of the photo
    takes_photo: bool = True
    inside_mask: bool = False    # can be limited to a painted area (--inside MASK)
    notes: dict = field(default_factory=dict)

    def parse(self, values: Optional[dict] = None):
        """Typed, checked parameters from a plain dict (unknown names are refused)."""
        values = dict(values or {})
        known = {name for name, _p, _d in fields_of(self.Params)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadInputError(f"{self.name}: unknown parameter '{unknown[0]}' "
                                f"(known: {', '.join(sorted(known)) or 'none'})")
        checked = {name: spec.check(name, values.get(name, default))
                   for name, spec, default in fields_of(self.Params)}
        return self.Params(**checked)


def as_plain(params) -> dict:
    """Parameters as JSON-ready values (recipes)."""
    out = {}
    for name, value in dataclasses.asdict(params).items():
        if isinstance(value, tuple):
            value = list(value)
        out[name] = value if not isinstance(value, float) or math.isfinite(value) else None
    return out

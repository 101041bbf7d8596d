"""Progress, cancellation and the errors a user can cause.

Every long engine call takes ``progress`` (a callable receiving the fraction done,
0.0..1.0) and ``cancel`` (a :class:`CancelToken`). Work checks the token between
tiles and raises :class:`Cancelled`; the caller then discards everything, so a
cancelled job never leaves a partial result behind.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional

ProgressFn = Callable[[float], None]


def no_progress(_fraction: float) -> None:
    """Default progress callback: ignore."""


class Cancelled(Exception):
    """Raised inside engine work when its CancelToken was cancelled."""


class CancelToken:
    """Thread-safe flag the GUI/CLI sets; the engine polls it between tiles."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


class RestoraError(Exception):
    """An error the user caused or can fix. ``str(e)`` is a one-line message for people."""


class BadInputError(RestoraError):
    """A missing, corrupt, unsupported or mismatched input file or parameter."""


class TooLargeError(BadInputError):
    """A photo whose header claims more pixels than the limit (a decompression bomb, or just
    a huge scan): refused before decoding. The person may raise the limit."""

    def __init__(self, message: str, width: int = 0, height: int = 0, limit: int = 0):
        super().__init__(message)
        self.width, self.height, self.limit = width, height, limit


class ModelError(RestoraError):
    """A model file that cannot be used (unrecognised, wrong task, unsafe...)."""


class UnsafeModelError(ModelError):
    """A model file that tries to run code when loaded."""


class UntrustedCodeError(ModelError):
    """A model file that is a program (TorchScript, torch.export): it runs only once the person
    trusts that exact file (its content hash). ``path`` names it, ``what`` says what kind of
    program it is, for people ("a TorchScript program")."""

    def __init__(self, message: str, path=None, what: str = "a program"):
        super().__init__(message)
        self.path, self.what = path, what


class OutOfMemoryError(RestoraError):
    """Even the smallest tile did not fit in the device's memory."""


@dataclass
class JobContext:
    """Progress + cancellation bundle handed through the layers of one job.

    ``sub(start, end)`` maps a sub-step's 0..1 progress into [start, end] of the
    whole job, so nested work reports one monotone fraction.
    """

    progress: ProgressFn = no_progress
    cancel: Optional[CancelToken] = None
    start: float = 0.0
    end: float = 1.0

    def report(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        self.progress(self.start + (self.end - self.start) * fraction)

    def check(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()

    def sub(self, start: float, end: float) -> "JobContext":
        span = self.end - self.start
        return JobContext(self.progress, self.cancel,
                          self.start + span * start, self.start + span * end)


def make_context(progress: Optional[ProgressFn], cancel: Optional[CancelToken]) -> JobContext:
    return JobContext(progress or no_progress, cancel)

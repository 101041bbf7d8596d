"""The one way the window runs engine work: a function on a QThread.

``Worker(fn, *args, **kwargs)`` calls ``fn(*args, progress=..., cancel=..., **kwargs)``
on its own thread and reports back through queued signals:

- ``progress(float)``  fraction done, throttled (at most one per ``PROGRESS_INTERVAL_S``)
- ``finished(object)`` the function's return value
- ``failed(str)``      a one-line message for people (RestoraError text, OOM, ...)
- ``cancelled()``      the CancelToken was set and the engine raised Cancelled

Exactly one of finished/failed/cancelled is emitted. ``cancel()`` only sets the
token: the engine stops at the next tile and nothing of the job is kept.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
import warnings
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..engine import CancelToken, Cancelled, RestoraError

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05

#: Workers still running; kept alive here so a QThread is never destroyed while it runs.
_alive: set["Worker"] = set()
_alive_lock = threading.Lock()


def describe_exception(exc: BaseException) -> str:
    """A message for people about an exception raised by engine work."""
    if isinstance(exc, RestoraError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ("Out of memory: the photo or model does not fit. Close other photos, "
                "choose a smaller model, or use the CPU.")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"Unexpected error ({type(exc).__name__}): {text}"


class _Runner(QObject):
    """Lives on the worker thread and calls the function; its signals cross back queued."""

    progress = Signal(float)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, fn, args, kwargs, pass_context: bool, token: CancelToken):
        super().__init__()
        self.fn, self.args, self.kwargs, self.pass_context, self.token = fn, args, kwargs, pass_context, token
        self._last_emit = 0.0

    def report(self, fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self.progress.emit(float(fraction))

    @Slot()
    def run(self) -> None:
        try:
            if self.token.cancelled:
                raise Cancelled("cancelled")
            kwargs = dict(self.kwargs)
            if self.pass_context:
                kwargs.update(progress=self.report, cancel=self.token)
            result = self.fn(*self.args, **kwargs)
            if self.token.cancelled:
                raise Cancelled("cancelled")
        except Cancelled:
            self.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - the window must survive anything
            if not isinstance(exc, RestoraError):
                log.error("engine job failed:\n%s", traceback.format_exc())
            self.failed.emit(describe_exception(exc))
        else:
            self.finished.emit(result)
        finally:
            self.fn = self.args = self.kwargs = None   # let go of the inputs (photos are big)
            self.ended.emit()
            self.thread().quit()


class Worker(QObject):
    """Runs ``fn`` on a new QThread. Lives on the GUI thread: connect anything to its signals."""

    progress = Signal(float)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    #: emitted last, after finished/failed/cancelled, whatever the outcome
    ended = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, pass_context: bool = True, **kwargs: Any):
        super().__init__()
        self.token = CancelToken()
        self._runner = _Runner(fn, args, kwargs, pass_context, self.token)
        self._thread: QThread | None = None
        self.started_at = 0.0
        self.result: Any = None
        self.error: str | None = None
        self.outcome: str | None = None   # "finished", "failed" or "cancelled"

    # --- GUI thread ------------------------------------------------------------
    def start(self) -> "Worker":
        with _alive_lock:
            _alive.add(self)
        self._thread = QThread()
        self._thread.setObjectName(getattr(self._runner.fn, "__name__", "job"))
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.progress.connect(self._on_progress)
        self._runner.finished.connect(self._on_finished)
        self._runner.failed.connect(self._on_failed)
        self._runner.cancelled.connect(self._on_cancelled)
        self._runner.ended.connect(self._on_ended)
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def running(self) -> bool:
        return self._thread is not None and self.outcome is None

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread ends (for shutdown and tests only)."""
        return self._thread.wait(ms) if self._thread is not None else True

    @Slot(float)
    def _on_progress(self, fraction: float) -> None:
        if self.outcome is None:
            self.progress.emit(fraction)

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        self.outcome, self.result = "finished", result
        self.finished.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.outcome, self.error = "failed", message
        self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.outcome = "cancelled"
        self.cancelled.emit()

    @Slot()
    def _on_ended(self) -> None:
        with _alive_lock:
            _alive.discard(self)
        self._thread.wait(2000)
        self.ended.emit()
        # Callers connect closures that capture this worker (and the photo). Qt holds those
        # closures, so the cycle is invisible to Python's collector: every finished job
        # would keep its input and result arrays forever. Nothing is emitted after this.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for signal in (self.progress, self.finished, self.failed, self.cancelled, self.ended):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass


def all_workers() -> list[Worker]:
    with _alive_lock:
        return list(_alive)


def wait_all(ms: int = 30000) -> None:
    """Cancel and wait for every running worker (window closing, tests)."""
    for w in all_workers():
        w.cancel()
    for w in all_workers():
        w.wait(ms)
    from PySide6.QtCore import QCoreApplication
    QCoreApplication.processEvents()


def show_fraction(bar, fraction: float) -> None:
    """A job's progress on a QProgressBar: busy (range 0..0, set when the job starts) until
    the first report above zero, then 0..1000."""
    if fraction > 0 and bar.maximum() == 0:
        bar.setRange(0, 1000)
    bar.setValue(int(fraction * 1000))

"""Keeping the image libraries' own warnings off the terminal: Pillow's Python warnings, what
libpng, libjpeg and libtiff print on file descriptor 2, and tifffile's logger."""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import warnings

# Pillow warns about odd files it reads anyway ("Corrupt EXIF data", "Truncated File Read"):
# we either read the file or refuse it with one line of our own, so those would only be noise.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")

_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr():
    """Point file descriptor 2 at the null device while a C decoder runs: libpng, libjpeg and
    libtiff print their warnings there directly ("libpng error: ..."), next to our own clear
    message. The lock keeps concurrent decodes from saving/restoring each other's descriptor;
    other threads' stderr output during a decode is lost, which is the price of doing it."""
    with _stderr_lock:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (pythonw): nothing to silence
            saved = None
        if saved is None:
            yield
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _QuietInThisThread:
    """A filter for tifffile's logger, which would print odd-tag warnings on stderr: drops the
    records of threads inside :func:`_quiet_tifffile` (installed once, so threads don't race)."""
    local = threading.local()

    def filter(self, _record) -> bool:
        return not getattr(self.local, "quiet", False)


@functools.lru_cache(maxsize=1)
def _tifffile_filter() -> _QuietInThisThread:
    import logging

    quiet = _QuietInThisThread()
    logging.getLogger("tifffile").addFilter(quiet)
    return quiet


@contextlib.contextmanager
def _quiet_tifffile():
    local = _tifffile_filter().local
    was, local.quiet = getattr(local, "quiet", False), True
    try:
        yield
    finally:
        local.quiet = was

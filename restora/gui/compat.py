"""Work-arounds for bugs in the Qt bindings, applied once when ``restora.gui`` is imported.

PySide6 6.12.0 on Python < 3.12: every call of a Qt method that returns nothing
(``widget.update()``, ``label.setText()``, ``app.processEvents()``...) takes one
reference from ``None`` without having given it. On Python 3.12+ ``None`` is immortal
and nothing happens; on 3.11 ``None``'s count (~60 000 after start-up) reaches zero
after that many calls — a few minutes of use — and the interpreter aborts with
"Fatal Python error: none_dealloc: deallocating None". Until the bindings are fixed
(or pinned to a release without the bug) we give ``None`` a reference count no session
can exhaust. ``None`` is never freed anyway, so this changes nothing else.
"""
from __future__ import annotations

import ctypes
import sys

#: 2**48 lost references = years of continuous calls
_NONE_REFERENCES = 1 << 48


def _bindings_leak_none() -> bool:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    try:
        import PySide6
        from PySide6.QtCore import QObject
    except ImportError:
        return False
    if not PySide6.__version__.startswith("6.12"):
        return False
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(8):
        probe.setObjectName("probe")        # returns nothing
    return sys.getrefcount(None) < before - 4


def protect_none_refcount() -> bool:
    """Apply the work-around if these bindings need it; True if applied."""
    if getattr(protect_none_refcount, "applied", False):
        return True
    if not _bindings_leak_none():
        return False
    refcount = ctypes.c_ssize_t.from_address(id(None))   # ob_refcnt, first field of every PyObject
    refcount.value += _NONE_REFERENCES
    protect_none_refcount.applied = True
    return True

"""Restora's desktop window (PySide6). Qt lives only in this package; pixels come from the engine."""
from .compat import protect_none_refcount

protect_none_refcount()

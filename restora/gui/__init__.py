"""Restora's desktop window (PySide6). Qt lives only in this package; pixels come from the engine."""

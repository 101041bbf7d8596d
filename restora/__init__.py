"""Restora: restore photos by hand."""
__version__ = "0.1.0"

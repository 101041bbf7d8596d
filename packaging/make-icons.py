#!/usr/bin/env python3
"""Render the Restora app icon into a freedesktop hicolor tree.

    .venv/bin/python packaging/make-icons.py

reads resources/icons/restora.svg and writes

    resources/icons/hicolor/<N>x<N>/apps/restora.png   for N in SIZES
    resources/icons/hicolor/scalable/apps/restora.svg  (a copy of the source)

The PNGs are committed (they are small), so a build does not need this script;
run it again after changing the SVG. Rendering uses PySide6's QSvgRenderer with
the offscreen Qt platform, so no display is needed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "resources" / "icons" / "restora.svg"
HICOLOR = ROOT / "resources" / "icons" / "hicolor"


def render(source: Path = SOURCE, hicolor: Path = HICOLOR, sizes=SIZES) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841 (keeps Qt alive)
    renderer = QSvgRenderer(str(source))
    if not renderer.isValid():
        raise SystemExit(f"make-icons: cannot read {source} as SVG")
    written = []
    for n in sizes:
        image = QImage(n, n, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        out = hicolor / f"{n}x{n}" / "apps" / "restora.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not image.convertToFormat(QImage.Format.Format_ARGB32).save(str(out), "PNG"):
            raise SystemExit(f"make-icons: cannot write {out}")
        written.append(out)
    scalable = hicolor / "scalable" / "apps" / "restora.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, scalable)
    written.append(scalable)
    return written


def main() -> int:
    for path in render():
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

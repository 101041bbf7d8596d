"""Start the window: ``restora [photos...]`` / ``python main.py [photos...]``."""
from __future__ import annotations

import logging
import os
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLE = """
QLabel#heading { color: #8a8f99; font-size: 11px; font-weight: 600; letter-spacing: 1px; padding-top: 4px; }
QLabel#hint { color: #9aa0aa; }
QLabel#emptyTitle { font-size: 28px; font-weight: 300; color: #e6e8ec; }
QPushButton#run { background: #3d6fd9; color: white; border: 1px solid #335fbd; border-radius: 4px;
                  padding: 6px 16px; font-weight: 600; }
QPushButton#run:hover { background: #4a7ce6; }
QPushButton#run:disabled { background: #3a3d44; color: #70747c; border-color: #3a3d44; }
QPushButton#link { color: #8fb0f5; border: none; padding: 2px 8px; text-align: left; }
QPushButton#link:hover { color: #b6cdfa; text-decoration: underline; }
QDockWidget::title { padding: 6px; background: #2b2d32; }
QToolBar { spacing: 2px; padding: 3px; border: none; }
QProgressBar { border: 1px solid #3a3d44; border-radius: 3px; background: #24262a; }
QProgressBar::chunk { background: #3d6fd9; border-radius: 2px; }
QListWidget { border: 1px solid #3a3d44; border-radius: 3px; }
QListWidget::item { padding: 3px; }
QLabel#statusField { color: #b4b8c0; padding: 0 10px; border-left: 1px solid #3a3d44; }
QFrame#sep { color: #3a3d44; background: #3a3d44; max-height: 1px; border: none; }
QTabBar::tab { background: #2b2d32; color: #9aa0aa; border: none; padding: 6px 10px 6px 14px; }
QTabBar::tab:selected { background: #26282c; color: #e6e8ec; border-bottom: 2px solid #3d6fd9; }
QTabWidget::pane { border: none; }
QUndoView, QListView { outline: none; }
QUndoView::item { padding: 3px; }
QTabBar { qproperty-drawBase: 0; }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor(30, 32, 36), QColor(43, 45, 50), QColor(224, 226, 230)
    p.setColor(QPalette.Window, window)
    p.setColor(QPalette.WindowText, text)
    p.setColor(QPalette.Base, base)
    p.setColor(QPalette.AlternateBase, window)
    p.setColor(QPalette.ToolTipBase, QColor(50, 52, 58))
    p.setColor(QPalette.ToolTipText, text)
    p.setColor(QPalette.Text, text)
    p.setColor(QPalette.Button, QColor(52, 54, 60))
    p.setColor(QPalette.ButtonText, text)
    p.setColor(QPalette.BrightText, QColor(255, 90, 90))
    p.setColor(QPalette.Highlight, QColor(61, 111, 217))
    p.setColor(QPalette.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.Link, QColor(143, 176, 245))
    p.setColor(QPalette.PlaceholderText, QColor(120, 124, 132))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor(112, 116, 124))
    app.setPalette(p)
    app.setStyleSheet(STYLE)


def no_display() -> bool:
    """Linux with no X11/Wayland display and no Qt platform chosen: Qt would abort (SIGABRT)."""
    return sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def run(argv: list[str]) -> int:
    """Open the window (with any photo paths in ``argv``) and run until it closes."""
    if QApplication.instance() is None and no_display():
        print("restora: error: no display to open the window on (set DISPLAY, or use the command line: "
              "restora --help)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "restora"])
    app.setApplicationName("Restora")
    app.setOrganizationName("Restora")
    app.setApplicationDisplayName("Restora")
    app.setDesktopFileName("restora")   # Wayland matches the window to restora.desktop (its icon, its entry)
    apply_theme(app)
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    paths = [a for a in argv if not a.startswith("-")]
    if paths:
        window.open_paths(paths)
    return app.exec()

"""Comparison with the photo as it was opened: Show Original and the split view (and the mode a
canvas gets when it comes to the front)."""
from __future__ import annotations


class CompareMixin:
    """``act_original`` and ``act_split`` exclude each other; the canvas in front shows the chosen mode."""

    def _compare_mode(self) -> str:
        """The comparison a canvas should show now: 'split', 'original' or 'normal'."""
        return "split" if self.act_split.isChecked() else "original" if self.act_original.isChecked() else "normal"

    def set_show_original(self, on: bool) -> None:
        canvas = self.current_canvas()
        if on and self.act_split.isChecked():
            self.act_split.setChecked(False)
        if canvas is not None:
            canvas.set_compare("original" if on else ("split" if self.act_split.isChecked() else "normal"))

    def set_split_view(self, on: bool) -> None:
        if on and self.act_original.isChecked():
            self.act_original.setChecked(False)
        canvas = self.current_canvas()
        if canvas is not None:
            canvas.set_compare("split" if on else "normal")
        if on:
            self.statusBar().showMessage("Split view: original on the left — drag the divider", 4000)

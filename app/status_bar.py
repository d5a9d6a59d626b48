"""The status bar: fixed slots that never overlap, each showing elided text with the full text as tooltip.

Slots, left to right: ``message`` (what just happened: opening, loading a model, a saved recording; it
takes the remaining width and clears itself after a while), ``rate`` (the achieved playback rate, e.g.
"0.4× real time, A2V every 5th frame"), ``fps``, ``timings`` (ms per stage), ``pose`` (the backend),
``pasta`` (on, or off and why) and ``rec`` (the file being recorded). Slot widths are fixed in characters
of the bar, so the layout does not jump when a text changes, and a long text is cut with
"…" instead of running under its neighbour.

Each slot's width is a fixed share of the bar (its stretch below), so the slots fit any window width and
never overlap.
"""
from __future__ import annotations

from typing import Optional

from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

# (slot, share of the bar's width)
SLOTS: tuple[tuple[str, int], ...] = (("message", 4), ("rate", 6), ("fps", 1), ("timings", 3), ("pose", 3),
                                      ("pasta", 4), ("rec", 2))


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits (cut with "…"); the tooltip has it all."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.full_text = ""
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # the text never widens the slot
        self.setTextFormat(Qt.PlainText)

    def set_full_text(self, text: str) -> None:
        text = " ".join(str(text).split())
        if text == self.full_text:
            return
        self.full_text = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        margin = 2 * self.margin() + 4
        super().setText(self.fontMetrics().elidedText(self.full_text, Qt.ElideRight, max(0, self.width() - margin)))


class StatusSlots(QWidget):
    """The slots above as one widget (added to ``QMainWindow.statusBar()`` as its only, permanent, item)."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.labels: dict[str, ElidedLabel] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(10)
        for name, share in SLOTS:
            label = ElidedLabel(self)
            label.setObjectName(f"status_{name}")
            row.addWidget(label, share)
            self.labels[name] = label
        fps = self.labels["fps"]  # the short slot always shows its whole number
        fps.setMinimumWidth(fps.fontMetrics().horizontalAdvance("999.9 fps") + 8)
        self._clear_timer = QTimer(self)
        self._clear_timer.setSingleShot(True)
        # A bound method, not a lambda: Qt then drops the connection with this widget (a lambda could run
        # after the widget was deleted, when a window closes with a message still timing out).
        self._clear_timer.timeout.connect(self.clear_message)

    def set(self, slot: str, text: str, style: str = "") -> None:
        label = self.labels[slot]
        label.set_full_text(text)
        if label.styleSheet() != style:
            label.setStyleSheet(style)

    def text(self, slot: str) -> str:
        """The slot's full text (what the tooltip shows)."""
        return self.labels[slot].full_text

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        """A message in the left slot; cleared after ``timeout_ms`` (0 = stays until replaced)."""
        self.set("message", text)
        if timeout_ms > 0:
            self._clear_timer.start(timeout_ms)
        else:
            self._clear_timer.stop()

    def clear_message(self) -> None:
        self._clear_timer.stop()
        self.set("message", "")

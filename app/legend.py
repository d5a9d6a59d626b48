"""The legend of body-part colours shown under the video: which colour is which PaSta group."""
from __future__ import annotations

from typing import Optional

from PyQt5.QtWidgets import QHBoxLayout, QLabel, QWidget

from engine.render.colors import group_color, text_color_on


class PartLegend(QWidget):
    """One chip per PaSta group (foot, leg, hip, hand, arm, head) in the colour the overlay and the
    timelines use for it; ``chips`` maps the group name to its label."""

    def __init__(self, vocab, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        title = QLabel("Body parts (labels \"part: state\"):")
        row.addWidget(title)
        self.chips: dict[str, QLabel] = {}
        for g, name in enumerate(vocab.groups):
            b, gr, r = group_color(name, g)
            tb, tg, tr = text_color_on((b, gr, r))
            chip = QLabel(name)
            chip.setObjectName(f"legend_{name}")
            chip.setStyleSheet(f"QLabel {{ background: rgb({r},{gr},{b}); color: rgb({tr},{tg},{tb}); "
                               f"padding: 1px 8px; border-radius: 3px; }}")
            row.addWidget(chip)
            self.chips[name] = chip
        row.addStretch(1)


"""The error banner above the video: what went wrong and the fix, non-modal, with a Dismiss button."""
from __future__ import annotations

from typing import Optional

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class ErrorBanner(QFrame):
    """A message strip above the video; hidden until :meth:`show_message`."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("error_banner")
        self.setStyleSheet("#error_banner { background: #fde2e1; border: 1px solid #d9534f; }"
                           "QLabel { color: #611a15; }")
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.dismiss_button)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


def fix_for_pipeline_error(exc: BaseException) -> str:
    """The fix to show after a :class:`engine.pipeline.PipelineError`, by the stage that failed."""
    stage = getattr(exc, "stage", "")
    if stage == "source":
        return "the input stopped delivering frames: check the file or the connection, then open it again (File → Open)"
    if stage.startswith("sink") or stage == "recording":
        return "an output could not be written: check free disk space and the folder's permissions"
    return "change the settings (e.g. the pose backend or device) and press Restart, or open the source again"

"""The transport bar under the video: play/pause, step, the position slider, speed and record.

The bar only holds the widgets and shows the player's state (:meth:`TransportBar.show_state`,
:meth:`TransportBar.show_position`); the window connects the buttons to what they do.
"""
from __future__ import annotations

from typing import Optional

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QStyle, QWidget

# Speed choices: a factor of the file's frame rate (real time at 1×), or None = every frame, as fast as
# the stages go ("max").
SPEEDS = (("0.25×", 0.25), ("0.5×", 0.5), ("1×", 1.0), ("2×", 2.0), ("4×", 4.0), ("max", None))
DEFAULT_SPEED_INDEX = 2


class TransportBar(QWidget):
    """Play/pause, step, slider (frame index), position text, speed combo, record toggle."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        style = self.style()
        self.play_button = QPushButton(style.standardIcon(QStyle.SP_MediaPause), "Pause")
        self.step_button = QPushButton(style.standardIcon(QStyle.SP_MediaSkipForward), "Step")
        self.slider = QSlider(Qt.Horizontal)
        self.position_label = QLabel("")
        self.position_label.setMinimumWidth(80)
        self.speed_combo = QComboBox()
        self.speed_combo.setToolTip("1× plays files in real time (slow stages then skip frames); "
                                    "max processes every frame as fast as the stages go")
        for text, value in SPEEDS:
            self.speed_combo.addItem(text, value)
        self.speed_combo.setCurrentIndex(DEFAULT_SPEED_INDEX)
        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.play_button)
        row.addWidget(self.step_button)
        row.addWidget(self.slider, 1)
        for widget in (self.position_label, QLabel("speed"), self.speed_combo, self.record_button):
            row.addWidget(widget)

    def show_state(self, *, playing: bool, can_play: bool, can_step: bool, frame_count: int, seekable: bool,
                   can_change_speed: bool, can_record: bool, recording: bool) -> None:
        style = self.style()
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.setIcon(style.standardIcon(QStyle.SP_MediaPause if playing else QStyle.SP_MediaPlay))
        self.play_button.setEnabled(can_play)
        self.step_button.setEnabled(can_step)
        self.slider.setEnabled(seekable and frame_count > 0)
        self.slider.setRange(0, max(0, frame_count - 1))
        self.speed_combo.setEnabled(can_change_speed)
        self.record_button.setEnabled(can_record)
        self.record_button.setChecked(recording)

    def show_position(self, index: int, total: Optional[int]) -> None:
        """Move the slider to frame ``index`` (unless the user holds it) without seeking, and say where."""
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self.position_label.setText(f"{index + 1}/{total}" if total else f"frame {index}")

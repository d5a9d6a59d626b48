"""Settings dock: the config knobs a user changes while watching, built from engine.config's dataclasses.

Each field becomes the editor its type asks for (bool → check box, int → spin box, float → decimal spin
box, str with choices → combo box, other str → line edit), with the field's help as tooltip. A change
emits ``changed("section.key", value)``; the window decides how it is applied (see
``MainWindow.apply_setting``): overlay toggles at once, tracker knobs live when the tracker supports it,
the rest at the next (re)start, announced under the form with a "Restart now" button.

Settings change only on deliberate input: spin boxes and combo boxes take focus by click or Tab, never
by the wheel, and a wheel turned over one that has no focus scrolls the dock instead (people scroll the
dock with the pointer over its fields).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Optional

from PyQt5.QtCore import QEvent, QObject, QPointF, Qt, pyqtSignal
from PyQt5.QtGui import QWheelEvent
from PyQt5.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.config import Config

# (section, keys) shown in the dock, in order; section "" = top-level keys.
SHOWN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("device",)),
    ("pose", ("backend", "score_threshold", "max_persons", "mediapipe_confidence", "detector")),
    ("tracker", ("max_age", "min_hits", "iou_threshold", "second_pass", "high_score", "low_score")),
    ("a2v", ("enabled", "stride", "mode")),
    ("render", ("box", "id_badge", "skeleton", "part_boxes", "part_states", "actions", "hud", "sidebar",
                "show_unconfirmed", "top_k_actions", "keypoint_threshold", "state_threshold",
                "action_threshold", "text_scale")),
)
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:0", "cuda:1")


class WheelGuard(QObject):
    """Event filter: a wheel event over a watched field without keyboard focus is not the field's; it goes
    to the scroll area around the field (which scrolls), or on to the parents when there is none."""

    def watch(self, editor: QWidget) -> None:
        editor.setFocusPolicy(Qt.StrongFocus)  # not Qt.WheelFocus: the wheel must not focus it either
        editor.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if event.type() != QEvent.Wheel or not isinstance(obj, QWidget) or obj.hasFocus():
            return False
        area = obj.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is None:
            event.ignore()  # ignored + filtered: Qt hands a real (spontaneous) wheel event to the parents
            return True
        # Handed to the scroll area ourselves: Qt does not pass synthesized wheel events on to parents.
        viewport = area.viewport()
        position = viewport.mapFromGlobal(obj.mapToGlobal(event.position().toPoint()))
        forwarded = QWheelEvent(QPointF(position), event.globalPosition(), event.pixelDelta(), event.angleDelta(),
                                event.buttons(), event.modifiers(), event.phase(), event.inverted())
        QApplication.sendEvent(viewport, forwarded)
        return True


class SettingsDock(QDockWidget):
    changed = pyqtSignal(str, object)
    restart_requested = pyqtSignal()

    def __init__(self, config: Config, parent: Optional[QWidget] = None) -> None:
        super().__init__("Settings", parent)
        self.setObjectName("settings_dock")
        self.editors: dict[str, QWidget] = {}
        self.wheel_guard = WheelGuard(self)
        body = QWidget()
        layout = QVBoxLayout(body)
        for section, keys in SHOWN:
            obj = getattr(config, section) if section else config
            box = QGroupBox(section or "run")
            form = QFormLayout(box)
            hints = typing.get_type_hints(type(obj))
            fields = {f.name: f for f in dataclasses.fields(obj)}
            for key in keys:
                dotted = f"{section}.{key}" if section else key
                editor = self._editor(dotted, fields[key], hints[key], getattr(obj, key))
                editor.setToolTip(fields[key].metadata.get("help", "") or dotted)
                self.editors[dotted] = editor
                if isinstance(editor, (QSpinBox, QDoubleSpinBox, QComboBox)):
                    self.wheel_guard.watch(editor)
                form.addRow(key.replace("_", " "), editor)
            layout.addWidget(box)
        self.pending_label = QLabel("")
        self.pending_label.setWordWrap(True)
        self.restart_button = QPushButton("Restart now")
        self.restart_button.clicked.connect(self.restart_requested)
        self.restart_button.setVisible(False)
        layout.addWidget(self.pending_label)
        layout.addWidget(self.restart_button)
        layout.addStretch(1)
        scroll = QScrollArea()
        self.scroll_area = scroll
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        self.setWidget(scroll)

    def _editor(self, dotted: str, f: dataclasses.Field, tp, value) -> QWidget:
        emit = lambda v, key=dotted: self.changed.emit(key, v)  # noqa: E731
        if tp is bool:
            editor = QCheckBox()
            editor.setChecked(bool(value))
            editor.toggled.connect(emit)
        elif tp is int:
            editor = QSpinBox()
            editor.setRange(int(f.metadata.get("min", 0)), 100000)
            editor.setValue(int(value))
            editor.valueChanged.connect(emit)
        elif tp is float:
            editor = QDoubleSpinBox()
            editor.setDecimals(2)
            editor.setSingleStep(0.05)
            editor.setRange(float(f.metadata.get("min", 0.0)), 1000.0)
            editor.setValue(float(value))
            editor.valueChanged.connect(emit)
        elif f.metadata.get("choices") or dotted == "device":
            editor = QComboBox()
            choices = list(f.metadata.get("choices") or DEVICE_CHOICES)
            if value not in choices:
                choices.append(value)
            editor.addItems(choices)
            editor.setCurrentText(str(value))
            if dotted == "device":
                editor.setEditable(True)
            editor.currentTextChanged.connect(emit)
        else:
            editor = QLineEdit(str(value))
            editor.editingFinished.connect(lambda e=editor, key=dotted: self.changed.emit(key, e.text()))
        return editor

    def set_value(self, dotted: str, value) -> None:
        """Show ``value`` without emitting ``changed`` (e.g. after a rejected edit)."""
        editor = self.editors[dotted]
        editor.blockSignals(True)
        try:
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(value)
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            else:
                editor.setText(str(value))
        finally:
            editor.blockSignals(False)

    def set_pending(self, keys: list[str]) -> None:
        """Announce changes that wait for a restart of the pipeline."""
        if keys:
            self.pending_label.setText("Applied at the next start: " + ", ".join(keys)
                                       + ". Restart now to use them (the video continues where it is).")
        else:
            self.pending_label.setText("")
        self.restart_button.setVisible(bool(keys))
        self.pending_label.setAlignment(Qt.AlignLeft)

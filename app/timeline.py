"""The selected person's timelines, readable at a glance, with every number one click away.

- :class:`SegmentRows`: one row per body part (foot, leg, hip, hand, arm, head), each showing the part's
  most likely state over time as coloured segments labelled with the state ("hold", "ride"); the same for
  the actions (rows: the 1st, 2nd and 3rd most likely action). Colours: the part's colour (as in the
  video overlay and the legend), alternating light and dark between neighbouring states; grey where the
  most likely state is no_interaction; empty where the person was not seen or had no PaSta. Hovering a
  row says frame, time, state and probability.
- :class:`Heatmap`: every state (93 PaSta rows in six labelled bands, or 157 action rows) × frames, colour
  = probability; opened in its own window (:class:`HeatmapWindow`) by the "All 93 states…" / "All 157
  actions…" buttons, so each row gets pixels to be read; hover names the state and its probability.
- :class:`TimelinePanel`: both segment views, the two buttons, the hover line and the title.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QPainter, QPen
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolTip, QVBoxLayout, QWidget

from app.qtimage import qcolor
from app.status_bar import ElidedLabel
from engine.render.colors import group_color

ROW_HEIGHT = 18
NAME_WIDTH = 60        # left column with the row names
AXIS_HEIGHT = 16       # frame numbers under the rows
NONE_COLOR = QColor(215, 215, 215)
EMPTY_COLOR = QColor(250, 250, 250)
MARK_COLOR = QColor(255, 215, 0, 80)    # search result regions
MARK_EDGE = QColor(200, 150, 0)


@dataclass
class Row:
    """One timeline row: ``labels`` (T,) int (index into ``names``; -1 = no data), ``probs`` (T,) float
    probability of that label, ``color(label) -> QColor``, ``none_label`` the label drawn grey (or -1)."""

    name: str
    labels: np.ndarray
    probs: np.ndarray
    names: Sequence[str]
    color: Callable[[int], QColor]
    none_label: int = -1


def segments(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of equal labels as (start, stop, label), stop exclusive; runs of -1 (no data) are left out."""
    out = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            if labels[start] >= 0:
                out.append((start, i, int(labels[start])))
            start = i
    return out


def _shade(color: QColor, state: int) -> QColor:
    """Neighbouring states of one part in two shades of the part's colour, so a change is visible."""
    return color.lighter(135) if state % 2 else color.darker(112)


class SegmentRows(QWidget):
    """Rows of labelled segments over consecutive frames (see the module docstring).

    ``hovered(text)`` fires when the pointer moves over a row: "frame 120 · 4.80 s · hand: hold 0.81".
    """

    hovered = pyqtSignal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.frames = np.zeros(0, np.int64)
        self.times = np.zeros(0, np.float64)
        self.rows: list[Row] = []
        self.cursor = -1
        self.marks: list[tuple[int, int]] = []   # (start_frame, end_frame) inclusive: search results
        self.hover_text = ""
        self.setMouseTracking(True)
        self.setMinimumHeight(AXIS_HEIGHT + ROW_HEIGHT * 3)

    def set_rows(self, frames: np.ndarray, times: np.ndarray, rows: list[Row]) -> None:
        """``frames`` (T,) consecutive frame indices, ``times`` (T,) seconds (NaN = not seen), the rows."""
        self.frames, self.times, self.rows = np.asarray(frames), np.asarray(times, np.float64), rows
        self.setMinimumHeight(AXIS_HEIGHT + ROW_HEIGHT * max(1, len(rows)) + 2)
        self.update()

    def set_cursor(self, frame: int) -> None:
        self.cursor = int(frame)
        self.update()

    def set_marks(self, marks: Sequence[tuple[int, int]]) -> None:
        """Frame ranges (start, end), inclusive, drawn as translucent regions over the rows."""
        self.marks = [(int(a), int(b)) for a, b in marks]
        self.update()

    def mark_rects(self) -> list[QRectF]:
        """The widget rectangles of the marks that overlap the shown frames (clipped to them)."""
        if not len(self.frames) or not self.rows:
            return []
        plot, first, n = self._plot_rect(), int(self.frames[0]), len(self.frames)
        rects = []
        for start, end in self.marks:
            lo, hi = max(start - first, 0), min(end - first + 1, n)
            if hi > lo:
                x1, x2 = self.x_of(lo), self.x_of(hi)
                rects.append(QRectF(x1, plot.y(), max(2.0, x2 - x1), plot.height()))
        return rects

    # ---------------------------------------------------------------------------------------- geometry
    def _plot_rect(self) -> QRectF:
        return QRectF(NAME_WIDTH, 0, max(1, self.width() - NAME_WIDTH - 4), ROW_HEIGHT * len(self.rows))

    def x_of(self, column: float) -> float:
        """Widget x of column ``column`` (0 = the first frame's left edge)."""
        plot = self._plot_rect()
        return plot.x() + column * plot.width() / max(1, len(self.frames))

    def hit(self, x: float, y: float) -> Optional[tuple[int, int]]:
        """(row, column) under widget point (x, y), or None."""
        plot = self._plot_rect()
        if not len(self.frames) or not plot.contains(x, y):
            return None
        column = int((x - plot.x()) * len(self.frames) / plot.width())
        return int((y - plot.y()) // ROW_HEIGHT), min(max(column, 0), len(self.frames) - 1)

    def describe(self, row: int, column: int) -> str:
        """The hover text of one cell."""
        r = self.rows[row]
        frame = int(self.frames[column])
        t = self.times[column]
        when = f"frame {frame} · {t:.2f} s" if np.isfinite(t) else f"frame {frame}"
        label = int(r.labels[column])
        if label < 0:
            return f"{when} · {r.name}: not seen / no PaSta"
        return f"{when} · {r.name}: {r.names[label]} {float(r.probs[column]):.2f}"

    # ------------------------------------------------------------------------------------------ events
    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt name
        cell = self.hit(event.pos().x(), event.pos().y())
        if cell is None:
            return
        self.hover_text = self.describe(*cell)
        self.hovered.emit(self.hover_text)
        QToolTip.showText(event.globalPos(), self.hover_text, self)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        plot = self._plot_rect()
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.85))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        n = len(self.frames)
        for r, row in enumerate(self.rows):
            top = plot.y() + r * ROW_HEIGHT
            painter.setPen(self.palette().windowText().color())
            painter.drawText(QRectF(2, top, NAME_WIDTH - 6, ROW_HEIGHT), Qt.AlignVCenter | Qt.AlignRight, row.name)
            painter.fillRect(QRectF(plot.x(), top + 1, plot.width(), ROW_HEIGHT - 2), EMPTY_COLOR)
            for start, stop, label in segments(row.labels) if n else []:
                x1, x2 = self.x_of(start), self.x_of(stop)
                rect = QRectF(x1, top + 1, max(1.0, x2 - x1), ROW_HEIGHT - 2)
                color = NONE_COLOR if label == row.none_label else row.color(label)
                painter.fillRect(rect, color)
                if rect.width() > 18 and label != row.none_label:
                    painter.setPen(QColor(0, 0, 0) if color.lightness() > 120 else QColor(255, 255, 255))
                    text = metrics.elidedText(row.names[label], Qt.ElideRight, int(rect.width()) - 4)
                    painter.drawText(rect.adjusted(2, 0, -2, 0), Qt.AlignVCenter | Qt.AlignLeft, text)
        for rect in self.mark_rects():   # search results: translucent yellow, the rows stay readable
            painter.fillRect(rect, MARK_COLOR)
            painter.setPen(QPen(MARK_EDGE, 1))
            painter.drawRect(rect)
        # frame axis: first, middle, last frame numbers
        painter.setPen(self.palette().windowText().color())
        axis_top = plot.y() + plot.height() + 1
        if n:
            spots = ((0, plot.x(), Qt.AlignLeft), (n // 2, self.x_of(n // 2 + 0.5) - 60, Qt.AlignHCenter),
                     (n - 1, plot.right() - 120, Qt.AlignRight))
            for column, left, align in spots:
                painter.drawText(QRectF(left, axis_top, 120, AXIS_HEIGHT), align | Qt.AlignTop,
                                 f"frame {int(self.frames[column])}" if column == 0 else str(int(self.frames[column])))
            if self.frames[0] <= self.cursor <= self.frames[-1]:
                x = self.x_of(self.cursor - self.frames[0] + 0.5)
                painter.setPen(QPen(QColor(220, 40, 40), 2))
                painter.drawLine(int(x), int(plot.y()), int(x), int(plot.bottom()))
        painter.end()


class Heatmap(QWidget):
    """Every row (state or action) × frames, colour = probability (0 dark → 1 bright), NaN transparent.

    ``row_names`` name the rows (hover); ``bands`` (name, slice, BGR colour) label groups of rows on the
    left axis and separate them with a line (the six PaSta groups); without bands, rows are ticked by
    name where they fit.
    """

    def __init__(self, row_names: Sequence[str], bands: Sequence[tuple[str, slice, tuple]] = (),
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.row_names = list(row_names)
        self.frames = np.zeros(0, np.int64)
        self.times = np.zeros(0, np.float64)
        self.values = np.zeros((0, len(self.row_names)), np.float32)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.invertY(True)
        self.plot.setLabel("bottom", "frame")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 80, 80), width=2))
        self.plot.addItem(self.cursor)
        ticks, minor = [], []
        for name, band, bgr in bands:
            ticks.append(((band.start + band.stop) / 2.0, name))
            if band.start > 0:
                self.plot.addItem(pg.InfiniteLine(pos=band.start, angle=0, movable=False,
                                                  pen=pg.mkPen(qcolor(bgr), width=1)))
        if not bands:
            minor = [(i + 0.5, n) for i, n in enumerate(self.row_names)]
        self.plot.getAxis("left").setTicks([ticks or minor, []])
        self.plot.setYRange(0, len(self.row_names), padding=0)
        self.plot.setXRange(0, 100, padding=0)  # before data: a plain axis, never a collapsed range
        self.message = pg.TextItem("", color=(230, 230, 230), anchor=(0.5, 0.5))
        self.message.setZValue(10)
        self.plot.addItem(self.message)
        self.hover = QLabel(" ")
        self.hover.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover)

    def set_data(self, frames: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """``frames`` (T,) consecutive indices, ``times`` (T,), ``values`` (T, rows) probabilities (NaN = none)."""
        self.frames, self.times = np.asarray(frames), np.asarray(times, np.float64)
        self.values = np.asarray(values, np.float32)
        if len(self.frames) == 0:
            self.image.clear()
            self.plot.setXRange(0, 100, padding=0)
            return
        self.image.setImage(self.values.T, levels=(0.0, 1.0), autoLevels=False)
        self.image.setRect(QRectF(float(self.frames[0]) - 0.5, 0.0, float(len(self.frames)),
                                  float(self.values.shape[1])))
        self.plot.setXRange(float(self.frames[0]) - 0.5, float(self.frames[-1]) + 0.5, padding=0.02)
        self.plot.setYRange(0, self.values.shape[1], padding=0)

    def set_cursor(self, frame: int) -> None:
        self.cursor.setValue(float(frame))

    def value_at(self, frame: int, row: int) -> Optional[float]:
        """The probability shown at (``frame``, ``row``), or None (not seen / no data)."""
        if len(self.frames) == 0 or not (self.frames[0] <= frame <= self.frames[-1]):
            return None
        value = float(self.values[int(frame - self.frames[0]), row])
        return None if np.isnan(value) else value

    def describe(self, frame: int, row: int) -> str:
        value = self.value_at(frame, row)
        shown = "not seen / no data" if value is None else f"{value:.2f}"
        t = self.times[int(frame - self.frames[0])] if len(self.frames) and self.frames[0] <= frame <= \
            self.frames[-1] else np.nan
        when = f"frame {frame} · {t:.2f} s" if np.isfinite(t) else f"frame {frame}"
        return f"{when} · {self.row_names[row]}: {shown}"

    def _on_mouse_moved(self, position) -> None:
        if len(self.frames) == 0:
            return
        point = self.plot.getPlotItem().vb.mapSceneToView(position)
        frame, row = int(round(point.x())), int(np.floor(point.y()))
        if 0 <= row < len(self.row_names):
            self.hover.setText(self.describe(frame, row))


class HeatmapWindow(QWidget):
    """A :class:`Heatmap` in its own resizable window (non-modal, stays in front of the main window)."""

    def __init__(self, title: str, heatmap: Heatmap, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent, Qt.Window)
        self.setWindowTitle(title)
        self.heatmap = heatmap
        layout = QVBoxLayout(self)
        layout.addWidget(heatmap)
        self.resize(1000, 820)


class TimelinePanel(QWidget):
    """The selected person's part-state rows and action rows, with the full heatmaps one click away."""

    def __init__(self, vocab, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.vocab = vocab
        self.frames = np.zeros(0, np.int64)
        self.times = np.zeros(0, np.float64)
        self.pasta = np.zeros((0, len(vocab.pasta)), np.float32)
        self.actions = np.zeros((0, len(vocab.actions)), np.float32)
        self.marks: list[tuple[int, int]] = []
        self.title = ElidedLabel()
        self.title.set_full_text("Timeline: select a person")
        self.parts = SegmentRows()
        self.action_rows = SegmentRows()
        self.hover = QLabel(" ")
        self.hover.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message = QLabel("")
        self.message.setStyleSheet("color: #b35c00;")
        self.message.hide()
        for rows in (self.parts, self.action_rows):
            rows.hovered.connect(self.hover.setText)
        bands = [(name, band, group_color(name, g)) for g, (name, band)
                 in enumerate(zip(vocab.groups, vocab.group_slices))]
        self.pasta_heatmap = Heatmap([vocab.pasta_label(i) for i in range(len(vocab.pasta))], bands)
        self.action_heatmap = Heatmap([f"action: {a}" for a in vocab.actions])
        self.pasta_window = HeatmapWindow("a2v — all 93 PaSta states", self.pasta_heatmap, self)
        self.action_window = HeatmapWindow("a2v — all 157 actions", self.action_heatmap, self)
        self.all_states_button = QPushButton("All states…")
        self.all_states_button.setToolTip(f"all {len(vocab.pasta)} PaSta states' probabilities over time, "
                                          "in their own window")
        self.all_states_button.clicked.connect(self.show_all_states)
        self.all_actions_button = QPushButton("All actions…")
        self.all_actions_button.setToolTip(f"all {len(vocab.actions)} actions' probabilities over time, "
                                           "in their own window")
        self.all_actions_button.clicked.connect(self.show_all_actions)
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("export every frame of this person: the 93 state and 157 action "
                                   "probabilities, and the rows shown here")
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("export this timeline as an image")
        buttons = QHBoxLayout()
        for button in (self.csv_button, self.png_button, self.all_states_button, self.all_actions_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self.parts)
        layout.addWidget(self.action_rows)
        layout.addWidget(self.hover)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def show_all_states(self) -> None:
        """The 93-state heatmap in its own window."""
        self.pasta_window.show()
        self.pasta_window.raise_()

    def show_all_actions(self) -> None:
        """The 157-action heatmap in its own window."""
        self.action_window.show()
        self.action_window.raise_()

    def set_title(self, text: str) -> None:
        self.title.set_full_text(text)

    def set_message(self, text: str) -> None:
        """A line shown above the rows (e.g. why there is no PaSta); "" hides it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def set_data(self, frames: np.ndarray, times: np.ndarray, pasta: np.ndarray,
                 actions: Optional[np.ndarray] = None) -> None:
        """``frames`` (T,) consecutive indices, ``times`` (T,) s, ``pasta`` (T, 93) and ``actions`` (T, 157)
        probabilities with NaN rows where the person was not seen or had no PaSta."""
        v = self.vocab
        self.frames, self.times = np.asarray(frames), np.asarray(times, np.float64)
        self.pasta = np.asarray(pasta, np.float32)
        self.actions = (np.full((len(self.frames), len(v.actions)), np.nan, np.float32) if actions is None
                        else np.asarray(actions, np.float32))
        self.parts.set_rows(self.frames, self.times, self._part_rows())
        self.action_rows.set_rows(self.frames, self.times, self._action_rows())
        self.pasta_heatmap.set_data(self.frames, self.times, self.pasta)
        self.action_heatmap.set_data(self.frames, self.times, self.actions)

    def _part_rows(self) -> list[Row]:
        v = self.vocab
        rows = []
        seen = ~np.isnan(self.pasta).any(axis=1) if len(self.pasta) else np.zeros(0, bool)
        for g, (name, band) in enumerate(zip(v.groups, v.group_slices)):
            probs = np.nan_to_num(self.pasta[:, band], nan=-1.0)
            best = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
            labels = np.where(seen, best, -1)
            top = probs[np.arange(len(best)), best] if len(best) else np.zeros(0)
            names = [s.replace("_", " ") for s in v.pasta[band]]
            none = next((i for i, s in enumerate(v.pasta[band]) if s.replace(" ", "_") == "no_interaction"), -1)
            base = qcolor(group_color(name, g))
            rows.append(Row(name, labels, top, names, lambda k, c=base: _shade(c, k), none))
        return rows

    def _action_rows(self) -> list[Row]:
        v = self.vocab
        probs = np.nan_to_num(self.actions, nan=-1.0).copy()
        seen = ~np.isnan(self.actions).any(axis=1) if len(self.actions) else np.zeros(0, bool)
        if probs.shape[1] > v.action_no_interaction:
            probs[:, v.action_no_interaction] = -2.0  # "no interaction" is not an action to list
        order = np.argsort(-probs, axis=1, kind="stable")[:, :3] if len(probs) else np.zeros((0, 3), np.int64)
        names = [a.replace("_", " ") for a in v.actions]
        rows = []
        for rank, title in enumerate(("action 1", "action 2", "action 3")):
            labels = np.where(seen, order[:, rank], -1) if len(order) else np.zeros(0, np.int64)
            top = probs[np.arange(len(labels)), order[:, rank]] if len(order) else np.zeros(0)
            rows.append(Row(title, labels, top, names, _action_color))
        return rows

    def set_marks(self, marks: Sequence[tuple[int, int]]) -> None:
        """Search results of the shown person: ``[(start_frame, end_frame), ...]`` inclusive, drawn as
        translucent regions over the part and action rows."""
        self.marks = [(int(a), int(b)) for a, b in marks]
        self.parts.set_marks(self.marks)
        self.action_rows.set_marks(self.marks)

    def set_cursor(self, frame: int) -> None:
        self.parts.set_cursor(frame)
        self.action_rows.set_cursor(frame)
        self.pasta_heatmap.set_cursor(frame)
        self.action_heatmap.set_cursor(frame)

    def value_at(self, frame: int, state: int) -> Optional[float]:
        """PaSta ``state``'s probability at ``frame`` as shown, or None (not seen / no PaSta)."""
        return self.pasta_heatmap.value_at(frame, state)


def _action_color(action: int) -> QColor:
    """A fixed, distinct pastel colour per action (golden-angle hues)."""
    return QColor.fromHsv(int(action * 137.5) % 360, 110, 235)

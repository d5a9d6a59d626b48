"""The selected person's PaSta timeline: a heatmap of the 93 part-state probabilities over frames.

Rows are the 93 states, grouped in the six PaSta groups (foot, leg, hip, hand, arm, head; each band
labelled on the left axis and separated by a line); columns are frame indices; colour is probability
(0 → dark, 1 → bright). Frames where the person was not seen, or had no PaSta, are left empty
(transparent). A vertical line is the time cursor (the frame shown in the view). Hovering names the state
and its probability.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QRectF, Qt
from PyQt5.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.qtimage import qcolor
from engine.render.colors import group_color


class PastaTimeline(QWidget):
    """Heatmap widget; feed it with :meth:`set_data` and :meth:`set_cursor`."""

    def __init__(self, vocab, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.vocab = vocab
        self.frames = np.zeros(0, np.int64)
        self.pasta = np.zeros((0, len(vocab.pasta)), np.float32)
        self.title = QLabel("PaSta timeline: select a person")
        self.hover = QLabel(" ")
        self.hover.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.invertY(True)
        self.plot.setLabel("bottom", "frame")
        self.plot.setMinimumHeight(150)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 80, 80), width=2))
        self.plot.addItem(self.cursor)
        self._add_group_bands()
        self.message = pg.TextItem("", color=(230, 230, 230), anchor=(0.5, 0.5))
        self.message.setZValue(10)
        self.plot.addItem(self.message)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover)

    def _add_group_bands(self) -> None:
        ticks = []
        for g, (name, band) in enumerate(zip(self.vocab.groups, self.vocab.group_slices)):
            ticks.append(((band.start + band.stop) / 2.0, name))
            if band.start > 0:
                self.plot.addItem(pg.InfiniteLine(pos=band.start, angle=0, movable=False,
                                                  pen=pg.mkPen(qcolor(group_color(name, g)), width=1)))
        axis = self.plot.getAxis("left")
        axis.setTicks([ticks, []])
        self.plot.setYRange(0, len(self.vocab.pasta), padding=0)

    def set_title(self, text: str) -> None:
        self.title.setText(text)

    def set_data(self, frames: np.ndarray, pasta: np.ndarray) -> None:
        """``frames`` (T,) consecutive frame indices, ``pasta`` (T, 93) probabilities, NaN = no data."""
        self.frames, self.pasta = np.asarray(frames), np.asarray(pasta, np.float32)
        if len(self.frames) == 0:
            self.image.clear()
            return
        # row-major image: rows = states, columns = frames; NaN pixels are drawn transparent.
        self.image.setImage(self.pasta.T, levels=(0.0, 1.0), autoLevels=False)
        self.image.setRect(QRectF(float(self.frames[0]) - 0.5, 0.0, float(len(self.frames)),
                                  float(self.pasta.shape[1])))
        self.plot.setXRange(float(self.frames[0]) - 0.5, float(self.frames[-1]) + 0.5, padding=0.02)
        self.plot.setYRange(0, self.pasta.shape[1], padding=0)

    def set_message(self, text: str) -> None:
        """A line shown over the heatmap (e.g. why there is no PaSta); "" hides it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        view = self.plot.getPlotItem().vb.viewRange()
        self.message.setPos((view[0][0] + view[0][1]) / 2.0, (view[1][0] + view[1][1]) / 2.0)

    def set_cursor(self, frame: int) -> None:
        self.cursor.setValue(float(frame))

    def value_at(self, frame: int, state: int) -> Optional[float]:
        """Probability of PaSta ``state`` at ``frame`` as displayed, or None (not seen / no PaSta)."""
        if len(self.frames) == 0 or not (self.frames[0] <= frame <= self.frames[-1]):
            return None
        value = float(self.pasta[int(frame - self.frames[0]), state])
        return None if np.isnan(value) else value

    def _on_mouse_moved(self, position) -> None:
        if len(self.frames) == 0:
            return
        point = self.plot.getPlotItem().vb.mapSceneToView(position)
        frame, state = int(round(point.x())), int(np.floor(point.y()))
        if not (0 <= state < len(self.vocab.pasta)):
            return
        value = self.value_at(frame, state)
        shown = "not seen / no PaSta" if value is None else f"{value:.2f}"
        self.hover.setText(f"frame {frame} · {self.vocab.pasta_label(state)}: {shown}")

"""Plots of A2V vectors: the selected person's vector, and a 2-D map of every current person's vector."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QWidget

from app.projection import VectorProjector
from app.qtimage import qcolor
from engine.render.colors import track_color

VISUAL_PEN = (90, 170, 255)
LANGUAGE_PEN = (255, 170, 60)


def place_labels(plot: pg.PlotWidget, pool: list, labels: list, anchor: tuple[float, float]) -> None:
    """Show ``labels`` ((text, colour, x, y)) reusing the TextItems in ``pool``: creating and removing
    items every refresh costs far more than updating them."""
    while len(pool) < len(labels):
        item = pg.TextItem("", anchor=anchor)
        plot.addItem(item)
        pool.append(item)
    for item, (text, color, x, y) in zip(pool, labels):
        if item.toPlainText() != text:
            item.setText(text)
        if item.color != pg.mkColor(color):
            item.setColor(color)
        item.setPos(x, y)
        item.setVisible(True)
    for item in pool[len(labels):]:
        item.setVisible(False)


class VectorPlot(pg.PlotWidget):
    """The A2V vector of one person: visual part (x 0..3071) then language part (x 3072..)."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setTitle("A2V vector")
        self.addLegend(offset=(-5, 5))
        self.visual_curve = self.plot([], [], pen=pg.mkPen(VISUAL_PEN), name="visual")
        self.language_curve = self.plot([], [], pen=pg.mkPen(LANGUAGE_PEN), name="language")
        for curve in (self.visual_curve, self.language_curve):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self.setMinimumHeight(110)

    def set_vector(self, visual: Optional[np.ndarray], language: Optional[np.ndarray]) -> None:
        if visual is None or language is None:
            self.visual_curve.setData([], [])
            self.language_curve.setData([], [])
            return
        visual = np.asarray(visual, np.float32).ravel()
        language = np.asarray(language, np.float32).ravel()
        self.visual_curve.setData(np.arange(len(visual)), visual)
        self.language_curve.setData(np.arange(len(visual), len(visual) + len(language)), language)


class VectorMap(pg.PlotWidget):
    """Every current person's A2V vector as a dot in 2-D (PCA), coloured by track; click to select."""

    person_clicked = pyqtSignal(int)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setTitle("A2V map (PCA of current persons)")
        # PCA units mean nothing to a reader, and with one person the auto range shrinks to float noise
        # (axis labels like 0.0704643949866298): show the axes' names, not their values.
        for side, name in (("left", "PC 2"), ("bottom", "PC 1")):
            axis = self.getPlotItem().getAxis(side)
            axis.setStyle(showValues=False)
            axis.setLabel(name)
        self.projector = VectorProjector()
        self.scatter = pg.ScatterPlotItem(size=14, pxMode=True)
        self.scatter.sigClicked.connect(self._on_clicked)
        self.addItem(self.scatter)
        self.labels: list[pg.TextItem] = []
        self.points: dict[int, tuple[float, float]] = {}
        self.setMinimumHeight(120)

    def add_vector(self, vector: np.ndarray) -> None:
        """Feed the projection basis (every person-frame vector, not only the displayed ones)."""
        self.projector.add(vector)

    def set_persons(self, vectors: dict[int, np.ndarray], selected: Optional[int] = None) -> None:
        """``vectors``: track ID → balanced A2V vector (app.projection.balanced_vector)."""
        ids = sorted(vectors)
        coords = self.projector.project(np.stack([vectors[i] for i in ids])) if ids else np.zeros((0, 2))
        self.points = {i: (float(x), float(y)) for i, (x, y) in zip(ids, coords)}
        spots = []
        for track_id, (x, y) in self.points.items():
            color = qcolor(track_color(track_id))
            pen = pg.mkPen("w", width=3) if track_id == selected else pg.mkPen(color.darker(150))
            spots.append({"pos": (x, y), "brush": pg.mkBrush(color), "pen": pen, "data": track_id})
        self.scatter.setData(spots)
        place_labels(self, self.labels, [(str(i), qcolor(track_color(i)), x, y) for i, (x, y) in self.points.items()],
                      anchor=(-0.3, 1.0))

    def _on_clicked(self, _item, points, *_) -> None:
        if len(points):
            self.person_clicked.emit(int(points[0].data()))

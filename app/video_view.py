"""The video view: the newest annotated frame, scaled to fit with its aspect ratio kept."""
from __future__ import annotations

from typing import Optional

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QImage, QPainter, QPen
from PyQt5.QtWidgets import QSizePolicy, QWidget

from app.qtimage import bgr_to_qimage

HIGHLIGHT_COLOR = QColor(255, 215, 0)   # persons a search matches now (drawn just outside their box)


class VideoView(QWidget):
    """Paints the current frame; a click emits ``clicked(x, y)`` in frame pixel coordinates."""

    clicked = pyqtSignal(float, float)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.image: Optional[QImage] = None
        self.placeholder = "Open a video, a camera, a stream or an image folder (File → Open)"
        self.frames_shown = 0
        self.highlights: dict[int, np.ndarray] = {}   # track id -> (4,) xyxy frame pixels: search matches
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(320, 180)

    def sizeHint(self) -> QSize:
        return QSize(800, 450)

    def show_frame(self, image_bgr: np.ndarray) -> None:
        """Show an (H, W, 3) BGR uint8 frame (copied)."""
        self.image = bgr_to_qimage(image_bgr)
        self.frames_shown += 1
        self.update()

    def clear(self) -> None:
        self.image = None
        self.highlights = {}
        self.update()

    def set_highlights(self, boxes: dict[int, np.ndarray]) -> None:
        """Outline these persons (track id -> (4,) xyxy box in frame pixels) in thick yellow: the ones a
        search matches in the shown frame. An empty dict removes the outlines."""
        boxes = {int(k): np.asarray(v, np.float32).reshape(4) for k, v in boxes.items()}
        if boxes.keys() == self.highlights.keys() and all(np.array_equal(boxes[k], self.highlights[k]) for k in boxes):
            return
        self.highlights = boxes
        self.update()

    def _target(self) -> Optional[QRectF]:
        if self.image is None or self.image.width() == 0:
            return None
        scale = min(self.width() / self.image.width(), self.height() / self.image.height())
        w, h = self.image.width() * scale, self.image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def widget_point(self, x: float, y: float) -> Optional[QPointF]:
        """Where frame pixel (x, y) is drawn in this widget's coordinates; None before the first frame."""
        target = self._target()
        if target is None:
            return None
        scale = target.width() / self.image.width()
        return QPointF(target.x() + x * scale, target.y() + y * scale)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 24))
        target = self._target()
        if target is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
        else:
            painter.setRenderHint(QPainter.SmoothPixmapTransform, True)
            painter.drawImage(target, self.image)
            if self.highlights:
                scale = target.width() / self.image.width()
                painter.setPen(QPen(HIGHLIGHT_COLOR, 4))
                painter.setBrush(Qt.NoBrush)
                for x1, y1, x2, y2 in self.highlights.values():
                    painter.drawRect(QRectF(target.x() + x1 * scale - 3, target.y() + y1 * scale - 3,
                                            (x2 - x1) * scale + 6, (y2 - y1) * scale + 6))
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt name
        target = self._target()
        if target is None or not target.contains(QPointF(event.pos())):
            return
        scale = self.image.width() / target.width()
        self.clicked.emit((event.pos().x() - target.x()) * scale, (event.pos().y() - target.y()) * scale)

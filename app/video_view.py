"""The video view: the newest annotated frame, scaled to fit with its aspect ratio kept."""
from __future__ import annotations

from typing import Optional

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QImage, QPainter
from PyQt5.QtWidgets import QSizePolicy, QWidget

from app.qtimage import bgr_to_qimage


class VideoView(QWidget):
    """Paints the current frame; a click emits ``clicked(x, y)`` in frame pixel coordinates."""

    clicked = pyqtSignal(float, float)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.image: Optional[QImage] = None
        self.placeholder = "Open a video, a camera, a stream or an image folder (File → Open)"
        self.frames_shown = 0
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
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt name
        target = self._target()
        if target is None or not target.contains(QPointF(event.pos())):
            return
        scale = self.image.width() / target.width()
        self.clicked.emit((event.pos().x() - target.x()) * scale, (event.pos().y() - target.y()) * scale)

"""numpy BGR images and palette colours → Qt objects."""
from __future__ import annotations

import numpy as np
from PyQt5.QtGui import QColor, QImage, QPixmap


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """(H, W, 3) BGR uint8 → a QImage that owns a copy of the pixels."""
    array = np.ascontiguousarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {array.shape} {array.dtype}")
    height, width = array.shape[:2]
    return QImage(array.data, width, height, array.strides[0], QImage.Format_BGR888).copy()


def bgr_to_pixmap(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(bgr_to_qimage(image))


def qcolor(bgr: tuple[int, int, int]) -> QColor:
    """A palette colour (BGR triple, engine.render.colors) as a QColor."""
    b, g, r = bgr
    return QColor(int(r), int(g), int(b))

"""Where labels go and what they are drawn on: :class:`LabelPlacer` (greedy, collision-free placement
inside the frame) and :class:`Canvas` (the frame plus an optional sidebar, opaque text rows, outlines)."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from engine.cvcompat import cv2
from engine.render.colors import BGR
from engine.render.style import Metrics, draw_text_row, metrics_for, row_width

TextHook = Callable[[str, tuple[int, int, int, int]], None]

_MAX_SHIFT_STEPS = 8  # a label that collides everywhere slides up/down by up to this many steps (rows)
_SHIFT_STEPS = np.array([0.0] + [k * sign for k in range(1, _MAX_SHIFT_STEPS + 1) for sign in (1.0, -1.0)])


# ------------------------------------------------------------------------------------------- placement

class LabelPlacer:
    """Greedy label placement: each label takes the first candidate spot, clamped inside the area, that
    overlaps no label placed before (nor, when given, the ``avoid`` areas such as person boxes); if every
    spot collides, the candidates slide up and down by the label's height, and the spot with the least
    overlap with labels wins (then the least with ``avoid``, then the earliest).

    Rectangles are ``(x1, y1, x2, y2)`` int pixels, x2/y2 exclusive.
    """

    def __init__(self, width: int, height: int, shift_step: int = 0) -> None:
        self.width = int(width)
        self.height = int(height)
        self.shift_step = int(shift_step)  # slide distance; 0 = the label's height
        self._rects = np.zeros((64, 4), np.int32)
        self._count = 0
        self._taken: list[tuple[int, int, int, int]] = []  # the same rectangles, for the pure-Python path

    @property
    def rects(self) -> np.ndarray:
        """(N, 4) int32 rectangles placed or reserved so far."""
        return self._rects[: self._count]

    def reserve(self, rect: Sequence[int]) -> None:
        """Mark an area as taken (e.g. the HUD) so later labels avoid it."""
        if self._count == len(self._rects):
            self._rects = np.concatenate([self._rects, np.zeros_like(self._rects)])
        self._rects[self._count] = rect
        self._count += 1
        self._taken.append(tuple(int(v) for v in rect))

    def place(self, w: int, h: int, candidates: Sequence[tuple[float, float]],
              avoid: Sequence[Sequence[int]] = ()) -> tuple[int, int, int, int]:
        """Choose where a ``w × h`` label goes among ``candidates`` (top-left corners, best first),
        keeping off ``avoid`` rectangles when it can."""
        w, h = int(w), int(h)
        max_x, max_y = max(0, self.width - w), max(0, self.height - h)
        # Fast path in plain Python: usually one of the first spots is free, and numpy's per-call overhead
        # would cost more than these few comparisons.
        blocked = self._taken + list(avoid) if len(avoid) else self._taken
        for cx, cy in candidates:
            x = min(max(int(round(cx)), 0), max_x)
            y = min(max(int(round(cy)), 0), max_y)
            x2, y2 = x + w, y + h
            for a, b, c, d in blocked:
                if x < c and a < x2 and y < d and b < y2:
                    break
            else:
                return self._take(x, y, w, h)
        return self._place_shifted(w, h, candidates, max_x, max_y, avoid)

    def _place_shifted(self, w: int, h: int, candidates, max_x: int, max_y: int,
                       avoid: Sequence[Sequence[int]]) -> tuple[int, int, int, int]:
        """Every candidate slid by 1..``_MAX_SHIFT_STEPS`` steps (the label's height, at most
        ``shift_step``) down and up, in that order of preference; the spot with the least overlap wins
        (overlap with labels weighs more than the whole area, so ``avoid`` only breaks ties)."""
        # (np.clip and np.tile are avoided: their Python wrappers cost more than the arithmetic here.)
        step = min(h, self.shift_step or h)  # tall blocks slide by rows, so they stay near what they label
        base_x = [min(max(int(round(x)), 0), max_x) for x, _ in candidates]
        base_y = np.array([y for _, y in candidates], dtype=np.float64)
        xs = np.array(base_x * len(_SHIFT_STEPS), dtype=np.float64)
        ys = np.minimum(np.maximum(np.rint(base_y[None, :] + _SHIFT_STEPS[:, None] * step), 0), max_y).ravel()
        taken = self._taken + list(avoid)
        rects = np.array(taken, dtype=np.float64)
        weights = np.ones(len(taken))
        weights[: len(self._taken)] = float(self.width * self.height + 1)
        ix = np.minimum(xs[:, None] + w, rects[:, 2]) - np.maximum(xs[:, None], rects[:, 0])
        iy = np.minimum(ys[:, None] + h, rects[:, 3]) - np.maximum(ys[:, None], rects[:, 1])
        np.maximum(ix, 0, out=ix)
        np.maximum(iy, 0, out=iy)
        best = int(np.argmin((ix * iy) @ weights))  # the first minimum: the most preferred spot
        return self._take(int(xs[best]), int(ys[best]), w, h)

    def _take(self, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
        rect = (x, y, x + w, y + h)
        self.reserve(rect)
        return rect


# ---------------------------------------------------------------------------------------------- canvas

class Canvas:
    """An image being drawn on in place, with the sizes for its frame and the labels placed so far.

    ``image`` is (H, W', 3) BGR uint8; the frame occupies columns ``[0, frame_width)`` (W' is wider when a
    sidebar is attached). Sizes (:class:`engine.render.style.Metrics`) follow the frame, not the sidebar.
    Text is drawn as opaque rows (:func:`engine.render.style.draw_text_row`).
    """

    def __init__(self, image: np.ndarray, frame_width: Optional[int] = None, text_scale: float = 1.0,
                 on_text: Optional[TextHook] = None) -> None:
        self.image = image
        self.height = int(image.shape[0])
        self.frame_width = int(frame_width if frame_width is not None else image.shape[1])
        self.metrics: Metrics = metrics_for(self.frame_width, self.height, text_scale)
        self.placer = LabelPlacer(self.frame_width, self.height, shift_step=self.metrics.line_height)
        self.on_text = on_text

    def text_size(self, text: str) -> tuple[int, int]:
        """(width, height) of one label row holding ``text``, padding included."""
        return row_width(text, self.metrics), self.metrics.line_height

    def put_row(self, text: str, x: int, y: int, color: BGR, background: BGR,
                width: Optional[int] = None) -> int:
        """Draw an opaque text row with its top-left corner at (x, y); returns its width."""
        drawn = draw_text_row(self.image, text, x, y, color, background, self.metrics, width)
        if self.on_text is not None:
            self.on_text(text, (x, y, x + self.text_size(text)[0], y + self.metrics.line_height))
        return drawn

    def fill(self, rect: Sequence[int], color: BGR) -> None:
        """Fill the xyxy ``rect`` (x2, y2 exclusive) with ``color``, clipped to the image."""
        x1, y1 = max(0, rect[0]), max(0, rect[1])
        x2, y2 = min(self.image.shape[1], rect[2]), min(self.height, rect[3])
        if x2 > x1 and y2 > y1:
            cv2.rectangle(self.image, (x1, y1), (x2 - 1, y2 - 1), color, -1)

    def label(self, lines: Sequence[tuple[str, BGR]], candidates: Sequence[tuple[float, float]],
              background: BGR, stripe: Optional[BGR] = None,
              avoid: Sequence[Sequence[int]] = ()) -> tuple[int, int, int, int]:
        """Place and draw a block of opaque text rows (each ``(text, colour)``) on ``background``.

        ``candidates`` are top-left corners, best first (see :class:`LabelPlacer`); ``stripe`` adds a bar
        of that colour on the block's left edge; ``avoid`` areas are kept clear when possible. Returns the
        block's rectangle.
        """
        m = self.metrics
        stripe_w = m.pad if stripe is not None else 0
        row_w = max(self.text_size(text)[0] for text, _ in lines)
        rect = self.placer.place(row_w + stripe_w, m.line_height * len(lines), candidates, avoid)
        for row, (text, color) in enumerate(lines):
            self.put_row(text, rect[0] + stripe_w, rect[1] + row * m.line_height, color, background, row_w)
        if stripe is not None:
            self.fill((rect[0], rect[1], rect[0] + stripe_w, rect[3]), stripe)
        return rect


# --------------------------------------------------------------------------------------------- helpers

def draw_outline(image: np.ndarray, box: tuple[int, int, int, int], color: BGR, width: int) -> None:
    """A ``width``-px rectangle outline centred on the xyxy ``box`` edges.

    Drawn as nested 1-px rectangles: OpenCV's thick rectangles go through its polygon filler and cost
    about 5× more.
    """
    x1, y1, x2, y2 = box
    lo = -(width // 2)
    for offset in range(lo, lo + width):
        cv2.rectangle(image, (x1 + offset, y1 + offset), (x2 - offset, y2 - offset), color, 1, cv2.LINE_8)

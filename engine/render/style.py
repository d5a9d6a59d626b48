"""Sizes and text of the overlays: sizes derived from the frame size so text stays legible from 320 px to
4K wide, and opaque text rows drawn from cached word sprites.

The reference is 1280×720 (``unit == 1``): font scale 0.5 (about 11 px cap height), 2 px boxes. Sizes grow
with ``unit = sqrt(width * height) / 960`` (the geometric mean, so portrait and very wide frames scale like
landscape ones of the same area), with floors that keep small frames readable.

Text: antialiased Hershey text thicker than 1 px costs OpenCV 0.2-0.4 ms per string, which would make
text the whole render budget at 1080p and above. Every label is therefore an opaque row drawn word by
word from a cache of pre-rendered word sprites (the same IDs, state and action names and most numbers come
back every frame); rows are cached too, built from word sprites, so a row whose number changed renders
only that number. Drawing a row is one small array copy. :func:`row_width` is the width a row takes.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.cvcompat import cv2

FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_FONT_SCALE = 0.38         # ~8 px cap height: the smallest Hershey text that still reads
SIDEBAR_CHARS = 22            # the sidebar is as wide as this many average characters
MAX_LABEL_CHARS = 24          # longer state/action names are cut to this (the vocabulary has 60-char ones)
SPRITE_CACHE_BYTES = 32 << 20  # word sprites kept; the cache starts over when it would grow past this


@dataclass(frozen=True)
class Metrics:
    """Pixel sizes for one frame size.

    ``font_scale``/``text_thickness`` for cv2.putText; ``line_width`` for person boxes and limbs;
    ``part_width`` for part boxes; ``joint_radius``; ``pad`` around label text; ``text_height`` (cap
    height + descender) and ``line_height`` (one label row, text plus padding); ``gap`` between a label
    and what it labels.
    """

    unit: float
    font_scale: float
    text_thickness: int
    line_width: int
    part_width: int
    joint_radius: int
    pad: int
    text_height: int
    baseline: int
    line_height: int
    gap: int


@lru_cache(maxsize=32)
def metrics_for(width: int, height: int, text_scale: float = 1.0) -> Metrics:
    """Sizes for a ``width × height`` frame; ``text_scale`` multiplies the automatic font size."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    unit = math.sqrt(width * height) / 960.0
    font_scale = max(MIN_FONT_SCALE, 0.5 * unit) * text_scale
    text_thickness = max(1, round(font_scale * 2.0))
    (_, cap), baseline = cv2.getTextSize("Ag", FONT, font_scale, text_thickness)
    pad = max(2, round(cap * 0.3))
    return Metrics(
        unit=unit,
        font_scale=font_scale,
        text_thickness=text_thickness,
        line_width=max(1, round(2.0 * unit)),
        part_width=max(1, round(1.25 * unit)),
        joint_radius=max(2, round(3.0 * unit)),
        pad=pad,
        text_height=cap + baseline,
        baseline=baseline,
        line_height=cap + baseline + 2 * pad,
        gap=max(1, round(2.0 * unit)),
    )


@lru_cache(maxsize=4096)
def text_width(text: str, font_scale: float, thickness: int) -> int:
    """Width in pixels of ``text`` drawn with :data:`FONT` (cached: labels repeat every frame)."""
    return cv2.getTextSize(text, FONT, font_scale, thickness)[0][0]


@lru_cache(maxsize=8192)
def row_width(text: str, m: Metrics) -> int:
    """Width in pixels of an opaque text row holding ``text`` (words, spaces and padding on both ends)."""
    words = text.split(" ")
    return (sum(text_width(w, m.font_scale, m.text_thickness) for w in words if w)
            + word_gap(m) * (len(words) - 1) + 2 * m.pad)


@lru_cache(maxsize=64)
def word_gap(m: Metrics) -> int:
    """Pixels from one word sprite's end to the next word: a space's advance less the stroke slack that
    ``getTextSize`` already adds to every word (so rows read like one ``putText`` string)."""
    n = text_width("n", m.font_scale, m.text_thickness)
    return max(1, text_width("n n", m.font_scale, m.text_thickness) - 2 * n)


class _SpriteCache:
    """Pre-rendered pixels keyed by what they show; starts over when past :data:`SPRITE_CACHE_BYTES`.

    Reads are lock-free dict lookups; the GUI and the pipeline's output thread may draw at once.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._items: dict[tuple, np.ndarray] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        return self._items.get(key)

    def put(self, key: tuple, sprite: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._bytes + sprite.nbytes > self.limit_bytes:
                self._items.clear()
                self._bytes = 0
            self._items[key] = sprite
            self._bytes += sprite.nbytes
        return sprite

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


_words = _SpriteCache(SPRITE_CACHE_BYTES // 2)
_rows = _SpriteCache(SPRITE_CACHE_BYTES // 2)


def word_sprite(word: str, color: tuple[int, int, int], background: tuple[int, int, int],
                m: Metrics) -> np.ndarray:
    """(line_height, word width, 3) BGR uint8: ``word`` in ``color`` on ``background`` (cached)."""
    key = (word, color, background, m)
    sprite = _words.get(key)
    if sprite is None:
        sprite = np.empty((m.line_height, text_width(word, m.font_scale, m.text_thickness), 3), np.uint8)
        sprite[:] = background
        cv2.putText(sprite, word, (0, m.pad + m.text_height - m.baseline), FONT, m.font_scale, color,
                    m.text_thickness, cv2.LINE_AA)
        _words.put(key, sprite)
    return sprite


def row_sprite(text: str, color: tuple[int, int, int], background: tuple[int, int, int], m: Metrics,
               width: int) -> np.ndarray:
    """(line_height, width, 3) BGR uint8: an opaque row, ``text`` from ``pad`` on (cached; built from
    :func:`word_sprite` so a row with a new number only renders that number)."""
    key = (text, color, background, m, width)
    sprite = _rows.get(key)
    if sprite is None:
        sprite = np.empty((m.line_height, width, 3), np.uint8)
        sprite[:] = background
        gap = word_gap(m)
        cursor = m.pad
        for i, word in enumerate(text.split(" ")):
            if i:
                cursor += gap
            if word:
                glyphs = word_sprite(word, color, background, m)
                paste(sprite, glyphs, cursor, 0)
                cursor += glyphs.shape[1]
        _rows.put(key, sprite)
    return sprite


def paste(image: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Copy ``patch`` into ``image`` with its top-left corner at (x, y), clipped to the image."""
    h, w = patch.shape[:2]
    x1, y1 = max(x, 0), max(y, 0)
    x2, y2 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
    if x2 > x1 and y2 > y1:
        image[y1:y2, x1:x2] = patch[y1 - y: y2 - y, x1 - x: x2 - x]


def draw_text_row(image: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int],
                  background: tuple[int, int, int], m: Metrics, width: int | None = None) -> int:
    """Draw an opaque row: ``background`` over ``[x, x + width) × [y, y + line_height)`` (``width``
    defaults to :func:`row_width`), ``text`` in ``color`` from ``x + pad``. Clipped to the image.
    Returns the row width."""
    if width is None:
        width = row_width(text, m)
    paste(image, row_sprite(text, color, background, m, width), x, y)
    return width


def sidebar_width(width: int, height: int, text_scale: float = 1.0) -> int:
    """Width in pixels of the actions sidebar added right of a ``width × height`` frame.

    Wide enough for :data:`SIDEBAR_CHARS` average characters at the frame's font size plus padding
    (1280×720: 226 px; 640×272 and smaller: 172 px; 1920×1080: 336 px; 3840×2160: 670 px).
    """
    m = metrics_for(width, height, text_scale)
    return text_width("n" * SIDEBAR_CHARS, m.font_scale, m.text_thickness) + 4 * m.pad


def display_name(name: str, max_chars: int = MAX_LABEL_CHARS) -> str:
    """A vocabulary name as shown: underscores as spaces, cut to ``max_chars`` with ``..``."""
    text = name.replace("_", " ")
    if len(text) > max_chars:
        text = text[: max_chars - 2].rstrip() + ".."
    return text

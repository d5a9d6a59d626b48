"""Sizes of the overlays, derived from the frame size so text stays legible from 320 px to 4K wide.

The reference is 1280×720 (``unit == 1``): font scale 0.5 (about 11 px cap height), 2 px boxes. Sizes grow
with ``unit = sqrt(width * height) / 960`` (the geometric mean, so portrait and very wide frames scale like
landscape ones of the same area), with floors that keep small frames readable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from engine.cvcompat import cv2

FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_FONT_SCALE = 0.38         # ~8 px cap height: the smallest Hershey text that still reads
SIDEBAR_CHARS = 22            # the sidebar is as wide as this many average characters
MAX_LABEL_CHARS = 24          # longer state/action names are cut to this (the vocabulary has 60-char ones)


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


def sidebar_width(width: int, height: int, text_scale: float = 1.0) -> int:
    """Width in pixels of the actions sidebar added right of a ``width × height`` frame.

    Wide enough for :data:`SIDEBAR_CHARS` average characters at the frame's font size plus padding
    (1280×720: 230 px; 640×272: 187 px; 3840×2160: 660 px).
    """
    m = metrics_for(width, height, text_scale)
    return text_width("n" * SIDEBAR_CHARS, m.font_scale, m.text_thickness) + 4 * m.pad


def display_name(name: str, max_chars: int = MAX_LABEL_CHARS) -> str:
    """A vocabulary name as shown: underscores as spaces, cut to ``max_chars`` with ``..``."""
    text = name.replace("_", " ")
    if len(text) > max_chars:
        text = text[: max_chars - 2].rstrip() + ".."
    return text

"""The one interchange type: a frame's result flows through every stage, sink and widget.

Formats (DESIGN.md §2):
- boxes are ``(4,)`` float32 ``x1, y1, x2, y2`` in image pixels;
- keypoints are ``(17, 3)`` float32 COCO-17 ``x, y, confidence`` with confidence in [0, 1];
- part boxes are ``(10, 4)`` float32 xyxy pixels in the order of ``assets/vocab/parts.tsv``;
- ``pasta`` ``(93,)`` and ``actions`` ``(157,)`` are probabilities; ``visual`` ``(3072,)`` and
  ``language`` ``(1536,)`` (or ``(768,)`` with the MiniLM matrix) are the two halves of the A2V vector.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

NUM_KEYPOINTS = 17
NUM_PARTS = 10


def _as_f32(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    if array.shape != shape:
        raise ValueError(f"Person.{name} must have shape {shape}, got {array.shape}")
    return array


@dataclass
class Person:
    """One person in one frame.

    ``track_id`` is -1 until the tracker confirms the track. ``track_age`` (frames since the track was
    born) and ``track_hits`` (frames it was matched) come from the tracker. ``pasta_age`` is the number of
    frames since ``pasta``/``actions``/``visual``/``language`` were computed (0 = this frame; >0 when the
    A2V stage runs every k-th frame and the track carries older results).
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    track_id: int = -1
    part_boxes: Optional[np.ndarray] = None
    pasta: Optional[np.ndarray] = None
    actions: Optional[np.ndarray] = None
    visual: Optional[np.ndarray] = None
    language: Optional[np.ndarray] = None
    track_age: int = 0
    track_hits: int = 0
    pasta_age: int = 0

    def __post_init__(self) -> None:
        self.box = _as_f32(self.box, (4,), "box")
        self.keypoints = _as_f32(self.keypoints, (NUM_KEYPOINTS, 3), "keypoints")
        self.score = float(self.score)
        self.track_id = int(self.track_id)
        if self.part_boxes is not None:
            self.part_boxes = _as_f32(self.part_boxes, (NUM_PARTS, 4), "part_boxes")

    @property
    def vector(self) -> Optional[np.ndarray]:
        """The A2V vector ``visual ‖ language`` (4608,), or None when PaSta is off."""
        if self.visual is None or self.language is None:
            return None
        return np.concatenate([self.visual, self.language]).astype(np.float32)


@dataclass
class FrameResult:
    """Everything known about one frame.

    ``image_size`` is ``(width, height)`` in pixels; ``timestamp`` is seconds from the start of the source
    (file position for files, wall clock since start for live sources); ``timings`` maps a stage name to
    the milliseconds it spent on this frame. ``info`` carries run-level facts the overlays and status bar
    show: ``pose_backend`` (str), ``pasta_off`` (reason str, absent when PaSta runs), ``a2v_language``
    (str, when PaSta runs: the language matrix used and the A2V vector's length), ``dropped`` (int,
    frames a live source dropped so far), ``fps`` (float, pipeline rate).
    """

    index: int
    timestamp: float
    image_size: tuple[int, int]
    persons: list[Person] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

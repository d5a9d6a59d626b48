"""The one interchange type: a frame's result flows through every stage, sink and widget.

Formats (docs/architecture.md, "The one type"):
- boxes are ``(4,)`` float32 ``x1, y1, x2, y2`` in image pixels;
- keypoints are ``(17, 3)`` float32 COCO-17 ``x, y, confidence`` with confidence in [0, 1];
- part boxes are ``(10, 4)`` float32 xyxy pixels in the vocabulary's part order (``assets/vocab/a2v_vocab.yaml``);
- ``pasta`` ``(93,)`` and ``actions`` ``(157,)`` are probabilities; ``visual`` ``(3072,)`` and
  ``language`` ``(1536,)`` (or ``(768,)`` with the MiniLM matrix) are the two halves of the A2V vector.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, TypedDict

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


class FrameInfo(TypedDict, total=False):
    """Run-level facts about a frame, for overlays and the status bar; every key is optional.

    ``pose_backend``: which pose backend ran and how (pose stage); ``persons``: persons the pose stage found
    in this frame (pose stage); ``a2v_language``: the language matrix used and the A2V vector's length (A2V
    stage, when PaSta runs); ``pasta_off``: why PaSta is off
    (A2V stage; absent when PaSta runs); ``dropped``: frames a live source dropped so far (pipeline);
    ``fps``: the pipeline's output rate (pipeline); ``file``: image sources, the image's path relative to
    the input root (pipeline, from the source's frame).
    """

    pose_backend: str
    persons: int
    pasta_off: str
    a2v_language: str
    dropped: int
    fps: float
    file: str


@dataclass
class FrameResult:
    """Everything known about one frame.

    ``image_size`` is ``(width, height)`` in pixels; ``timestamp`` is seconds from the start of the source
    (file position for files, wall clock since start for live sources); ``timings`` maps a stage name to
    the milliseconds it spent on this frame. ``info`` (a :class:`FrameInfo`) carries run-level facts the
    overlays and status bar show: ``pose_backend``, ``persons``, ``pasta_off``, ``a2v_language``,
    ``dropped``, ``fps`` and ``file`` (image sources: the image's path relative to the input root).
    """

    index: int
    timestamp: float
    image_size: tuple[int, int]
    persons: list[Person] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    info: FrameInfo = field(default_factory=FrameInfo)

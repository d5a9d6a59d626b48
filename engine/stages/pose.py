"""The pose stage: a frame → ``result.persons`` (boxes, scores, COCO-17 keypoints), the largest first kept.

``result.info["pose_backend"]`` says which backend ran and how, e.g.
"mediapipe (CPU, one person per frame: no detector weights cached (...))" or
"keypoint_rcnn (CUDA:0 NVIDIA H100 80GB HBM3, fp16, min_size 512)"; ``result.info["persons"]`` is how many
persons it found in the frame (after ``pose.max_persons``).
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np

from engine.config import Config
from engine.pose.base import BasePoseBackend, keep_largest
from engine.types import FrameResult, Person

log = logging.getLogger(__name__)


class PoseStage:
    """Stage protocol (``engine/stages/base.py``) around a pose backend built from ``config.pose``.

    ``backend`` may be given (tests, or a caller that built one already); otherwise it is built for
    ``config.device``. :meth:`process_batch` runs up to :attr:`batch_size` frames in one model call
    (file sources; a :class:`~engine.stages.base.BatchStage`).
    """

    name = "pose"

    def __init__(self, config: Config, backend: Optional[BasePoseBackend] = None) -> None:
        from engine.device import resolve_device
        from engine.pose.factory import build_pose_backend

        self.config = config
        self.max_persons = config.pose.max_persons
        if backend is None:
            backend = build_pose_backend(config, resolve_device(config.device))
        self.backend = backend
        self._last: list[Person] = []  # the last frame's persons, for carry()
        self._description = backend.describe()
        log.info("pose stage: %s", self._description)

    @property
    def batch_size(self) -> int:
        """Frames per backend call: ``config.pose.batch_size``, read live (``Pipeline.apply`` may change it)."""
        return self.config.pose.batch_size

    def __call__(self, frame: np.ndarray, result: FrameResult) -> None:
        self._fill(result, self.backend(frame))

    def process_batch(self, frames: Sequence[np.ndarray], results: Sequence[FrameResult]) -> None:
        """Fill each of ``results`` from one batched backend call over ``frames`` (same length)."""
        if len(frames) != len(results):
            raise ValueError(f"process_batch: {len(frames)} frames but {len(results)} results")
        for result, persons in zip(results, self.backend.estimate(list(frames))):
            self._fill(result, persons)

    def carry(self, frame: np.ndarray, result: FrameResult) -> None:
        """Without the model: the last frame's persons again (box, score, keypoints; fresh objects, so the
        tracker matches them to their tracks). The pipeline's player mode calls this for frames it skips."""
        result.persons = [Person(box=p.box.copy(), score=p.score, keypoints=p.keypoints.copy())
                          for p in self._last]
        result.info["pose_backend"] = self._description

    def _fill(self, result: FrameResult, persons) -> None:
        result.persons = keep_largest(persons, self.max_persons)
        self._last = [Person(box=p.box.copy(), score=p.score, keypoints=p.keypoints.copy())
                      for p in result.persons]
        result.info["pose_backend"] = self._description
        result.info["persons"] = len(result.persons)

    def set_still_images(self, still: bool) -> None:
        """Unrelated photos (``still``) or video frames from now on; passed to the backend (mediapipe then
        runs its detector on every image instead of tracking between images)."""
        set_still = getattr(self.backend, "set_still_images", None)
        if set_still is not None:
            set_still(bool(still))
            self._description = self.backend.describe()

    def describe(self) -> str:
        return self._description

    def reset(self) -> None:
        """A new source starts: backends that keep state between frames (mediapipe video mode) forget it."""
        reset = getattr(self.backend, "reset", None)
        if reset is not None:
            reset()

    def close(self) -> None:
        self.backend.close()

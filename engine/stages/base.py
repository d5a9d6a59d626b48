"""The pipeline's stage protocol.

A stage is called once per frame, in order, on the inference thread: ``stage(frame, result)`` where
``frame`` is the ``(H, W, 3)`` BGR uint8 image and ``result`` the frame's :class:`FrameResult`. It fills or
edits ``result`` in place (the pose stage creates ``result.persons``, the tracker stage sets
``track_id``, the A2V stage fills part boxes, PaSta, actions and vectors). ``close()`` releases resources;
it is called once when the run ends, on every stop path. ``describe()`` returns a short human string
(e.g. "mediapipe (CPU, no download)") for logs, the HUD and the status bar.

Two optional abilities, each a protocol the pipeline checks with ``isinstance``:

- :class:`BatchStage`: ``process_batch(frames, results)`` and the stage's own ``batch_size`` (frames per
  call, read by the pipeline for every batch, so a stage may change it between batches);
- :class:`Reconfigurable`: ``reconfigure(config)``, called after ``Pipeline.apply`` changed the config.

A stage that keeps state from frame to frame may have ``reset()``: forget it because a new source starts
(``extract`` reuses one set of loaded stages for many items; a stage without ``reset`` is rebuilt for each
item instead).
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from engine.types import FrameResult


@runtime_checkable
class Stage(Protocol):
    name: str

    def __call__(self, frame: np.ndarray, result: FrameResult) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


@runtime_checkable
class BatchStage(Stage, Protocol):
    """A stage that can take several queued frames in one call (file sources only)."""

    batch_size: int

    def process_batch(self, frames: Sequence[np.ndarray], results: Sequence[FrameResult]) -> None: ...


@runtime_checkable
class Reconfigurable(Protocol):
    """A stage that follows live config changes (``Pipeline.apply``)."""

    def reconfigure(self, config) -> None: ...


class PassThroughStage:
    """A stage that does nothing but take ``cost_ms`` of wall time (sleeping, so stages on other threads
    can overlap it as they would overlap a GPU or native-code stage); used by tests and ``bench``."""

    def __init__(self, name: str = "pass", cost_ms: float = 0.0) -> None:
        self.name = name
        self.cost_ms = cost_ms

    def __call__(self, frame: np.ndarray, result: FrameResult) -> None:
        if self.cost_ms > 0:
            import time

            end = time.perf_counter() + self.cost_ms / 1000.0
            while time.perf_counter() < end:
                time.sleep(min(0.0005, max(0.0, end - time.perf_counter())))

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} (pass-through, {self.cost_ms:g} ms)"

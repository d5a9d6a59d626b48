"""From the pipeline's output thread to the GUI thread.

The pipeline calls :meth:`FrameBridge.on_frame` on its output thread for every frame. The bridge keeps
every result (the side panel's history needs each one) but only the newest image (the view shows the
latest frame; older ones are not worth painting), and emits ``frames_ready`` once per batch: a queued
signal, so the GUI thread picks the batch up with :meth:`take` when it gets to it. If the GUI falls
behind, results pile up to ``max_pending`` and the oldest are dropped (counted in ``dropped_results``)
instead of growing without bound.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from engine.types import FrameResult


class FrameBridge(QObject):
    frames_ready = pyqtSignal()
    failed = pyqtSignal(object)   # the PipelineError

    def __init__(self, max_pending: int = 300, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.max_pending = max_pending
        self.dropped_results = 0
        self._lock = threading.Lock()
        self._results: list[FrameResult] = []
        self._latest: Optional[tuple[np.ndarray, Optional[np.ndarray], FrameResult]] = None
        self._signalled = False
        self.generation = 0  # bumped by reset(): frames of a stopped pipeline are ignored

    def callbacks(self):
        """``(on_frame, on_error)`` for a new pipeline; frames of earlier pipelines are discarded."""
        with self._lock:
            self.generation += 1
            self._results.clear()
            self._latest = None
            generation = self.generation

        def on_frame(frame, annotated, result):
            self._push(generation, frame, annotated, result)

        def on_error(exc):
            if generation == self.generation:
                self.failed.emit(exc)

        return on_frame, on_error

    def _push(self, generation: int, frame, annotated, result: FrameResult) -> None:
        with self._lock:
            if generation != self.generation:
                return
            self._results.append(result)
            if len(self._results) > self.max_pending:
                del self._results[0]
                self.dropped_results += 1
            self._latest = (frame, annotated, result)
            notify = not self._signalled
            self._signalled = True
        if notify:
            self.frames_ready.emit()

    def take(self) -> tuple[list[FrameResult], Optional[tuple]]:
        """Results received since the last call, in order, and the newest (frame, annotated, result)."""
        with self._lock:
            results, self._results = self._results, []
            latest, self._latest = self._latest, None
            self._signalled = False
        return results, latest

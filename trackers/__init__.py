"""Multi-object tracking on boxes: SORT (clean-room, vectorised) with a parity mode and person-video
defaults, MOTChallenge file I/O and scoring. numpy and ``lap`` only (no torch, no Qt).

- :class:`trackers.sort.SortTracker` — ``update(boxes, scores, payloads) -> [TrackOutput]`` per frame;
- :mod:`trackers.metrics` — CLEAR MOT, IDF1 and HOTA for MOTChallenge tables;
- :mod:`trackers.cli` — ``track`` and ``track-eval``; :mod:`trackers.bench` — ``bench tracker``.
"""
from trackers.sort import InvalidBoxWarning, SortTracker, TrackOutput

__all__ = ["InvalidBoxWarning", "SortTracker", "TrackOutput"]

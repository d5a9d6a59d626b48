"""SORT (Bewley et al. 2016, arXiv 1602.00763), written from the paper, vectorised over tracks.

Each frame: predict every track one frame ahead with its constant-velocity Kalman filter
(:mod:`trackers.kalman`), match detections to predicted boxes by IoU with an optimal assignment
(:mod:`trackers.association`), correct matched tracks, start tracks from unmatched detections and end
tracks that went unmatched for more than ``max_age`` frames.

Two behaviours:

- **parity** (:meth:`SortTracker.parity`): exactly the original SORT, to reproduce its published MOT15
  numbers: ``max_age=1, min_hits=3, iou_threshold=0.3``; every detection takes part whatever its score;
  a track is reported on a frame when it was matched on that frame and either its current run of
  consecutive matches after its first detection (``hit_streak``) reached ``min_hits`` or the tracker has
  seen no more than ``min_hits`` frames; the reported box is the filter's posterior; IDs are numbered
  1, 2, 3, ... in order of track creation (so unconfirmed tracks use up numbers).
- **person video** (the default): tuned so people keep their ID through short occlusions and IDs never
  blink out in saved results:

  * ``max_age=30``: a confirmed track coasts on its prediction for up to 30 frames (about 1 s at 25-30
    fps, long enough for someone to pass behind another person or a pole) before it ends;
  * ``min_hits=3``: a track is confirmed on its third matched frame (0.1 s), which removes one- and
    two-frame false detections; once confirmed it stays confirmed (unlike SORT's streak rule, a single
    missed frame does not hide the ID for the next ``min_hits`` frames);
  * a tentative (unconfirmed) track that misses a frame ends at once, so the long ``max_age`` does not
    let false detections accumulate;
  * IDs are handed out at confirmation, so they are consecutive (1, 2, 3, ...) and never reused;
  * with ``second_pass`` (the ByteTrack idea, Zhang et al. 2022), detections scoring at least
    ``high_score`` are matched first and may start tracks; detections in ``[low_score, high_score)`` are
    then matched only to tracks that were matched on the previous frame and are still unmatched, with a
    stricter IoU (at least :data:`SECOND_PASS_MIN_IOU`), and never start tracks. This keeps a track alive
    while its person is partly hidden and the detector is unsure. Detections below ``low_score`` (or,
    without the second pass, below ``high_score``) are not tracked.

Every detection may carry a payload (any object: keypoints, model outputs, ...); the track keeps the
payload of its latest matched detection and reports it. Boxes that are not finite or have zero or
negative width or height are dropped with an :class:`InvalidBoxWarning` before they reach any filter.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from trackers.association import associate, iou_matrix
from trackers.kalman import KalmanBank, boxes_to_measurements, states_to_boxes, valid_states

SECOND_PASS_MIN_IOU = 0.5  # ByteTrack's IoU for low-score boxes: they are unsure, so ask for more overlap


class InvalidBoxWarning(UserWarning):
    """A detection box was NaN, infinite, or had zero or negative width or height and was ignored."""


@dataclass
class TrackOutput:
    """One track reported on one frame.

    ``box`` (4,) float64 xyxy pixels is the Kalman posterior (SORT's output); ``det_box`` (4,) the matched
    detection's own box and ``det_index`` its index in the frame's input (keypoints in the payload are
    aligned with ``det_box``); ``age`` frames since the track started (0 on its first frame); ``hits``
    frames on which it was matched (its first detection included); ``payload`` the matched detection's
    payload.
    """

    track_id: int
    box: np.ndarray
    det_box: np.ndarray
    det_index: int
    score: float
    age: int
    hits: int
    payload: Any = None


def valid_box_mask(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N,) bool: all four finite and width and height strictly positive."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


class SortTracker:
    """Multi-object tracker on boxes. Call :meth:`update` once per frame, in order, also for frames
    without detections."""

    def __init__(self, max_age: int = 30, min_hits: int = 3, iou_threshold: float = 0.3,
                 second_pass: bool = True, high_score: float = 0.5, low_score: float = 0.1,
                 parity: bool = False) -> None:
        self.max_age = int(max_age)
        self.min_hits = int(min_hits)
        self.iou_threshold = float(iou_threshold)
        self.second_pass = bool(second_pass)
        self.high_score = float(high_score)
        self.low_score = float(low_score)
        self.parity_mode = bool(parity)
        if self.max_age < 0 or self.min_hits < 0 or not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"tracker settings out of range: max_age={max_age} (>= 0), min_hits={min_hits} "
                             f"(>= 0), iou_threshold={iou_threshold} (0..1)")
        self.reset()

    @classmethod
    def parity(cls, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3) -> "SortTracker":
        """The original SORT's behaviour and defaults (see the module docstring)."""
        return cls(max_age=max_age, min_hits=min_hits, iou_threshold=iou_threshold, second_pass=False,
                   parity=True)

    @classmethod
    def from_config(cls, config) -> "SortTracker":
        """From an ``engine.config.TrackerConfig``-like object (attributes of the same names)."""
        return cls(max_age=config.max_age, min_hits=config.min_hits, iou_threshold=config.iou_threshold,
                   second_pass=config.second_pass, high_score=config.high_score, low_score=config.low_score,
                   parity=config.parity)

    # ------------------------------------------------------------------------------------------- state

    def reset(self) -> None:
        """Forget every track and start numbering IDs at 1 again (a new run)."""
        self.frame_count = 0
        self._next_id = 1
        self.filters = KalmanBank()
        self.track_ids = np.zeros(0, dtype=np.int64)      # -1 while unconfirmed (default mode)
        self.hits = np.zeros(0, dtype=np.int64)           # matched frames, first detection included
        self.hit_streak = np.zeros(0, dtype=np.int64)     # SORT's consecutive matches after the first one
        self.misses = np.zeros(0, dtype=np.int64)         # frames since the last match (SORT's time_since_update)
        self.birth_frame = np.zeros(0, dtype=np.int64)
        self.det_boxes = np.zeros((0, 4))
        self.scores = np.zeros(0)
        self.payloads: list[Any] = []

    @property
    def num_tracks(self) -> int:
        """Live tracks, confirmed or not."""
        return len(self.track_ids)

    def _keep(self, mask: np.ndarray) -> None:
        if mask.all():
            return
        self.filters.keep(mask)
        for name in ("track_ids", "hits", "hit_streak", "misses", "birth_frame", "det_boxes", "scores"):
            setattr(self, name, getattr(self, name)[mask])
        self.payloads = [p for p, k in zip(self.payloads, mask) if k]

    def _start_tracks(self, boxes: np.ndarray, scores: np.ndarray, payloads: list) -> None:
        count = len(boxes)
        if count == 0:
            return
        self.filters.append(boxes_to_measurements(boxes))
        if self.parity_mode:  # SORT numbers every track it creates, confirmed or not
            new_ids = np.arange(self._next_id, self._next_id + count)
            self._next_id += count
        else:
            new_ids = np.full(count, -1)
        self.track_ids = np.concatenate([self.track_ids, new_ids])
        self.hits = np.concatenate([self.hits, np.ones(count, dtype=np.int64)])
        self.hit_streak = np.concatenate([self.hit_streak, np.zeros(count, dtype=np.int64)])
        self.misses = np.concatenate([self.misses, np.zeros(count, dtype=np.int64)])
        self.birth_frame = np.concatenate([self.birth_frame, np.full(count, self.frame_count)])
        self.det_boxes = np.concatenate([self.det_boxes, boxes])
        self.scores = np.concatenate([self.scores, scores])
        self.payloads.extend(payloads)

    # ------------------------------------------------------------------------------------------ update

    def update(self, boxes: np.ndarray, scores: Optional[np.ndarray] = None,
               payloads: Optional[Sequence[Any]] = None) -> list[TrackOutput]:
        """Advance one frame.

        Args:
            boxes: (N, 4) xyxy pixels (N may be 0). Invalid rows are ignored with a warning.
            scores: (N,) detection scores; None means all 1.
            payloads: N objects carried with the detections (None: no payloads).
        Returns:
            The tracks reported on this frame (matched on this frame and confirmed), one per detection at
            most, in order of detection index.
        """
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"tracker: boxes must be an (N, 4) xyxy array, got shape {boxes.shape}")
        count = len(boxes)
        scores = np.ones(count) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != count:
            raise ValueError(f"tracker: got {count} boxes but {len(scores)} scores")
        if payloads is not None and len(payloads) != count:
            raise ValueError(f"tracker: got {count} boxes but {len(payloads)} payloads")

        valid = valid_box_mask(boxes) & ~np.isnan(scores)
        if not valid.all():
            warnings.warn(f"tracker: ignored {int((~valid).sum())} of {count} detections on frame "
                          f"{self.frame_count + 1} with a NaN/infinite box or score or a box of zero or "
                          f"negative size", InvalidBoxWarning, stacklevel=2)
        self.frame_count += 1
        self._predict()
        if self.parity_mode:
            matched_det = self._step_parity(boxes, scores, payloads, np.flatnonzero(valid))
        else:
            matched_det = self._step_person(boxes, scores, payloads, valid)
        return self._report(matched_det)

    def _predict(self) -> None:
        if self.num_tracks == 0:
            return
        # SORT: a track that missed the previous frame loses its streak when it is predicted again.
        self.hit_streak[self.misses > 0] = 0
        self.filters.predict()
        self.misses += 1
        # A filter whose prediction is no longer a box is dropped, as SORT drops NaN predictions.
        self._keep(valid_states(self.filters.x))

    def _apply_matches(self, matches: np.ndarray, det_rows: np.ndarray, boxes, scores, payloads) -> None:
        """Correct tracks ``matches[:, 1]`` with detections ``det_rows[matches[:, 0]]``."""
        if len(matches) == 0:
            return
        tracks = matches[:, 1]
        dets = det_rows[matches[:, 0]]
        self.filters.update(tracks, boxes_to_measurements(boxes[dets]))
        self.misses[tracks] = 0
        self.hits[tracks] += 1
        self.hit_streak[tracks] += 1
        self.det_boxes[tracks] = boxes[dets]
        self.scores[tracks] = scores[dets]
        if payloads is not None:
            for track, det in zip(tracks, dets):
                self.payloads[track] = payloads[det]
        self._det_of_track[tracks] = dets

    def _step_parity(self, boxes, scores, payloads, det_rows: np.ndarray) -> np.ndarray:
        self._det_of_track = np.full(self.num_tracks, -1, dtype=np.int64)
        iou = iou_matrix(boxes[det_rows], self.filters.boxes() if self.num_tracks else np.zeros((0, 4)))
        matches, unmatched_dets, _ = associate(iou, self.iou_threshold, unambiguous_shortcut=True)
        self._apply_matches(matches, det_rows, boxes, scores, payloads)
        new_rows = det_rows[unmatched_dets]
        self._start_new(new_rows, boxes, scores, payloads)
        return self._det_of_track

    def _step_person(self, boxes, scores, payloads, valid: np.ndarray) -> np.ndarray:
        self._det_of_track = np.full(self.num_tracks, -1, dtype=np.int64)
        high_rows = np.flatnonzero(valid & (scores >= self.high_score))
        predicted = self.filters.boxes() if self.num_tracks else np.zeros((0, 4))
        matches, unmatched_high, unmatched_tracks = associate(
            iou_matrix(boxes[high_rows], predicted), self.iou_threshold, unambiguous_shortcut=False)
        self._apply_matches(matches, high_rows, boxes, scores, payloads)
        if self.second_pass:
            low_rows = np.flatnonzero(valid & (scores >= self.low_score) & (scores < self.high_score))
            # Only tracks that were matched on the previous frame (misses == 1 after predict) and are
            # confirmed: an unsure box may keep a track going but not revive a lost or doubtful one.
            candidates = unmatched_tracks[(self.misses[unmatched_tracks] == 1)
                                          & (self.track_ids[unmatched_tracks] >= 0)]
            if len(low_rows) and len(candidates):
                second, _, _ = associate(iou_matrix(boxes[low_rows], predicted[candidates]),
                                         max(self.iou_threshold, SECOND_PASS_MIN_IOU), unambiguous_shortcut=False)
                second = np.stack([second[:, 0], candidates[second[:, 1]]], axis=1) if len(second) else second
                self._apply_matches(second, low_rows, boxes, scores, payloads)
        # Tentative tracks end at their first miss; confirmed ones after more than max_age misses.
        self._start_new(high_rows[unmatched_high], boxes, scores, payloads)
        unconfirmed = self.track_ids < 0
        confirm = unconfirmed & (self.hits >= max(self.min_hits, 1))
        if confirm.any():
            count = int(confirm.sum())
            self.track_ids[confirm] = np.arange(self._next_id, self._next_id + count)
            self._next_id += count
        return self._det_of_track

    def _start_new(self, rows: np.ndarray, boxes, scores, payloads) -> None:
        self._start_tracks(boxes[rows], scores[rows],
                           [payloads[r] for r in rows] if payloads is not None else [None] * len(rows))
        self._det_of_track = np.concatenate([self._det_of_track, rows.astype(np.int64)])

    def _report(self, det_of_track: np.ndarray) -> list[TrackOutput]:
        matched = self.misses == 0
        if self.parity_mode:
            shown = matched & ((self.hit_streak >= self.min_hits) | (self.frame_count <= self.min_hits))
            alive = self.misses <= self.max_age
        else:
            shown = matched & (self.track_ids >= 0)
            confirmed = self.track_ids >= 0
            alive = np.where(confirmed, self.misses <= self.max_age, matched)
        rows = np.nonzero(shown)[0]
        if len(rows):
            posterior = states_to_boxes(self.filters.x[rows])
            det_boxes = self.det_boxes[rows]
            columns = zip(self.track_ids[rows].tolist(), self.frame_count - self.birth_frame[rows],
                          self.hits[rows].tolist(), det_of_track[rows].tolist(), self.scores[rows].tolist())
            outputs = [TrackOutput(track_id=track_id, box=posterior[i], det_box=det_boxes[i], det_index=det_index,
                                   score=score, age=int(age), hits=hits, payload=self.payloads[row])
                       for i, (row, (track_id, age, hits, det_index, score)) in enumerate(zip(rows, columns))]
        else:
            outputs = []
        self._keep(alive)
        outputs.sort(key=lambda out: out.det_index)
        return outputs

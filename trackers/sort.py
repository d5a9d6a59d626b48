"""SORT (Bewley et al. 2016, arXiv 1602.00763), written from the paper, vectorised over tracks.

Each frame: predict every track one frame ahead with its constant-velocity Kalman filter
(:mod:`trackers.kalman`), match detections to predicted boxes by IoU with an optimal assignment
(:mod:`trackers.association`), correct matched tracks, start tracks from unmatched detections and end
tracks that went unmatched for more than ``max_age`` frames.

Two behaviours:

- **parity** (:meth:`SortTracker.parity`): exactly the original SORT, to reproduce its published MOT15
  numbers and its output file: ``max_age=1, min_hits=3, iou_threshold=0.3``; every detection takes part
  whatever its score; the association is the original's (:func:`trackers.association.associate_original`:
  its shortcut, its solver, and its order of unmatched detections); a track is reported on a frame when
  it was matched on that frame and either its current run of consecutive matches after its first
  detection (``hit_streak``) reached ``min_hits`` or the tracker has seen no more than ``min_hits``
  frames; the reported box is the filter's posterior; IDs are numbered 1, 2, 3, ... in order of track
  creation — every unmatched detection creates a track, in the original's order, so unconfirmed tracks
  use up numbers. ``parity_solver`` picks the assignment solver (``scipy``, or ``lap`` as the original
  when ``lap`` is installed): the two differ only where the optimal assignment is tied.
- **person video** (the default): tuned so people keep their ID through short occlusions and IDs never
  blink out in saved results:

  * ``max_age=30``: a confirmed track coasts on its prediction for up to 30 frames (about 1 s at 25-30
    fps, long enough for someone to pass behind another person or a pole) before it ends;
  * ``min_hits=3``: a track is confirmed on its third matched frame (0.1 s), which removes one- and
    two-frame false detections; once confirmed it stays confirmed (unlike SORT's streak rule, a single
    missed frame does not hide the ID for the next ``min_hits`` frames);
  * a tentative (unconfirmed) track that misses a frame ends at once, so the long ``max_age`` does not
    let false detections accumulate;
  * a lost track (unmatched on the previous frame) matches a detection that overlaps either its
    predicted box or its last detected box: after a long occlusion the constant-velocity prediction of
    a jittery person box has usually drifted, while people tend to reappear near where they were last
    seen;
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

from trackers.association import PARITY_SOLVERS, associate, associate_original, iou_matrix
from trackers.kalman import KalmanBank, boxes_to_measurements, states_to_boxes

# The original SORT's settings (its published MOT15 numbers use these); every parity path reads them here.
PARITY_SETTINGS: dict[str, float] = {"max_age": 1, "min_hits": 3, "iou_threshold": 0.3}

SECOND_PASS_MIN_IOU = 0.5  # ByteTrack's IoU for low-score boxes: they are unsure, so ask for more overlap
LAST_BOX_MIN_IOU = 0.5     # a lost track found at its last detected box must overlap it this well


class InvalidBoxWarning(UserWarning):
    """A detection box was NaN, infinite, or had zero or negative width or height and was ignored."""


@dataclass(slots=True)
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


MAX_COORD = 1e7  # pixels: beyond this the Kalman state (area = w * h) overflows or loses the box to rounding
MIN_SIZE = 1e-3  # pixels: a thinner box has an aspect ratio whose square root underflows (h becomes inf)


def valid_box_mask(boxes: np.ndarray, scores: Optional[np.ndarray] = None) -> np.ndarray:
    """(N, 4) xyxy [and (N,) scores] -> (N,) bool: all finite, within ``MAX_COORD`` pixels, width and height
    at least ``MIN_SIZE``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    # A row sum is finite only if every entry is (NaN and ±inf propagate): one check for all columns.
    with np.errstate(invalid="ignore", over="ignore"):
        total = boxes.sum(axis=1) if scores is None else boxes.sum(axis=1) + scores
        inside = np.abs(boxes).max(axis=1) <= MAX_COORD
        wide = (boxes[:, 2] - boxes[:, 0] >= MIN_SIZE) & (boxes[:, 3] - boxes[:, 1] >= MIN_SIZE)
    return np.isfinite(total) & inside & wide


class SortTracker:
    """Multi-object tracker on boxes. Call :meth:`update` once per frame, in order, also for frames
    without detections."""

    def __init__(self, max_age: int = 30, min_hits: int = 3, iou_threshold: float = 0.3,
                 second_pass: bool = True, high_score: float = 0.5, low_score: float = 0.1,
                 parity: bool = False, parity_solver: str = "scipy") -> None:
        self.max_age = int(max_age)
        self.min_hits = int(min_hits)
        self.iou_threshold = float(iou_threshold)
        self.second_pass = bool(second_pass)
        self.high_score = float(high_score)
        self.low_score = float(low_score)
        self.parity_mode = bool(parity)
        if parity_solver not in PARITY_SOLVERS:
            raise ValueError(f"tracker: parity_solver {parity_solver!r}: use one of {', '.join(PARITY_SOLVERS)}")
        self.parity_solver = parity_solver
        if self.max_age < 0 or self.min_hits < 0 or not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"tracker settings out of range: max_age={max_age} (>= 0), min_hits={min_hits} "
                             f"(>= 0), iou_threshold={iou_threshold} (0..1)")
        if self.low_score > self.high_score:
            raise ValueError(f"tracker: low_score ({low_score}) must not exceed high_score ({high_score})")
        self.reset()

    @classmethod
    def parity(cls, max_age: Optional[int] = None, min_hits: Optional[int] = None,
               iou_threshold: Optional[float] = None, solver: str = "scipy") -> "SortTracker":
        """The original SORT's behaviour and defaults (:data:`PARITY_SETTINGS`; ``None`` keeps one);
        ``solver``: ``scipy`` or ``lap``, the two assignment solvers the original runs with (see the module
        docstring on ties)."""
        chosen = {"max_age": max_age, "min_hits": min_hits, "iou_threshold": iou_threshold}
        settings = {k: PARITY_SETTINGS[k] if v is None else v for k, v in chosen.items()}
        return cls(**settings, second_pass=False, parity=True, parity_solver=solver)

    @classmethod
    def from_config(cls, config) -> "SortTracker":
        """From an ``engine.config.TrackerConfig``-like object (attributes of the same names). With
        ``parity`` true the original's settings are used and the others are ignored."""
        if config.parity:
            return cls.parity()
        return cls(max_age=config.max_age, min_hits=config.min_hits, iou_threshold=config.iou_threshold,
                   second_pass=config.second_pass, high_score=config.high_score, low_score=config.low_score)

    def configure(self, max_age: Optional[int] = None, min_hits: Optional[int] = None,
                  iou_threshold: Optional[float] = None, second_pass: Optional[bool] = None,
                  high_score: Optional[float] = None, low_score: Optional[float] = None,
                  parity: Optional[bool] = None) -> None:
        """Change settings during a run (``None`` keeps a value). Live tracks keep their IDs; switching
        ``parity`` ends every live track (the two modes count differently) but IDs still never repeat."""
        updated = SortTracker(
            max_age=self.max_age if max_age is None else max_age,
            min_hits=self.min_hits if min_hits is None else min_hits,
            iou_threshold=self.iou_threshold if iou_threshold is None else iou_threshold,
            second_pass=self.second_pass if second_pass is None else second_pass,
            high_score=self.high_score if high_score is None else high_score,
            low_score=self.low_score if low_score is None else low_score,
            parity=self.parity_mode if parity is None else parity, parity_solver=self.parity_solver)
        mode_changed = updated.parity_mode != self.parity_mode
        for name in ("max_age", "min_hits", "iou_threshold", "second_pass", "high_score", "low_score", "parity_mode"):
            setattr(self, name, getattr(updated, name))
        if mode_changed:
            self._keep(np.zeros(self.num_tracks, dtype=bool))

    def describe(self) -> str:
        """One line naming the mode and its settings."""
        if self.parity_mode:
            solver = "" if self.parity_solver == "scipy" else f", {self.parity_solver} solver"
            return (f"SORT parity (max_age {self.max_age}, min_hits {self.min_hits}, "
                    f"IoU {self.iou_threshold:g}{solver})")
        second = (f", second pass {self.low_score:g}..{self.high_score:g}" if self.second_pass
                  else f", scores >= {self.high_score:g}")
        return (f"SORT person video (max_age {self.max_age}, min_hits {self.min_hits}, "
                f"IoU {self.iou_threshold:g}{second})")

    def track_info(self, track_id: int) -> Optional[dict]:
        """A live track's state, or None when no live track has this ID: ``age``, ``hits``, ``misses``
        (frames since its last match), ``box`` (4,) xyxy current Kalman estimate, ``det_box`` (4,) its
        latest detection, ``score`` and ``payload`` of that detection."""
        if track_id < 0:
            return None
        rows = np.nonzero(self._counts[:, 0] == track_id)[0]
        if len(rows) == 0:
            return None
        row = int(rows[0])
        _, hits, _, misses, birth = self._counts[row].tolist()
        return {"age": self.frame_count - birth, "hits": hits, "misses": misses,
                "box": states_to_boxes(self.filters.x[row:row + 1])[0], "det_box": self._latest[row, 0:4].copy(),
                "score": float(self._latest[row, 4]), "payload": self.payloads[row]}

    # ------------------------------------------------------------------------------------------- state

    def reset(self) -> None:
        """Forget every track and start numbering IDs at 1 again (a new run)."""
        self.frame_count = 0
        self._next_id = 1
        self.filters = KalmanBank()
        # Per-track integers, one row per track in the filters' row order (one array: cheap to grow/drop):
        # ID (-1 while unconfirmed in person-video mode), hits (matched frames, first detection included),
        # SORT's hit streak (consecutive matches after the first one), misses (frames since the last
        # match, SORT's time_since_update) and the frame the track started on.
        self._counts = np.zeros((0, 5), dtype=np.int64)
        # Per-track latest detection: box (4,) xyxy and score.
        self._latest = np.zeros((0, 5))
        self.payloads: list[Any] = []

    track_ids = property(lambda self: self._counts[:, 0])
    hits = property(lambda self: self._counts[:, 1])
    hit_streak = property(lambda self: self._counts[:, 2])
    misses = property(lambda self: self._counts[:, 3])
    birth_frame = property(lambda self: self._counts[:, 4])

    @property
    def num_tracks(self) -> int:
        """Live tracks, confirmed or not."""
        return len(self._counts)

    def _keep(self, mask: np.ndarray) -> None:
        if mask.all():
            return
        self.filters.keep(mask)
        self._counts = self._counts[mask]
        self._latest = self._latest[mask]
        self.payloads = [p for p, k in zip(self.payloads, mask.tolist()) if k]

    def _start_tracks(self, boxes: np.ndarray, scores: np.ndarray, measurements: np.ndarray,
                      payloads: list) -> None:
        count = len(boxes)
        if count == 0:
            return
        self.filters.append(measurements)
        counts = np.zeros((count, 5), dtype=np.int64)
        if self.parity_mode:  # SORT numbers every track it creates, confirmed or not
            counts[:, 0] = np.arange(self._next_id, self._next_id + count)
            self._next_id += count
        else:
            counts[:, 0] = -1
        counts[:, 1] = 1
        counts[:, 4] = self.frame_count
        self._counts = np.concatenate([self._counts, counts])
        latest = np.empty((count, 5))
        latest[:, :4] = boxes
        latest[:, 4] = scores
        self._latest = np.concatenate([self._latest, latest])
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
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            if boxes.size != 0:
                raise ValueError(f"tracker: boxes must be an (N, 4) xyxy array, got shape {boxes.shape}")
            boxes = boxes.reshape(0, 4)
        count = len(boxes)
        if scores is None:
            scores = np.ones(count)
        else:
            scores = np.asarray(scores, dtype=np.float64)
            if scores.shape != (count,):
                scores = scores.reshape(-1)
                if len(scores) != count:
                    raise ValueError(f"tracker: got {count} boxes but {len(scores)} scores")
        if payloads is not None and len(payloads) != count:
            raise ValueError(f"tracker: got {count} boxes but {len(payloads)} payloads")

        # Fast check first (a sum is finite only if every term is): normal frames cost two reductions.
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: the check itself reports it
            all_valid = bool(np.isfinite(boxes.sum() + scores.sum())
                             and (boxes[:, 2:4] - boxes[:, 0:2] >= MIN_SIZE).all()
                             and (count == 0 or np.abs(boxes).max() <= MAX_COORD))
        if all_valid:
            valid_rows = np.arange(count)
            measurements = boxes_to_measurements(boxes)
        else:
            valid = valid_box_mask(boxes, scores)
            valid_rows = np.nonzero(valid)[0]
            warnings.warn(f"tracker: ignored {count - len(valid_rows)} of {count} detections on frame "
                          f"{self.frame_count + 1} with a NaN/infinite box or score, a box under "
                          f"{MIN_SIZE:g} px wide or high or one beyond {MAX_COORD:g} pixels",
                          InvalidBoxWarning, stacklevel=2)
            measurements = np.zeros((count, 4))
            measurements[valid_rows] = boxes_to_measurements(boxes[valid_rows])
        self._frame = (boxes, scores, measurements, payloads)
        self.frame_count += 1
        self._predict()
        self._det_of_track = np.empty(self.num_tracks, dtype=np.int64)
        self._det_of_track.fill(-1)
        if self.parity_mode:
            self._step_parity(valid_rows)
        else:
            self._step_person(valid_rows)
        self._frame = None
        return self._report()

    def _predict(self) -> None:
        """Predict every track; sets ``self._predicted`` (N, 4) xyxy boxes of the surviving tracks."""
        if self.num_tracks == 0:
            self._predicted = np.zeros((0, 4))
            return
        counts = self._counts
        # SORT: a track that missed the previous frame loses its streak when it is predicted again.
        counts[counts[:, 3] > 0, 2] = 0
        self.filters.predict()
        counts[:, 3] += 1
        # A filter whose prediction is no longer a box is dropped, as SORT drops NaN predictions. The fast
        # check (all areas and aspects positive, boxes finite) passes on every frame of normal input.
        state = self.filters.x
        if not np.minimum(state[:, 2], state[:, 3]).min() > 0:
            self._keep((state[:, 2] > 0) & (state[:, 3] > 0))
        predicted = self.filters.boxes()
        if not np.isfinite(predicted.sum()):
            self._keep(np.isfinite(predicted.sum(axis=1)))
            predicted = self.filters.boxes()
        self._predicted = predicted

    def _apply_matches(self, matches: np.ndarray, det_rows: np.ndarray) -> None:
        """Correct tracks ``matches[:, 1]`` with this frame's detections ``det_rows[matches[:, 0]]``."""
        if len(matches) == 0:
            return
        boxes, scores, measurements, payloads = self._frame
        tracks = matches[:, 1]
        dets = det_rows[matches[:, 0]]
        self.filters.update(tracks, measurements[dets])
        counts = self._counts
        counts[tracks, 3] = 0          # misses
        counts[tracks, 1:3] += 1       # hits, hit streak
        self._latest[tracks, 0:4] = boxes[dets]
        self._latest[tracks, 4] = scores[dets]
        if payloads is not None:
            for track, det in zip(tracks.tolist(), dets.tolist()):
                self.payloads[track] = payloads[det]
        self._det_of_track[tracks] = dets

    def _step_parity(self, det_rows: np.ndarray) -> None:
        """SORT: all valid detections in one association; every unmatched detection starts a track."""
        boxes = self._frame[0]
        iou = iou_matrix(boxes[det_rows], self._predicted)
        # The original's association, its solver and its order of unmatched detections included: that
        # order is the order new tracks are created in, i.e. their IDs.
        matches, unmatched_dets, _ = associate_original(iou, self.iou_threshold, self.parity_solver)
        self._apply_matches(matches, det_rows)
        self._start_new(det_rows[unmatched_dets])

    def _step_person(self, det_rows: np.ndarray) -> None:
        """High-score detections first, then lost tracks at their last box, then low-score detections to
        recently matched confirmed tracks; unmatched high-score detections start tracks."""
        boxes, scores = self._frame[0], self._frame[1]
        det_scores = scores[det_rows]
        any_low = len(det_rows) > 0 and det_scores.min() < self.high_score
        high_rows = det_rows[det_scores >= self.high_score] if any_low else det_rows
        matches, unmatched_high, unmatched_tracks = associate(
            iou_matrix(boxes[high_rows], self._predicted), self.iou_threshold, gated=True)
        self._apply_matches(matches, high_rows)
        if len(unmatched_high) and len(unmatched_tracks):
            # Lost tracks (missed at least the previous frame) still unmatched may take a detection that
            # overlaps their last detected box well: a hidden person often reappears where they were last
            # seen, while the constant-velocity guess of a jittery person box drifts away. This comes after
            # the main pass so it never takes a detection that a track found at its predicted position.
            lost = unmatched_tracks[self._counts[unmatched_tracks, 3] > 1]
            if len(lost):
                rows = high_rows[unmatched_high]
                found, still_unmatched, _ = associate(iou_matrix(boxes[rows], self._latest[lost, 0:4]),
                                                      max(self.iou_threshold, LAST_BOX_MIN_IOU), gated=True)
                if len(found):
                    self._apply_matches(np.stack([found[:, 0], lost[found[:, 1]]], axis=1), rows)
                    unmatched_high = unmatched_high[still_unmatched]
                    unmatched_tracks = np.setdiff1d(unmatched_tracks, lost[found[:, 1]])
        if self.second_pass and any_low and len(unmatched_tracks):
            # Only tracks that were matched on the previous frame (misses == 1 after predict) and are
            # confirmed: an unsure box may keep a track going but not revive a lost or doubtful one.
            counts = self._counts[unmatched_tracks]
            candidates = unmatched_tracks[(counts[:, 3] == 1) & (counts[:, 0] >= 0)]
            low_rows = det_rows[(det_scores >= self.low_score) & (det_scores < self.high_score)]
            if len(low_rows) and len(candidates):
                second, _, _ = associate(iou_matrix(boxes[low_rows], self._predicted[candidates]),
                                         max(self.iou_threshold, SECOND_PASS_MIN_IOU), gated=True)
                if len(second):
                    second = np.stack([second[:, 0], candidates[second[:, 1]]], axis=1)
                    self._apply_matches(second, low_rows)
        self._start_new(high_rows[unmatched_high])
        # IDs are handed out when a track is confirmed (so they are consecutive among reported tracks).
        counts = self._counts
        confirm = np.nonzero((counts[:, 0] < 0) & (counts[:, 1] >= max(self.min_hits, 1)))[0]
        if len(confirm):
            counts[confirm, 0] = np.arange(self._next_id, self._next_id + len(confirm))
            self._next_id += len(confirm)

    def _start_new(self, rows: np.ndarray) -> None:
        """Start a track from each of this frame's detections ``rows``."""
        if len(rows) == 0:
            return
        boxes, scores, measurements, payloads = self._frame
        self._start_tracks(boxes[rows], scores[rows], measurements[rows],
                           [payloads[r] for r in rows.tolist()] if payloads is not None else [None] * len(rows))
        self._det_of_track = np.concatenate([self._det_of_track, rows])

    def _report(self) -> list[TrackOutput]:
        """The tracks to report on this frame; then drop the tracks that ended."""
        counts = self._counts
        matched = counts[:, 3] == 0
        if self.parity_mode:  # SORT's rule: matched now, and a long enough streak or the first frames
            shown = matched & ((counts[:, 2] >= self.min_hits) | (self.frame_count <= self.min_hits))
            alive = counts[:, 3] <= self.max_age
        else:  # matched now and confirmed; tentative tracks end at their first miss
            confirmed = counts[:, 0] >= 0
            shown = matched & confirmed
            alive = np.where(confirmed, counts[:, 3] <= self.max_age, matched)
        rows = np.nonzero(shown)[0]
        outputs = []
        if len(rows):
            posterior = states_to_boxes(self.filters.x[rows])
            latest = self._latest[rows]
            payloads = self.payloads
            frame = self.frame_count
            for i, (row, (track_id, hits, _, _, birth), det_index) in enumerate(
                    zip(rows.tolist(), counts[rows].tolist(), self._det_of_track[rows].tolist())):
                outputs.append(TrackOutput(track_id, posterior[i], latest[i, 0:4], det_index, float(latest[i, 4]),
                                           frame - birth, hits, payloads[row]))
        self._keep(alive)
        if len(outputs) > 1:
            outputs.sort(key=_by_detection)
        return outputs


def _by_detection(output: TrackOutput) -> int:
    return output.det_index

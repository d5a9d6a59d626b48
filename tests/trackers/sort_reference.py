"""An independent, deliberately plain reference of the ORIGINAL SORT's published behaviour (test-only).

Written from the paper (Bewley et al. 2016, arXiv 1602.00763) and the original program's documented
behaviour, not from its code, and sharing nothing with ``trackers/``: one object per track, a filterpy
``KalmanFilter`` each, plain loops. Its only job is to be obviously the original's algorithm so the tests
can compare whole output files of ``SortTracker.parity()`` against it.

Behaviour reproduced:

- State ``[cx, cy, s, r, vcx, vcy, vs]`` (centre, area, aspect w/h, velocities), constant velocity; the
  aspect has no velocity. filterpy defaults (identity P, Q, R) scaled as published:
  ``R[2:, 2:] *= 10``, ``P[4:, 4:] *= 1000``, ``P *= 10``, ``Q[-1, -1] *= 0.01``, ``Q[4:, 4:] *= 0.01``.
  Before predicting, if ``s + vs <= 0`` the area velocity is set to 0.
- A track's ID is taken from a counter when the track is created (every unmatched detection creates
  one, in the order the association lists them, whether or not the track is ever output); the file
  shows ``id + 1``.
- Per frame: predict every track (a track that was not matched on the previous frame loses its hit
  streak); drop tracks whose prediction is not a number; IoU matrix detections × predictions.
  If every detection and every track has exactly one IoU above the threshold (and there is at least
  one), take those pairs; otherwise solve the assignment maximising total IoU on −IoU with
  ``scipy.optimize.linear_sum_assignment`` (or ``lap.lapjv``, which the original prefers when it is
  installed: ``solver="lap"``). Unmatched detections are listed as: the ones the
  solver left out, in index order, then the assigned pairs with IoU below the threshold, in the
  solver's order. Matched tracks are corrected; unmatched detections create tracks.
- Output, walking the tracks from the newest to the oldest: a track is written when
  ``time_since_update < 1 and (hit_streak >= min_hits or frame_count <= min_hits)``; a track is removed
  when ``time_since_update > max_age``. Lines: ``frame,id,x,y,w,h,1,-1,-1,-1`` with ``%.2f`` boxes
  (the posterior after the update).
- Every detection is used, whatever its score. Defaults ``max_age=1, min_hits=3, iou_threshold=0.3``.

Ties: :func:`tied_outcome` tells whether a solved assignment has another optimal assignment that would
change what the frame does (which pairs match, or the order in which new tracks are numbered); the
tracker records such frames in ``tied_frames`` (when created with ``find_ties=True``).
"""
from __future__ import annotations

import itertools

import lap
import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment


def box_to_measurement(box):
    """[x1, y1, x2, y2] -> (4, 1) [cx, cy, area, aspect]."""
    width = box[2] - box[0]
    height = box[3] - box[1]
    return np.array([box[0] + width / 2.0, box[1] + height / 2.0, width * height, width / float(height)]
                    ).reshape((4, 1))


def state_to_box(x):
    """State (7, 1) -> [x1, y1, x2, y2]."""
    width = np.sqrt(x[2, 0] * x[3, 0])
    height = x[2, 0] / width
    return [x[0, 0] - width / 2.0, x[1, 0] - height / 2.0, x[0, 0] + width / 2.0, x[1, 0] + height / 2.0]


def iou(a, b):
    """IoU of two [x1, y1, x2, y2] boxes (continuous coordinates, no +1)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


class Track:
    """One tracked object: a 7-state constant-velocity Kalman filter and its counters."""

    def __init__(self, box, track_id: int) -> None:
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.F = np.array([[1, 0, 0, 0, 1, 0, 0],
                         [0, 1, 0, 0, 0, 1, 0],
                         [0, 0, 1, 0, 0, 0, 1],
                         [0, 0, 0, 1, 0, 0, 0],
                         [0, 0, 0, 0, 1, 0, 0],
                         [0, 0, 0, 0, 0, 1, 0],
                         [0, 0, 0, 0, 0, 0, 1]], dtype=float)
        kf.H = np.array([[1, 0, 0, 0, 0, 0, 0],
                         [0, 1, 0, 0, 0, 0, 0],
                         [0, 0, 1, 0, 0, 0, 0],
                         [0, 0, 0, 1, 0, 0, 0]], dtype=float)
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0   # unknown initial velocities
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4] = box_to_measurement(box)
        self.kf = kf
        self.id = track_id
        self.time_since_update = 0
        self.hits = 0
        self.hit_streak = 0
        self.age = 0

    def predict(self):
        if self.kf.x[6, 0] + self.kf.x[2, 0] <= 0:
            self.kf.x[6, 0] = 0.0
        self.kf.predict()
        self.age += 1
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        return state_to_box(self.kf.x)

    def correct(self, box) -> None:
        self.time_since_update = 0
        self.hits += 1
        self.hit_streak += 1
        self.kf.update(box_to_measurement(box))

    def box(self):
        return state_to_box(self.kf.x)


def _outcome(pairs, iou_matrix, threshold):
    """What an assignment makes the frame do: (kept pairs, unmatched detections in creation order)."""
    n = iou_matrix.shape[0]
    assigned = {d for d, _ in pairs}
    unmatched = [d for d in range(n) if d not in assigned]
    kept = []
    for d, t in pairs:
        if iou_matrix[d, t] < threshold:
            unmatched.append(d)
        else:
            kept.append((d, t))
    return frozenset(kept), tuple(unmatched)


def solve(iou_matrix, solver="scipy"):
    """The assignment maximising total IoU -> [(detection, track)] in detection order."""
    if solver == "lap":
        # lapjv: x[row] = its column (-1: none) on the extended square problem
        _, x, _ = lap.lapjv(-iou_matrix, extend_cost=True)
        return [(int(r), int(c)) for r, c in enumerate(x) if c >= 0]
    rows, cols = linear_sum_assignment(-iou_matrix)
    return [(int(r), int(c)) for r, c in zip(rows, cols)]


def tied_outcome(iou_matrix, threshold, solver="scipy") -> bool:
    """True when an assignment with the same total IoU but a different outcome exists.

    Found by solving again with the other solver and with the detections and the tracks listed in other
    orders (reversed, transposed) — each makes the solvers break ties differently — and, on small
    problems (at most 120 assignments), by brute force over every assignment.
    """
    best = solve(iou_matrix, solver)
    total = sum(iou_matrix[d, t] for d, t in best)
    reference = _outcome(best, iou_matrix, threshold)
    n, m = iou_matrix.shape
    candidates = [solve(iou_matrix, "lap" if solver == "scipy" else "scipy")]
    for rows, cols in ((np.arange(n)[::-1], np.arange(m)), (np.arange(n), np.arange(m)[::-1]),
                       (np.arange(n)[::-1], np.arange(m)[::-1])):
        for name in ("scipy", "lap"):
            sub = iou_matrix[np.ix_(rows, cols)]
            candidates.append([(int(rows[r]), int(cols[c])) for r, c in solve(sub, name)])
    candidates.append([(d, t) for t, d in solve(iou_matrix.T)])
    if max(n, m) <= 5:
        if n <= m:
            candidates += [list(enumerate(perm)) for perm in itertools.permutations(range(m), n)]
        else:
            candidates += [[(d, t) for t, d in enumerate(perm)] for perm in itertools.permutations(range(n), m)]
    for pairs in candidates:
        pairs = sorted(pairs)
        if abs(sum(iou_matrix[d, t] for d, t in pairs) - total) <= 1e-9 and \
                _outcome(pairs, iou_matrix, threshold) != reference:
            return True
    return False


def associate(detections, predictions, threshold, solver="scipy", on_tie=None):
    """-> (matches [(d, t)], unmatched detections in creation order). ``on_tie()`` is called when the
    solved assignment is tied (only then is the tie check run)."""
    if len(predictions) == 0:
        return [], list(range(len(detections)))
    if len(detections) == 0:
        return [], []
    iou_matrix = np.zeros((len(detections), len(predictions)))
    for d, det in enumerate(detections):
        for t, pred in enumerate(predictions):
            iou_matrix[d, t] = iou(det, pred)
    above = iou_matrix > threshold
    if above.sum(axis=1).max() == 1 and above.sum(axis=0).max() == 1:
        pairs = [(int(d), int(t)) for d, t in zip(*np.nonzero(above))]
    else:
        pairs = solve(iou_matrix, solver)
        if on_tie is not None and tied_outcome(iou_matrix, threshold, solver):
            on_tie()
    kept, unmatched = _outcome(pairs, iou_matrix, threshold)
    return sorted(kept), list(unmatched)


class ReferenceSort:
    """The original SORT (module docstring). ``update(dets)`` with dets (N, 5) [x1, y1, x2, y2, score]
    returns (K, 5) [x1, y1, x2, y2, id + 1] rows, newest track first."""

    def __init__(self, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3, solver: str = "scipy",
                 find_ties: bool = False) -> None:
        self.solver = solver
        self.find_ties = find_ties
        self.max_age = max_age
        self.min_hits = min_hits
        self.iou_threshold = iou_threshold
        self.tracks: list[Track] = []
        self.frame_count = 0
        self.next_id = 0
        self.tied_frames: list[int] = []

    def update(self, dets):
        self.frame_count += 1
        predictions, alive = [], []
        for track in self.tracks:
            box = track.predict()
            if np.any(np.isnan(box)):
                continue
            predictions.append(box)
            alive.append(track)
        self.tracks = alive
        boxes = [list(map(float, d[:4])) for d in dets]
        on_tie = (lambda: self.tied_frames.append(self.frame_count)) if self.find_ties else None
        matches, unmatched = associate(boxes, predictions, self.iou_threshold, self.solver, on_tie)
        for d, t in matches:
            self.tracks[t].correct(boxes[d])
        for d in unmatched:
            self.tracks.append(Track(boxes[d], self.next_id))
            self.next_id += 1
        out = []
        for track in reversed(self.tracks):
            if track.time_since_update < 1 and (track.hit_streak >= self.min_hits
                                                or self.frame_count <= self.min_hits):
                out.append(track.box() + [track.id + 1])
        self.tracks = [t for t in self.tracks if t.time_since_update <= self.max_age]
        return np.array(out).reshape(-1, 5)


def track_mot_file(det_path, solver="scipy", find_ties=False):
    """Run the reference over a MOTChallenge det.txt -> (lines as the original writes them, tied frames)."""
    seq = np.loadtxt(det_path, delimiter=",", ndmin=2)
    tracker = ReferenceSort(solver=solver, find_ties=find_ties)
    lines = []
    for frame in range(1, int(seq[:, 0].max()) + 1):
        dets = seq[seq[:, 0] == frame, 2:7].copy()
        dets[:, 2:4] += dets[:, 0:2]           # x, y, w, h -> x1, y1, x2, y2
        for d in tracker.update(dets):
            lines.append("%d,%d,%.2f,%.2f,%.2f,%.2f,1,-1,-1,-1" % (frame, d[4], d[0], d[1], d[2] - d[0],
                                                                   d[3] - d[1]))
    return lines, tracker.tied_frames

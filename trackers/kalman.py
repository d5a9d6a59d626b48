"""A bank of constant-velocity Kalman filters for boxes, one row per track, updated all at once.

State per track (7,): ``cx, cy, area, aspect, vcx, vcy, varea`` — box centre in pixels, area in square
pixels, aspect ratio width / height, and the per-frame velocities of the first three (the aspect ratio is
modelled as constant). Measurement (4,): ``cx, cy, area, aspect``. This is the motion model of the SORT
paper (Bewley et al. 2016, arXiv 1602.00763, section 3.2).

Noise values (the ones SORT is known to use; the parity mode needs them for the published MOT15 numbers):
measurement noise R = diag(1, 1, 10, 10); initial covariance P0 = diag(10, 10, 10, 10, 1e4, 1e4, 1e4);
process noise Q = diag(1, 1, 1, 1, 1e-2, 1e-2, 1e-4).

Why no 7×7 matrices: F only adds each velocity to its own quantity, H picks the first four entries, and
R, Q and P0 are diagonal. So the 7-D filter is exactly four independent small filters — (cx, vcx),
(cy, vcy), (area, varea) with a 2×2 covariance each, and aspect with a scalar variance — and every
covariance entry linking two of them is zero at the start and stays exactly zero. Storing only the
non-zero entries turns predict and update into a few element-wise operations on (N, 3) arrays for all
N tracks at once, with the same numbers as the full matrix filter.
"""
from __future__ import annotations

import numpy as np

STATE_DIM = 7
MEASURE_DIM = 4

# Per-quantity noise, read off the diagonal matrices above.
MEASUREMENT_VARIANCE = np.array([1.0, 1.0, 10.0, 10.0])        # cx, cy, area, aspect
INITIAL_VARIANCE = np.array([10.0, 10.0, 10.0, 10.0])          # cx, cy, area, aspect
INITIAL_VELOCITY_VARIANCE = np.array([1e4, 1e4, 1e4])           # vcx, vcy, varea
PROCESS_VARIANCE = np.array([1.0, 1.0, 1.0, 1.0])              # cx, cy, area, aspect
PROCESS_VELOCITY_VARIANCE = np.array([1e-2, 1e-2, 1e-4])       # vcx, vcy, varea


def boxes_to_measurements(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy pixels -> (N, 4) ``cx, cy, area, aspect`` (aspect = width / height). Boxes must have
    positive width and height (the tracker checks that first)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty((len(boxes), 4))
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    out[:, 0] = boxes[:, 0] + width / 2.0
    out[:, 1] = boxes[:, 1] + height / 2.0
    out[:, 2] = width * height
    out[:, 3] = width / height
    return out


def states_to_boxes(states: np.ndarray) -> np.ndarray:
    """(N, >=4) states -> (N, 4) xyxy pixels. Call only on valid states (:func:`valid_states`)."""
    states = np.atleast_2d(np.asarray(states, dtype=np.float64))
    out = np.empty((len(states), 4))
    width = np.sqrt(states[:, 2] * states[:, 3])
    height = states[:, 2] / width
    out[:, 0] = states[:, 0] - width / 2.0
    out[:, 1] = states[:, 1] - height / 2.0
    out[:, 2] = states[:, 0] + width / 2.0
    out[:, 3] = states[:, 1] + height / 2.0
    return out


def valid_states(states: np.ndarray) -> np.ndarray:
    """(N, 7) -> (N,) bool: finite, with positive area and aspect (so the state is a real box)."""
    return np.isfinite(states).all(axis=1) & (states[:, 2] > 0) & (states[:, 3] > 0)


class KalmanBank:
    """The filters of all live tracks. Rows are tracks; the tracker keeps its own per-track arrays in the
    same row order (``append`` adds rows at the end, ``keep`` drops rows).

    Arrays: ``x`` (N, 7) states; covariance as ``var`` (N, 4) variances of cx, cy, area, aspect,
    ``cov`` (N, 3) covariances of (cx, vcx), (cy, vcy), (area, varea) and ``vel_var`` (N, 3) variances
    of vcx, vcy, varea (every other covariance entry is zero, see the module docstring).
    """

    def __init__(self) -> None:
        self.x = np.zeros((0, STATE_DIM))
        self.var = np.zeros((0, 4))
        self.cov = np.zeros((0, 3))
        self.vel_var = np.zeros((0, 3))

    def __len__(self) -> int:
        return len(self.x)

    def covariance(self) -> np.ndarray:
        """The full (N, 7, 7) covariance matrices (for inspection and tests)."""
        n = len(self.x)
        P = np.zeros((n, STATE_DIM, STATE_DIM))
        idx = np.arange(4)
        P[:, idx, idx] = self.var
        pos, vel = np.arange(3), np.arange(4, 7)
        P[:, vel, vel] = self.vel_var
        P[:, pos, vel] = self.cov
        P[:, vel, pos] = self.cov
        return P

    def append(self, measurements: np.ndarray) -> None:
        """Start one filter per (M, 4) measurement: state = measurement, velocities 0."""
        measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, MEASURE_DIM)
        count = len(measurements)
        if count == 0:
            return
        x_new = np.zeros((count, STATE_DIM))
        x_new[:, :MEASURE_DIM] = measurements
        self.x = np.concatenate([self.x, x_new])
        self.var = np.concatenate([self.var, np.tile(INITIAL_VARIANCE, (count, 1))])
        self.cov = np.concatenate([self.cov, np.zeros((count, 3))])
        self.vel_var = np.concatenate([self.vel_var, np.tile(INITIAL_VELOCITY_VARIANCE, (count, 1))])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where boolean ``mask`` (N,) is False."""
        self.x = self.x[mask]
        self.var = self.var[mask]
        self.cov = self.cov[mask]
        self.vel_var = self.vel_var[mask]

    def predict(self) -> None:
        """One frame ahead for every track: x ← F x, P ← F P Fᵀ + Q.

        If the area would reach zero or below, the area velocity is zeroed first (as SORT does) so a
        shrinking box stops shrinking instead of turning into an invalid one.
        """
        if len(self.x) == 0:
            return
        x = self.x
        collapsing = x[:, 2] + x[:, 6] <= 0
        if collapsing.any():
            x[collapsing, 6] = 0.0
        x[:, 0:3] += x[:, 4:7]
        # Per (position p, velocity v) pair with covariance [[a, b], [b, c]] and F = [[1, 1], [0, 1]]:
        # a ← a + 2b + c, b ← b + c, c unchanged; then add the process noise.
        a, b, c = self.var[:, 0:3], self.cov, self.vel_var
        self.var[:, 0:3] = a + 2.0 * b + c
        self.cov = b + c
        self.var += PROCESS_VARIANCE
        self.vel_var = c + PROCESS_VELOCITY_VARIANCE

    def update(self, rows: np.ndarray, measurements: np.ndarray) -> None:
        """Correct the filters ``rows`` (K,) int with their (K, 4) measurements."""
        rows = np.asarray(rows, dtype=np.intp)
        if len(rows) == 0:
            return
        z = np.asarray(measurements, dtype=np.float64).reshape(-1, MEASURE_DIM)
        x = self.x[rows]
        var, cov, vel_var = self.var[rows], self.cov[rows], self.vel_var[rows]
        innovation_var = var + MEASUREMENT_VARIANCE          # S (diagonal)
        gain_pos = var / innovation_var                      # K for cx, cy, area, aspect
        gain_vel = cov / innovation_var[:, 0:3]              # K for vcx, vcy, varea
        innovation = z - x[:, 0:4]
        x[:, 0:4] += gain_pos * innovation
        x[:, 4:7] += gain_vel * innovation[:, 0:3]
        self.x[rows] = x
        # P ← (I - K H) P, per pair: a ← a(1 - ka), b ← b(1 - ka), c ← c - kb·b.
        keep_fraction = 1.0 - gain_pos
        self.var[rows] = var * keep_fraction
        self.cov[rows] = cov * keep_fraction[:, 0:3]
        self.vel_var[rows] = vel_var - gain_vel * cov

    def boxes(self) -> np.ndarray:
        """(N, 4) xyxy pixels of the current states (valid states only; see :func:`valid_states`)."""
        return states_to_boxes(self.x)

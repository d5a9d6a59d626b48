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
    if not (isinstance(states, np.ndarray) and states.ndim == 2 and states.dtype == np.float64):
        states = np.atleast_2d(np.asarray(states, dtype=np.float64))
    half = np.empty((len(states), 2))                    # half width, half height
    np.sqrt(states[:, 2] * states[:, 3], out=half[:, 0])
    np.divide(states[:, 2], half[:, 0], out=half[:, 1])
    half *= 0.5
    out = np.empty((len(states), 4))
    np.subtract(states[:, 0:2], half, out=out[:, 0:2])
    np.add(states[:, 0:2], half, out=out[:, 2:4])
    return out


def valid_states(states: np.ndarray) -> np.ndarray:
    """(N, 7) -> (N,) bool: finite, with positive area and aspect (so the state is a real box)."""
    return np.isfinite(states).all(axis=1) & (states[:, 2] > 0) & (states[:, 3] > 0)


_INITIAL_ROW = np.concatenate([np.zeros(STATE_DIM), INITIAL_VARIANCE, np.zeros(3), INITIAL_VELOCITY_VARIANCE])


def _predict_map() -> tuple[np.ndarray, np.ndarray]:
    """The prediction step as one affine map of a stored row (17,) -> (17,).

    Row layout: state x (0..6), position variances a (7..10: cx, cy, area, aspect), position-velocity
    covariances b (11..13), velocity variances c (14..16). For each (position, velocity) pair with
    F = [[1, 1], [0, 1]]: p <- p + v; a <- a + 2b + c + q_p; b <- b + c; c <- c + q_v; the aspect
    (no velocity) keeps its value and its variance grows by its q.
    """
    m = np.eye(17)
    for k in range(3):
        pos, vel, a, b, c = k, 4 + k, 7 + k, 11 + k, 14 + k
        m[pos, vel] = 1.0
        m[a, b] = 2.0
        m[a, c] = 1.0
        m[b, c] = 1.0
    offset = np.zeros(17)
    offset[7:11] = PROCESS_VARIANCE
    offset[14:17] = PROCESS_VELOCITY_VARIANCE
    return np.ascontiguousarray(m.T), offset


_PREDICT_MAP_T, _PREDICT_OFFSET = _predict_map()


class KalmanBank:
    """The filters of all live tracks. Rows are tracks; the tracker keeps its own per-track arrays in the
    same row order (``append`` adds rows at the end, ``keep`` drops rows).

    Arrays: ``x`` (N, 7) states; covariance as ``var`` (N, 4) variances of cx, cy, area, aspect,
    ``cov`` (N, 3) covariances of (cx, vcx), (cy, vcy), (area, varea) and ``vel_var`` (N, 3) variances
    of vcx, vcy, varea (every other covariance entry is zero, see the module docstring). All four are
    column views of one (N, 17) array so adding and dropping tracks is one numpy call.
    """

    _WIDTH = STATE_DIM + 4 + 3 + 3

    def __init__(self) -> None:
        self.data = np.zeros((0, self._WIDTH))

    x = property(lambda self: self.data[:, 0:7])
    var = property(lambda self: self.data[:, 7:11])
    cov = property(lambda self: self.data[:, 11:14])
    vel_var = property(lambda self: self.data[:, 14:17])

    def __len__(self) -> int:
        return len(self.data)

    def covariance(self) -> np.ndarray:
        """The full (N, 7, 7) covariance matrices (for inspection and tests)."""
        n = len(self.data)
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
        new = np.tile(_INITIAL_ROW, (count, 1))
        new[:, :MEASURE_DIM] = measurements
        self.data = np.concatenate([self.data, new])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where boolean ``mask`` (N,) is False."""
        self.data = self.data[mask]

    def predict(self) -> None:
        """One frame ahead for every track: x ← F x, P ← F P Fᵀ + Q.

        If the area would reach zero or below, the area velocity is zeroed first (as SORT does) so a
        shrinking box stops shrinking instead of turning into an invalid one.
        """
        if len(self.x) == 0:
            return
        d = self.data
        collapsing = d[:, 2] + d[:, 6] <= 0
        if collapsing.any():
            d[collapsing, 6] = 0.0
        # x <- F x and P <- F P F^T + Q are both affine in the stored row (see _PREDICT_MAP): one product.
        self.data = d @ _PREDICT_MAP_T + _PREDICT_OFFSET

    def update(self, rows: np.ndarray, measurements: np.ndarray) -> None:
        """Correct the filters ``rows`` (K,) int with their (K, 4) measurements ``cx, cy, area, aspect``."""
        if len(rows) == 0:
            return
        z = measurements
        d = self.data[rows]
        var, cov, vel_var = d[:, 7:11], d[:, 11:14], d[:, 14:17]
        innovation_var = var + MEASUREMENT_VARIANCE          # S (diagonal)
        gain_pos = var / innovation_var                      # K for cx, cy, area, aspect
        gain_vel = cov / innovation_var[:, 0:3]              # K for vcx, vcy, varea
        innovation = z - d[:, 0:4]
        d[:, 0:4] += gain_pos * innovation
        d[:, 4:7] += gain_vel * innovation[:, 0:3]
        # P <- (I - K H) P, per pair: a <- a(1 - ka), b <- b(1 - ka), c <- c - kb*b (old b).
        vel_var -= gain_vel * cov
        keep_fraction = 1.0 - gain_pos
        cov *= keep_fraction[:, 0:3]
        var *= keep_fraction
        self.data[rows] = d

    def boxes(self) -> np.ndarray:
        """(N, 4) xyxy pixels of the current states (valid states only; see :func:`valid_states`)."""
        return states_to_boxes(self.data)

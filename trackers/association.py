"""Matching detections to tracks: IoU cost and optimal one-to-one assignment (``lap.lapjv``)."""
from __future__ import annotations

import lap
import numpy as np

EMPTY_MATCHES = np.empty((0, 2), dtype=np.intp)


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair: (N, 4) and (M, 4) xyxy -> (N, M) in [0, 1].

    Widths are ``x2 - x1`` (continuous pixel coordinates, no +1). Pairs with a zero union give 0.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0.0, None) * np.clip(iy2 - iy1, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def optimal_assignment(cost: np.ndarray) -> np.ndarray:
    """Minimum-cost one-to-one assignment of a rectangular (N, M) cost matrix -> (K, 2) row, column pairs
    (K = min(N, M)), sorted by row. Uses the Jonker-Volgenant solver from ``lap``."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return EMPTY_MATCHES
    _, column_of_row, _ = lap.lapjv(cost, extend_cost=True)
    rows = np.flatnonzero(column_of_row >= 0)
    return np.stack([rows, column_of_row[rows]], axis=1).astype(np.intp)


def associate(iou: np.ndarray, iou_threshold: float, unambiguous_shortcut: bool = True):
    """Match rows (detections) to columns (tracks) of an (N, M) IoU matrix.

    The assignment maximises total IoU; pairs whose IoU is below ``iou_threshold`` are then dropped.
    With ``unambiguous_shortcut`` (SORT's behaviour), when every row and every column has at most one
    entry above the threshold those pairs are taken directly (same result in nearly all cases, cheaper).

    Returns ``matches`` (K, 2) [detection, track], ``unmatched_detections`` (N - K,),
    ``unmatched_tracks`` (M - K,), all int index arrays.
    """
    n_rows, n_cols = iou.shape
    if n_rows == 0 or n_cols == 0:
        return EMPTY_MATCHES, np.arange(n_rows), np.arange(n_cols)
    above = iou > iou_threshold
    if unambiguous_shortcut and above.sum(axis=1).max() <= 1 and above.sum(axis=0).max() <= 1:
        matches = np.argwhere(above).astype(np.intp)
    else:
        matches = optimal_assignment(-iou)
        if len(matches):
            matches = matches[iou[matches[:, 0], matches[:, 1]] >= iou_threshold]
    row_matched = np.zeros(n_rows, dtype=bool)
    col_matched = np.zeros(n_cols, dtype=bool)
    row_matched[matches[:, 0]] = True
    col_matched[matches[:, 1]] = True
    return matches, np.flatnonzero(~row_matched), np.flatnonzero(~col_matched)

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
    ax1, ay1, ax2, ay2 = a.T
    bx1, by1, bx2, by2 = b.T
    inter = np.minimum.outer(ax2, bx2)
    inter -= np.maximum.outer(ax1, bx1)
    np.maximum(inter, 0.0, out=inter)
    height = np.minimum.outer(ay2, by2)
    height -= np.maximum.outer(ay1, by1)
    np.maximum(height, 0.0, out=height)
    inter *= height
    union = np.add.outer((ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1))
    union -= inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def optimal_assignment(cost: np.ndarray) -> np.ndarray:
    """Minimum-cost one-to-one assignment of a rectangular (N, M) cost matrix -> (K, 2) row, column pairs
    (K = min(N, M)), sorted by row. Uses the Jonker-Volgenant solver from ``lap``."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return EMPTY_MATCHES
    _, column_of_row, _ = lap.lapjv(cost, extend_cost=True)
    rows = np.nonzero(column_of_row >= 0)[0]
    pairs = np.empty((len(rows), 2), dtype=np.intp)
    pairs[:, 0] = rows
    pairs[:, 1] = column_of_row[rows]
    return pairs


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
        matches = np.transpose(np.nonzero(above)).astype(np.intp)
    else:
        matches = optimal_assignment(-iou)
        if len(matches):
            matches = matches[iou[matches[:, 0], matches[:, 1]] >= iou_threshold]
    row_matched = np.zeros(n_rows, dtype=bool)
    col_matched = np.zeros(n_cols, dtype=bool)
    row_matched[matches[:, 0]] = True
    col_matched[matches[:, 1]] = True
    return matches, np.nonzero(~row_matched)[0], np.nonzero(~col_matched)[0]

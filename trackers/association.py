"""Matching detections to tracks: IoU cost and optimal one-to-one assignment (``lap.lapjv``; the parity
mode's :func:`associate_original` uses ``scipy.optimize.linear_sum_assignment``, as the original SORT)."""
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
    top_left = np.maximum(a[:, None, 0:2], b[:, 0:2])          # (N, M, 2)
    overlap = np.minimum(a[:, None, 2:4], b[:, 2:4])
    overlap -= top_left
    np.maximum(overlap, 0.0, out=overlap)                        # overlap width and height
    inter = overlap[..., 0] * overlap[..., 1]
    size_a = a[:, 2:4] - a[:, 0:2]
    size_b = b[:, 2:4] - b[:, 0:2]
    union = (size_a[:, 0] * size_a[:, 1])[:, None] + size_b[:, 0] * size_b[:, 1]
    union -= inter
    return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)


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


def associate(iou: np.ndarray, iou_threshold: float, unambiguous_shortcut: bool = True, gated: bool = False):
    """Match rows (detections) to columns (tracks) of an (N, M) IoU matrix.

    The assignment maximises total IoU; pairs whose IoU is below ``iou_threshold`` are then dropped.
    With ``unambiguous_shortcut`` (SORT's behaviour), when every row and every column has at most one
    entry above the threshold those pairs are taken directly (same result in nearly all cases, cheaper).
    With ``gated``, IoUs below the threshold count as 0 in the assignment, so it never gives up a valid
    pair for an invalid one that would be dropped afterwards (the shortcut is then always exact).

    Returns ``matches`` (K, 2) [detection, track], ``unmatched_detections`` (N - K,),
    ``unmatched_tracks`` (M - K,), all int index arrays.
    """
    n_rows, n_cols = iou.shape
    if n_rows == 0 or n_cols == 0:
        return EMPTY_MATCHES, np.arange(n_rows), np.arange(n_cols)
    above = iou > iou_threshold
    row_hits = above.sum(axis=1)
    col_hits = above.sum(axis=0)
    if (unambiguous_shortcut or gated) and row_hits.max() <= 1 and col_hits.max() <= 1:
        rows, cols = np.nonzero(above)
        matches = np.empty((len(rows), 2), dtype=np.intp)
        matches[:, 0] = rows
        matches[:, 1] = cols
        return matches, np.nonzero(row_hits == 0)[0], np.nonzero(col_hits == 0)[0]
    if gated and not row_hits.any():
        return EMPTY_MATCHES, np.arange(n_rows), np.arange(n_cols)
    matches = optimal_assignment(-iou * above if gated else -iou)
    if len(matches):
        matches = matches[iou[matches[:, 0], matches[:, 1]] >= iou_threshold]
    row_matched = np.zeros(n_rows, dtype=bool)
    col_matched = np.zeros(n_cols, dtype=bool)
    row_matched[matches[:, 0]] = True
    col_matched[matches[:, 1]] = True
    return matches, np.nonzero(~row_matched)[0], np.nonzero(~col_matched)[0]


PARITY_SOLVERS = ("scipy", "lap")


def associate_original(iou: np.ndarray, iou_threshold: float, solver: str = "scipy"):
    """The original SORT's association of an (N, M) detections × tracks IoU matrix, order included.

    - If every row and every column has exactly one IoU above the threshold (at most one each, and at
      least one in all), those pairs are the matches. Otherwise the assignment maximising total IoU is
      solved on −IoU (over the whole matrix, below-threshold pairs included) and its pairs with IoU
      below the threshold are dropped. ``solver``: ``scipy`` (``scipy.optimize.linear_sum_assignment``)
      or ``lap`` (``lap.lapjv``, which the original prefers when it is installed). Both find an optimum;
      where several assignments are optimal (often: a track that overlaps nothing can take any
      detection at IoU 0) they may pick different ones, and then the new tracks' IDs differ.
    - ``unmatched_detections`` keeps the original's order, which decides the order new tracks are
      created (and so their IDs): first the detections the solver left unassigned, ascending, then the
      detections of dropped pairs, ascending.

    Returns ``matches`` (K, 2) [detection, track] sorted by detection, ``unmatched_detections``,
    ``unmatched_tracks`` (int index arrays).
    """
    n_rows, n_cols = iou.shape
    if n_rows == 0 or n_cols == 0:
        return EMPTY_MATCHES, np.arange(n_rows), np.arange(n_cols)
    above = iou > iou_threshold
    if above.sum(axis=1).max() == 1 and above.sum(axis=0).max() == 1:
        rows, cols = np.nonzero(above)
        pairs = np.stack([rows, cols], axis=1).astype(np.intp)
    elif solver == "lap":
        pairs = optimal_assignment(-iou)                           # rows ascending
    else:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-iou)
        pairs = np.stack([rows, cols], axis=1).astype(np.intp)      # rows ascending
    assigned = np.zeros(n_rows, dtype=bool)
    assigned[pairs[:, 0]] = True
    keep = iou[pairs[:, 0], pairs[:, 1]] >= iou_threshold
    matches = pairs[keep]
    unmatched_dets = np.concatenate([np.nonzero(~assigned)[0], pairs[~keep, 0]]).astype(np.intp)
    col_matched = np.zeros(n_cols, dtype=bool)
    col_matched[matches[:, 1]] = True
    return matches, unmatched_dets, np.nonzero(~col_matched)[0]

"""The official HAKE person-level detection benchmark (docs/hake_facts.md §7), as pure numpy.

For one class:

1. all detected persons of all images are ranked by their score for that class (highest first; ties keep
   the input order, i.e. a stable sort);
2. walking down the ranking, a detection is a true positive when the best IoU with a *not yet matched*
   ground-truth person box of that class in the same image is **above** ``iou_threshold`` (0.3); that
   ground-truth box (the largest-IoU unmatched one) is then marked matched. A detection whose only
   overlapping ground truth is already matched (a duplicate) is a false positive, as is every detection
   in an image without ground truth for the class;
3. precision/recall along the ranking give the **11-point interpolated AP**: the mean over the literal
   thresholds 0.0, 0.1, ..., 1.0 of the best precision at a recall >= the threshold (0 when no recall
   reaches it). A recall exactly equal to a threshold counts (6/20 >= 0.3);
4. a class without any ground-truth box has AP = NaN and is left out of every mean.

Box areas are ``(x2 - x1) * (y2 - y1)`` (no +1). Boxes are xyxy pixels.
"""
from __future__ import annotations

import math
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

# The literal thresholds of the official code: i / 10 is the correctly rounded double of "0.i", the same
# value as the literal, while np.arange(0, 1.1, 0.1) gives 0.30000000000000004 and changes results.
RECALL_THRESHOLDS = tuple(i / 10 for i in range(11))

Detection = tuple  # (image_key, score, box xyxy)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) with boxes (M, 4), all xyxy; returns (M,) float64. Areas have no +1."""
    box = np.asarray(box, dtype=np.float64).reshape(4)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def eleven_point_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """11-point interpolated AP from recall/precision along a ranking (same length, any order)."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    total = 0.0
    for threshold in RECALL_THRESHOLDS:
        reached = recall >= threshold
        total += float(precision[reached].max()) if reached.any() else 0.0
    return total / len(RECALL_THRESHOLDS)


def match_detections(keys: Sequence[Hashable], scores: np.ndarray, boxes: np.ndarray,
                     ground_truth: Mapping[Hashable, np.ndarray],
                     iou_threshold: float = 0.3) -> tuple[np.ndarray, int]:
    """Rank detections by score and mark true positives.

    ``keys`` (D,) image keys, ``scores`` (D,), ``boxes`` (D, 4) xyxy; ``ground_truth`` image key -> (M, 4).
    Returns (``is_tp`` (D,) bool in ranking order, number of ground-truth boxes).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-scores, kind="stable")
    gt_boxes = {k: np.asarray(v, dtype=np.float64).reshape(-1, 4) for k, v in ground_truth.items()}
    n_gt = int(sum(len(v) for v in gt_boxes.values()))
    matched = {k: np.zeros(len(v), dtype=bool) for k, v in gt_boxes.items()}
    is_tp = np.zeros(len(order), dtype=bool)
    for rank, index in enumerate(order):
        key = keys[index]
        candidates = gt_boxes.get(key)
        if candidates is None or len(candidates) == 0:
            continue
        iou = box_iou(boxes[index], candidates)
        iou[matched[key]] = -1.0  # matched boxes are out of reach: a duplicate becomes a false positive
        best = int(np.argmax(iou))
        if iou[best] > iou_threshold:
            matched[key][best] = True
            is_tp[rank] = True
    return is_tp, n_gt


def ap_from_matches(is_tp: np.ndarray, n_gt: int) -> float:
    """11-point AP from ranked true-positive flags and the ground-truth count (NaN when ``n_gt`` is 0)."""
    if n_gt == 0:
        return math.nan
    is_tp = np.asarray(is_tp, dtype=bool)
    if len(is_tp) == 0:
        return 0.0
    tp = np.cumsum(is_tp, dtype=np.float64)
    fp = np.cumsum(~is_tp, dtype=np.float64)
    recall = tp / float(n_gt)
    precision = tp / (tp + fp)
    return eleven_point_ap(recall, precision)


def person_ap(detections: Iterable[Detection], ground_truth: Mapping[Hashable, np.ndarray],
              iou_threshold: float = 0.3) -> float:
    """Official person-level AP of one class.

    ``detections``: iterable of ``(image_key, score, box)`` with box (4,) xyxy pixels;
    ``ground_truth``: image key -> (M, 4) xyxy boxes of persons that have the class (images may be absent).
    Returns the 11-point AP in [0, 1], or NaN when there is no ground-truth box at all.
    """
    detections = list(detections)
    keys = [d[0] for d in detections]
    scores = np.array([float(d[1]) for d in detections], dtype=np.float64)
    boxes = np.array([np.asarray(d[2], dtype=np.float64).reshape(4) for d in detections],
                     dtype=np.float64).reshape(-1, 4)
    is_tp, n_gt = match_detections(keys, scores, boxes, ground_truth, iou_threshold)
    return ap_from_matches(is_tp, n_gt)


def class_aps(keys: Sequence[Hashable], boxes: np.ndarray, scores: np.ndarray,
              ground_truth: Sequence[Mapping[Hashable, np.ndarray]],
              iou_threshold: float = 0.3) -> np.ndarray:
    """AP of every class at once.

    ``keys`` (D,) image key of each detected person, ``boxes`` (D, 4) xyxy, ``scores`` (D, C) per-class
    scores, ``ground_truth[c]`` image key -> (M, 4) boxes for class c. Returns (C,) float64 with NaN for
    classes without ground truth.
    """
    scores = np.asarray(scores, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if scores.ndim != 2 or scores.shape[0] != len(keys) or boxes.shape[0] != len(keys):
        raise ValueError(f"class_aps: expected scores (D, C) and boxes (D, 4) with D = {len(keys)} "
                         f"detections, got scores {scores.shape} and boxes {boxes.shape}")
    if scores.shape[1] != len(ground_truth):
        raise ValueError(f"class_aps: {scores.shape[1]} score columns but ground truth for "
                         f"{len(ground_truth)} classes")
    aps = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        is_tp, n_gt = match_detections(keys, scores[:, c], boxes, ground_truth[c], iou_threshold)
        aps[c] = ap_from_matches(is_tp, n_gt)
    return aps


def nanmean(values: Iterable[float]) -> float:
    """Mean over the non-NaN values; NaN when there are none (no warning)."""
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def summarize(pasta_ap: np.ndarray, verb_ap: np.ndarray, group_slices: Sequence[slice],
              group_names: Sequence[str], verb_no_interaction: int = 57, hico_verbs: int = 117) -> dict:
    """The official summary from per-class APs.

    ``pasta_ap`` (93,), ``verb_ap`` (157,) with NaN for classes without ground truth. Per group:
    ``with_no_interaction`` = mean over all its classes, ``without_no_interaction`` = mean without its last
    class. ``pasta_mean`` = mean of the groups' values. Verbs: mean over all 157, without index
    ``verb_no_interaction``, and over the first ``hico_verbs`` (the HICO verbs, no_interaction included).
    """
    groups = {}
    for name, sl in zip(group_names, group_slices):
        values = pasta_ap[sl]
        groups[name] = {"with_no_interaction": nanmean(values), "without_no_interaction": nanmean(values[:-1])}
    verb_without = np.delete(np.asarray(verb_ap, dtype=np.float64), verb_no_interaction)
    return {
        "pasta_groups": groups,
        "pasta_mean": {
            "with_no_interaction": nanmean(g["with_no_interaction"] for g in groups.values()),
            "without_no_interaction": nanmean(g["without_no_interaction"] for g in groups.values()),
        },
        "verb": {
            "all": nanmean(verb_ap),
            "without_no_interaction": nanmean(verb_without),
            "hico": nanmean(np.asarray(verb_ap)[:hico_verbs]),
        },
    }

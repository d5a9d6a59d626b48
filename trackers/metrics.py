"""Tracking scores for MOTChallenge files: CLEAR MOT, ID metrics and HOTA, written here with numpy.

Why our own evaluator: the MOTChallenge devkit is MATLAB, TrackEval is not installable next to this
project's numpy 1.x, and py-motmetrics (installed) differs from the devkit on MOTP, MT/PT/ML and
fragmentations (on SORT's TUD-Campus output it gives MOTP 72.7, MT 5, Frag 14 where the devkit's
published row says 73.7, 6, 9). These implementations follow the definitions below, reproduce that whole
published row from the original SORT's output (Rcll 68.5, Prcn 94.3, MT 6, PT 2, ML 0, FP 15, FN 113,
IDsw 6, FM 9, MOTA 62.7, MOTP 73.7), agree with motmetrics on MOTA, FP, FN, ID switches and IDF1, and
with TrackEval 1.3.0 on HOTA, DetA, AssA, LocA and IDF1 to the last digit on TUD-Campus and TUD-Stadtmitte
(tests/test_tracker_mot15.py keeps those checks).

- CLEAR MOT: :func:`clear_metrics`; ID metrics: :func:`id_metrics`; both match boxes at IoU >= 0.5 as
  the MOTChallenge 2D benchmarks do.
- HOTA (Luiten et al., IJCV 2020), :func:`hota`: for each localisation threshold alpha in 0.05, 0.10,
  ..., 0.95, ground truth and tracks are matched one-to-one in every frame by the Hungarian algorithm,
  maximising IoU weighted by how well the two IDs align over the whole sequence (so consistent pairs are
  preferred); matched pairs with IoU >= alpha are true positives. DetA = TP / (TP + FN + FP); for each
  true positive c, A(c) = TPA / (TPA + FNA + FPA) = n(g, t) / (n(g) + n(t) - n(g, t)) where n(g, t)
  counts the frames where ground-truth ID g is matched to track ID t, and n(g), n(t) count their
  detections; AssA = mean of A(c) over true positives; HOTA_alpha = sqrt(DetA · AssA); HOTA, DetA, AssA
  and LocA (mean IoU of true positives) are averaged over the 19 alphas. The alignment weight is the
  IoU-based soft count of how often the two IDs overlap (their "potential matches"), the choice the
  authors' TrackEval makes.

Ground-truth lines whose 7th column (the "consider" flag) is 0 are ignored; other columns are not used
(no distractor-class removal, which only MOT16/17 define).
"""
from __future__ import annotations

import numpy as np

from trackers.association import iou_matrix, optimal_assignment
from trackers.mot_io import frames_of, xywh_to_xyxy

HOTA_ALPHAS = np.arange(0.05, 0.96, 0.05)
CLEAR_IOU = 0.5

# Printed order and labels of ``evaluate``'s keys.
SUMMARY_FIELDS = (
    ("mota", "MOTA", "pct"), ("idf1", "IDF1", "pct"), ("hota", "HOTA", "pct"), ("deta", "DetA", "pct"),
    ("assa", "AssA", "pct"), ("motp", "MOTP", "pct"), ("recall", "Rcll", "pct"), ("precision", "Prcn", "pct"),
    ("num_false_positives", "FP", "int"), ("num_misses", "FN", "int"), ("num_switches", "IDsw", "int"),
    ("num_fragmentations", "Frag", "int"), ("mostly_tracked", "MT", "int"), ("partially_tracked", "PT", "int"),
    ("mostly_lost", "ML", "int"), ("num_unique_objects", "GT", "int"), ("num_frames", "Frames", "int"),
)


def _per_frame(gt: np.ndarray, tracks: np.ndarray):
    """Yield ``(frame, gt_ids, gt_xyxy, track_ids, track_xyxy)`` over frames 1..last of either file."""
    last = int(max(gt[:, 0].max() if len(gt) else 0, tracks[:, 0].max() if len(tracks) else 0))
    for (frame, g), (_, t) in zip(frames_of(gt, last), frames_of(tracks, last)):
        yield frame, g[:, 1].astype(np.int64), xywh_to_xyxy(g[:, 2:6]), t[:, 1].astype(np.int64), \
            xywh_to_xyxy(t[:, 2:6])


def clear_metrics(gt: np.ndarray, tracks: np.ndarray, threshold: float = CLEAR_IOU) -> dict:
    """CLEAR MOT scores (Bernardin & Stiefelhagen 2008) as the MOTChallenge devkit computes them.

    Per frame, ground truth and tracks are matched one-to-one by the Hungarian algorithm on IoU, pairs
    below ``threshold`` excluded, and a pair that was matched on the previous frame is kept whenever it is
    still valid (it gets a large bonus). An ID switch is a matched ground-truth object whose track differs
    from the one it was last matched to; a fragmentation is a ground-truth trajectory resuming after being
    untracked. MT / ML: tracked in more than 80 % / less than 20 % of its frames; PT: the rest.
    MOTA = 1 - (FN + FP + IDsw) / GT detections; MOTP = mean IoU of matches.
    """
    ids_gt = np.unique(gt[:, 1]).astype(np.int64) if len(gt) else np.zeros(0, np.int64)
    gt_index = {v: i for i, v in enumerate(ids_gt.tolist())}
    n_gt = len(ids_gt)
    last_track = np.full(n_gt, -1, dtype=np.int64)        # track of the latest match ever (-1: none yet)
    previous_track = np.full(n_gt, -1, dtype=np.int64)    # track matched on the previous frame (-1: none)
    gt_frames = np.zeros(n_gt, dtype=np.int64)
    matched_frames = np.zeros(n_gt, dtype=np.int64)
    resumes = np.zeros(n_gt, dtype=np.int64)
    true_pos = false_pos = false_neg = switches = 0
    iou_sum = 0.0
    frames = 0
    for _, gt_ids, gt_boxes, track_ids, track_boxes in _per_frame(gt, tracks):
        frames += 1
        g = np.array([gt_index[v] for v in gt_ids.tolist()], dtype=np.intp)
        gt_frames[g] += 1
        current = np.full(n_gt, -1, dtype=np.int64)
        matched = 0
        if len(g) and len(track_ids):
            similarity = iou_matrix(gt_boxes, track_boxes)
            score = similarity + 1000.0 * (previous_track[g][:, None] == track_ids[None, :])
            score[similarity < threshold - 1e-10] = 0.0
            pairs = optimal_assignment(-score)
            pairs = pairs[score[pairs[:, 0], pairs[:, 1]] > 0]
            matched = len(pairs)
            if matched:
                pair_gt, pair_track = g[pairs[:, 0]], track_ids[pairs[:, 1]]
                switches += int(((last_track[pair_gt] >= 0) & (last_track[pair_gt] != pair_track)).sum())
                resumes[pair_gt[previous_track[pair_gt] < 0]] += 1
                last_track[pair_gt] = pair_track
                current[pair_gt] = pair_track
                matched_frames[pair_gt] += 1
                iou_sum += float(similarity[pairs[:, 0], pairs[:, 1]].sum())
        previous_track = current
        true_pos += matched
        false_neg += len(g) - matched
        false_pos += len(track_ids) - matched
    present = gt_frames > 0
    ratio = matched_frames[present] / gt_frames[present]
    mostly = int((ratio > 0.8).sum())
    partly = int((ratio >= 0.2).sum()) - mostly
    num_gt_dets = true_pos + false_neg
    return {
        "mota": 1.0 - (false_neg + false_pos + switches) / max(1, num_gt_dets),
        "motp": iou_sum / true_pos if true_pos else float("nan"),
        "recall": true_pos / max(1, num_gt_dets),
        "precision": true_pos / max(1, true_pos + false_pos),
        "num_false_positives": float(false_pos), "num_misses": float(false_neg), "num_switches": float(switches),
        "num_fragmentations": float(np.maximum(resumes - 1, 0).sum()),
        "mostly_tracked": float(mostly), "partially_tracked": float(partly),
        "mostly_lost": float(int(present.sum()) - mostly - partly),
        "num_unique_objects": float(present.sum()), "num_frames": float(frames),
    }


def id_metrics(gt: np.ndarray, tracks: np.ndarray, threshold: float = CLEAR_IOU) -> dict:
    """IDF1, IDP, IDR (Ristani et al. 2016): ground-truth IDs and track IDs are paired one-to-one over the
    whole sequence so that the number of frames where a pair overlaps with IoU >= ``threshold`` (IDTP) is
    largest; IDF1 = 2 IDTP / (GT detections + track detections)."""
    ids_gt = {v: i for i, v in enumerate(np.unique(gt[:, 1]).astype(np.int64).tolist())} if len(gt) else {}
    ids_tr = {v: i for i, v in enumerate(np.unique(tracks[:, 1]).astype(np.int64).tolist())} if len(tracks) else {}
    overlap_frames = np.zeros((len(ids_gt), len(ids_tr)))
    for _, gt_ids, gt_boxes, track_ids, track_boxes in _per_frame(gt, tracks):
        if len(gt_ids) and len(track_ids):
            g = np.array([ids_gt[v] for v in gt_ids.tolist()], dtype=np.intp)
            t = np.array([ids_tr[v] for v in track_ids.tolist()], dtype=np.intp)
            hit = iou_matrix(gt_boxes, track_boxes) >= threshold - 1e-10
            np.add.at(overlap_frames, (g[:, None], t[None, :]), hit)
    pairs = optimal_assignment(-overlap_frames)
    id_true_pos = float(overlap_frames[pairs[:, 0], pairs[:, 1]].sum()) if len(pairs) else 0.0
    n_gt, n_tr = len(gt), len(tracks)
    return {"idf1": 2.0 * id_true_pos / max(1, n_gt + n_tr), "idp": id_true_pos / max(1, n_tr),
            "idr": id_true_pos / max(1, n_gt)}


def hota(gt: np.ndarray, tracks: np.ndarray, alphas: np.ndarray = HOTA_ALPHAS) -> dict:
    """HOTA, DetA, AssA, LocA (averaged over ``alphas``) and ``hota_per_alpha`` (A,), see the module
    docstring. Inputs are (L, 7) ``frame, id, x, y, w, h, score`` tables."""
    frames = list(_per_frame(gt, tracks))
    gt_index = {v: i for i, v in enumerate(np.unique(gt[:, 1]).astype(np.int64))} if len(gt) else {}
    tr_index = {v: i for i, v in enumerate(np.unique(tracks[:, 1]).astype(np.int64))} if len(tracks) else {}
    n_gt, n_tr = len(gt_index), len(tr_index)
    gt_count = np.zeros(n_gt)
    tr_count = np.zeros(n_tr)
    potential = np.zeros((n_gt, n_tr))
    per_frame = []
    for _, gt_ids, gt_boxes, tr_ids, tr_boxes in frames:
        g = np.array([gt_index[v] for v in gt_ids], dtype=np.intp)
        t = np.array([tr_index[v] for v in tr_ids], dtype=np.intp)
        similarity = iou_matrix(gt_boxes, tr_boxes)
        gt_count[g] += 1
        tr_count[t] += 1
        if similarity.size:
            # Soft share of each pair in its row's and column's total overlap.
            denominator = similarity.sum(1, keepdims=True) + similarity.sum(0, keepdims=True) - similarity
            share = np.divide(similarity, denominator, out=np.zeros_like(similarity), where=denominator > 0)
            np.add.at(potential, (g[:, None], t[None, :]), share)
        per_frame.append((g, t, similarity))
    align_denominator = gt_count[:, None] + tr_count[None, :] - potential
    alignment = np.divide(potential, align_denominator, out=np.zeros_like(potential), where=align_denominator > 0)

    n_alpha = len(alphas)
    true_pos = np.zeros(n_alpha)
    false_neg = np.zeros(n_alpha)
    false_pos = np.zeros(n_alpha)
    loc_sum = np.zeros(n_alpha)
    pair_matches = np.zeros((n_alpha, n_gt, n_tr))
    eps = np.finfo(float).eps
    for g, t, similarity in per_frame:
        if len(g) == 0 or len(t) == 0:
            false_neg += len(g)
            false_pos += len(t)
            continue
        score = alignment[g[:, None], t[None, :]] * similarity
        pairs = optimal_assignment(-score)
        pair_sim = similarity[pairs[:, 0], pairs[:, 1]]
        for a, alpha in enumerate(alphas):
            ok = pair_sim >= alpha - eps
            matched = int(ok.sum())
            true_pos[a] += matched
            false_neg[a] += len(g) - matched
            false_pos[a] += len(t) - matched
            loc_sum[a] += pair_sim[ok].sum()
            np.add.at(pair_matches[a], (g[pairs[ok, 0]], t[pairs[ok, 1]]), 1)
    det_a = true_pos / np.maximum(1.0, true_pos + false_neg + false_pos)
    ass_a = np.zeros(n_alpha)
    for a in range(n_alpha):
        m = pair_matches[a]
        denominator = gt_count[:, None] + tr_count[None, :] - m
        pair_score = np.divide(m, denominator, out=np.zeros_like(m), where=denominator > 0)
        ass_a[a] = (m * pair_score).sum() / max(1.0, true_pos[a])
    hota_alpha = np.sqrt(det_a * ass_a)
    loc_a = np.divide(loc_sum, true_pos, out=np.ones_like(loc_sum), where=true_pos > 0)
    return {"hota": float(hota_alpha.mean()), "deta": float(det_a.mean()), "assa": float(ass_a.mean()),
            "loca": float(loc_a.mean()), "hota_per_alpha": hota_alpha}


def evaluate(gt: np.ndarray, tracks: np.ndarray) -> dict:
    """All scores for one sequence from (L, 7) tables (see :func:`trackers.mot_io.read_mot`).

    Rates are fractions (0.627, not 62.7); counts are floats holding integers.
    """
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 7)
    tracks = np.asarray(tracks, dtype=np.float64).reshape(-1, 7)
    gt = gt[gt[:, 6] != 0]  # MOTChallenge: 0 in the 7th column means "do not consider"
    scores = clear_metrics(gt, tracks)
    scores.update(id_metrics(gt, tracks))
    scores.update({k: v for k, v in hota(gt, tracks).items() if k != "hota_per_alpha"})
    return scores


def format_summary(scores: dict) -> str:
    """Two aligned lines: labels and values (rates in percent with one decimal, counts as integers)."""
    labels, values = [], []
    for key, label, kind in SUMMARY_FIELDS:
        if key not in scores:
            continue
        value = scores[key]
        text = f"{100.0 * value:.1f}" if kind == "pct" else f"{int(round(value))}"
        width = max(len(label), len(text))
        labels.append(label.rjust(width))
        values.append(text.rjust(width))
    return "  ".join(labels) + "\n" + "  ".join(values)

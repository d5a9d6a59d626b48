"""The official person-level AP, checked against values computed by hand."""
import math

import numpy as np
import pytest

from engine.training.hake_map import (
    RECALL_THRESHOLDS,
    box_iou,
    class_aps,
    person_ap,
    summarize,
)

BOX_A = [0.0, 0.0, 10.0, 10.0]
BOX_B = [50.0, 50.0, 60.0, 60.0]


def test_thresholds_are_the_literal_values():
    assert RECALL_THRESHOLDS[3] == 0.3
    assert list(RECALL_THRESHOLDS) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def test_perfect_ranking_is_one():
    gt = {"a": np.array([BOX_A]), "b": np.array([BOX_B])}
    assert person_ap([("a", 0.9, BOX_A), ("b", 0.8, BOX_B)], gt) == pytest.approx(1.0)


def test_duplicate_is_a_false_positive():
    # ranking: TP(a), duplicate of a (FP), TP(b) -> recall .5 .5 1, precision 1 .5 2/3
    # thresholds 0..0.5 -> 1 (6 of them), 0.6..1.0 -> 2/3 (5 of them)
    gt = {"a": np.array([BOX_A]), "b": np.array([BOX_B])}
    dets = [("a", 0.9, BOX_A), ("a", 0.8, BOX_A), ("b", 0.7, BOX_B)]
    assert person_ap(dets, gt) == pytest.approx((6 + 5 * 2 / 3) / 11)


@pytest.mark.parametrize("height, is_hit", [(2.99, False), (3.0, False), (3.01, True)])
def test_iou_must_be_strictly_above_threshold(height, is_hit):
    # box [0, 0, 10, h] inside BOX_A: IoU = 10 h / 100 -> 0.299, exactly 0.3, 0.301
    box = [0.0, 0.0, 10.0, height]
    assert box_iou(box, np.array([BOX_A]))[0] == pytest.approx(height / 10)
    ap = person_ap([("a", 1.0, box)], {"a": np.array([BOX_A])})
    assert ap == (1.0 if is_hit else 0.0)


def test_detections_in_images_without_ground_truth_are_false_positives():
    # FP (image c has no GT) ranked first, then the TP: recall 0 1, precision 0 .5 -> every threshold .5
    dets = [("c", 0.95, BOX_A), ("a", 0.9, BOX_A)]
    assert person_ap(dets, {"a": np.array([BOX_A])}) == pytest.approx(0.5)


def test_class_without_ground_truth_is_nan_and_left_out_of_means():
    assert math.isnan(person_ap([("a", 1.0, BOX_A)], {}))
    assert math.isnan(person_ap([("a", 1.0, BOX_A)], {"a": np.zeros((0, 4))}))
    slices = (slice(0, 2), slice(2, 4))
    pasta = np.array([0.5, np.nan, np.nan, np.nan])
    summary = summarize(pasta, np.array([1.0, np.nan, 0.0]), slices, ("g0", "g1"),
                        verb_no_interaction=2, hico_verbs=2)
    assert summary["pasta_groups"]["g0"]["with_no_interaction"] == 0.5
    assert math.isnan(summary["pasta_groups"]["g1"]["with_no_interaction"])
    assert summary["pasta_mean"]["with_no_interaction"] == 0.5  # the NaN group is left out
    assert summary["verb"]["all"] == 0.5
    assert summary["verb"]["without_no_interaction"] == 1.0


def test_recall_exactly_on_a_threshold_counts():
    # 20 GT persons, only 6 found (all ranked first): recall reaches exactly 6/20 = 0.3 -> 4 thresholds
    gt = {f"im{i}": np.array([BOX_A]) for i in range(20)}
    dets = [(f"im{i}", 1.0 - i / 100, BOX_A) for i in range(6)]
    assert person_ap(dets, gt) == pytest.approx(4 / 11)


def test_largest_iou_unmatched_box_is_taken():
    # det1 overlaps g1 (0.43) and g2 (0.82): it must take g2, leaving g1 for det2 (IoU 0.8 with g1 only)
    gt = {"a": np.array([[0, 0, 10, 10], [5, 0, 15, 10]], dtype=float)}
    dets = [("a", 0.9, [4, 0, 14, 10]), ("a", 0.8, [0, 0, 8, 10])]
    assert person_ap(dets, gt) == pytest.approx(1.0)


def test_no_detections_gives_zero():
    assert person_ap([], {"a": np.array([BOX_A])}) == 0.0


def test_class_aps_matches_person_ap_per_class():
    rng = np.random.default_rng(0)
    keys = ["a", "a", "b", "c"]
    boxes = np.array([BOX_A, BOX_B, BOX_A, BOX_B], dtype=float)
    scores = rng.random((4, 3))
    gts = [{"a": np.array([BOX_A])}, {"b": np.array([BOX_A]), "c": np.array([BOX_B])}, {}]
    aps = class_aps(keys, boxes, scores, gts)
    for c in range(3):
        expected = person_ap([(k, s, b) for k, s, b in zip(keys, scores[:, c], boxes)], gts[c])
        assert (math.isnan(aps[c]) and math.isnan(expected)) or aps[c] == pytest.approx(expected)

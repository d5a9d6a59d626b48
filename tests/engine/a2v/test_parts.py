"""Part boxes by the official rule (every branch, hand-computed) and the 64×64 skeleton map."""
import math

import numpy as np
import pytest

from engine.a2v.parts import (
    PartsInputError,
    clip_boxes,
    coco17_to_mpii16,
    part_boxes,
    skeleton_maps,
)

# A stick figure (COCO-17 x, y). Derived MPII joints: head j9 = (50, 8), neck j7 = (50, 30),
# thorax j8 = 0.75·j7 + 0.25·j9 = (50, 24.5), pelvis j6 = (50, 70) → torso length L = 45.5.
XY = np.array([
    (50, 10),              # 0 nose
    (52, 8), (48, 8),      # 1 l_eye, 2 r_eye
    (54, 9), (46, 9),      # 3 l_ear, 4 r_ear
    (60, 30), (40, 30),    # 5 l_sho, 6 r_sho
    (65, 45), (35, 45),    # 7 l_elb, 8 r_elb
    (70, 60), (30, 60),    # 9 l_wri, 10 r_wri
    (56, 70), (44, 70),    # 11 l_hip, 12 r_hip
    (57, 90), (43, 90),    # 13 l_knee, 14 r_knee
    (58, 110), (42, 110),  # 15 l_ank, 16 r_ank
], dtype=np.float64)
PERSON = np.array([30, 5, 75, 115], dtype=np.float32)

# All joints confident: squares of half side size_factor · 45.5 / 2 (27.3, 22.75, 20.475) on the centres.
ALL_CONFIDENT = np.array([
    (14.7, 82.7, 69.3, 137.3),         # right foot: r_ank (42, 110) ± 27.3
    (20.25, 67.25, 65.75, 112.75),     # right leg: r_knee (43, 90) ± 22.75
    (34.25, 67.25, 79.75, 112.75),     # left leg: l_knee (57, 90) ± 22.75
    (30.7, 82.7, 85.3, 137.3),         # left foot: l_ank (58, 110) ± 27.3
    (22.7, 42.7, 77.3, 97.3),          # hip: pelvis (50, 70) ± 27.3
    (22.7, -19.3, 77.3, 35.3),         # head: eye midpoint (50, 8) ± 27.3
    (9.525, 39.525, 50.475, 80.475),   # right hand: r_wri (30, 60) ± 20.475
    (17.25, 7.25, 62.75, 52.75),       # right arm: r_sho (40, 30) ± 22.75
    (37.25, 7.25, 82.75, 52.75),       # left arm: l_sho (60, 30) ± 22.75
    (49.525, 39.525, 90.475, 80.475),  # left hand: l_wri (70, 60) ± 20.475
])

# Bad torso (pelvis score < 0.2) with every group gate passing: half side = the group distance.
R_LEG = math.sqrt(1604)  # ‖r_ank − r_hip‖ = ‖(42, 110) − (44, 70)‖
L_LEG = math.sqrt(1604)  # ‖l_hip − l_ank‖ = ‖(56, 70) − (58, 110)‖
R_ARM = math.sqrt(1000)  # ‖r_wri − r_sho‖ = ‖(30, 60) − (40, 30)‖
L_ARM = math.sqrt(1000)  # ‖l_sho − l_wri‖ = ‖(60, 30) − (70, 60)‖
HEAD = 22.0              # ‖neck − head‖ = ‖(50, 30) − (50, 8)‖


def _square(cx, cy, half):
    return (cx - half, cy - half, cx + half, cy + half)


BAD_TORSO = np.array([
    _square(42, 110, R_LEG), _square(43, 90, R_LEG), _square(57, 90, L_LEG), _square(58, 110, L_LEG),
    tuple(PERSON),  # hip: its centre (pelvis) is the low joint → person box
    _square(50, 8, HEAD), _square(30, 60, R_ARM), _square(40, 30, R_ARM),
    _square(60, 30, L_ARM),  # left arm: its own group (the v1 fix; v0 gave the person box)
    _square(70, 60, L_ARM),
])


def person(scores=None, **overrides):
    kps = np.zeros((17, 3))
    kps[:, :2] = XY
    kps[:, 2] = 0.9
    for index, score in (scores or {}).items():
        kps[index, 2] = score
    return kps


def boxes_of(kps):
    return part_boxes(kps[None], PERSON[None])[0]


def test_mpii_mapping_derived_joints():
    j = coco17_to_mpii16(person()[None])[0]
    np.testing.assert_allclose(j[6, :2], (50, 70))
    np.testing.assert_allclose(j[7, :2], (50, 30))
    np.testing.assert_allclose(j[9, :2], (50, 8))
    np.testing.assert_allclose(j[8, :2], (50, 24.5))
    np.testing.assert_allclose(j[[0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15], :2],
                               XY[[16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9]])
    k = person({1: 0.2, 2: 0.6, 5: 0.4, 6: 0.8})
    j = coco17_to_mpii16(k[None])[0]
    assert j[9, 2] == pytest.approx(0.4) and j[7, 2] == pytest.approx(0.6)
    assert j[8, 2] == pytest.approx(0.75 * 0.6 + 0.25 * 0.4)


def test_all_joints_confident():
    out = boxes_of(person())
    assert out.dtype == np.float32 and out.shape == (10, 4)
    np.testing.assert_allclose(out, ALL_CONFIDENT, atol=1e-4)


def test_low_score_centre_joint_gives_the_person_box():
    out = boxes_of(person({10: 0.1}))         # right wrist
    np.testing.assert_allclose(out[6], PERSON)
    keep = [i for i in range(10) if i != 6]
    np.testing.assert_allclose(out[keep], ALL_CONFIDENT[keep], atol=1e-4)
    out = boxes_of(person({1: 0.1, 2: 0.1}))  # both eyes → head centre score 0.1
    np.testing.assert_allclose(out[5], PERSON)


def test_bad_torso_uses_group_distances():
    out = boxes_of(person({11: 0.1, 12: 0.1}))  # pelvis score 0.1
    np.testing.assert_allclose(out, BAD_TORSO, atol=1e-4)


def test_bad_torso_from_the_thorax_and_the_hip_always_takes_the_person_box():
    # Shoulders and eyes at 0.1 → thorax score 0.1 (bad torso) while the pelvis is confident.
    out = boxes_of(person({1: 0.1, 2: 0.1, 5: 0.1, 6: 0.1}))
    np.testing.assert_allclose(out[4], PERSON)                       # hip: always the person box
    np.testing.assert_allclose(out[[0, 1, 2, 3]], BAD_TORSO[[0, 1, 2, 3]], atol=1e-4)
    np.testing.assert_allclose(out[[6, 9]], BAD_TORSO[[6, 9]], atol=1e-4)   # hands: gates pass
    np.testing.assert_allclose(out[[5, 7, 8]], np.tile(PERSON, (3, 1)))    # centres at 0.1


@pytest.mark.parametrize("group, scores, parts", [
    # gate mean ≤ 0.2 while the centre joints stay ≥ 0.2 → those parts fall back to the person box
    ("right foot/leg", {16: 0.21, 14: 0.21}, [0, 1]),             # (0.21 + 0.21 + 0.1) / 3
    ("left foot/leg", {15: 0.21, 13: 0.21}, [2, 3]),
    ("right hand/arm", {10: 0.21, 8: 0.05, 6: 0.21}, [6, 7]),
    ("left hand/arm", {9: 0.21, 7: 0.05, 5: 0.21}, [8, 9]),
])
def test_bad_torso_with_a_failing_group_gate(group, scores, parts):
    out = boxes_of(person({11: 0.1, 12: 0.1, **scores}))
    np.testing.assert_allclose(out[parts], np.tile(PERSON, (len(parts), 1)), err_msg=group)
    others = [i for i in range(10) if i not in parts and i != 4]
    np.testing.assert_allclose(out[others], BAD_TORSO[others], atol=1e-4, err_msg=group)


def test_bad_torso_with_a_failing_head_gate():
    # Eyes 0.21 (centre kept), shoulders 0.1: gate (0.1 + 0.1275 + 0.21) / 3 < 0.2.
    out = boxes_of(person({1: 0.21, 2: 0.21, 5: 0.1, 6: 0.1}))
    np.testing.assert_allclose(out[5], PERSON)


def test_all_joints_below_threshold_give_the_person_box_everywhere():
    kps = person()
    kps[:, 2] = 0.1
    np.testing.assert_allclose(boxes_of(kps), np.tile(PERSON, (10, 1)))


def test_vectorised_over_persons_equals_one_by_one():
    cases = [person(), person({10: 0.1}), person({11: 0.1, 12: 0.1}), person({16: 0.0, 14: 0.05})]
    rng = np.random.default_rng(0)
    kps = np.stack(cases)
    kps[:, :, :2] += rng.uniform(-5, 5, (len(cases), 17, 2))
    boxes = np.tile(PERSON, (len(cases), 1)) + rng.uniform(-3, 3, (len(cases), 4)).astype(np.float32)
    batched = part_boxes(kps, boxes)
    for i in range(len(cases)):
        np.testing.assert_array_equal(batched[i], part_boxes(kps[i:i + 1], boxes[i:i + 1])[0])
    assert part_boxes(np.zeros((0, 17, 3)), np.zeros((0, 4))).shape == (0, 10, 4)


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(PartsInputError, match=r"\(N, 17, 3\)"):
        part_boxes(np.zeros((2, 16, 3)), np.zeros((2, 4)))
    with pytest.raises(PartsInputError, match="boxes"):
        part_boxes(np.zeros((2, 17, 3)), np.zeros((3, 4)))


def test_clip_boxes_to_the_image():
    out = clip_boxes(np.array([[-5.0, -2.0, 700.0, 300.0]]), (640, 272))
    np.testing.assert_array_equal(out, [[0, 0, 640, 272]])


# ------------------------------------------------------------------------------------------ skeleton maps

def test_skeleton_map_normalises_by_image_size_and_truncates():
    w, h = 640, 480
    kps = np.zeros((1, 17, 3))
    kps[0, :, :2] = (320, 240)     # every joint at (32, 32) on the 64×64 map
    kps[0, :, 2] = 1.0
    m = skeleton_maps(kps, (w, h))
    assert m.shape == (1, 64, 64) and m.dtype == np.float32
    expected = np.zeros((64, 64), np.float32)
    expected[32, 32] = 0.95        # the last limb (14, 16) is drawn last
    np.testing.assert_array_equal(m[0], expected)

    # Left ankle to x = 479.9 → 479.9 / 640 · 64 = 47.99 → int() = 47 (rounding would give 48).
    kps[0, 15, :2] = (479.9, 240)
    m = skeleton_maps(kps, (w, h))[0]
    expected[32, 33:48] = 0.9      # limb (13, 15), intensity 0.90, from (32, 32) to (47, 32)
    np.testing.assert_array_equal(m, expected)
    # The same keypoints in a twice larger image land at half the map coordinates.
    m2 = skeleton_maps(kps * np.array([2, 2, 1]), (2 * w, 2 * h))[0]
    np.testing.assert_array_equal(m2, m)


def test_skeleton_map_intensities_follow_the_limb_order():
    kps = np.zeros((1, 17, 3))
    kps[0, :, :2] = (10, 10)       # all joints at map pixel (10, 10) of a 64×64 image
    kps[0, 1, :2] = (10, 40)       # left eye far below: limbs (1, 3) = 0.15 and (0, 1) = 0.25
    m = skeleton_maps(kps, (64, 64))[0]
    assert m[40, 10] == pytest.approx(0.25)    # (0, 1) is drawn after (1, 3)
    assert m[25, 10] == pytest.approx(0.25)
    assert m[10, 10] == pytest.approx(0.95)


def test_person_without_pose_gets_an_empty_map():
    m = skeleton_maps(np.zeros((2, 17, 3)), (640, 480))
    assert m.shape == (2, 64, 64) and not m.any()

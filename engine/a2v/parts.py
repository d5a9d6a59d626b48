"""COCO-17 keypoints → the 10 HAKE body-part boxes and the 64×64 skeleton map, vectorised over persons.

Part boxes follow the official A2V rule (docs/hake_facts.md §2):

1. COCO-17 → MPII-16: 0 r_ank←16, 1 r_knee←14, 2 r_hip←12, 3 l_hip←11, 4 l_knee←13, 5 l_ank←15,
   6 pelvis←mean(11, 12), 7 neck←mean(5, 6), 9 head←mean(1, 2), 8 thorax←0.75·j7 + 0.25·j9,
   10 r_wri←10, 11 r_elb←8, 12 r_sho←6, 13 l_sho←5, 14 l_elb←7, 15 l_wri←9. Scores of derived joints are
   combined exactly like the coordinates.
2. Part i is an axis-aligned square centred on MPII joint ``[0, 1, 4, 5, 6, 9, 10, 12, 13, 15][i]``
   with half side ``size_factor[i] · ‖j6 − j8‖ / 2``.
3. Fallbacks (threshold 0.2): a centre joint with score < 0.2 → the whole person box; else, when the
   pelvis or thorax score is < 0.2 ("bad torso"), the half side is a group distance (head ‖j7 − j9‖,
   right hand/arm ‖j10 − j12‖, left hand/arm ‖j13 − j15‖, right foot/leg ‖j0 − j2‖, left foot/leg
   ‖j3 − j5‖) when that group's mean score is > 0.2, else the person box; the hip always takes the
   person box. The left arm uses its own group (the v1 fix of the v0 index bug).

The generator does not clip (as the official one); :func:`clip_boxes` does what the official loaders do
before the network (REFERENCE.md §1.5 item 5): ``x1, y1 >= 0`` and ``x2 <= W, y2 <= H``, each coordinate
on ONE side only. A part wholly outside the image therefore comes out inverted (e.g. a foot below the
frame: ``y1 > H = y2``); it is fed to the network like that, as in the original, and the ROI crop reads
it as a mirrored window over the zero padding (:mod:`engine.a2v.roi`).

The skeleton map is the v1 training/test behaviour: keypoints divided by the image width and height,
×64, truncated with ``int()``; an 18th joint = mean of the shoulders; 17 limbs drawn with ``cv2.line``
(thickness 1, default line type) on a float32 zero canvas with intensities 0.15, 0.20, …, 0.95 in order.
The official *demo* forgets the division and draws pixel coordinates (an almost empty map); we do what
the network was trained on, not the demo bug. A person whose keypoints are all zero (no pose) gets an
all-zero map.
"""
from __future__ import annotations

import numpy as np

from engine.cvcompat import cv2

NUM_PARTS = 10
SCORE_THRESHOLD = 0.2
# MPII-16 joint each part is centred on, and the side of its square in torso lengths.
PART_CENTER_JOINT = np.array([0, 1, 4, 5, 6, 9, 10, 12, 13, 15])
PART_SIZE_FACTOR = np.array([1.2, 1.0, 1.0, 1.2, 1.2, 1.2, 0.9, 1.0, 1.0, 0.9])
# Bad-torso fallback per part: (joint a, joint b, gate joints); half side = ‖ja − jb‖ when the mean score
# of the gate joints is > 0.2. None = always the person box (hip).
_RIGHT_LEG = (0, 2, (0, 1, 2))
_LEFT_LEG = (3, 5, (3, 4, 5))
_HEAD = (7, 9, (7, 8, 9))
_RIGHT_ARM = (10, 12, (10, 11, 12))
_LEFT_ARM = (13, 15, (13, 14, 15))
PART_FALLBACK = (_RIGHT_LEG, _RIGHT_LEG, _LEFT_LEG, _LEFT_LEG, None, _HEAD, _RIGHT_ARM, _RIGHT_ARM,
                 _LEFT_ARM, _LEFT_ARM)

# Skeleton map: COCO joint pairs (17 = shoulder midpoint) and their intensities 0.15 … 0.95.
SKELETON_SIZE = 64
SKELETON_LIMBS = ((1, 3), (2, 4), (0, 1), (0, 2), (0, 17), (5, 17), (6, 17), (5, 7), (6, 8), (7, 9),
                  (8, 10), (11, 17), (12, 17), (11, 13), (12, 14), (13, 15), (14, 16))
SKELETON_INTENSITY = tuple(round(0.15 + 0.05 * i, 2) for i in range(len(SKELETON_LIMBS)))


class PartsInputError(ValueError):
    """Keypoints or boxes of the wrong shape, phrased as one line with the fix."""


def _check_inputs(keypoints, boxes) -> tuple[np.ndarray, np.ndarray]:
    kps = np.asarray(keypoints, dtype=np.float64)
    bxs = np.asarray(boxes, dtype=np.float64)
    if kps.ndim != 3 or kps.shape[1:] != (17, 3):
        raise PartsInputError(f"keypoints must have shape (N, 17, 3) (COCO-17 x, y, score), got {kps.shape}")
    if bxs.shape != (kps.shape[0], 4):
        raise PartsInputError(f"boxes must have shape (N, 4) xyxy with N = {kps.shape[0]} (one per keypoint set), "
                              f"got {bxs.shape}")
    return kps, bxs


def repair_keypoints(keypoints) -> tuple[np.ndarray, int]:
    """Joints with a NaN/infinite x, y or score become missing ones, ``(0, 0, 0)``, the way a pose model
    reports a joint it did not find (score 0 < the 0.2 threshold: every rule then falls back as for any
    missing joint). Returns (repaired (N, 17, 3) float64 copy, number of joints repaired)."""
    kps = np.array(keypoints, dtype=np.float64, copy=True)
    if kps.ndim != 3 or kps.shape[1:] != (17, 3):
        return kps, 0
    bad = ~np.isfinite(kps).all(axis=2)
    count = int(bad.sum())
    if count:
        kps[bad] = 0.0
    return kps, count


def coco17_to_mpii16(keypoints: np.ndarray) -> np.ndarray:
    """(N, 17, 3) COCO-17 x, y, score → (N, 16, 3) MPII-16 x, y, score (float64), the official mapping."""
    k = np.asarray(keypoints, dtype=np.float64)
    j = np.zeros(k.shape[:-2] + (16, 3), dtype=np.float64)
    for mpii, coco in ((0, 16), (1, 14), (2, 12), (3, 11), (4, 13), (5, 15), (10, 10), (11, 8), (12, 6),
                       (13, 5), (14, 7), (15, 9)):
        j[..., mpii, :] = k[..., coco, :]
    for mpii, (a, b) in ((6, (11, 12)), (7, (5, 6)), (9, (1, 2))):
        j[..., mpii, :] = (k[..., a, :] + k[..., b, :]) * 0.5
    j[..., 8, :] = j[..., 7, :] * 0.75 + j[..., 9, :] * 0.25
    return j


def _distance(j: np.ndarray, a: int, b: int) -> np.ndarray:
    dx = j[:, a, 0] - j[:, b, 0]
    dy = j[:, a, 1] - j[:, b, 1]
    return np.sqrt(dx ** 2 + dy ** 2)


def part_boxes(keypoints, boxes) -> np.ndarray:
    """The 10 part boxes of each person by the official rule (module docstring).

    keypoints: (N, 17, 3) COCO-17 x, y, score (score in [0, 1]); boxes: (N, 4) person boxes xyxy pixels.
    Returns (N, 10, 4) float32 xyxy pixels in the part order of ``parts.tsv`` (not clipped).
    """
    kps, bxs = _check_inputs(keypoints, boxes)
    n = kps.shape[0]
    if n == 0:
        return np.zeros((0, NUM_PARTS, 4), dtype=np.float32)
    kps, _ = repair_keypoints(kps)  # a NaN joint is a missing joint, not NaN boxes for the whole person
    j = coco17_to_mpii16(kps)
    scores = j[:, :, 2]
    centres = j[:, PART_CENTER_JOINT, :2]                                 # (N, 10, 2)
    torso = _distance(j, 6, 8)                                            # (N,)
    half = torso[:, None] * PART_SIZE_FACTOR[None, :] / 2                 # (N, 10)

    fallback_half = np.zeros((n, NUM_PARTS))
    fallback_ok = np.zeros((n, NUM_PARTS), dtype=bool)
    for i, rule in enumerate(PART_FALLBACK):
        if rule is None:
            continue
        a, b, (g0, g1, g2) = rule
        fallback_half[:, i] = _distance(j, a, b)
        fallback_ok[:, i] = (scores[:, g0] + scores[:, g1] + scores[:, g2]) / 3 > SCORE_THRESHOLD

    bad_torso = (scores[:, 8] < SCORE_THRESHOLD) | (scores[:, 6] < SCORE_THRESHOLD)    # (N,)
    centre_low = scores[:, PART_CENTER_JOINT] < SCORE_THRESHOLD                        # (N, 10)
    use_person_box = centre_low | (bad_torso[:, None] & ~fallback_ok)
    half = np.where(bad_torso[:, None], fallback_half, half)

    out = np.concatenate([centres - half[..., None], centres + half[..., None]], axis=-1)   # (N, 10, 4)
    out = np.where(use_person_box[..., None], bxs[:, None, :], out)
    return out.astype(np.float32)


def clip_boxes(boxes, image_size: tuple[int, int]) -> np.ndarray:
    """The official loaders' one-sided clip of (..., 4) xyxy pixel boxes → float32, same shape.

    ``x1 = max(x1, 0)``, ``y1 = max(y1, 0)``, ``x2 = min(x2, W)``, ``y2 = min(y2, H)`` with
    ``image_size = (W, H)``. Nothing else: a box wholly outside the image stays inverted (x2 < x1 or
    y2 < y1), exactly as the original hands it to the network; a box inside is unchanged.
    """
    w, h = image_size
    out = np.array(boxes, dtype=np.float32, copy=True)
    np.maximum(out[..., 0:2], 0, out=out[..., 0:2])
    np.minimum(out[..., 2], w, out=out[..., 2])
    np.minimum(out[..., 3], h, out=out[..., 3])
    return out


def skeleton_maps(keypoints, image_size: tuple[int, int], size: int = SKELETON_SIZE) -> np.ndarray:
    """The (N, 64, 64) float32 skeleton maps (module docstring) for (N, 17, 3) COCO-17 keypoints.

    ``image_size`` is ``(width, height)`` of the image the keypoints are in (pixels).
    """
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.ndim != 3 or kps.shape[1:] != (17, 3):
        raise PartsInputError(f"keypoints must have shape (N, 17, 3) (COCO-17 x, y, score), got {kps.shape}")
    kps, _ = repair_keypoints(kps)
    width, height = image_size
    if width <= 0 or height <= 0:
        raise PartsInputError(f"image_size must be (width, height) > 0, got {image_size}")
    maps = np.zeros((kps.shape[0], size, size), dtype=np.float32)
    xy = kps[:, :, :2] / np.array([width, height], dtype=np.float64)
    xy = np.concatenate([xy, (xy[:, 5:6] + xy[:, 6:7]) / 2], axis=1)       # (N, 18, 2)
    # int() truncation toward zero; bounded so absurd coordinates cannot overflow cv2's int arguments.
    points = np.clip(np.trunc(np.nan_to_num(xy * size)), -(1 << 20), 1 << 20).astype(np.int64)
    has_pose = np.any(kps != 0, axis=(1, 2))
    for p in range(kps.shape[0]):
        if not has_pose[p]:
            continue
        canvas = maps[p]
        pts = points[p]
        for (a, b), value in zip(SKELETON_LIMBS, SKELETON_INTENSITY):
            cv2.line(canvas, (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1])), value, 1)
    return maps

"""A small generated dataset in the official v1 LMDB layout, whose part states are visible in the pixels.

Each image shows one person: a body-coloured rectangle (the person box) over a noisy background, with
its 10 part boxes laid out like a body (head on top, feet at the bottom). For every PaSta group a state
is drawn at random among ``states_per_group`` active states and ``no_interaction``; the state decides
the pattern painted inside the group's part boxes:

- active state k: a filled square in ``STATE_COLORS[k]`` (BGR) covering the inner 70% of each part box;
- no_interaction: nothing (the body colour shows).

So a model that reads the part ROIs can learn every group's state from the pixels alone. The action is a
function of the states (hand state 0 -> ``hold`` 36, foot state 0 -> ``ride`` 76, else no_interaction 57).

Written under ``out``:

- ``images/<split>/<n>.png`` (the image root is ``out/images``; keys are ``"<split>/<n>.png"``),
- ``Trainval_HAKE`` (train split, official "train" layout, ``gt_flag`` 1),
- ``Test_GT_HAKE`` (test split ground truth, same layout; the benchmark reads GT boxes from it),
- ``Test_pred_rcnn`` (test split "detections": the person box jittered a little, a score in [0.9, 1]).

    python -m engine.training.data.synthetic OUT [--train 200] [--test 60] [--size 128] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.training.data.lmdb_hake import write_lmdb
from engine.training.data.records import GROUPS, ImageRecord, PersonRecord

# Part centres (fractions of the person box) in parts.tsv order:
# right_foot, right_leg, left_leg, left_foot, hip, head, right_hand, right_arm, left_arm, left_hand.
PART_CENTRES = np.array([[0.28, 0.88], [0.32, 0.66], [0.68, 0.66], [0.72, 0.88], [0.5, 0.46],
                         [0.5, 0.12], [0.1, 0.46], [0.24, 0.28], [0.76, 0.28], [0.9, 0.46]], np.float32)
PART_SIDE = 0.22  # part box side as a fraction of the person box's shorter side
PART_GROUP = (0, 1, 1, 0, 2, 5, 3, 4, 4, 3)  # group index of each part (foot, leg, hip, hand, arm, head)
STATE_COLORS = ((40, 40, 220), (220, 60, 40), (40, 200, 60))  # BGR: red, blue, green for states 0, 1, 2
BODY_COLOR = (150, 170, 190)
# COCO-17 keypoints placed on the same layout (fractions of the person box), for the skeleton maps.
KEYPOINTS = np.array([[0.5, 0.1], [0.46, 0.08], [0.54, 0.08], [0.42, 0.1], [0.58, 0.1], [0.3, 0.26],
                      [0.7, 0.26], [0.2, 0.36], [0.8, 0.36], [0.1, 0.46], [0.9, 0.46], [0.4, 0.5],
                      [0.6, 0.5], [0.34, 0.68], [0.66, 0.68], [0.3, 0.88], [0.7, 0.88]], np.float32)
ACTION_HOLD, ACTION_RIDE = 36, 76


@dataclass
class SyntheticPaths:
    root: Path
    image_root: Path
    train: Path
    test_gt: Path
    test_pred: Path


def _group_sizes() -> tuple[int, ...]:
    from engine.vocab import load_vocab

    return load_vocab().group_sizes


def make_person(rng: np.random.Generator, size: int, states_per_group: int):
    """Random person box inside a ``size`` x ``size`` image, its part boxes, keypoints and states.

    Returns (box (4,), part_boxes (10, 4), keypoints (17, 3), states (6,) with -1 = no_interaction).
    """
    w = rng.uniform(0.7, 0.95) * size
    h = rng.uniform(0.8, 0.98) * size
    x1 = rng.uniform(0, size - w)
    y1 = rng.uniform(0, size - h)
    box = np.array([x1, y1, x1 + w, y1 + h], np.float32)
    side = PART_SIDE * min(w, h)
    centres = np.stack([x1 + PART_CENTRES[:, 0] * w, y1 + PART_CENTRES[:, 1] * h], axis=1)
    parts = np.concatenate([centres - side / 2, centres + side / 2], axis=1).astype(np.float32)
    kps = np.concatenate([np.stack([x1 + KEYPOINTS[:, 0] * w, y1 + KEYPOINTS[:, 1] * h], axis=1),
                          np.full((17, 1), 0.9, np.float32)], axis=1).astype(np.float32)
    states = rng.integers(-1, states_per_group, size=len(GROUPS))
    return box, parts, kps, states


def draw_person(image: np.ndarray, box: np.ndarray, parts: np.ndarray, states: np.ndarray,
                rng: np.random.Generator) -> None:
    """Paint the body and each group's state pattern into ``image`` (H, W, 3) BGR uint8, in place."""
    x1, y1, x2, y2 = np.round(box).astype(int)
    image[y1:y2, x1:x2] = BODY_COLOR
    for part, (px1, py1, px2, py2) in enumerate(parts):
        state = states[PART_GROUP[part]]
        if state < 0:
            continue
        margin = 0.15 * (px2 - px1)
        color = np.clip(np.array(STATE_COLORS[state]) + rng.integers(-25, 26, 3), 0, 255)
        a, b = int(round(px1 + margin)), int(round(px2 - margin))
        c, d = int(round(py1 + margin)), int(round(py2 - margin))
        image[max(c, 0):max(d, 0), max(a, 0):max(b, 0)] = color


def make_image(rng: np.random.Generator, size: int, states_per_group: int):
    """One image and its single person; returns (image BGR uint8, PersonRecord)."""
    image = rng.integers(60, 120, size=(size, size, 3), dtype=np.uint8)
    box, parts, kps, states = make_person(rng, size, states_per_group)
    draw_person(image, box, parts, states, rng)
    sizes = _group_sizes()
    pasta = {g: [int(s) if s >= 0 else sizes[i] - 1] for i, (g, s) in enumerate(zip(GROUPS, states))}
    verbs = []
    if states[GROUPS.index("hand")] == 0:
        verbs.append(ACTION_HOLD)
    if states[GROUPS.index("foot")] == 0:
        verbs.append(ACTION_RIDE)
    binary = np.array([states[PART_GROUP[p]] >= 0 for p in range(10)], np.float32)
    person = PersonRecord(box=box, part_boxes=parts, keypoints=kps, verbs=verbs, pasta=pasta,
                          binary=binary, gt=True, score=1.0)
    return image, person


def generate(out: str | Path, n_train: int = 200, n_test: int = 60, size: int = 128, seed: int = 0,
             states_per_group: int = 2) -> SyntheticPaths:
    """Write the dataset under ``out`` (see the module docstring); returns its paths."""
    from engine.cvcompat import cv2

    if not 1 <= states_per_group <= len(STATE_COLORS):
        raise ValueError(f"states_per_group must be 1..{len(STATE_COLORS)}, got {states_per_group}")
    root = Path(out)
    rng = np.random.default_rng(seed)
    splits: dict[str, list[ImageRecord]] = {"synth-train": [], "synth-test": []}
    preds: list[ImageRecord] = []
    for split, count in (("synth-train", n_train), ("synth-test", n_test)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        for n in range(count):
            key = f"{split}/{n:06d}.png"
            image, person = make_image(rng, size, states_per_group)
            if not cv2.imwrite(str(root / "images" / key), image):
                raise OSError(f"cannot write {root / 'images' / key}")
            splits[split].append(ImageRecord(key, [person]))
            if split == "synth-test":
                jitter = rng.uniform(-0.03, 0.03, 4).astype(np.float32) * size
                detected = PersonRecord(box=person.box + jitter, part_boxes=person.part_boxes,
                                        keypoints=person.keypoints, gt=False,
                                        score=float(rng.uniform(0.9, 1.0)))
                preds.append(ImageRecord(key, [detected]))
    paths = SyntheticPaths(root=root, image_root=root / "images", train=root / "Trainval_HAKE",
                           test_gt=root / "Test_GT_HAKE", test_pred=root / "Test_pred_rcnn")
    write_lmdb(paths.train, splits["synth-train"], kind="train")
    write_lmdb(paths.test_gt, splits["synth-test"], kind="train")
    write_lmdb(paths.test_pred, preds, kind="pred")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training.data.synthetic",
                                     description="write a small generated HAKE-format dataset")
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--test", type=int, default=60)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = generate(args.out, args.train, args.test, args.size, args.seed)
    print(f"images under {paths.image_root}; LMDBs {paths.train}, {paths.test_gt}, {paths.test_pred}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training and test samples from HAKE records: images, person/part boxes, skeleton inputs, labels.

``HakeImages`` pairs records (``engine.training.data.convert.read_records``) with image files under an image root:
an image's path is ``<image_root>/<key>``. Records whose image is missing are reported with their key and
skipped; if no image at all is found the error says which root was searched.

``TrainSampler`` decides, for one training image, which persons are used (official v1 rule: every
annotated person + at most ``humans_per_image - 1`` random negatives) from a seed, so the choice does not
depend on the process that draws it (multi-process runs see the same samples as one process).

Label layout: ``pasta`` (N, 93) multi-hot in vocabulary order (a group without a state = its last class,
no_interaction); ``verbs`` (N, 157) multi-hot (none = index 57). Negatives: no_interaction everywhere.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from engine.a2v.parts import clip_boxes
from engine.training.data.records import (
    GROUPS,
    NUM_VERBS,
    DataError,
    ImageRecord,
    PersonRecord,
    RecordError,
)

log = logging.getLogger("a2v")


@dataclass
class PersonBatch:
    """Persons of one image, in the network's input frame (after any resize).

    ``boxes`` (N, 4) xyxy, ``part_boxes`` (N, 10, 4) xyxy clipped to the image, ``keypoints`` (N, 17, 3)
    (x, y, score; zeros when missing), ``has_pose`` (N,) bool, ``scores`` (N,), ``pasta`` (N, 93),
    ``verbs`` (N, 157), ``person_ids`` (N,) index of each person in its record.
    """

    key: str
    image_index: int
    scale: float
    image_size: tuple[int, int]  # (w, h) of the (resized) image
    boxes: np.ndarray
    part_boxes: np.ndarray
    keypoints: np.ndarray
    has_pose: np.ndarray
    scores: np.ndarray
    pasta: np.ndarray
    verbs: np.ndarray
    person_ids: np.ndarray


def label_vectors(person: PersonRecord, group_slices: Sequence[slice], num_verbs: int = NUM_VERBS,
                  verb_no_interaction: int = 57) -> tuple[np.ndarray, np.ndarray]:
    """(93,) PaSta and (157,) verb multi-hot vectors of one person (negatives: no_interaction only)."""
    num_pasta = group_slices[-1].stop
    pasta = np.zeros(num_pasta, np.float32)
    verbs = np.zeros(num_verbs, np.float32)
    for g, sl in zip(GROUPS, group_slices):
        local = person.pasta.get(g, []) if person.gt else []
        if local:
            pasta[[sl.start + i for i in local]] = 1.0
        else:
            pasta[sl.stop - 1] = 1.0
    if person.gt and person.verbs:
        verbs[list(person.verbs)] = 1.0
    else:
        verbs[verb_no_interaction] = 1.0
    return pasta, verbs


def read_image(path: Path, key: str) -> np.ndarray:
    """BGR uint8 (H, W, 3); RecordError naming the key when the file is missing or unreadable."""
    from engine.cvcompat import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        reason = "missing" if not path.exists() else "unreadable"
        raise RecordError(f"{key}: image {reason} at {path}")
    return image


class HakeImages:
    """Records with their image files. ``records[i]`` and ``image_path(i)`` line up."""

    def __init__(self, records: Sequence[ImageRecord], image_root: str | Path, what: str = "data"):
        if not str(image_root).strip():
            raise DataError(f"{what}: data.image_root is not set; point it at the folder holding the images")
        self.image_root = Path(image_root)
        if not self.image_root.is_dir():
            raise DataError(f"{what}: image root {self.image_root} is not a folder; set data.image_root")
        self.records: list[ImageRecord] = []
        self.skipped: list[str] = []
        for record in records:
            path = self.image_root / record.key
            if not path.is_file():
                self.skipped.append(f"{record.key}: image missing at {path}")
                log.warning("skipping record %s: image missing at %s", record.key, path)
                continue
            self.records.append(record)
        if not self.records:
            first = self.skipped[0] if self.skipped else "no records"
            raise DataError(f"{what}: no image found under {self.image_root} (first: {first}); "
                            "check data.image_root")

    def __len__(self) -> int:
        return len(self.records)

    def image_path(self, index: int) -> Path:
        return self.image_root / self.records[index].key

    def load(self, index: int) -> np.ndarray:
        return read_image(self.image_path(index), self.records[index].key)


def scale_for(image_size: tuple[int, int], max_side: Optional[int]) -> float:
    """Downscale factor so that the long side <= ``max_side`` (never upscales; 1.0 when None)."""
    if not max_side:
        return 1.0
    return min(1.0, float(max_side) / float(max(image_size)))


def build_batch(record: ImageRecord, image_index: int, person_ids: Sequence[int], image_size: tuple[int, int],
                scale: float, group_slices: Sequence[slice]) -> PersonBatch:
    """Arrays for the chosen persons of one image; ``image_size`` is the original (w, h)."""
    w, h = image_size
    sw, sh = w * scale, h * scale
    n = len(person_ids)
    boxes = np.zeros((n, 4), np.float32)
    parts = np.zeros((n, 10, 4), np.float32)
    kps = np.zeros((n, 17, 3), np.float32)
    has_pose = np.zeros(n, bool)
    scores = np.zeros(n, np.float32)
    num_pasta = group_slices[-1].stop
    pasta = np.zeros((n, num_pasta), np.float32)
    verbs = np.zeros((n, NUM_VERBS), np.float32)
    for row, pid in enumerate(person_ids):
        person = record.persons[pid]
        boxes[row] = person.box * scale
        parts[row] = (person.part_boxes if person.part_boxes is not None else np.tile(person.box, (10, 1))) * scale
        if person.keypoints is not None:
            kps[row] = person.keypoints
            kps[row, :, :2] *= scale
            has_pose[row] = True
        scores[row] = person.score
        pasta[row], verbs[row] = label_vectors(person, group_slices)
    # The official loaders clip part boxes one-sided (x1, y1 >= 0; x2 <= W, y2 <= H; a part wholly
    # outside stays inverted); person boxes are left as they are.
    parts = clip_boxes(parts, (sw, sh))
    return PersonBatch(key=record.key, image_index=image_index, scale=scale,
                       image_size=(int(round(sw)), int(round(sh))), boxes=boxes, part_boxes=parts,
                       keypoints=kps, has_pose=has_pose, scores=scores, pasta=pasta, verbs=verbs,
                       person_ids=np.asarray(person_ids, np.int64))


def choose_persons(record: ImageRecord, humans_per_image: int, rng: np.random.Generator) -> list[int]:
    """Official v1 sampling: all annotated persons + at most ``humans_per_image - 1`` random negatives."""
    positives = [i for i, p in enumerate(record.persons) if p.gt]
    negatives = [i for i, p in enumerate(record.persons) if not p.gt]
    keep = min(len(negatives), max(humans_per_image - 1, 0))
    chosen = sorted(rng.choice(negatives, size=keep, replace=False).tolist()) if keep else []
    return positives + chosen


def label_counts(records: Sequence[ImageRecord], group_slices: Sequence[slice]) -> tuple[np.ndarray, np.ndarray, int]:
    """Positive counts per PaSta (93,) and verb (157,) class over every person, and the person count."""
    num_pasta = group_slices[-1].stop
    pasta = np.zeros(num_pasta, np.int64)
    verbs = np.zeros(NUM_VERBS, np.int64)
    total = 0
    for record in records:
        for person in record.persons:
            p, v = label_vectors(person, group_slices)
            pasta += p.astype(np.int64)
            verbs += v.astype(np.int64)
            total += 1
    return pasta, verbs, total

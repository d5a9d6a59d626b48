"""In-memory annotation records shared by every data format (official LMDBs, the simple JSON).

One ``ImageRecord`` per image, holding ``PersonRecord`` entries. Shapes and units:

- ``box`` (4,) float32 xyxy pixels of the person;
- ``part_boxes`` (10, 4) float32 xyxy pixels in the part order of docs/hake_facts.md §1, or None
  (None: the loader tiles the person box 10 times, as the official loader does);
- ``keypoints`` (17, 3) float32 COCO-17 x, y, score or None;
- ``verbs``: indices into the 157 actions (empty list = no_interaction, index 57);
- ``pasta``: group name -> indices *within that group* (0-based; e.g. foot 0..15, the last one is the
  group's no_interaction); a missing or empty group = its no_interaction;
- ``gt``: True for an annotated person, False for a negative (a detected person without annotation:
  PaSta = no_interaction in every group, verb 57);
- ``score``: detector score (1.0 for ground truth).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from engine.vocab import load_vocab

GROUPS = load_vocab().groups  # foot, leg, hip, hand, arm, head: the keys of PersonRecord.pasta
NUM_PARTS = len(load_vocab().parts)
NUM_VERBS = len(load_vocab().actions)
NUM_KEYPOINTS = 17


class DataError(ValueError):
    """A data problem, phrased as one line naming the input and the fix."""


class RecordError(DataError):
    """One bad record; readers report it with its key and skip it."""


@dataclass
class PersonRecord:
    box: np.ndarray
    part_boxes: Optional[np.ndarray] = None
    keypoints: Optional[np.ndarray] = None
    verbs: list[int] = field(default_factory=list)
    pasta: dict[str, list[int]] = field(default_factory=dict)
    binary: Optional[np.ndarray] = None
    gt: bool = True
    score: float = 1.0


@dataclass
class ImageRecord:
    key: str
    persons: list[PersonRecord]


def as_box(value, what: str) -> np.ndarray:
    """A (4,) float32 xyxy box from any 4-number sequence; raises RecordError otherwise."""
    try:
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise RecordError(f"{what}: expected 4 numbers (x1, y1, x2, y2), got {value!r}") from None
    if arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise RecordError(f"{what}: expected 4 finite numbers (x1, y1, x2, y2), got shape {arr.shape}")
    return arr


def as_part_boxes(value, what: str) -> Optional[np.ndarray]:
    """(10, 4) xyxy from None, (10, 4) or the official (10, 5) with a leading batch-index column."""
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise RecordError(f"{what}: expected a 10x4 or 10x5 array of numbers") from None
    if arr.ndim == 2 and arr.shape == (NUM_PARTS, 5):
        arr = arr[:, 1:]
    if arr.shape != (NUM_PARTS, 4):
        raise RecordError(f"{what}: expected shape 10x4 (or official 10x5), got {'x'.join(map(str, arr.shape))}")
    if not np.all(np.isfinite(arr)):
        raise RecordError(f"{what}: contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def as_keypoints(value, what: str) -> Optional[np.ndarray]:
    """(17, 3) from None, 51 flat numbers (official) or (17, 3)."""
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise RecordError(f"{what}: expected 51 numbers (17 COCO keypoints x, y, score)") from None
    if arr.size != NUM_KEYPOINTS * 3:
        raise RecordError(f"{what}: expected 51 numbers (17 x, y, score), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise RecordError(f"{what}: contains NaN or infinite values")
    return arr.reshape(NUM_KEYPOINTS, 3)


def as_bool(value, what: str) -> bool:
    """true/false or 0/1 only: ``"false"`` is a mistake to report, not a true value (``bool("false")``)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    raise RecordError(f"{what}: expected true/false (or 0/1), got {value!r}")


def as_flags(value, what: str) -> Optional[np.ndarray]:
    """The 10 per-part binary flags (0/1) as (10,) float32, or None."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict)):
        raise RecordError(f"{what}: expected 10 flags (0 or 1), got {type(value).__name__}")
    try:
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise RecordError(f"{what}: expected 10 flags (0 or 1), got {value!r}") from None
    if arr.size != NUM_PARTS:
        raise RecordError(f"{what}: expected 10 flags, got {arr.size}")
    if not np.all((arr == 0) | (arr == 1)):
        raise RecordError(f"{what}: flags must be 0 or 1")
    return arr


def as_index_list(value, what: str, size: int) -> list[int]:
    """A list of ints in [0, size) from a list/array/int/None."""
    if value is None:
        return []
    if isinstance(value, (int, np.integer)):
        value = [value]
    if isinstance(value, (str, bytes, dict)):
        raise RecordError(f"{what}: expected a list of class indices, got {type(value).__name__} {value!r}")
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "iub":
            if array.dtype.kind != "f" or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise ValueError("not whole numbers")
        out = [int(v) for v in array.reshape(-1)]
    except (TypeError, ValueError):
        raise RecordError(f"{what}: expected a list of class indices, got {value!r}") from None
    except OverflowError:
        raise RecordError(f"{what}: expected class indices, got an infinite or huge value in {value!r}") from None
    bad = [v for v in out if not 0 <= v < size]
    if bad:
        raise RecordError(f"{what}: index {bad[0]} out of range 0..{size - 1}")
    return out

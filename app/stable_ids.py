"""Track IDs that survive seeks and replays of the same file (Qt-free).

The tracker (SORT) numbers tracks in the order it confirms them and knows nothing of seeks: after a jump
its tracks sit where the people were before the jump, so the same person gets a new ID on every seek or
replay (2 → 4 → 9), and the window's person list fills with duplicates.

:class:`IdMemory` remembers, for every frame index processed in this source, the boxes (xyxy pixels) shown
under each ID. :class:`StableIdTracker` wraps the tracker stage: on a jump (a frame index that does not
follow the previous one) it resets the tracker, and maps the tracker's new IDs back to the remembered ones
by box overlap at the same (or a nearby) frame index; a track that matches nothing gets a fresh ID, never
one in use. Right after a jump, a person the tracker has not confirmed yet but whose box matches a
remembered one is shown under the remembered ID at once (the tracker needs ``min_hits`` frames).
The memory belongs to the session, so reopening the same file (a restart with new settings) keeps IDs too.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

MATCH_IOU = 0.5       # a box must overlap a remembered one this much to take its ID
NEARBY_FRAMES = 3     # frames either side searched when the exact index was not processed before
MAX_FRAMES = 100_000  # frame indices remembered (a few persons each: a few MB at most)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with each of ``boxes`` (N, 4)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


class IdMemory:
    """Frame index → (IDs (N,) int, boxes (N, 4) float32 xyxy) shown there; the next fresh ID."""

    def __init__(self) -> None:
        self.frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.next_id = 1

    def remember(self, index: int, ids: list[int], boxes: list[np.ndarray]) -> None:
        self.frames[int(index)] = (np.asarray(ids, np.int64),
                                   np.asarray(boxes, np.float32).reshape(-1, 4))
        if ids:
            self.next_id = max(self.next_id, max(ids) + 1)
        while len(self.frames) > MAX_FRAMES:
            del self.frames[next(iter(self.frames))]

    def fresh_id(self) -> int:
        track_id = self.next_id
        self.next_id += 1
        return track_id

    def match(self, index: int, box: np.ndarray, exclude: set[int], nearby: int = NEARBY_FRAMES) -> Optional[int]:
        """The remembered ID whose box at ``index`` (or the nearest processed index within ``nearby``
        frames) overlaps ``box`` best, with IoU >= ``MATCH_IOU``; IDs in ``exclude`` are skipped."""
        for offset in sorted(range(-nearby, nearby + 1), key=abs):
            known = self.frames.get(int(index) + offset)
            if known is None or len(known[0]) == 0:
                continue
            ids, boxes = known
            overlaps = _iou(np.asarray(box, np.float32), boxes)
            for k in np.argsort(-overlaps):
                if overlaps[k] < MATCH_IOU:
                    break
                if int(ids[k]) not in exclude:
                    return int(ids[k])
            return None  # the nearest processed frame decides: farther ones are less reliable
        return None


class StableIdTracker:
    """A tracker stage (``engine.stages.tracker.TrackerStage``) whose IDs stay the same across seeks.

    Behaves as the wrapped stage (name ``"tracker"``, ``reconfigure``, ``reset``, ``close``, ``describe``
    pass through); see the module docstring for what it adds.
    """

    def __init__(self, inner, memory: IdMemory) -> None:
        self.inner = inner
        self.memory = memory
        self.name = getattr(inner, "name", "tracker")
        self._last_index: Optional[int] = None
        self._to_shown: dict[int, int] = {}  # the tracker's ID → the ID shown, since the last reset
        self.jumps = 0

    def __getattr__(self, name):  # reconfigure, track_state, ... (only called for names not found here)
        return getattr(self.inner, name)

    def __call__(self, frame: np.ndarray, result) -> None:
        index = int(result.index)
        if self._last_index is not None and index != self._last_index + 1:
            self.jumps += 1
            reset = getattr(self.inner, "reset", None)
            if reset is not None:
                reset()
            self._to_shown = {}
        self._last_index = index
        self.inner(frame, result)
        persons = result.persons
        in_frame: set[int] = set()
        for person in persons:  # confirmed tracks seen before keep their mapping
            if person.track_id >= 0 and person.track_id in self._to_shown:
                in_frame.add(self._to_shown[person.track_id])
        ids, boxes = [], []
        revisit = index in self.memory.frames
        for person in persons:
            raw = person.track_id
            if raw >= 0:
                shown = self._to_shown.get(raw)
                if shown is None:
                    taken = in_frame | set(self._to_shown.values())
                    shown = self.memory.match(index, person.box, taken)
                    if shown is None:
                        shown = self.memory.fresh_id()
                    self._to_shown[raw] = shown
                    in_frame.add(shown)
                person.track_id = shown
            elif revisit:  # not confirmed yet, on a frame shown before: the remembered ID if the box matches
                shown = self.memory.match(index, person.box, in_frame | set(self._to_shown.values()), nearby=0)
                if shown is None:
                    continue
                person.track_id = shown
                in_frame.add(shown)
            else:
                continue
            ids.append(person.track_id)
            boxes.append(person.box)
        self.memory.remember(index, ids, boxes)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()

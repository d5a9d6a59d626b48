"""The tracker stage: gives each person a stable ID (``Person.track_id``) across frames.

Uses :class:`trackers.sort.SortTracker` with ``config.tracker`` (person-video defaults, or the original
SORT's behaviour with ``tracker.parity: true``). Per frame it takes ``result.persons`` from the pose stage
(boxes, scores) and sets on each person:

- ``track_id``: the track's ID (1, 2, 3, ...; never reused within a run), or -1 when the person is not
  (yet) on a confirmed track. Unconfirmed persons stay in the list so the renderer can choose
  (``render.show_unconfirmed``);
- ``track_age``: frames since the track started (0 on its first frame), 0 when unconfirmed;
- ``track_hits``: frames on which the track was matched, its first detection included, 0 when unconfirmed.

Boxes are left as the detector gave them: the person keeps its own box, so its keypoints (and the part
boxes built from them) stay aligned with the box that is drawn. The Kalman estimate is available from
:meth:`TrackerStage.track_state` for anyone who wants the smoothed box.

Independent images (:meth:`TrackerStage.set_still_images`): nothing is tracked. The persons of each image
are put in order from left to right (box ``x1``, then ``y1``, then the pose backend's order) and numbered
``track_id`` 1..N within that image, with ``track_age`` 0 and ``track_hits`` 1; so every person is drawn
and listed, and the same person can have another number in another image.

Persons are carried by their tracks as payloads, so :meth:`TrackerStage.track_state` can return the
latest person of a track that is coasting through an occlusion. The A2V stage keeps its own per-track
results keyed by ``track_id``, which works because IDs are stable and never reused.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from engine.config import Config
from engine.types import FrameResult
from trackers.sort import PARITY_SETTINGS, SortTracker


class TrackerStage:
    """Stage protocol (``engine/stages/base.py``), name ``"tracker"``."""

    name = "tracker"

    def __init__(self, config: Config, still_images: bool = False) -> None:
        self.tracker = SortTracker.from_config(config.tracker)
        self.still_images = bool(still_images)

    def set_still_images(self, still: bool) -> None:
        """Independent images (number persons per image, left to right) or video frames (track); a switch
        forgets the tracks, so a video after photos starts at ID 1."""
        if bool(still) != self.still_images:
            self.still_images = bool(still)
            self.tracker.reset()

    def __call__(self, frame: np.ndarray, result: FrameResult) -> None:
        if self.still_images:
            number_persons(result)
            return
        persons = result.persons
        if persons:
            boxes = np.stack([person.box for person in persons]).astype(np.float64)
            scores = np.array([person.score for person in persons], dtype=np.float64)
        else:
            boxes, scores = np.zeros((0, 4)), np.zeros(0)
        outputs = self.tracker.update(boxes, scores, payloads=persons)
        for person in persons:
            person.track_id, person.track_age, person.track_hits = -1, 0, 0
        for out in outputs:
            person = persons[out.det_index]
            person.track_id, person.track_age, person.track_hits = out.track_id, out.age, out.hits

    def reset(self) -> None:
        """Forget all tracks and restart IDs at 1 (a new source or a seek that starts a new run)."""
        self.tracker.reset()

    def reconfigure(self, config: Config) -> None:
        """Apply a changed ``config.tracker`` live (``Pipeline.apply``); live tracks keep their IDs."""
        t = config.tracker
        if t.parity:
            self.tracker.configure(**PARITY_SETTINGS, second_pass=False, parity=True)
            return
        self.tracker.configure(max_age=t.max_age, min_hits=t.min_hits, iou_threshold=t.iou_threshold,
                               second_pass=t.second_pass, high_score=t.high_score, low_score=t.low_score,
                               parity=t.parity)

    def track_state(self, track_id: int) -> Optional[dict]:
        """A live track's state (see :meth:`trackers.sort.SortTracker.track_info`; ``payload`` is its
        latest :class:`~engine.types.Person`), or None when the ID is not live."""
        return self.tracker.track_info(track_id)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        if self.still_images:
            return "no tracking (independent images): persons numbered 1..N per image, left to right"
        return self.tracker.describe()


def number_persons(result: FrameResult) -> None:
    """Independent images: sort ``result.persons`` left to right (box x1, then y1; stable, so ties keep the
    pose backend's order) and number them ``track_id`` 1..N, ``track_age`` 0, ``track_hits`` 1."""
    result.persons = sorted(result.persons, key=lambda p: (float(p.box[0]), float(p.box[1])))
    for number, person in enumerate(result.persons, 1):
        person.track_id, person.track_age, person.track_hits = number, 0, 1

"""Per-person history for the side panel: bounded, Qt-free, fed with every FrameResult the GUI receives.

Memory is bounded twice: each track keeps its last ``max_frames`` frames (PaSta (93,) and actions (157,)
float32 each, about 1 KB per frame), and at most ``max_tracks`` tracks are kept (the ones seen longest ago
are forgotten first). Unconfirmed persons (``track_id == -1``) have no identity across frames and are not
recorded.
"""
from __future__ import annotations

import collections
import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from engine.types import FrameResult, Person

THUMB_HEIGHT = 64
THUMB_REFRESH_S = 0.5  # a thumbnail is re-cropped at most this often (media time), keeping updates cheap


@dataclass
class FrameEntry:
    """One frame of one track: ``pasta`` (93,) / ``actions`` (157,) float32 probabilities or None."""

    frame: int
    time: float
    pasta: Optional[np.ndarray]
    actions: Optional[np.ndarray]
    pasta_age: int


@dataclass
class TrackHistory:
    """What the panel knows about one track ID."""

    track_id: int
    first_time: float
    first_frame: int
    last_time: float = 0.0
    last_frame: int = -1
    frames_seen: int = 0
    entries: "collections.OrderedDict[int, FrameEntry]" = field(default_factory=collections.OrderedDict)
    latest: Optional[Person] = None          # the person as last seen (box, actions, vectors, ...)
    thumbnail: Optional[np.ndarray] = None   # (THUMB_HEIGHT, w, 3) BGR uint8 crop of the person
    thumbnail_time: float = float("-inf")

    @property
    def seconds_seen(self) -> float:
        """Media time from the earliest to the latest frame the track was seen in."""
        if not self.entries:
            return 0.0
        times = [e.time for e in self.entries.values()]
        return max(0.0, max(times) - min(times))

    @property
    def frames(self) -> list[int]:
        """Frame indices kept, in the order they were processed."""
        return list(self.entries)


def crop_thumbnail(frame_bgr: np.ndarray, box: np.ndarray, height: int = THUMB_HEIGHT) -> Optional[np.ndarray]:
    """The person's box (xyxy pixels) cut from ``frame_bgr`` (H, W, 3) and scaled to ``height`` rows.

    Nearest-neighbour scaling in numpy (no cv2 on the GUI path); None for an empty box.
    """
    h, w = frame_bgr.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    x1, x2 = max(0, min(x1, w)), max(0, min(x2, w))
    y1, y2 = max(0, min(y1, h)), max(0, min(y2, h))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    crop = frame_bgr[y1:y2, x1:x2]
    width = max(1, int(round(crop.shape[1] * height / crop.shape[0])))
    rows = np.minimum((np.arange(height) * crop.shape[0] / height).astype(int), crop.shape[0] - 1)
    cols = np.minimum((np.arange(width) * crop.shape[1] / width).astype(int), crop.shape[1] - 1)
    return np.ascontiguousarray(crop[rows][:, cols])


class PersonHistory:
    """Tracks seen so far, each with its last ``max_frames`` frames (see module docstring)."""

    def __init__(self, max_frames: int = 600, max_tracks: int = 64) -> None:
        self.max_frames = int(max_frames)
        self.max_tracks = int(max_tracks)
        self.tracks: "collections.OrderedDict[int, TrackHistory]" = collections.OrderedDict()
        self.current_ids: list[int] = []   # confirmed IDs in the last frame, in the frame's order
        self.last_frame = -1
        self.last_time = 0.0

    def clear(self) -> None:
        self.tracks.clear()
        self.current_ids = []
        self.last_frame = -1

    def update(self, result: FrameResult, frame_bgr: Optional[np.ndarray] = None) -> None:
        """Record ``result``; with ``frame_bgr`` (the frame it came from) thumbnails are refreshed too."""
        self.last_frame, self.last_time = result.index, float(result.timestamp)
        self.current_ids = []
        for person in result.persons:
            if person.track_id < 0:
                continue
            self.current_ids.append(person.track_id)
            track = self.tracks.get(person.track_id)
            if track is None:
                track = TrackHistory(person.track_id, first_time=result.timestamp, first_frame=result.index)
                self.tracks[person.track_id] = track
            self.tracks.move_to_end(person.track_id)
            track.last_time, track.last_frame = float(result.timestamp), result.index
            # Seen again after a seek back: the span grows to include it, and the frame is counted once.
            track.first_time = min(track.first_time, float(result.timestamp))
            track.first_frame = min(track.first_frame, result.index)
            if result.index not in track.entries:
                track.frames_seen += 1
            track.latest = person
            entry = FrameEntry(result.index, float(result.timestamp), _f32(person.pasta), _f32(person.actions),
                               int(person.pasta_age))
            track.entries.pop(result.index, None)  # a frame seen again after a seek replaces the old one
            track.entries[result.index] = entry
            while len(track.entries) > self.max_frames:
                track.entries.popitem(last=False)
            if frame_bgr is not None and (track.thumbnail is None
                                          or abs(result.timestamp - track.thumbnail_time) >= THUMB_REFRESH_S):
                thumb = crop_thumbnail(frame_bgr, person.box)
                if thumb is not None:
                    track.thumbnail, track.thumbnail_time = thumb, float(result.timestamp)
        while len(self.tracks) > self.max_tracks:
            self.tracks.popitem(last=False)  # least recently seen

    def timeline(self, track_id: int, max_span: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """A heatmap-ready PaSta timeline of one track.

        Returns ``(frames, pasta)``: ``frames`` (T,) int64 consecutive frame indices from the earliest to the
        latest kept frame (at most ``max_span``, default ``4 * max_frames``, ending at the latest), and
        ``pasta`` (T, 93) float32 with NaN in frames where the track was not seen or had no PaSta.
        """
        track = self.tracks.get(track_id)
        if track is None or not track.entries:
            return np.zeros(0, np.int64), np.zeros((0, 93), np.float32)
        kept = np.fromiter(track.entries.keys(), dtype=np.int64)
        hi = int(kept.max())
        lo = max(int(kept.min()), hi - (max_span or 4 * self.max_frames) + 1)
        frames = np.arange(lo, hi + 1, dtype=np.int64)
        width = next((e.pasta.shape[0] for e in track.entries.values() if e.pasta is not None), 93)
        pasta = np.full((len(frames), width), np.nan, np.float32)
        for index, entry in track.entries.items():
            if lo <= index <= hi and entry.pasta is not None:
                pasta[index - lo] = entry.pasta
        return frames, pasta

    def series(self, track_id: int, max_span: Optional[int] = None):
        """Like :meth:`timeline`, with times and actions: ``(frames (T,) int64, times (T,) float64 s,
        pasta (T, 93), actions (T, 157))`` float32, NaN where the track was not seen or had no PaSta."""
        frames, pasta = self.timeline(track_id, max_span)
        track = self.tracks.get(track_id)
        times = np.full(len(frames), np.nan)
        width = 157
        if track is not None:
            width = next((e.actions.shape[0] for e in track.entries.values() if e.actions is not None), 157)
        actions = np.full((len(frames), width), np.nan, np.float32)
        if len(frames):
            lo, hi = int(frames[0]), int(frames[-1])
            for index, entry in track.entries.items():
                if lo <= index <= hi:
                    times[index - lo] = entry.time
                    if entry.actions is not None:
                        actions[index - lo] = entry.actions
        return frames, times, pasta, actions

    def export_csv(self, track_id: int, path: str | Path, vocab) -> Path:
        """Write one row per kept frame of ``track_id`` (in frame order) to ``path``.

        Columns: ``frame``, ``time`` (s), ``pasta_age`` (frames), then the 93 PaSta probabilities named
        ``"<group>: <state>"`` and the 157 action probabilities named ``"action: <name>"``, then what the
        timeline rows show: ``"top <group>"`` (each part's most likely state) and ``"top action"``; empty
        cells where the frame had no PaSta.
        """
        track = self.tracks.get(track_id)
        if track is None:
            raise KeyError(f"track {track_id} is not in the history")
        path = Path(path)
        header = (["frame", "time", "pasta_age"] + [vocab.pasta_label(i) for i in range(len(vocab.pasta))]
                  + [f"action: {name}" for name in vocab.actions]
                  + [f"top {group}" for group in vocab.groups] + ["top action"])
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for entry in sorted(track.entries.values(), key=lambda e: e.frame):
                pasta = _cells(entry.pasta, len(vocab.pasta))
                actions = _cells(entry.actions, len(vocab.actions))
                writer.writerow([entry.frame, f"{entry.time:.4f}", entry.pasta_age] + pasta + actions
                                + _tops(entry, vocab))
        return path


def _f32(value) -> Optional[np.ndarray]:
    return None if value is None else np.asarray(value, np.float32)


def _cells(values: Optional[np.ndarray], width: int) -> list[str]:
    if values is None:
        return [""] * width
    return [f"{float(v):.4f}" for v in values]


def _tops(entry: FrameEntry, vocab) -> list[str]:
    """Each part's most likely state and the most likely action other than no_interaction ("" = none)."""
    if entry.pasta is None:
        tops = [""] * len(vocab.groups)
    else:
        tops = [vocab.pasta[band.start + int(np.argmax(entry.pasta[band]))] for band in vocab.group_slices]
    if entry.actions is None:
        return tops + [""]
    actions = np.asarray(entry.actions, np.float32).copy()
    actions[vocab.action_no_interaction] = -1.0
    return tops + [vocab.actions[int(np.argmax(actions))]]

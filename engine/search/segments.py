"""Person-frame scores → segments: consecutive frames of one track above a threshold, merged.

A segment is ``(item, track, start, end, peak score)``: a user asks "when does anyone sit?" and wants
"track 3, 4.2–7.9 s", not 110 frames. Frames of one track whose scores pass the threshold merge while
the gap between them is at most ``max_gap`` frames (A2V may run every k-th frame, and a pose can drop
out for a frame or two without the action stopping).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    item: str
    track: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    peak_score: float
    peak_frame: int
    peak_time: float
    peak_row: int          # row of the peak in the searched table (for boxes and thumbnails)
    frames: int            # person-frames in the segment that passed the threshold

    def to_dict(self) -> dict:
        return asdict(self)


def segments_from_scores(item: np.ndarray, track: np.ndarray, frame: np.ndarray, time: np.ndarray,
                         scores: np.ndarray, threshold: float, max_gap: int = 2) -> list[Segment]:
    """Segments of rows with ``scores >= threshold``, best peak first (ties: longer first).

    All arrays (M,); rows may come in any order. Unconfirmed persons (track < 0) are not segments.
    """
    scores = np.asarray(scores, np.float64)
    keep = np.flatnonzero((scores >= threshold) & (np.asarray(track) >= 0) & np.isfinite(scores))
    if keep.size == 0:
        return []
    # Sort by (item, track, frame) so each run of one track is contiguous; then cut where the item or
    # the track changes or the frame gap is too large (vectorised: 100k rows are one pass, not a loop).
    items = np.asarray(item, dtype=object)[keep].astype(str)
    order = np.lexsort((frame[keep], track[keep], items))
    rows, items = keep[order], items[order]
    f, t = np.asarray(frame)[rows], np.asarray(track)[rows]
    cut = np.ones(rows.size, bool)
    cut[1:] = (items[1:] != items[:-1]) | (t[1:] != t[:-1]) | (f[1:] - f[:-1] > max_gap + 1)
    starts = np.flatnonzero(cut)
    ends = np.append(starts[1:], rows.size) - 1
    row_scores = scores[rows]
    out: list[Segment] = []
    for a, b in zip(starts, ends):
        peak = rows[a + int(np.argmax(row_scores[a:b + 1]))]
        out.append(Segment(item=str(items[a]), track=int(t[a]), start_frame=int(f[a]), end_frame=int(f[b]),
                           start_time=float(time[rows[a]]), end_time=float(time[rows[b]]),
                           peak_score=float(scores[peak]), peak_frame=int(frame[peak]), peak_time=float(time[peak]),
                           peak_row=int(peak), frames=int(b - a + 1)))
    out.sort(key=lambda s: (-s.peak_score, -(s.end_frame - s.start_frame), s.item, s.track, s.start_frame))
    return out

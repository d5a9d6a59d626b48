"""MOTChallenge text files: detections, ground truth and tracks.

One object per line: ``frame, id, x, y, w, h, score, ...`` — frame 1-based, ``x, y`` the top-left corner,
``w, h`` the size, all in pixels; detections have id -1; ground truth and tracks have their object ID.
Extra columns (``x, y, z`` world coordinates, class, visibility) are ignored. Comma or whitespace separated.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

MAX_FRAME = 10_000_000  # ~93 hours at 30 fps; larger frame numbers are typos or garbage, not videos
MAX_COORD = 1e7  # pixels; any real box is far inside this, and beyond it float sums lose the box


class MotFileError(ValueError):
    """A MOTChallenge file is missing or malformed; the message names the file and the fix."""


def read_mot(path: str | Path, what: str = "MOT file") -> np.ndarray:
    """Read a MOTChallenge file -> (L, 7) float64 ``frame, id, x, y, w, h, score`` (score 1 if absent).

    Raises :class:`MotFileError` naming the file (and the line) when it is missing, unreadable, empty
    of numbers, has fewer than 6 columns, a NaN/infinite value, a frame number that is not a whole number
    from 1 to ``MAX_FRAME`` or a coordinate beyond ``MAX_COORD`` pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise MotFileError(f"{what} {path} not found; pass an existing MOTChallenge text file")
    rows = []
    try:
        with path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                fields = text.replace(",", " ").split()
                if len(fields) < 6:
                    raise MotFileError(f"{path}:{number}: expected at least 6 columns "
                                       f"(frame,id,x,y,w,h[,score,...]), got {len(fields)}")
                try:
                    values = [float(v) for v in fields[:7]]
                except ValueError:
                    raise MotFileError(f"{path}:{number}: not a number in {text[:60]!r}; "
                                       f"{what} lines are frame,id,x,y,w,h,score,...") from None
                if len(values) == 6:
                    values.append(1.0)
                _check_row(values, path, number)
                rows.append(values)
    except UnicodeDecodeError:
        raise MotFileError(f"{what} {path} is not a text file; pass a MOTChallenge .txt file") from None
    except OSError as exc:
        raise MotFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, 7)


def _check_row(values: list[float], path: Path, number: int) -> None:
    """Frame a whole number in 1..MAX_FRAME, every value finite, coordinates within MAX_COORD pixels."""
    frame = values[0]
    if not np.isfinite(values).all():
        raise MotFileError(f"{path}:{number}: a value is NaN or infinite; MOTChallenge lines hold finite numbers")
    if frame < 1:
        raise MotFileError(f"{path}:{number}: frame numbers start at 1 in MOTChallenge files, found {frame:g}")
    if frame > MAX_FRAME or frame != int(frame):
        raise MotFileError(f"{path}:{number}: frame number {frame:g} is not a whole number from 1 to {MAX_FRAME:,}; "
                           f"check the first column")
    if max(abs(v) for v in values[2:6]) > MAX_COORD:
        raise MotFileError(f"{path}:{number}: box {values[2:6]} is beyond {MAX_COORD:g} pixels; check the "
                           f"x,y,w,h columns")


def frames_of(table: np.ndarray, num_frames: int | None = None) -> Iterable[tuple[int, np.ndarray]]:
    """Yield ``(frame, rows)`` for frames 1..last (or ``num_frames``), empty frames included, in order.

    ``rows`` are that frame's lines of the (L, 7) table.
    """
    if len(table) == 0:
        last = int(num_frames or 0)
        for frame in range(1, last + 1):
            yield frame, table[:0]
        return
    frames = table[:, 0].astype(np.int64)
    order = np.argsort(frames, kind="stable")
    table, frames = table[order], frames[order]
    last = int(num_frames) if num_frames else int(frames[-1])
    # Walk the sorted rows instead of indexing every frame number: memory stays O(rows) for any last frame.
    start = int(np.searchsorted(frames, 1))
    empty = table[:0]
    for frame in range(1, last + 1):
        if start < len(frames) and frames[start] == frame:
            end = int(np.searchsorted(frames, frame, side="right"))
            yield frame, table[start:end]
            start = end
        else:
            yield frame, empty


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """(N, 4) top-left + size -> (N, 4) corners."""
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def format_track_line(frame: int, track_id: int, box_xyxy: np.ndarray, score: float = 1.0) -> str:
    """One MOTChallenge track line (box as ``x, y, w, h`` with 2 decimals, like SORT's output)."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    return f"{frame},{track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4g},-1,-1,-1"


def write_tracks(path: str | Path, lines: Iterable[str]) -> int:
    """Write track lines to ``path`` (parent folders created); returns the number of lines."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with path.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
                count += 1
    except OSError as exc:
        raise MotFileError(f"cannot write tracks to {path}: {exc.strerror or exc}; "
                           f"pass a writable --out path") from None
    return count

"""Outputs (docs/architecture.md): annotated H.264 mp4, ``results.jsonl``, ``vectors.npz``, MOT ``tracks.txt``,
and annotated images under their own names (:class:`ImageSink`, image folders).

Every sink has ``name``, ``write(annotated, result)`` (image first, as everywhere: ``annotated`` the
rendered (H, W, 3) BGR uint8 frame or None, ``result`` a :class:`FrameResult`) and an idempotent
``close()`` that finalizes the file; each is a context manager (``with JsonlSink(...) as sink:`` closes
it on the way out). ``close()``
is safe after an exception anywhere: the mp4 is decodable with the frames written so far, the JSONL is
whole lines only (each line is written in one piece; a failed write is cut back to the last whole line), the
NPZ is written atomically or not at all, and the MOT file holds whole lines.

With ``atomic=True`` (what :func:`open_sinks` uses) a sink writes to a temporary name beside its path
(``.STEM.partial.SUFFIX``) and renames it into place on ``close()``, so a run that fails before producing anything
(``discard()``) or is killed leaves the previous run's file as it was. Output paths must be local files:
``file:x.mp4`` or ``http://...`` would reach FFmpeg as URLs and are refused. :func:`lock_outputs` takes a
lock file per output folder so two runs never write the same outputs.

:func:`open_sinks` builds the sinks a run asks for and checks up front that every output can be written,
raising :class:`SinkError` (a ``ValueError``) with one line naming the path and the fix.
"""
from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import shutil
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Optional, Protocol, runtime_checkable

import numpy as np

from engine.types import FrameResult
from trackers.mot_io import format_track_line

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


class SinkError(ValueError):
    """An output that cannot be written; the message is one line naming the path and the fix."""


class SinkWriteError(OSError):
    """Writing or finalizing an output failed (disk full, folder deleted); one line naming the path."""

    def __str__(self) -> str:
        return str(self.strerror)


def _write_failed(path: Path, exc: BaseException, what: str = "cannot write") -> SinkWriteError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    hint = "free some space or choose another location" if getattr(exc, "errno", None) == errno.ENOSPC \
        else "check that the folder still exists and is writable"
    return SinkWriteError(getattr(exc, "errno", None) or errno.EIO, f"{path}: {what} ({reason}); {hint}")


def partial_path(path: Path) -> Path:
    """Where an atomic sink writes ``path`` until it is finalized: ``.STEM.partial.SUFFIX`` beside it (the
    suffix is kept so FFmpeg and OpenCV still pick the container from it)."""
    return path.parent / f".{path.stem}.partial{path.suffix}"


def _commit(temp: Path, path: Path) -> None:
    try:
        os.replace(temp, path)
    except OSError as exc:
        raise _write_failed(path, exc, "cannot finalize") from None


class _LineFile:
    """An append-only text file written one whole record at a time (raw ``os.write``, no buffer).

    A write that fails part-way (disk full) is cut back to the end of the last whole record, so the file never
    ends in half a line. ``temp`` is the name written to (``path`` itself when not atomic).
    """

    def __init__(self, path: Path, atomic: bool) -> None:
        self.path = path
        self.temp = partial_path(path) if atomic else path
        self.atomic = atomic
        self.size = 0
        try:
            self._fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise _write_failed(path, exc, "cannot open for writing") from None

    def write(self, text: str) -> None:
        data = memoryview(text.encode("utf-8"))
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self.size)  # drop the torn record; needs no free space
            except OSError:
                pass
            raise _write_failed(self.path, exc) from None
        self.size += written

    def close(self, commit: bool = True) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)
        if not self.atomic:
            return
        if commit:
            _commit(self.temp, self.path)
        else:
            self.temp.unlink(missing_ok=True)


def is_url_like(value) -> bool:
    """``file:x.mp4``, ``http://...``, ``pipe:1``: a scheme FFmpeg would open as a protocol, not a local file.

    One letter before the colon is a Windows drive (``C:\\out.mp4``), not a scheme.
    """
    text = os.fspath(value) if not isinstance(value, str) else value
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):", str(text))
    return bool(match) and len(match.group(1)) > 1


def _require_local(value, option: str) -> None:
    if is_url_like(value):
        example = Path(str(value)).name.split(":")[-1] or "output"
        raise SinkError(f"{value}: {option} must be a local file path, not a URL or protocol "
                        f"(FFmpeg would open it as one); give a plain path such as ./{example}")


@runtime_checkable
class Sink(Protocol):
    """What the pipeline needs of an output: a ``name`` for errors, ``write`` per frame, ``close`` once."""

    name: str

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None: ...

    def close(self) -> None: ...


class SinkBase:
    """Context-manager behaviour for every sink: ``__exit__`` calls the (idempotent) ``close()``, also when
    the block raised, so a file is finalized on every path."""

    name = "sink"

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------- video

def _even(n: int) -> int:
    return n + (n % 2)


class VideoSink(SinkBase):
    """Annotated frames → H.264 mp4 (PyAV, libx264, yuv420p).

    The frame size is fixed by ``size`` or, when None, by the first frame (so a sidebar that widens the
    frame is fine). H.264 with yuv420p needs even dimensions: an odd width or height is padded by one
    replicated pixel on the right/bottom (logged once). A later frame of another size is resized to the
    video's size (logged once). Frames are timed at ``fps`` (pts = frame number) unless
    ``use_timestamps`` is set, in which case each frame's ``result.timestamp`` is its presentation time
    (right for live sources, whose dropped frames would otherwise make the video play fast).

    If PyAV has no H.264 encoder, falls back to MPEG-4 Part 2 (``mp4v``) through ``cv2.VideoWriter`` with a
    warning; ``codec`` says which one is used ("h264" or "mp4v") once the first frame is written.
    """

    name = "video"

    def __init__(self, path: str | os.PathLike, fps: float, size: Optional[tuple[int, int]] = None, *,
                 crf: int = 23, preset: str = "veryfast", use_timestamps: bool = False,
                 encoder: str = "libx264", atomic: bool = False) -> None:
        self.path = Path(path)
        _require_local(self.path, "the video path")
        self.atomic = atomic
        # Absolute, so FFmpeg never reads a "name:" prefix as a protocol.
        self._target = (partial_path(self.path) if atomic else self.path).absolute()
        self.committed = False
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 25.0
        self.size = tuple(size) if size else None  # (w, h) as given/decided; the encoded size may be +1
        self.crf, self.preset, self.use_timestamps, self.encoder = crf, preset, use_timestamps, encoder
        self.codec: Optional[str] = None
        self.frames_written = 0
        self.warnings: list[str] = []
        self._container = None
        self._stream = None
        self._writer = None  # cv2.VideoWriter in the fallback
        self._encoded_size: Optional[tuple[int, int]] = None
        self._last_pts = -1
        self._warned_resize = False
        self.closed = False

    # --- opening
    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def _open(self, width: int, height: int) -> None:
        self.size = self.size or (width, height)
        w, h = self.size
        self._encoded_size = (_even(w), _even(h))
        if self._encoded_size != (w, h):
            self._warn(f"{self.path}: frame size {w}x{h} is odd; padded by 1 px to "
                       f"{self._encoded_size[0]}x{self._encoded_size[1]} for H.264 (yuv420p)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open_pyav()
            self.codec = "h264"
        except _NoH264 as exc:
            self._warn(f"{self.path}: H.264 encoding is unavailable ({exc}); writing MPEG-4 (mp4v) through "
                       f"OpenCV instead — install PyAV with libx264 for H.264")
            self._open_opencv()
            self.codec = "mp4v"

    def _open_pyav(self) -> None:
        import av

        candidates = [self.encoder] + [c for c in ("libx264", "h264") if c != self.encoder]
        available = [c for c in candidates if _has_encoder(c)]
        if not available:
            raise _NoH264(f"PyAV has none of the encoders {', '.join(candidates)}")
        rate = Fraction(self.fps).limit_denominator(1001)
        container = av.open(str(self._target), mode="w")
        try:
            stream = container.add_stream(available[0], rate=rate)
            stream.width, stream.height = self._encoded_size
            stream.pix_fmt = "yuv420p"
            if available[0] == "libx264":
                stream.options = {"crf": str(self.crf), "preset": self.preset}
            if self.use_timestamps:
                stream.codec_context.time_base = Fraction(1, 1000)
            self._time_base = Fraction(1, 1000) if self.use_timestamps else 1 / rate
        except Exception as exc:
            container.close()
            raise _NoH264(f"{available[0]}: {exc}") from exc
        self._container, self._stream = container, stream

    def _open_opencv(self) -> None:
        from engine.cvcompat import cv2

        writer = cv2.VideoWriter(str(self._target), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._encoded_size)
        if not writer.isOpened():
            raise SinkError(f"{self.path}: cannot open a video writer (no H.264 in PyAV and OpenCV's mp4v "
                            f"failed); reinstall 'av' from PyPI")
        self._writer = writer

    # --- writing
    def _fit(self, frame: np.ndarray) -> np.ndarray:
        from engine.cvcompat import cv2

        w, h = self.size
        if (frame.shape[1], frame.shape[0]) != (w, h):
            if not self._warned_resize:
                self._warned_resize = True
                self._warn(f"{self.path}: frame size changed from {w}x{h} to {frame.shape[1]}x{frame.shape[0]}; "
                           f"resizing to {w}x{h}")
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        ew, eh = self._encoded_size
        if (ew, eh) != (w, h):
            frame = cv2.copyMakeBorder(frame, 0, eh - h, 0, ew - w, cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(frame)

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        """Append ``annotated`` ((H, W, 3) BGR uint8) as the next video frame."""
        if self.closed:
            raise RuntimeError(f"{self.path}: write after close")
        if annotated is None:
            raise ValueError(f"{self.path}: the video sink needs rendered frames; run the pipeline with a "
                             f"renderer (render='default')")
        frame = np.asarray(annotated)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: expected an (H, W, 3) uint8 BGR frame, got {frame.shape} {frame.dtype}")
        if self._container is None and self._writer is None:
            self._open(int(frame.shape[1]), int(frame.shape[0]))
        frame = self._fit(frame)
        if self._writer is not None:
            self._writer.write(frame)
        else:
            try:
                self._encode(frame, result)
            except Exception as exc:  # noqa: BLE001 - disk full / folder gone inside FFmpeg: name the file
                raise _write_failed(self.path, exc) from exc
        self.frames_written += 1

    def _encode(self, frame: np.ndarray, result: FrameResult) -> None:
        import av

        video_frame = av.VideoFrame.from_ndarray(frame, format="bgr24")
        if self.use_timestamps:
            pts = int(round(float(result.timestamp) * 1000.0))
        else:
            pts = self.frames_written
        pts = max(pts, self._last_pts + 1)  # strictly increasing even after a seek or a clock hiccup
        self._last_pts = pts
        video_frame.pts = pts
        video_frame.time_base = self._time_base
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    # --- closing
    def close(self, commit: bool = True) -> None:
        """Flush the encoder and write the mp4 index; idempotent; the file is decodable afterwards.

        Atomic: the finished file is renamed into place (``commit``; False = ``discard``). When finalizing
        fails (disk full) the unusable partial file is removed and :class:`SinkWriteError` names the path.
        """
        if self.closed:
            return
        self.closed = True
        opened = self._writer is not None or self._container is not None
        try:
            if self._writer is not None:
                self._writer.release()
                self._writer = None
            if self._container is not None:
                container, self._container = self._container, None
                try:
                    if commit:
                        for packet in self._stream.encode(None):
                            container.mux(packet)
                finally:
                    container.close()
        except Exception as exc:  # noqa: BLE001
            if self.atomic:
                self._target.unlink(missing_ok=True)
            raise _write_failed(self.path, exc, "cannot finalize the video (it is unusable)") from exc
        if self.atomic and opened:
            if commit:
                _commit(self._target, self.path)
                self.committed = True
            else:
                self._target.unlink(missing_ok=True)
        elif opened:
            self.committed = True
        if self.frames_written == 0 and commit:
            log.warning("%s: no frames were written; no video file created", self.path)

    def discard(self) -> None:
        """Close without keeping anything (the run failed before producing output); idempotent."""
        self.close(commit=False)


class _NoH264(RuntimeError):
    pass


def _has_encoder(name: str) -> bool:
    import av

    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001 - UnknownCodecError or a PyAV without that encoder
        return False


# --------------------------------------------------------------------------------------------- JSONL

def _r(value, digits: int):
    """Round a float for JSON; NaN/inf become None (JSON has no NaN)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _rows(array: np.ndarray, digits: int) -> list:
    return [[_r(v, digits) for v in row] for row in np.asarray(array, dtype=np.float64).reshape(len(array), -1)]


class _LineSink(SinkBase):
    """A sink of whole text lines (:class:`_LineFile`): finalized (renamed into place) on ``close()``,
    dropped by ``discard()`` when atomic."""

    def __init__(self, path: str | os.PathLike, atomic: bool = False) -> None:
        self.path = Path(path)
        self.lines_written = 0
        self.closed = False
        self.committed = False
        self._file = _LineFile(self.path, atomic)

    def close(self, commit: bool = True) -> None:
        if not self.closed:
            self.closed = True
            self._file.close(commit)
            self.committed = commit

    def discard(self) -> None:
        self.close(commit=False)


class ResultRecords:
    """A :class:`FrameResult` as the plain dict that ``results.jsonl`` holds (see :class:`JsonlSink` for
    the format); also what ``engine.api.Result.to_dict()`` returns."""

    def __init__(self, vocab=None, top_actions: int = 5) -> None:
        if vocab is None:
            from engine.vocab import load_vocab

            vocab = load_vocab()
        self.vocab = vocab
        self.top_actions = int(top_actions)
        self._no_action = vocab.action_no_interaction

    def person_record(self, person) -> dict:
        record = {
            "id": int(person.track_id),
            "box": [_r(v, 2) for v in person.box],
            "score": _r(person.score, 4),
            "keypoints": [[_r(x, 2), _r(y, 2), _r(c, 4)] for x, y, c in np.asarray(person.keypoints)],
            "part_boxes": _rows(person.part_boxes, 2) if person.part_boxes is not None else None,
            "pasta_top": None,
            "actions_top": None,
            "pasta_age": int(person.pasta_age),
            "track_age": int(person.track_age),
            "track_hits": int(person.track_hits),
        }
        if person.pasta is not None:
            pasta = np.asarray(person.pasta, dtype=np.float32)
            top = {}
            for group, part in zip(self.vocab.groups, self.vocab.group_slices):
                best = part.start + int(np.argmax(pasta[part]))
                top[group] = [self.vocab.pasta[best], _r(pasta[best], 4)]
            record["pasta_top"] = top
        if person.actions is not None:
            actions = np.asarray(person.actions, dtype=np.float32)
            order = [int(i) for i in np.argsort(-actions, kind="stable") if int(i) != self._no_action]
            record["actions_top"] = [[self.vocab.actions[i], _r(actions[i], 4)]
                                     for i in order[:self.top_actions]]
        return record

    def frame_record(self, result: FrameResult) -> dict:
        record = {}
        file = result.info.get("file") if result.info else None
        if file is not None:
            record["file"] = str(file)
        record.update({"frame": int(result.index), "time": _r(result.timestamp, 4),
                       "size": [int(result.image_size[0]), int(result.image_size[1])]})
        dropped = result.info.get("dropped") if result.info else None
        if dropped:
            record["dropped"] = int(dropped)
        record["persons"] = [self.person_record(p) for p in result.persons]
        record["timings_ms"] = {str(k): _r(v, 2) for k, v in result.timings.items()}
        return record


class JsonlSink(ResultRecords, _LineSink):
    """One JSON object per frame, one line each, flushed as written (a killed run leaves whole lines).

    Line format::

        {"file": path relative to the input root (image sources only), "frame": int, "time": seconds,
         "size": [w, h] (the image's own size), "dropped": int (live sources only),
         "persons": [{"id": int (-1 = unconfirmed), "box": [x1, y1, x2, y2], "score": p,
                      "keypoints": [[x, y, conf] × 17], "part_boxes": [[x1, y1, x2, y2] × 10] | null,
                      "pasta_top": {group: [state, p]} | null, "actions_top": [[action, p], …] | null,
                      "pasta_age": frames, "track_age": frames, "track_hits": frames}],
         "timings_ms": {stage: ms}}

    Pixel coordinates have 2 decimals, probabilities and scores 4. ``pasta_top`` holds each group's most
    likely state (which may be ``no_interaction``); ``actions_top`` the ``top_actions`` most likely actions,
    ``no_interaction`` excluded. Both are null for a person without PaSta.
    """

    name = "results"

    def __init__(self, path: str | os.PathLike, vocab=None, top_actions: int = 5, atomic: bool = False) -> None:
        ResultRecords.__init__(self, vocab, top_actions)
        _LineSink.__init__(self, path, atomic)

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        if self.closed:
            raise RuntimeError(f"{self.path}: write after close")
        line = json.dumps(self.frame_record(result), separators=(",", ":"), allow_nan=False)
        self._file.write(line + "\n")  # one os.write: on disk at once, and never half of it
        self.lines_written += 1


# ----------------------------------------------------------------------------------------------- NPZ

class VectorSink(SinkBase):
    """Per person-frame vectors → ``vectors.npz`` (uncompressed, readable with ``np.load``), written on close.

    One row per person per frame that has PaSta (``pasta`` not None). Arrays, M rows:

    - ``frame`` (M,) int64 frame index, ``track_id`` (M,) int64 (-1 = unconfirmed), ``time`` (M,) float64 s,
      ``pasta_age`` (M,) int64 frames since the PaSta was computed (> 0 when carried by the track),
      ``box`` (M, 4) float32 xyxy pixels, ``score`` (M,) float32;
    - ``pasta`` (M, 93), ``actions`` (M, 157), ``visual`` (M, 3072), ``language`` (M, L) float32
      (L = 1536 with the official matrix, 768 with MiniLM, 0 when no language vectors came; a row
      missing a vector holds NaN);
    - ``pasta_names`` (93,), ``action_names`` (157,) str when a vocabulary is given;
    - ``file`` (M,) str, for image sources: the row's image, its path relative to the input root (as the
      ``"file"`` of ``results.jsonl``); absent when no frame had a file name (videos, live sources).

    Memory: rows are buffered ``chunk_rows`` at a time (a row with L = 1536 is 19.5 KB, so the default 2048
    rows ≈ 40 MB) and then appended to per-array spill files in a temporary folder next to ``path``; close
    streams them into the NPZ, so memory stays bounded however long the run. The NPZ is assembled under a
    temporary name and moved into place with ``os.replace``: a crash never leaves a half file at ``path``.
    """

    name = "vectors"
    _FIXED = (("frame", np.int64), ("track_id", np.int64), ("time", np.float64), ("pasta_age", np.int64),
              ("score", np.float32))

    def __init__(self, path: str | os.PathLike, vocab=None, chunk_rows: int = 2048) -> None:
        self.path = Path(path)
        self.vocab = vocab
        self.chunk_rows = max(1, int(chunk_rows))
        self.rows = 0
        self.closed = False
        self.committed = False
        self._widths: Optional[dict[str, int]] = None  # per vector array, fixed by the first row
        self._pending: list[dict] = []
        self._spill_dir: Optional[Path] = None
        self._warned: set[str] = set()
        self._file_names: list[str] = []          # one entry per image (not per row): memory stays small
        self._file_ids: dict[str, int] = {}

    def _file_id(self, result: FrameResult) -> int:
        file = result.info.get("file") if result.info else None
        if file is None:
            return -1
        file = str(file)
        if file not in self._file_ids:
            self._file_ids[file] = len(self._file_names)
            self._file_names.append(file)
        return self._file_ids[file]

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        if self.closed:
            raise RuntimeError(f"{self.path}: write after close")
        file_id = None
        for person in result.persons:
            if person.pasta is None:
                continue
            if file_id is None:
                file_id = self._file_id(result)
            if self._widths is None:
                self._widths = {"box": 4, "pasta": int(np.size(person.pasta)),
                                "actions": int(np.size(person.actions)) if person.actions is not None else 157,
                                "visual": int(np.size(person.visual)) if person.visual is not None else 3072,
                                "language": int(np.size(person.language)) if person.language is not None else 0}
            row = {"frame": result.index, "track_id": person.track_id, "time": result.timestamp,
                   "pasta_age": person.pasta_age, "score": person.score, "box": person.box,
                   "file_id": file_id}
            for key in ("pasta", "actions", "visual", "language"):
                row[key] = self._vector(getattr(person, key), key)
            self._pending.append(row)
            self.rows += 1
        if len(self._pending) >= self.chunk_rows:
            try:
                self._spill()
            except OSError as exc:
                raise _write_failed(self.path, exc, "cannot buffer vectors on disk") from None

    def _vector(self, value, key: str) -> np.ndarray:
        width = self._widths[key]
        if value is None:
            return np.full(width, np.nan, np.float32)
        vector = np.asarray(value, dtype=np.float32).reshape(-1)
        if vector.size != width:
            if key not in self._warned:
                self._warned.add(key)
                log.warning("%s: %s has %d values, the first row had %d; storing NaN for such rows",
                            self.path, key, vector.size, width)
            return np.full(width, np.nan, np.float32)
        return vector

    def _columns(self) -> list[tuple[str, np.dtype, tuple[int, ...]]]:
        widths = self._widths or {"box": 4, "pasta": 93, "actions": 157, "visual": 3072, "language": 0}
        columns = [(key, np.dtype(dtype), ()) for key, dtype in self._FIXED]
        columns.append(("box", np.dtype(np.float32), (widths["box"],)))
        for key in ("pasta", "actions", "visual", "language"):
            columns.append((key, np.dtype(np.float32), (widths[key],)))
        columns.append(("file_id", np.dtype(np.int64), ()))  # spilled only; the NPZ gets ``file`` (str)
        return columns

    def _spill(self) -> None:
        """Append the buffered rows to one raw file per array (C order, the NPZ's own byte layout)."""
        if not self._pending:
            return
        if self._spill_dir is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._spill_dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        for key, dtype, _ in self._columns():
            block = np.asarray([row[key] for row in self._pending], dtype=dtype)
            with open(self._spill_dir / key, "ab") as handle:
                handle.write(np.ascontiguousarray(block).tobytes())
        self._pending.clear()

    def _write_npz(self, target: Path) -> None:
        arrays_meta = self._columns()
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, dtype, tail in arrays_meta:
                if key == "file_id":
                    if self._file_names:
                        self._write_file_column(archive)
                    continue
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                          "shape": (self.rows, *tail)}
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(member, header)
                    spill = self._spill_dir / key if self._spill_dir is not None else None
                    if spill is not None and spill.exists():
                        with open(spill, "rb") as handle:
                            shutil.copyfileobj(handle, member, 1 << 20)
            if self.vocab is not None:
                for key, names in (("pasta_names", self.vocab.pasta), ("action_names", self.vocab.actions)):
                    with archive.open(f"{key}.npy", "w") as member:
                        np.lib.format.write_array(member, np.asarray(names, dtype=str))

    def _write_file_column(self, archive: zipfile.ZipFile) -> None:
        """``file`` (M,) fixed-width unicode from the spilled per-row file ids, streamed in chunks."""
        width = max(1, max(len(name) for name in self._file_names))
        dtype = np.dtype(f"<U{width}")
        names = np.asarray(self._file_names + [""], dtype=dtype)  # id -1 → "" (a row without a file)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (self.rows,)}
        with archive.open("file.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            spill = self._spill_dir / "file_id" if self._spill_dir is not None else None
            if spill is None or not spill.exists():
                return
            with open(spill, "rb") as handle:
                while True:
                    chunk = handle.read(8 * 65536)
                    if not chunk:
                        break
                    member.write(names[np.frombuffer(chunk, dtype=np.int64)].tobytes())

    def discard(self) -> None:
        """Drop every row (the run failed before producing output); the file at ``path`` is untouched."""
        if self.closed:
            return
        self.closed = True
        self._pending.clear()
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def close(self, commit: bool = True) -> None:
        """Write the NPZ (atomically) with every row so far; idempotent. ``commit=False`` = :meth:`discard`."""
        if not commit:
            self.discard()
            return
        if self.closed:
            return
        self.closed = True
        try:
            self._write_and_replace()
        except SinkWriteError:
            raise
        except OSError as exc:
            raise _write_failed(self.path, exc, "cannot write the vectors") from None
        self.committed = True

    def _write_and_replace(self) -> None:
        tmp = None
        try:
            self._spill()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            os.close(handle)
            tmp = Path(tmp_name)
            self._write_npz(tmp)
            os.replace(tmp, self.path)
            tmp = None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            if self._spill_dir is not None:
                shutil.rmtree(self._spill_dir, ignore_errors=True)
                self._spill_dir = None


# ----------------------------------------------------------------------------------------------- MOT

class MotSink(_LineSink):
    """MOTChallenge tracks: ``frame,id,x,y,w,h,score,-1,-1,-1`` per confirmed person (``id >= 0``).

    ``frame`` is 1-based (``result.index + 1``); ``x, y`` the top-left corner, ``w, h`` the box size in
    pixels. Lines are flushed every frame, so the file is whole up to the last frame written.
    """

    name = "tracks"

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        if self.closed:
            raise RuntimeError(f"{self.path}: write after close")
        lines = []
        for person in result.persons:
            if person.track_id < 0:
                continue
            # One line format for `run` and `track` (trackers.mot_io), so their files diff cleanly.
            lines.append(format_track_line(result.index + 1, person.track_id, person.box, person.score) + "\n")
        if lines:
            self._file.write("".join(lines))  # the frame's lines in one piece
            self.lines_written += len(lines)


# -------------------------------------------------------------------------------------------- images

_JPEG = (".jpg", ".jpeg", ".jpe")


class ImageSink(SinkBase):
    """Annotated images → ``folder/<file>``: the same relative name and format as the input image.

    ``<file>`` is ``result.info["file"]`` (the image's path relative to the input root; frames without one,
    such as video frames, are named ``frame_000123.png``). JPEG and WebP are written at quality 95, PNG
    losslessly. A format OpenCV cannot encode (e.g. ``.jp2`` without OpenJPEG, or 1-channel ``.pgm``/``.pbm``)
    is written as PNG under the same name plus ``.png``, with one warning. Each file is written whole
    (temporary name, then ``os.replace``), so a killed run never leaves half an image.
    """

    name = "images"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder   # what the run summary names
        self.folder.mkdir(parents=True, exist_ok=True)
        self.images_written = 0
        self.closed = False
        self.committed = False
        self._warned: set[str] = set()

    def target(self, result: FrameResult) -> Path:
        """Where the annotated image of ``result`` goes (inside ``folder``, never outside it)."""
        file = result.info.get("file") if result.info else None
        if not file:
            return self.folder / f"frame_{int(result.index):06d}.png"
        parts = [p for p in Path(str(file)).parts if p not in ("", ".", "..", "/", "\\")]
        return self.folder.joinpath(*parts) if parts else self.folder / f"frame_{int(result.index):06d}.png"

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        """Write ``annotated`` ((H, W, 3) BGR uint8) under ``result``'s file name."""
        from engine.cvcompat import cv2

        if self.closed:
            raise RuntimeError(f"{self.folder}: write after close")
        if annotated is None:
            raise ValueError(f"{self.folder}: the images sink needs rendered frames; run the pipeline with a "
                             f"renderer (render='default')")
        path = self.target(result)
        suffix = path.suffix.lower()
        params = []
        if suffix in _JPEG:
            params = [cv2.IMWRITE_JPEG_QUALITY, 95]
        elif suffix == ".webp":
            params = [cv2.IMWRITE_WEBP_QUALITY, 95]
        try:
            ok, data = cv2.imencode(suffix or ".png", np.ascontiguousarray(annotated), params)
        except cv2.error:
            ok = False
        if not ok:
            if suffix not in self._warned:
                self._warned.add(suffix)
                log.warning("%s: OpenCV cannot write %s images; writing PNG instead (%s.png)", self.folder,
                            suffix or "extension-less", path.name)
            path = path.with_name(path.name + ".png")
            ok, data = cv2.imencode(".png", np.ascontiguousarray(annotated))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, path)
        self.images_written += 1

    def close(self, commit: bool = True) -> None:
        """Each image was written whole as it came (temporary name, then rename): nothing is left to finalize."""
        self.closed = True
        self.committed = True

    def discard(self) -> None:
        self.close()


# ------------------------------------------------------------------------------------------- factory

def check_writable(path: str | os.PathLike, option: str = "output") -> Path:
    """Make sure ``path``'s folder exists (creating it) and a file can be written there.

    Raises :class:`SinkError` naming the path and the fix. Returns the path.
    """
    _require_local(path, option)
    path = Path(path).expanduser()
    if path.is_dir():
        raise SinkError(f"{path}: is a folder; give a file name for {option}, e.g. {path / _example(option)}")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        why = (f"{blocker} is a file, not a folder" if blocker is not None and not blocker.is_dir()
               else exc.strerror or str(exc))
        raise SinkError(f"{path}: cannot create the folder {folder} ({why}); choose a writable location "
                        f"for {option}") from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".a2v-write-test-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise SinkError(f"{path}: cannot write in {folder} ({exc.strerror or exc}); choose a writable location "
                        f"for {option}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise SinkError(f"{path}: the file exists and is read-only; remove it or choose another name for {option}")
    return path


def _example(option: str) -> str:
    return {"--out": "annotated.mp4", "--results": "results.jsonl", "--vectors": "vectors.npz",
            "--tracks": "tracks.txt"}.get(option, "output")


def check_writable_folder(folder: str | os.PathLike, option: str = "--images") -> Path:
    """Make sure ``folder`` exists (creating it) and files can be written in it; :class:`SinkError` if not."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise SinkError(f"{folder}: is a file; give a folder for {option}")
    check_writable(folder / ".a2v-probe", option)
    return folder


def open_sinks(out=None, results=None, vectors=None, tracks=None, fps: float = 25.0, vocab=None, *,
               live: bool = False, size: Optional[tuple[int, int]] = None, video_preset: str = "veryfast",
               video_crf: int = 23, top_actions: int = 5, images=None, atomic: bool = True) -> list:
    """The sinks a run asks for, after checking every path can be written.

    Args:
        out: annotated video path (.mp4; .mkv/.mov/.m4v/.avi also work) → :class:`VideoSink`.
        results: → :class:`JsonlSink`; vectors: → :class:`VectorSink`; tracks: → :class:`MotSink`.
        fps: frame rate of the video (the source's); live: time video frames by their timestamps.
        vocab: the :class:`~engine.vocab.Vocabulary` (loaded when None and needed).
        size: fixed video size (w, h); None = the first frame's.
        video_preset, video_crf: libx264 speed/size trade-off ("ultrafast" ≈ 3-4× faster than "veryfast",
            about twice the bytes) and quality (lower = better; 23 is x264's default).
        top_actions: actions listed per person in the JSONL.
        images: a folder for the annotated images under their own names → :class:`ImageSink`.
        atomic: write each file under a temporary name and rename it on close (see the module docstring).
    Raises :class:`SinkError` (nothing is left open) when a path cannot be written.
    """
    requested = [(option, value) for option, value in
                 (("--out", out), ("--results", results), ("--vectors", vectors), ("--tracks", tracks)) if value]
    for option, value in requested:
        _require_local(value, option)
    seen: dict[Path, str] = {}
    for option, value in requested:
        resolved = Path(value).expanduser().resolve()
        if resolved in seen:
            raise SinkError(f"{value}: given to both {seen[resolved]} and {option}; use a different file for each")
        seen[resolved] = option
    for option, value in requested:
        if Path(value).expanduser().is_dir():
            raise SinkError(f"{value}: is a folder; give a file name for {option}, e.g. "
                            f"{Path(value) / _example(option)}")
    if out and Path(out).suffix.lower() not in VIDEO_SUFFIXES:
        raise SinkError(f"{out}: --out must be a video file name ending in .mp4 (or {', '.join(VIDEO_SUFFIXES[1:])})")
    for option, value in requested:
        check_writable(value, option)
    if images:
        _require_local(images, "--images")
        check_writable_folder(images)
    if vocab is None and (results or vectors):
        from engine.vocab import load_vocab

        vocab = load_vocab()
    sinks: list = []
    try:
        if out:
            sinks.append(VideoSink(out, fps, size, use_timestamps=live, preset=video_preset, crf=video_crf,
                                   atomic=atomic))
        if results:
            sinks.append(JsonlSink(results, vocab, top_actions=top_actions, atomic=atomic))
        if vectors:
            sinks.append(VectorSink(vectors, vocab))
        if tracks:
            sinks.append(MotSink(tracks, atomic=atomic))
        if images:
            sinks.append(ImageSink(images))
    except SinkWriteError as exc:
        discard_all(sinks)
        raise SinkError(str(exc)) from None
    except OSError as exc:
        discard_all(sinks)
        raise SinkError(f"{exc.filename or 'output'}: cannot open for writing ({exc.strerror or exc}); choose a "
                        f"writable location") from None
    return sinks


def close_all(sinks) -> list[BaseException]:
    """Close every sink even if some fail; returns the errors (the caller decides whether to raise)."""
    errors = []
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:  # noqa: BLE001
            log.error("closing %s failed: %s", getattr(sink, "name", sink), exc)
            errors.append(exc)
    return errors


def discard_all(sinks) -> None:
    """Close every sink without keeping its output (a run that failed before producing anything)."""
    for sink in sinks:
        try:
            discard = getattr(sink, "discard", None)
            discard() if discard is not None else sink.close()
        except Exception as exc:  # noqa: BLE001
            log.error("discarding %s failed: %s", getattr(sink, "name", sink), exc)


# ---------------------------------------------------------------------------------------------- lock

LOCK_NAME = ".a2v.lock"


class OutputLock:
    """Exclusive locks (``flock``) on ``.a2v.lock`` in each output folder, held until :meth:`release`.

    The kernel drops a flock when its process ends, however it ends, so a killed run never leaves a stale
    lock behind (only the empty file, which the next run takes). A clean release removes the file while
    still holding the lock; a run that opened the old file meanwhile sees, after taking its flock, that
    the name now points elsewhere (or nowhere) and tries again (:func:`lock_outputs`), so two runs never
    both hold "the" lock.
    """

    def __init__(self) -> None:
        self._handles: list = []   # (open file, its path)

    def release(self) -> None:
        for handle, path in self._handles:
            try:
                path.unlink(missing_ok=True)   # before closing: the lock is still ours
            except OSError:
                pass
            try:
                handle.close()  # closing the descriptor releases its flock
            except OSError:
                pass
        self._handles.clear()

    def __enter__(self) -> "OutputLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_outputs(paths) -> OutputLock:
    """Lock the folders of ``paths`` for this process; :class:`SinkError` naming the folder when another
    run holds one. Folders are created (as :func:`check_writable` would)."""
    lock = OutputLock()
    try:
        import fcntl
    except ImportError:  # no flock (Windows): run unlocked
        return lock
    folders = []
    for value in paths:
        if value:
            _require_local(value, "an output path")  # before any folder is made for "http:/host/..."
            folder = Path(value).expanduser().absolute().parent
            if folder not in folders:
                folders.append(folder)
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / LOCK_NAME
            for _attempt in range(5):
                handle = open(path, "a+", encoding="utf-8")
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    break
                try:
                    same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                handle.close()  # the holder released and removed it under us: take the new file
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # held already: a no-op
            except OSError:
                handle.seek(0)
                holder = handle.read(32).strip()
                handle.close()
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise SinkError(f"{folder}: another a2v run{who} is writing its outputs in this folder; wait "
                                f"for it to finish or choose other output paths") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            lock._handles.append((handle, path))
    except SinkError:
        lock.release()
        raise
    except OSError as exc:
        lock.release()
        raise SinkError(f"{exc.filename or folders}: cannot take the output lock ({exc.strerror or exc}); "
                        f"choose a writable location") from None
    return lock

"""Frame sources: webcam, video file, RTSP/HTTP stream, image folder, glob or list file.

Every source yields :class:`Frame` objects: ``index`` (int), ``timestamp`` (seconds) and ``image``, an
``(H, W, 3)`` BGR uint8 C-contiguous array whatever the input (grey, BGRA, 16-bit PNG, 10-bit video).

- File-like sources (``kind`` "file" or "images") never drop a frame, know their length when the container
  says so, and can seek. ``timestamp`` is the frame's position in the file (PyAV's exact pts for videos,
  ``index / image_fps`` for images).
- Live sources (``kind`` "webcam" or "stream") run a reader thread that keeps only the newest
  ``config.live_buffer`` frames ("latest frame wins"); frames overwritten before anyone read them are
  counted in ``dropped`` and the ``index`` of a live frame is its capture number, so gaps show the drops.
  ``timestamp`` is wall-clock seconds since the source started. A lost connection is retried with backoff
  for ``config.reconnect_seconds``; then the source ends (``read()`` returns None) and ``end_reason`` says
  why. :class:`LiveSource` wraps any :class:`Producer` (or a plain callable / iterator of images), so the
  live machinery is testable without a camera.

Bad input raises :class:`SourceError` (a ``ValueError``) with one line naming the input and the fix.
"""
from __future__ import annotations

import collections
import glob as globlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Protocol, Union

import numpy as np

from engine.config import SourceConfig

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
                  ".jp2", ".jpe")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
DEFAULT_LIVE_FPS = 30.0
OPEN_TIMEOUT_S = 5.0  # connecting to a URL; keeps "unreachable" errors prompt
READ_TIMEOUT_S = 5.0  # a stream that sends nothing this long counts as lost
_BACKOFF_START_S = 0.1
_BACKOFF_MAX_S = 2.0


class SourceError(ValueError):
    """A source that cannot be opened; the message is one line naming the input and the fix."""


class EndOfStream(Exception):
    """Raised by a :class:`Producer` when the stream has ended normally (no reconnect is tried)."""


@dataclass
class Frame:
    """One frame: ``index`` (0-based; for live sources the capture number), ``timestamp`` seconds,
    ``image`` (H, W, 3) BGR uint8 C-contiguous."""

    index: int
    timestamp: float
    image: np.ndarray


# --------------------------------------------------------------------------------------------- pixels

def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded image → (H, W, 3) BGR uint8 C-contiguous.

    Accepts (H, W) or (H, W, 1) grey, (H, W, 3) BGR, (H, W, 4) BGRA (alpha dropped), in uint8, uint16
    (scaled by 255/65535, so 16-bit PNGs keep their full range), other integer types (scaled from their
    range) or floats (taken as 0..1 when their maximum is <= 1, else as 0..255).
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = _scale_to_uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]
    return np.ascontiguousarray(array)


def _scale_to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint16:
        # (v * 255 + 32767) // 65535 rounds to nearest; uint32 avoids overflow.
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        scaled = (array.astype(np.float64) - info.min) * (255.0 / (info.max - info.min))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_:
        values = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(values.max()) if values.size else 0.0
        if top <= 1.0:
            values = values * 255.0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {array.dtype}")


# ---------------------------------------------------------------------------------------------- base

class Source:
    """Base class of every source.

    Attributes: ``name`` (what the user gave, for messages), ``kind`` ("webcam" | "file" | "stream" |
    "images"), ``is_live``, ``fps`` (nominal frames per second), ``frame_count`` (int, or None when
    unknown), ``size`` ((w, h), or None until the first frame), ``dropped`` (frames a live source
    overwrote before they were read), ``can_seek``, ``end_reason`` ("" while running; why it ended).
    """

    kind = "file"
    is_live = False
    can_seek = False

    def __init__(self, name: str, fps: float, frame_count: Optional[int] = None,
                 size: Optional[tuple[int, int]] = None) -> None:
        self.name = name
        self.fps = float(fps)
        self.frame_count = frame_count
        self.size = size
        self.dropped = 0
        self.end_reason = ""
        self.closed = False

    def read(self) -> Optional[Frame]:
        """The next frame, or None at the end of the source (``end_reason`` then says why)."""
        raise NotImplementedError

    def seek(self, index: int) -> None:
        """Make ``index`` the next frame read (file and image sources only)."""
        raise SourceError(f"{self.name}: this source cannot seek (only video files and images can)")

    def close(self) -> None:
        self.closed = True

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.name!r} fps={self.fps:g} frames={self.frame_count}>"

    def _remember_size(self, image: np.ndarray) -> None:
        if self.size is None:
            self.size = (int(image.shape[1]), int(image.shape[0]))


# ------------------------------------------------------------------------------------------- images

def _natural_key(path: Path) -> list:
    """``img2.png`` before ``img10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _read_image(path: Path) -> Optional[np.ndarray]:
    from engine.cvcompat import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode: any path encoding works
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


class ImageSource(Source):
    """A list of image files read in order. ``paths[i]`` is frame ``i``; ``timestamp = i / fps``.

    An image that cannot be decoded is skipped with a warning (``skipped`` counts them; the index of
    the following images is unchanged so frame ``i`` is always ``paths[i]``).
    """

    kind = "images"
    can_seek = True

    def __init__(self, paths: list[Path], name: str, fps: float = 10.0) -> None:
        super().__init__(name, fps, frame_count=len(paths))
        self.paths = list(paths)
        self.position = 0
        self.skipped = 0
        first = self._first_readable()
        self.size = (int(first.shape[1]), int(first.shape[0]))

    def _first_readable(self) -> np.ndarray:
        for path in self.paths[:20]:
            image = _read_image(path)
            if image is not None:
                return image
        raise SourceError(f"{self.name}: none of the first images can be decoded (e.g. {self.paths[0]}); "
                          f"check that they are real images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")

    def read(self) -> Optional[Frame]:
        while self.position < len(self.paths):
            index = self.position
            self.position += 1
            path = self.paths[index]
            image = _read_image(path)
            if image is None:
                self.skipped += 1
                log.warning("%s: cannot decode %s; skipped", self.name, path)
                continue
            return Frame(index, index / self.fps, to_bgr8(image))
        if not self.end_reason:
            skipped = f" ({self.skipped} undecodable skipped)" if self.skipped else ""
            self.end_reason = f"end of {len(self.paths)} images{skipped}"
        return None

    def seek(self, index: int) -> None:
        self.position = min(max(0, int(index)), len(self.paths))
        self.end_reason = ""


def _images_in_folder(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=_natural_key)


def _images_from_list(list_file: Path) -> list[Path]:
    """A .txt with one image path per line; relative paths are relative to the list file; blank lines and
    ``#`` comments are ignored."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{list_file}: cannot read the image list ({exc}); give a UTF-8 text file "
                          f"with one image path per line") from None
    paths: list[Path] = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry).expanduser()
        if not path.is_absolute():
            path = list_file.parent / path
        if not path.is_file():
            raise SourceError(f"{list_file}:{number}: image {entry!r} not found; fix the path in the list "
                              f"(relative paths are relative to the list file)")
        paths.append(path)
    if not paths:
        raise SourceError(f"{list_file}: the image list is empty; write one image path per line")
    return paths


# -------------------------------------------------------------------------------------------- video

def _describe_av_error(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(": '")[0].strip() or type(exc).__name__


def _mp4_truncation(path: Path) -> Optional[str]:
    """For an ISO-BMFF file (mp4/mov/m4v), why it is incomplete, or None when its top-level boxes are whole.

    A recording that was cut short usually lacks the ``moov`` index (written at the end), without which no
    frame can be located; a faststart file cut short has its ``mdat`` end beyond the file's end.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 8 or head[4:8] != b"ftyp":
                return None
            offset, boxes = 0, []
            while offset + 8 <= size:
                handle.seek(offset)
                header = handle.read(16)
                box_size = int.from_bytes(header[:4], "big")
                box_type = header[4:8].decode("latin-1")
                if box_size == 1 and len(header) >= 16:
                    box_size = int.from_bytes(header[8:16], "big")
                elif box_size == 0:
                    box_size = size - offset
                if box_size < 8:
                    return f"damaged box header at byte {offset}"
                boxes.append(box_type)
                if offset + box_size > size:
                    missing = "" if "moov" in boxes else " and it has no 'moov' index"
                    return (f"the file ends inside its '{box_type}' box ({size} of {offset + box_size} bytes)"
                            f"{missing}")
                offset += box_size
            if "moov" not in boxes and "moof" not in boxes:
                return "it has no 'moov' index (the recording was probably interrupted)"
    except OSError:
        return None
    return None


class VideoFileSource(Source):
    """A video file decoded with PyAV: exact timestamps, every frame, seekable.

    A damaged or truncated file yields every frame up to the damage; then ``read()`` returns None and
    ``end_reason`` says what was wrong (packets that fail to decode are skipped and counted in
    ``damaged_packets``).
    """

    kind = "file"
    can_seek = True

    def __init__(self, path: Path, name: Optional[str] = None) -> None:
        import av

        self.path = Path(path)
        name = name or str(path)
        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(self._open_error_message(name, exc)) from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{name}: has no video stream; give a video file (e.g. .mp4), an image folder "
                              f"or a webcam index")
        stream = self._container.streams.video[0]
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not (0.5 < fps < 1000.0):
            log.warning("%s: no usable frame rate in the file; assuming 25 fps", name)
            fps = 25.0
        frame_count = int(stream.frames or 0) or None
        self._exact_count = frame_count is not None  # from the container's index, not estimated
        if frame_count is None and self._container.duration:
            frame_count = int(round(self._container.duration / 1_000_000 * fps)) or None
        size = (int(stream.width), int(stream.height)) if stream.width and stream.height else None
        super().__init__(name, fps, frame_count=frame_count, size=size)
        self._start = (float(stream.start_time * stream.time_base)
                       if stream.start_time is not None and stream.time_base else 0.0)
        self.damaged_packets = 0
        self._seeked_past_end = False
        self._demux_failed = False
        self._damage: str = ""
        self._next_index = 0
        self._skip_before: Optional[float] = None
        self._frames = self._decode()

    @staticmethod
    def _open_error_message(name: str, exc: BaseException) -> str:
        path = Path(name)
        why = _describe_av_error(exc)
        if path.is_file() and path.stat().st_size == 0:
            return f"{name}: the file is empty (0 bytes); re-copy or re-export the video"
        truncated = _mp4_truncation(path) if path.is_file() else None
        if truncated:
            return (f"{name}: the video is truncated: {truncated}; no frame can be located without its index. "
                    f"Re-copy or re-export the file (tools such as 'untrunc' can repair it)")
        return (f"{name}: not a video PyAV/OpenCV can decode ({why}); give a video file (.mp4, .avi, .mkv, "
                f"...), an image folder, a glob or a webcam index")

    def _decode(self) -> Iterator:
        """Decoded ``av.VideoFrame``s in order; skips packets that fail to decode and records damage."""
        import av

        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                self._damage = f"reading the file failed ({_describe_av_error(exc)})"
                self._demux_failed = True
                return
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as exc:
                self.damaged_packets += 1
                if not self._damage:
                    where = f"byte {packet.pos}" if packet.pos is not None and packet.pos >= 0 else "the end"
                    self._damage = f"undecodable data at {where} ({_describe_av_error(exc)})"
                continue
            yield from decoded

    def read(self) -> Optional[Frame]:
        if self.closed:
            return None
        for av_frame in self._frames:
            time_s = av_frame.time
            timestamp = (time_s - self._start) if time_s is not None else self._next_index / self.fps
            if self._skip_before is not None:
                if timestamp < self._skip_before:
                    continue  # decoding forward from the keyframe before a seek target
                self._skip_before = None
            index = self._next_index
            self._next_index += 1
            image = to_bgr8(av_frame.to_ndarray(format="bgr24"))
            self._remember_size(image)
            return Frame(index, float(timestamp), image)
        if not self.end_reason:
            self.end_reason = self._end_message()
        return None

    def _end_message(self) -> str:
        read = self._next_index
        expected = self.frame_count
        of = f" of {expected}" if expected else ""
        short = self._exact_count and read < expected - 1 and not self._seeked_past_end  # 1 frame of slack
        truncated = _mp4_truncation(self.path) if (short or self._demux_failed or self.damaged_packets) else None
        if truncated or self._demux_failed:
            detail = "; ".join(d for d in (self._damage, truncated) if d)
            return (f"{self.name}: damaged or truncated video: stopped after {read}{of} frames ({detail}); "
                    f"frames before the damage were processed")
        if self.damaged_packets:
            return (f"{self.name}: damaged video: {read}{of} frames decoded, {self.damaged_packets} damaged "
                    f"packet(s) skipped (the first: {self._damage})")
        if short:
            return (f"{self.name}: the video ended early: {read}{of} frames (the file is damaged or its index "
                    f"is wrong)")
        return f"end of {self.name} ({read} frames)"

    def seek(self, index: int) -> None:
        index = max(0, int(index))
        self._seeked_past_end = self.frame_count is not None and index >= self.frame_count
        target = index / self.fps
        stream = self._stream
        offset = int((target + self._start) / stream.time_base) if stream.time_base else 0
        self._container.seek(offset, stream=stream, backward=True, any_frame=False)
        self._frames = self._decode()
        # Frames between the keyframe and the target are decoded and dropped; half a frame of slack
        # absorbs timestamp rounding.
        self._skip_before = target - 0.5 / self.fps
        self._next_index = index
        self._demux_failed = False
        self.end_reason = ""

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._container.close()


# --------------------------------------------------------------------------------------------- live

class Producer(Protocol):
    """What a live source reads from.

    ``open()`` connects (raises on failure; called again to reconnect), ``grab()`` returns the next image
    (any layout :func:`to_bgr8` accepts), returns None or raises when the connection is lost, and raises
    :class:`EndOfStream` when the stream has ended normally; ``close()`` disconnects.
    """

    def open(self) -> None: ...

    def grab(self) -> Optional[np.ndarray]: ...

    def close(self) -> None: ...


class CallableProducer:
    """A :class:`Producer` around ``grab()``, a zero-argument callable (StopIteration = normal end)."""

    def __init__(self, grab: Callable[[], Optional[np.ndarray]]) -> None:
        self._grab = grab

    def open(self) -> None:
        pass

    def grab(self) -> Optional[np.ndarray]:
        try:
            return self._grab()
        except StopIteration:
            raise EndOfStream("producer finished") from None

    def close(self) -> None:
        pass


class IteratorProducer(CallableProducer):
    """A :class:`Producer` over an iterable of images; its end is the stream's normal end."""

    def __init__(self, images: Iterable[np.ndarray]) -> None:
        iterator = iter(images)
        super().__init__(lambda: next(iterator))


def as_producer(producer) -> Producer:
    if all(hasattr(producer, name) for name in ("open", "grab", "close")):
        return producer
    if callable(producer):
        return CallableProducer(producer)
    if hasattr(producer, "__iter__") or hasattr(producer, "__next__"):
        return IteratorProducer(producer)
    raise TypeError(f"expected a Producer, a callable or an iterable of images, got {type(producer).__name__}")


@dataclass
class _Outage:
    """A lost connection: why (``last``), since when, the next backoff delay and the attempts so far."""

    last: str
    since: float = field(default_factory=time.monotonic)
    delay: float = _BACKOFF_START_S
    attempts: int = 0


class LiveSource(Source):
    """Latest-frame-wins reader around any producer.

    A reader thread grabs frames as fast as the producer gives them and keeps the newest
    ``config.live_buffer`` in a bounded deque; a frame pushed out before it was read adds one to
    ``dropped``. ``read()`` blocks until a frame is available (oldest of the kept ones first), the
    source has ended, or nothing arrived for ``stall_seconds`` (a producer hung inside ``grab``).

    When ``grab`` fails (None or an exception) the producer is closed and reopened with exponential backoff
    (0.1 s doubling to 2 s) for up to ``config.reconnect_seconds``; ``reconnects`` counts the successful
    reconnections. After that the source ends and ``end_reason`` names the failure. Memory is bounded by
    ``live_buffer`` frames plus the one being grabbed.

    Args:
        producer: a :class:`Producer`, a zero-argument callable returning an image, or an iterable of images.
        opened: the producer is already connected (``open()`` is not called at start).
    """

    kind = "stream"
    is_live = True

    def __init__(self, producer, name: str = "live", kind: str = "stream", fps: float = DEFAULT_LIVE_FPS,
                 config: Optional[SourceConfig] = None, opened: bool = False,
                 stall_seconds: Optional[float] = None) -> None:
        config = config or SourceConfig()
        super().__init__(name, fps or DEFAULT_LIVE_FPS)
        self.kind = kind
        self.producer = as_producer(producer)
        self.reconnect_seconds = float(config.reconnect_seconds)
        self.buffer_size = max(1, int(config.live_buffer))
        self.stall_seconds = (stall_seconds if stall_seconds is not None
                              else self.reconnect_seconds + READ_TIMEOUT_S + 5.0)
        self.reconnects = 0
        self.captured = 0
        self._buffer: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ended = False
        if not opened:
            self.producer.open()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._reader, name=f"a2v-live-{kind}", daemon=True)
        self._thread.start()

    # The reader thread ----------------------------------------------------------------------------
    def _reader(self) -> None:
        reason = ""
        outage: Optional[_Outage] = None  # set while the connection is lost; cleared by the next frame
        try:
            while not self._stop.is_set():
                try:
                    image = self.producer.grab()
                    failure = "no frame" if image is None else ""
                except EndOfStream as exc:
                    reason = f"{self.name}: stream ended ({exc})" if str(exc) else f"{self.name}: stream ended"
                    break
                except Exception as exc:  # noqa: BLE001 - any grab failure counts as a lost connection
                    image, failure = None, f"{type(exc).__name__}: {exc}"
                if image is not None:
                    if outage is not None:
                        self.reconnects += 1
                        log.info("%s: reconnected after %.1f s", self.name, time.monotonic() - outage.since)
                        outage = None
                    self._push(to_bgr8(image))
                    continue
                if self._stop.is_set():
                    break
                if outage is None:
                    outage = _Outage(failure)
                    log.warning("%s: connection lost (%s); reconnecting for up to %g s", self.name, failure,
                                self.reconnect_seconds)
                else:
                    outage.last = failure
                reason = self._retry(outage)
                if reason:
                    break
        except BaseException as exc:  # noqa: BLE001 - never die silently: the consumer must learn why
            reason = f"{self.name}: reader failed ({type(exc).__name__}: {exc})"
        finally:
            try:
                self.producer.close()
            except Exception:  # noqa: BLE001
                log.exception("%s: closing the producer failed", self.name)
            with self._cond:
                self._ended = True
                if not self.end_reason:
                    self.end_reason = reason or f"{self.name}: closed"
                self._cond.notify_all()

    def _push(self, image: np.ndarray) -> None:
        timestamp = time.monotonic() - self._t0
        with self._cond:
            if len(self._buffer) >= self.buffer_size:
                self._buffer.popleft()
                self.dropped += 1
            self._buffer.append(Frame(self.captured, timestamp, image))
            self.captured += 1
            if self.size is None:
                self._remember_size(image)
            self._cond.notify_all()

    def _retry(self, outage: "_Outage") -> str:
        """Wait the backoff delay and reopen the producer; "" to go on grabbing, else the end reason.

        The deadline runs from the first failure until a frame arrives, so a camera that reopens but never
        delivers a frame still ends after ``reconnect_seconds``.
        """
        while not self._stop.is_set():
            remaining = outage.since + self.reconnect_seconds - time.monotonic()
            if remaining <= 0:
                return (f"{self.name}: stream lost ({outage.last}); gave up after retrying for "
                        f"{self.reconnect_seconds:g} s ({outage.attempts} attempts); check the camera/network "
                        f"or raise source.reconnect_seconds")
            if self._stop.wait(min(outage.delay, remaining)):
                break
            outage.delay = min(outage.delay * 2.0, _BACKOFF_MAX_S)
            outage.attempts += 1
            try:
                self.producer.close()
                self.producer.open()
                return ""
            except Exception as exc:  # noqa: BLE001 - keep retrying until the deadline
                outage.last = f"{type(exc).__name__}: {exc}"
        return f"{self.name}: closed"

    # The consumer side ----------------------------------------------------------------------------
    def read(self) -> Optional[Frame]:
        deadline = time.monotonic() + self.stall_seconds
        with self._cond:
            while True:
                if self._buffer:
                    return self._buffer.popleft()
                if self._ended or self.closed:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.end_reason = (f"{self.name}: no frame for {self.stall_seconds:g} s; the stream "
                                       f"stalled (check the camera/network)")
                    self._stop.set()
                    self._ended = True
                    return None
                self._cond.wait(min(remaining, 0.5))

    @property
    def buffered(self) -> int:
        """Frames waiting in the buffer (never more than ``live_buffer``)."""
        with self._cond:
            return len(self._buffer)

    def close(self) -> None:
        """Stop the reader and wake any blocked ``read()``; safe from any thread, idempotent."""
        if self.closed:
            return
        self._stop.set()
        with self._cond:
            self.closed = True
            self._buffer.clear()
            if not self.end_reason:
                self.end_reason = f"{self.name}: closed"
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            # A producer blocked in grab() cannot be interrupted; the thread is a daemon and ends with it.
            self._thread.join(timeout=READ_TIMEOUT_S + 1.0)


class WebcamProducer:
    """An OpenCV camera (``cv2.VideoCapture(index)``) with an optional requested size."""

    def __init__(self, index: int, width: int = 0, height: int = 0) -> None:
        self.index, self.width, self.height = index, width, height
        self.capture = None

    def open(self) -> None:
        from engine.cvcompat import cv2

        # OpenCV logs its own warnings for a missing camera; the SourceError says it better.
        level = cv2.getLogLevel() if hasattr(cv2, "getLogLevel") else None
        if level is not None:
            cv2.setLogLevel(0)  # 0 = silent
        try:
            capture = cv2.VideoCapture(self.index)
        finally:
            if level is not None:
                cv2.setLogLevel(level)
        if not capture.isOpened():
            capture.release()
            raise OSError(f"camera {self.index} did not open")
        if self.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self.capture = capture

    @property
    def fps(self) -> float:
        from engine.cvcompat import cv2

        value = self.capture.get(cv2.CAP_PROP_FPS) if self.capture is not None else 0.0
        return float(value) if 1.0 <= value <= 240.0 else DEFAULT_LIVE_FPS

    def grab(self) -> Optional[np.ndarray]:
        if self.capture is None:
            return None
        ok, image = self.capture.read()
        return image if ok else None

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


class StreamProducer:
    """An RTSP/HTTP/... stream decoded with PyAV; connection and reads time out after a few seconds.

    Packets that fail to decode (lost UDP packets) are skipped; a failing read counts as a lost
    connection; the server ending the stream is a normal end.
    """

    def __init__(self, url: str, open_timeout: float = OPEN_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S):
        self.url, self.open_timeout, self.read_timeout = url, open_timeout, read_timeout
        self.container = None
        self._frames: Optional[Iterator] = None
        self.fps = DEFAULT_LIVE_FPS

    def open(self) -> None:
        import av

        options = {"rtsp_transport": "tcp"} if self.url.startswith(("rtsp://", "rtsps://")) else {}
        container = av.open(self.url, mode="r", options=options, timeout=(self.open_timeout, self.read_timeout))
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.url}: the stream has no video; check the URL")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if rate and 1.0 <= float(rate) <= 240.0:
            self.fps = float(rate)
        self.container = container
        self._frames = self._decode(container, stream)

    @staticmethod
    def _decode(container, stream) -> Iterator:
        import av

        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue
            yield from decoded

    def grab(self) -> Optional[np.ndarray]:
        if self._frames is None:
            return None
        try:
            frame = next(self._frames)
        except StopIteration:
            raise EndOfStream("the server ended the stream") from None
        return frame.to_ndarray(format="bgr24")

    def close(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            finally:
                self.container = None
                self._frames = None


# ------------------------------------------------------------------------------------------ factory

def _is_webcam(spec: Union[str, int]) -> bool:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())


def open_source(spec: Union[str, int, Path], config: Optional[SourceConfig] = None) -> Source:
    """Open ``spec`` as the right kind of source.

    ``spec``: a webcam index (``0`` or ``"0"``), an ``rtsp://``/``http(s)://``/... URL, a video file, an
    image file, a folder of images, a glob (``"imgs/*.jpg"``) or a ``.txt`` list of image paths.
    Raises :class:`SourceError` with one line naming the input and the fix.
    """
    config = config or SourceConfig()
    if isinstance(spec, bool):
        raise SourceError(f"{spec!r}: not a source; give a webcam index, a video file, a URL or an image folder")
    if _is_webcam(spec):
        return _open_webcam(int(spec), config)
    text = str(spec).strip()
    if not text:
        raise SourceError("empty --source; give a webcam index, a video file, a URL, an image folder or a glob")
    if text.lower().startswith(STREAM_SCHEMES):
        return _open_stream(text, config)
    path = Path(text).expanduser()
    if path.is_dir():
        images = _images_in_folder(path)
        if not images:
            raise SourceError(f"{text}: no images ({', '.join(IMAGE_SUFFIXES[:5])}, ...) in this folder; "
                              f"give a folder of images, a glob like '{path / '*.jpg'}' or a video file")
        return ImageSource(images, text, config.image_fps)
    if not path.exists() and any(ch in text for ch in "*?["):
        matches = sorted((Path(p) for p in globlib.glob(os.path.expanduser(text), recursive=True)),
                         key=_natural_key)
        images = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            found = f" ({len(matches)} non-image matches)" if matches else ""
            raise SourceError(f"{text}: the glob matches no images{found}; check the pattern, e.g. 'imgs/*.jpg'")
        return ImageSource(images, text, config.image_fps)
    if not path.exists():
        raise SourceError(f"{text}: no such file or folder; check the path (or give a webcam index, a URL "
                          f"or a glob)")
    if path.suffix.lower() == ".txt":
        return ImageSource(_images_from_list(path), text, config.image_fps)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path], text, config.image_fps)
    if not path.is_file():
        raise SourceError(f"{text}: not a regular file; give a video file, an image folder or a webcam index")
    return VideoFileSource(path, text)


def _open_webcam(index: int, config: SourceConfig) -> LiveSource:
    producer = WebcamProducer(index, config.width, config.height)
    try:
        producer.open()
    except OSError:
        raise SourceError(f"webcam {index}: cannot be opened; check that a camera is connected and not used "
                          f"by another program, or try another index (0, 1, ...)") from None
    return LiveSource(producer, name=f"webcam {index}", kind="webcam", fps=producer.fps, config=config,
                      opened=True)


def _open_stream(url: str, config: SourceConfig) -> LiveSource:
    import av

    producer = StreamProducer(url)
    try:
        producer.open()
    except SourceError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise SourceError(f"{url}: cannot open the stream ({_describe_av_error(exc)}, waited at most "
                          f"{OPEN_TIMEOUT_S:g} s); check the address, that the camera/server is on "
                          f"and reachable, and any user:password in the URL") from None
    return LiveSource(producer, name=url, kind="stream", fps=producer.fps, config=config, opened=True)

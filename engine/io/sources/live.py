"""Live sources: :class:`LiveSource` (latest frame wins, reconnect with backoff) around a :class:`Producer`
(:class:`WebcamProducer`, :class:`StreamProducer`, or any callable / iterator of images)."""
from __future__ import annotations

import collections
import errno
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Protocol

import numpy as np

from engine.config import SourceConfig
from engine.io.sources.base import (
    _BACKOFF_MAX_S,
    _BACKOFF_START_S,
    DEFAULT_LIVE_FPS,
    OPEN_TIMEOUT_S,
    READ_TIMEOUT_S,
    EndOfStream,
    Frame,
    Source,
    SourceError,
    to_bgr8,
)

log = logging.getLogger(__name__)

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
    reconnections. After that the source ends, ``end_reason`` names the failure and ``lost`` is True (also
    after a stall): the stream went away, which a caller should not report as a normal end. Memory is bounded by
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
        self.lost = False
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
                    self.lost = not self._stop.is_set()
                    break
        except BaseException as exc:  # noqa: BLE001 - never die silently: the consumer must learn why
            reason = f"{self.name}: reader failed ({type(exc).__name__}: {exc})"
            self.lost = True
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
                    self.lost = True
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
    connection, and so does the end of the stream (a killed server looks like EOF to the client) unless
    ``finite`` is set: then EOF is the stream's normal end.
    """

    def __init__(self, url: str, open_timeout: float = OPEN_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S,
                 finite: bool = False):
        self.url, self.open_timeout, self.read_timeout = url, open_timeout, read_timeout
        self.finite = finite
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
        except OSError as exc:
            # FFmpeg reports a closed HTTP response as EIO rather than EOF: for a finite stream, that is its end.
            if self.finite and getattr(exc, "errno", None) in (errno.EIO, None):
                raise EndOfStream(f"the server ended the stream ({exc.strerror or exc})") from None
            raise
        except StopIteration:
            if self.finite:
                raise EndOfStream("the server ended the stream") from None
            self._frames = None  # the next grab() fails too, until a reconnect reopens
            raise ConnectionError("the server closed the stream (EOF)") from None
        return frame.to_ndarray(format="bgr24")

    def close(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            finally:
                self.container = None
                self._frames = None



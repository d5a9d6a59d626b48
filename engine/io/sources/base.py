"""The source contract: :class:`Frame`, :class:`Source`, the errors and pixel normalisation (:func:`to_bgr8`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Optional, Protocol, runtime_checkable

import numpy as np

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
    ``image`` (H, W, 3) BGR uint8 C-contiguous; ``file`` is the image's path relative to the input root
    (``"sub/a.jpg"``, ``/`` separators) for image sources, None for videos and live sources."""

    index: int
    timestamp: float
    image: np.ndarray
    file: Optional[str] = None


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

@runtime_checkable
class SourceLike(Protocol):
    """What :class:`engine.pipeline.Pipeline` needs of a source (every :class:`Source` is one).

    ``read()`` the next :class:`Frame` or None at the end (``end_reason`` then says why); ``is_live``
    (camera/stream: frames are dropped, never paced or batched); ``can_seek`` and ``seek(index)`` (files
    and images); ``dropped`` frames a live source overwrote; ``name`` for messages; ``close()`` once.
    """

    name: str
    is_live: bool
    can_seek: bool
    dropped: int
    end_reason: str

    def read(self) -> Optional[Frame]: ...

    def seek(self, index: int) -> None: ...

    def close(self) -> None: ...


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



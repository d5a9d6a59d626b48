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

import glob as globlib
import os
from pathlib import Path
from typing import Optional, Union

from engine.config import SourceConfig
from engine.io.sources.base import (  # noqa: F401
    DEFAULT_LIVE_FPS,
    IMAGE_SUFFIXES,
    OPEN_TIMEOUT_S,
    READ_TIMEOUT_S,
    STREAM_SCHEMES,
    EndOfStream,
    Frame,
    Source,
    SourceError,
    to_bgr8,
)
from engine.io.sources.files import (  # noqa: F401
    MIN_IMAGE_SIDE,
    ImageSource,
    VideoFileSource,
    _describe_av_error,
    _images_from_list,
    _images_in_folder,
    _natural_key,
    numbered_sequence,
)
from engine.io.sources.live import (  # noqa: F401
    CallableProducer,
    IteratorProducer,
    LiveSource,
    Producer,
    StreamProducer,
    WebcamProducer,
    as_producer,
)

# ------------------------------------------------------------------------------------------ factory

def _is_webcam(spec: Union[str, int]) -> bool:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())


def open_source(spec: Union[str, int, Path], config: Optional[SourceConfig] = None) -> Source:
    """Open ``spec`` as the right kind of source.

    ``spec``: a webcam index (``0`` or ``"0"``), an ``rtsp://``/``http(s)://``/... URL, a video file, an
    image file, a folder of images, a glob (``"imgs/*.jpg"``) or a ``.txt`` list of image paths. Image
    sources are independent images or a frame sequence as ``config.images`` says (see :class:`ImageSource`).
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
        return ImageSource(images, text, config.image_fps, root=path, images=config.images)
    if not path.exists() and any(ch in text for ch in "*?["):
        matches = sorted((Path(p) for p in globlib.glob(os.path.expanduser(text), recursive=True)),
                         key=_natural_key)
        images = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            found = f" ({len(matches)} non-image matches)" if matches else ""
            raise SourceError(f"{text}: the glob matches no images{found}; check the pattern, e.g. 'imgs/*.jpg'")
        return ImageSource(images, text, config.image_fps, images=config.images)
    if not path.exists():
        raise SourceError(f"{text}: no such file or folder; check the path (or give a webcam index, a URL "
                          f"or a glob)")
    if path.suffix.lower() == ".txt":
        return ImageSource(_images_from_list(path), text, config.image_fps, images=config.images)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path], text, config.image_fps, images=config.images)
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

    producer = StreamProducer(url, finite=config.finite_stream)
    try:
        producer.open()
    except SourceError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise SourceError(f"{url}: cannot open the stream ({_describe_av_error(exc)}, waited at most "
                          f"{OPEN_TIMEOUT_S:g} s); check the address, that the camera/server is on "
                          f"and reachable, and any user:password in the URL") from None
    return LiveSource(producer, name=url, kind="stream", fps=producer.fps, config=config, opened=True)

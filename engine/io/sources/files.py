"""File-like sources: an image sequence (:class:`ImageSource`) and a video file (:class:`VideoFileSource`).

They never drop a frame, know their length when the container says so, and can seek.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from engine.io.sources.base import IMAGE_SUFFIXES, Frame, Source, SourceError, to_bgr8

log = logging.getLogger(__name__)

MIN_IMAGE_SIDE = 2  # pixels; smaller images cannot be posed (engine.pose.base refuses them)

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


MIN_IMAGE_SIDE = 2  # pose backends need at least 2×2 pixels; a 1×1 "image" (a tracking pixel) is skipped
IMAGE_MODES = ("auto", "independent", "sequence")
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _header_size(path: Path) -> Optional[tuple[int, int]]:
    """(w, h) from the file header without decoding the pixels (Pillow, a torchvision dependency); None
    when Pillow cannot read it (the reader decides later whether the file is usable)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with torchvision
        image = _read_image(path)
        return None if image is None else (int(image.shape[1]), int(image.shape[0]))
    try:
        with Image.open(path) as image:
            return int(image.size[0]), int(image.size[1])
    except Exception:  # noqa: BLE001 - any unreadable header: not evidence either way
        return None


def numbered_sequence(paths: list[Path]) -> tuple[bool, str]:
    """Whether ``paths`` (in reading order) are the frames of one video: ``(is_sequence, why)``.

    A sequence is at least 2 images in one folder whose names are one prefix + a number + one extension,
    numbered consecutively (``000001.jpg``, ``000002.jpg``, ... as MOTChallenge ``img1/``; any start), all
    of one size. ``why`` says in words what decided it, for the run's log line.
    """
    if len(paths) < 2:
        return False, "a single image"
    if len({p.parent for p in paths}) > 1:
        return False, "the images are in several folders"
    numbers, shapes = [], set()
    for path in paths:
        match = _NUMBERED.match(path.stem)
        if match is None:
            return False, f"names are not numbered frames (e.g. '{path.name}')"
        numbers.append(int(match.group(2)))
        shapes.add((match.group(1), path.suffix.lower()))
    if len(shapes) > 1:
        return False, "names do not share one prefix and extension"
    for a, b, path in zip(numbers, numbers[1:], paths[1:]):
        if b != a + 1:
            return False, f"numbers are not consecutive ({a} then {b}: '{path.name}')"
    sizes = {size for size in (_header_size(p) for p in paths) if size is not None}
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:3])
        return False, f"numbered, but of {len(sizes)} sizes ({listed})"
    size = next(iter(sizes), None)
    of = f", {size[0]}x{size[1]}" if size else ""
    return True, f"consecutively numbered frames {paths[0].name} … {paths[-1].name}{of}"


def _common_root(paths: list[Path]) -> Path:
    parents = [str(p.absolute().parent) for p in paths]
    return Path(os.path.commonpath(parents)) if parents else Path(".")


class ImageSource(Source):
    """A list of image files read in order. ``paths[i]`` is frame ``i``; ``timestamp = i / fps``.

    ``mode`` is ``"independent"`` (unrelated photos: the pose stage runs still-image mode on each, persons
    are numbered per image, nothing is tracked) or ``"sequence"`` (the frames of one video: tracked).
    ``images="auto"`` chooses ``sequence`` only for :func:`numbered_sequence`; ``mode_reason`` says why.
    ``root`` is the folder the names are relative to (default: the deepest folder holding every image);
    each frame's ``file`` is ``names[i]``, that relative path with ``/`` separators.

    An image that cannot be decoded, or is smaller than 2×2 pixels, is skipped with one warning line
    naming it (``skipped`` counts them, ``skipped_files`` lists them; the index of the following images is
    unchanged, so frame ``i`` is always ``paths[i]``).
    """

    kind = "images"
    can_seek = True

    def __init__(self, paths: list[Path], name: str, fps: float = 10.0, root: Optional[Path] = None,
                 images: str = "auto") -> None:
        super().__init__(name, fps, frame_count=len(paths))
        if images not in IMAGE_MODES:
            raise SourceError(f"source.images: {images!r} is not one of {', '.join(IMAGE_MODES)}")
        self.paths = [Path(p) for p in paths]
        self.root = Path(root).absolute() if root is not None else _common_root(self.paths)
        self.names = [_relative_name(p, self.root) for p in self.paths]
        self.position = 0
        self.skipped = 0
        self.skipped_files: list[str] = []
        if images == "auto":
            is_sequence, self.mode_reason = numbered_sequence(self.paths)
            self.mode = "sequence" if is_sequence else "independent"
        else:
            self.mode, self.mode_reason = images, f"source.images: {images}"
        first = self._first_readable()
        self.size = (int(first.shape[1]), int(first.shape[0]))

    @property
    def independent(self) -> bool:
        return self.mode == "independent"

    def describe_mode(self) -> str:
        """One line for the run's log: what the images are taken as, why, and what follows from it."""
        n = len(self.paths)
        if self.independent:
            return (f"{n} independent image{'s' if n != 1 else ''} ({self.mode_reason}): pose on each image, "
                    f"no tracking, persons numbered 1..N per image from left to right")
        return f"a sequence of {n} frames ({self.mode_reason}): tracked as a video"

    def _first_readable(self) -> np.ndarray:
        for path in self.paths[:20]:
            image = _read_image(path)
            if image is not None and min(image.shape[:2]) >= MIN_IMAGE_SIDE:
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
                self._skip(index, "cannot decode it (not an image, or damaged)")
                continue
            if min(image.shape[:2]) < MIN_IMAGE_SIDE:
                self._skip(index, f"{image.shape[1]}x{image.shape[0]} pixels is too small "
                                  f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})")
                continue
            return Frame(index, index / self.fps, to_bgr8(image), file=self.names[index])
        if not self.end_reason:
            skipped = f" ({self.skipped} unreadable skipped)" if self.skipped else ""
            self.end_reason = f"end of {len(self.paths)} images{skipped}"
        return None

    def _skip(self, index: int, why: str) -> None:
        self.skipped += 1
        self.skipped_files.append(self.names[index])
        log.warning("%s: %s; skipped", self.paths[index], why)

    def seek(self, index: int) -> None:
        self.position = min(max(0, int(index)), len(self.paths))
        self.end_reason = ""


def _relative_name(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path.absolute(), root)).as_posix()
    except ValueError:  # another drive on Windows
        return path.name


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



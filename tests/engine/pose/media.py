"""Multi-person test media the project makes itself, at test time, from media it already ships or uses:
the sample clip ``assets/sample/bikes.mp4`` (640x272, 25 fps; CC BY 3.0), skimage's ``astronaut`` (public
domain, NASA) and matplotlib's ``grace_hopper.jpg`` (public domain, US Navy).

Person counts were checked by eye on the images these functions make (saved as PNGs and looked at):

- :func:`four_person_clip`: 2×2 tiles of the cyclist segment (frames 104-135, where he stands astride his
  bike, whole body in view), each tile at its own phase of a forward-backward loop and two of them mirrored,
  so four people move independently: **4 people** in every frame. 1280x544.
- :func:`side_by_side`: the astronaut and Grace Hopper, both 512 px tall, next to each other: **2 people**.
- :func:`small_and_large`: one 640x272 cyclist frame at full size beside the same frame at half size, and
  under them the astronaut at quarter size: **3 people**, from about 60 px to 270 px tall.

Command line, to make the clip for ``python main.py run`` / ``bench pose`` by hand::

    python -m tests.engine.pose.media /tmp/four.mp4
"""
from __future__ import annotations

import sys
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CLIP = ROOT / "assets" / "sample" / "bikes.mp4"
CYCLIST_FRAMES = range(104, 136)  # whole body in view, no cut (tests/engine/pose/test_pose_mediapipe.py)
# Tile order (top-left, top-right, bottom-left, bottom-right): phase offset in loop steps, mirrored.
FOUR_TILES = ((0, False), (8, True), (16, False), (24, True))


@lru_cache(maxsize=1)
def sample_frames() -> tuple[np.ndarray, ...]:
    """All frames of the sample clip, (272, 640, 3) BGR uint8."""
    from engine.cvcompat import cv2

    capture = cv2.VideoCapture(str(SAMPLE_CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if len(frames) < 240:
        raise RuntimeError(f"{SAMPLE_CLIP}: expected 250 frames, read {len(frames)}")
    return tuple(frames)


def _loop_index(step: int) -> int:
    """Forward-backward loop over :data:`CYCLIST_FRAMES` (no jump, so each tile stays one shot)."""
    n = len(CYCLIST_FRAMES)
    period = 2 * (n - 1)
    k = step % period
    return CYCLIST_FRAMES[k if k < n else period - k]


def four_person_frame(step: int) -> np.ndarray:
    """Frame ``step`` of :func:`four_person_clip`: (544, 1280, 3) BGR uint8, four people."""
    frames = sample_frames()
    tiles = []
    for offset, mirrored in FOUR_TILES:
        tile = frames[_loop_index(step + offset)]
        tiles.append(tile[:, ::-1] if mirrored else tile)
    return np.ascontiguousarray(np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])]))


def write_video(path: str | Path, frames, fps: int = 25) -> Path:
    """Write BGR frames as an H.264 mp4 (PyAV, libx264, crf 18)."""
    import av

    path = Path(path)
    frames = list(frames)
    height, width = frames[0].shape[:2]
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=Fraction(fps))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "18"}
    for i, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def four_person_clip(path: str | Path, frames: int = 60) -> Path:
    """A ``frames``-long 1280x544 25 fps mp4 with four people in every frame (:func:`four_person_frame`)."""
    return write_video(path, (four_person_frame(i) for i in range(frames)))


def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # (512, 512, 3) RGB → BGR


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    from engine.cvcompat import cv2

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.imread(str(path))  # (600, 512, 3) BGR


def side_by_side() -> np.ndarray:
    """(512, 949, 3) BGR: the astronaut, then Grace Hopper scaled to 512 px tall: two people."""
    from engine.cvcompat import cv2

    hopper = grace_hopper()
    scale = 512 / hopper.shape[0]
    hopper = cv2.resize(hopper, (int(round(hopper.shape[1] * scale)), 512), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.hstack([astronaut(), hopper]))


def small_and_large() -> np.ndarray:
    """(408, 960, 3) BGR: a cyclist frame at full size (person ~270 px tall) and at half size (~135 px), the
    astronaut at a quarter (~128 px, head and shoulders ~60 px) under them on grey: three people."""
    from engine.cvcompat import cv2

    frame = sample_frames()[120]
    canvas = np.full((408, 960, 3), 128, np.uint8)
    canvas[:272, :640] = frame
    canvas[:136, 640:960] = cv2.resize(frame, (320, 136), interpolation=cv2.INTER_AREA)
    canvas[272:400, 700:828] = cv2.resize(astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    return canvas


if __name__ == "__main__":
    out = four_person_clip(sys.argv[1] if len(sys.argv) > 1 else "four_person.mp4",
                           int(sys.argv[2]) if len(sys.argv) > 2 else 60)
    print(out)

"""The pose backend protocol and the conversions every backend shares.

A backend turns frames into persons::

    backend.estimate(frames)  # list of (H, W, 3) BGR uint8 → list (one per frame) of list[Person]
    backend(frame)            # one frame → list[Person]
    backend.set_still_images(True)  # optional: the next frames are unrelated photos, not a video

``set_still_images(still)`` tells a backend whether consecutive frames belong together: a backend that
tracks between frames (mediapipe in one-person mode) must run its detector on every image when ``still``
is true, so a photo's result never depends on the photo before it. Backends that pose each frame on its
own (Keypoint R-CNN) inherit the no-op of :class:`BasePoseBackend`.

Each :class:`~engine.types.Person` has ``box`` (4,) float32 xyxy pixels, ``score`` float in [0, 1] and
``keypoints`` (17, 3) float32 COCO-17 ``x, y, confidence`` with x, y in pixels inside the image and
confidence a probability in [0, 1] (whatever the model's own scale; see each backend for its mapping).
Coordinates are continuous pixel positions: x in [0, W], y in [0, H] (pixel i spans [i, i + 1]).
A keypoint the model did not see has confidence 0.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from engine.types import NUM_KEYPOINTS, Person

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)


class PoseInputError(ValueError):
    """A frame a backend cannot take (wrong shape or dtype), phrased with the fix."""


@runtime_checkable
class PoseBackend(Protocol):
    name: str

    def estimate(self, frames: Sequence[np.ndarray]) -> list[list[Person]]: ...

    def __call__(self, frame: np.ndarray) -> list[Person]: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class BasePoseBackend:
    """Shared plumbing: ``__call__`` is ``estimate([frame])[0]``; ``close`` releases nothing by default."""

    name = "base"

    def estimate(self, frames: Sequence[np.ndarray]) -> list[list[Person]]:
        raise NotImplementedError

    def __call__(self, frame: np.ndarray) -> list[Person]:
        return self.estimate([frame])[0]

    def describe(self) -> str:
        return self.name

    def set_still_images(self, still: bool) -> None:
        """Frames from now on are unrelated still images (True) or consecutive video frames (False).
        No-op here: this backend poses each frame on its own."""

    def close(self) -> None:
        pass


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Return ``frame`` if it is an (H, W, 3) uint8 image, else raise :class:`PoseInputError`."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise PoseInputError(f"pose input must be an (H, W, 3) BGR uint8 image, got shape {shape} dtype {dtype}; "
                             f"convert with cv2.cvtColor / astype(np.uint8)")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise PoseInputError(f"pose input is too small: {frame.shape[1]}x{frame.shape[0]} pixels")
    return frame


def clip_to_image(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 17, 3) keypoints with x, y clipped to ``[0, width] × [0, height]`` (pixel-edge coordinates, as
    the boxes); a point that was outside gets confidence 0.

    The part boxes and the drawing trust confidence: a joint the model placed off the image was not seen.
    """
    out = np.array(keypoints, dtype=np.float32, copy=True).reshape(-1, NUM_KEYPOINTS, 3)
    x, y = out[..., 0], out[..., 1]
    outside = (x < 0) | (x > width) | (y < 0) | (y > height) | ~np.isfinite(x) | ~np.isfinite(y)
    out[..., 0] = np.clip(np.nan_to_num(x), 0, width)
    out[..., 1] = np.clip(np.nan_to_num(y), 0, height)
    out[..., 2] = np.where(outside, 0.0, np.clip(np.nan_to_num(out[..., 2]), 0.0, 1.0))
    return out


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) xyxy boxes clipped to ``[0, width] × [0, height]``, as float32."""
    out = np.array(boxes, dtype=np.float32, copy=True).reshape(-1, 4)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


def make_persons(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
                 image_size: tuple[int, int]) -> list[Person]:
    """Persons from (N, 4) xyxy boxes, (N,) scores and (N, 17, 3) keypoints, all clipped to the image.

    ``image_size`` is ``(width, height)``.
    """
    width, height = image_size
    boxes = clip_boxes(boxes, width, height)
    keypoints = clip_to_image(keypoints, width, height)
    scores = np.clip(np.asarray(scores, dtype=np.float32).reshape(-1), 0.0, 1.0)
    return [Person(box=boxes[i], score=float(scores[i]), keypoints=keypoints[i]) for i in range(len(boxes))]


def box_area(person: Person) -> float:
    x1, y1, x2, y2 = person.box
    return float(max(0.0, x2 - x1) * max(0.0, y2 - y1))


def keep_largest(persons: list[Person], max_persons: int) -> list[Person]:
    """The ``max_persons`` persons with the largest boxes, in their original order."""
    if len(persons) <= max_persons:
        return list(persons)
    keep = sorted(range(len(persons)), key=lambda i: box_area(persons[i]), reverse=True)[:max_persons]
    return [persons[i] for i in sorted(keep)]

"""mediapipe's bundled pose model (legacy ``mp.solutions.pose``, model_complexity 1): runs on a CPU with no
download, because ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` ship inside the
``mediapipe==0.10.21`` wheel.

The model sees one person per call. Two modes:

- **per person box** (a person detector is given): each detector box, widened by ``crop_margin`` on every
  side for context, is cropped and posed separately; the person's box and score are the detector's.
- **one person per frame** (no detector): mediapipe's own detector picks the most prominent person in the
  full frame; in video mode it then tracks that person from frame to frame (faster, smoother). The box is
  the landmarks' extent widened by 10 %; the score is the mean confidence of the 17 COCO keypoints.

33 BlazePose landmarks → COCO-17 by name (nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
ankles; :data:`MEDIAPIPE_TO_COCO`). Confidence is mediapipe's landmark ``visibility``, already a
probability in [0, 1]; a landmark placed outside the image gets confidence 0.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from engine.pose.base import BasePoseBackend, check_frame, clip_boxes, make_persons
from engine.types import NUM_KEYPOINTS, Person

log = logging.getLogger(__name__)

# BlazePose landmark index for each COCO-17 keypoint, in COCO order.
MEDIAPIPE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MODEL_COMPLEXITY = 1  # the only landmark model bundled in the wheel (pose_landmark_full.tflite)
MIN_CROP_PIXELS = 16


def landmarks_to_array(landmarks, x0: float, y0: float, width: float, height: float) -> np.ndarray:
    """mediapipe's 33 normalized landmarks of an image region → (33, 3) float32 ``x, y, visibility`` in
    the pixels of the full frame, where the region's top-left is ``(x0, y0)`` and its size ``width × height``."""
    points = np.array([(lm.x, lm.y, lm.visibility) for lm in landmarks.landmark], dtype=np.float32)
    points[:, 0] = points[:, 0] * width + x0
    points[:, 1] = points[:, 1] * height + y0
    return points


def to_coco(points33: np.ndarray) -> np.ndarray:
    """(33, 3) BlazePose landmarks → (17, 3) COCO-17."""
    return points33[list(MEDIAPIPE_TO_COCO)].astype(np.float32)


def landmark_box(points33: np.ndarray, width: int, height: int, pad: float = 0.1) -> np.ndarray:
    """(4,) xyxy box around the landmarks mediapipe calls visible (all of them if fewer than 4 are), widened
    by ``pad`` of its size on each side (landmarks stop at the eyes and heels, people do not)."""
    visible = points33[points33[:, 2] > 0.5]
    use = visible if len(visible) >= 4 else points33
    x1, y1 = use[:, 0].min(), use[:, 1].min()
    x2, y2 = use[:, 0].max(), use[:, 1].max()
    dx, dy = (x2 - x1) * pad, (y2 - y1) * pad
    return clip_boxes(np.array([[x1 - dx, y1 - dy, x2 + dx, y2 + dy]]), width, height)[0]


class MediaPipePoseBackend(BasePoseBackend):
    """Single-person BlazePose per frame or per detector box; CPU only; no download.

    Args:
        detector: an object with ``detect(frames) -> [(boxes (N, 4), scores (N,))]`` or None.
        detector_note: why there is (or is not) a detector, shown in :meth:`describe`.
        video_mode: frames are consecutive (track the person between frames in one-person mode). Use False
            for unrelated still images.
        min_detection_confidence: mediapipe's own person-detector threshold in one-person mode (0.8: on the
            sample clip 0.5 also fires on cars and fences, 0.85 misses the astronaut; see the module tests).
        crop_margin: context added around a detector box on each side, as a fraction of its size.
    """

    name = "mediapipe"

    def __init__(self, detector=None, detector_note: str = "", video_mode: bool = True,
                 min_detection_confidence: float = 0.8, min_tracking_confidence: float = 0.5,
                 crop_margin: float = 0.25) -> None:
        from engine.pose.mediapipe_import import import_mediapipe

        mp = import_mediapipe()  # not a plain import: see engine.pose.mediapipe_import
        self._mp_pose = mp.solutions.pose
        self.detector = detector
        self.detector_note = detector_note or ("per person box" if detector is not None else
                                               "one person per frame: no person detector")
        self.video_mode = video_mode
        self.crop_margin = crop_margin
        self._min_detection_confidence = min_detection_confidence
        self._min_tracking_confidence = min_tracking_confidence
        self._pose = self._make_pose()
        if detector is None:
            log.info("mediapipe pose: %s", self.detector_note)

    def _make_pose(self):
        # Crops are different people every call, so they always use still-image mode; the detector has
        # already said "person" there, so mediapipe's own detector only needs its usual 0.5.
        detector = self.detector
        return self._mp_pose.Pose(
            static_image_mode=(detector is not None) or not self.video_mode, model_complexity=MODEL_COMPLEXITY,
            smooth_landmarks=True, enable_segmentation=False,
            min_detection_confidence=0.5 if detector is not None else self._min_detection_confidence,
            min_tracking_confidence=self._min_tracking_confidence)

    def set_still_images(self, still: bool) -> None:
        """Unrelated photos (``still``): mediapipe's detector runs on every image (``static_image_mode``)
        instead of tracking the previous image's person into this one. Rebuilds the graph only when the
        mode changes (per-box mode is always still-image mode)."""
        video_mode = not still
        if video_mode == self.video_mode:
            return
        self.video_mode = video_mode
        if self.detector is None and self._pose is not None:
            self._pose.close()
            self._pose = self._make_pose()

    @property
    def per_box(self) -> bool:
        return self.detector is not None

    def estimate(self, frames: Sequence[np.ndarray]) -> list[list[Person]]:
        frames = [check_frame(f) for f in frames]
        if not frames:
            return []
        if self.detector is None:
            return [self._full_frame(frame) for frame in frames]
        detections = self.detector.detect(frames)
        return [self._per_box(frame, boxes, scores) for frame, (boxes, scores) in zip(frames, detections)]

    def _process(self, bgr: np.ndarray):
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        return self._pose.process(rgb).pose_landmarks

    def _full_frame(self, frame: np.ndarray) -> list[Person]:
        height, width = frame.shape[:2]
        landmarks = self._process(frame)
        if landmarks is None:
            return []
        points = landmarks_to_array(landmarks, 0.0, 0.0, width, height)
        keypoints = to_coco(points)
        box = landmark_box(points, width, height)
        persons = make_persons(box[None], np.zeros(1, np.float32), keypoints[None], (width, height))
        persons[0].score = float(persons[0].keypoints[:, 2].mean())
        return persons

    def _per_box(self, frame: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> list[Person]:
        height, width = frame.shape[:2]
        boxes = clip_boxes(boxes, width, height)
        # Joints mediapipe does not find sit at the box centre with confidence 0 (seen as "not visible").
        all_keypoints = np.zeros((len(boxes), NUM_KEYPOINTS, 3), np.float32)
        all_keypoints[:, :, 0] = ((boxes[:, 0] + boxes[:, 2]) / 2)[:, None]
        all_keypoints[:, :, 1] = ((boxes[:, 1] + boxes[:, 3]) / 2)[:, None]
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            mx, my = (x2 - x1) * self.crop_margin, (y2 - y1) * self.crop_margin
            cx1, cy1 = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
            cx2, cy2 = int(min(width, np.ceil(x2 + mx))), int(min(height, np.ceil(y2 + my)))
            if cx2 - cx1 < MIN_CROP_PIXELS or cy2 - cy1 < MIN_CROP_PIXELS:
                continue  # too small to pose: keep the person with unseen (confidence 0) keypoints
            landmarks = self._process(frame[cy1:cy2, cx1:cx2])
            if landmarks is not None:
                all_keypoints[i] = to_coco(landmarks_to_array(landmarks, cx1, cy1, cx2 - cx1, cy2 - cy1))
        return make_persons(boxes, scores, all_keypoints, (width, height))

    def describe(self) -> str:
        return f"mediapipe (CPU, {self.detector_note})"

    def reset(self) -> None:
        """A new source starts: in video mode, forget the person tracked so far (a fresh graph; still-image
        mode keeps no state between frames)."""
        if self._pose is not None and self.video_mode and self.detector is None:
            self._pose.close()
            self._pose = self._make_pose()

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None
        self.detector = None  # its torchvision model: freed with the pipeline, not held by a closed backend

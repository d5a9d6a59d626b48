"""``build_pose_backend(config, device)``: ``pose.backend`` = ``keypoint_rcnn`` | ``mediapipe`` | ``auto``.

``auto`` picks Keypoint R-CNN on CUDA (multi-person, best keypoints, fast there) and mediapipe on a CPU
(runs live with nothing to download). On CUDA Keypoint R-CNN's weights are fetched on first use;
without them and offline (``--offline``) it falls back to mediapipe rather than stopping, and says so in
one line. The choice and its reason are logged and
kept in ``backend.choice`` for the HUD.
"""
from __future__ import annotations

import logging

import torch

from engine.config import Config
from engine.pose.base import BasePoseBackend

log = logging.getLogger(__name__)

BACKENDS = ("auto", "keypoint_rcnn", "mediapipe")


def build_keypoint_rcnn(config: Config, device: torch.device, fetch: bool = True) -> BasePoseBackend:
    from engine.pose.keypoint_rcnn import KeypointRCNNBackend

    pose = config.pose
    return KeypointRCNNBackend(device, weights=pose.weights, score_threshold=pose.score_threshold,
                               min_size=pose.min_size, fp16=pose.fp16,
                               detections_per_img=max(2 * pose.max_persons, 20), fetch=fetch)


def build_mediapipe(config: Config, device: torch.device, video_mode: bool = True) -> BasePoseBackend:
    from engine.pose.mediapipe_pose import MediaPipePoseBackend
    from engine.pose.person_detector import build_person_detector

    pose = config.pose
    detector, note = build_person_detector(pose.detector, device, pose.score_threshold, pose.min_size,
                                           weights=pose.detector_weights)
    if detector is None:
        note = f"one person per frame: {note}"
    return MediaPipePoseBackend(detector=detector, detector_note=note, video_mode=video_mode,
                                min_detection_confidence=pose.mediapipe_confidence)


def build_pose_backend(config: Config, device: torch.device, video_mode: bool = True) -> BasePoseBackend:
    """The backend ``config.pose.backend`` names, on ``device``; ``backend.choice`` says what and why."""
    from engine.weights import store as registry

    name = config.pose.backend
    if name == "keypoint_rcnn":
        backend = build_keypoint_rcnn(config, device)
        backend.choice = "keypoint_rcnn (pose.backend: keypoint_rcnn)"
    elif name == "mediapipe":
        backend = build_mediapipe(config, device, video_mode)
        backend.choice = "mediapipe (pose.backend: mediapipe)"
    elif name == "auto":
        if device.type == "cuda":
            try:
                backend = build_keypoint_rcnn(config, device)
                backend.choice = f"auto → keypoint_rcnn: {device.type.upper()} is available"
            except registry.WeightsNotFound as exc:
                log.warning("pose auto: Keypoint R-CNN weights %s are missing (%s), using mediapipe; get them "
                            "with: %s", config.pose.weights, exc.reason, exc.hint)
                backend = build_mediapipe(config, device, video_mode)
                backend.choice = "auto → mediapipe: CUDA is available but Keypoint R-CNN weights are missing"
        else:
            backend = build_mediapipe(config, device, video_mode)
            backend.choice = "auto → mediapipe: no CUDA (Keypoint R-CNN is too slow for live use on a CPU)"
    else:
        raise ValueError(f"pose.backend: unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
    log.info("pose backend: %s — %s", backend.describe(), backend.choice)
    return backend

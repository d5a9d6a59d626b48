"""``build_pose_backend(config, device)``: ``pose.backend`` = ``keypoint_rcnn`` | ``mediapipe`` |
``mediapipe_multi`` | ``auto``.

``auto`` picks Keypoint R-CNN on CUDA (multi-person, best keypoints, fast there). On a CPU it picks mediapipe
per person box when the torchvision person detector's weights are cached (``pose.detector: auto``) or asked
for (``fasterrcnn``), and otherwise ``mediapipe_multi``: every person from the models bundled in the
mediapipe wheel, nothing to download. On CUDA without Keypoint R-CNN weights and no network it falls back
to the CPU choice rather than stopping, and says so in one line. The choice and its reason are logged and
kept in ``backend.choice`` for the HUD.
"""
from __future__ import annotations

import logging
import os

import torch

from engine.config import Config
from engine.pose.base import BasePoseBackend

log = logging.getLogger(__name__)

BACKENDS = ("auto", "keypoint_rcnn", "mediapipe", "mediapipe_multi")


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


def build_mediapipe_multi(config: Config, video_mode: bool = True, reason: str = "") -> BasePoseBackend:
    from engine.pose.mediapipe_multi import MediaPipeMultiPoseBackend

    pose = config.pose
    return MediaPipeMultiPoseBackend(
        video_mode=video_mode, detector_interval=pose.multi_detector_interval,
        tile_grids=[int(n) for n in pose.multi_tiles], tile_overlap=pose.multi_tile_overlap,
        score_threshold=pose.multi_score_threshold, nms_threshold=pose.multi_nms_threshold,
        max_persons=pose.max_persons, cores=min(pose.multi_cores, os.cpu_count() or 1), reason=reason)


def _cpu_choice(config: Config, device: torch.device, video_mode: bool, why: str) -> BasePoseBackend:
    """``auto`` off CUDA: mediapipe per detector box if the detector is there, else mediapipe_multi."""
    from engine.pose.person_detector import detector_available

    available, note = detector_available(config.pose.detector, config.pose.detector_weights)
    if available:
        backend = build_mediapipe(config, device, video_mode)
        backend.choice = f"auto → mediapipe per person box: {why}; {note}"
    else:
        short = "detector off" if config.pose.detector == "none" else "no detector weights cached"
        backend = build_mediapipe_multi(config, video_mode, reason=short)
        backend.choice = f"auto → mediapipe_multi: {why}; {note}"
    return backend


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
    elif name == "mediapipe_multi":
        backend = build_mediapipe_multi(config, video_mode)
        backend.choice = "mediapipe_multi (pose.backend: mediapipe_multi)"
    elif name == "auto":
        if device.type == "cuda":
            try:
                backend = build_keypoint_rcnn(config, device)
                backend.choice = f"auto → keypoint_rcnn: {device.type.upper()} is available"
            except registry.WeightsNotFound as exc:
                log.warning("pose auto: Keypoint R-CNN weights %s are missing (%s), using the CPU choice; get "
                            "them with: %s", config.pose.weights, exc.reason, exc.hint)
                backend = _cpu_choice(config, device, video_mode,
                                      "CUDA is available but Keypoint R-CNN weights are missing")
        else:
            backend = _cpu_choice(config, device, video_mode,
                                  "no CUDA (Keypoint R-CNN is too slow for live use on a CPU)")
    else:
        raise ValueError(f"pose.backend: unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
    log.info("pose backend: %s — %s", backend.describe(), backend.choice)
    return backend

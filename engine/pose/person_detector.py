"""Person boxes from torchvision's COCO Faster R-CNN (MobileNetV3-Large FPN), for single-person pose models.

mediapipe's pose model sees one person per call; with this detector in front it runs once per person box.
The MobileNetV3 variant is the torchvision COCO detector that stays fast on a CPU. Its weights are not
shipped with any wheel: :func:`build_person_detector` fetches them on first use when the machine is
online (``auto`` and ``fasterrcnn``); offline (``--offline``) ``auto`` runs without a detector and says so
in one line, ``fasterrcnn`` stops with the manual steps.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
import torch

from engine.pose.keypoint_rcnn import frames_to_tensors

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "fasterrcnn_mobilenet_v3_large_fpn_coco"
COCO_PERSON = 1


class TorchvisionPersonDetector:
    """``detect(frames) -> [(boxes (N, 4) float32 xyxy pixels, scores (N,) float32)]``, persons only.

    ``weights`` is a registry name, a checkpoint path, or None (random weights, for tests).
    """

    def __init__(self, device: torch.device | str = "cpu", weights: Optional[str] = DEFAULT_WEIGHTS,
                 score_threshold: float = 0.7, min_size: int = 512, max_detections: int = 20) -> None:
        from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

        self.device = torch.device(device)
        self.score_threshold = float(score_threshold)
        self.model = fasterrcnn_mobilenet_v3_large_fpn(
            weights=None, weights_backbone=None, min_size=min_size, max_size=int(round(min_size * 1333 / 800)),
            box_score_thresh=self.score_threshold, box_detections_per_img=100)
        self.max_detections = max_detections
        self.weights_label = "random weights" if weights is None else str(weights)
        if weights is not None:
            from engine.weights import store as registry

            self.model.load_state_dict(registry.load_state_dict(weights), strict=True)
        self.model.eval().to(self.device)

    @torch.inference_mode()
    def detect(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        outputs = self.model(frames_to_tensors(frames, self.device))
        results = []
        for output in outputs:
            keep = output["labels"] == COCO_PERSON
            boxes = output["boxes"][keep][: self.max_detections].float().cpu().numpy()
            scores = output["scores"][keep][: self.max_detections].float().cpu().numpy()
            results.append((boxes.astype(np.float32), scores.astype(np.float32)))
        return results

    def describe(self) -> str:
        return f"Faster R-CNN MobileNetV3 person detector on {self.device.type.upper()}"


def detector_available(mode: str, weights: str = DEFAULT_WEIGHTS) -> tuple[bool, str]:
    """``(True, why)`` when :func:`build_person_detector` would give a detector for ``pose.detector`` =
    ``mode`` without failing: ``fasterrcnn`` (fetched if needed) or ``auto`` with the weights on disk."""
    from engine.weights import store as registry

    if mode == "none":
        return False, "person detector off (pose.detector: none)"
    if mode == "fasterrcnn":
        return True, "person detector asked for (pose.detector: fasterrcnn)"
    try:
        registry.locate(weights)
    except registry.WeightsNotFound:
        return False, f"person detector weights {weights} are not cached"
    return True, f"person detector weights {weights} are cached"


def build_person_detector(mode: str, device: torch.device, score_threshold: float, min_size: int,
                          weights: str = DEFAULT_WEIGHTS) -> tuple[Optional[TorchvisionPersonDetector], str]:
    """``(detector or None, why)`` for ``pose.detector`` = ``auto`` | ``fasterrcnn`` | ``none``.

    ``auto`` and ``fasterrcnn`` fetch the weights once when they are not cached and the machine is online
    (:func:`engine.weights.store.ensure`). Without them ``auto`` returns ``(None, why)`` and logs one line
    with the command that gets them; ``fasterrcnn`` raises ``WeightsNotFound`` with the manual steps;
    ``none`` never uses a detector.
    """
    from engine.weights import store as registry

    if mode == "none":
        return None, "detector off (pose.detector: none)"
    if mode not in ("auto", "fasterrcnn"):
        raise ValueError(f"pose.detector: unknown detector {mode!r}; use auto, fasterrcnn or none")
    try:
        path = registry.ensure(weights, purpose="person detector")
    except registry.WeightsNotFound as exc:
        if mode == "fasterrcnn":
            raise
        log.info("no person detector, one person per frame: weights %s %s; get them with: %s",
                 weights, "not downloaded, " + exc.reason if exc.reason != "not in the cache" else "not cached",
                 exc.hint)
        return None, "no detector weights cached"
    detector = TorchvisionPersonDetector(device, str(path), score_threshold=score_threshold, min_size=min_size)
    detector.weights_label = str(weights)
    return detector, f"per person box from {detector.describe()}"

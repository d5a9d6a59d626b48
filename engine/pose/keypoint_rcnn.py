"""torchvision Keypoint R-CNN (ResNet-50 FPN, COCO): multi-person boxes and COCO-17 keypoints in one model.

Keypoint confidence. torchvision returns, per keypoint, the value of the (bicubic-upsampled) heatmap
*logit* at its argmax (``roi_heads.heatmaps_to_keypoints``). The heatmaps are trained with a softmax over
the 56×56 positions, so the logit is unbounded (roughly −5…15) and is not a probability. Detectron, where
this head comes from, draws a keypoint when that logit exceeds 2 (``vis_keypoints(kp_thresh=2)``). We map

    confidence = sigmoid(logit − 2)

so Detectron's "visible" threshold becomes 0.5, confidence is in [0, 1] and monotone in the logit, and
the project's thresholds keep their meaning of "fairly sure" (drawing at 0.3 ⇔ logit > 1.15; part-box
fallback below 0.2 ⇔ logit < 0.61). See :func:`keypoint_confidence`.

Frames go in as a batch (a list of images of any sizes); torchvision resizes each to ``min_size`` on the
short side (``max_size`` = ``min_size`` × 1333/800 on the long side) and maps boxes and keypoints back to
the original pixels. On CUDA the forward runs under fp16 autocast when ``fp16`` is set.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
import torch

from engine.pose.base import BasePoseBackend, check_frame, make_persons
from engine.types import Person

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "keypointrcnn_resnet50_fpn_coco"
KEYPOINT_LOGIT_VISIBLE = 2.0  # Detectron's keypoint visibility threshold on the heatmap logit


def keypoint_confidence(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Keypoint R-CNN heatmap logits (any shape) → probabilities ``sigmoid(logit − 2)`` in [0, 1], float32."""
    values = torch.as_tensor(logits, dtype=torch.float32)
    return torch.sigmoid(values - KEYPOINT_LOGIT_VISIBLE).cpu().numpy()


def frames_to_tensors(frames: Sequence[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """(H, W, 3) BGR uint8 frames → (3, H, W) RGB float tensors in [0, 1] on ``device``.

    The uint8 image is moved first and converted there, which moves 4× fewer bytes to a GPU.
    """
    tensors = []
    for frame in frames:
        image = torch.from_numpy(np.ascontiguousarray(check_frame(frame)))
        image = image.to(device, non_blocking=True).permute(2, 0, 1).flip(0)
        tensors.append(image.float().div_(255.0))
    return tensors


def build_model(min_size: int, score_threshold: float, detections_per_img: int = 20):
    """The full Keypoint R-CNN architecture (random init; weights are loaded by the caller)."""
    from torchvision.models.detection import keypointrcnn_resnet50_fpn

    max_size = int(round(min_size * 1333 / 800))
    return keypointrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=min_size, max_size=max_size,
        box_score_thresh=score_threshold, box_detections_per_img=detections_per_img)


class KeypointRCNNBackend(BasePoseBackend):
    """Multi-person pose with torchvision's Keypoint R-CNN.

    Args:
        device: where the model runs.
        weights: a registry name (see ``python main.py weights list``), a checkpoint path, or None for
            random weights (tests and speed checks only).
        score_threshold: person box score below which a detection is dropped (before the keypoint head).
        min_size: input short side in pixels.
        fp16: autocast to float16 on CUDA.
        detections_per_img: most boxes the model keeps per image (best scores first).
        fetch: download registered weights when they are not cached (otherwise raise WeightsNotFound).
    """

    name = "keypoint_rcnn"

    def __init__(self, device: torch.device | str = "cpu", weights: Optional[str] = DEFAULT_WEIGHTS,
                 score_threshold: float = 0.7, min_size: int = 512, fp16: bool = True,
                 detections_per_img: int = 20, fetch: bool = True) -> None:
        self.device = torch.device(device)
        self.min_size = int(min_size)
        self.score_threshold = float(score_threshold)
        self.fp16 = bool(fp16) and self.device.type == "cuda"
        # Weights first: a missing file fails fast, before the model is built.
        state = _load_weights(weights, fetch) if weights is not None else None
        self.model = build_model(self.min_size, self.score_threshold, detections_per_img)
        self.weights_label = "random weights" if weights is None else str(weights)
        if state is not None:
            self.model.load_state_dict(state, strict=True)
        self.model.eval().to(self.device)

    @torch.inference_mode()
    def estimate(self, frames: Sequence[np.ndarray]) -> list[list[Person]]:
        if not frames:
            return []
        tensors = frames_to_tensors(frames, self.device)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=self.fp16):
            outputs = self.model(tensors)
        results = []
        for frame, output in zip(frames, outputs):
            keep = output["labels"] == 1  # the keypoint model has one class, person; be explicit anyway
            boxes = output["boxes"][keep].float().cpu().numpy()
            scores = output["scores"][keep].float().cpu().numpy()
            keypoints = output["keypoints"][keep].float().cpu().numpy().copy()
            keypoints[..., 2] = keypoint_confidence(output["keypoints_scores"][keep].float())
            results.append(make_persons(boxes, scores, keypoints, (frame.shape[1], frame.shape[0])))
        return results

    def close(self) -> None:
        self.model = None  # ~230 MB of weights: released when the pipeline closes, not when it is dropped

    def describe(self) -> str:
        from engine.device import describe_device

        precision = "fp16" if self.fp16 else "fp32"
        extra = "" if self.weights_label == DEFAULT_WEIGHTS else f", {self.weights_label}"
        return f"keypoint_rcnn ({describe_device(self.device)}, {precision}, min_size {self.min_size}{extra})"


def _load_weights(weights: str, fetch: bool) -> dict:
    """State dict of ``weights`` (registry name or path); a public file is fetched once when ``fetch`` and online."""
    from engine.weights import store as registry

    path = registry.ensure(weights, purpose="Keypoint R-CNN") if fetch else registry.locate(weights)
    return registry.load_state_dict(path)

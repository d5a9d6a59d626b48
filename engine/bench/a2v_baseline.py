"""The official-style A2V forward the ``bench a2v`` baseline times: one crop call per ROI, one person at a
time through layer4 and the heads; and synthetic persons for benchmarks."""
from __future__ import annotations

import numpy as np
import torch

from engine.a2v.net import GROUP_PARTS, PastaNet, PastaOutput, preprocess
from engine.a2v.parts import clip_boxes, part_boxes, skeleton_maps
from engine.a2v.roi import roi_crop_official


def baseline_forward(net: PastaNet, images: torch.Tensor, human_boxes: torch.Tensor, parts: torch.Tensor,
                     skeletons: torch.Tensor) -> PastaOutput:
    """The official-style forward: one crop call per ROI, one person at a time through layer4 and heads."""
    head = net.image_to_head(images)
    scene = head.mean(dim=(2, 3))
    logits, verbs, visuals = [], [], []
    for i in range(human_boxes.shape[0]):
        human = net.resnet_layer4(roi_crop_official(head, human_boxes[i])).mean(dim=(2, 3))
        part_feats = [roi_crop_official(head, parts[i, j]).mean(dim=(2, 3)) for j in range(parts.shape[1])]
        skeleton = skeletons[i].reshape(1, 1, 64, 64)
        fc7s, person_logits = [], []
        for g, ids in enumerate(GROUP_PARTS):
            pose = net.pool2_flat_pose_maps[g](skeleton).reshape(1, -1)
            fc7 = net.fc7_parts[g](torch.cat([part_feats[j] for j in ids] + [human, scene, pose], dim=1))
            fc7s.append(fc7)
            person_logits.append(net.part_cls_scores[g](fc7))
        visual = torch.cat(fc7s, dim=1)
        visuals.append(visual)
        verbs.append(net.verb_cls_scores(visual))
        logits.append(person_logits)
    group_logits = [torch.cat([p[g] for p in logits]) for g in range(len(GROUP_PARTS))]
    return PastaOutput(group_logits=group_logits, verb_logits=torch.cat(verbs), visual=torch.cat(visuals))


def baseline_infer(net: PastaNet, language: np.ndarray, device: torch.device, image: np.ndarray,
                   boxes: np.ndarray, keypoints: np.ndarray) -> dict[str, np.ndarray]:
    height, width = image.shape[:2]
    parts = clip_boxes(part_boxes(keypoints, boxes), (width, height))
    skeletons = skeleton_maps(keypoints, (width, height))
    with torch.inference_mode():
        out = baseline_forward(net, preprocess(image, device), torch.from_numpy(boxes).to(device),
                               torch.from_numpy(parts).to(device), torch.from_numpy(skeletons).to(device))
        pasta = out.pasta_probs.cpu().numpy()
        actions = out.verb_probs.cpu().numpy()
        visual = out.visual.cpu().numpy()
    return {"pasta": pasta, "actions": actions, "visual": visual, "language": pasta @ language}


def synthetic_persons(n: int, width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) person boxes and (n, 17, 3) keypoints (confident, inside their boxes)."""
    rng = np.random.default_rng(seed)
    boxes = np.zeros((n, 4), np.float32)
    keypoints = np.zeros((n, 17, 3), np.float32)
    for i in range(n):
        bw = rng.uniform(0.1, 0.35) * width
        bh = rng.uniform(0.3, 0.9) * height
        x1 = rng.uniform(0, width - bw)
        y1 = rng.uniform(0, height - bh)
        boxes[i] = (x1, y1, x1 + bw, y1 + bh)
        keypoints[i, :, 0] = rng.uniform(x1, x1 + bw, 17)
        keypoints[i, :, 1] = np.sort(rng.uniform(y1, y1 + bh, 17))
        keypoints[i, :, 2] = rng.uniform(0.5, 1.0, 17)
    return boxes, keypoints

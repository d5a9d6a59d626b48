"""The official A2V v1 forward's structure, which the ``bench a2v`` baseline times; and synthetic persons.

Structure of ``pasta_res50.forward`` (HAKE-Action-Torch@Activity2Vec, measured against the real code in
issue 20, see /work/shared/hake/a2v_v1_checkpoint.md): the unfolded trunk (``image_to_head``: separate
BatchNorm passes, NCHW) once per frame; then one ``affine_grid`` + ``grid_sample`` call per ROI (the human
box and the 10 part boxes of every person, 11 calls per person, a Python loop); the crops of all persons
concatenated, so ``resnet_layer4``, the six pose-map CNNs, fc7 and the classifiers each run ONCE on the
batch of all persons. fp32 throughout. Same numbers as :class:`engine.a2v.net.PastaNet` (the check in
``bench a2v`` prints the difference).
"""
from __future__ import annotations

import numpy as np
import torch

from engine.a2v.net import GROUP_PARTS, PastaNet, PastaOutput, preprocess
from engine.a2v.parts import clip_boxes, part_boxes, skeleton_maps
from engine.a2v.roi import roi_crop_official


def baseline_forward(net: PastaNet, images: torch.Tensor, human_boxes: torch.Tensor, parts: torch.Tensor,
                     skeletons: torch.Tensor) -> PastaOutput:
    """The official forward's structure (module docstring).

    images (1, 3, H, W) preprocessed; human_boxes (N, 4) and parts (N, 10, 4) xyxy pixels; skeletons
    (N, 64, 64). Returns a :class:`PastaOutput` for the N persons.
    """
    head = net.image_to_head(images)
    n = human_boxes.shape[0]
    scene = head.mean(dim=(2, 3)).expand(n, -1)
    # One crop call per ROI, as the official _crop_pool_layer is called box by box.
    human_crops = torch.cat([roi_crop_official(head, human_boxes[i]) for i in range(n)])
    part_feats = [torch.cat([roi_crop_official(head, parts[i, j]) for i in range(n)]).mean(dim=(2, 3))
                  for j in range(parts.shape[1])]
    human = net.resnet_layer4(human_crops).mean(dim=(2, 3))       # layer4 batched over persons
    skeleton = skeletons.reshape(n, 1, 64, 64)
    fc7s, logits = [], []
    for g, ids in enumerate(GROUP_PARTS):
        pose = net.pool2_flat_pose_maps[g](skeleton).reshape(n, -1)
        fc7 = net.fc7_parts[g](torch.cat([part_feats[j] for j in ids] + [human, scene, pose], dim=1))
        fc7s.append(fc7)
        logits.append(net.part_cls_scores[g](fc7))
    visual = torch.cat(fc7s, dim=1)
    return PastaOutput(group_logits=logits, verb_logits=net.verb_cls_scores(visual), visual=visual)


def baseline_infer(net: PastaNet, language: np.ndarray, device: torch.device, image: np.ndarray,
                   boxes: np.ndarray, keypoints: np.ndarray) -> dict[str, np.ndarray]:
    """BGR frame + (N, 4) boxes + (N, 17, 3) keypoints → numpy pasta, actions, visual, language (N ≥ 1)."""
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

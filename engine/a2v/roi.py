"""ROI features from a stride-16 feature map: the official A2V crop, batched.

The official model crops one box at a time (``pasta_res50._crop_pool_layer``): the box (x1, y1, x2, y2 in
input-image pixels) is divided by 16, turned into an affine ``theta``
``[[(x2−x1)/(W−1), 0, (x1+x2−W+1)/(W−1)], [0, (y2−y1)/(H−1), (y1+y2−H+1)/(H−1)]]`` (W, H = feature-map
size), ``affine_grid`` makes a 7×7 sampling grid and bilinear ``grid_sample`` (``align_corners=False``,
zero padding) reads the features.

:func:`roi_crop` gives the same numbers for R boxes with ONE ``grid_sample``: the R grids (each 7×7) are
stacked along the output's height axis into a (1, 7R, 7, 2) grid over the single feature map. Every output
location of ``grid_sample`` depends only on its own grid point, so stacking changes nothing but the number
of kernel launches. :func:`roi_crop_official` is the one-ROI-at-a-time reference (tests, benchmark).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

FEATURE_STRIDE = 16
POOL_SIZE = 7


def roi_theta(boxes: torch.Tensor, feature_hw: tuple[int, int], stride: int = FEATURE_STRIDE) -> torch.Tensor:
    """(R, 4) xyxy input-image pixel boxes → (R, 2, 3) affine thetas of the official crop (float32)."""
    height, width = feature_hw
    b = boxes.to(torch.float32) / stride
    x1, y1, x2, y2 = b.unbind(-1)
    zeros = torch.zeros_like(x1)
    # max(…, 1) only guards a 1-pixel-wide map, where the official formula divides by zero.
    wm1 = float(max(width - 1, 1))
    hm1 = float(max(height - 1, 1))
    row0 = torch.stack([(x2 - x1) / wm1, zeros, (x1 + x2 - width + 1) / wm1], dim=-1)
    row1 = torch.stack([zeros, (y2 - y1) / hm1, (y1 + y2 - height + 1) / hm1], dim=-1)
    return torch.stack([row0, row1], dim=-2)


def roi_crop(features: torch.Tensor, boxes: torch.Tensor, pool_size: int = POOL_SIZE,
             stride: int = FEATURE_STRIDE) -> torch.Tensor:
    """Crop R boxes from one feature map in one ``grid_sample`` call.

    features: (1, C, H, W) or (C, H, W); boxes: (R, 4) xyxy in input-image pixels (float).
    Returns (R, C, pool_size, pool_size), equal to :func:`roi_crop_official` box by box.
    """
    if features.dim() == 3:
        features = features.unsqueeze(0)
    if features.shape[0] != 1:
        raise ValueError(f"roi_crop takes one feature map (1, C, H, W), got {tuple(features.shape)}; "
                         f"call it once per image")
    r = boxes.shape[0]
    c = features.shape[1]
    if r == 0:
        return features.new_zeros((0, c, pool_size, pool_size))
    theta = roi_theta(boxes.to(features.device), features.shape[-2:], stride)
    grid = F.affine_grid(theta, [r, 1, pool_size, pool_size], align_corners=False)     # (R, P, P, 2)
    grid = grid.reshape(1, r * pool_size, pool_size, 2)
    # Sampled in float32 even for half-precision maps: fp16 grid coordinates would move the samples.
    crops = F.grid_sample(features.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # (1, C, R·P, P) → (R, C, P, P)
    return crops.reshape(c, r, pool_size, pool_size).transpose(0, 1).to(features.dtype)


def roi_crop_official(features: torch.Tensor, box: torch.Tensor, pool_size: int = POOL_SIZE,
                      stride: int = FEATURE_STRIDE) -> torch.Tensor:
    """The official crop of ONE box (4,) from (1, C, H, W) features → (1, C, pool_size, pool_size)."""
    theta = roi_theta(box.reshape(1, 4).to(features.device), features.shape[-2:], stride)
    grid = F.affine_grid(theta, [1, 1, pool_size, pool_size], align_corners=False)
    crop = F.grid_sample(features.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return crop.to(features.dtype)

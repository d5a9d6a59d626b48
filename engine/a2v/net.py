"""The PaSta network of HAKE-A2V v1, with the official parameter names (docs/hake_facts.md §5).

API (also used by training, issue 8)::

    net = PastaNet()                                  # random init; trunk frozen, BN of the trunk in eval
    net.load_checkpoint(path_or_state_dict)           # official pretrained_model.pth or ours; strict
    out = net(images, human_boxes, part_boxes, skeletons, image_index=None)
    # images      (B, 3, H, W) float: BGR minus PIXEL_MEANS_BGR (see preprocess()), any size
    # human_boxes (N, 4)  xyxy pixels of ``images``      (not clipped, as the official test path)
    # part_boxes  (N, 10, 4) xyxy pixels of ``images``   (clip_boxes by the caller; may be inverted)
    # skeletons   (N, 64, 64) or (N, 1, 64, 64) float    (engine.a2v.parts.skeleton_maps)
    # image_index (N,) long: the image of the batch each person is in (default: all in image 0)
    out.group_logits  # list of 6 (N, n_g) logits, groups foot, leg, hip, hand, arm, head (16,15,6,34,8,14)
    out.verb_logits   # (N, 157) logits
    out.visual        # (N, 3072) the six fc7 outputs concatenated (the visual half of the A2V vector)
    out.pasta_logits  # (N, 93) group logits concatenated; out.pasta_probs, out.verb_probs: sigmoid
    net.set_trainable(["foot", "verb"])  # only these heads get gradients (any of GROUPS + "verb")
    save_checkpoint(net, path, **meta)   # {"format": "a2v-pasta/1", "model_state_dict": ..., **meta}

The same forward serves training (``net.train()``: dropout on, logits for the losses) and inference.

Forward in words (docs/hake_facts.md §3, checkpoint §5): ``image_to_head`` (ResNet-50 v1 to conv4, TF padding,
stride 16, 1024 ch) → scene = spatial mean; each human box → official ROI crop (7×7, engine.a2v.roi) →
``resnet_layer4`` (stride 1) → mean → 2048; each part box → crop → mean → 1024; per group
[parts of the group ‖ human ‖ scene ‖ skeleton CNN 2704] → fc7 (512) → classifier. Verb =
Linear(3072 → 157) on the six fc7 outputs. All ROIs of an image (human + 10 parts per person) are cropped
in one ``grid_sample`` call and layer4 runs on all persons at once.

Names: the official model exposes the trunk three times (``resnet50.*``, ``image_to_head.*``,
``resnet_layer4.*``); here they are the same modules, so the state dict has all 698 entries in the
official order, the official file loads with ``strict=True``, and the aliased tensors stay one tensor.

Training notes: the trunk (``resnet50``) is frozen by default (``freeze_trunk=True``) and its BatchNorm
layers stay in eval mode under ``net.train()`` (the official code lets their running statistics drift);
with a frozen trunk, conv4 and layer4 run under ``torch.no_grad()``. ``init_trunk_from_torchvision``
copies torchvision ImageNet ResNet-50 weights into the trunk for training from scratch (see there).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
import torch
import torch.nn as nn

from engine.a2v.roi import POOL_SIZE, roi_crop
from engine.vocab import load_vocab

PIXEL_MEANS_BGR = (102.9801, 115.9465, 122.7717)
# Head layout from the vocabulary file (one source): groups foot, leg, hip, hand, arm, head with
# (16, 15, 6, 34, 8, 14) states, the parts feeding each group in concatenation order (official
# PART_AGG_RULE), 10 parts and 157 verbs. The official checkpoint only loads when these match it.
_VOCAB = load_vocab()
GROUPS = _VOCAB.groups
GROUP_SIZES = _VOCAB.group_sizes
GROUP_PARTS = _VOCAB.group_parts
NUM_PARTS = len(_VOCAB.parts)
NUM_PASTA = sum(GROUP_SIZES)
NUM_VERBS = len(_VOCAB.actions)
FC7_DIM = 512
SKELETON_DIM = 16 * 13 * 13
HUMAN_DIM = 2048
SCENE_DIM = 1024
PART_DIM = 1024
CHECKPOINT_FORMAT = "a2v-pasta/1"


class CheckpointError(RuntimeError):
    """A checkpoint that does not fit the network, phrased as one line with the fix."""


# --------------------------------------------------------------------------------------------- ResNet-50 v1

class Bottleneck(nn.Module):
    """ResNet v1 bottleneck with the stride on the first 1×1 conv (Caffe / TF-Faster-R-CNN style)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _make_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * 4:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(planes * 4))
    layers = [Bottleneck(inplanes, planes, stride, downsample)]
    layers += [Bottleneck(planes * 4, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNet50V1(nn.Module):
    """conv1, bn1, layer1-4 ([3, 4, 6, 3] blocks, strides 1, 2, 2, 1); no fc. Used through PastaNet."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = _make_layer(64, 64, 3, 1)
        self.layer2 = _make_layer(256, 128, 4, 2)
        self.layer3 = _make_layer(512, 256, 6, 2)
        self.layer4 = _make_layer(1024, 512, 3, 1)


# ---------------------------------------------------------------------------------------------- the network

@dataclass
class PastaOutput:
    """Outputs for N persons; see the module docstring."""

    group_logits: list
    verb_logits: torch.Tensor
    visual: torch.Tensor

    @property
    def pasta_logits(self) -> torch.Tensor:
        return torch.cat(self.group_logits, dim=1)

    @property
    def pasta_probs(self) -> torch.Tensor:
        return torch.sigmoid(self.pasta_logits)

    @property
    def verb_probs(self) -> torch.Tensor:
        return torch.sigmoid(self.verb_logits)


def _skeleton_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(32, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2))


def _fc7(in_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, FC7_DIM), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(FC7_DIM, FC7_DIM), nn.ReLU(inplace=True), nn.Dropout(dropout))


def group_input_dim(group: int) -> int:
    """7824 for two-part groups, 6800 for hip and head."""
    return len(GROUP_PARTS[group]) * PART_DIM + HUMAN_DIM + SCENE_DIM + SKELETON_DIM


class PastaNet(nn.Module):
    """ResNet-50 trunk + ROI features + 6 PaSta heads + verb head, official v1 layout (module docstring)."""

    def __init__(self, dropout: float = 0.5, freeze_trunk: bool = True) -> None:
        super().__init__()
        # Registration order = the official state-dict order.
        self.resnet50 = ResNet50V1()
        r = self.resnet50
        # TF "same" padding: 3 px around the 7×7/2 conv, 1 px before the 3×3/2 max-pool (after a ReLU, so
        # zero padding equals -inf padding). Slots 0-1 and 5-6 are the official padding slots (no
        # parameters), so 2, 3, 8, 9, 10 carry the official names.
        self.image_to_head = nn.Sequential(
            nn.ZeroPad2d(3), nn.Identity(), r.conv1, r.bn1, nn.ReLU(inplace=True),
            nn.ZeroPad2d(1), nn.Identity(), nn.MaxPool2d(3, stride=2, padding=0),
            r.layer1, r.layer2, r.layer3)
        self.resnet_layer4 = r.layer4
        self.fc7_parts = nn.ModuleList(_fc7(group_input_dim(g), dropout) for g in range(len(GROUPS)))
        self.part_cls_scores = nn.ModuleList(nn.Linear(FC7_DIM, n) for n in GROUP_SIZES)
        self.verb_cls_scores = nn.Linear(FC7_DIM * len(GROUPS), NUM_VERBS)
        self.pool2_flat_pose_maps = nn.ModuleList(_skeleton_cnn() for _ in GROUPS)
        self.freeze_trunk = freeze_trunk
        if freeze_trunk:
            for p in self.resnet50.parameters():
                p.requires_grad_(False)

    # ------------------------------------------------------------------------------------- train helpers

    def train(self, mode: bool = True) -> "PastaNet":
        super().train(mode)
        if self.freeze_trunk:
            # A frozen trunk keeps its BN running statistics (the official code lets them drift).
            for m in self.resnet50.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def set_trainable(self, modules: Iterable[str]) -> None:
        """Give gradients only to the named heads: any of foot, leg, hip, hand, arm, head, verb.

        A group's head is its skeleton CNN, fc7 and classifier. The trunk stays frozen.
        """
        names = list(modules)
        unknown = [m for m in names if m not in GROUPS and m != "verb"]
        if unknown:
            raise ValueError(f"set_trainable: unknown module(s) {unknown}; choose from "
                             f"{', '.join(GROUPS + ('verb',))}")
        for p in self.parameters():
            p.requires_grad_(False)
        for g, group in enumerate(GROUPS):
            if group in names:
                for module in (self.fc7_parts[g], self.part_cls_scores[g], self.pool2_flat_pose_maps[g]):
                    for p in module.parameters():
                        p.requires_grad_(True)
        if "verb" in names:
            for p in self.verb_cls_scores.parameters():
                p.requires_grad_(True)
        self.freeze_trunk = True
        self.train(self.training)

    # -------------------------------------------------------------------------------------------- forward

    def conv4(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) preprocessed images → (B, 1024, ceil(H/16), ceil(W/16)) conv4 map (stride 16)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_trunk):
            return self.image_to_head(images)

    def roi_features(self, head: torch.Tensor, human_boxes: torch.Tensor, part_boxes: torch.Tensor,
                     image_index: Optional[torch.Tensor] = None, layer4: Optional[nn.Module] = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Human (N, 2048), parts (N, 10, 1024) and scene (N, 1024) features from conv4 maps (B, C, h, w).

        One ``grid_sample`` per image crops the human box and the 10 part boxes of all its persons.
        ``layer4`` replaces ``resnet_layer4`` (the BN-folded copy of :func:`fuse_for_inference`).
        """
        n = human_boxes.shape[0]
        b, c = head.shape[:2]
        boxes = torch.cat([human_boxes.reshape(n, 1, 4), part_boxes.reshape(n, NUM_PARTS, 4)], dim=1)
        boxes = boxes.to(device=head.device, dtype=torch.float32).reshape(-1, 4)
        scene_per_image = head.mean(dim=(2, 3))                                             # (B, C)
        if b == 1 or image_index is None:
            crops = roi_crop(head[:1], boxes)
            scene = scene_per_image[:1].expand(n, c)
        else:
            image_index = image_index.to(head.device).long()
            crops = head.new_zeros((n * (NUM_PARTS + 1), c, POOL_SIZE, POOL_SIZE))
            flat_index = image_index.repeat_interleave(NUM_PARTS + 1)
            for i in range(b):
                rows = (flat_index == i).nonzero(as_tuple=True)[0]
                if rows.numel():
                    crops[rows] = roi_crop(head[i:i + 1], boxes[rows])
            scene = scene_per_image[image_index]
        crops = crops.reshape(n, NUM_PARTS + 1, c, POOL_SIZE, POOL_SIZE)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_trunk):
            human = (layer4 or self.resnet_layer4)(crops[:, 0]).mean(dim=(2, 3))
        parts = crops[:, 1:].mean(dim=(3, 4))
        return human, parts, scene

    def heads(self, human: torch.Tensor, parts: torch.Tensor, scene: torch.Tensor,
              skeletons: torch.Tensor) -> PastaOutput:
        """PaSta and verb heads on per-person features: human (N, 2048), parts (N, 10, 1024), scene
        (N, 1024), skeletons (N, 64, 64) or (N, 1, 64, 64)."""
        n = human.shape[0]
        if skeletons.dim() == 3:
            skeletons = skeletons.unsqueeze(1)
        dtype = human.dtype
        parts, scene = parts.to(dtype), scene.to(dtype)
        skeletons = skeletons.to(device=human.device, dtype=dtype)
        fc7s, logits = [], []
        for g, part_ids in enumerate(GROUP_PARTS):
            pose = self.pool2_flat_pose_maps[g](skeletons).reshape(n, -1)
            features = [parts[:, i] for i in part_ids] + [human, scene, pose.to(dtype)]
            fc7 = self.fc7_parts[g](torch.cat(features, dim=1))
            fc7s.append(fc7)
            logits.append(self.part_cls_scores[g](fc7))
        visual = torch.cat(fc7s, dim=1)
        return PastaOutput(group_logits=logits, verb_logits=self.verb_cls_scores(visual), visual=visual)

    def forward(self, images: torch.Tensor, human_boxes: torch.Tensor, part_boxes: torch.Tensor,
                skeletons: torch.Tensor, image_index: Optional[torch.Tensor] = None) -> PastaOutput:
        if images.dim() == 3:
            images = images.unsqueeze(0)
        head = self.conv4(images)
        human, parts, scene = self.roi_features(head, human_boxes, part_boxes, image_index)
        return self.heads(human, parts, scene, skeletons)

    # ---------------------------------------------------------------------------------------- checkpoints

    def load_checkpoint(self, source: Union[str, Path, dict], strict: bool = True) -> None:
        """Load the official ``pretrained_model.pth``, our own checkpoint, or a state dict.

        ``source``: a registered weights name (``a2v_v1``), a path, or a dict (``{name: tensor}`` or
        ``{"model_state_dict": {...}}``). A state dict with only the ``resnet50.*`` trunk names (no
        ``image_to_head.*`` / ``resnet_layer4.*`` aliases) is completed from them. Raises
        :class:`CheckpointError` (one line) on missing, unexpected or mis-shaped tensors.
        """
        if isinstance(source, dict):
            state = dict(source.get("model_state_dict", source))
        else:
            from engine.weights.store import load_state_dict

            state = load_state_dict(source)
        state = complete_aliases(state)
        own = self.state_dict()
        wrong = [f"{k}: file {tuple(v.shape)}, model {tuple(own[k].shape)}"
                 for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
        if wrong:
            raise CheckpointError(f"checkpoint does not fit the A2V v1 network: {len(wrong)} shape mismatches "
                                  f"(e.g. {wrong[0]}); use the official pretrained_model.pth or a checkpoint "
                                  f"saved by this project")
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            detail = []
            if missing:
                detail.append(f"{len(missing)} missing (e.g. {missing[0]})")
            if unexpected:
                detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
            raise CheckpointError(f"checkpoint does not fit the A2V v1 network: {', '.join(detail)}; use the "
                                  f"official pretrained_model.pth or a checkpoint saved by this project")
        self.load_state_dict(state, strict=strict)


def _fold_bn(layers: nn.Sequential) -> nn.Sequential:
    """A copy of a ResNet stage (Sequential of Bottlenecks) with every BatchNorm folded into its conv."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(layers)
    for block in folded:
        block.conv1, block.bn1 = fuse_conv_bn_eval(block.conv1, block.bn1), nn.Identity()
        block.conv2, block.bn2 = fuse_conv_bn_eval(block.conv2, block.bn2), nn.Identity()
        block.conv3, block.bn3 = fuse_conv_bn_eval(block.conv3, block.bn3), nn.Identity()
        if block.downsample is not None:
            block.downsample = fuse_conv_bn_eval(block.downsample[0], block.downsample[1])
    return folded


class FusedPastaNet(nn.Module):
    """Inference-only view of a :class:`PastaNet`: trunk and layer4 with BatchNorm folded into the convs
    (about 10-15 % less CPU time: no separate BN passes over the large conv maps); the heads are the
    net's own modules (shared, not copied). Same inputs and outputs as ``PastaNet.forward``; numbers equal
    up to float32 rounding. Built from the net's weights at call time: rebuild after loading new ones.
    """

    def __init__(self, net: PastaNet) -> None:
        super().__init__()
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        seq = net.image_to_head
        stem = fuse_conv_bn_eval(copy.deepcopy(seq[2]), seq[3])
        self.trunk = nn.Sequential(seq[0], stem, nn.ReLU(inplace=True), seq[5], seq[7],
                                   _fold_bn(seq[8]), _fold_bn(seq[9]), _fold_bn(seq[10]))
        self.layer4 = _fold_bn(net.resnet_layer4)
        self.net = [net]   # a list, so the shared net is not registered twice as a submodule
        self.channels_last = False
        self.eval()

    def use_channels_last(self) -> "FusedPastaNet":
        """NHWC convolutions for the trunk and layer4 (faster fp16 tensor-core convs on CUDA, faster oneDNN
        convs on a CPU)."""
        self.trunk.to(memory_format=torch.channels_last)
        self.layer4.to(memory_format=torch.channels_last)
        self.channels_last = True
        return self

    def forward(self, images: torch.Tensor, human_boxes: torch.Tensor, part_boxes: torch.Tensor,
                skeletons: torch.Tensor, image_index: Optional[torch.Tensor] = None) -> PastaOutput:
        net = self.net[0]
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        head = self.trunk(images)
        human, parts, scene = net.roi_features(head, human_boxes, part_boxes, image_index, layer4=self.layer4)
        return net.heads(human, parts, scene, skeletons)


def fuse_for_inference(net: PastaNet) -> FusedPastaNet:
    """The BN-folded inference view of ``net`` (eval mode; see :class:`FusedPastaNet`)."""
    return FusedPastaNet(net.eval())


_ALIASES = (("image_to_head.2.", "resnet50.conv1."), ("image_to_head.3.", "resnet50.bn1."),
            ("image_to_head.8.", "resnet50.layer1."), ("image_to_head.9.", "resnet50.layer2."),
            ("image_to_head.10.", "resnet50.layer3."), ("resnet_layer4.", "resnet50.layer4."))


def complete_aliases(state: dict) -> dict:
    """Fill missing ``image_to_head.*`` / ``resnet_layer4.*`` names from ``resnet50.*`` (and back)."""
    state = dict(state)
    for alias, base in _ALIASES:
        for key in list(state):
            if key.startswith(base) and alias + key[len(base):] not in state:
                state[alias + key[len(base):]] = state[key]
            elif key.startswith(alias) and base + key[len(alias):] not in state:
                state[base + key[len(alias):]] = state[key]
    return state


def save_checkpoint(model: PastaNet, path: Union[str, Path], **meta) -> Path:
    """Save ``{"format": "a2v-pasta/1", "model_state_dict": ..., **meta}`` (loads with load_checkpoint).

    ``meta`` values must be plain (str, int, float, list, dict) so safe loading (weights_only) reads them.
    Aliased names share storage, so the file holds each tensor once.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": CHECKPOINT_FORMAT, "model_state_dict": model.state_dict(), **meta}, path)
    return path


def init_trunk_from_torchvision(model: PastaNet, state_dict: dict) -> list[str]:
    """Copy a torchvision ImageNet ResNet-50 state dict (``resnet50-*.pth``) into the trunk.

    Names map one to one (conv1, bn1, layer1-4 with the same block layout; ``fc.*`` is dropped).
    Differences, acceptable for an initialisation: torchvision puts the stride on the 3×3 conv (here on the
    first 1×1) and takes RGB scaled to [0, 1] divided by the ImageNet std, while this trunk takes BGR minus
    PIXEL_MEANS_BGR in 0-255 units; conv1's input channels are therefore reversed (RGB → BGR) and divided
    by 255·std, so the first layer sees about the inputs it was trained on (the small mean difference is
    left to fine-tuning). Returns the names copied.
    """
    std_rgb = torch.tensor([0.229, 0.224, 0.225])
    own = model.resnet50.state_dict()
    copied = []
    with torch.no_grad():
        for key, value in state_dict.items():
            if key not in own:
                continue
            value = value.detach().to(own[key].dtype)
            if key == "conv1.weight":
                value = (value / (255.0 * std_rgb.view(1, 3, 1, 1))).flip(1)
            if tuple(value.shape) != tuple(own[key].shape):
                raise CheckpointError(f"torchvision weight {key} has shape {tuple(value.shape)}, expected "
                                      f"{tuple(own[key].shape)}; pass a ResNet-50 state dict")
            own[key].copy_(value)
            copied.append(key)
    return copied


def preprocess(image_bgr: np.ndarray, device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """(H, W, 3) BGR uint8 → (1, 3, H, W) float32 BGR minus PIXEL_MEANS_BGR (no scaling), on ``device``.

    The uint8 image is moved first and converted there (4× less to copy to a GPU).
    """
    tensor = torch.from_numpy(np.ascontiguousarray(image_bgr)).to(device)
    mean = torch.tensor(PIXEL_MEANS_BGR, dtype=torch.float32, device=tensor.device)
    return (tensor.to(torch.float32) - mean).permute(2, 0, 1).unsqueeze(0).contiguous()

"""Training/evaluation view of the PaSta network (``engine.a2v.net.PastaNet``).

A thin wrapper over PastaNet's own pieces (``conv4``, ``roi_features``, ``heads``, ``set_trainable``,
``load_checkpoint``) that splits the forward into the two halves training needs:

1. ``roi_features(image, batch)``: frozen trunk (conv4), scene feature, human layer4 feature, the 10
   part ROI features and the skeleton maps -- no gradients, BatchNorm in eval mode, so the result can be
   cached per image (``train.cache_features``);
2. ``head_logits(features)``: per-group skeleton CNN, fc7 and classifier, the verb layer -- the trainable
   part, with dropout active in training.

The heads' ``nn.Dropout`` layers are swapped for :class:`RowSeededDropout` (no parameters, identical
behaviour outside training steps), so each image's dropout masks come from a seed of its own and a
multi-process run computes exactly what one process computes. ``net.state_dict()`` keeps the official
names: a checkpoint the A2V stage loads.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch
from torch import nn

from engine.a2v.net import GROUP_SIZES, GROUPS, NUM_VERBS
from engine.training.data.records import DataError

# Trainable heads and their class counts, from the vocabulary (via PastaNet's layout): six groups + verb.
MODULE_SIZES = {**dict(zip(GROUPS, GROUP_SIZES)), "verb": NUM_VERBS}
GROUP_ORDER = GROUPS


@dataclass
class RoiFeatures:
    """ROI features of N persons of one image: ``parts`` (N, 10, 1024), ``human`` (N, 2048),
    ``scene`` (1024,), ``skeleton`` (N, 1, 64, 64) maps."""

    parts: torch.Tensor
    human: torch.Tensor
    scene: torch.Tensor
    skeleton: torch.Tensor

    def select(self, rows: np.ndarray) -> "RoiFeatures":
        index = torch.as_tensor(rows, dtype=torch.long, device=self.parts.device)
        return RoiFeatures(self.parts[index], self.human[index], self.scene, self.skeleton[index])


def _torch_load(path) -> object:
    """``torch.load`` (weights only) with a one-line error for files that are not checkpoints."""
    from engine.weights.registry import WeightsError
    from engine.weights.store import load_checkpoint

    try:
        # The store's loader: regular files only (never /dev/zero), and one line for Python objects inside.
        return load_checkpoint(path)
    except WeightsError as exc:
        raise DataError(str(exc)) from None
    except Exception as exc:  # torch raises many types for a bad file; the user needs one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable checkpoint ({first[:160]})") from None


def _state_dict_of(obj, path) -> dict:
    if isinstance(obj, dict) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataError(f"{path}: not a PaSta checkpoint (expected a state dict or a dict with "
                        "'model_state_dict')")
    return obj


class RowSeededDropout(nn.Module):
    """``nn.Dropout`` whose masks, in training, are drawn per image from a seed of that image.

    ``row_seeds`` (set by the training step for one forward) is a list of (rows, seed): the mask of those
    rows comes from a generator seeded with ``seed`` and this layer's ``salt``. So a person's mask does not
    depend on which other images share the batch or the process -- one process and N processes on the
    same global batch draw the same masks. With ``row_seeds`` unset it is exactly ``nn.Dropout``.
    Holds no parameters or buffers: the state dict does not change.
    """

    def __init__(self, p: float, salt: int):
        super().__init__()
        self.p = p
        self.salt = salt
        self.row_seeds: Optional[list[tuple[int, int]]] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.row_seeds is None:
            return nn.functional.dropout(x, self.p, True)
        keep = torch.empty_like(x)
        start = 0
        for rows, seed in self.row_seeds:
            generator = torch.Generator(device=x.device)
            generator.manual_seed((seed * 1_000_003 + self.salt) % (1 << 63))
            keep[start:start + rows] = torch.rand((rows,) + tuple(x.shape[1:]), generator=generator,
                                                  device=x.device, dtype=x.dtype)
            start += rows
        return x * (keep >= self.p).to(x.dtype) / (1.0 - self.p)


class _HeadLoss(nn.Module):
    """Per-image weighted BCE of the trained modules; the module DDP wraps (it owns the whole net).

    All persons of all images of the step go through the heads in one batch; each image's loss is
    ``sum over modules of mean over (its persons x classes) of w_c * BCE``.
    """

    def __init__(self, owner: "TrainableA2V"):
        super().__init__()
        self.net = owner.net
        self._owner = [owner]  # a list keeps the wrapper out of the module tree

    def forward(self, inputs, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        owner = self._owner[0]
        device = owner.device
        counts = [len(batch.boxes) for batch, _, _ in inputs]
        feats = RoiFeatures(
            parts=torch.cat([f.parts for _, f, _ in inputs]),
            human=torch.cat([f.human for _, f, _ in inputs]),
            scene=torch.cat([f.scene.reshape(1, -1).expand(n, -1) for n, (_, f, _) in zip(counts, inputs)]),
            skeleton=torch.cat([f.skeleton for _, f, _ in inputs]))
        row_seeds = [(n, seed) for n, (_, _, seed) in zip(counts, inputs)]
        for layer in owner.dropouts:
            layer.row_seeds = row_seeds
        try:
            group_logits, verb_logits, _ = owner.head_logits(feats, per_person_scene=True)
        finally:
            for layer in owner.dropouts:
                layer.row_seeds = None
        image_of_row = torch.repeat_interleave(torch.arange(len(counts), device=device),
                                               torch.as_tensor(counts, device=device))
        rows_per_image = torch.as_tensor(counts, dtype=torch.float32, device=device)
        losses = torch.zeros(len(counts), device=device)

        def add(logits, target, w):
            bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
            per_row = (bce * w).mean(dim=1)
            return torch.zeros_like(losses).index_add(0, image_of_row, per_row) / rows_per_image

        pasta = torch.as_tensor(np.concatenate([b.pasta for b, _, _ in inputs]), device=device)
        for g, name in enumerate(GROUP_ORDER):
            if name in weights:
                losses = losses + add(group_logits[g], pasta[:, owner.group_slices[g]], weights[name])
        if "verb" in weights:
            verbs = torch.as_tensor(np.concatenate([b.verbs for b, _, _ in inputs]), device=device)
            losses = losses + add(verb_logits, verbs, weights["verb"])
        return losses


class TrainableA2V:
    """A PastaNet with the training controls: which modules learn, frozen trunk, split forward."""

    def __init__(self, net: nn.Module, device: torch.device | str = "cpu"):
        from engine.vocab import load_vocab

        vocab = load_vocab()
        self.device = torch.device(device)
        self.net = net.to(self.device)
        self.group_parts = vocab.group_parts
        self.group_slices = vocab.group_slices
        self.trained: tuple[str, ...] = ()
        self._loss = None
        # the heads' dropout layers become RowSeededDropout (same behaviour, per-image masks in training)
        self.dropouts: list[RowSeededDropout] = []
        for g, fc7 in enumerate(self.net.fc7_parts):
            for i, layer in enumerate(fc7):
                if isinstance(layer, nn.Dropout):
                    fc7[i] = RowSeededDropout(layer.p, salt=100 * g + i)
                    self.dropouts.append(fc7[i])
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.net.eval()

    # ------------------------------------------------------------------------------------ construction
    @classmethod
    def build(cls, init: str = "", device: torch.device | str = "cpu") -> "TrainableA2V":
        """A new network (random weights from the current torch seed), optionally started from ``init``.

        ``init`` may hold only part of the weights (the official ``pretrained_res50.pth`` has the trunk);
        the names it does not have keep their new values. Unknown names are an error.
        """
        from engine.a2v.net import PastaNet, complete_aliases

        net = PastaNet()
        if init:
            path = Path(init)
            if not path.is_file():
                raise DataError(f"model.init: {path} not found; give a checkpoint path or leave it empty")
            state = _state_dict_of(_torch_load(path), path)
            unknown = [k for k in complete_aliases(state) if k not in net.state_dict()]
            if unknown:
                raise DataError(f"model.init: {path} has weights this network does not know "
                                f"(e.g. {unknown[0]}); is it an A2V v1 checkpoint?")
            net.load_checkpoint(state, strict=False)
        return cls(net, device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> "TrainableA2V":
        """Load a full checkpoint strictly (ours or the official one)."""
        from engine.a2v.net import PastaNet

        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: checkpoint not found")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        net = PastaNet()
        net.load_checkpoint(_state_dict_of(_torch_load(path), path), strict=True)
        return cls(net, device)

    # ----------------------------------------------------------------------------------------- training
    def set_trainable(self, modules: Iterable[str]) -> None:
        """Only ``modules`` (group names and/or "verb") get gradients; the trunk and the rest are frozen."""
        self.net.set_trainable(modules)
        self.trained = tuple(modules)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.net.parameters() if p.requires_grad]

    def train_heads(self) -> None:
        """Dropout on in the heads; the frozen trunk keeps BatchNorm in eval mode (PastaNet.train)."""
        self.net.train()

    def loss_module(self) -> nn.Module:
        if self._loss is None:
            self._loss = _HeadLoss(self)
        return self._loss

    # ------------------------------------------------------------------------------------------ forward
    @torch.no_grad()
    def roi_features(self, image_bgr: np.ndarray, batch) -> RoiFeatures:
        """Frozen-trunk features of the persons of ``batch`` (a PersonBatch) in ``image_bgr`` (H, W, 3)."""
        from engine.a2v.net import preprocess
        from engine.a2v.parts import skeleton_maps

        self.net.eval()
        head = self.net.conv4(preprocess(image_bgr, self.device))
        boxes = torch.as_tensor(batch.boxes, dtype=torch.float32, device=self.device)
        parts = torch.as_tensor(batch.part_boxes, dtype=torch.float32, device=self.device)
        human, part_feats, scene = self.net.roi_features(head, boxes, parts)
        h, w = image_bgr.shape[:2]
        maps = skeleton_maps(batch.keypoints, (w, h))  # persons without pose have all-zero keypoints
        skeleton = torch.as_tensor(maps, dtype=torch.float32, device=self.device).reshape(-1, 1, 64, 64)
        return RoiFeatures(part_feats, human, scene[0], skeleton)

    def head_logits(self, feats: RoiFeatures, per_person_scene: bool = False):
        """(6 group logits (N, C_g), verb logits (N, 157), visual (N, 3072)) from PastaNet.heads.

        ``feats.scene`` is (1024,) for one image, or (N, 1024) with ``per_person_scene``.
        """
        n = feats.human.shape[0]
        scene = feats.scene if per_person_scene else feats.scene.reshape(1, -1).expand(n, -1)
        out = self.net.heads(feats.human, feats.parts, scene, feats.skeleton)
        return out.group_logits, out.verb_logits, out.visual

    @torch.no_grad()
    def score(self, image_bgr: np.ndarray, batch) -> tuple[np.ndarray, np.ndarray]:
        """Eval-mode probabilities: PaSta (N, 93) and verbs (N, 157), float32 numpy."""
        feats = self.roi_features(image_bgr, batch)
        self.net.eval()
        group_logits, verb, _ = self.head_logits(feats)
        pasta = torch.sigmoid(torch.cat(group_logits, dim=1))
        return pasta.float().cpu().numpy(), torch.sigmoid(verb).float().cpu().numpy()

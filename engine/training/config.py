"""Typed, validated configuration for ``train`` and ``eval`` (``configs/train/*.yaml``).

A schema of its own (the inference ``Config`` of ``engine/config.py`` is not touched), checked with the
same helpers, so errors read the same: ``configs/train/x.yaml:7: train.lr: expected a number, got 'fast'``.
Fields may be lists of strings (``modules: [foot, hand]``); on the command line a list is written
``--set train.modules=[foot,hand]`` or ``--set train.modules=foot,hand``.

Relative paths in the config (data, outputs, init weights) are relative to the current directory.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from engine.config import (
    ConfigError,
    _list_opt,
    _opt,
    apply_file,
    apply_node,
    apply_override,
)
from engine.vocab import load_vocab

GROUPS = load_vocab().groups
MODULES = GROUPS + ("verb",)



@dataclass
class TrainDataConfig:
    train: str = _opt("", help="training annotations: Trainval_HAKE LMDB folder or a2v-hake/1 .json")
    test_gt: str = _opt("", help="evaluation ground truth: LMDB/.json in the training layout, or the "
                                 "official gt_pasta_data.pkl (gt_verb_data.pkl next to it)")
    test_pred: str = _opt("", help="evaluation detections: Test_pred_rcnn LMDB or .json; empty = "
                                   "the ground-truth boxes with score 1")
    image_root: str = _opt("", help="folder holding the images; an image's path is <image_root>/<key>")
    splits: list[str] = _list_opt((), help="key prefixes (\"<split>/...\") used for training; [] = all")
    test_splits: list[str] = _list_opt((), help="key prefixes used for evaluation; [] = all")
    max_side: int = _opt(512, min=32, help="training images are scaled down so the long side <= this")
    humans_per_image: int = _opt(10, min=1, help="persons per training image: all annotated + "
                                                "at most humans_per_image - 1 random negatives")
    loss_weights: str = _opt("", help="official loss_weights.npy (dict module -> per-class weights); "
                                      "empty = computed from label frequencies")


@dataclass
class TrainModelConfig:
    init: str = _opt("", help="weights to start from (a2v checkpoint or official pretrained_res50.pth); "
                              "empty = random (tests only)")


@dataclass
class TrainLoopConfig:
    modules: list[str] = _list_opt(GROUPS, choices=MODULES,
                                   help="heads to train (the rest, and the trunk, stay frozen)")
    lr: float = _opt(1e-4, min=0, help="base learning rate (official: 2e-5 .. 2.5e-3 per module)")
    momentum: float = _opt(0.9, min=0)
    weight_decay: float = _opt(0.0, min=0)
    schedule: str = _opt("cosine", choices=("constant", "cosine"),
                         help="cosine = cosine annealing with warm restarts, stepped every iteration")
    cosine_t0_epochs: float = _opt(2.0, min=0.001, help="first cosine period, in epochs (official 2)")
    cosine_t_mult: int = _opt(2, min=1, help="period multiplier after each restart (official 2)")
    epochs: int = _opt(100, min=1)
    max_iters: int = _opt(0, min=0, help="stop after this many iterations (0 = run all epochs)")
    batch_images: int = _opt(1, min=1, help="images per iteration over all processes (official 1)")
    seed: int = _opt(3, min=0, help="seeds data order, negatives, dropout and new weights")
    checkpoint_every: int = _opt(50000, min=1, help="iterations between checkpoints (and one at the end)")
    log_every: int = _opt(10, min=1, help="iterations between loss-log lines")
    output_dir: str = _opt("runs/train", help="checkpoints, loss.jsonl and the effective config go here")
    resume: str = _opt("", help="'' = start fresh, 'auto' = last checkpoint in output_dir, or a path")
    cache_features: bool = _opt(False, help="run the frozen trunk once per image and keep its ROI features "
                                            "in memory (same numbers, much faster; ~53 KB per person)")
    progress: bool = _opt(True, help="progress bar on stderr")
    eval_at_end: bool = _opt(True, help="run the benchmark after training when data.test_gt is set")


@dataclass
class EvalConfig:
    human_score_enhance: bool = _opt(True, help="multiply PaSta and verb scores by the detection score")
    iou_threshold: float = _opt(0.3, min=0)
    output: str = _opt("", help="folder for benchmark.json and benchmark.txt ('' = next to the checkpoint)")
    max_side: int = _opt(0, min=0, help="scale test images down to this long side (0 = original size, official)")


@dataclass
class TrainConfig:
    device: str = _opt("auto", help="auto | cpu | cuda | cuda:N (under torchrun: cuda:<local rank>)")
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    model: TrainModelConfig = field(default_factory=TrainModelConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------- checking

def load_train_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Defaults (the dataclasses) <- ``path`` <- each ``--set``; then cross-field checks."""
    config = TrainConfig()
    if path is not None:
        apply_file(config, path)
    for assignment in overrides:
        apply_override(config, assignment)
    where = str(path) if path is not None else "config"
    if not config.train.modules:
        raise ConfigError(f"{where}: train.modules: choose at least one of {', '.join(MODULES)}")
    if len(set(config.train.modules)) != len(config.train.modules):
        raise ConfigError(f"{where}: train.modules: {config.train.modules} lists a module twice")
    return config


def from_dict(data: dict) -> TrainConfig:
    """Rebuild a TrainConfig from ``to_dict()`` output (stored in checkpoints), with the same checks."""
    config = TrainConfig()
    node = yaml.compose(yaml.safe_dump(data), Loader=yaml.SafeLoader)
    apply_node(config, node, "checkpoint config", "")
    return config


def describe(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)

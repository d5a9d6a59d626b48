"""Typed, validated configuration for ``train`` and ``eval`` (``configs/train/*.yaml``).

A schema of its own (the inference ``Config`` of ``engine/config.py`` is not touched), checked with the
same helpers, so errors read the same: ``configs/train/x.yaml:7: train.lr: expected a number, got 'fast'``.
Fields may be lists of strings (``modules: [foot, hand]``); on the command line a list is written
``--set train.modules=[foot,hand]`` or ``--set train.modules=foot,hand``.

Relative paths in the config (data, outputs, init weights) are relative to the current directory.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from engine.config import ConfigError, _coerce, _fields, _opt, _type_name

MODULES = ("foot", "leg", "hip", "hand", "arm", "head", "verb")


def _list_opt(default: Iterable[str], *, choices: Iterable[str] | None = None, help: str = ""):
    meta = {"help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    return field(default_factory=lambda: list(default), metadata=meta)


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
    modules: list[str] = _list_opt(("foot", "leg", "hip", "hand", "arm", "head"), choices=MODULES,
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

def _is_list(tp) -> bool:
    return typing.get_origin(tp) is list


def _coerce_list(value: Any, f: dataclasses.Field, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        value = [v for v in (s.strip() for s in value.split(",")) if v]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: {key}: expected a list of strings, got {value!r}")
    out = []
    for item in value:
        if isinstance(item, (list, dict)) or item is None:
            raise ConfigError(f"{where}: {key}: expected a list of strings, got item {item!r}")
        item = str(item)
        choices = f.metadata.get("choices")
        if choices and item not in choices:
            raise ConfigError(f"{where}: {key}: {item!r} is not one of {', '.join(choices)}")
        out.append(item)
    return out


def _apply_node(obj, node: yaml.Node, path: str, prefix: str) -> None:
    if not isinstance(node, yaml.MappingNode):
        where = f"{path}:{node.start_mark.line + 1}"
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'}: expected a mapping of keys")
    fields = _fields(obj)
    for key_node, value_node in node.value:
        key = key_node.value
        where = f"{path}:{key_node.start_mark.line + 1}"
        dotted = prefix + str(key)
        if key not in fields:
            raise ConfigError(f"{where}: {dotted}: unknown key (known here: {', '.join(fields)})")
        f, tp = fields[key]
        if dataclasses.is_dataclass(tp):
            _apply_node(getattr(obj, key), value_node, path, dotted + ".")
            continue
        value = yaml.safe_load(yaml.serialize(value_node))
        if _is_list(tp):
            setattr(obj, key, _coerce_list(value, f, where, dotted))
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            raise ConfigError(f"{where}: {dotted}: expected {_type_name(tp)}, got a list or mapping")
        setattr(obj, key, _coerce(value, f, tp, where, dotted))


def apply_file(config: TrainConfig, path: str | Path) -> None:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror}); check the --config path") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: YAML syntax error: {problem}") from None
    if node is not None:
        _apply_node(config, node, str(path), "")


def apply_override(config: TrainConfig, assignment: str) -> None:
    """Apply one ``--set a.b=value`` (value parsed as YAML; lists as ``[a,b]`` or ``a,b``)."""
    where = f"--set {assignment}"
    if "=" not in assignment:
        raise ConfigError(f"{where}: expected key=value, e.g. --set train.lr=0.001")
    dotted, raw = assignment.split("=", 1)
    dotted = dotted.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    obj = config
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        fields = _fields(obj)
        if part not in fields:
            raise ConfigError(f"{where}: {'.'.join(parts[:i + 1])}: unknown key (known here: {', '.join(fields)})")
        f, tp = fields[part]
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(tp):
                raise ConfigError(f"{where}: {dotted}: is a section; set one of its keys")
            if _is_list(tp):
                setattr(obj, part, _coerce_list(value, f, where, dotted))
            else:
                setattr(obj, part, _coerce(value, f, tp, where, dotted))
        else:
            if not dataclasses.is_dataclass(tp):
                raise ConfigError(f"{where}: {'.'.join(parts[:i + 1])}: is not a section")
            obj = getattr(obj, part)


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
    _apply_node(config, node, "checkpoint config", "")
    return config


def describe(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)

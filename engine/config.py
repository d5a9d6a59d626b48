"""Typed, validated configuration: ``configs/default.yaml`` + ``--config FILE`` + ``--set key=value``.

Every section is a dataclass below; its fields are the only accepted keys. Values are checked against the
field's type (and ``choices`` / ``min`` in the field metadata). Errors are one line naming the file, the
line and the dotted key, e.g. ``configs/my.yaml:12: tracker.max_age: expected an integer, got 'ten'``.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from engine.paths import DEFAULT_CONFIG


class ConfigError(ValueError):
    """A config problem, already phrased as one line for the user."""


def _opt(default, *, choices: Iterable[str] | None = None, min: float | None = None, help: str = ""):
    meta = {"help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if min is not None:
        meta["min"] = min
    return field(default=default, metadata=meta)


def _list_opt(default: Iterable[str], *, choices: Iterable[str] | None = None, help: str = ""):
    """A list-of-strings field (YAML list, or ``a,b`` / ``[a,b]`` on the command line)."""
    meta = {"help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    return field(default_factory=lambda: list(default), metadata=meta)


@dataclass
class SourceConfig:
    reconnect_seconds: float = _opt(10.0, min=0, help="how long a lost live stream is retried")
    live_buffer: int = _opt(1, min=1, help="frames a live source keeps (1 = latest frame wins)")
    finite_stream: bool = _opt(False, help="a network stream's end (EOF) ends the run; false = a lost "
                                           "connection, retried for reconnect_seconds")
    image_fps: float = _opt(10.0, min=0.001, help="frame rate assumed for image folders")
    width: int = _opt(0, min=0, help="requested webcam width (0 = camera default)")
    height: int = _opt(0, min=0, help="requested webcam height (0 = camera default)")
    images: str = _opt("auto", choices=("auto", "independent", "sequence"),
                       help="image folders/globs/lists: independent photos (pose on each, persons numbered "
                            "per image) or a tracked frame sequence; auto = sequence only for consecutively "
                            "numbered frames of one size")


@dataclass
class PoseConfig:
    backend: str = _opt("auto", choices=("auto", "keypoint_rcnn", "mediapipe", "mediapipe_multi", "none"),
                        help="auto = Keypoint R-CNN on CUDA; on a CPU mediapipe per detector box when the "
                             "detector weights are cached, else mediapipe_multi")
    score_threshold: float = _opt(0.7, min=0, help="person detection score threshold")
    min_size: int = _opt(512, min=32, help="Keypoint R-CNN input size (short side, pixels)")
    batch_size: int = _opt(1, min=1, help="frames per Keypoint R-CNN and A2V call for file sources")
    detector: str = _opt("auto", choices=("auto", "fasterrcnn", "none"),
                         help="person detector in front of mediapipe per box (auto: used when cached with "
                              "pose.backend auto, fetched once with pose.backend mediapipe; fasterrcnn: always)")
    max_persons: int = _opt(10, min=1, help="most persons kept per frame (largest boxes first)")
    fp16: bool = _opt(True, help="fp16 autocast on CUDA")
    weights: str = _opt("keypointrcnn_resnet50_fpn_coco",
                        help="Keypoint R-CNN weights: a registered name (python main.py weights list) or a path")
    detector_weights: str = _opt("fasterrcnn_mobilenet_v3_large_fpn_coco",
                                 help="person detector weights: a registered name or a path")
    mediapipe_confidence: float = _opt(0.8, min=0,
                                       help="mediapipe's own person threshold with no detector "
                                            "(lower finds more, and more false people)")
    multi_detector_interval: int = _opt(
        25, min=1, help="mediapipe_multi: run the tiled person detector every k-th frame (at once on a cut; "
                        "a lost person is looked for where they were on the next frame)")
    multi_tiles: list[str] = _list_opt(("1", "2", "3"), choices=("1", "2", "3", "4", "5", "6"),
                                       help="mediapipe_multi: the detector sees the frame as n x n tiles for "
                                            "each n (1 = whole frame; more finds smaller people, slower)")
    multi_tile_overlap: float = _opt(0.25, min=0, help="mediapipe_multi: overlap of neighbouring tiles "
                                                       "(fraction of a tile, below 1)")
    multi_score_threshold: float = _opt(0.5, min=0, help="mediapipe_multi: minimum person detector score")
    multi_nms_threshold: float = _opt(0.3, min=0, help="mediapipe_multi: head-box IoU above which two "
                                                       "detections are one person")
    multi_cores: int = _opt(2, min=1, help="mediapipe_multi: CPU cores to use (at most the machine's): a "
                                           "frame's detector views and per-person landmark calls run this "
                                           "many side by side, a lone landmark call on this many threads")


@dataclass
class TrackerConfig:
    """SORT with person-video defaults (trackers/sort.py says why each value)."""
    max_age: int = _opt(30, min=1, help="frames a confirmed track survives unmatched "
                                                 "(30 = 1 s at 30 fps: short occlusions)")
    min_hits: int = _opt(3, min=0, help="matched frames before a track gets an ID (3 drops 1-2 frame false persons)")
    iou_threshold: float = _opt(0.3, min=0, help="minimum IoU between a person box and a track's predicted box")
    second_pass: bool = _opt(True, help="second association with low-score detections (ByteTrack idea)")
    high_score: float = _opt(0.5, min=0, help="detections at or above this score are matched first and start tracks")
    low_score: float = _opt(0.1, min=0, help="detections from low_score up to high_score only keep "
                                                       "tracks alive (second pass)")
    parity: bool = _opt(False, help="behave exactly as the original SORT (its max_age 1, "
                                             "min_hits 3, IoU 0.3; the values above are ignored)")


@dataclass
class A2VConfig:
    enabled: bool = _opt(True, help="run PaSta/actions when weights are available")
    checkpoint: str = _opt("a2v_v1", help="registered weights name or a path to a checkpoint")
    language: str = _opt("auto", help="auto = official .npy if cached, else bert-base-uncased if cached, else "
                                      "minilm (3,840-d vector); or minilm | bert-base-uncased | official | a .npy path")
    mode: str = _opt("fast", choices=("fast", "parity"),
                     help="parity = trunk at full resolution (official); fast = long side scaled to fast_long_side")
    fast_long_side: int = _opt(512, min=32, help="trunk input long side in fast mode")
    stride: int = _opt(1, min=1, help="run A2V every k-th frame; tracks carry results between")
    fp16: bool = _opt(True, help="fp16 autocast on CUDA")
    runtime: str = _opt("auto", choices=("auto", "torch", "onnx", "openvino"),
                        help="auto = fastest installed (CPU: openvino, else onnx, else torch; CUDA: onnx if "
                             "onnxruntime has CUDA, else torch); torch = PyTorch; onnx = ONNX Runtime; openvino "
                             "= OpenVINO (CPU); onnx/openvino run the exported graph, cached per weights")


@dataclass
class RenderConfig:
    box: bool = _opt(True)
    id_badge: bool = _opt(True)
    skeleton: bool = _opt(True)
    part_boxes: bool = _opt(True)
    part_states: bool = _opt(True)
    actions: bool = _opt(True)
    hud: bool = _opt(False, help="a line with fps, stage ms and the pose backend burned into every frame "
                                 "(saved videos too); the GUI shows the same in its status bar")
    sidebar: bool = _opt(False, help="actions in a sidebar right of the frame instead of beside each person")
    top_k_actions: int = _opt(3, min=0)
    keypoint_threshold: float = _opt(0.3, min=0)
    state_threshold: float = _opt(0.3, min=0, help="a group's state is shown when its probability passes this")
    action_threshold: float = _opt(0.1, min=0)
    show_unconfirmed: bool = _opt(False, help="also draw persons without a confirmed track ID")
    text_scale: float = _opt(1.0, min=0.1, help="multiplies the automatic text size (which follows the frame size)")


@dataclass
class PipelineConfig:
    queue_size: int = _opt(4, min=1, help="bounded queue length between threads")


@dataclass
class Config:
    device: str = _opt("auto", help="auto | cpu | cuda | cuda:N")
    source: SourceConfig = field(default_factory=SourceConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    a2v: A2VConfig = field(default_factory=A2VConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------- checking

def _type_name(tp) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, f: dataclasses.Field, tp, where: str, key: str) -> Any:
    """Check one scalar against the field's type and metadata; returns the value in that type."""
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value, ok = str(value), True
    if not ok:
        raise ConfigError(f"{where}: {key}: expected {_type_name(tp)}, got {value!r}")
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {key}: expected a finite number, got {value!r}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{where}: {key}: must be one of {', '.join(choices)}, got {value!r}")
    minimum = f.metadata.get("min")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: {key}: must be >= {minimum}, got {value!r}")
    return value


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


def _set_value(obj, f: dataclasses.Field, tp, value: Any, where: str, dotted: str) -> None:
    if _is_list(tp):
        setattr(obj, f.name, _coerce_list(value, f, where, dotted))
    else:
        setattr(obj, f.name, _coerce(value, f, tp, where, dotted))


def _fields(obj) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(type(obj))
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(obj)}


_YAML = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_YAML + name for name in ("str", "int", "float", "bool", "null", "map", "seq")}
MAX_CONFIG_BYTES = 1 << 20  # a config is a few kB; /dev/zero or a video given by mistake must not be read whole


def _check_tags(node: yaml.Node, where: str, dotted: str) -> None:
    """Only plain YAML values: ``!!python/...``, ``!!binary``, ``!custom`` and the like are refused."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.tag not in _PLAIN_TAGS:
            raise ConfigError(f"{where}: {dotted}: the YAML tag {current.tag.replace(_YAML, '!!')} is not allowed "
                              f"in a config; write a plain value")
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend((key, value))


def _node_value(node: yaml.Node, where: str, dotted: str, f: dataclasses.Field):
    """The Python value of a (tag-checked) YAML node, or a one-line ConfigError naming the key."""
    try:
        value = yaml.SafeLoader("").construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: {dotted}: cannot read the value {getattr(node, 'value', '')!r} "
                          f"({' '.join(str(problem).split())})") from None
    if value is None:
        example = f.default if f.default is not dataclasses.MISSING else "..."
        raise ConfigError(f"{where}: {dotted}: no value given; write a value, e.g. {dotted.split('.')[-1]}: "
                          f"{yaml.safe_dump(example, default_flow_style=True).strip().removesuffix('...').strip()}")
    return value


def apply_node(obj, node: yaml.Node, path: str, prefix: str = "") -> None:
    """Apply a YAML mapping node to a config dataclass (any schema), in place."""
    if not isinstance(node, yaml.MappingNode):
        where = f"{path}:{node.start_mark.line + 1}"
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'}: expected a mapping of keys")
    fields = _fields(obj)
    for key_node, value_node in node.value:
        where = f"{path}:{key_node.start_mark.line + 1}"
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
            raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'}: a key must be a plain name "
                              f"(found a list, mapping or tagged key such as '? [a, b]')")
        key = key_node.value
        dotted = prefix + str(key)
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"{where}: {dotted}: unknown key (known here: {known})")
        f, tp = fields[key]
        if dataclasses.is_dataclass(tp):
            if value_node.tag not in _PLAIN_TAGS:  # its keys and values are checked one by one below
                _check_tags(value_node, where, dotted)
            apply_node(getattr(obj, key), value_node, path, dotted + ".")
            continue
        _check_tags(value_node, f"{path}:{value_node.start_mark.line + 1}", dotted)
        if not _is_list(tp) and not isinstance(value_node, yaml.ScalarNode):
            raise ConfigError(f"{where}: {dotted}: expected {_type_name(tp)}, got a list or mapping")
        _set_value(obj, f, tp, _node_value(value_node, where, dotted, f), where, dotted)


def apply_file(config, path: str | Path) -> None:
    """Apply a YAML file to a config dataclass (any schema), in place; errors name the file and line."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise ConfigError(f"{path}: not a regular file; --config takes a YAML file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # bounded: never read a device or a huge file whole
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MB, not a config; check the --config path")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; --config takes a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror}); check the --config path") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: YAML syntax error: {problem}") from None
    if node is None:
        return
    apply_node(config, node, str(path), "")


def apply_override(config, assignment: str) -> None:
    """Apply one ``--set a.b=value`` to a config dataclass (any schema); the value is parsed as YAML
    (``true``, ``3``, ``0.5``, ``text``; lists as ``[a,b]`` or ``a,b``)."""
    where = f"--set {assignment}"
    if "=" not in assignment:
        raise ConfigError(f"{where}: expected key=value, e.g. --set tracker.max_age=30")
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
            known = ", ".join(fields)
            raise ConfigError(f"{where}: {'.'.join(parts[:i + 1])}: unknown key (known here: {known})")
        f, tp = fields[part]
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(tp):
                example = next(iter(_fields(getattr(obj, part))))
                raise ConfigError(f"{where}: {dotted}: is a section; set one of its keys, e.g. {dotted}.{example}")
            _set_value(obj, f, tp, value, where, dotted)
        else:
            if not dataclasses.is_dataclass(tp):
                raise ConfigError(f"{where}: {'.'.join(parts[:i + 1])}: is not a section")
            obj = getattr(obj, part)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = (),
                base: Optional[Path] = DEFAULT_CONFIG) -> Config:
    """Defaults (dataclasses) ← ``base`` (``configs/default.yaml``) ← ``path`` ← each ``--set``."""
    config = Config()
    if base is not None and Path(base).exists():
        apply_file(config, base)
    if path is not None:
        apply_file(config, path)
    for assignment in overrides:
        apply_override(config, assignment)
    return config


def describe(config: Config) -> str:
    """The effective config as YAML text (for logs and ``--print-config``)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)

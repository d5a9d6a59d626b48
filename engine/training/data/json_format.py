"""A simple, documented JSON format for custom HAKE-style data (``a2v-hake/1``).

One file holds one database (the JSON twin of an official LMDB)::

    {
      "format": "a2v-hake/1",
      "kind": "train",                       # "train" (annotations) or "pred" (detected persons)
      "images": {
        "hico-train/HICO_train2015_00000001.jpg": [        # key = path of the image under the image root
          {
            "box": [x1, y1, x2, y2],                        # person box, pixels
            "gt": true,                                     # false = a negative (unannotated) person
            "score": 1.0,                                   # detector score ("pred" files)
            "part_boxes": [[x1, y1, x2, y2], ...] | null,   # 10 boxes in parts.tsv order, or null
            "keypoints": [[x, y, score], ...] | null,       # 17 COCO keypoints, or null
            "verbs": [36, "ride"],                          # action indices (0..156) or names; [] = no_interaction
            "pasta": {"hand": ["hold", 3], "foot": []}      # per group: state indices within the group
          }                                                 #   or state names; missing/[] = no_interaction
        ]
      }
    }

Only ``box`` is required per person. Names are those of ``assets/vocab/a2v_vocab.yaml``; the writer
always writes indices. A bad person entry makes its image be reported with its key and skipped.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Iterable

import numpy as np

from engine.training.data.lmdb_hake import KINDS, ReadResult
from engine.training.data.records import (
    GROUPS,
    DataError,
    ImageRecord,
    PersonRecord,
    RecordError,
    as_bool,
    as_box,
    as_flags,
    as_keypoints,
    as_part_boxes,
)

FORMAT = "a2v-hake/1"
log = logging.getLogger("a2v")


def _indices(values, names: tuple[str, ...], where: str) -> list[int]:
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        values = [values]
    out = []
    for v in values:
        if isinstance(v, str):
            if v not in names:
                raise RecordError(f"{where}: unknown name {v!r}")
            out.append(names.index(v))
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < len(names):
            out.append(int(v))
        else:
            raise RecordError(f"{where}: {v!r} is not an index 0..{len(names) - 1} or a name")
    return out


def parse_person(entry, kind: str, where: str) -> PersonRecord:
    from engine.vocab import load_vocab

    vocab = load_vocab()
    if not isinstance(entry, Mapping):
        raise RecordError(f"{where}: expected an object per person")
    if "box" not in entry:
        raise RecordError(f"{where}: missing 'box'")
    box = as_box(entry["box"], f"{where}.box")
    parts = as_part_boxes(entry.get("part_boxes"), f"{where}.part_boxes")
    keypoints = as_keypoints(entry.get("keypoints"), f"{where}.keypoints")
    score = entry.get("score", 1.0)
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not np.isfinite(score):
        raise RecordError(f"{where}.score: expected a finite number, got {score!r}")
    gt = as_bool(entry.get("gt", kind == "train"), f"{where}.gt")
    verbs = _indices(entry.get("verbs"), vocab.actions, f"{where}.verbs")
    pasta_in = entry.get("pasta") or {}
    if not isinstance(pasta_in, Mapping):
        raise RecordError(f"{where}.pasta: expected an object of group -> states")
    unknown = set(pasta_in) - set(GROUPS) - {"binary"}
    if unknown:
        raise RecordError(f"{where}.pasta: unknown group {sorted(unknown)[0]!r} (groups: {', '.join(GROUPS)})")
    pasta = {}
    for g, sl in zip(vocab.groups, vocab.group_slices):
        pasta[g] = _indices(pasta_in.get(g), vocab.pasta[sl], f"{where}.pasta.{g}")
    binary = as_flags(pasta_in.get("binary"), f"{where}.pasta.binary")
    return PersonRecord(box=box, part_boxes=parts, keypoints=keypoints, verbs=verbs, pasta=pasta,
                        binary=binary, gt=gt, score=float(score))


def _parse_person_safely(entry, kind: str, where: str) -> PersonRecord:
    try:
        return parse_person(entry, kind, where)
    except RecordError:
        raise
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:  # odd types in a field
        raise RecordError(f"{where}: unreadable field ({type(exc).__name__}: {exc})") from None


def read_json(path: str | Path, kind: str | None = None, splits: Iterable[str] = ()) -> ReadResult:
    """Read an ``a2v-hake/1`` file. ``kind`` None = take it from the file; ``splits`` filters key prefixes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: JSON data file not found; check the path in the config")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT or not isinstance(data.get("images"), Mapping):
        raise DataError(f"{path}: expected {{\"format\": \"{FORMAT}\", \"kind\": ..., \"images\": {{...}}}} "
                        "(see engine/training/data/json_format.py)")
    kind = kind or data.get("kind", "train")
    if kind not in KINDS:
        raise DataError(f"{path}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    splits = tuple(s.strip().rstrip("/") for s in splits if s.strip())
    result = ReadResult(records=[])
    images = data["images"]
    if not images:
        raise DataError(f"{path}: the file holds no images")
    for key, persons in images.items():
        if splits and key.split("/", 1)[0] not in splits:
            continue
        try:
            if not isinstance(persons, list):
                raise RecordError(f"{key}: expected a list of persons")
            result.records.append(ImageRecord(key, [_parse_person_safely(p, kind, f"{key}[{i}]")
                                                    for i, p in enumerate(persons)]))
        except RecordError as exc:
            result.skipped.append(str(exc))
            log.warning("skipping record %s", exc)
    if not result.records:
        raise DataError(f"{path}: no usable records (skipped {len(result.skipped)}; splits {list(splits)})")
    return result


def person_to_json(person: PersonRecord, kind: str) -> dict:
    out: dict = {"box": np.asarray(person.box, np.float32).tolist()}  # exact float32 round trip
    if kind == "train":
        out["gt"] = bool(person.gt)
    out["score"] = float(person.score)
    out["part_boxes"] = None if person.part_boxes is None else np.asarray(person.part_boxes, np.float32).tolist()
    out["keypoints"] = None if person.keypoints is None else np.asarray(person.keypoints, np.float32).tolist()
    if kind == "train":
        out["verbs"] = list(person.verbs)
        out["pasta"] = {g: list(person.pasta.get(g, [])) for g in GROUPS}
        if person.binary is not None:
            out["pasta"]["binary"] = np.asarray(person.binary).astype(int).tolist()
    return out


def write_json(path: str | Path, records: Iterable[ImageRecord], kind: str = "train") -> int:
    """Write records as an ``a2v-hake/1`` file; returns the number of images written."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    images = {r.key: [person_to_json(p, kind) for p in r.persons] for r in records}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # one image per line: readable, diff-friendly and still plain JSON
    lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in images.items()]
    body = ",\n  ".join(lines)
    text = f'{{"format": "{FORMAT}", "kind": "{kind}", "images": {{\n  {body}\n}}}}\n'
    path.write_text(text, encoding="utf-8")
    return len(images)

"""``python main.py eval``: the official HAKE PaSta / verb detection benchmark for a checkpoint.

    python main.py eval --config configs/train/X.yaml --checkpoint runs/train/last.pt [--set k=v ...]

Procedure (docs/hake_facts.md §7): every test image is run once with all its detected persons
(``data.test_pred``; the ground-truth boxes with score 1 when empty) at its original resolution; PaSta
and verb probabilities are multiplied by the detection score (``eval.human_score_enhance``); each of the
93 PaSta and 157 verb classes is scored with ``engine.training.hake_map`` (IoU > 0.3, 11-point AP). Ground truth
comes from ``data.test_gt``: a database in the training layout (its annotated persons) or the official
``gt_pasta_data.pkl`` (+ ``gt_verb_data.pkl`` in the same folder).

Writes ``benchmark.json`` (summary + per-class APs) and ``benchmark.txt`` (a readable table).
"""
from __future__ import annotations

import json
import logging
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from engine.training.data.records import NUM_VERBS, DataError, ImageRecord, PersonRecord
from engine.training.hake_map import class_aps, summarize

log = logging.getLogger("a2v")

GroundTruth = list  # list over classes of dict image_key -> (M, 4) boxes


# ---------------------------------------------------------------------------------------- ground truth

def ground_truth_from_records(records: Sequence[ImageRecord], group_slices: Sequence[slice],
                              num_verbs: int = NUM_VERBS) -> tuple[GroundTruth, GroundTruth]:
    """Per-class GT boxes (PaSta 93, verbs 157) from annotated persons (negatives are ignored)."""
    from engine.training.data.dataset import label_vectors

    num_pasta = group_slices[-1].stop
    pasta: list[dict] = [defaultdict(list) for _ in range(num_pasta)]
    verbs: list[dict] = [defaultdict(list) for _ in range(num_verbs)]
    for record in records:
        for person in record.persons:
            if not person.gt:
                continue
            p, v = label_vectors(person, group_slices, num_verbs)
            for c in np.flatnonzero(p):
                pasta[c][record.key].append(person.box)
            for c in np.flatnonzero(v):
                verbs[c][record.key].append(person.box)
    pack = lambda per_class: [{k: np.asarray(b, np.float64).reshape(-1, 4) for k, b in d.items()} for d in per_class]
    return pack(pasta), pack(verbs)


def _official_gt(path: Path, num_classes: int) -> GroundTruth:
    from engine.training.data import safe_pickle

    if not path.is_file():
        raise DataError(f"{path}: ground-truth file not found (the official metadata ships "
                        "gt_pasta_data.pkl and gt_verb_data.pkl together)")
    data = safe_pickle.load_file(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a dict class -> image -> boxes, got {type(data).__name__}")
    out = []
    for c in range(num_classes):
        per_image = data.get(c, data.get(str(c), {})) or {}
        out.append({str(k): np.asarray(v, np.float64).reshape(-1, 4)[:, -4:] if np.size(v) else
                    np.zeros((0, 4)) for k, v in per_image.items()})
    return out


def load_ground_truth(test_gt: str, splits: Sequence[str],
                      group_slices: Sequence[slice]) -> tuple[GroundTruth, GroundTruth, list[ImageRecord]]:
    """(PaSta GT, verb GT, GT records or []) from ``data.test_gt``."""
    from engine.training.data.convert import read_records

    if not str(test_gt).strip():
        raise DataError("data.test_gt is not set; point it at the test ground truth (LMDB, .json or "
                        "the official gt_pasta_data.pkl)")
    path = Path(test_gt)
    if path.suffix == ".pkl":
        pasta = _official_gt(path, group_slices[-1].stop)
        verb_path = path.with_name(path.name.replace("pasta", "verb"))
        verbs = _official_gt(verb_path, NUM_VERBS)
        return pasta, verbs, []
    result = read_records(path, kind="train", splits=splits)
    pasta, verbs = ground_truth_from_records(result.records, group_slices)
    return pasta, verbs, result.records


def detections_from_gt(records: Sequence[ImageRecord]) -> list[ImageRecord]:
    """Use every annotated person as a detection with score 1 (evaluation on ground-truth boxes)."""
    out = []
    for record in records:
        persons = [PersonRecord(box=p.box, part_boxes=p.part_boxes, keypoints=p.keypoints, gt=False, score=1.0)
                   for p in record.persons if p.gt]
        if persons:
            out.append(ImageRecord(record.key, persons))
    return out


# ------------------------------------------------------------------------------------------- benchmark

def run_benchmark(keys: Sequence[str], boxes: np.ndarray, pasta_scores: np.ndarray, verb_scores: np.ndarray,
                  pasta_gt: GroundTruth, verb_gt: GroundTruth, iou_threshold: float = 0.3) -> dict:
    """Per-class APs and the official summary for scored detections.

    ``keys`` (D,) image key per detected person, ``boxes`` (D, 4), ``pasta_scores`` (D, 93),
    ``verb_scores`` (D, 157) (already multiplied by the detection score when that is wanted).
    """
    from engine.vocab import load_vocab

    vocab = load_vocab()
    pasta_ap = class_aps(keys, boxes, pasta_scores, pasta_gt, iou_threshold)
    verb_ap = class_aps(keys, boxes, verb_scores, verb_gt, iou_threshold)
    summary = summarize(pasta_ap, verb_ap, vocab.group_slices, vocab.groups, vocab.action_no_interaction)
    return {
        "summary": _json_safe(summary),
        "pasta_ap": {vocab.pasta_label(i): _num(a) for i, a in enumerate(pasta_ap)},
        "verb_ap": {f"{i} {name}": _num(a) for i, (name, a) in enumerate(zip(vocab.actions, verb_ap))},
        "detections": int(len(keys)),
        "images": int(len(set(keys))),
    }


def _json_safe(value):
    """NaN -> None throughout nested dicts (JSON has no NaN; None reads as "no ground truth")."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return _num(value)


def _num(value: float):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _pct(value) -> str:
    return "   n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:6.2f}"


def format_table(result: dict) -> str:
    """The summary as a readable table (mAP in percent, like the official report)."""
    s = result["summary"]
    lines = [f"HAKE benchmark: {result['images']} images, {result['detections']} detected persons",
             f"{'PaSta group':<14}{'mAP w/ no_int':>15}{'mAP w/o no_int':>16}"]
    for name, g in s["pasta_groups"].items():
        lines.append(f"{name:<14}{_pct(g['with_no_interaction']):>15}{_pct(g['without_no_interaction']):>16}")
    m = s["pasta_mean"]
    lines.append(f"{'PaSta mean':<14}{_pct(m['with_no_interaction']):>15}{_pct(m['without_no_interaction']):>16}")
    v = s["verb"]
    lines += [f"{'verb (157)':<14}{_pct(v['all']):>15}{_pct(v['without_no_interaction']):>16}",
              f"{'verb (117 HICO)':<14}{_pct(v['hico']):>15}",
              "n/a = no ground truth for any class of the row (left out of means)"]
    return "\n".join(lines)


def write_report(result: dict, folder: str | Path) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, text_path = folder / "benchmark.json", folder / "benchmark.txt"
    json_path.write_text(json.dumps(result, indent=1, allow_nan=False), encoding="utf-8")
    text_path.write_text(format_table(result) + "\n", encoding="utf-8")
    return json_path, text_path


# ------------------------------------------------------------------------------------- model -> scores

Scorer = Callable[[np.ndarray, "object"], tuple[np.ndarray, np.ndarray]]


def score_images(scorer: Scorer, records: Sequence[ImageRecord], image_root: str | Path,
                 human_score_enhance: bool = True, max_side: Optional[int] = None,
                 progress: bool = False) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Run ``scorer(image_bgr, person_batch) -> (pasta (N, 93), verbs (N, 157))`` on every image.

    Returns (keys (D,), boxes (D, 4) original pixels, pasta (D, 93), verbs (D, 157)).
    """
    from engine.training.data.dataset import HakeImages, build_batch, scale_for
    from engine.vocab import load_vocab

    vocab = load_vocab()
    images = HakeImages(records, image_root, what="data.test_pred")
    keys, boxes, pastas, verbs = [], [], [], []
    iterator = range(len(images))
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="eval", unit="img", file=sys.stderr)
    for index in iterator:
        record = images.records[index]
        if not record.persons:
            continue
        image = images.load(index)
        h, w = image.shape[:2]
        scale = scale_for((w, h), max_side)
        if scale != 1.0:
            from engine.cvcompat import cv2

            image = cv2.resize(image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_LINEAR)
        batch = build_batch(record, index, list(range(len(record.persons))), (w, h), scale, vocab.group_slices)
        p_pasta, p_verb = scorer(image, batch)
        if human_score_enhance:
            p_pasta = p_pasta * batch.scores[:, None]
            p_verb = p_verb * batch.scores[:, None]
        keys += [record.key] * len(record.persons)
        boxes.append(np.stack([p.box for p in record.persons]))
        pastas.append(p_pasta)
        verbs.append(p_verb)
    if not keys:
        raise DataError("no detected person in the test data; check data.test_pred")
    return keys, np.concatenate(boxes), np.concatenate(pastas), np.concatenate(verbs)


def load_test_data(config) -> tuple[GroundTruth, GroundTruth, list[ImageRecord]]:
    """(PaSta GT, verb GT, detections) for a TrainConfig's ``data.test_*`` settings."""
    from engine.training.data.convert import read_records
    from engine.vocab import load_vocab

    vocab = load_vocab()
    pasta_gt, verb_gt, gt_records = load_ground_truth(config.data.test_gt, config.data.test_splits,
                                                      vocab.group_slices)
    if str(config.data.test_pred).strip():
        detections = read_records(config.data.test_pred, kind="pred", splits=config.data.test_splits).records
    else:
        if not gt_records:
            raise DataError("data.test_pred is empty and data.test_gt is an official .pkl without person "
                            "details; set data.test_pred to the Test_pred_rcnn LMDB")
        detections = detections_from_gt(gt_records)
    return pasta_gt, verb_gt, detections


def evaluate_scorer(config, scorer: Scorer, progress: bool = True, test_data=None) -> dict:
    """Score the test data of ``config`` (a TrainConfig) with ``scorer`` and run the benchmark."""
    pasta_gt, verb_gt, detections = test_data or load_test_data(config)
    keys, boxes, pasta, verbs = score_images(scorer, detections, config.data.image_root,
                                             config.eval.human_score_enhance, config.eval.max_side or None,
                                             progress=progress)
    return run_benchmark(keys, boxes, pasta, verbs, pasta_gt, verb_gt, config.eval.iou_threshold)


def evaluate(config, checkpoint: str | Path, device: str | None = None, progress: bool = True) -> dict:
    """Load ``checkpoint`` (any checkpoint the A2V stage loads) and benchmark it on ``config``'s test data."""
    from engine.training.model import TrainableA2V

    test_data = load_test_data(config)  # data problems first: they are cheaper to find than a model load
    model = TrainableA2V.from_checkpoint(checkpoint, device or config.device)
    result = evaluate_scorer(config, model.score, progress, test_data)
    result["checkpoint"] = str(checkpoint)
    return result

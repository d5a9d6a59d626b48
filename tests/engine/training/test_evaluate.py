"""The benchmark around person_ap: ground truth from records or official pickles, summary, report, CLI errors."""
import argparse
import json
import pickle

import numpy as np
import pytest

from engine.cli.eval import eval_command
from engine.training.data.records import ImageRecord, PersonRecord
from engine.training.evaluate import (
    detections_from_gt,
    format_table,
    ground_truth_from_records,
    load_ground_truth,
    run_benchmark,
    write_report,
)
from engine.vocab import load_vocab


def _records():
    box_a = np.array([0, 0, 10, 10], np.float32)
    box_b = np.array([20, 0, 30, 10], np.float32)
    return [
        ImageRecord("s/1.jpg", [PersonRecord(box=box_a, verbs=[36], pasta={"hand": [0]}),
                                PersonRecord(box=box_b, gt=False)]),  # a negative: no ground truth
        ImageRecord("s/2.jpg", [PersonRecord(box=box_a, verbs=[], pasta={"hand": [1], "foot": [0]})]),
    ]


def test_ground_truth_from_annotated_persons():
    vocab = load_vocab()
    pasta, verbs = ground_truth_from_records(_records(), vocab.group_slices)
    hand = vocab.group_slices[3].start
    assert list(pasta[hand]) == ["s/1.jpg"] and list(pasta[hand + 1]) == ["s/2.jpg"]
    assert pasta[hand][ "s/1.jpg"].shape == (1, 4)
    assert sorted(pasta[vocab.group_slices[0].stop - 1]) == ["s/1.jpg"]  # foot no_interaction of person 1
    assert list(verbs[36]) == ["s/1.jpg"] and list(verbs[57]) == ["s/2.jpg"]
    assert pasta[5] == {}  # a class nobody has


def test_perfect_scores_give_one_and_missing_classes_are_left_out(tmp_path):
    vocab = load_vocab()
    records = _records()
    pasta_gt, verb_gt = ground_truth_from_records(records, vocab.group_slices)
    dets = detections_from_gt(records)
    assert [len(r.persons) for r in dets] == [1, 1]  # the negative is not a detection
    keys = [r.key for r in dets for _ in r.persons]
    boxes = np.stack([p.box for r in dets for p in r.persons])
    pasta = np.zeros((2, 93))
    verbs = np.zeros((2, 157))
    for row, record in enumerate(records[:1] + records[1:]):
        from engine.training.data.dataset import label_vectors

        pasta[row], verbs[row] = label_vectors(record.persons[0], vocab.group_slices)
    result = run_benchmark(keys, boxes, pasta, verbs, pasta_gt, verb_gt)
    summary = result["summary"]
    assert summary["pasta_mean"]["with_no_interaction"] == pytest.approx(1.0)
    assert summary["verb"]["all"] == pytest.approx(1.0)
    # hand: classes 0 and 1 have GT; without no_interaction only those two count
    assert summary["pasta_groups"]["hand"]["without_no_interaction"] == pytest.approx(1.0)
    assert result["pasta_ap"]["hand: hold"] == pytest.approx(1.0)
    assert result["pasta_ap"][vocab.pasta_label(5)] is None  # no GT -> null in JSON, out of the means
    # inverted scores: "hold" (GT on person 1 only) ranks person 2 first -> recall 0, 1; precision 0, .5
    bad = run_benchmark(keys, boxes, 1 - pasta, 1 - verbs, pasta_gt, verb_gt)
    assert bad["pasta_ap"]["hand: hold"] == pytest.approx(0.5)
    assert bad["summary"]["pasta_mean"]["with_no_interaction"] < 1.0
    json_path, text_path = write_report(result, tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert data["summary"]["verb"]["hico"] == pytest.approx(1.0)
    table = text_path.read_text()
    assert "PaSta mean" in table and "100.00" in table and "verb (117 HICO)" in table
    assert format_table(result).splitlines()[0] == "HAKE benchmark: 2 images, 2 detected persons"


def test_official_ground_truth_pickles(tmp_path):
    vocab = load_vocab()
    pasta = {3: {"hico-test/x.jpg": np.array([[0, 0, 10, 10]], np.float64)}}
    verbs = {36: {"hico-test/x.jpg": [[1, 1, 5, 5], [2, 2, 6, 6]]}}
    (tmp_path / "gt_pasta_data.pkl").write_bytes(pickle.dumps(pasta))
    (tmp_path / "gt_verb_data.pkl").write_bytes(pickle.dumps(verbs))
    pasta_gt, verb_gt, records = load_ground_truth(str(tmp_path / "gt_pasta_data.pkl"), [], vocab.group_slices)
    assert records == [] and len(pasta_gt) == 93 and len(verb_gt) == 157
    assert pasta_gt[3]["hico-test/x.jpg"].shape == (1, 4) and verb_gt[36]["hico-test/x.jpg"].shape == (2, 4)
    assert pasta_gt[4] == {}


def test_eval_command_errors_are_one_line(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  test_gt: nowhere/Test_GT\n  image_root: nowhere\n")
    args = argparse.Namespace(config=str(config), overrides=[], checkpoint=str(tmp_path / "missing.pt"),
                              device="cpu", out=None, quiet=True)
    from engine.cli.common import run_command

    assert run_command(eval_command, args) == 2
    assert "missing.pt: checkpoint not found" in capsys.readouterr().err
    (tmp_path / "fake.pt").write_bytes(b"x")
    args.checkpoint = str(tmp_path / "fake.pt")
    assert run_command(eval_command, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("a2v: error: nowhere/Test_GT: LMDB not found") and err.count("\n") == 1
    args.config = str(tmp_path / "absent.yaml")
    assert run_command(eval_command, args) == 2
    assert "cannot read config" in capsys.readouterr().err

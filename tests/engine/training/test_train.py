"""Training on generated HAKE-format data: it learns, its checkpoint serves A2V and eval, resume and
two-process (torchrun, Gloo) runs match one uninterrupted process, bad setups fail with one line."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engine.cli.eval import eval_command
from engine.cli.train import train_command
from engine.training.config import load_train_config
from engine.training.data.synthetic import generate
from engine.training.evaluate import evaluate_scorer
from engine.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[3]
ALL_GROUPS = ["foot", "leg", "hip", "hand", "arm", "head"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine two threads per op are many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_config(path: Path, data, output: Path, **train) -> Path:
    config = {
        "device": "cpu",
        "data": {"train": str(data.train), "test_gt": str(data.test_gt), "test_pred": str(data.test_pred),
                 "image_root": str(data.image_root)},
        "train": {"output_dir": str(output), "cache_features": True, "progress": False, "log_every": 1, **train},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """96 training and 32 held-out generated images (96 px); all six PaSta heads trained from random
    weights for 6 epochs of 12 iterations (one cosine cycle)."""
    root = tmp_path_factory.mktemp("learn")
    data = generate(root / "data", n_train=96, n_test=32, size=96, seed=0)
    path = _write_config(root / "learn.yaml", data, root / "run", modules=ALL_GROUPS, lr=0.08,
                         schedule="cosine", cosine_t0_epochs=6, batch_images=8, epochs=6, log_every=4)
    config = load_train_config(path)
    trainer = Trainer(config, progress=False)
    chance = evaluate_scorer(config, trainer.model.score, progress=False)
    result = trainer.run()
    return {"data": data, "config_path": path, "root": root, "chance": chance, "result": result}


def _pasta_mean(benchmark: dict) -> float:
    return benchmark["summary"]["pasta_mean"]["with_no_interaction"]


def test_training_takes_pasta_map_from_chance_to_above_0_8(learned):
    chance = _pasta_mean(learned["chance"])
    trained = _pasta_mean(learned["result"].benchmark)
    assert chance < 0.6, f"untrained heads should be near chance, got {chance:.3f}"
    assert trained >= 0.8, f"PaSta mAP after training {trained:.3f} (chance {chance:.3f})"
    losses = [json.loads(line)["loss"] for line in (learned["root"] / "run" / "loss.jsonl").read_text().splitlines()]
    assert len(losses) == 72 // 4 and losses[-1] < 0.5 * losses[0]
    report = json.loads((learned["root"] / "run" / "eval" / "benchmark.json").read_text())
    assert _pasta_mean(report) == pytest.approx(trained)


def test_checkpoint_loads_in_the_a2v_stage_and_eval_reproduces_the_number(learned, tmp_path, capsys):
    from engine.a2v.api import A2V
    from engine.a2v.parts import clip_boxes, part_boxes
    from engine.cvcompat import cv2
    from engine.training.data.convert import read_records
    from engine.training.data.dataset import build_batch
    from engine.training.model import TrainableA2V
    from engine.vocab import load_vocab

    checkpoint = learned["root"] / "run" / "last.pt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert {"model_state_dict", "optimizer_state_dict", "scheduler_state_dict", "iters", "config", "rng"} <= set(state)
    assert state["iters"] == 72

    a2v = A2V.from_files(checkpoint=checkpoint, language_matrix=np.eye(93, 16, dtype=np.float32), device="cpu")
    record = read_records(learned["data"].test_pred, kind="pred").records[0]
    image = cv2.imread(str(learned["data"].image_root / record.key))
    person = record.persons[0]
    out = a2v.infer(image, person.box[None], person.keypoints[None])
    # the same network through the trainer's view, with the part boxes the A2V stage derived
    person.part_boxes = clip_boxes(part_boxes(person.keypoints[None], person.box[None]), image.shape[1::-1])[0]
    batch = build_batch(record, 0, [0], image.shape[1::-1], 1.0, load_vocab().group_slices)
    pasta, verbs = TrainableA2V.from_checkpoint(checkpoint).score(image, batch)
    np.testing.assert_allclose(out["pasta"], pasta, atol=1e-4)
    np.testing.assert_allclose(out["actions"], verbs, atol=1e-4)

    args = argparse.Namespace(config=str(learned["config_path"]), overrides=[], checkpoint=str(checkpoint),
                              device="cpu", out=str(tmp_path / "eval"), quiet=True)
    assert eval_command(args) == 0
    assert "PaSta mean" in capsys.readouterr().out
    report = json.loads((tmp_path / "eval" / "benchmark.json").read_text())
    assert _pasta_mean(report) == pytest.approx(_pasta_mean(learned["result"].benchmark), abs=1e-9)
    assert (tmp_path / "eval" / "benchmark.txt").read_text().count("\n") > 8


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("small") / "data", n_train=16, n_test=8, size=64, seed=5)


def _params(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model_state_dict"]


def _trained_params_equal(a: dict, b: dict, atol: float) -> None:
    for name in a:
        if name.startswith(("fc7_parts", "part_cls_scores", "pool2_flat_pose_maps", "verb_cls_scores")):
            torch.testing.assert_close(a[name], b[name], atol=atol, rtol=0, msg=name)


def test_interrupted_run_resumes_to_the_same_result(small, tmp_path):
    common = dict(modules=["hand", "verb"], lr=0.02, schedule="cosine", cosine_t0_epochs=0.25, batch_images=2,
                  epochs=1, max_iters=6, eval_at_end=False)
    whole = Trainer(load_train_config(_write_config(tmp_path / "a.yaml", small, tmp_path / "a", **common)))
    whole.run()

    config_b = _write_config(tmp_path / "b.yaml", small, tmp_path / "b", resume="auto", **common)
    first = Trainer(load_train_config(config_b))
    original_step = first.step

    def step_then_interrupt():
        loss = original_step()
        if first.iteration == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of training
        return loss

    first.step = step_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        first.run()
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["iters"] == 3
    resumed = Trainer(load_train_config(config_b))
    assert resumed.iteration == 3
    result = resumed.run()
    assert result.iters == 6
    a, b = _params(tmp_path / "a" / "last.pt"), _params(tmp_path / "b" / "last.pt")
    _trained_params_equal(a, b, atol=0)
    state_a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    state_b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert state_a["scheduler_state_dict"] == state_b["scheduler_state_dict"]
    log_a = (tmp_path / "a" / "loss.jsonl").read_text().splitlines()
    log_b = (tmp_path / "b" / "loss.jsonl").read_text().splitlines()
    by_iter_a = {json.loads(x)["iter"]: json.loads(x)["loss"] for x in log_a}
    by_iter_b = {json.loads(x)["iter"]: json.loads(x)["loss"] for x in log_b}
    assert {1, 2, 4, 5, 6} <= set(by_iter_b)  # iteration 3 was interrupted before its log line
    assert all(by_iter_a[i] == loss for i, loss in by_iter_b.items())


def test_two_process_torchrun_matches_one_process(small, tmp_path):
    common = dict(modules=["foot", "verb"], lr=0.02, schedule="constant", batch_images=4, epochs=1, max_iters=4)
    one = _write_config(tmp_path / "one.yaml", small, tmp_path / "one", **common)
    two = _write_config(tmp_path / "two.yaml", small, tmp_path / "two", **common)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "main.py"), "train", "--config", str(two), "--quiet"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    single = Trainer(load_train_config(one)).run()  # runs while the two processes start up
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    assert "2 processes" in output or "trained 4 iterations" in output
    _trained_params_equal(_params(tmp_path / "one" / "last.pt"), _params(tmp_path / "two" / "last.pt"), atol=1e-5)
    report_two = json.loads((tmp_path / "two" / "eval" / "benchmark.json").read_text())
    assert _pasta_mean(report_two) == pytest.approx(_pasta_mean(single.benchmark), abs=1e-4)
    assert report_two["summary"]["verb"]["all"] == pytest.approx(single.benchmark["summary"]["verb"]["all"], abs=1e-4)
    losses_one = [json.loads(x)["loss"] for x in (tmp_path / "one" / "loss.jsonl").read_text().splitlines()]
    losses_two = [json.loads(x)["loss"] for x in (tmp_path / "two" / "loss.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(losses_one, losses_two, rtol=1e-5)


def _run_train_command(config: Path, *overrides: str) -> int:
    from engine.cli.common import run_command

    args = argparse.Namespace(config=str(config), overrides=list(overrides), device="cpu", quiet=True)
    return run_command(train_command, args)


def test_bad_setups_fail_with_one_clear_line(small, tmp_path, capsys):
    config = _write_config(tmp_path / "c.yaml", small, tmp_path / "out", modules=["hand"], max_iters=1)
    cases = [
        ((f"data.train={tmp_path / 'nowhere'}",), "nowhere: LMDB not found; check the path in the config"),
        ((f"data.image_root={tmp_path / 'no_images'}",), "no_images is not a folder; set data.image_root"),
        (("data.train=",), "data.train is not set"),
        (("train.modules=[hand,elbow]",), "'elbow' is not one of foot, leg, hip, hand, arm, head, verb"),
        (("train.batch_images=64",), "only 16 usable training images for train.batch_images = 64"),
        ((f"model.init={tmp_path / 'none.pt'}",), "none.pt not found"),
        ((f"data.loss_weights={tmp_path / 'w.npy'}",), "w.npy: loss weights file not found"),
    ]
    for overrides, message in cases:
        assert _run_train_command(config, *overrides) == 2, overrides
        err = capsys.readouterr().err
        assert message in err and err.startswith("a2v: error: ") and err.count("\n") == 1, (overrides, err)
    assert _run_train_command(tmp_path / "absent.yaml") == 2
    assert "absent.yaml: cannot read config" in capsys.readouterr().err


def test_loss_weights_from_frequencies_favour_rare_classes():
    from engine.training.trainer import frequency_weights

    weights = frequency_weights(np.array([90, 9, 0, 1]), total=100)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[0] < weights[1] < weights[3] == weights[2]
    expected = np.log1p(100 / np.array([90, 9, 1, 1]))
    np.testing.assert_allclose(weights, expected / expected.mean(), rtol=1e-6)


def test_heads_trained_separately_combine_into_one_checkpoint(tmp_path):
    from engine.training.trainer import combine_checkpoints

    names = ("resnet50.conv1.weight", "fc7_parts.0.0.weight", "fc7_parts.3.0.weight",
             "pool2_flat_pose_maps.3.0.weight", "part_cls_scores.3.bias", "verb_cls_scores.weight")
    paths = {}
    for value in (1.0, 2.0):
        paths[value] = tmp_path / f"{value}.pt"
        torch.save({"model_state_dict": {n: torch.full((2, 2), value) for n in names}}, paths[value])
    out = combine_checkpoints(tmp_path / "combined.pt", {"hand": paths[2.0], "verb": paths[2.0]}, base=paths[1.0])
    combined = {n: float(t[0, 0]) for n, t in _params(out).items()}
    assert combined == {"resnet50.conv1.weight": 1.0, "fc7_parts.0.0.weight": 1.0, "fc7_parts.3.0.weight": 2.0,
                        "pool2_flat_pose_maps.3.0.weight": 2.0, "part_cls_scores.3.bias": 2.0,
                        "verb_cls_scores.weight": 2.0}

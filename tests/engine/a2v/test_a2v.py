"""A2V public API, modes, the pipeline stage (stride carry, no-weights mode) and the benchmark command."""
import json
import logging
import math

import numpy as np
import pytest
import torch

from engine.a2v.api import A2V, A2VError
from engine.a2v.net import PastaNet, preprocess, save_checkpoint
from engine.a2v.parts import clip_boxes, part_boxes, skeleton_maps
from engine.bench.a2v import main as bench_main
from engine.bench.a2v_baseline import synthetic_persons
from engine.config import Config
from engine.stages.a2v import A2VStage
from engine.types import FrameResult, Person

H, W = 96, 128


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A random-weights checkpoint in the official wrapper and a random 93×1536 language matrix."""
    folder = tmp_path_factory.mktemp("a2v_files")
    torch.manual_seed(0)
    net = PastaNet().eval()
    checkpoint = save_checkpoint(net, folder / "a2v_random.pth", note="random weights for tests")
    matrix = np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32)
    np.save(folder / "language.npy", matrix)
    return {"checkpoint": checkpoint, "language": folder / "language.npy", "net": net, "matrix": matrix}


@pytest.fixture(scope="module")
def a2v(files):
    return A2V.from_files(checkpoint=files["checkpoint"], language_matrix=str(files["language"]), device="cpu")


def _scene(n=2, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    boxes, keypoints = synthetic_persons(n, W, H, seed=seed)
    boxes[0] = (-10, -5, 60, 90)                    # partly outside: part boxes get clipped
    return image, boxes, keypoints


def test_infer_outputs_match_the_network(a2v, files):
    image, boxes, keypoints = _scene()
    out = a2v.infer(image, boxes, keypoints)
    shapes = {k: v.shape for k, v in out.items()}
    assert shapes == {"part_boxes": (2, 10, 4), "skeleton_maps": (2, 64, 64), "pasta": (2, 93),
                      "actions": (2, 157), "visual": (2, 3072), "language": (2, 1536)}
    assert all(v.dtype == np.float32 for v in out.values())
    parts = clip_boxes(part_boxes(keypoints, boxes), (W, H))
    np.testing.assert_array_equal(out["part_boxes"], parts)
    assert out["part_boxes"].min() >= 0 and out["part_boxes"][..., 2].max() <= W
    np.testing.assert_array_equal(out["skeleton_maps"], skeleton_maps(keypoints, (W, H)))
    with torch.no_grad():
        ref = files["net"](preprocess(image), torch.from_numpy(boxes), torch.from_numpy(parts),
                           torch.from_numpy(out["skeleton_maps"]))
    np.testing.assert_allclose(out["pasta"], ref.pasta_probs.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["actions"], ref.verb_probs.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["visual"], ref.visual.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out["language"], out["pasta"] @ files["matrix"], rtol=1e-5, atol=1e-4)


def test_from_files_accepts_a_state_dict_and_an_array(files):
    model = A2V.from_files(checkpoint=files["net"].state_dict(), language_matrix=files["matrix"][:, :768],
                           fuse_bn=False)
    image, boxes, keypoints = _scene(1, seed=3)
    out = model.infer(image, boxes, keypoints)
    assert out["language"].shape == (1, 768)


def test_fast_mode_runs_the_trunk_on_the_downscaled_frame(a2v, files):
    from engine.cvcompat import cv2

    image, boxes, keypoints = _scene(seed=1)
    fast = A2V(files["net"], files["matrix"], mode="fast", fast_long_side=64)
    out = fast.infer(image, boxes, keypoints)
    # The same as parity on the frame resized to 64×48 with boxes × 0.5 (skeleton maps are scale-free).
    small = cv2.resize(image, (64, 48), interpolation=cv2.INTER_LINEAR)
    parts = clip_boxes(part_boxes(keypoints, boxes), (W, H))
    with torch.no_grad():
        ref = files["net"](preprocess(small), torch.from_numpy(boxes * 0.5), torch.from_numpy(parts * 0.5),
                           torch.from_numpy(skeleton_maps(keypoints, (W, H))))
    np.testing.assert_allclose(out["pasta"], ref.pasta_probs.numpy(), atol=1e-5)
    np.testing.assert_array_equal(out["part_boxes"], parts)      # reported in original pixels
    # A frame already below the long side is not resized: fast = parity.
    same = A2V(files["net"], files["matrix"], mode="fast", fast_long_side=512).infer(image, boxes, keypoints)
    np.testing.assert_allclose(same["pasta"], a2v.infer(image, boxes, keypoints)["pasta"], atol=1e-6)


def test_no_persons_and_bad_inputs(a2v):
    image = np.zeros((H, W, 3), np.uint8)
    out = a2v.infer(image, np.zeros((0, 4)), np.zeros((0, 17, 3)))
    assert out["pasta"].shape == (0, 93) and out["language"].shape == (0, 1536)
    with pytest.raises(A2VError, match="uint8"):
        a2v.infer(image.astype(np.float32), np.zeros((0, 4)), np.zeros((0, 17, 3)))
    with pytest.raises(A2VError, match=r"\(N, 17, 3\)"):
        a2v.infer(image, np.zeros((2, 4)), np.zeros((1, 17, 3)))
    with pytest.raises(A2VError, match="mode"):
        A2V(a2v.net, None, mode="turbo")


# ------------------------------------------------------------------------------------------------ stage

def _frame(index, persons_spec, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    boxes, keypoints = synthetic_persons(len(persons_spec), W, H, seed=seed)
    persons = [Person(box=b, score=0.9, keypoints=k, track_id=t) for b, k, t in zip(boxes, keypoints, persons_spec)]
    return image, FrameResult(index=index, timestamp=index / 25, image_size=(W, H), persons=persons)


def test_stage_without_weights_fills_part_boxes_and_says_why(caplog, monkeypatch):
    config = Config()
    config.device = "cpu"
    with caplog.at_level(logging.WARNING):
        stage = A2VStage(config)
    assert "weights import a2v_v1" in caplog.text        # the full manual steps, logged once
    assert "part boxes only" in stage.describe()
    image, result = _frame(0, [1, -1])
    stage(image, result)
    # Tests run offline (A2V_OFFLINE=1): fetching is no use there, the hint says how to import.
    assert "weights import a2v_v1 pretrained_model.pth" in result.info["pasta_off"]
    monkeypatch.delenv("A2V_OFFLINE")
    assert "weights fetch a2v_v1" in A2VStage(config).pasta_off  # online: fetch (it prints the steps if it fails)
    for p in result.persons:
        assert p.part_boxes.shape == (10, 4) and p.pasta is None and p.actions is None
    stage.close()


def test_stage_fills_every_person_and_carries_results_along_tracks(files):
    config = Config()
    config.device = "cpu"
    config.a2v.checkpoint = str(files["checkpoint"])
    config.a2v.language = str(files["language"])
    config.a2v.mode = "parity"
    config.a2v.stride = 2
    stage = A2VStage(config)
    assert stage.name == "a2v" and "parity" in stage.describe() and "every 2 frames" in stage.describe()

    image, first = _frame(10, [7, -1])
    stage(image, first)
    assert "pasta_off" not in first.info
    for p in first.persons:
        assert p.pasta.shape == (93,) and p.actions.shape == (157,) and p.visual.shape == (3072,)
        assert p.language.shape == (1536,) and p.pasta_age == 0
    image, second = _frame(11, [7, -1], seed=1)           # off-frame: the track carries its results
    stage(image, second)
    tracked, untracked = second.persons
    np.testing.assert_array_equal(tracked.pasta, first.persons[0].pasta)
    assert tracked.pasta_age == 1 and untracked.pasta is None
    assert tracked.part_boxes is not None and untracked.part_boxes is not None
    image, third = _frame(12, [7, -1], seed=2)
    stage(image, third)
    assert third.persons[0].pasta_age == 0 and third.persons[1].pasta is not None
    stage.close()


def test_benchmark_command_runs_and_compares_with_the_baseline(tmp_path):
    out = tmp_path / "a2v.json"
    assert bench_main(["--sizes", "64x48", "--persons", "2", "--repeats", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["persons"] for r in report["rows"]] == [2]
    assert {"baseline_persons_per_s", "parity_persons_per_s", "fast_persons_per_s", "parity_speedup",
            "parity_onnx_persons_per_s", "fast_onnx_speedup", "parity_openvino_persons_per_s",
            "parity_openvino_speedup", "fast_openvino_speedup"} <= set(report["rows"][0])
    assert report["auto_runtime"] == "torch"          # the suite forces auto to torch (tests/conftest.py)
    for mode in ("parity", "parity_onnx", "parity_openvino"):
        assert report["vs_baseline_max_abs"][mode]["pasta"] < 1e-4
        assert report["vs_baseline_max_abs"][mode]["visual"] < 1e-3
    row = report["rows"][0]
    for key in ("baseline_persons_per_s", "parity_persons_per_s", "fast_persons_per_s", "parity_speedup"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row)  # a median of 0 or NaN would fail here


def test_stage_with_graph_runtimes_gives_the_torch_stage_numbers(files, monkeypatch):
    monkeypatch.delenv("A2V_AUTO_RUNTIME")          # auto as users get it: OpenVINO on a CPU
    stages = {}
    for runtime in ("torch", "onnx", "auto"):
        config = Config()
        config.device = "cpu"
        config.a2v.checkpoint = str(files["checkpoint"])
        config.a2v.language = str(files["language"])
        config.a2v.mode = "parity"
        config.a2v.runtime = runtime
        stages[runtime] = A2VStage(config)
    assert "via ONNX Runtime (CPUExecutionProvider) (runtime onnx, as configured)" in stages["onnx"].describe()
    assert "via PyTorch (runtime torch, as configured)" in stages["torch"].describe()
    assert "via OpenVINO (CPU, f32) (runtime openvino, auto: fastest installed on a CPU)" in \
        stages["auto"].describe()
    section = stages["auto"].provenance()
    assert (section["runtime"], section["runtime_requested"]) == ("openvino", "auto")
    assert stages["onnx"].model.onnx.graph_path == stages["auto"].model.onnx.graph_path  # one export
    results = {}
    for runtime, stage in stages.items():
        image, result = _frame(0, [1, 2], seed=4)
        stage(image, result)
        results[runtime] = result.persons
        stage.close()
    for a, b in [pair for other in ("onnx", "auto") for pair in zip(results["torch"], results[other])]:
        assert np.abs(a.pasta - b.pasta).max() <= 1e-4 and np.abs(a.actions - b.actions).max() <= 1e-4
        assert np.abs(a.visual - b.visual).max() <= 1e-3 and a.language.shape == b.language.shape


# -------------------------------------------------------------------------------------- batching, photos

def _images_of_sizes(sizes, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, (w, h) in enumerate(sizes):
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        boxes, keypoints = synthetic_persons(i % 3 + 1 if i != 1 else 0, w, h, seed=seed + i)
        out.append((image, boxes, keypoints))
    return out


@pytest.mark.parametrize("mode", ["parity", "fast"])
def test_infer_batch_equals_infer_image_by_image(files, mode):
    """Several images in one call: same-size ones share a trunk forward, the heads run once for all
    persons; an image without persons in the middle keeps its place. Numbers as one image at a time."""
    model = A2V.from_files(checkpoint=files["checkpoint"], language_matrix=str(files["language"]),
                           device="cpu", mode=mode, fast_long_side=96)
    scenes = _images_of_sizes([(W, H), (W, H), (W, H), (80, 112)])   # three of one size, one other
    batched = model.infer_batch(*zip(*scenes))
    assert len(batched) == 4 and batched[1]["pasta"].shape == (0, 93)
    for (image, boxes, keypoints), got in zip(scenes, batched):
        ref = model.infer(image, boxes, keypoints)
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].shape == ref[key].shape, key
            np.testing.assert_allclose(got[key], ref[key], atol=2e-4, err_msg=key)
    assert model.infer_batch([], [], []) == []


def _stage(files, **a2v):
    config = Config()
    config.device = "cpu"
    config.a2v.checkpoint = str(files["checkpoint"])
    config.a2v.language = str(files["language"])
    config.a2v.mode = "parity"
    for key, value in a2v.items():
        setattr(config.a2v, key, value)
    return A2VStage(config)


def test_stage_process_batch_equals_frame_by_frame(files):
    stage, frames = _stage(files), [_frame(i, [1, 2][: i % 2 + 1], seed=i) for i in range(3)]
    one_by_one = []
    for image, result in frames:
        stage(image, result)
        one_by_one.append([p.pasta.copy() for p in result.persons])
    for _, result in frames:
        for p in result.persons:
            p.pasta = None
    stage.process_batch([f[0] for f in frames], [f[1] for f in frames])
    for (_, result), ref in zip(frames, one_by_one):
        for p, pasta in zip(result.persons, ref):
            np.testing.assert_allclose(p.pasta, pasta, atol=2e-4)
            assert p.pasta_age == 0 and p.part_boxes.shape == (10, 4)
    stage.close()


def test_stage_on_still_images_runs_every_image_and_carries_nothing(files):
    """Independent photos: per-image numbers are not tracks, so stride is ignored and nothing is carried
    (person 1 of the next photo is somebody else)."""
    stage = _stage(files, stride=3)
    stage.set_still_images(True)
    for i in range(4):
        image, result = _frame(i, [1], seed=i)
        stage(image, result)
        assert result.persons[0].pasta is not None and result.persons[0].pasta_age == 0
    assert stage._carried == {}
    stage.close()


def test_pipeline_with_batches_gives_the_same_results_as_frame_by_frame(files):
    from engine.pipeline import Pipeline

    frames = [_frame(i, [1, 2], seed=i) for i in range(5)]

    class Frames:
        is_live, can_seek, dropped, end_reason = False, False, 0, "end"

        def __init__(self):
            self.items = iter(frames)

        def read(self):
            from engine.io.sources import Frame

            item = next(self.items, None)
            return None if item is None else Frame(item[1].index, item[1].timestamp, item[0])

        def close(self):
            pass

    outputs = {}
    for batch_size in (1, 3):
        config = Config()
        config.pose.batch_size = batch_size
        seen = []

        def keep(annotated, result, seen=seen):
            seen.append([p.pasta for p in result.persons])

        class Persons:
            """Puts each frame's known persons back (the pose stage's job), so only A2V is measured."""
            name = "persons"

            def __call__(self, image, result):
                result.persons = [Person(box=p.box, score=p.score, keypoints=p.keypoints, track_id=p.track_id)
                                  for p in frames[result.index][1].persons]

            def close(self):
                pass

        stage = _stage(files)
        stage.config.pose.batch_size = batch_size  # the stage owns its batch size (engine.stages.base.BatchStage)
        calls = []

        def counted(*args, calls=calls, original=stage.model.infer_batch):
            calls.append(len(args[0]))
            return original(*args)

        stage.model.infer_batch = counted
        sink = type("S", (), {"name": "keep", "write": staticmethod(keep), "close": staticmethod(lambda: None)})
        Pipeline(Frames(), [Persons(), stage], sinks=[sink], config=config, render=None).run()
        outputs[batch_size] = (seen, calls)
    assert outputs[1][1] == [] and sum(outputs[3][1]) >= 1  # batch_size 1 never batches
    for a, b in zip(outputs[1][0], outputs[3][0]):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, atol=2e-4)
    assert len(outputs[1][0]) == len(outputs[3][0]) == 5

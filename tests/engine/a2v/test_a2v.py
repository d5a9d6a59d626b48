"""A2V public API, modes, the pipeline stage (stride carry, no-weights mode) and the benchmark command."""
import json
import logging

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


def test_stage_without_weights_fills_part_boxes_and_says_why(caplog):
    config = Config()
    config.device = "cpu"
    with caplog.at_level(logging.WARNING):
        stage = A2VStage(config)
    assert "weights import a2v_v1" in caplog.text        # the full manual steps, logged once
    assert "part boxes only" in stage.describe()
    image, result = _frame(0, [1, -1])
    stage(image, result)
    assert "weights fetch a2v_v1" in result.info["pasta_off"]
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
            "parity_onnx_persons_per_s", "fast_onnx_speedup"} <= set(report["rows"][0])
    for mode in ("parity", "parity_onnx"):
        assert report["vs_baseline_max_abs"][mode]["pasta"] < 1e-4
        assert report["vs_baseline_max_abs"][mode]["visual"] < 1e-3


def test_stage_with_onnx_runtime_gives_the_torch_stage_numbers(files):
    stages = {}
    for runtime in ("torch", "onnx"):
        config = Config()
        config.device = "cpu"
        config.a2v.checkpoint = str(files["checkpoint"])
        config.a2v.language = str(files["language"])
        config.a2v.mode = "parity"
        config.a2v.runtime = runtime
        stages[runtime] = A2VStage(config)
    assert "ONNX Runtime (CPUExecutionProvider)" in stages["onnx"].describe()
    assert "ONNX Runtime" not in stages["torch"].describe()
    results = {}
    for runtime, stage in stages.items():
        image, result = _frame(0, [1, 2], seed=4)
        stage(image, result)
        results[runtime] = result.persons
        stage.close()
    for a, b in zip(results["torch"], results["onnx"]):
        assert np.abs(a.pasta - b.pasta).max() <= 1e-4 and np.abs(a.actions - b.actions).max() <= 1e-4
        assert np.abs(a.visual - b.visual).max() <= 1e-3 and a.language.shape == b.language.shape

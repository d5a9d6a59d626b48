"""The faster parity paths (BN-folded channels-last PyTorch, ONNX Runtime, OpenVINO) give the plain forward's numbers
within the parity tolerances (probabilities 1e-4, visual 1e-3) on random inputs of several sizes, odd ones
included, and 0, 1 and 10 persons; ``export onnx``; fast mode's distance from parity (bench helper)."""
import numpy as np
import pytest
import torch

from engine.a2v.api import A2V
from engine.a2v.net import PastaNet
from engine.bench.a2v_baseline import synthetic_persons

TOL = {"pasta": 1e-4, "actions": 1e-4, "visual": 1e-3, "language": 1e-3}
SIZES = [(64, 48), (83, 61), (97, 131)]     # (W, H); odd sizes give odd conv4 maps (ceil of /16)


@pytest.fixture(scope="module")
def net():
    """Random weights with non-trivial BatchNorm statistics, so that folding BN changes the arithmetic."""
    torch.manual_seed(0)
    model = PastaNet().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model


@pytest.fixture(scope="module")
def models(net):
    language = np.random.default_rng(0).standard_normal((93, 768)).astype(np.float32)
    plain = A2V(net, language, mode="parity", fuse_bn=False, runtime="torch")   # PastaNet.forward as it is
    fused = A2V(net, language, mode="parity", runtime="torch")                  # BN folded + channels-last
    onnx = A2V(net, language, mode="parity", runtime="onnx")                    # exported, ONNX Runtime
    openvino = A2V(net, language, mode="parity", runtime="openvino")            # the same graph, OpenVINO f32
    assert openvino.onnx.graph_path == onnx.onnx.graph_path                     # one cached export for both
    return plain, fused, onnx, openvino


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("n", [0, 1, 10])
def test_faster_parity_paths_equal_the_plain_forward(models, size, n):
    plain, fused, onnx, openvino = models
    assert fused.runner is not plain.runner and fused.runner.channels_last and onnx.onnx is not None
    assert openvino.runtime == "openvino" and openvino.onnx.label == "OpenVINO (CPU, f32)"
    width, height = size
    image = np.random.default_rng(n + width).integers(0, 255, (height, width, 3), dtype=np.uint8)
    boxes, keypoints = synthetic_persons(n, width, height, seed=n + height)
    if n:
        boxes[0] += (-10, -5, 15, 8)     # a human box reaching outside the image (not clipped, as official)
    ref = plain.infer(image, boxes, keypoints)
    for other in (fused, onnx, openvino):
        out = other.infer(image, boxes, keypoints)
        for key, tol in TOL.items():
            assert out[key].shape == ref[key].shape == (n, ref[key].shape[1])
            assert out[key].dtype == np.float32
            if n:
                assert np.abs(out[key] - ref[key]).max() <= tol, (other.runtime, key, size, n)
    if n:
        assert ref["pasta"].std() > 0           # the inputs reach the outputs (not a constant)


def test_graph_runtimes_fast_mode_matches_torch_fast_mode(models):
    _, fused, onnx, openvino = models
    import copy

    a = copy.copy(fused)
    a.mode, a.fast_long_side = "fast", 48
    image = np.random.default_rng(3).integers(0, 255, (61, 97, 3), dtype=np.uint8)
    boxes, keypoints = synthetic_persons(3, 97, 61, seed=3)
    x = a.infer(image, boxes, keypoints)
    for other in (onnx, openvino):
        b = copy.copy(other)
        b.mode, b.fast_long_side = "fast", 48
        y = b.infer(image, boxes, keypoints)
        assert np.abs(x["pasta"] - y["pasta"]).max() <= 1e-4 and np.abs(x["visual"] - y["visual"]).max() <= 1e-3


def test_openvino_keeps_the_last_sizes_and_recompiles_evicted_ones(models):
    _, fused, _, openvino = models
    runner = openvino.onnx
    for width, height in [(64, 48), (83, 61), (97, 131), (64, 48)]:
        image = np.random.default_rng(width).integers(0, 255, (height, width, 3), dtype=np.uint8)
        boxes, keypoints = synthetic_persons(2, width, height, seed=width)
        got, ref = openvino.infer(image, boxes, keypoints), fused.infer(image, boxes, keypoints)
        assert np.abs(got["pasta"] - ref["pasta"]).max() <= 1e-4
    assert list(runner._compiled) == [(131, 97), (48, 64)][-runner.max_sizes:]


def test_export_command_writes_a_checked_model_and_fixed_size_is_enforced(tmp_path, net, capsys):
    import onnx

    from engine.a2v.onnx_export import OnnxA2VRunner, export_onnx
    from main import main

    out = tmp_path / "a2v.onnx"
    assert main(["export", "onnx", str(out), "--random-weights", "--size", "65x49"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "ONNX Runtime vs PyTorch, max |Δ|" in printed
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["image", "human_boxes", "part_boxes", "skeletons"]
    runner = OnnxA2VRunner(out)
    assert runner.fixed_hw == (49, 65)
    with pytest.raises(ValueError, match="export it with --dynamic"):
        runner(np.zeros((1, 3, 50, 65), np.float32), np.zeros((1, 4), np.float32),
               np.zeros((1, 10, 4), np.float32), np.zeros((1, 1, 64, 64), np.float32))
    # The exported trained net agrees with PyTorch within the parity tolerances (checked here, not only
    # by the command): 10 persons at the fixed size.
    path = export_onnx(net, tmp_path / "net.onnx", size=(65, 49))
    boxes, keypoints = synthetic_persons(10, 65, 49, seed=5)
    image = np.random.default_rng(5).integers(0, 255, (49, 65, 3), dtype=np.uint8)
    language = np.zeros((93, 4), np.float32)
    ref = A2V(net, language, fuse_bn=False, runtime="torch").infer(image, boxes, keypoints)
    for runtime in ("onnx", "openvino"):
        got = A2V(net, language, runtime=runtime, onnx_model=path).infer(image, boxes, keypoints)
        for key in ("pasta", "actions", "visual"):
            assert np.abs(got[key] - ref[key]).max() <= TOL[key], (runtime, key)
    with pytest.raises(ValueError, match="export it with --dynamic"):
        A2V(net, language, runtime="openvino", onnx_model=path).infer(image[:40], boxes, keypoints)


def test_export_command_bad_checkpoint_is_one_line(tmp_path, capsys):
    from main import main

    assert main(["export", "onnx", str(tmp_path / "x.onnx"), "--checkpoint", str(tmp_path / "none.pth")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("a2v: error: --checkpoint")


def test_compare_fast_measures_the_distance_from_parity(models):
    import copy

    from engine.bench.a2v import compare_fast

    _, fused, _, _ = models
    fast = copy.copy(fused)
    fast.mode, fast.fast_long_side = "fast", 64
    image = np.random.default_rng(9).integers(0, 255, (131, 197, 3), dtype=np.uint8)
    samples = [(image, *synthetic_persons(4, 197, 131, seed=9))]
    same = compare_fast(fused, fused, samples)
    assert same["persons"] == 4 and same["max_abs_dpasta"] == 0.0 and same["top_action_agreement"] == 1.0
    assert set(same["top1_agreement"]) == {"foot", "leg", "hip", "hand", "arm", "head"}
    moved = compare_fast(fused, fast, samples)
    assert moved["max_abs_dpasta"] > 0 and moved["p90_abs_dpasta"] >= moved["median_abs_dpasta"]
    assert all(0.0 <= v <= 1.0 for v in moved["top1_agreement"].values())


def test_missing_onnx_model_is_one_line(net, tmp_path):
    from engine.a2v.api import A2VError

    for runtime in ("onnx", "openvino"):
        with pytest.raises(A2VError, match="cannot be loaded.*export onnx"):
            A2V(net, None, runtime=runtime, onnx_model=tmp_path / "none.onnx")

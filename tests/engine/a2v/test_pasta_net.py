"""PaSta network: official v1 layout (strict loading), our checkpoints, batched ROI crop = official crop."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from engine.a2v.net import (
    CheckpointError,
    FusedPastaNet,
    PastaNet,
    fuse_for_inference,
    init_trunk_from_torchvision,
    preprocess,
    save_checkpoint,
)
from engine.a2v.roi import roi_crop, roi_crop_official

ROOT = Path(__file__).resolve().parents[3]
STATE_DICT_TSV = ROOT.parent / "shared" / "hake" / "a2v_v1_state_dict.tsv"


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = PastaNet().eval()
    # Non-trivial BN statistics, so BN folding and BN-eval checks mean something.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


def _inputs(n=3, h=96, w=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(1, 3, h, w, generator=g) * 50
    x1 = torch.rand(n, generator=g) * w * 0.5
    y1 = torch.rand(n, generator=g) * h * 0.5
    human = torch.stack([x1, y1, x1 + 20 + torch.rand(n, generator=g) * w * 0.5,
                         y1 + 20 + torch.rand(n, generator=g) * h * 0.5], dim=1)
    centres = human[:, None, :2] + torch.rand(n, 10, 2, generator=g) * (human[:, None, 2:] - human[:, None, :2])
    half = 4 + torch.rand(n, 10, 1, generator=g) * 20
    parts = torch.cat([centres - half, centres + half], dim=2)
    skeletons = torch.rand(n, 64, 64, generator=g)
    return image, human, parts, skeletons


def _tsv_rows():
    rows = [line.rstrip("\n").split("\t") for line in STATE_DICT_TSV.read_text().splitlines()[1:]]
    return [(r[1], tuple(int(v) for v in r[2].split("x")) if r[2] else (), r[3], r[5] if len(r) > 5 else "")
            for r in rows]


# ------------------------------------------------------------------------------------------------ layout

def test_state_dict_names_and_shapes_match_the_official_file(net):
    if not STATE_DICT_TSV.is_file():
        pytest.skip(f"{STATE_DICT_TSV} not present (needs ../shared from the project workspace)")
    rows = _tsv_rows()
    state = net.state_dict()
    assert list(state) == [r[0] for r in rows]
    assert {name: tuple(t.shape) for name, t in state.items()} == {r[0]: r[1] for r in rows}
    assert len({t.data_ptr() for t in state.values()}) == 380
    assert sum(p.numel() for p in net.parameters()) == 48_685_850


def test_aliases_are_the_same_tensors(net):
    assert net.image_to_head[2].weight is net.resnet50.conv1.weight
    assert net.image_to_head[10] is net.resnet50.layer3
    assert net.resnet_layer4 is net.resnet50.layer4
    assert net.resnet_layer4[0].conv1.stride == (1, 1) and net.resnet50.layer3[0].conv1.stride == (2, 2)


def test_official_layout_checkpoint_from_the_tsv_loads_strictly(tmp_path):
    if not STATE_DICT_TSV.is_file():
        pytest.skip(f"{STATE_DICT_TSV} not present (needs ../shared from the project workspace)")
    state = {}
    for name, shape, dtype, alias in _tsv_rows():
        if alias:
            state[name] = state[alias]      # the official file stores aliases as the same tensor
        elif dtype == "int64":
            state[name] = torch.tensor(7)
        else:
            state[name] = torch.full(shape, 0.01)
    state["verb_cls_scores.bias"] = torch.arange(157, dtype=torch.float32)
    state["resnet50.layer4.2.bn3.running_var"].fill_(3.0)   # in place: its alias sees it too
    path = tmp_path / "pretrained_model.pth"
    torch.save({"iters": 100, "model_state_dict": state}, path)
    model = PastaNet()
    model.load_checkpoint(path)
    assert torch.equal(model.verb_cls_scores.bias, torch.arange(157, dtype=torch.float32))
    assert torch.equal(model.resnet_layer4[2].bn3.running_var, torch.full((2048,), 3.0))
    assert model.image_to_head[3].weight is model.resnet50.bn1.weight


def test_own_state_dict_in_the_official_wrapper_loads_strictly(tmp_path, net):
    path = tmp_path / "official_style.pth"
    torch.save({"iters": 1, "model_state_dict": net.state_dict(), "optimizer_state_dict": {}}, path)
    model = PastaNet()
    model.load_checkpoint(path)
    for (k, a), b in zip(net.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), k


def test_own_checkpoint_round_trips(tmp_path, net):
    path = save_checkpoint(net, tmp_path / "ours.pth", epoch=3, note="test")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "a2v-pasta/1" and raw["epoch"] == 3
    model = PastaNet()
    model.load_checkpoint(str(path))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), model.state_dict().values()))


def test_trunk_only_names_are_completed_and_bad_checkpoints_are_one_line_errors(net):
    state = {k: v for k, v in net.state_dict().items()
             if not k.startswith(("image_to_head.", "resnet_layer4."))}
    model = PastaNet()
    model.load_checkpoint(state)
    assert torch.equal(model.image_to_head[2].weight, net.resnet50.conv1.weight)
    broken = dict(state)
    broken.pop("verb_cls_scores.weight")
    with pytest.raises(CheckpointError, match="1 missing"):
        PastaNet().load_checkpoint(broken)
    wrong = dict(state)
    wrong["part_cls_scores.0.weight"] = torch.zeros(15, 512)
    with pytest.raises(CheckpointError, match="shape"):
        PastaNet().load_checkpoint(wrong)


# ------------------------------------------------------------------------------------------------- ROIs

def test_batched_roi_crop_equals_the_official_per_roi_crop():
    g = torch.Generator().manual_seed(1)
    features = torch.randn(1, 8, 30, 40, generator=g)
    boxes = torch.tensor([[0.0, 0.0, 639.0, 479.0],      # whole image
                          [100.5, 50.25, 180.0, 300.0],
                          [-40.0, -30.0, 60.0, 90.0],       # partly outside: zero padding
                          [630.0, 470.0, 700.0, 520.0],
                          [200.0, 200.0, 200.0, 200.0]])    # degenerate
    boxes = torch.cat([boxes, _random_boxes(g, 20)])
    batched = roi_crop(features, boxes)
    assert batched.shape == (25, 8, 7, 7)
    for i, box in enumerate(boxes):
        torch.testing.assert_close(batched[i:i + 1], roi_crop_official(features, box), atol=1e-5, rtol=0)


def _random_boxes(g, n):
    xy = torch.rand(n, 2, generator=g) * torch.tensor([600.0, 440.0])
    wh = 1 + torch.rand(n, 2, generator=g) * 200
    return torch.cat([xy, xy + wh], dim=1)


def test_network_roi_features_equal_official_style_crops(net):
    image, human, parts, _ = _inputs()
    with torch.no_grad():
        head = net.conv4(image)
        h, p, s = net.roi_features(head, human, parts)
        for i in range(human.shape[0]):
            ref_h = net.resnet_layer4(roi_crop_official(head, human[i])).mean(dim=(2, 3))
            torch.testing.assert_close(h[i:i + 1], ref_h, atol=1e-5, rtol=1e-5)
            for j in range(10):
                ref_p = roi_crop_official(head, parts[i, j]).mean(dim=(2, 3))
                torch.testing.assert_close(p[i, j:j + 1], ref_p, atol=1e-5, rtol=0)
        torch.testing.assert_close(s[0], head.mean(dim=(2, 3))[0])
    assert head.shape[1:] == (1024, 6, 8)   # stride 16 on 96×128


# ---------------------------------------------------------------------------------------------- forward

def test_forward_equals_the_official_structure_baseline_and_the_fused_view(net):
    from engine.bench.a2v_baseline import baseline_forward

    image, human, parts, skeletons = _inputs()
    with torch.no_grad():
        out = net(image, human, parts, skeletons)
        ref = baseline_forward(net, image, human, parts, skeletons)
        runner = fuse_for_inference(net)
        fused = runner(image, human, parts, skeletons)
    assert [t.shape[1] for t in out.group_logits] == [16, 15, 6, 34, 8, 14]
    assert out.pasta_probs.shape == (3, 93) and out.verb_probs.shape == (3, 157) and out.visual.shape == (3, 3072)
    torch.testing.assert_close(out.pasta_logits, ref.pasta_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.verb_logits, ref.verb_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.visual, ref.visual, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fused.pasta_probs, out.pasta_probs, atol=1e-5, rtol=0)
    torch.testing.assert_close(fused.visual, out.visual, atol=1e-3, rtol=1e-4)
    assert isinstance(runner, FusedPastaNet) and runner.net[0] is net


def test_two_image_batch_equals_one_image_at_a_time(net):
    a = _inputs(n=2, seed=1)
    b = _inputs(n=1, seed=2)
    images = torch.cat([a[0], b[0]])
    with torch.no_grad():
        both = net(images, torch.cat([a[1], b[1]]), torch.cat([a[2], b[2]]), torch.cat([a[3], b[3]]),
                   image_index=torch.tensor([0, 0, 1]))
        one = net(*a)
        two = net(*b)
    torch.testing.assert_close(both.pasta_logits, torch.cat([one.pasta_logits, two.pasta_logits]),
                               atol=1e-4, rtol=1e-4)


def test_training_heads_only_keeps_trunk_frozen_and_bn_in_eval(net):
    model = PastaNet()
    model.load_checkpoint(net.state_dict())
    model.set_trainable(["hand", "verb"])
    model.train()
    assert all(not m.training for m in model.resnet50.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.fc7_parts[3].training and model.fc7_parts[3][2].training      # dropout on
    before = model.resnet50.layer1[0].bn1.running_mean.clone()
    out = model(*_inputs(n=2))
    loss = out.verb_logits.sum() + out.group_logits[3].sum()
    loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("fc7_parts.3.", "part_cls_scores.3.", "pool2_flat_pose_maps.3.",
                                           "verb_cls_scores.")) for n in trainable)
    assert model.fc7_parts[3][0].weight.grad is not None and model.fc7_parts[0][0].weight.grad is None
    assert model.resnet50.conv1.weight.grad is None
    assert torch.equal(model.resnet50.layer1[0].bn1.running_mean, before)
    with pytest.raises(ValueError, match="choose from"):
        model.set_trainable(["feet"])


def test_torchvision_imagenet_weights_initialise_the_trunk():
    import torchvision

    tv = torchvision.models.resnet50(weights=None).state_dict()
    model = PastaNet()
    copied = init_trunk_from_torchvision(model, tv)
    assert "layer4.2.conv3.weight" in copied and "fc.weight" not in copied
    assert torch.equal(model.resnet50.layer3[5].conv2.weight, tv["layer3.5.conv2.weight"])
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.image_to_head[2].weight, (tv["conv1.weight"] / (255 * std)).flip(1))


def test_preprocess_is_bgr_minus_means_without_scaling():
    image = np.zeros((4, 5, 3), np.uint8)
    image[..., 0] = 110
    t = preprocess(image)
    assert t.shape == (1, 3, 4, 5) and t.dtype == torch.float32
    torch.testing.assert_close(t[0, :, 0, 0], torch.tensor([110 - 102.9801, -115.9465, -122.7717]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_autocast_on_cuda_is_close_to_fp32(net):
    model = PastaNet()
    model.load_checkpoint(net.state_dict())
    model = model.cuda().eval()
    inputs = [t.cuda() for t in _inputs()]
    with torch.no_grad():
        ref = model(*inputs)
        with torch.autocast("cuda", dtype=torch.float16):
            half = model(*inputs)
    torch.testing.assert_close(half.pasta_probs.float(), ref.pasta_probs, atol=2e-2, rtol=0)


def test_heads_match_the_vocabulary_file(net):
    """The network's head sizes are read from the vocabulary file: a new state there changes the net."""
    import yaml

    from engine.paths import VOCAB_PATH

    data = yaml.safe_load(VOCAB_PATH.read_text(encoding="utf-8"))
    sizes = [len(group["states"]) for group in data["groups"]]
    assert sizes == [16, 15, 6, 34, 8, 14]  # the official checkpoint's heads
    assert [layer.out_features for layer in net.part_cls_scores] == sizes
    assert len(net.fc7_parts) == len(net.pool2_flat_pose_maps) == len(data["groups"])
    assert net.verb_cls_scores.out_features == len(data["actions"]) == 157
    assert net.verb_cls_scores.in_features == 512 * len(data["groups"])

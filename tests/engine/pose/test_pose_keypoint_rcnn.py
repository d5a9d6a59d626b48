"""Keypoint R-CNN at full architecture with random weights on the CPU (small input), and its checkpoint
going through the weights manager."""
import hashlib

import numpy as np
import pytest
import torch

from engine.pose.keypoint_rcnn import (
    KEYPOINT_LOGIT_VISIBLE,
    KeypointRCNNBackend,
    keypoint_confidence,
)
from engine.weights import store as weights
from engine.weights.store import WeightsEntry

MIN_SIZE = 128


@pytest.fixture(scope="module")
def random_backend():
    torch.manual_seed(0)
    # One box per image: the keypoint head costs ~7 GFLOP per box, the most of this model at a small size.
    return KeypointRCNNBackend("cpu", weights=None, score_threshold=0.0, min_size=MIN_SIZE, detections_per_img=1)


@pytest.fixture(scope="module")
def frame():
    return np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)


def test_keypoint_logits_become_probabilities():
    logits = np.array([-1e4, -5.0, 0.0, 0.61, 1.15, KEYPOINT_LOGIT_VISIBLE, 5.0, 15.0, 1e4], np.float32)
    conf = keypoint_confidence(logits)
    assert conf.dtype == np.float32 and (conf >= 0).all() and (conf <= 1).all()
    assert (np.diff(conf) >= 0).all()
    # Detectron's "visible" logit (2) is probability 0.5; the drawing (0.3) and part-box (0.2) thresholds
    # sit at logits 1.15 and 0.61.
    assert conf[5] == pytest.approx(0.5)
    assert conf[4] == pytest.approx(0.3, abs=0.005) and conf[3] == pytest.approx(0.2, abs=0.005)


@pytest.fixture(scope="module")
def batch_output(random_backend, frame):
    other = np.ascontiguousarray(frame[:100, :150])
    return [frame, other], random_backend.estimate([frame, other])


def test_full_architecture_runs_on_cpu_in_batches(random_backend, batch_output):
    images, batch = batch_output
    assert len(batch) == 2
    for persons, image in zip(batch, images):
        assert len(persons) == 1, "score threshold 0 keeps the random model's best box"
        for person in persons:
            assert person.keypoints.shape == (17, 3) and person.keypoints.dtype == np.float32
            assert (person.keypoints[:, 0] <= image.shape[1]).all()
            assert (person.keypoints[:, 1] <= image.shape[0]).all()
    assert random_backend.fp16 is False  # autocast only on CUDA
    assert random_backend.describe() == f"keypoint_rcnn (CPU, fp32, min_size {MIN_SIZE}, random weights)"


def test_checkpoint_is_imported_verified_and_loaded_through_the_manager(random_backend, batch_output, tmp_path):
    checkpoint = tmp_path / "my_keypointrcnn.pth"
    torch.save(random_backend.model.state_dict(), checkpoint)
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    real = weights.get_entry("keypointrcnn_resnet50_fpn_coco")
    weights.register(WeightsEntry(name="test_keypointrcnn", filename="test_keypointrcnn.pth",
                                  description="test", licence="test", used_by="tests", sha256=digest,
                                  expected_keys=real.expected_keys))
    try:
        cached = weights.import_file("test_keypointrcnn", checkpoint)
        assert cached.parent == weights.cache_dir()
        assert "matches" in weights.verify("test_keypointrcnn")
        loaded = KeypointRCNNBackend("cpu", weights="test_keypointrcnn", score_threshold=0.0, min_size=MIN_SIZE,
                                     detections_per_img=1, fetch=False)
        original = random_backend.model.state_dict()
        assert all(torch.equal(original[k], v) for k, v in loaded.model.state_dict().items())
        images, batch = batch_output
        expected, got = batch[0], loaded(images[0])
        assert len(got) == len(expected)
        for a, b in zip(expected, got):
            np.testing.assert_allclose(a.box, b.box, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=1e-5, atol=1e-4)
        assert "test_keypointrcnn" in loaded.describe()
    finally:
        weights.unregister("test_keypointrcnn")


def test_missing_weights_offline_say_how_to_get_them(monkeypatch):
    monkeypatch.setenv("A2V_OFFLINE", "1")  # no socket is opened (tests/engine/weights)
    with pytest.raises(weights.WeightsNotFound, match="weights import keypointrcnn_resnet50_fpn_coco"):
        KeypointRCNNBackend("cpu", min_size=MIN_SIZE)

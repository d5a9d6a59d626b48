"""Every pose backend keeps the same contract: shapes, dtypes and value ranges of what it returns."""
import numpy as np
import pytest
import torch

from engine.pose.base import BasePoseBackend, PoseBackend, PoseInputError
from engine.types import Person


def _frames():
    from skimage import data

    rng = np.random.default_rng(3)
    return [
        np.ascontiguousarray(data.astronaut()[:, :, ::-1]),  # a person, 512x512
        rng.integers(0, 256, (97, 131, 3), dtype=np.uint8),  # noise at an odd size
        np.zeros((64, 80, 3), np.uint8),                     # empty
    ]


def _mediapipe():
    from engine.pose.mediapipe_pose import MediaPipePoseBackend

    return MediaPipePoseBackend(video_mode=False)


def _mediapipe_with_detector():
    from engine.pose.mediapipe_pose import MediaPipePoseBackend
    from engine.pose.person_detector import TorchvisionPersonDetector

    torch.manual_seed(0)
    # Random weights: arbitrary boxes anywhere, which is what the per-box path must survive.
    detector = TorchvisionPersonDetector("cpu", weights=None, score_threshold=0.0, min_size=96, max_detections=3)
    return MediaPipePoseBackend(detector=detector, detector_note="per person box (random detector)")


def _keypoint_rcnn():
    from engine.pose.keypoint_rcnn import KeypointRCNNBackend

    torch.manual_seed(0)
    return KeypointRCNNBackend("cpu", weights=None, score_threshold=0.0, min_size=96, detections_per_img=1)


def _mediapipe_multi():
    from engine.pose.mediapipe_multi import MediaPipeMultiPoseBackend

    return MediaPipeMultiPoseBackend(video_mode=False)


BACKENDS = {"mediapipe": _mediapipe, "mediapipe_per_box": _mediapipe_with_detector, "keypoint_rcnn": _keypoint_rcnn,
            "mediapipe_multi": _mediapipe_multi}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def run(request):
    """(backend, frames, batched results) — each backend built and run once per module."""
    backend = BACKENDS[request.param]()
    frames = _frames()
    results = backend.estimate(frames)
    yield backend, frames, results
    backend.close()


def test_backend_follows_the_protocol(run):
    backend, _, _ = run
    assert isinstance(backend, PoseBackend) and isinstance(backend, BasePoseBackend)
    assert isinstance(backend.describe(), str) and backend.describe().startswith(backend.name)


def test_one_list_of_persons_per_frame(run):
    _, frames, results = run
    assert isinstance(results, list) and len(results) == len(frames)
    assert all(isinstance(persons, list) and all(isinstance(p, Person) for p in persons) for persons in results)


def test_shapes_dtypes_and_ranges(run):
    _, frames, results = run
    for frame, persons in zip(frames, results):
        height, width = frame.shape[:2]
        for person in persons:
            assert person.box.shape == (4,) and person.box.dtype == np.float32
            x1, y1, x2, y2 = person.box
            assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
            assert isinstance(person.score, float) and 0.0 <= person.score <= 1.0
            kp = person.keypoints
            assert kp.shape == (17, 3) and kp.dtype == np.float32 and np.isfinite(kp).all()
            assert (kp[:, 0] >= 0).all() and (kp[:, 0] <= width).all()
            assert (kp[:, 1] >= 0).all() and (kp[:, 1] <= height).all()
            assert (kp[:, 2] >= 0).all() and (kp[:, 2] <= 1).all()
            assert person.track_id == -1 and person.pasta is None


def test_nobody_in_an_empty_frame_for_trained_models(run):
    backend, _, results = run
    if backend.name == "mediapipe" and not getattr(backend, "per_box", False):
        assert results[2] == []


def test_single_call_equals_the_batch(run):
    backend, frames, results = run
    if backend.name == "keypoint_rcnn":
        pytest.skip("torchvision pads a batch of different sizes to one size, which moves a random model's "
                    "boxes; video frames share one size")
    single = backend(frames[0])
    assert len(single) == len(results[0])
    for a, b in zip(single, results[0]):
        np.testing.assert_allclose(a.box, b.box, rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((10, 10, 4), np.uint8), "frame.jpg"])
def test_bad_input_is_refused_with_the_fix(run, bad):
    backend, _, _ = run
    with pytest.raises(PoseInputError, match=r"\(H, W, 3\) BGR uint8"):
        backend.estimate([bad])

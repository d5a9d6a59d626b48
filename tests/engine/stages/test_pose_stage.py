"""The pose stage and backend choice: what the pipeline and the user see (persons, info, logs, errors)."""
import logging

import numpy as np
import pytest
import torch

from engine.config import load_config
from engine.device import DeviceError, resolve_device
from engine.pose.base import BasePoseBackend, keep_largest
from engine.pose.factory import build_pose_backend
from engine.pose.mediapipe_pose import MediaPipePoseBackend
from engine.stages.base import Stage
from engine.stages.pose import PoseStage
from engine.types import FrameResult, Person
from engine.weights import store as weights


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("A2V_OFFLINE", "1")  # no socket is opened (tests/engine/weights)


def _person(x1, y1, x2, y2):
    return Person(box=[x1, y1, x2, y2], score=0.9, keypoints=np.zeros((17, 3)))


class _FixedBackend(BasePoseBackend):
    name = "fixed"

    def __init__(self, persons):
        self.persons = persons
        self.closed = False

    def estimate(self, frames):
        return [list(self.persons) for _ in frames]

    def close(self):
        self.closed = True


def test_pose_stage_owns_its_batch_size_and_the_pipeline_uses_it():
    """The pipeline batches by the stage's ``batch_size`` (from ``pose.batch_size``, followed live)."""
    from engine.pipeline import Pipeline
    from engine.stages.base import BatchStage, PassThroughStage

    config = load_config(overrides=["pose.batch_size=3"])
    backend = _FixedBackend([_person(0, 0, 10, 20)])
    calls = []
    backend_estimate = backend.estimate
    backend.estimate = lambda frames: (calls.append(len(frames)), backend_estimate(frames))[1]
    stage = PoseStage(config, backend=backend)
    assert isinstance(stage, BatchStage) and stage.batch_size == 3

    class Frames:
        name, is_live, can_seek, dropped, end_reason = "frames", False, False, 0, ""

        def __init__(self):
            self.i = 0

        def read(self):
            from engine.io.sources.base import Frame

            self.i += 1
            return Frame(self.i - 1, 0.0, np.zeros((8, 8, 3), np.uint8)) if self.i <= 30 else None

        def seek(self, index):
            raise ValueError("no")

        def close(self):
            pass

    pipe = Pipeline(Frames(), [stage, PassThroughStage("slow", 1.0)], config=config, render=None)
    pipe.run()
    assert pipe.frames_done == 30 and max(calls) == 3 and sum(calls) == 30
    config.pose.batch_size = 5
    assert stage.batch_size == 5


def test_mediapipe_stage_fills_persons_and_says_how_it_ran(astronaut):
    config = load_config(overrides=["pose.backend=mediapipe", "device=cpu"])
    stage = PoseStage(config)
    try:
        assert isinstance(stage, Stage) and stage.name == "pose"
        result = FrameResult(index=0, timestamp=0.0, image_size=(512, 512))
        stage(astronaut, result)
        assert len(result.persons) == 1 and result.persons[0].keypoints.shape == (17, 3)
        info = result.info["pose_backend"]
        assert info == "mediapipe (CPU, one person per frame: no detector weights cached)"
        assert stage.describe() == info
        assert result.info["persons"] == 1
    finally:
        stage.close()


def test_stage_keeps_the_largest_persons():
    persons = [_person(0, 0, 10, 10), _person(0, 0, 50, 50), _person(0, 0, 5, 5), _person(0, 0, 30, 30)]
    config = load_config(overrides=["pose.max_persons=2"])
    backend = _FixedBackend(persons)
    stage = PoseStage(config, backend=backend)
    result = FrameResult(index=0, timestamp=0.0, image_size=(64, 64))
    stage(np.zeros((64, 64, 3), np.uint8), result)
    assert [p.box[2] for p in result.persons] == [50, 30]  # largest two, in the backend's order
    results = [FrameResult(index=i, timestamp=0.0, image_size=(64, 64)) for i in range(3)]
    stage.process_batch([np.zeros((64, 64, 3), np.uint8)] * 3, results)
    assert all(len(r.persons) == 2 and r.info["pose_backend"] == "fixed" for r in results)
    assert all(r.info["persons"] == 2 for r in results)  # counted after max_persons
    stage.close()
    assert backend.closed
    assert keep_largest(persons, 10) == persons


def test_auto_on_a_cpu_without_detector_weights_picks_mediapipe_multi_and_says_why(caplog):
    from engine.pose.mediapipe_multi import MediaPipeMultiPoseBackend

    config = load_config(overrides=["pose.backend=auto"])
    with caplog.at_level(logging.INFO):
        backend = build_pose_backend(config, torch.device("cpu"))
    try:
        assert isinstance(backend, MediaPipeMultiPoseBackend)
        assert backend.choice.startswith("auto → mediapipe_multi: no CUDA")
        assert "are not cached" in backend.choice
        assert "no CUDA" in caplog.text and "every person" in caplog.text
        assert "weights fasterrcnn_mobilenet_v3_large_fpn_coco are not cached" in backend.choice
        assert backend.describe().endswith("; no detector weights cached)")
        assert backend.detector_interval == config.pose.multi_detector_interval
        assert backend.tile_grids == (1, 2, 3) and backend.max_persons == config.pose.max_persons
    finally:
        backend.close()


def test_auto_on_a_cpu_with_cached_detector_weights_keeps_per_box_mediapipe(tmp_path):
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    checkpoint = tmp_path / "detector.pth"
    torch.save(fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None).state_dict(), checkpoint)
    config = load_config(overrides=["pose.backend=auto", f"pose.detector_weights={checkpoint}", "pose.min_size=96"])
    backend = build_pose_backend(config, torch.device("cpu"))
    try:
        assert isinstance(backend, MediaPipePoseBackend) and backend.per_box
        assert backend.choice.startswith("auto → mediapipe per person box: no CUDA")
        assert "are cached" in backend.choice
    finally:
        backend.close()


def test_explicit_mediapipe_multi_takes_the_config_knobs():
    config = load_config(overrides=["pose.backend=mediapipe_multi", "pose.multi_detector_interval=4",
                                    "pose.multi_tiles=[2]", "pose.multi_score_threshold=0.6",
                                    "pose.multi_nms_threshold=0.4", "pose.multi_tile_overlap=0.1",
                                    "pose.max_persons=3"])
    backend = build_pose_backend(config, torch.device("cpu"), video_mode=False)
    try:
        assert backend.name == "mediapipe_multi" and not backend.video_mode
        assert (backend.detector_interval, backend.tile_grids, backend.score_threshold, backend.nms_threshold,
                backend.tile_overlap, backend.max_persons) == (4, (1, 2), 0.6, 0.4, 0.1, 3)
        assert backend.choice == "mediapipe_multi (pose.backend: mediapipe_multi)"
    finally:
        backend.close()


def test_auto_on_cuda_without_weights_falls_back_to_the_cpu_choice(offline, caplog):
    # torch.device("cuda") is only a name here: the missing weights stop Keypoint R-CNN before any CUDA call.
    from engine.pose.mediapipe_multi import MediaPipeMultiPoseBackend

    config = load_config(overrides=["pose.backend=auto"])
    with caplog.at_level(logging.INFO):
        backend = build_pose_backend(config, torch.device("cuda"))
    try:
        assert isinstance(backend, MediaPipeMultiPoseBackend)
        assert "Keypoint R-CNN weights are missing" in backend.choice
        assert "python main.py weights import keypointrcnn_resnet50_fpn_coco" in caplog.text
    finally:
        backend.close()


def test_explicit_keypoint_rcnn_offline_stops_with_the_manual_steps(offline):
    config = load_config(overrides=["pose.backend=keypoint_rcnn", "pose.min_size=64"])
    with pytest.raises(weights.WeightsNotFound, match="download.pytorch.org/models/keypointrcnn"):
        build_pose_backend(config, torch.device("cpu"))


def test_explicit_detector_offline_stops_with_the_manual_steps(offline):
    config = load_config(overrides=["pose.backend=mediapipe", "pose.detector=fasterrcnn"])
    with pytest.raises(weights.WeightsNotFound, match="weights import fasterrcnn_mobilenet_v3_large_fpn_coco"):
        build_pose_backend(config, torch.device("cpu"))


def test_cached_detector_weights_turn_on_per_box_mode(tmp_path, astronaut):
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    torch.manual_seed(0)
    checkpoint = tmp_path / "detector.pth"
    torch.save(fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None).state_dict(), checkpoint)
    config = load_config(overrides=["pose.backend=mediapipe", f"pose.detector_weights={checkpoint}",
                                    "pose.min_size=96", "pose.score_threshold=0.0"])
    backend = build_pose_backend(config, torch.device("cpu"))
    try:
        assert backend.per_box
        assert backend.describe() == ("mediapipe (CPU, per person box from Faster R-CNN MobileNetV3 person "
                                      "detector on CPU)")
        for person in backend(astronaut):  # random detector: any boxes, but each becomes a valid person
            assert person.keypoints.shape == (17, 3)
    finally:
        backend.close()


def test_detector_none_is_said_in_the_description():
    config = load_config(overrides=["pose.backend=mediapipe", "pose.detector=none"])
    backend = build_pose_backend(config, torch.device("cpu"))
    try:
        assert backend.describe() == "mediapipe (CPU, one person per frame: detector off (pose.detector: none))"
    finally:
        backend.close()


# --------------------------------------------------------------------------------------------------- device

def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected_auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected_auto
    assert resolve_device(None).type == expected_auto
    with pytest.raises(DeviceError, match="unknown device; use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")


def test_resolve_device_local_rank_picks_this_process_gpu(monkeypatch):
    """Under torchrun, ``auto`` and ``cuda`` mean cuda:LOCAL_RANK; an explicit index is kept."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert resolve_device("auto", local_rank=2) == torch.device("cuda:2")
    assert resolve_device("cuda", local_rank=3) == torch.device("cuda:3")
    assert resolve_device("cuda:1", local_rank=3) == torch.device("cuda:1")
    assert resolve_device("auto") == torch.device("cuda:0")
    assert resolve_device("cpu", local_rank=2) == torch.device("cpu")
    with pytest.raises(DeviceError, match="there is no GPU 4"):
        resolve_device("cuda", local_rank=4)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", local_rank=2) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(DeviceError, match=f"device '{spec}': CUDA is not available.*use --device cpu"):
            resolve_device(spec)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_missing_gpu_index_is_a_clear_error():
    count = torch.cuda.device_count()
    assert resolve_device("cuda") == torch.device("cuda:0")
    with pytest.raises(DeviceError, match=f"there is no GPU {count}"):
        resolve_device(f"cuda:{count}")


def test_build_stages_for_still_images_switches_every_stage(astronaut):
    """``build_stages(config, still_images=True)``: mediapipe runs its detector on every image, the
    tracker numbers persons instead of tracking; switching back restores video mode."""
    from engine.stages import build_stages, set_still_images

    config = load_config(overrides=["pose.backend=mediapipe", "device=cpu", "a2v.enabled=false"])
    stages = build_stages(config, still_images=True)
    try:
        pose, tracker = stages
        assert not pose.backend.video_mode and tracker.still_images
        assert "no tracking" in tracker.describe()
        result = FrameResult(index=0, timestamp=0.0, image_size=(512, 512))
        for stage in stages:
            stage(astronaut, result)
        assert [p.track_id for p in result.persons] == [1]                 # at once, on the first image
        set_still_images(stages, False)
        assert pose.backend.video_mode and not tracker.still_images
    finally:
        for stage in stages:
            stage.close()


def test_backends_without_history_accept_the_still_images_flag():
    backend = _FixedBackend([_person(0, 0, 10, 10)])
    stage = PoseStage(load_config(), backend=backend)
    stage.set_still_images(True)                                           # the base class's no-op
    assert stage.describe() == "fixed"

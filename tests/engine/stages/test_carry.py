"""``carry(frame, result)``: what the pose and A2V stages give a frame the player mode skips."""
import numpy as np

from engine.config import load_config
from engine.stages.a2v import A2VStage
from engine.stages.pose import PoseStage
from engine.types import FrameResult
from tests.engine.stages.test_pose_stage import _FixedBackend, _person


def test_pose_carry_repeats_the_last_persons_as_fresh_objects():
    stage = PoseStage(load_config(), backend=_FixedBackend([_person(0, 0, 50, 80), _person(100, 0, 140, 90)]))
    frame = np.zeros((120, 160, 3), np.uint8)
    first = FrameResult(index=0, timestamp=0.0, image_size=(160, 120))
    stage(frame, first)
    first.persons[0].track_id = 7                          # what the tracker does downstream
    carried = FrameResult(index=1, timestamp=0.04, image_size=(160, 120))
    stage.carry(frame, carried)
    assert [p.box.tolist() for p in carried.persons] == [p.box.tolist() for p in first.persons]
    assert all(a is not b for a, b in zip(carried.persons, first.persons))
    assert [p.track_id for p in carried.persons] == [-1, -1]  # the tracker gives IDs again
    assert carried.info["pose_backend"] == stage.describe()


def test_a2v_carry_without_weights_gives_part_boxes_and_says_why_pasta_is_off():
    stage = A2VStage(load_config())                        # the test home has no A2V weights
    result = FrameResult(index=3, timestamp=0.1, image_size=(160, 120), persons=[_person(10, 10, 60, 110)])
    result.persons[0].keypoints[:, :2] = np.linspace(20, 100, 34).reshape(17, 2)
    result.persons[0].keypoints[:, 2] = 0.9
    stage.carry(np.zeros((120, 160, 3), np.uint8), result)
    assert result.persons[0].part_boxes.shape == (10, 4) and result.persons[0].pasta is None
    assert "no A2V weights" in result.info["pasta_off"]

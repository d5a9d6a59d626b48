"""The pipeline's tracker stage: persons in, track IDs, ages and hits out; keypoints untouched."""
import numpy as np

from engine.config import Config, apply_override
from engine.stages.base import Stage
from engine.stages.tracker import TrackerStage
from engine.types import FrameResult, Person

FRAME = np.zeros((240, 320, 3), dtype=np.uint8)


def person(x, y=20.0, score=0.9):
    keypoints = np.zeros((17, 3), dtype=np.float32)
    keypoints[:, 0] = x + np.arange(17)
    keypoints[:, 1] = y + 5.0
    keypoints[:, 2] = 0.8
    return Person(box=[x, y, x + 40, y + 100], score=score, keypoints=keypoints)


def run(stage, index, persons):
    result = FrameResult(index=index, timestamp=index / 25.0, image_size=(320, 240), persons=persons)
    stage(FRAME, result)
    return result


def test_stage_assigns_ids_after_min_hits_and_keeps_unconfirmed_persons():
    stage = TrackerStage(Config())
    assert isinstance(stage, Stage) and stage.name == "tracker"
    assert "SORT" in stage.describe()
    seen = []
    for i in range(5):
        persons = [person(10 + 2 * i), person(200 - 2 * i)]
        if i == 4:
            persons.append(person(120, y=130))        # someone new: unconfirmed on their first frame
        result = run(stage, i, persons)
        seen.append([(p.track_id, p.track_age, p.track_hits) for p in result.persons])
    assert seen[0] == [(-1, 0, 0), (-1, 0, 0)]
    assert seen[2] == [(1, 2, 3), (2, 2, 3)]
    assert seen[4] == [(1, 4, 5), (2, 4, 5), (-1, 0, 0)]


def test_stage_keeps_each_persons_own_box_and_keypoints():
    stage = TrackerStage(Config())
    for i in range(4):
        original = person(10 + 3 * i)
        box, keypoints = original.box.copy(), original.keypoints.copy()
        result = run(stage, i, [original])
    tracked = result.persons[0]
    assert tracked is original and tracked.track_id == 1
    np.testing.assert_array_equal(tracked.box, box)
    np.testing.assert_array_equal(tracked.keypoints, keypoints)


def test_stage_track_state_reset_and_live_reconfigure():
    config = Config()
    stage = TrackerStage(config)
    for i in range(3):
        last = person(10 + 2 * i)
        run(stage, i, [last])
    state = stage.track_state(1)
    assert state["payload"] is last and state["hits"] == 3 and state["misses"] == 0
    apply_override(config, "tracker.max_age=5")
    stage.reconfigure(config)
    assert stage.tracker.max_age == 5 and run(stage, 3, [person(16)]).persons[0].track_id == 1
    for i in range(4, 10):
        run(stage, i, [])                             # hidden longer than max_age: the track ends
    assert stage.track_state(1) is None
    for i in range(10, 13):
        result = run(stage, i, [person(16)])
    assert result.persons[0].track_id == 2            # a new person gets a new ID
    stage.reset()
    for i in range(3):
        result = run(stage, i, [person(16)])
    assert result.persons[0].track_id == 1            # a new run numbers from 1 again


def test_stage_parity_config_uses_the_original_settings():
    config = Config()
    apply_override(config, "tracker.parity=true")
    stage = TrackerStage(config)
    assert stage.tracker.parity_mode and (stage.tracker.max_age, stage.tracker.min_hits) == (1, 3)
    assert run(stage, 0, [person(10)]).persons[0].track_id == 1  # SORT shows tracks on its first frames


def test_still_images_number_persons_left_to_right_from_one_in_every_image():
    """Independent images: no tracking; every person gets an ID at once, 1..N by box x1 (then y1)."""
    stage = TrackerStage(Config(), still_images=True)
    assert "no tracking" in stage.describe()
    first = run(stage, 0, [person(200), person(10), person(120, y=130), person(120, y=5)])
    assert [(p.track_id, float(p.box[0]), float(p.box[1])) for p in first.persons] == \
        [(1, 10.0, 20.0), (2, 120.0, 5.0), (3, 120.0, 130.0), (4, 200.0, 20.0)]
    assert all((p.track_age, p.track_hits) == (0, 1) for p in first.persons)
    second = run(stage, 1, [person(50)])                 # the next photo starts again at 1
    assert [p.track_id for p in second.persons] == [1]
    assert run(stage, 2, []).persons == []


def test_switching_between_still_images_and_video_starts_fresh_tracks():
    stage = TrackerStage(Config())
    for i in range(4):
        run(stage, i, [person(10 + i)])
    assert run(stage, 4, [person(14)]).persons[0].track_id == 1
    stage.set_still_images(True)
    assert run(stage, 0, [person(300), person(5)]).persons[1].track_id == 2
    stage.set_still_images(False)                        # a new video: unconfirmed, then ID 1 again
    ids = [run(stage, i, [person(100 + i)]).persons[0].track_id for i in range(4)]
    assert ids == [-1, -1, 1, 1]

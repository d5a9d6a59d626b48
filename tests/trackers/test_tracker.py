"""Tracker unit tests on small synthetic boxes (in the style of detectron2's tracker tests)."""
import warnings

import numpy as np
import pytest

from trackers.association import associate, iou_matrix
from trackers.kalman import KalmanBank, boxes_to_measurements, states_to_boxes
from trackers.sort import InvalidBoxWarning, SortTracker


def box(x, y, w=40.0, h=100.0):
    return [x, y, x + w, y + h]


def walk(frames, start=(100.0, 50.0), step=(4.0, 0.0)):
    """One person walking at constant velocity: ``frames`` (1, 4) xyxy boxes."""
    return [np.array([box(start[0] + step[0] * i, start[1] + step[1] * i)]) for i in range(frames)]


def ids_of(outputs):
    return [o.track_id for o in outputs]


# ----------------------------------------------------------------------------------------------- filter

def test_kalman_bank_equals_full_matrix_filter():
    """The decoupled bank gives the same states and covariances as a textbook 7-D filter (filterpy)."""
    from filterpy.kalman import KalmanFilter

    rng = np.random.default_rng(0)
    reference = KalmanFilter(dim_x=7, dim_z=4)
    reference.F = np.eye(7)
    reference.F[0, 4] = reference.F[1, 5] = reference.F[2, 6] = 1.0
    reference.H = np.eye(4, 7)
    reference.R = np.diag([1.0, 1.0, 10.0, 10.0])
    reference.P = np.diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])
    reference.Q = np.diag([1.0, 1.0, 1.0, 1.0, 1e-2, 1e-2, 1e-4])
    first = boxes_to_measurements(np.array([box(10, 20)]))
    reference.x = np.concatenate([first[0], np.zeros(3)]).reshape(7, 1)
    bank = KalmanBank()
    bank.append(first)
    for step in range(40):
        reference.predict()
        bank.predict()
        if step % 7 != 3:  # some frames without a measurement
            z = boxes_to_measurements(np.array([box(10 + 3 * step + rng.normal(), 20 + rng.normal(), 40 + rng.normal(),
                                                    100 + rng.normal())]))
            reference.update(z.reshape(4, 1))
            bank.update(np.array([0]), z)
        np.testing.assert_allclose(bank.x[0], reference.x.ravel(), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(bank.covariance()[0], reference.P, rtol=1e-9, atol=1e-9)


def test_box_state_round_trip():
    boxes = np.array([box(5, 7, 30, 90), box(100.5, 0, 12, 12)])
    np.testing.assert_allclose(states_to_boxes(boxes_to_measurements(boxes)), boxes, atol=1e-9)


def test_iou_matrix_hand_values():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [100, 100, 101, 101]])
    expected = np.array([[50 / 150, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(iou_matrix(a, b), expected)
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_associate_prefers_best_total_overlap_and_drops_weak_pairs():
    iou = np.array([[0.9, 0.8], [0.85, 0.1], [0.0, 0.05]])
    matches, unmatched_dets, unmatched_tracks = associate(iou, 0.3, unambiguous_shortcut=False)
    assert sorted(map(tuple, matches.tolist())) == [(0, 1), (1, 0)]   # 0.8 + 0.85 beats 0.9 + 0.1
    assert unmatched_dets.tolist() == [2] and unmatched_tracks.tolist() == []


# ------------------------------------------------------------------------------------------- life cycle

def test_id_kept_through_occlusion_shorter_than_max_age():
    tracker = SortTracker(max_age=30, min_hits=3)
    frames = walk(60)
    seen = []
    for i, boxes in enumerate(frames):
        visible = not 20 <= i < 40                    # hidden for 20 frames (< max_age)
        outputs = tracker.update(boxes if visible else np.zeros((0, 4)))
        seen.append(ids_of(outputs))
    assert seen[2] == [1]                             # confirmed on its third frame
    assert all(s == [] for s in seen[20:40])          # nothing reported while hidden
    assert all(s == [1] for s in seen[40:])           # same ID after the occlusion, from the first frame back


def test_id_kept_when_a_person_stops_while_hidden():
    """The person walks, is hidden for 20 frames and reappears where they were last seen (they stopped):
    the prediction has drifted 80 px away, but the lost track still matches at its last box."""
    tracker = SortTracker(max_age=30, min_hits=3)
    frames = walk(20)
    for boxes in frames:
        tracker.update(boxes)
    for _ in range(20):
        tracker.update(np.zeros((0, 4)))
    assert ids_of(tracker.update(frames[-1])) == [1]


def test_new_id_after_occlusion_longer_than_max_age():
    tracker = SortTracker(max_age=5, min_hits=3)
    frames = walk(40)
    seen = []
    for i, boxes in enumerate(frames):
        outputs = tracker.update(boxes if not 10 <= i < 20 else np.zeros((0, 4)))
        seen.append(ids_of(outputs))
    assert seen[9] == [1]
    assert seen[20] == [] and seen[21] == []          # a new track must be confirmed again
    assert seen[22] == [2] and all(s == [2] for s in seen[22:])


def test_ids_are_never_reused():
    """People come and go one after another; each gets a fresh ID, in both modes."""
    for tracker in (SortTracker(max_age=2, min_hits=1), SortTracker.parity()):
        issued = {}
        for person in range(12):
            x = 50.0 + 300.0 * (person % 3)
            for i in range(6):
                for out in tracker.update(np.array([box(x + 2 * i, 40.0)])):
                    issued.setdefault(out.track_id, set()).add(person)
            for _ in range(4):                         # longer than max_age: the track ends
                tracker.update(np.zeros((0, 4)))
        assert len(issued) == 12
        assert all(len(people) == 1 for people in issued.values())
        assert sorted(issued) == sorted(set(issued))


def test_empty_frames_and_empty_inputs():
    tracker = SortTracker(min_hits=1)
    assert tracker.update(np.zeros((0, 4))) == []
    assert tracker.update([]) == []
    assert tracker.update(np.zeros((0, 4)), np.zeros(0), []) == []
    assert ids_of(tracker.update(np.array([box(0, 0)]))) == [1]
    for _ in range(3):
        assert tracker.update(np.zeros((0, 4))) == []
    assert ids_of(tracker.update(np.array([box(0, 0)]))) == [1]


def test_five_hundred_detections_in_a_frame():
    xs, ys = np.meshgrid(np.arange(25) * 50.0, np.arange(20) * 120.0)
    grid = np.stack([xs.ravel(), ys.ravel(), xs.ravel() + 40, ys.ravel() + 100], axis=1)
    tracker = SortTracker(min_hits=3)
    for step in range(4):
        outputs = tracker.update(grid + [step, 0, step, 0])
    assert len(outputs) == 500
    assert sorted(ids_of(outputs)) == list(range(1, 501))
    assert [o.det_index for o in outputs] == list(range(500))
    np.testing.assert_allclose([o.det_box for o in outputs], grid + [3, 0, 3, 0])


def test_tentative_track_ends_at_its_first_miss():
    tracker = SortTracker(min_hits=3, max_age=30)
    tracker.update(np.array([box(0, 0)]))
    tracker.update(np.zeros((0, 4)))
    assert tracker.num_tracks == 0


# ------------------------------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("bad", [
    [np.nan, 0, 10, 10], [0, np.inf, 10, 10], [0, 0, -np.inf, 10],
    [5, 5, 5, 20],            # zero width
    [5, 5, 20, 5],            # zero height
    [10, 10, 0, 30],          # negative width
])
def test_invalid_boxes_are_ignored_with_a_warning(bad):
    tracker = SortTracker(min_hits=1)
    good = box(200, 50)
    tracker.update(np.array([good]))
    with pytest.warns(InvalidBoxWarning, match="ignored 1 of 2"):
        outputs = tracker.update(np.array([bad, good]))
    assert ids_of(outputs) == [1] and outputs[0].det_index == 1
    assert tracker.num_tracks == 1 and np.isfinite(tracker.filters.data).all()


def test_invalid_box_does_not_poison_a_track():
    """The track's own detection turns NaN for a frame: the track coasts and picks up again, finite."""
    tracker = SortTracker(min_hits=1)
    frames = walk(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvalidBoxWarning)
        for i, boxes in enumerate(frames):
            outputs = tracker.update(np.full((1, 4), np.nan) if i == 5 else boxes)
            assert np.isfinite(tracker.filters.data).all()
    assert ids_of(outputs) == [1]
    np.testing.assert_allclose(outputs[0].box, frames[-1][0], atol=2.0)


def test_nan_and_infinite_scores_are_ignored():
    tracker = SortTracker(min_hits=1)
    with pytest.warns(InvalidBoxWarning):
        outputs = tracker.update(np.array([box(0, 0), box(100, 0)]), np.array([np.nan, 0.9]))
    assert [o.det_index for o in outputs] == [1]


def test_wrong_shapes_raise_clear_errors():
    tracker = SortTracker()
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        tracker.update(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="3 boxes but 2 scores"):
        tracker.update(np.zeros((3, 4)) + [0, 0, 1, 1], np.ones(2))
    with pytest.raises(ValueError, match="payloads"):
        tracker.update(np.zeros((1, 4)) + [0, 0, 1, 1], None, [1, 2])
    with pytest.raises(ValueError, match="low_score"):
        SortTracker(low_score=0.8, high_score=0.5)


# ------------------------------------------------------------------------------------ outputs and modes

def test_payload_age_and_hits_are_reported():
    tracker = SortTracker(min_hits=2)
    tracker.update(np.array([box(0, 0)]), payloads=["first"])
    outputs = tracker.update(np.array([box(300, 0), box(2, 0)]), payloads=[{"kp": None}, "second"])
    assert len(outputs) == 1
    out = outputs[0]
    assert (out.track_id, out.det_index, out.payload, out.age, out.hits) == (1, 1, "second", 1, 2)
    np.testing.assert_allclose(out.det_box, box(2, 0))
    info = tracker.track_info(1)
    assert info["payload"] == "second" and info["hits"] == 2 and info["misses"] == 0
    assert tracker.track_info(99) is None and tracker.track_info(-1) is None


def test_second_pass_keeps_a_track_through_low_scores_but_never_starts_one():
    frames = walk(10)
    scores = [0.9] * 5 + [0.3] * 5                    # the person becomes hard to see
    with_pass, without_pass = SortTracker(second_pass=True), SortTracker(second_pass=False)
    for boxes, score in zip(frames, scores):
        kept = with_pass.update(boxes, np.array([score]))
        lost = without_pass.update(boxes, np.array([score]))
    assert ids_of(kept) == [1] and lost == []
    alone = SortTracker(min_hits=1)
    for boxes in frames:
        assert alone.update(boxes, np.array([0.3])) == []
    assert alone.num_tracks == 0


def test_parity_settings_live_in_one_place():
    from trackers.sort import PARITY_SETTINGS

    assert PARITY_SETTINGS == {"max_age": 1, "min_hits": 3, "iou_threshold": 0.3}
    tracker = SortTracker.parity()
    assert (tracker.max_age, tracker.min_hits, tracker.iou_threshold) == (1, 3, 0.3) and tracker.parity_mode
    assert SortTracker.parity(max_age=5).max_age == 5 and SortTracker.parity(max_age=5).min_hits == 3


def test_parity_mode_follows_the_original_rules():
    tracker = SortTracker.parity()
    assert (tracker.max_age, tracker.min_hits, tracker.iou_threshold) == (1, 3, 0.3)
    frames = walk(12)
    reported = []
    for i, boxes in enumerate(frames):
        # A second object that appears on frame 5: IDs count every created track from 1.
        extra = np.array([box(600, 300)]) if i >= 4 else np.zeros((0, 4))
        outputs = tracker.update(np.concatenate([boxes, extra]))
        reported.append(ids_of(outputs))
    assert reported[:3] == [[1], [1], [1]]            # the first min_hits frames show every matched track
    assert reported[3] == [1]                         # streak 3 after its first detection
    assert reported[4:7] == [[1], [1], [1]]           # track 2 is born on frame 5 and must build a streak
    assert reported[7] == [1, 2]                      # third match after birth
    out = tracker.update(frames[-1] + 2.0)[0]
    assert not np.allclose(out.box, out.det_box)       # the posterior, not the detection, is reported


def test_parity_one_missed_frame_hides_the_track_until_its_streak_rebuilds():
    tracker = SortTracker.parity()
    frames = walk(12)
    reported = []
    for i, boxes in enumerate(frames):
        reported.append(ids_of(tracker.update(boxes if i != 5 else np.zeros((0, 4)))))
    assert reported[4] == [1] and reported[5] == []
    # Back on frame 7: the streak restarts at 1 there, so the ID shows again on frame 9 (streak 3).
    assert reported[6:8] == [[], []] and reported[8:] == [[1]] * 4


def test_configure_keeps_ids_and_switching_mode_never_reuses_them():
    tracker = SortTracker(min_hits=1)
    assert ids_of(tracker.update(np.array([box(0, 0)]))) == [1]
    tracker.configure(max_age=10)
    assert tracker.max_age == 10 and ids_of(tracker.update(np.array([box(1, 0)]))) == [1]
    tracker.configure(parity=True)                    # min_hits stays 1
    assert tracker.num_tracks == 0
    assert tracker.update(np.array([box(2, 0)])) == []  # parity: the birth frame's streak is 0
    assert ids_of(tracker.update(np.array([box(3, 0)]))) == [2]


def test_trackers_package_needs_neither_torch_nor_qt():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, trackers, trackers.sort, trackers.cli, trackers.bench, trackers.metrics, trackers.mot_io; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PyQt5', 'cv2', 'engine')); "
            "print(bad); sys.exit(1 if bad else 0)")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr

"""Every person on a CPU from mediapipe's bundled models: the geometry (no model), then real people in
media made at test time from the sample clip, skimage's astronaut and matplotlib's Grace Hopper
(tests/engine/pose/media.py; person counts checked by eye)."""
import math

import numpy as np
import pytest

from engine.pose import mediapipe_multi as mm
from tests.engine.pose import media

# ------------------------------------------------------------------------------------------- geometry

def test_alignment_roi_of_an_upright_body_is_a_square_centred_on_the_hips():
    roi = mm.alignment_roi((100.0, 200.0), (100.0, 120.0))  # scale point 80 px straight above the hips
    assert (roi.cx, roi.cy) == (100.0, 200.0)
    assert roi.size == pytest.approx(2 * 80 * 1.25)
    assert roi.rotation == pytest.approx(0.0)


def test_alignment_roi_rotation_follows_the_body_axis():
    right = mm.alignment_roi((0.0, 0.0), (10.0, 0.0))  # body lying with its head to the right
    left = mm.alignment_roi((0.0, 0.0), (-10.0, 0.0))
    down = mm.alignment_roi((0.0, 0.0), (0.0, 10.0))  # upside down
    assert right.rotation == pytest.approx(math.pi / 2)
    assert left.rotation == pytest.approx(-math.pi / 2)
    assert abs(down.rotation) == pytest.approx(math.pi)
    assert all(-math.pi <= r.rotation < math.pi for r in (right, left, down))


def test_detection_roi_matches_mediapipes_own_pose_graph():
    """The rule read from the installed PoseDetectionToRoi subgraph gives the ROI mediapipe's legacy graph
    computes from the same detection (the cyclist, frame 120)."""
    from mediapipe.python.solution_base import SolutionBase

    rgb = np.ascontiguousarray(media.sample_frames()[120][:, :, ::-1])
    height, width = rgb.shape[:2]
    legacy = SolutionBase(
        binary_graph_path="mediapipe/modules/pose_landmark/pose_landmark_cpu.binarypb",
        side_inputs={"model_complexity": 1, "smooth_landmarks": False, "enable_segmentation": False,
                     "smooth_segmentation": False, "use_prev_landmarks": False},
        outputs=["pose_detection", "pose_rect_from_detection"])
    try:
        out = legacy.process(rgb)
    finally:
        legacy.close()
    k = out.pose_detection.location_data.relative_keypoints
    ours = mm.alignment_roi((k[0].x * width, k[0].y * height), (k[1].x * width, k[1].y * height))
    theirs = out.pose_rect_from_detection
    rect = ours.to_normalized_rect(width, height)
    assert rect.x_center == pytest.approx(theirs.x_center, abs=1e-5)
    assert rect.y_center == pytest.approx(theirs.y_center, abs=1e-5)
    assert rect.width == pytest.approx(theirs.width, abs=1e-5)
    assert rect.height == pytest.approx(theirs.height, abs=1e-5)
    assert rect.rotation == pytest.approx(theirs.rotation, abs=1e-5)


def test_tile_views_cover_the_frame_with_overlap():
    views = mm.tile_views(640, 272, (1, 2, 3), 0.25)
    assert len(views) == 1 + 4 + 9
    assert views[0] == (0, 0, 640, 272)
    two = views[1:5]
    width = two[0][2] - two[0][0]
    assert two[1][0] == pytest.approx(0.75 * width, abs=1)  # neighbours overlap by a quarter tile
    covered = np.zeros((272, 640), bool)
    for x1, y1, x2, y2 in views[5:]:
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 272
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    assert mm.tile_views(40, 40, (1, 3), 0.25) == [(0, 0, 40, 40)]  # tiles under 32 px are skipped


def _det(score, box, hip, top):
    return mm.Detection(score, np.array(box, np.float32), np.array([hip, top, hip, top], np.float32))


def test_merge_keeps_one_detection_per_person_across_views():
    a = _det(0.9, (100, 10, 140, 50), (120, 200), (120, 100))
    a_other_view = _det(0.8, (101, 11, 141, 51), (121, 202), (121, 101))  # same head box
    a_cut_head = _det(0.7, (100, 40, 140, 60), (122, 198), (122, 100))  # other head box, same hips
    b = _det(0.6, (300, 10, 340, 50), (320, 200), (320, 100))
    kept = mm.merge_detections([a_cut_head, b, a_other_view, a], nms_threshold=0.3)
    assert kept == [a, b]


def test_scene_change_score_separates_the_sample_clips_cuts_from_motion():
    frames = media.sample_frames()
    thumbs = [mm.thumbnail(f) for f in frames[:140]]
    scores = [mm.scene_change_score(thumbs[i - 1], thumbs[i]) for i in range(1, len(thumbs))]
    cuts = {i + 1 for i, s in enumerate(scores) if s > mm.SCENE_CHANGE}
    assert cuts == {30, 76, 137}  # the wall → suit man, cars → cyclist, cyclist → fence (seen by eye)
    assert mm.scene_change_score(None, thumbs[0]) == float("inf")


# ------------------------------------------------------------------------------------ real people, still

@pytest.fixture(scope="module")
def still():
    backend = mm.MediaPipeMultiPoseBackend(video_mode=False)
    yield backend
    backend.close()


def _centres(persons):
    return sorted(((p.box[0] + p.box[2]) / 2, (p.box[1] + p.box[3]) / 2) for p in persons)


def test_four_people_in_a_2x2_tile_are_four_persons(still):
    persons = still(media.four_person_frame(0))
    assert len(persons) == 4
    quadrants = {(int(x // 640), int(y // 272)) for x, y in _centres(persons)}
    assert quadrants == {(0, 0), (1, 0), (0, 1), (1, 1)}
    for p in persons:
        assert p.keypoints.shape == (17, 3) and 0.0 <= p.keypoints[:, 2].min() <= p.keypoints[:, 2].max() <= 1.0
        assert 0.5 <= p.score <= 1.0
        x1, y1, x2, y2 = p.box
        assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 544
    assert still.last_detector_views == 14 and still.last_timings["detector"] > 0


def test_two_people_side_by_side_are_two_persons(still):
    persons = still(media.side_by_side())
    assert len(persons) == 2
    (ax, _), (hx, _) = _centres(persons)
    assert ax < 512 < hx  # the astronaut on the left, Grace Hopper on the right
    for p in persons:  # noses inside the person's own half
        nose_x = p.keypoints[0, 0]
        assert (nose_x < 512) == ((p.box[0] + p.box[2]) / 2 < 512)


def test_small_and_large_people_are_all_found(still):
    persons = still(media.small_and_large())
    assert len(persons) == 3
    heights = sorted(float(p.box[3] - p.box[1]) for p in persons)
    assert heights[0] < 0.6 * heights[-1]  # really different sizes


@pytest.mark.parametrize("image, count", [("astronaut", 1), ("grace_hopper", 1)])
def test_one_person_is_one_person(still, image, count):
    assert len(still(getattr(media, image)())) == count


def test_empty_frames_have_nobody(still):
    frames = media.sample_frames()
    for index in (10, 65, 160, 240):  # a white wall, blurred cars, the street behind a fence, a parked bike
        assert still(frames[index]) == [], f"frame {index}"


# ------------------------------------------------------------------------------------ real people, video

def test_video_mode_tracks_rois_between_detector_runs():
    backend = mm.MediaPipeMultiPoseBackend(video_mode=True, detector_interval=10)
    try:
        views, counts = [], []
        for step in range(12):
            counts.append(len(backend(media.four_person_frame(step))))
            views.append(backend.last_detector_views)
        assert views[0] == 14  # first frame: the tiled detector
        assert views[1:10] == [0] * 9  # then the four ROIs follow the landmarks, no detector
        assert views[10] == 14  # every 10th frame it looks again
        assert min(counts) >= 3 and counts.count(4) >= 10
        cut = backend(media.sample_frames()[10])  # a cut to an empty wall: the tiled detector at once
        assert backend.last_detector_reason == "new scene" and cut == []
    finally:
        backend.close()


def test_describe_says_what_runs():
    backend = mm.MediaPipeMultiPoseBackend(video_mode=True, detector_interval=7, tile_grids=(2,), cores=2,
                                           reason="no detector weights cached")
    try:
        assert backend.describe() == ("mediapipe_multi (CPU, every person: tiled detector (1, 2x2) every 7 frames, "
                                      "landmarks per person, 2 cores; no detector weights cached)")
    finally:
        backend.close()


def test_calls_side_by_side_give_what_one_core_gives(still):
    """Two cores (calls side by side, a lone call on 2 threads) and one core find the same people with
    the same landmarks, in the same order, for 1, 2 and 3 ROIs (3 on 2 cores: a pair, then a lone call)."""
    frame = media.four_person_frame(0)
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    rois = [mm.alignment_roi(d.keypoints[0], d.keypoints[1])
            for d in still.detect(rgb, mm.tile_views(1280, 544, (1, 2, 3), 0.25))]
    assert len(rois) == 4
    single = mm.MediaPipeMultiPoseBackend(video_mode=False, cores=1)
    double = mm.MediaPipeMultiPoseBackend(video_mode=False, cores=2)
    try:
        assert len(double._landmarker.graphs) == 2 and double._landmarker.solo not in double._landmarker.graphs
        for count in (1, 2, 3):
            one = single.landmarks(rgb, rois[:count])
            two = double.landmarks(rgb, rois[:count])
            assert all(r is not None for r in one) and len(two) == count
            for a, b in zip(one, two):
                np.testing.assert_allclose(a[0], b[0], atol=0.5)  # pixels; 2 XNNPACK threads sum in another order
        assert len(double(frame)) == len(single(frame)) == 4
    finally:
        single.close()
        double.close()


def test_pruned_landmark_graph_keeps_what_is_read_and_drops_the_mask():
    graph, presence = mm._landmark_graph()
    calculators = [node.calculator for node in graph.node]
    assert presence and presence in list(graph.output_stream)
    assert "InferenceCalculatorCpu" in calculators and "LandmarkProjectionCalculator" in calculators
    assert "WarpAffineCalculator" not in calculators and "TensorsToSegmentationCalculator" not in calculators

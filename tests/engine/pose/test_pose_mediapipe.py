"""The offline CPU pose path on real people: mediapipe's bundled model, no download, no detector weights."""
import numpy as np
import pytest

from engine.pose.mediapipe_pose import MEDIAPIPE_TO_COCO, MediaPipePoseBackend
from engine.types import Person

# Hand-labelled from the sample clip (640x272): in frames ~103-136 the cyclist stands astride his bike
# between the lamp post and the parked scooters; these bounds hold his whole body in every one of them.
CYCLIST_BOX = np.array([320, 0, 510, 272], np.float32)
CYCLIST_FRAMES = range(104, 136, 2)
# Frames with nobody in them (a white wall, blurred cars, the street behind a fence, a parked bike).
EMPTY_FRAMES = (10, 20, 50, 65, 95, 160, 200, 240)
# The astronaut's face in skimage.data.astronaut() (512x512): nose, eyes and ears lie in it.
ASTRONAUT_FACE = (170, 60, 300, 200)


def _iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _containment(inner, outer) -> float:
    """Fraction of ``inner``'s area that lies inside ``outer``."""
    x1, y1 = max(inner[0], outer[0]), max(inner[1], outer[1])
    x2, y2 = min(inner[2], outer[2]), min(inner[3], outer[3])
    return max(0.0, x2 - x1) * max(0.0, y2 - y1) / ((inner[2] - inner[0]) * (inner[3] - inner[1]))


def _inside(points: np.ndarray, box, tolerance: float = 5.0) -> np.ndarray:
    x1, y1, x2, y2 = box
    return ((points[:, 0] >= x1 - tolerance) & (points[:, 0] <= x2 + tolerance)
            & (points[:, 1] >= y1 - tolerance) & (points[:, 1] <= y2 + tolerance))


@pytest.fixture(scope="module")
def still_backend():
    backend = MediaPipePoseBackend(video_mode=False)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def clip_frames():
    from engine.cvcompat import cv2
    from tests.conftest import SAMPLE_CLIP

    capture = cv2.VideoCapture(str(SAMPLE_CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) >= 240, "the sample clip should have 250 frames"
    return frames


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # RGB → BGR, as the pipeline gives frames


def test_mapping_takes_the_named_coco_joints_from_blazepose():
    import mediapipe as mp

    names = [mp.solutions.pose.PoseLandmark(i).name.lower() for i in MEDIAPIPE_TO_COCO]
    from engine.pose.base import COCO_KEYPOINTS

    assert names == [n for n in COCO_KEYPOINTS]


def test_finds_the_cyclist_with_keypoints_inside_his_box(still_backend, clip_frames):
    found = 0
    for index in CYCLIST_FRAMES:
        persons = still_backend(clip_frames[index])
        assert len(persons) <= 1
        if not persons:
            continue
        person = persons[0]
        # In the first frames a passing car hides his legs, so his box may be only the upper body: it must
        # lie within the cyclist's region and cover a good part of it.
        assert _containment(person.box, CYCLIST_BOX) > 0.9, f"frame {index}: box {person.box} is not the cyclist"
        assert _iou(person.box, CYCLIST_BOX) > 0.3, f"frame {index}: box {person.box} is too small"
        seen = person.keypoints[person.keypoints[:, 2] >= 0.5]
        assert len(seen) >= 10, f"frame {index}: only {len(seen)} confident keypoints"
        assert _inside(seen, CYCLIST_BOX).all(), f"frame {index}: keypoints outside the cyclist"
        assert _inside(seen, person.box).all(), f"frame {index}: keypoints outside the person's own box"
        found += 1
    assert found >= 0.9 * len(CYCLIST_FRAMES), f"cyclist found in {found}/{len(CYCLIST_FRAMES)} frames"


def test_cyclist_skeleton_is_upright(still_backend, clip_frames):
    person = still_backend(clip_frames[120])[0]
    kp = person.keypoints
    nose_y, shoulder_y, hip_y = kp[0, 1], kp[[5, 6], 1].mean(), kp[[11, 12], 1].mean()
    assert nose_y < shoulder_y < hip_y


def test_nobody_in_frames_without_people(still_backend, clip_frames):
    for index in EMPTY_FRAMES:
        assert still_backend(clip_frames[index]) == [], f"frame {index} has nobody in it"


def test_finds_the_astronaut(still_backend, astronaut):
    persons = still_backend(astronaut)
    assert len(persons) == 1
    person = persons[0]
    face = person.keypoints[:5]  # nose, eyes, ears
    assert (face[:, 2] > 0.5).all()
    assert _inside(face, ASTRONAUT_FACE, tolerance=0).all()
    # She faces the camera: her left eye is on the image's right.
    assert person.keypoints[1, 0] > person.keypoints[2, 0]
    x1, y1, x2, y2 = person.box
    assert x1 < 170 and x2 > 300 and y1 < 110


@pytest.mark.parametrize("value", [0, 128, 255])
def test_nobody_in_a_uniform_frame(still_backend, value):
    assert still_backend(np.full((480, 640, 3), value, np.uint8)) == []


def test_video_mode_follows_the_cyclist_and_loses_him_when_he_is_gone(clip_frames):
    backend = MediaPipePoseBackend(video_mode=True)
    try:
        hits = [bool(backend(clip_frames[i])) for i in range(100, 150)]
    finally:
        backend.close()
    assert all(hits[110 - 100:136 - 100]), "tracked through frames 110-135"
    assert not any(hits[140 - 100:]), "nobody after he leaves (frames 140-149)"


class _BoxDetector:
    """A stand-in detector returning fixed boxes (the real one needs downloaded weights)."""

    def __init__(self, boxes, scores):
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(scores, np.float32)

    def detect(self, frames):
        return [(self.boxes.copy(), self.scores.copy()) for _ in frames]


def test_per_box_mode_poses_each_detector_box(astronaut):
    detector = _BoxDetector([[30, 40, 400, 512], [500, 500, 508, 508]], [0.95, 0.6])
    backend = MediaPipePoseBackend(detector=detector, detector_note="per person box (test detector)")
    try:
        persons = backend(astronaut)
    finally:
        backend.close()
    assert len(persons) == 2
    astro, tiny = persons
    assert astro.score == pytest.approx(0.95) and tiny.score == pytest.approx(0.6)
    np.testing.assert_allclose(astro.box, [30, 40, 400, 512])
    face = astro.keypoints[:5]
    assert (face[:, 2] > 0.5).all() and _inside(face, ASTRONAUT_FACE, tolerance=0).all()
    # A box too small to pose stays a person (the tracker still wants it) with no keypoints seen.
    assert (tiny.keypoints[:, 2] == 0).all()
    assert isinstance(tiny, Person)
    assert "per person box" in backend.describe()


def test_still_images_mode_runs_the_detector_on_every_image(astronaut, clip_frames):
    """Unrelated photos after one another: each is posed as if alone (``set_still_images(True)``): the
    result does not depend on the image before it. (In video mode the JPEG astronaut right after the PNG
    one is "found" by tracking the PNG's person; alone, at quality 90, mediapipe's detector scores her
    just under ``pose.mediapipe_confidence`` 0.8, so still-image mode reports nobody, as for her alone.)"""
    from engine.cvcompat import cv2

    ok, data = cv2.imencode(".jpg", astronaut, [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = cv2.imdecode(data, cv2.IMREAD_COLOR)
    photos = [clip_frames[20], astronaut, clip_frames[120], jpeg, clip_frames[10]]
    alone = []
    for photo in photos:
        fresh = MediaPipePoseBackend(video_mode=False)
        try:
            alone.append(fresh(photo))
        finally:
            fresh.close()
    backend = MediaPipePoseBackend(video_mode=True)
    try:
        backend.set_still_images(True)
        assert not backend.video_mode
        in_a_row = [backend(photo) for photo in photos]
        backend.set_still_images(False)
        assert backend.video_mode and backend(clip_frames[120])  # back to tracking: still works
    finally:
        backend.close()
    assert [len(p) for p in in_a_row] == [len(p) for p in alone]
    assert len(in_a_row[1]) == 1, "the astronaut (PNG)"
    for got, ref in zip(in_a_row, alone):
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
            np.testing.assert_allclose(a.box, b.box, atol=1e-2)

"""``engine.Predictor`` on every kind of input: paths, folders, arrays, stacks, lists, videos and frame
sequences; results, dicts, pictures and saving; and ``import engine`` stays cheap."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cvcompat import cv2
from tests.media import astronaut_bgr, numbered_frames, write_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def predictor():
    from engine import Predictor

    with Predictor({"pose.backend": "mediapipe", "a2v.enabled": False}, device="cpu") as p:
        yield p


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api") / "photos"
    folder.mkdir()
    write_image(folder / "astronaut.png", astronaut_bgr())
    write_image(folder / "grey.jpg", np.full((120, 90, 3), 128, np.uint8))
    return folder


def test_import_engine_is_cheap_and_exports_the_predictor_lazily():
    code = ("import sys, engine; heavy = [m for m in ('torch', 'cv2', 'mediapipe', 'engine.api') "
            "if m in sys.modules]; assert not heavy, heavy; from engine import Predictor, Result; "
            "assert Predictor.__module__ == 'engine.api'; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    import engine

    with pytest.raises(AttributeError):
        engine.no_such_name  # noqa: B018


def test_a_single_image_path(predictor, photos):
    results = predictor(photos / "astronaut.png")
    assert isinstance(results, list) and len(results) == 1
    result = results[0]
    assert result.file == "astronaut.png" and result.path == (photos / "astronaut.png").absolute()
    assert result.size == (512, 512) and result.image.shape == (512, 512, 3)
    (person,) = result.persons
    assert person.track_id == 1 and person.box.shape == (4,) and person.keypoints.shape == (17, 3)
    assert person.pasta is None and person.vector is None                # a2v disabled here
    record = result.to_dict(vectors=True)
    assert record["file"] == "astronaut.png" and record["persons"][0]["id"] == 1
    assert record["persons"][0]["pasta"] is None
    assert "astronaut.png" in repr(result)


def test_a_folder_gives_one_result_per_image_in_order(predictor, photos):
    results = predictor(photos)
    assert [r.file for r in results] == ["astronaut.png", "grey.jpg"]
    assert [len(r.persons) for r in results] == [1, 0]
    assert [r.index for r in results] == [0, 1]
    streamed = predictor(photos, stream=True)
    assert not isinstance(streamed, list) and [r.file for r in streamed] == ["astronaut.png", "grey.jpg"]


def test_arrays_stacks_and_lists(predictor, photos):
    astronaut = astronaut_bgr()
    from_array = predictor(astronaut)
    assert len(from_array) == 1 and from_array[0].file is None and len(from_array[0].persons) == 1
    grey = predictor(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY))[0]       # (H, W) grey works too
    assert grey.image.shape == (512, 512, 3)
    stack = predictor(np.stack([astronaut, np.zeros_like(astronaut)]))
    assert [len(r.persons) for r in stack] == [1, 0] and [r.index for r in stack] == [0, 1]
    mixed = predictor([photos / "grey.jpg", astronaut, str(photos / "astronaut.png")])
    assert [(r.file, len(r.persons)) for r in mixed] == [("grey.jpg", 0), (None, 1), ("astronaut.png", 1)]
    np.testing.assert_array_equal(mixed[1].persons[0].keypoints, mixed[2].persons[0].keypoints)
    np.testing.assert_array_equal(mixed[1].plot(), mixed[2].plot())        # same pixels, same picture


def test_plot_and_save(predictor, photos, tmp_path):
    result = predictor(photos / "astronaut.png")[0]
    annotated = result.plot()
    assert annotated.shape == result.image.shape and annotated.dtype == np.uint8
    assert not np.array_equal(annotated, result.image)                     # something was drawn
    np.testing.assert_array_equal(result.image, cv2.imread(str(photos / "astronaut.png")))  # input untouched
    path = result.save(tmp_path / "out")
    assert path == tmp_path / "out" / "astronaut.png"
    np.testing.assert_array_equal(cv2.imread(str(path)), annotated)
    assert predictor(astronaut_bgr())[0].save(tmp_path / "out").name == "frame_000000.png"


def test_a_numbered_frame_folder_is_a_tracked_generator(predictor, tmp_path):
    frames = numbered_frames(tmp_path / "img1", 8)
    results = predictor(frames)
    assert not isinstance(results, list)
    results = list(results)
    assert [r.file for r in results] == [f"{i:06d}.png" for i in range(1, 9)]
    assert all(p.track_id == -1 or p.track_id >= 1 for r in results for p in r.persons)
    as_list = predictor(frames, stream=False)
    assert isinstance(as_list, list) and len(as_list) == 8


def test_bad_inputs_are_one_line_errors(predictor, tmp_path):
    from engine.io.sources import SourceError

    with pytest.raises(SourceError, match="no such file"):
        predictor(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="call the predictor on it alone"):
        predictor([ROOT / "assets" / "sample" / "bikes.mp4"])
    with pytest.raises(ValueError, match=r"image 0: .*\(H, W, 3\) BGR uint8"):
        predictor(np.zeros((4, 4, 7), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        predictor(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(TypeError, match="config"):
        from engine import Predictor

        Predictor(config=42)

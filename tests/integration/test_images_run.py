"""Image folders as the original A2V is used (``--indir``): unrelated photos are posed one by one, every
person is numbered and drawn, outputs are named after the images; numbered frames are still a video.
The Python API gives the same results and the same pictures as ``run``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cvcompat import cv2
from engine.render.colors import track_color
from tests.media import SAMPLE_CLIP, numbered_frames, unrelated_images

ROOT = Path(__file__).resolve().parents[2]
SEQUENCE_FRAMES = 120       # the pedestrian (~frame 30) and the cyclist (~80-135) get tracks
TRACK_ONLY = ["--set", "pose.backend=mediapipe", "--set", "a2v.enabled=false", "--quiet"]


def run_cli(*args, timeout=300):
    # Same torch thread count as this process, so the A2V numbers (summation order) match the API's.
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random A2V weights, so the run has PaSta, actions and vectors offline (values are not the point)."""
    from engine.a2v.net import PastaNet, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(PastaNet().eval(), tmp_path_factory.mktemp("a2v") / "random.pth")


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory, checkpoint):
    base = tmp_path_factory.mktemp("photos")
    kinds = unrelated_images(base / "in")
    out = base / "out"
    options = ["--set", "pose.backend=mediapipe", "--set", f"a2v.checkpoint={checkpoint}", "--set", "device=cpu"]
    proc = run_cli("run", "--source", base / "in", "--out-dir", out, "--quiet", *options)
    return {"in": base / "in", "out": out, "kinds": kinds, "proc": proc, "options": options,
            "checkpoint": checkpoint}


def _lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _drawn(annotated, original, person) -> bool:
    """The person is drawn: around its box, at least 100 more pixels than in the photo have exactly its
    ID's colour (the box outline and the "ID n" badge are filled with it)."""
    x1, y1, x2, y2 = (int(round(v)) for v in person["box"])
    height, width = annotated.shape[:2]
    crop = np.s_[max(0, y1 - 40):min(height, y2 + 40), max(0, x1 - 40):min(width, x2 + 40)]
    color = track_color(person["id"])
    count = lambda image: int(np.all(image[crop] == color, axis=2).sum())  # noqa: E731
    return count(annotated) - count(original) >= 100


def test_folder_of_unrelated_photos(folder_run):
    proc, out, source = folder_run["proc"], folder_run["out"], folder_run["in"]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "7 independent images" in proc.stderr and "left to right" in proc.stderr
    for bad in ("broken.jpg", "pixel.png"):
        mentions = [line for line in proc.stderr.splitlines() if bad in line and "skipped" in line]
        assert len(mentions) == 2, proc.stderr  # its own warning line, and named in the summary
    summary = proc.stderr.splitlines()[-1]
    assert "5 images" in summary and "2 unreadable skipped" in summary and "images/s" in summary

    readable = sorted(n for n, kind in folder_run["kinds"].items() if kind not in ("corrupt", "1x1"))
    lines = _lines(out / "results.jsonl")
    assert sorted(line["file"] for line in lines) == readable               # one line per readable image
    assert sorted(p.name for p in (out / "images").iterdir()) == readable   # same names, same formats
    assert sorted(os.listdir(out)) == ["images", "results.jsonl", "run.json", "vectors.npz"]  # no mp4, no tracks.txt
    found = 0
    for line in lines:
        original = cv2.imread(str(source / line["file"]))
        annotated = cv2.imread(str(out / "images" / line["file"]))
        assert annotated.shape == original.shape and line["size"] == [original.shape[1], original.shape[0]]
        magic = (out / "images" / line["file"]).read_bytes()[:4]
        assert magic.startswith(b"\x89PNG" if line["file"].endswith(".png") else b"\xff\xd8\xff")
        persons = line["persons"]
        assert [p["id"] for p in persons] == list(range(1, len(persons) + 1))  # 1..N, every one confirmed
        assert [p["box"][0] for p in persons] == sorted(p["box"][0] for p in persons)  # left to right
        for person in persons:
            assert _drawn(annotated, original, person), (line["file"], person["id"])
            assert person["actions_top"] and person["pasta_top"] and person["pasta_age"] == 0
        found += len(persons)
        if folder_run["kinds"][line["file"]] == "no people":
            assert persons == []
        if folder_run["kinds"][line["file"]] == "two people":
            assert len(persons) <= 2
    assert found >= 2, "the astronaut and the pedestrian of the clip frame at least"
    vectors = np.load(out / "vectors.npz")
    expected = [line["file"] for line in lines for _ in line["persons"]]
    assert vectors["file"].tolist() == expected and vectors["track_id"].min() >= 1
    assert vectors["visual"].shape == (found, 3072)


def test_api_gives_the_runs_results_and_pictures(folder_run):
    """Predictor on the same folder: the same persons and JSONL records; ``plot()`` is the PNG that run
    wrote, pixel for pixel; an array and a list give the same as the path."""
    from engine import Predictor

    lines = {line["file"]: line for line in _lines(folder_run["out"] / "results.jsonl")}
    config = {key: value for key, value in (o.split("=", 1) for o in folder_run["options"][1::2])}
    with Predictor(config, device="cpu") as predictor:
        results = predictor(folder_run["in"])
        assert isinstance(results, list) and sorted(r.file for r in results) == sorted(lines)
        for result in results:
            record, line = result.to_dict(), lines[result.file]
            record.pop("timings_ms"), line.pop("timings_ms")
            assert record == line, result.file
            if result.file.endswith(".png"):
                saved = cv2.imread(str(folder_run["out"] / "images" / result.file))
                np.testing.assert_array_equal(result.plot(), saved, err_msg=result.file)
        astronaut = cv2.imread(str(folder_run["in"] / "astronaut.png"))
        from_array, from_list = predictor(astronaut)[0], predictor([folder_run["in"] / "astronaut.png"])[0]
        saved = cv2.imread(str(folder_run["out"] / "images" / "astronaut.png"))
        np.testing.assert_array_equal(from_array.plot(), saved)
        assert from_list.file == "astronaut.png" and from_array.file is None
        np.testing.assert_array_equal(from_array.persons[0].vector, from_list.persons[0].vector)


@pytest.fixture(scope="module")
def mp4_tracks(tmp_path_factory):
    tracks = tmp_path_factory.mktemp("mp4") / "tracks.txt"
    proc = run_cli("run", "--source", SAMPLE_CLIP, "--max-frames", SEQUENCE_FRAMES, "--tracks", tracks,
                   *TRACK_ONLY)
    assert proc.returncode == 0, proc.stderr
    return tracks.read_text()


def test_numbered_frames_are_tracked_like_the_video(tmp_path, mp4_tracks):
    frames = numbered_frames(tmp_path / "img1", SEQUENCE_FRAMES)            # MOTChallenge naming, PNG
    tracks, results = tmp_path / "tracks.txt", tmp_path / "r.jsonl"
    proc = run_cli("run", "--source", frames, "--tracks", tracks, "--results", results, *TRACK_ONLY)
    assert proc.returncode == 0, proc.stderr
    assert "a sequence of 120 frames" in proc.stderr and "tracked as a video" in proc.stderr
    assert mp4_tracks.strip() and tracks.read_text() == mp4_tracks           # same frames, same IDs
    assert _lines(results)[0]["file"] == "000001.png"


def test_api_tracks_a_video_as_run_does(tmp_path, mp4_tracks):
    from engine import Predictor
    from engine.io.sinks import MotSink

    with Predictor({"pose.backend": "mediapipe", "a2v.enabled": False}, device="cpu") as predictor:
        predictor(np.zeros((64, 64, 3), np.uint8))            # photos first: the video must start afresh
        results = predictor(SAMPLE_CLIP)
        assert not isinstance(results, list)                  # a generator, frame by frame
        sink = MotSink(tmp_path / "api.txt")
        for result in results:
            sink.write(None, result.frame)
            if result.index + 1 >= SEQUENCE_FRAMES:
                break
        sink.close()
    assert (tmp_path / "api.txt").read_text() == mp4_tracks


def test_tracks_of_independent_photos_is_a_one_line_error(folder_run, tmp_path):
    proc = run_cli("run", "--source", folder_run["in"], "--tracks", tmp_path / "t.txt", *TRACK_ONLY)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("a2v: error:")]
    assert len(errors) == 1 and "source.images=sequence" in errors[0]

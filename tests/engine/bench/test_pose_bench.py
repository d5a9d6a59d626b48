"""``bench pose`` reports ms per frame per backend, and says why a backend could not be timed."""
import json
import math

import pytest

from engine.bench import pose as bench


def test_bench_reports_ms_per_frame_as_json(capsys):
    code = bench.main(["--backend", "mediapipe", "--frames", "4", "--warmup", "1", "--size", "320x240",
                       "--device", "cpu", "--json", "-"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    row = rows[0]
    assert row["backend"] == "mediapipe" and row["frames"] == 4 and row["size"] == "320x240"
    assert 0 < row["median_ms"] <= row["p90_ms"] and math.isfinite(row["p90_ms"])
    assert math.isfinite(row["fps"]) and row["fps"] > 0
    assert row["description"].startswith("mediapipe (CPU")


def test_bench_skips_a_backend_without_weights_and_says_how(capsys, monkeypatch):
    monkeypatch.setenv("A2V_OFFLINE", "1")  # no socket is opened (tests/engine/weights)
    code = bench.main(["--backend", "keypoint_rcnn", "--frames", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert "keypoint_rcnn: skipped" in err and "--random-weights" in err
    assert err.splitlines()[-1].startswith("a2v: error: pose bench: no backend could be timed")


def test_bad_size_and_device_are_clear(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--size", "640by480"])
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err
    if not __import__("torch").cuda.is_available():
        assert bench.main(["--device", "cuda", "--frames", "1"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_bench_reports_persons_and_ms_by_stage_for_mediapipe_multi(capsys, tmp_path):
    from tests.engine.pose import media

    clip = media.four_person_clip(tmp_path / "four.mp4", frames=6)
    code = bench.main(["--backend", "mediapipe_multi", "--frames", "6", "--warmup", "1", "--size", "native",
                       "--source", str(clip), "--device", "cpu", "--json", "-",
                       "--set", "pose.multi_detector_interval=3"])
    assert code == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["backend"] == "mediapipe_multi" and row["size"] == "1280x544" and row["frames"] == 6
    assert row["persons_per_frame"] >= 3 and row["persons_min_max"][1] == 4
    stages = row["stage_ms_per_frame"]
    assert set(stages) == {"detector", "landmarks"} and stages["detector"] > 0 and stages["landmarks"] > 0
    assert row["tiled_detector_frames"] == pytest.approx(2 / 6)  # frames 0 and 3 (after the reset)
    assert 0 < row["mean_ms"] and 0 < row["cpu_ms_per_frame"]
    assert row["description"].startswith("mediapipe_multi (CPU, every person")

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

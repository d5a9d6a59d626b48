"""``bench extract`` on the smallest corpus: the numbers it reports add up."""
import argparse
import json

import pytest

from engine.bench import extract as bench


def test_bench_extract_reports_items_and_frames_per_second(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "extract.json"
    args = parser.parse_args(["--items", "1", "--frames", "4", "--images", "2", "--runs", "local:1",
                              "--json", str(out)])
    assert bench.run(args) == 0
    report = json.loads(out.read_text())
    assert report["items"] == 2 and report["frames"] == 6 and report["weights"] == "random weights (speed only)"
    (one,) = report["runs"]
    assert one["engine"] == "local" and one["workers"] == 1 and one["rows"] > 0
    assert one["items_per_s"] == 2 / one["wall_s"] and one["frames_per_s"] == 6 / one["wall_s"]
    assert 0 < one["item_cpu_s_sum"] and one["item_s_sum"] < one["wall_s"]
    assert "local         1" in capsys.readouterr().out


def test_bad_runs_option_is_clear():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--runs", "spark:2"])
    assert bench._runs("local:1, ray:2") == [("local", 1), ("ray", 2)]

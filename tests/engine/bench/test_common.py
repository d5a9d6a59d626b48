"""``--json FILE`` means the same in every benchmark: a file (folders made), ``-`` = stdout only JSON."""
import argparse
import json

import pytest

from engine.bench import common
from trackers import bench as tracker_bench


@pytest.mark.parametrize("write_json", [common.write_json, tracker_bench.write_json], ids=["engine", "trackers"])
def test_write_json_file_stdout_and_none(tmp_path, capsys, write_json):
    report = {"median_ms": 1.5, "rows": [1, 2]}
    path = tmp_path / "a" / "b.json"
    assert write_json(report, str(path)) == path
    assert json.loads(path.read_text()) == report
    assert capsys.readouterr().err.strip() == f"wrote {path}"
    assert write_json(report, "-") is None
    assert json.loads(capsys.readouterr().out) == report
    assert write_json(report, None) is None and write_json(report, "") is None
    assert capsys.readouterr().out == ""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match=r"--json .*cannot write"):
        write_json(report, str(blocker / "x.json"))


def test_json_output_sends_the_table_to_stderr_when_json_goes_to_stdout(capsys):
    with common.json_output("-") as emit:
        print("a table for people")
        emit({"fps": 3.0})
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"fps": 3.0} and "a table for people" in captured.err
    with common.json_output(None) as emit:
        print("table")
        emit({"fps": 3.0})
    assert capsys.readouterr().out == "table\n"


def test_every_benchmark_takes_json_file():
    """Each registered benchmark has --json FILE (a value, not a flag)."""
    from engine.bench.cli import BENCHMARKS, add_benchmark

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="b")
    for name, (module, help_text) in BENCHMARKS.items():
        add_benchmark(sub, name, module, help_text)
    for name in BENCHMARKS:
        extra = ["--mot-dir", "x"] if name == "tracker" else []
        args = parser.parse_args([name, *extra, "--json", "out.json"])
        assert args.json == "out.json", name

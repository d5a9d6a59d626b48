"""``python main.py gui``: the scripted screenshot and the headless refusal."""
import argparse

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from app.cli import register_cli, run_gui  # noqa: E402
from tests.app.test_app import FakePeopleStage  # noqa: E402


def parse(argv):
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    return parser.parse_args(["gui"] + argv)


@pytest.fixture
def fake_pipeline_stages(monkeypatch):
    import engine.stages

    monkeypatch.setattr(engine.stages, "build_stages", lambda config: [FakePeopleStage(config)])


def test_screenshot_of_the_whole_window_after_n_frames(qapp, fake_pipeline_stages, sample_clip, tmp_path, capsys):
    from PyQt5.QtGui import QImage

    shot = tmp_path / "docs" / "shot.png"
    code = run_gui(parse(["--source", str(sample_clip), "--screenshot", str(shot), "--quit-after-frames", "12"]))
    assert code == 0
    assert "(12 frames)" in capsys.readouterr().err
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1600, 1000)
    pixels = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    assert pixels.std() > 20                                        # not a blank window


def test_screenshot_of_a_bad_source_shows_the_error_and_exits_2(qapp, fake_pipeline_stages, tmp_path, capsys):
    shot = tmp_path / "shot.png"
    code = run_gui(parse(["--source", str(tmp_path / "missing.mp4"), "--screenshot", str(shot),
                          "--quit-after-frames", "5"]))
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.mp4" in err and [line for line in err.splitlines() if line.startswith("a2v: error: ")]
    assert shot.exists()                                             # the screenshot shows the banner


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="--quit-after-frames"):
        run_gui(parse(["--quit-after-frames", "0"]))
    with pytest.raises(ValueError, match=r"\.png"):
        run_gui(parse(["--screenshot", str(tmp_path / "shot.txt")]))


def test_no_display_says_how_to_run_headless(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="xvfb-run"):
        run_gui(parse([]))


def test_gui_bench_reports_frame_and_refresh_cost(qapp, capsys):
    from app.gui_bench import main

    assert main(["--frames", "6", "--persons", "2", "--size", "320x240", "--history", "20"]) == 0
    out = capsys.readouterr().out
    assert "per frame" in out and "per panel refresh" in out and "% of one core" in out


def test_gui_memory_bench_plays_each_cycle_and_releases_every_stage(qapp, sample_clip, tmp_path, capsys):
    """``bench gui-memory``: real window, real default stages, a real clip; every stage freed at the end."""
    import json

    from app import gui_memory_bench

    parser = argparse.ArgumentParser()
    gui_memory_bench.add_arguments(parser)
    report = tmp_path / "memory.json"
    args = parser.parse_args(["--cycles", "2", "--frames", "3", "--source", str(sample_clip),
                              "--json", str(report)])
    assert gui_memory_bench.run(args) == 0
    data = json.loads(report.read_text())
    assert data["frames_shown"] == [3, 3]
    assert len(data["rss_per_cycle_mib"]) == 2 and all(v > 50 for v in data["rss_per_cycle_mib"])
    assert data["stages_built"] >= 4 and data["stages_alive"] == 0
    assert "stages alive after close: 0 of" in capsys.readouterr().out


def test_gui_memory_bench_refuses_zero_cycles():
    from app import gui_memory_bench

    parser = argparse.ArgumentParser()
    gui_memory_bench.add_arguments(parser)
    with pytest.raises(ValueError, match="--cycles 0"):
        gui_memory_bench.run(parser.parse_args(["--cycles", "0"]))

"""``python main.py run`` as a user runs it: outputs agree with what was read, bad input is one line."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "sample" / "bikes.mp4"
FAST = ["--set", "pose.backend=none", "--set", "a2v.enabled=false"]


def run_cli(*args, timeout=240, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=full_env)


def decoded_h264_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        return sum(1 for _ in container.decode(stream))


def jsonl_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("a2v: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_run_writes_h264_and_one_jsonl_line_per_frame(tmp_path):
    out, results, tracks = tmp_path / "o.mp4", tmp_path / "r.jsonl", tmp_path / "t.txt"
    proc = run_cli("run", "--source", SAMPLE, "--max-frames", 40, "--out", out, "--results", results,
                   "--tracks", tracks, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert decoded_h264_frames(out) == 40
    lines = jsonl_lines(results)
    assert [line["frame"] for line in lines] == list(range(40))
    assert "40 frames" in proc.stderr.splitlines()[-1]


def test_run_default_outputs_go_to_runs_folder(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(SAMPLE.read_bytes())
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--source", str(clip),
                           "--max-frames", "5", *FAST], capture_output=True, text=True, cwd=tmp_path,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "runs" / "clip"
    assert decoded_h264_frames(folder / "annotated.mp4") == 5
    assert len(jsonl_lines(folder / "results.jsonl")) == 5


@pytest.mark.parametrize("make_input, needles", [
    (lambda d: d / "missing.mp4", ["missing.mp4"]),
    (lambda d: (d / "notes.mp4").write_text("not a video") and d / "notes.mp4", ["notes.mp4"]),
    (lambda d: (d / "empty").mkdir() or d / "empty", ["empty"]),
    (lambda d: "rtsp://127.0.0.1:9/none", ["127.0.0.1:9"]),
])
def test_bad_sources_are_one_line(tmp_path, make_input, needles):
    source = make_input(tmp_path)
    proc = run_cli("run", "--source", source, "--results", tmp_path / "r.jsonl", *FAST, timeout=120)
    assert_one_line_error(proc, *needles)


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("run", "--source", SAMPLE, "--out", blocker / "sub" / "o.mp4", *FAST)
    assert_one_line_error(proc, str(blocker / "sub"))


@pytest.mark.parametrize("text, needles", [
    ("tracker:\n  max_age: ten\n", ["bad.yaml:2", "tracker.max_age"]),
    ("trackr:\n  max_age: 3\n", ["bad.yaml:1", "trackr", "unknown key"]),
    ("tracker: {max_age: 3\n", ["bad.yaml", "YAML syntax error"]),
])
def test_bad_config_is_one_line(tmp_path, text, needles):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    proc = run_cli("run", "--source", SAMPLE, "--config", config, "--results", tmp_path / "r.jsonl")
    assert_one_line_error(proc, *needles)


def test_bad_set_value_is_one_line(tmp_path):
    proc = run_cli("run", "--source", SAMPLE, "--set", "tracker.iou_threshold=high")
    assert_one_line_error(proc, "tracker.iou_threshold")


def _faststart_copy(src: Path, dst: Path, frames: int = 100) -> None:
    """Re-encode the first ``frames`` of ``src`` with the index (moov) at the front, as web mp4s have."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == frames:
                break
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")))
        out.mux(stream.encode())


def test_truncated_video_keeps_frames_up_to_the_damage(tmp_path):
    whole, damaged = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    _faststart_copy(SAMPLE, whole)
    data = whole.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    results = tmp_path / "r.jsonl"
    proc = run_cli("run", "--source", damaged, "--results", results, *FAST)
    lines = jsonl_lines(results)
    assert 0 < len(lines) < 100
    assert [line["frame"] for line in lines] == list(range(len(lines)))
    assert_one_line_error(proc, "cut.mp4", "truncated")


def test_truncated_video_without_index_is_one_line(tmp_path):
    damaged = tmp_path / "cut.mp4"
    data = SAMPLE.read_bytes()  # index (moov) at the end: cutting the file removes it
    damaged.write_bytes(data[: len(data) // 2])
    proc = run_cli("run", "--source", damaged, "--results", tmp_path / "r.jsonl", *FAST)
    assert_one_line_error(proc, "cut.mp4")


def test_sigint_finalizes_outputs(tmp_path):
    out, results = tmp_path / "o.mp4", tmp_path / "r.jsonl"
    # A long input: the sample clip as an image-free loop is not available, so slow the run down with the
    # real CPU pose model, then interrupt it part-way.
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", "--source", str(SAMPLE), "--out",
                             str(out), "--results", str(results), "--set", "pose.backend=mediapipe",
                             "--set", "a2v.enabled=false", "--quiet"], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    partial = tmp_path / ".r.partial.jsonl"  # the results' name until the run finalizes them
    while time.time() < deadline:
        if partial.exists() and len(partial.read_text().splitlines()) >= 10:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    _, stderr = proc.communicate(timeout=30)
    assert time.time() - t0 < 10, "exit after Ctrl-C must be prompt"
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = jsonl_lines(results)
    assert 10 <= len(lines) < 250
    assert decoded_h264_frames(out) == len(lines)


def test_main_job_with_the_cpu_pose_model_tracks_the_cyclist(tmp_path):
    """The default job on the sample clip (mediapipe, tracker, part boxes; no PaSta weights offline)."""
    results, vectors, tracks = tmp_path / "r.jsonl", tmp_path / "v.npz", tmp_path / "t.txt"
    proc = run_cli("run", "--source", SAMPLE, "--max-frames", 140, "--results", results, "--vectors", vectors,
                   "--tracks", tracks, "--set", "pose.backend=mediapipe", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "PaSta" in proc.stderr or "A2V off" in proc.stderr  # says plainly that PaSta is off, and why
    lines = jsonl_lines(results)
    assert len(lines) == 140
    cyclist = [p for line in lines[100:136] for p in line["persons"] if p["id"] >= 1]
    assert len(cyclist) >= 20, "the cyclist (frames ~80-135) has a confirmed track"
    person = cyclist[0]
    assert len(person["keypoints"]) == 17 and len(person["part_boxes"]) == 10
    assert person["pasta_top"] is None and person["actions_top"] is None
    assert len({p["id"] for p in cyclist}) == 1, "one ID while he is in view"
    ids_in_mot = {int(line.split(",")[1]) for line in tracks.read_text().splitlines()}
    assert {p["id"] for p in cyclist} <= ids_in_mot

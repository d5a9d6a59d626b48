"""Items 4, 5, 6, 10: outputs are never destroyed by a run that fails at start, two runs never share
outputs, a full disk or a deleted folder is a non-zero exit naming the path with every JSONL line whole,
and output paths are local files, never URLs."""
from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from engine.types import FrameResult
from tests.reliability._util import FAST, ROOT, SAMPLE, cli, jsonl_lines, one_error_line, run_cli, start_cli, wait_for

pytestmark = pytest.mark.timeout(180)
NAMES = ("annotated.mp4", "results.jsonl", "vectors.npz", "tracks.txt")


def _outputs(folder):
    return ["--out", folder / NAMES[0], "--results", folder / NAMES[1], "--vectors", folder / NAMES[2],
            "--tracks", folder / NAMES[3]]


def test_run_failing_at_start_leaves_previous_outputs_untouched(tmp_path):
    first = run_cli("run", "--source", SAMPLE, "--max-frames", 5, *_outputs(tmp_path), *FAST)
    assert first.returncode == 0, first.stderr
    before = {name: (tmp_path / name).read_bytes() for name in NAMES}
    assert all(before.values()) or before["tracks.txt"] == b""
    proc = run_cli("run", "--source", SAMPLE, "--max-frames", 5, *_outputs(tmp_path),
                   "--set", "pose.backend=none", "--set", f"a2v.checkpoint={tmp_path / 'missing.pth'}")
    assert proc.returncode == 2 and "missing.pth" in one_error_line(proc)
    assert {name: (tmp_path / name).read_bytes() for name in NAMES} == before
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_second_run_on_the_same_outputs_refuses_naming_the_folder(tmp_path):
    from engine.io.sinks import lock_outputs

    with lock_outputs([tmp_path / "results.jsonl"]):  # what a first run holds while it writes
        proc = run_cli("run", "--source", SAMPLE, "--max-frames", 5, *_outputs(tmp_path), *FAST)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert str(tmp_path) in line and "another a2v run" in line and f"pid {os.getpid()}" in line
    assert not (tmp_path / "results.jsonl").exists()
    after = run_cli("run", "--source", SAMPLE, "--max-frames", 5, *_outputs(tmp_path), *FAST)
    assert after.returncode == 0, after.stderr  # the lock went with its holder


def test_two_real_runs_at_once_never_interleave(tmp_path):
    first = start_cli("run", "--source", SAMPLE, "--results", tmp_path / "r.jsonl", "--quiet", "--max-frames", 60,
                      "--set", "a2v.enabled=false")  # mediapipe: a few seconds
    wait_for(lambda: (tmp_path / ".r.partial.jsonl").exists() or first.poll() is not None, 120, "run 1")
    second = run_cli("run", "--source", SAMPLE, "--results", tmp_path / "r.jsonl", *FAST)
    first.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 2
    assert str(tmp_path) in one_error_line(second)
    assert len(jsonl_lines(tmp_path / "r.jsonl")) == 60


@pytest.mark.parametrize("option,value", [("--out", "file:{tmp}/x.mp4"), ("--out", "http://127.0.0.1:{port}/x.mp4"),
                                          ("--results", "http://127.0.0.1:{port}/r.jsonl"),
                                          ("--tracks", "pipe:1"), ("--vectors", "tcp://127.0.0.1:{port}/v.npz")])
def test_output_urls_are_refused_before_reaching_ffmpeg(tmp_path, option, value):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    connections = []

    def accept() -> None:
        try:
            connections.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    target = value.format(tmp=tmp_path, port=listener.getsockname()[1])
    proc = run_cli("run", "--source", SAMPLE, "--max-frames", 3, option, target, *FAST)
    thread.join()
    listener.close()
    assert proc.returncode == 2 and "local file path" in one_error_line(proc) and target in one_error_line(proc)
    assert connections == []  # nothing was sent anywhere
    scheme = target.split(":", 1)[0]
    assert not (ROOT / f"{scheme}:").exists() and not (ROOT / ".a2v.lock").exists()  # no folder made for it


def _limited_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes past it fail (EFBIG), like a full disk
    return apply


def _check_full_disk_run(proc, stderr, folder) -> None:
    assert proc.returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("a2v: error:")]
    assert len(errors) == 1 and str(folder) in errors[0], stderr
    assert "wrote annotated" not in errors[0]
    for name in ("results.jsonl", ".results.partial.jsonl"):
        if (folder / name).exists():
            lines = jsonl_lines(folder / name)  # every line whole
            assert [line["frame"] for line in lines] == list(range(len(lines)))
    kept = errors[0].split("wrote ", 1)[-1] if "wrote " in errors[0] else ""
    for name in NAMES:
        if str(folder / name) in kept.split("; not written")[0]:
            assert (folder / name).exists()  # never claimed when it is not there


def test_file_size_limit_mid_run_exits_non_zero_naming_the_path(tmp_path):
    proc = subprocess.Popen(cli("run", "--source", SAMPLE, *_outputs(tmp_path), *FAST), stderr=subprocess.PIPE,
                            text=True, preexec_fn=_limited_file_size(120_000),
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    _, stderr = proc.communicate(timeout=120)
    _check_full_disk_run(proc, stderr, tmp_path)
    assert "File too large" in stderr


@pytest.fixture
def small_tmpfs(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs",
                                                        str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True)


def test_full_tmpfs_mid_run_exits_non_zero_naming_the_path(small_tmpfs):
    proc = run_cli("run", "--source", SAMPLE, *_outputs(small_tmpfs), *FAST)
    _check_full_disk_run(proc, proc.stderr, small_tmpfs)
    assert "No space left" in proc.stderr


def test_output_folder_deleted_mid_run_exits_non_zero_naming_it(tmp_path):
    folder = tmp_path / "out"
    proc = start_cli("run", "--source", SAMPLE, *_outputs(folder), "--quiet", "--max-frames", 60,
                     "--set", "a2v.enabled=false")
    wait_for(lambda: (folder / ".results.partial.jsonl").exists() or proc.poll() is not None, 120, "the run")
    shutil.rmtree(folder)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0, stderr
    line = one_error_line(type("P", (), {"stderr": stderr})())
    assert str(folder) in line


def test_disk_full_inside_a_line_leaves_only_whole_lines(tmp_path, monkeypatch):
    from engine.io import sinks
    from engine.io.sinks import JsonlSink
    from engine.vocab import load_vocab

    path = tmp_path / "r.jsonl"
    sink = JsonlSink(path, load_vocab())
    real_write, budget = os.write, [700]

    def short_write(fd, data):  # the disk takes a few hundred bytes, then is full
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, bytes(data[: budget[0]]))
        budget[0] -= n
        return n

    monkeypatch.setattr(sinks.os, "write", short_write)
    written = 0
    with pytest.raises(OSError) as info:
        for index in range(100):
            sink.write(None, FrameResult(index=index, timestamp=index / 25, image_size=(64, 48)))
            written += 1
    monkeypatch.undo()
    sink.close()
    assert str(path) in str(info.value) and "free some space" in str(info.value)
    assert len(jsonl_lines(path)) == written and written > 0


def test_sigkill_leaves_the_previous_outputs(tmp_path):
    (tmp_path / "results.jsonl").write_text("previous\n")
    proc = start_cli("run", "--source", SAMPLE, "--results", tmp_path / "results.jsonl", "--quiet",
                     "--set", "a2v.enabled=false")
    wait_for(lambda: (tmp_path / ".results.partial.jsonl").exists() or proc.poll() is not None, 120, "the run")
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert (tmp_path / "results.jsonl").read_text() == "previous\n"
    assert np.all([line.endswith("}") for line in (tmp_path / ".results.partial.jsonl").read_text().splitlines()])

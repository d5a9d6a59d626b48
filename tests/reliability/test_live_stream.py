"""Item 3: a live stream whose server goes away is retried for source.reconnect_seconds; a run whose stream
is lost for good exits non-zero and says so. The camera is an MJPEG server on 127.0.0.1 run by the test."""
from __future__ import annotations

import time

import pytest

from tests.reliability._stream_server import MjpegServer, TcpTsServer
from tests.reliability._util import FAST, jsonl_lines, one_error_line, start_cli, wait_for

pytestmark = pytest.mark.timeout(120)


def _lines(tmp_path) -> int:
    for path in (tmp_path / ".r.partial.jsonl", tmp_path / "r.jsonl"):
        if path.exists():
            return path.read_text().count("\n")
    return 0


@pytest.mark.parametrize("how", ["killed", "closed-cleanly"])
def test_stream_back_within_the_window_keeps_the_run_going(tmp_path, how):
    server = MjpegServer(end_after=40 if how == "closed-cleanly" else 0).start()
    try:
        proc = start_cli("run", "--source", server.url, "--results", tmp_path / "r.jsonl", "--max-frames", 90,
                         "--set", "source.reconnect_seconds=10", *FAST)
        wait_for(lambda: _lines(tmp_path) >= 20 or proc.poll() is not None, 60, "the first frames")
        if how == "killed":
            server.kill()
        else:
            server.wait_idle()  # the server ended its response: EOF on the client side
            server.kill()
        before = _lines(tmp_path)
        time.sleep(1.5)  # down for a while, well inside the 10 s window
        server.start()
        _, stderr = proc.communicate(timeout=60)
    finally:
        server.kill()
    assert proc.returncode == 0, stderr
    assert "reconnected" in stderr, stderr
    lines = jsonl_lines(tmp_path / "r.jsonl")
    # Frames after the outage are in the results. A live source may drop a frame in front of a busy stage
    # (latest frame wins; counted in "dropped"), so on a loaded machine a few of the 90 read may be missing.
    dropped = max((line.get("dropped", 0) for line in lines), default=0)
    assert len(lines) + dropped >= 90 and len(lines) > before


@pytest.mark.parametrize("kind", ["tcp", "http"])
def test_stream_that_ends_with_eof_is_reconnected(tmp_path, kind):
    # Each connection carries 30 frames of MPEG-TS and then ends cleanly: EOF to the client (FFmpeg reads the
    # HTTP one as EIO). Before, the TCP one was "stream ended" (exit 0 after 30 frames); a network stream's
    # EOF is a loss, so the run reconnects and goes on.
    server = (TcpTsServer(frames=30) if kind == "tcp" else MjpegServer(kind="ts", end_after=30)).start()
    try:
        proc = start_cli("run", "--source", server.url, "--results", tmp_path / "r.jsonl", "--max-frames", 45,
                         "--set", "source.reconnect_seconds=10", "--set", "source.live_buffer=100", *FAST)
        try:
            _, stderr = proc.communicate(timeout=90)
        finally:
            proc.kill()
    finally:
        server.kill()
    assert proc.returncode == 0, stderr
    assert "reconnected" in stderr and "max-frames" in stderr.splitlines()[-1], stderr
    assert max(line["frame"] for line in jsonl_lines(tmp_path / "r.jsonl")) >= 30  # frames after the EOF


def test_stream_lost_for_good_exits_non_zero_saying_so(tmp_path):
    server = MjpegServer().start()
    proc = start_cli("run", "--source", server.url, "--results", tmp_path / "r.jsonl",
                     "--set", "source.reconnect_seconds=1.5", *FAST)
    try:
        wait_for(lambda: _lines(tmp_path) >= 10 or proc.poll() is not None, 60, "the first frames")
    finally:
        server.kill()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert "stream lost" in one_error_line(proc_stub(proc, stderr))
    assert len(jsonl_lines(tmp_path / "r.jsonl")) >= 10  # what came before the loss is kept


def test_finite_stream_end_is_a_normal_end(tmp_path):
    server = MjpegServer(end_after=15).start()
    try:
        proc = start_cli("run", "--source", server.url, "--results", tmp_path / "r.jsonl",
                         "--set", "source.finite_stream=true", *FAST)
        try:
            _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
    finally:
        server.kill()
    assert proc.returncode == 0, stderr
    assert 0 < len(jsonl_lines(tmp_path / "r.jsonl")) <= 15


class proc_stub:  # noqa: N801 - one_error_line wants .stderr
    def __init__(self, proc, stderr) -> None:
        self.stderr = stderr

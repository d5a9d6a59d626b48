"""Items 1, 2: Ctrl-C (twice) and SIGTERM sent to a real ``python main.py run`` finalize every output."""
from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from tests.reliability._util import FAST, SAMPLE, decoded_frames, jsonl_lines, start_cli, wait_for

pytestmark = pytest.mark.timeout(180)


def _start(tmp_path):
    out = {name: tmp_path / name for name in ("a.mp4", "r.jsonl", "v.npz", "t.txt")}
    # Tracker, rendering and H.264 on the sample clip (no models: quick to start, ~3 s to run).
    proc = start_cli("run", "--source", SAMPLE, "--out", out["a.mp4"], "--results", out["r.jsonl"],
                     "--vectors", out["v.npz"], "--tracks", out["t.txt"], "--quiet", *FAST)
    written = (tmp_path / ".r.partial.jsonl", out["r.jsonl"])  # (the name before it is finalized)

    def started() -> bool:
        return proc.poll() is not None or any(p.exists() and p.stat().st_size > 500 for p in written)

    wait_for(started, 120, "the run to write its first frames")
    assert proc.poll() is None, proc.communicate()[1]
    return proc, out


def _check_outputs(out) -> int:
    lines = jsonl_lines(out["r.jsonl"])
    assert lines and [line["frame"] for line in lines] == list(range(len(lines)))
    assert decoded_frames(out["a.mp4"]) == len(lines)  # playable, with its index, every frame in it
    with np.load(out["v.npz"]) as data:
        assert data["frame"].ndim == 1
    assert out["t.txt"].exists()
    return len(lines)


INT, TERM = signal.SIGINT, signal.SIGTERM


@pytest.mark.parametrize("signals,gap", [((INT,), 0), ((INT, INT), 0.01), ((INT, INT), 0.03), ((INT, INT), 0.06),
                                         ((TERM,), 0), ((TERM, TERM), 0.03)],
                         ids=["ctrl-c", "ctrl-c-twice-10ms", "ctrl-c-twice-30ms", "ctrl-c-twice-60ms", "sigterm",
                              "sigterm-twice-30ms"])
def test_interrupted_run_finalizes_every_output(tmp_path, signals, gap):
    # Before: a second Ctrl-C while the outputs were being finalized returned at once and the exit killed the
    # output thread (no mp4 index, no vectors.npz), while the CLI said "wrote ..."; SIGTERM killed the run.
    proc, out = _start(tmp_path)
    for number in signals:
        proc.send_signal(number)
        time.sleep(gap)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == (130 if signals[0] == INT else 143), stderr
    assert "Traceback" not in stderr, stderr
    frames = _check_outputs(out)
    assert 0 < frames < 250
    assert f"{frames} frames" in stderr.splitlines()[-1], stderr
    assert "stopped by" in stderr.splitlines()[-1]


def test_third_ctrl_c_aborts_and_says_outputs_were_not_finalized(tmp_path):
    # The previous run's files must survive an abort: nothing is renamed over them.
    for name in ("a.mp4", "r.jsonl"):
        (tmp_path / name).write_bytes(b"previous run")
    proc, out = _start(tmp_path)
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    aborted = [line for line in stderr.splitlines() if line.startswith("a2v: aborted while finishing")]
    if aborted:  # the third press came before the outputs were finished
        pending = aborted[0].split("not finalized: ", 1)[1].split(" (files already", 1)[0].split(", ")
        for name in ("a.mp4", "r.jsonl"):
            if str(out[name]) in pending:  # not renamed over the previous run's file
                assert out[name].read_bytes() == b"previous run"
    else:  # finalizing won the race: then everything is whole
        _check_outputs(out)

"""Shared helpers of the reliability suite: run the CLI as a user would and check what it left on disk."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "sample" / "bikes.mp4"
PYTHON = sys.executable
FAST = ["--set", "pose.backend=none", "--set", "a2v.enabled=false"]


def cli(*args) -> list[str]:
    return [PYTHON, str(ROOT / "main.py"), *map(str, args)]


def run_cli(*args, timeout=240, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))


def start_cli(*args, cwd=ROOT) -> subprocess.Popen:
    return subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def decoded_frames(path: Path) -> int:
    """Frames PyAV decodes from ``path`` (raises when the file is not a playable video)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def jsonl_lines(path: Path) -> list[dict]:
    """Every line parsed (raises on a torn or unparseable line)."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "last line is torn"
    return [json.loads(line) for line in text.splitlines()]


def one_error_line(proc) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("a2v: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]

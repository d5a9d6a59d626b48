"""Item 7: with a live source every queue in front of a slow stage keeps only the newest frame, so the
frame-to-display latency stays near the sum of the stage times instead of growing with the queue length;
``bench --live`` reports it (median, p90)."""
from __future__ import annotations

import json

import pytest

from engine.bench.pipeline import main as bench_main

pytestmark = pytest.mark.timeout(120)


def test_live_latency_stays_near_the_stage_times(tmp_path):
    out = tmp_path / "bench.json"
    # Producer 60 fps into stages of 10, 40 and 5 ms: the 40 ms stage is the bottleneck (25 fps). With
    # FIFO queues of 4 the latency was ~310 ms (4 frames waiting in front of the 40 ms stage); now ~65 ms.
    assert bench_main(["--passthrough", "--stage-ms", "10,40,5", "--live", "--live-fps", "60", "--frames", "90",
                       "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    latency = report["live"]["latency_ms"]
    assert latency["n"] > 20
    assert latency["p90_ms"] < 160, latency  # 55 ms of work + at most about one period of the slow stage
    assert report["live"]["dropped"] > 0  # the newest frame wins: the rest are dropped, and counted
    assert report["end_to_end_fps"] > 15

"""``bench pipeline --passthrough``: per-stage medians and the end-to-end rate are real, finite numbers."""
import json
import math

from engine.bench.pipeline import main


def test_passthrough_bench_reports_stage_costs_and_a_rate_below_the_slowest_stage(tmp_path):
    out = tmp_path / "pipeline.json"
    assert main(["--passthrough", "--frames", "20", "--stage-ms", "4,1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["frames"] == 20
    stages = report["stages"]
    for name, cost in (("stage0", 4.0), ("stage1", 1.0)):
        row = stages[name]
        assert row["n"] == 20
        assert all(math.isfinite(row[k]) for k in ("median_ms", "p90_ms", "mean_ms")), row
        assert cost * 0.95 <= row["median_ms"] <= row["p90_ms"], (name, row)  # a sleeping stage takes its cost
    fps = report["end_to_end_fps"]
    assert math.isfinite(fps) and 0 < fps <= report["slowest_stage_fps"] * 1.05  # never above the slowest stage
    assert report["slowest_stage_fps"] == 250.0 and math.isfinite(report["peak_rss_mb"]) and report["peak_rss_mb"] > 0

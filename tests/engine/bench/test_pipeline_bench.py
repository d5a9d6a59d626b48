"""``bench pipeline``: per-stage medians and the end-to-end rate are real, finite numbers, and the report
says what each stage ran (read before the stages are closed)."""
import argparse
import json
import math

import numpy as np

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


class _ModelStage:
    """A stage whose description changes when it is closed, like A2VStage (close() drops the model)."""

    name = "a2v"

    def __init__(self) -> None:
        self.model = object()
        self.calls = 0

    def __call__(self, frame: np.ndarray, result) -> None:
        self.calls += 1

    def close(self) -> None:
        self.model = None

    def describe(self) -> str:
        return "A2V v1 parity" if self.model is not None else "A2V off: part boxes only"


def test_bench_json_describes_stages_as_they_ran(tmp_path, monkeypatch):
    import engine.stages
    from engine.bench import pipeline

    stage = _ModelStage()
    monkeypatch.setattr(engine.stages, "build_stages", lambda config: [stage])
    parser = argparse.ArgumentParser()
    pipeline.add_arguments(parser)
    out = tmp_path / "p.json"
    args = parser.parse_args(["--frames", "3", "--no-render", "--json", str(out), "--set", "device=cpu"])
    assert pipeline.run(args) == 0
    assert stage.calls >= 3 and stage.model is None          # it ran and was closed
    report = json.loads(out.read_text())
    assert report["stage_descriptions"] == {"a2v": "A2V v1 parity"}

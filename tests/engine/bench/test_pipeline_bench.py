"""``bench pipeline`` reports what each stage ran, read before the stages are closed."""
import argparse
import json

import numpy as np


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

"""Player mode (``Pipeline(player=True)``): real time on a file at 1× with a slow stage, which then
carries frames it skips; a headless run (``player`` off, the default) computes every file frame."""
import time

from engine.config import Config
from engine.pipeline import Pipeline
from tests.engine.test_pipeline import ListSource


class SlowCarrier:
    """Takes ``cost_s`` per computed frame; ``carry`` is free. Records which frames took which path."""

    name = "a2v"

    def __init__(self, cost_s: float) -> None:
        self.cost_s = cost_s
        self.computed: list[int] = []
        self.carried: list[int] = []

    def __call__(self, frame, result) -> None:
        time.sleep(self.cost_s)
        self.computed.append(result.index)

    def carry(self, frame, result) -> None:
        self.carried.append(result.index)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"slow ({self.cost_s * 1000:.0f} ms)"


def _run(stage, n, fps, **kwargs):
    seen = []
    pipe = Pipeline(ListSource(n, fps=fps), [stage], config=Config(), render=None,
                    on_frame=lambda frame, annotated, result: seen.append((result.index, result.info)), **kwargs)
    start = time.perf_counter()
    pipe.run()
    return seen, time.perf_counter() - start


def test_a_run_never_skips_a_file_frame_even_when_a_stage_is_slow():
    stage = SlowCarrier(0.03)
    seen, _ = _run(stage, 20, fps=100.0, realtime=True)           # player off: as `run` builds it
    assert [i for i, _ in seen] == list(range(20))
    assert stage.computed == list(range(20)) and stage.carried == []
    stage = SlowCarrier(0.03)
    seen, _ = _run(stage, 20, fps=100.0, realtime=False, player=True)   # "max" in the GUI
    assert stage.computed == list(range(20)) and stage.carried == []


def test_player_mode_keeps_real_time_and_says_which_frames_were_carried():
    stage = SlowCarrier(0.1)                                         # 5 frame intervals at 50 fps
    seen, wall = _run(stage, 75, fps=50.0, realtime=True, player=True)
    duration = 75 / 50.0
    assert [i for i, _ in seen] == list(range(75))                 # every frame, in order
    assert abs(wall - duration) <= 0.25 * duration, wall
    assert stage.carried and len(stage.computed) <= 30
    carried = {i for i, info in seen if "a2v" in info.get("carried", ())}
    assert carried == set(stage.carried) and 0 in stage.computed    # the first frame is always computed
    assert all("player_due" not in info for _, info in seen)        # the pacing key stays internal

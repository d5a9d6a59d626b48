"""The pipeline's threads: order, timings, errors with stage and frame, every stop path finalizes sinks."""
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from engine.config import Config
from engine.pipeline import Pipeline, PipelineError
from engine.stages.base import PassThroughStage
from engine.types import Person


@dataclass
class _Frame:
    index: int
    timestamp: float
    image: np.ndarray


class ListSource:
    """A file-like source of ``n`` small frames whose pixel value encodes the frame index."""

    kind = "file"
    is_live = False
    can_seek = True
    dropped = 0
    end_reason = "end of list"

    def __init__(self, n: int, fps: float = 100.0, fail_at: int | None = None) -> None:
        self.n, self.fps, self.fail_at = n, fps, fail_at
        self.frame_count = n
        self.name = "list"
        self.position = 0
        self.closed = False

    def read(self):
        if self.position >= self.n:
            return None
        if self.fail_at is not None and self.position == self.fail_at:
            raise OSError("disk vanished")
        i = self.position
        self.position += 1
        return _Frame(i, i / self.fps, np.full((8, 8, 3), i % 256, np.uint8))

    def seek(self, index: int) -> None:
        self.position = index

    def close(self) -> None:
        self.closed = True


class RecordingSink:
    name = "recording"

    def __init__(self, fail_at: int | None = None) -> None:
        self.indices: list[int] = []
        self.closed = 0
        self.fail_at = fail_at

    def write(self, annotated, result) -> None:
        if self.fail_at is not None and result.index == self.fail_at:
            raise OSError(28, "No space left on device")
        self.indices.append(result.index)

    def close(self) -> None:
        self.closed += 1


class PersonStage:
    """Adds one person whose score is the frame's pixel value (checks frames reach stages intact)."""

    name = "fakepose"

    def __call__(self, frame, result) -> None:
        result.persons.append(Person(box=[0, 0, 4, 4], score=float(frame[0, 0, 0]), keypoints=np.zeros((17, 3))))

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "fake"


class FailingStage(PassThroughStage):
    def __init__(self, at: int) -> None:
        super().__init__("boom")
        self.at = at

    def __call__(self, frame, result) -> None:
        if result.index == self.at:
            raise ValueError("bad tensor")


def _no_pipeline_threads() -> bool:
    return not any(t.name.startswith("a2v-") and t.is_alive() for t in threading.enumerate())


def test_every_frame_in_order_with_timings():
    sink = RecordingSink()
    seen = []
    pipe = Pipeline(ListSource(50), [PersonStage(), PassThroughStage("slow", 0.2)], sinks=[sink],
                    render=None, on_frame=lambda f, a, r: seen.append(r))
    stats = pipe.run()
    assert sink.indices == list(range(50))
    assert stats["frames"] == 50 and sink.closed == 1
    assert [r.persons[0].score for r in seen] == [float(i) for i in range(50)]
    assert set(seen[0].timings) >= {"fakepose", "slow", "sinks"}
    assert _no_pipeline_threads()


def test_stage_error_names_stage_and_frame_and_finalizes():
    sink = RecordingSink()
    source = ListSource(100)
    pipe = Pipeline(source, [FailingStage(at=7)], sinks=[sink], render=None)
    with pytest.raises(PipelineError, match=r"stage 'boom' failed at frame 7: ValueError: bad tensor"):
        pipe.run()
    assert sink.closed == 1 and source.closed
    assert sink.indices == list(range(7))
    assert _no_pipeline_threads()


def test_sink_error_full_disk_stops_cleanly():
    sink, other = RecordingSink(fail_at=3), RecordingSink()
    pipe = Pipeline(ListSource(100), [PassThroughStage()], sinks=[sink, other], render=None)
    with pytest.raises(PipelineError, match="sink recording.*frame 3.*No space left"):
        pipe.run()
    assert sink.closed == 1 and other.closed == 1
    assert _no_pipeline_threads()


def test_source_error_reaches_caller():
    pipe = Pipeline(ListSource(100, fail_at=5), [PassThroughStage()], render=None)
    with pytest.raises(PipelineError, match="stage 'source' failed at frame 5"):
        pipe.run()


def test_on_frame_error_does_not_hang():
    def explode(frame, annotated, result):
        raise RuntimeError("widget gone")

    pipe = Pipeline(ListSource(1000), [PassThroughStage()], render=None, on_frame=explode)
    with pytest.raises(PipelineError, match="on_frame"):
        pipe.run()
    assert _no_pipeline_threads()


def test_stop_mid_run_is_prompt_and_closes_sinks():
    sink = RecordingSink()
    pipe = Pipeline(ListSource(10_000), [PassThroughStage("slow", 2.0)], sinks=[sink], render=None)
    pipe.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    pipe.stop()
    assert pipe.join(timeout=2.0)
    assert time.perf_counter() - t0 < 1.0
    assert sink.closed == 1 and 0 < len(sink.indices) < 10_000
    assert sink.indices == list(range(len(sink.indices)))


def test_stop_while_paused_and_while_output_is_blocked():
    release = threading.Event()
    pipe = Pipeline(ListSource(1000), [PassThroughStage()], render=None,
                    on_frame=lambda f, a, r: release.wait(5))
    pipe.start()
    time.sleep(0.1)  # queues fill up behind the blocked output thread
    pipe.pause()
    pipe.stop()
    release.set()
    assert pipe.join(timeout=3.0)


def test_pause_step_and_seek():
    sink = RecordingSink()
    pipe = Pipeline(ListSource(1000), [PassThroughStage()], sinks=[sink], render=None)
    pipe.pause()
    pipe.start()
    time.sleep(0.2)
    assert sink.indices == []
    pipe.step()
    pipe.step()
    deadline = time.time() + 2
    while len(sink.indices) < 2 and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert sink.indices == [0, 1]
    pipe.seek(500)
    pipe.step()
    deadline = time.time() + 2
    while len(sink.indices) < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert sink.indices[-1] == 500
    pipe.stop()
    assert pipe.join(2.0)


def test_max_frames_and_realtime_pacing():
    pipe = Pipeline(ListSource(1000, fps=50.0), [PassThroughStage()], render=None, realtime=True, max_frames=25)
    t0 = time.perf_counter()
    stats = pipe.run()
    elapsed = time.perf_counter() - t0
    assert stats["frames"] == 25
    assert elapsed >= 0.4  # 25 frames at 50 fps take ~0.48 s when paced


def test_add_and_remove_sink_mid_run():
    late = RecordingSink()
    pipe = Pipeline(ListSource(10_000, fps=1000), [PassThroughStage()], render=None, realtime=True)
    pipe.start()
    time.sleep(0.05)
    pipe.add_sink(late)
    time.sleep(0.1)
    pipe.remove_sink(late)
    assert late.closed == 1 and len(late.indices) > 0
    count = len(late.indices)
    time.sleep(0.05)
    assert len(late.indices) == count
    pipe.stop()
    assert pipe.join(2.0)


def test_apply_changes_config_live():
    config = Config()
    pipe = Pipeline(ListSource(1), [PassThroughStage()], config=config, render=None)
    pipe.apply("render.skeleton=false")
    assert config.render.skeleton is False


class BatchStage(PassThroughStage):
    """Records the batches it is given, to check file sources batch frames and keep their order."""

    def __init__(self, batch_size: int = 4) -> None:
        super().__init__("batcher")
        self.batch_size = batch_size
        self.batches: list[list[int]] = []

    def process_batch(self, frames, results) -> None:
        self.batches.append([r.index for r in results])


def test_batching_stage_gets_frames_in_order():
    config = Config()
    config.pose.batch_size = 1  # the stage's own batch_size counts, not the pose config
    stage, sink = BatchStage(batch_size=4), RecordingSink()
    pipe = Pipeline(ListSource(40), [stage, PassThroughStage("slow", 1.0)], sinks=[sink], config=config,
                    render=None)
    pipe.run()
    assert sink.indices == list(range(40))
    assert all(len(b) <= 4 for b in stage.batches) and any(len(b) > 1 for b in stage.batches)
    flat = [i for b in stage.batches for i in b]
    single = [i for i in range(40) if i not in flat]
    assert sorted(flat + single) == list(range(40))


class FastLiveSource(ListSource):
    """A live source that always has a new frame (a camera faster than inference)."""

    is_live = True
    can_seek = False


def test_live_source_latest_frame_wins_before_inference():
    sink = RecordingSink()
    pipe = Pipeline(FastLiveSource(100_000), [PassThroughStage("slow", 20.0)], sinks=[sink], render=None)
    pipe.start()
    time.sleep(0.6)
    pipe.stop()
    assert pipe.join(2.0)
    processed = sink.indices
    assert 5 <= len(processed) <= 40
    # Frames were skipped, not queued: the gaps grow with the producer's lead, and drops are counted.
    assert processed[-1] - processed[0] > len(processed) * 5
    assert pipe.dropped > 0 and pipe.dropped + len(processed) <= pipe.frames_read


def test_hold_at_end_waits_for_a_seek_then_plays_on():
    sink = RecordingSink()
    pipe = Pipeline(ListSource(20), [PassThroughStage()], sinks=[sink], render=None, hold_at_end=True)
    pipe.start()
    deadline = time.time() + 3
    while not pipe.at_end and time.time() < deadline:
        time.sleep(0.01)
    assert pipe.at_end and pipe.running and sink.indices == list(range(20))
    pipe.seek(15)
    deadline = time.time() + 3
    while len(sink.indices) < 25 and time.time() < deadline:
        time.sleep(0.01)
    assert sink.indices[20:] == list(range(15, 20))
    pipe.stop()
    assert pipe.join(2.0) and sink.closed == 1


def test_protocols_describe_the_real_parts(tmp_path):
    """The pipeline's seams are typed: shipped sources, sinks and stages satisfy the protocols it checks."""
    from engine.io.sinks import JsonlSink, MotSink, Sink
    from engine.io.sources import open_source
    from engine.io.sources.base import SourceLike
    from engine.io.sources.synthetic import SyntheticSource
    from engine.paths import SAMPLE_CLIP
    from engine.stages.base import BatchStage as BatchProtocol
    from engine.stages.base import Reconfigurable
    from engine.stages.tracker import TrackerStage
    from engine.vocab import load_vocab

    with open_source(str(SAMPLE_CLIP)) as clip:
        assert isinstance(clip, SourceLike) and clip.can_seek and not clip.is_live
    assert isinstance(SyntheticSource(1, (32, 32)), SourceLike) and isinstance(ListSource(1), SourceLike)
    with JsonlSink(tmp_path / "r.jsonl", load_vocab()) as jsonl, MotSink(tmp_path / "t.txt") as mot:
        assert isinstance(jsonl, Sink) and isinstance(mot, Sink)
    assert jsonl.closed and mot.closed  # leaving the block closed them
    assert isinstance(TrackerStage(Config()), Reconfigurable)
    assert not isinstance(PassThroughStage(), BatchProtocol) and isinstance(BatchStage(), BatchProtocol)

"""The per-worker processor: items in, records out, stages kept across items and started fresh each time."""
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.config import load_config
from engine.corpus.items import Item, output_name
from engine.corpus.process import FatalError, ItemProcessor, preflight
from engine.types import Person

SAMPLE = Path(__file__).resolve().parents[3] / "assets" / "sample" / "bikes.mp4"


def _item(path: Path, kind="video") -> Item:
    return Item(path=str(path), kind=kind, output=output_name(path))


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(SAMPLE)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == 8:
                break
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")))
        out.mux(stream.encode())
    return path


class _Boxes:
    """A pose-like stage: one fixed person per frame, and a count of resets and closes."""

    name = "pose"

    def __init__(self, with_reset=True):
        self.resets = self.closes = 0
        if with_reset:
            self.reset = self._reset

    def _reset(self):
        self.resets += 1

    def __call__(self, frame, result):
        result.persons = [Person(box=[10, 10, 60, 150], score=0.9, keypoints=np.ones((17, 3)))]

    def describe(self):
        return "fixed boxes"

    def close(self):
        self.closes += 1


def _processor(monkeypatch, with_reset=True):
    built = []

    def build(config):
        stage = _Boxes(with_reset)
        built.append(stage)
        return [stage]

    monkeypatch.setattr("engine.stages.build_stages", build)
    config = load_config(None, ["pose.backend=none", "a2v.enabled=false", "device=cpu"])
    return ItemProcessor(config), built


def test_items_reuse_the_stages_reset_between_items_and_never_closed_by_the_pipeline(monkeypatch, tmp_path, clip):
    processor, built = _processor(monkeypatch)
    progress = []
    first = processor.process(_item(clip), tmp_path, lambda event, item, value: progress.append((event, value)))
    second_clip = tmp_path / "again.mp4"
    second_clip.write_bytes(clip.read_bytes())
    second = processor.process(_item(second_clip), tmp_path)
    assert len(built) == 1 and built[0].resets == 1 and built[0].closes == 0
    for record in (first, second):
        assert record["status"] == "done" and record["frames"] == 8 and record["rows"] == 8 and not record["error"]
        assert pq.read_metadata(tmp_path / record["output"]).num_rows == 8
    assert progress[0] == ("start", 8) and progress[-1] == ("frames", 8)
    processor.close()
    assert built[0].closes == 1


def test_a_stage_without_reset_is_rebuilt_for_the_next_item(monkeypatch, tmp_path, clip):
    processor, built = _processor(monkeypatch, with_reset=False)
    processor.process(_item(clip), tmp_path)
    processor.process(_item(clip), tmp_path)
    assert len(built) == 2 and built[0].closes == 1


def test_bad_items_are_records_not_exceptions(monkeypatch, tmp_path, clip):
    processor, _ = _processor(monkeypatch)
    missing = processor.process(_item(tmp_path / "gone.mp4", "missing"), tmp_path)
    assert missing["status"] == "failed" and "gone.mp4" in missing["error"] and "\n" not in missing["error"]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    assert processor.process(_item(junk), tmp_path)["status"] == "failed"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".parquet"] == []
    assert processor.process(_item(clip), tmp_path)["status"] == "done"  # and the worker goes on


def test_preflight_names_missing_weights_and_bad_devices():
    with pytest.raises(FatalError, match="weights fetch a2v_v1.*a2v.enabled=false"):
        preflight(load_config(None, ["device=cpu"]))
    with pytest.raises(FatalError, match="tpu"):
        preflight(load_config(None, ["device=tpu", "a2v.enabled=false"]))
    preflight(load_config(None, ["device=cpu", "a2v.enabled=false"]))

"""Sinks: H.264 round trip, JSONL lines, NPZ arrays, MOT lines; every file is whole after close, even mid-error."""
import json
import os

import av
import numpy as np
import pytest

import engine.io.sinks as sinks_module
from engine.io.sinks import (
    JsonlSink,
    MotSink,
    SinkError,
    VectorSink,
    VideoSink,
    close_all,
    open_sinks,
)
from engine.types import FrameResult, Person
from engine.vocab import load_vocab

VOCAB = load_vocab()


def _person(track_id=1, with_pasta=True, seed=0, language_dim=1536) -> Person:
    rng = np.random.default_rng(seed)
    person = Person(box=[10.0, 20.0, 50.5, 120.25], score=0.87654, keypoints=rng.random((17, 3)) * [100, 100, 1],
                    track_id=track_id, part_boxes=rng.random((10, 4)) * 100, track_age=7, track_hits=5)
    if with_pasta:
        person.pasta = rng.random(93).astype(np.float32) * 0.5
        person.actions = rng.random(157).astype(np.float32) * 0.5
        person.visual = rng.random(3072).astype(np.float32)
        person.language = rng.random(language_dim).astype(np.float32)
        person.pasta_age = 2
    return person


def _result(index: int, persons=(), size=(64, 48)) -> FrameResult:
    return FrameResult(index=index, timestamp=index / 25.0, image_size=size, persons=list(persons),
                       timings={"pose": 12.3456})


def _decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
    return codec, frames


# ------------------------------------------------------------------------------------------------- video

def test_video_round_trip_is_h264_with_every_frame_and_even_size(tmp_path, caplog):
    path = tmp_path / "out.mp4"
    sink = VideoSink(path, fps=25, size=None)
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255), (0, 0, 0)] * 2 + [(128, 128, 128)]
    for i, colour in enumerate(colours):  # 11 frames of an odd size, 65x47
        sink.write(np.full((47, 65, 3), colour, np.uint8), _result(i, size=(65, 47)))
    sink.close()
    sink.close()  # idempotent
    codec, frames = _decode(path)
    assert codec == "h264" and sink.codec == "h264"
    assert len(frames) == len(colours) == sink.frames_written
    assert frames[0].shape == (48, 66, 3)  # padded by 1 px to even dimensions...
    assert any("padded" in w for w in sink.warnings)  # ...and said so
    for frame, colour in zip(frames, colours):
        assert np.abs(frame[:47, :65].astype(int).mean(axis=(0, 1)) - colour).max() < 12


def test_video_size_from_first_frame_and_later_sizes_are_resized(tmp_path):
    path = tmp_path / "sidebar.mp4"
    sink = VideoSink(path, fps=30)
    sink.write(np.zeros((48, 96, 3), np.uint8), _result(0))  # e.g. frame + sidebar decides the size
    sink.write(np.zeros((40, 64, 3), np.uint8), _result(1))
    sink.close()
    _, frames = _decode(path)
    assert [f.shape for f in frames] == [(48, 96, 3)] * 2
    assert any("resizing" in w for w in sink.warnings)


def test_video_timed_by_timestamps_for_live_sources(tmp_path):
    path = tmp_path / "live.mp4"
    sink = VideoSink(path, fps=30, use_timestamps=True)
    times = [0.0, 0.04, 0.5, 0.52, 1.3]
    for i, t in enumerate(times):
        result = _result(i)
        result.timestamp = t
        sink.write(np.full((48, 64, 3), 40 * i, np.uint8), result)
    sink.close()
    with av.open(str(path)) as container:
        decoded = [round(f.time, 3) for f in container.decode(video=0)]
    assert decoded == times


def test_video_falls_back_to_mp4v_with_a_stated_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(sinks_module, "_has_encoder", lambda name: False)
    path = tmp_path / "fallback.mp4"
    sink = VideoSink(path, fps=25)
    for i in range(6):
        sink.write(np.full((48, 64, 3), 30 * i, np.uint8), _result(i))
    sink.close()
    assert sink.codec == "mp4v" and any("mp4v" in w and "H.264" in w for w in sink.warnings)
    codec, frames = _decode(path)
    assert codec == "mpeg4" and len(frames) == 6


def test_video_is_decodable_when_closed_after_an_exception(tmp_path):
    path = tmp_path / "crash.mp4"
    sink = VideoSink(path, fps=25)
    with pytest.raises(RuntimeError, match="stage blew up"):
        try:
            for i in range(3):
                sink.write(np.full((48, 64, 3), 50 * i, np.uint8), _result(i))
            raise RuntimeError("stage blew up")
        finally:
            sink.close()
    codec, frames = _decode(path)
    assert codec == "h264" and len(frames) == 3


def test_video_needs_a_rendered_frame(tmp_path):
    sink = VideoSink(tmp_path / "x.mp4", fps=25)
    with pytest.raises(ValueError, match="renderer"):
        sink.write(None, _result(0))
    sink.close()
    assert not (tmp_path / "x.mp4").exists()  # nothing written, nothing left behind


# ------------------------------------------------------------------------------------------------- JSONL

def test_jsonl_lines_parse_and_hold_the_documented_fields(tmp_path):
    path = tmp_path / "results.jsonl"
    sink = JsonlSink(path, VOCAB)
    walker = _person(track_id=3, seed=1)
    walker.pasta[:] = 0.01
    walker.pasta[VOCAB.group_slices[0].start + 2] = 0.9  # foot: a definite state
    walker.pasta[VOCAB.pasta_no_interaction[3]] = 0.8  # hand: no_interaction wins its group
    walker.actions[:] = np.linspace(0.0, 0.5, 157)
    walker.actions[VOCAB.action_no_interaction] = 0.99  # the most likely, but never listed
    walker.actions[0] = float("nan")
    unconfirmed = _person(track_id=-1, with_pasta=False, seed=2)
    sink.write(None, _result(0, [walker, unconfirmed]))
    assert len(path.read_text().splitlines()) == 1  # flushed before close: a killed run keeps whole lines
    sink.write(None, _result(1, []))
    sink.close()
    sink.close()

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["frame"] for line in lines] == [0, 1] and lines[1]["persons"] == []
    first = lines[0]
    assert first["time"] == 0.0 and first["size"] == [64, 48] and first["timings_ms"] == {"pose": 12.35}
    record, bare = first["persons"]
    assert record["id"] == 3 and record["box"] == [10.0, 20.0, 50.5, 120.25] and record["score"] == 0.8765
    assert len(record["keypoints"]) == 17 and len(record["part_boxes"]) == 10
    assert (record["pasta_age"], record["track_age"], record["track_hits"]) == (2, 7, 5)
    assert list(record["pasta_top"]) == list(VOCAB.groups)
    assert record["pasta_top"]["foot"] == [VOCAB.pasta[VOCAB.group_slices[0].start + 2], 0.9]
    assert record["pasta_top"]["hand"] == ["no_interaction", 0.8]
    top = record["actions_top"]
    assert len(top) == 5 and "no_interaction" not in [name for name, _ in top]
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0] == [VOCAB.actions[156], 0.5]
    assert bare["id"] == -1 and bare["pasta_top"] is None and bare["actions_top"] is None


def test_jsonl_non_finite_values_stay_valid_json(tmp_path):
    path = tmp_path / "r.jsonl"
    sink = JsonlSink(path, VOCAB)
    person = _person(with_pasta=False)
    person.keypoints[0, 0] = np.nan
    person.score = float("inf")
    sink.write(None, _result(0, [person]))
    sink.close()
    record = json.loads(path.read_text())["persons"][0]  # strict JSON: no NaN / Infinity tokens
    assert record["keypoints"][0][0] is None and record["score"] is None


# --------------------------------------------------------------------------------------------------- NPZ

@pytest.mark.parametrize("chunk_rows", [2048, 3])  # all in memory, and spilled to disk every 3 rows
def test_vectors_npz_shapes_and_values(tmp_path, chunk_rows):
    path = tmp_path / "vectors.npz"
    sink = VectorSink(path, VOCAB, chunk_rows=chunk_rows)
    expected = []
    for frame in range(6):
        persons = [_person(track_id=t, seed=10 * frame + t, language_dim=768) for t in (0, 1)]
        persons.append(_person(track_id=5, with_pasta=False))  # no PaSta: no row
        expected += [(frame, p) for p in persons[:2]]
        sink.write(None, _result(frame, persons))
    assert not path.exists()  # written on close only
    sink.close()
    sink.close()
    data = np.load(path)  # no pickle needed
    rows = len(expected)
    assert data["frame"].tolist() == [f for f, _ in expected]
    assert data["track_id"].tolist() == [p.track_id for _, p in expected]
    assert data["pasta"].shape == (rows, 93) and data["actions"].shape == (rows, 157)
    assert data["visual"].shape == (rows, 3072) and data["language"].shape == (rows, 768)
    assert data["box"].shape == (rows, 4) and data["pasta_age"].tolist() == [2] * rows
    assert all(data[k].dtype == np.float32 for k in ("pasta", "actions", "visual", "language"))
    np.testing.assert_array_equal(data["visual"][5], expected[5][1].visual)
    np.testing.assert_array_equal(data["language"][-1], expected[-1][1].language)
    assert list(data["pasta_names"]) == list(VOCAB.pasta) and len(data["action_names"]) == 157
    assert sorted(os.listdir(tmp_path)) == ["vectors.npz"]  # no temporary files left


def test_vectors_npz_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "vectors.npz"
    path.write_bytes(b"previous run")
    sink = VectorSink(path, VOCAB, chunk_rows=1)
    sink.write(None, _result(0, [_person()]))
    sink.write(None, _result(1, [_person()]))

    def disk_full(target):
        target.write_bytes(b"half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink, "_write_npz", disk_full)
    with pytest.raises(OSError):
        sink.close()
    assert path.read_bytes() == b"previous run"  # never half a file at the path
    assert sorted(os.listdir(tmp_path)) == ["vectors.npz"]  # temp file and spill folder cleaned up


def test_vectors_npz_with_no_rows_still_loads(tmp_path):
    path = tmp_path / "v.npz"
    sink = VectorSink(path)
    sink.write(None, _result(0, [_person(with_pasta=False)]))
    sink.close()
    data = np.load(path)
    assert data["pasta"].shape == (0, 93) and data["frame"].shape == (0,)


# --------------------------------------------------------------------------------------------------- MOT

def test_mot_lines_confirmed_tracks_only_one_based(tmp_path):
    path = tmp_path / "tracks.txt"
    sink = MotSink(path)
    sink.write(None, _result(0, [_person(track_id=4, with_pasta=False), _person(track_id=-1, with_pasta=False)]))
    sink.write(None, _result(9, [_person(track_id=2, with_pasta=False)]))
    sink.close()
    sink.close()
    lines = path.read_text().splitlines()
    assert lines == ["1,4,10.00,20.00,40.50,100.25,0.8765,-1,-1,-1", "10,2,10.00,20.00,40.50,100.25,0.8765,-1,-1,-1"]


def test_mot_lines_are_the_track_command_format(tmp_path):
    """`run` (MotSink) and `track` write one format: trackers.mot_io.format_track_line."""
    from trackers.mot_io import format_track_line

    person = _person(track_id=3, with_pasta=False)
    person.score = 0.5  # .4f would write 0.5000, the track command writes 0.5
    path = tmp_path / "tracks.txt"
    sink = MotSink(path)
    sink.write(None, _result(4, [person]))
    sink.close()
    assert path.read_text().splitlines() == [format_track_line(5, 3, person.box, person.score)]
    assert path.read_text().split(",")[6] == "0.5"


def test_mot_file_reads_with_motmetrics(tmp_path):
    mm = pytest.importorskip("motmetrics")
    path = tmp_path / "tracks.txt"
    sink = MotSink(path)
    for frame in range(3):
        sink.write(None, _result(frame, [_person(track_id=1, with_pasta=False)]))
    sink.close()
    table = mm.io.loadtxt(str(path), fmt="mot15-2D")
    assert len(table) == 3 and list(table.index.get_level_values(0)) == [1, 2, 3]
    assert table["Width"].tolist() == [40.5] * 3


# ----------------------------------------------------------------------------------------------- factory

def test_open_sinks_builds_each_requested_sink_and_creates_folders(tmp_path):
    out = tmp_path / "new" / "deeper"
    sinks = open_sinks(out=out / "a.mp4", results=out / "r.jsonl", vectors=out / "v.npz", tracks=out / "t.txt",
                       fps=25.0, vocab=VOCAB)
    assert [s.name for s in sinks] == ["video", "results", "vectors", "tracks"]
    for i in range(4):
        for sink in sinks:
            sink.write(np.zeros((48, 64, 3), np.uint8), _result(i, [_person(track_id=1)]))
    assert close_all(sinks) == []
    assert len(_decode(out / "a.mp4")[1]) == 4
    assert len((out / "r.jsonl").read_text().splitlines()) == 4
    assert np.load(out / "v.npz")["pasta"].shape == (4, 93)
    assert len((out / "t.txt").read_text().splitlines()) == 4
    assert open_sinks() == []


@pytest.mark.parametrize("case", ["under_a_file", "is_a_folder", "same_twice", "not_a_video_name", "read_only"])
def test_unwritable_outputs_fail_up_front_with_one_line(tmp_path, case):
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    kwargs = {"fps": 25.0, "vocab": VOCAB}
    if case == "under_a_file":
        kwargs["results"], named, expect = blocker / "sub" / "r.jsonl", blocker / "sub" / "r.jsonl", "cannot create"
    elif case == "is_a_folder":
        kwargs["out"], named, expect = tmp_path, tmp_path, "is a folder"
    elif case == "same_twice":
        kwargs["results"] = kwargs["tracks"] = named = tmp_path / "same.txt"
        expect = "both --results and --tracks"
    elif case == "not_a_video_name":
        kwargs["out"], named, expect = tmp_path / "video.jsonl", tmp_path / "video.jsonl", ".mp4"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write into read-only folders")
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        kwargs["tracks"], named, expect = locked / "t.txt", locked / "t.txt", "cannot write"
    with pytest.raises(SinkError) as info:
        open_sinks(**kwargs)
    message = str(info.value)
    assert str(named) in message and expect in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["plain.txt"] + (["locked"] if case == "read_only" else []))  # nothing half-created


# ------------------------------------------------------------------------------------ through the pipeline

class _FailAt:
    name = "boom"

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, frame, result) -> None:
        if result.index == self.at:
            raise RuntimeError("stage blew up")

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "fails on purpose"


@pytest.mark.parametrize("fail_at", [None, 20])
def test_pipeline_from_a_real_file_finalizes_every_sink(tmp_path, sample_clip, fail_at):
    from engine.io.sources import open_source
    from engine.pipeline import Pipeline, PipelineError

    source = open_source(sample_clip)
    sinks = open_sinks(out=tmp_path / "a.mp4", results=tmp_path / "r.jsonl", vectors=tmp_path / "v.npz",
                       tracks=tmp_path / "t.txt", fps=source.fps, vocab=VOCAB)
    stages = [_FailAt(fail_at if fail_at is not None else -1)]
    pipe = Pipeline(source, stages, sinks=sinks, render=lambda frame, result: frame, max_frames=40)
    if fail_at is None:
        pipe.run()
    else:
        with pytest.raises(PipelineError, match="boom"):
            pipe.run()
    done = pipe.frames_done
    assert done == (40 if fail_at is None else 20)
    codec, frames = _decode(tmp_path / "a.mp4")
    assert codec == "h264" and len(frames) == done and frames[0].shape == (272, 640, 3)
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(done))
    assert np.load(tmp_path / "v.npz")["frame"].shape == (0,)
    assert (tmp_path / "t.txt").read_text() == ""


# ------------------------------------------------------------------------------------------- image runs

def _image_result(index, file, persons=(), size=(64, 48)):
    result = _result(index, persons, size)
    result.info["file"] = file
    return result


@pytest.mark.parametrize("chunk_rows", [2048, 2])
def test_vectors_npz_file_column_names_each_rows_image(tmp_path, chunk_rows):
    path = tmp_path / "v.npz"
    sink = VectorSink(path, VOCAB, chunk_rows=chunk_rows)
    sink.write(None, _image_result(0, "astronaut.png", [_person(1), _person(2, seed=1)]))
    sink.write(None, _image_result(1, "empty.jpg", []))                       # no persons: no rows
    sink.write(None, _image_result(2, "sub/ünïcode name.jpg", [_person(1, seed=2)]))
    sink.write(None, _image_result(3, "no_pasta.png", [_person(1, with_pasta=False)]))
    sink.close()
    data = np.load(path)
    assert data["file"].tolist() == ["astronaut.png", "astronaut.png", "sub/ünïcode name.jpg"]
    assert data["file"].dtype.kind == "U" and data["frame"].tolist() == [0, 0, 2]
    assert data["track_id"].tolist() == [1, 2, 1]

    video = tmp_path / "video.npz"
    sink = VectorSink(video, VOCAB)
    sink.write(None, _result(0, [_person()]))
    sink.close()
    assert "file" not in np.load(video).files                           # videos have no file names


def test_jsonl_names_the_image_and_its_size(tmp_path):
    sink = JsonlSink(tmp_path / "r.jsonl", VOCAB)
    sink.write(None, _image_result(4, "sub/a.jpg", [_person()], size=(640, 272)))
    sink.write(None, _result(5, []))
    sink.close()
    first, second = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert (first["file"], first["frame"], first["size"]) == ("sub/a.jpg", 4, [640, 272])
    assert "file" not in second


def test_image_sink_keeps_names_formats_and_pixels(tmp_path):
    from engine.cvcompat import cv2
    from engine.io.sinks import ImageSink

    rng = np.random.default_rng(0)
    picture = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    sink = ImageSink(tmp_path / "images")
    sink.write(picture, _image_result(0, "a.png", size=(64, 48)))
    sink.write(picture, _image_result(1, "sub/b.jpg", size=(64, 48)))
    sink.write(picture, _image_result(2, "../../escape.png", size=(64, 48)))   # never outside the folder
    sink.write(picture, _result(3))                                           # a video frame: numbered
    sink.close()
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["images/a.png", "images/escape.png", "images/frame_000003.png", "images/sub/b.jpg"]
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "images" / "a.png")), picture)   # PNG: lossless
    assert (tmp_path / "images" / "sub" / "b.jpg").read_bytes()[:3] == b"\xff\xd8\xff"       # a real JPEG
    with pytest.raises(ValueError, match="rendered frames"):
        ImageSink(tmp_path / "x").write(None, _image_result(0, "a.png"))


def test_open_sinks_checks_the_images_folder(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(SinkError, match="is a file"):
        open_sinks(images=tmp_path / "file")
    sinks = open_sinks(images=tmp_path / "out" / "images")
    assert [s.name for s in sinks] == ["images"] and (tmp_path / "out" / "images").is_dir()
    close_all(sinks)

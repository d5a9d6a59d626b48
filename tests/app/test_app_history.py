"""The GUI's Qt-free parts: per-person history, CSV export, the 2-D vector map, run outputs and recording."""
import csv
import threading
import time

import numpy as np
import pytest

from app.history import PersonHistory, crop_thumbnail
from app.projection import VectorProjector, balanced_vector
from app.session import RecordingSink, ResultsRecorder
from engine.types import FrameResult, Person
from engine.vocab import load_vocab


def _person(track_id: int, x: float = 10.0, pasta_value: float | None = 0.5) -> Person:
    keypoints = np.zeros((17, 3), np.float32)
    person = Person(box=np.array([x, 10, x + 20, 50], np.float32), score=0.9, keypoints=keypoints,
                    track_id=track_id)
    if pasta_value is not None:
        person.pasta = np.full(93, pasta_value, np.float32)
        person.actions = np.linspace(0, 1, 157, dtype=np.float32)
        person.visual = np.ones(3072, np.float32)
        person.language = np.ones(768, np.float32)
    return person


def _result(index: int, persons, fps: float = 25.0) -> FrameResult:
    return FrameResult(index=index, timestamp=index / fps, image_size=(64, 64), persons=list(persons))


def test_history_records_each_frame_of_each_confirmed_track():
    history = PersonHistory(max_frames=100)
    for i in range(10):
        people = [_person(3), _person(-1)] if i < 6 else [_person(4)]
        history.update(_result(i, people))
    assert list(history.tracks) == [3, 4]          # unconfirmed persons have no history
    assert history.tracks[3].frames == [0, 1, 2, 3, 4, 5]
    assert history.tracks[4].frames == [6, 7, 8, 9]
    assert history.current_ids == [4]
    assert history.tracks[3].seconds_seen == pytest.approx(5 / 25.0)
    assert history.tracks[3].frames_seen == 6


def test_history_is_bounded_in_frames_and_tracks():
    history = PersonHistory(max_frames=5, max_tracks=3)
    for i in range(20):
        history.update(_result(i, [_person(i // 4)]))   # a new track every 4 frames: tracks 0..4
    assert len(history.tracks) == 3
    assert list(history.tracks) == [2, 3, 4]            # the least recently seen were forgotten
    for i in range(20, 40):
        history.update(_result(i, [_person(4)]))
    assert history.tracks[4].frames == list(range(35, 40))
    assert history.tracks[4].frames_seen == 24          # the count goes on; the kept frames are bounded


def test_timeline_is_a_dense_frame_axis_with_nan_where_not_seen():
    history = PersonHistory()
    history.update(_result(10, [_person(1, pasta_value=0.2)]))
    history.update(_result(11, [_person(1, pasta_value=None)]))  # seen, but no PaSta this frame
    history.update(_result(14, [_person(1, pasta_value=0.9)]))   # not seen in 12, 13
    frames, pasta = history.timeline(1)
    assert frames.tolist() == [10, 11, 12, 13, 14]
    assert pasta.shape == (5, 93)
    assert np.allclose(pasta[0], 0.2) and np.allclose(pasta[4], 0.9)
    assert np.isnan(pasta[1:4]).all()
    # After a seek back, a frame seen again replaces the old entry instead of being counted twice.
    history.update(_result(10, [_person(1, pasta_value=0.7)]))
    frames, pasta = history.timeline(1)
    assert frames.tolist() == [10, 11, 12, 13, 14] and np.allclose(pasta[0], 0.7)
    assert history.timeline(99)[0].size == 0


def test_timeline_span_is_capped_after_a_long_jump():
    history = PersonHistory(max_frames=10)
    history.update(_result(0, [_person(1)]))
    history.update(_result(100000, [_person(1)]))
    frames, _ = history.timeline(1)
    assert len(frames) == 40 and frames[-1] == 100000


def test_csv_export_has_named_columns_and_one_row_per_frame(tmp_path):
    vocab = load_vocab()
    history = PersonHistory()
    history.update(_result(5, [_person(2, pasta_value=0.25)]))
    history.update(_result(6, [_person(2, pasta_value=None)]))
    path = history.export_csv(2, tmp_path / "t.csv", vocab)
    rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
    header = rows[0]
    assert header[:3] == ["frame", "time", "pasta_age"]
    assert header[3] == vocab.pasta_label(0) and len(header) == 3 + 93 + 157 + 6 + 1
    assert header[3 + 93] == f"action: {vocab.actions[0]}"
    assert header[-7:] == [f"top {g}" for g in vocab.groups] + ["top action"]   # what the timeline rows show
    assert [r[0] for r in rows[1:]] == ["5", "6"]
    assert float(rows[1][3]) == pytest.approx(0.25)
    assert rows[2][3] == ""                      # no PaSta in frame 6: empty cells, not zeros
    with pytest.raises(KeyError):
        history.export_csv(7, tmp_path / "none.csv", vocab)


def test_thumbnail_is_the_box_scaled_to_fixed_height():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[20:80, 50:80] = (0, 0, 255)
    thumb = crop_thumbnail(frame, np.array([50, 20, 80, 80]), height=32)
    assert thumb.shape == (32, 16, 3)
    assert (thumb == (0, 0, 255)).all()
    assert crop_thumbnail(frame, np.array([300, 300, 400, 400])) is None  # outside the frame


def test_history_keeps_a_thumbnail_per_track():
    history = PersonHistory()
    frame = np.full((64, 64, 3), 200, np.uint8)
    history.update(_result(0, [_person(1)]), frame)
    assert history.tracks[1].thumbnail is not None and history.tracks[1].thumbnail.shape[0] == 64


def test_balanced_vector_weighs_both_halves_equally():
    vector = balanced_vector(np.full(3072, 100.0), np.full(768, 0.01))
    assert vector.shape == (3840,)
    assert np.linalg.norm(vector[:3072]) == pytest.approx(1.0)
    assert np.linalg.norm(vector[3072:]) == pytest.approx(1.0)
    assert balanced_vector(None, np.ones(3)) is None


def test_projection_separates_clusters_and_stays_steady():
    rng = np.random.default_rng(0)
    clock = [0.0]
    projector = VectorProjector(refit_s=2.0, clock=lambda: clock[0])
    assert projector.project(np.ones((2, 8))).tolist() == [[0, 0], [0, 0]]  # no basis yet
    a, b = np.zeros(8), np.zeros(8)
    a[0], b[0] = 1.0, -1.0
    for _ in range(20):
        projector.add(a + rng.normal(0, 0.01, 8))
        projector.add(b + rng.normal(0, 0.01, 8))
    first = projector.project(np.stack([a, b]))
    assert abs(first[0, 0] - first[1, 0]) > 1.5          # the two clusters land far apart on axis 1
    assert projector.fits == 1
    projector.add(a + rng.normal(0, 0.01, 8))
    assert np.allclose(projector.project(np.stack([a, b])), first)
    assert projector.fits == 1                           # the costly SVD is not redone every refresh
    clock[0] = 2.5
    again = projector.project(np.stack([a, b]))
    assert projector.fits == 2
    assert np.sign(again[0, 0]) == np.sign(first[0, 0])  # refitted, not mirrored


def test_projection_axes_are_the_principal_axes():
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(50, 300)) * np.linspace(3, 0.1, 300)).astype(np.float32)
    projector = VectorProjector()
    for row in data:
        projector.add(row)
    centred = data - data.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ components[:2].T
    assert np.allclose(np.abs(projector.project(data)), np.abs(expected), atol=1e-3)


def test_results_recorder_exports_the_whole_run_across_segments(tmp_path):
    recorder = ResultsRecorder(tmp_path / "run", load_vocab())
    (tmp_path / "run").mkdir()
    for i in range(3):
        recorder.write(None, _result(i, [_person(1)]))
    first = recorder.export(tmp_path / "export1")
    for i in range(3, 5):
        recorder.write(None, _result(i, [_person(1), _person(2)]))
    recorder.close()  # the pipeline closes its sinks at the end of the run
    recorder.export(tmp_path / "export2")
    assert [p.name for p in first] == ["results.jsonl", "tracks.txt", "vectors.npz"]
    assert len((tmp_path / "export1" / "results.jsonl").read_text().splitlines()) == 3
    assert len((tmp_path / "export2" / "results.jsonl").read_text().splitlines()) == 5
    assert len((tmp_path / "export2" / "tracks.txt").read_text().splitlines()) == 3 + 4
    with np.load(tmp_path / "export2" / "vectors.npz") as data:
        assert data["frame"].tolist() == [0, 1, 2, 3, 3, 4, 4]
        assert data["pasta"].shape == (7, 93) and data["language"].shape == (7, 768)
        assert len(data["pasta_names"]) == 93


def test_recording_can_stop_while_another_thread_writes(tmp_path):
    """Stopping a recording mid-run never hands a closed sink to the writer (the pipeline would fail)."""
    sink = RecordingSink()
    sink.start(tmp_path / "rec.mp4", fps=25.0, live=False)
    frame = np.zeros((48, 64, 3), np.uint8)
    errors = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                sink.write(frame, _result(i, []))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    while True:
        with sink._lock:
            if sink._video is not None and sink._video.frames_written >= 5:
                break
        time.sleep(0.001)
    path, frames, codec = sink.stop()
    stop.set()
    thread.join()
    assert errors == []
    assert path.exists() and frames >= 5 and codec in ("h264", "mp4v")
    assert sink.stop() is None
    with pytest.raises(ValueError):
        sink.start(tmp_path / "rec.txt", fps=25.0, live=False)

"""Items 8, 9 (tracker): absurd frame numbers in a MOT file are one line, fast and in bounded memory; huge or
non-finite boxes are rejected as invalid instead of turning into -inf/nan track lines; fuzzed."""
from __future__ import annotations

import resource
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability._util import one_error_line, run_cli
from trackers.mot_io import MotFileError, frames_of, read_mot
from trackers.sort import InvalidBoxWarning, SortTracker


@pytest.mark.parametrize("frame", ["nan", "2.5", "-3", "10000001"])
def test_frame_number_not_a_whole_number_in_range(tmp_path, frame):
    dets = tmp_path / "det.txt"
    dets.write_text(f"1,-1,10,10,50,100,0.9\n{frame},-1,10,10,50,100,0.9\n")
    with pytest.raises(MotFileError, match=f"{dets}:2"):
        read_mot(dets)


@pytest.mark.parametrize("frame", ["1e8", "1e9", "inf", "1e30"])
def test_absurd_frame_number_is_one_line_fast(tmp_path, frame):
    dets = tmp_path / "det.txt"
    dets.write_text(f"1,-1,10,10,50,100,0.9\n{frame},-1,10,10,50,100,0.9\n")
    start = time.perf_counter()
    proc = run_cli("track", "--dets", dets, "--out", tmp_path / "t.txt", timeout=60)
    assert time.perf_counter() - start < 30
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc)
    assert f"{dets}:2" in line


def test_frames_of_a_sparse_table_stays_small():
    # Frame 1,000,000 with two rows: no array per frame number (the old code's grew with it: 800 MB at 1e8).
    table = np.array([[1, -1, 0, 0, 10, 10, 1.0], [1_000_000, -1, 0, 0, 10, 10, 1.0]])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    count = sum(len(rows) for _, rows in frames_of(table))
    assert count == 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20_000  # kB


@pytest.mark.parametrize("box", [[1e300, 1e300, 3e300, 3e300], [-1e200, 0, 1e200, 50], [0, 0, 1e12, 1e12]])
def test_huge_finite_boxes_are_invalid_not_nan_tracks(box):
    tracker = SortTracker(min_hits=0)
    good = [10.0, 10.0, 60.0, 110.0]
    for _ in range(5):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outputs = tracker.update(np.array([good, box]), np.array([0.9, 0.9]))
        assert any(issubclass(w.category, InvalidBoxWarning) for w in caught)
        assert len(outputs) == 1 and np.isfinite(outputs[0].box).all()


def test_track_cli_with_a_huge_box_says_which_line(tmp_path):
    dets = tmp_path / "det.txt"
    dets.write_text("1,-1,10,10,50,100,0.9\n2,-1,1e300,1e300,1e300,1e300,0.9\n")
    proc = run_cli("track", "--dets", dets, "--out", tmp_path / "t.txt", timeout=60)
    assert proc.returncode == 2 and f"{dets}:2" in one_error_line(proc)


_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
_boxes = st.lists(st.tuples(_floats, _floats, _floats, _floats, _floats), max_size=6)


@settings(max_examples=150, deadline=None)
@given(frames=st.lists(_boxes, min_size=1, max_size=6), parity=st.booleans())
def test_fuzz_tracker_update_outputs_only_finite_boxes(frames, parity):
    tracker = SortTracker(min_hits=0, parity=parity)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvalidBoxWarning)
        for rows in frames:
            array = np.array([r[:4] for r in rows], dtype=np.float64).reshape(-1, 4)
            scores = np.array([r[4] for r in rows], dtype=np.float64)
            for out in tracker.update(array, scores):
                assert np.isfinite(out.box).all() and out.track_id >= 0


_cell = st.one_of(st.integers(-5, 50).map(str), _floats.map(repr), st.sampled_from(["", "x", "1e8", "1e30"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.lists(_cell, min_size=0, max_size=9), max_size=8), sep=st.sampled_from([",", " ", "\t"]))
def test_fuzz_mot_reader(tmp_path, lines, sep):
    path = tmp_path / "det.txt"
    path.write_text("\n".join(sep.join(cells) for cells in lines))
    try:
        table = read_mot(path)
    except MotFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert table.shape[1] == 7 and np.isfinite(table).all()
    tracker = SortTracker()
    for _, rows in frames_of(table):
        from trackers.mot_io import xywh_to_xyxy

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InvalidBoxWarning)
            for out in tracker.update(xywh_to_xyxy(rows[:, 2:6]), rows[:, 6]):
                assert np.isfinite(out.box).all()

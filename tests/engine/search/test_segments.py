import numpy as np

from engine.search.segments import segments_from_scores


def test_consecutive_frames_of_one_track_merge_and_rank_by_peak():
    frame = np.array([0, 1, 2, 3, 10, 11, 0, 1, 2], np.int64)
    track = np.array([1, 1, 1, 1, 1, 1, 2, 2, 2], np.int64)
    item = np.array(["a"] * 9, dtype=object)
    time = frame / 10.0
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.95, 0.9, 0.6, 0.6, 0.99])
    segs = segments_from_scores(item, track, frame, time, scores, threshold=0.5, max_gap=1)
    # track 2 peaks at 0.99; track 1 splits at frame 2 only if the gap exceeds max_gap: 1 → 3 is a gap of 1.
    assert [(s.track, s.start_frame, s.end_frame) for s in segs] == [(2, 0, 2), (1, 10, 11), (1, 0, 3)]
    assert segs[0].peak_frame == 2 and segs[0].peak_row == 8 and segs[2].frames == 3
    tight = segments_from_scores(item, track, frame, time, scores, threshold=0.5, max_gap=0)
    assert (1, 0, 1) in [(s.track, s.start_frame, s.end_frame) for s in tight]
    assert (1, 3, 3) in [(s.track, s.start_frame, s.end_frame) for s in tight]


def test_items_split_segments_and_unconfirmed_tracks_are_not_segments():
    frame = np.array([0, 1, 0, 1], np.int64)
    track = np.array([1, 1, 1, -1], np.int64)
    item = np.array(["a", "b", "a", "a"], dtype=object)
    segs = segments_from_scores(item, track, frame, frame.astype(float), np.ones(4), threshold=0.5)
    assert sorted((s.item, s.start_frame, s.end_frame) for s in segs) == [("a", 0, 0), ("b", 1, 1)]
    assert segments_from_scores(item, track, frame, frame.astype(float), np.zeros(4), 0.5) == []

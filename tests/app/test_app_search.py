"""The GUI's search box (issue 17, item 3), offscreen with the real MiniLM encoder: a query finds the track
that "holds" something in frames 10-30, the view outlines it while a covered frame is shown, the list stars
it, its timeline marks 10-30, and clicking the result selects it and seeks to frame 10."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt5.QtCore import Qt  # noqa: E402
from PyQt5.QtGui import QColor  # noqa: E402

from app.history import PersonHistory  # noqa: E402
from app.search_box import history_frames  # noqa: E402
from app.video_view import HIGHLIGHT_COLOR  # noqa: E402
from engine.types import FrameResult, Person  # noqa: E402
from engine.vocab import load_vocab  # noqa: E402
from tests.app.test_app import settle, wait_frames, wait_index  # noqa: E402

VOCAB = load_vocab()
HOLD = next(k for k in range(len(VOCAB.pasta)) if VOCAB.pasta_label(k) == "hand: hold")
SEARCH_TIMEOUT_MS = 90000   # the first query loads MiniLM and embeds the 248 concepts (seconds on 2 busy cores)


def controlled_person(track_id: int, index: int, x: float) -> Person:
    """Low probabilities everywhere; track 1 'hand: hold' 0.95 in frames 10-30 (as ControlledPasta in
    tests/engine/search/test_search_run.py)."""
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:, 0], keypoints[:, 1], keypoints[:, 2] = x + 25, np.linspace(30, 200, 17), 0.9
    person = Person(box=np.array([x, 20, x + 50, 220], np.float32), score=0.9, keypoints=keypoints,
                    track_id=track_id)
    person.pasta = np.full(93, 0.02, np.float32)
    person.actions = np.full(157, 0.02, np.float32)
    if track_id == 1 and 10 <= index <= 30:
        person.pasta[HOLD] = 0.95
    return person


class ControlledPeople:
    """Two tracked persons standing apart; track 1 holds something in frames 10-30."""

    name = "controlled_people"

    def __init__(self, config=None) -> None:
        pass

    def __call__(self, frame, result) -> None:
        for track_id, x in ((1, 40.0), (2, 300.0)):
            result.persons.append(controlled_person(track_id, result.index, x))
        result.info["pose_backend"] = "fake"

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "controlled people"


def controlled_stages(config):
    return [ControlledPeople(config)]


def _search(qtbot, panel, query: str) -> None:
    panel.search.query.setText(query)
    qtbot.mouseClick(panel.search.find_button, Qt.LeftButton)
    assert panel.search.searching                       # the GUI thread did not wait for the encoder
    qtbot.waitUntil(lambda: not panel.search.searching, timeout=SEARCH_TIMEOUT_MS)


def test_history_frames_is_one_row_per_person_frame_with_pasta():
    history = PersonHistory()
    for i in range(5):
        people = [controlled_person(1, i, 10.0), controlled_person(2, i, 90.0)]
        if i == 3:
            people[1].pasta = None                      # seen, but no PaSta: nothing to score
        history.update(FrameResult(index=i, timestamp=i / 25.0, image_size=(320, 240), persons=people))
    table = history_frames(history, "clip.mp4")
    assert len(table) == 9 and set(table.item) == {"clip.mp4"}
    assert table.pasta.shape == (9, 93) and table.actions.shape == (9, 157) and table.visual.shape == (9, 0)
    assert sorted(table.frame[table.track == 2].tolist()) == [0, 1, 2, 4]
    assert np.allclose(table.time[table.track == 1], np.arange(5) / 25.0)


def test_search_live_highlights_marks_and_seeks(qtbot, make_window, sample_clip):
    window = make_window(controlled_stages)
    assert window.open_source(str(sample_clip)), window.last_error
    window.set_speed(None)
    wait_frames(qtbot, window, 40, timeout=60000)
    window.pause()
    settle(qtbot, window)
    panel, box = window.panel, window.panel.search
    assert box.item_name == window.session.source.name
    before = panel.minimumSizeHint().height()

    _search(qtbot, panel, "hand holds something")
    assert panel.minimumSizeHint().height() <= before + 30   # results take the person list's rows; + status
    assert box.segments, box.status.full_text
    first = box.segments[0]
    assert (first.track, first.start_frame, first.end_frame) == (1, 10, 30)
    assert first.item == window.session.source.name and first.peak_score > 0.5   # the rest score ~0.02
    assert "read as: hand: hold" in box.status.full_text
    assert box.results.item(0).text().startswith("ID 1  0.4–1.2 s  ")
    assert box.marks_of(1) == [(10, 30)] and box.tracks_at(20) == {1} and box.tracks_at(35) == set()

    # Clicking the result: track 1 selected, its timeline marked 10-30, and the real seek path goes to 10.
    rect = box.results.visualItemRect(box.results.item(0))
    qtbot.mouseClick(box.results.viewport(), Qt.LeftButton, pos=rect.center())
    assert panel.selected_track == 1
    assert window.search_seeks == [10]
    wait_index(qtbot, window, 10)
    assert panel.timeline.marks == [(10, 30)]
    assert len(panel.timeline.parts.mark_rects()) == 1
    # Frame 10 is shown: the holder is outlined in the view and starred in the list; the other is not.
    assert set(window.view.highlights) == {1}
    assert np.allclose(window.view.highlights[1], [40, 20, 90, 220])
    panel.refresh(force=True)
    texts = {panel.person_list.item(i).data(Qt.UserRole): panel.person_list.item(i).text()
             for i in range(panel.person_list.count())}
    assert texts[1].startswith("★ ID 1") and texts[2].startswith("ID 2")
    image = window.view.grab().toImage()
    corner = window.view.widget_point(40, 120)                  # the left edge of the holder's box
    left = QColor(image.pixel(int(corner.x()) - 3, int(corner.y())))
    assert (left.red(), left.green(), left.blue()) == (HIGHLIGHT_COLOR.red(), HIGHLIGHT_COLOR.green(),
                                                        HIGHLIGHT_COLOR.blue())

    # Outside 10-30 nobody is outlined.
    window.seek(35)
    wait_index(qtbot, window, 35)
    assert window.view.highlights == {}
    assert window.last_error is None


def test_search_says_what_is_wrong_in_one_line(qtbot, make_window):
    window = make_window()
    box = window.panel.search
    box.query.setText("hand holds something")
    qtbot.mouseClick(box.find_button, Qt.LeftButton)
    assert not box.searching and "nothing to search yet" in box.status.full_text   # no history yet
    window.history.update(FrameResult(index=0, timestamp=0.0, image_size=(320, 240),
                                      persons=[controlled_person(1, 0, 10.0)]))
    box.query.setText("   ")
    qtbot.mouseClick(box.find_button, Qt.LeftButton)
    assert "type what people do" in box.status.full_text
    box.encoder_name = "/nonexistent/encoder"                  # a failure comes back as the status line
    box.query.setText("kick")
    qtbot.mouseClick(box.find_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not box.searching, timeout=10000)
    assert box.status.full_text.startswith("search failed:") and box.segments == []

"""The window a researcher keeps open (issue 18), offscreen with pytest-qt: IDs that survive seeks and
replays, real time at 1× with a slow stage, no wheel edits on unfocused settings, a status bar whose
slots never overlap, the part-colour legend, and timelines that can be read and hovered."""
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PyQt5.QtGui import QMouseEvent, QWheelEvent  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from engine.render.colors import group_color  # noqa: E402
from engine.types import Person  # noqa: E402
from tests.app.test_app import settle, wait_frames, wait_index  # noqa: E402
from tests.engine.test_pipeline_player import SlowCarrier  # noqa: E402


class FakeDetections:
    """A pose stage stand-in: two people at positions that depend only on the frame index (so a seek back
    shows them where they were), with no track IDs (the real tracker gives those)."""

    name = "pose"

    def __call__(self, frame, result) -> None:
        for k in range(2):
            x = 40.0 + 300.0 * k + 1.5 * result.index
            keypoints = np.zeros((17, 3), np.float32)
            keypoints[:, 0], keypoints[:, 1], keypoints[:, 2] = x + 30, np.linspace(40, 300, 17), 0.9
            result.persons.append(Person(box=np.array([x, 30, x + 80, 320], np.float32), score=0.9,
                                         keypoints=keypoints))
        result.info["pose_backend"] = "fake detections"

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "fake detections"


def detections_and_tracker(config):
    from engine.stages.tracker import TrackerStage

    return [FakeDetections(), TrackerStage(config)]


def ids_at(window, index):
    return sorted(p.track_id for p in window.last_result.persons if p.track_id >= 0) \
        if window.last_result.index == index else None


# ----------------------------------------------------------------------------------------------- 1. IDs

def test_ids_stay_the_same_after_a_seek_back_a_replay_and_a_restart(qtbot, make_window, sample_clip):
    window = make_window(detections_and_tracker)
    assert window.open_source(str(sample_clip))
    window.set_speed(None)
    qtbot.waitUntil(lambda: window.last_result is not None and window.last_result.index >= 40, timeout=20000)
    window.pause()
    settle(qtbot, window)
    before = {p.track_id: p.box[0] for p in window.last_result.persons}
    assert sorted(before) == [1, 2]
    window.seek(20)                                      # back: the tracker is reset, the IDs come back
    wait_index(qtbot, window, 20)
    assert ids_at(window, 20) == [1, 2]                  # at once, before the tracker confirms again
    for _ in range(5):
        index = window.last_result.index
        window.step()
        wait_index(qtbot, window, index + 1)
        assert ids_at(window, index + 1) == [1, 2]
    window.drain_frames()
    window.panel.refresh(force=True)
    assert window.panel.person_list.count() == 2          # no duplicate person entries
    assert not any("not in view" in window.panel.person_list.item(i).text() for i in range(2))
    window.play()                                         # play on to the end, then Play replays from 0
    qtbot.waitUntil(lambda: window.pipeline.at_end, timeout=20000)
    window.play()
    qtbot.waitUntil(lambda: window.last_result.index < 100 and len(window.last_result.persons) == 2
                    and window.last_result.index > 3, timeout=10000)
    assert sorted(p.track_id for p in window.last_result.persons) == [1, 2]
    window.pause()
    settle(qtbot, window)
    here = window.last_result.index
    window.restart_pipeline()                             # new stages (a restart after a setting change)
    qtbot.waitUntil(lambda: not window.opening and window.last_result.index == here + 1, timeout=30000)
    assert ids_at(window, here + 1) == [1, 2]
    window.drain_frames()
    window.panel.refresh(force=True)
    assert sorted(window.history.tracks) == [1, 2] and window.panel.person_list.count() == 2


def test_the_person_list_says_not_in_view_only_for_people_absent_from_the_current_frame(qtbot, make_window,
                                                                                     sample_clip):
    window = make_window()
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 5)
    window.pause()
    settle(qtbot, window)
    from engine.types import FrameResult

    gone = FrameResult(index=window.last_result.index + 1, timestamp=9.0, image_size=(640, 360),
                       persons=[p for p in window.last_result.persons if p.track_id == 1])
    window.history.update(gone)
    window.panel.mark_dirty(gone.index)
    window.panel.refresh(force=True)
    texts = {window.panel.person_list.item(i).data(Qt.UserRole): window.panel.person_list.item(i).text()
             for i in range(window.panel.person_list.count())}
    assert "not in view" not in texts[1] and "not in view" in texts[2]


# ----------------------------------------------------------------------------------------- 2. real time

SlowStage = SlowCarrier  # a stage that takes its cost per computed frame, with a cheap carry (as A2V has)


def test_at_1x_a_slow_stage_skips_frames_and_the_clip_plays_in_real_time(qtbot, make_window, sample_clip):
    slow = SlowStage(0.15)                        # 6× slower than the clip's 25 fps
    window = make_window(lambda config: [slow])
    assert window.speed == 1.0
    assert window.open_source(str(sample_clip), start_frame=150)  # frames 150..249: 4.0 s of video
    qtbot.waitUntil(lambda: window.frames_received > 0, timeout=10000)
    start = time.perf_counter()
    first = window.last_result.index if window.last_result is not None else 150
    qtbot.waitUntil(lambda: window.pipeline.at_end, timeout=20000)
    wall = time.perf_counter() - start
    duration = (249 - first) / 25.0
    assert abs(wall - duration) <= 0.2 * duration, (wall, duration)
    assert window.frames_received == 100                          # every frame shown, none dropped
    assert slow.carried and len(slow.computed) < 50               # the slow stage skipped frames
    assert sorted(slow.computed + slow.carried) == list(range(150, 250))


def test_the_status_bar_says_the_achieved_rate_and_max_processes_every_frame(qtbot, make_window, sample_clip):
    slow = SlowStage(0.12)
    window = make_window(lambda config: [slow])
    assert window.open_source(str(sample_clip), start_frame=100)
    qtbot.waitUntil(lambda: "real time" in window.status.text("rate")
                    and "A2V every" in window.status.text("rate"), timeout=15000)
    text = window.status.text("rate")
    rate = float(text.split("×")[0])
    assert 0.7 <= rate <= 1.3, text                              # "1.0× real time, A2V every 4th frame"
    window.set_speed(None)                                        # max: every frame, as fast as it goes
    window.pause()
    settle(qtbot, window)
    window.seek(10)
    wait_index(qtbot, window, 10)
    window.play()
    qtbot.waitUntil(lambda: 30 <= window.last_result.index < 100, timeout=20000)
    window.pause()
    settle(qtbot, window)
    assert set(range(11, 31)) <= set(slow.computed)               # max: every frame computed
    assert not [i for i in slow.carried if 10 <= i <= 30]


def test_loading_says_which_model_it_loads(qtbot, make_window, sample_clip):
    window = make_window(None, **{"pose.backend": "none", "a2v.enabled": "true"})
    said = []
    window.loading.connect(lambda token, text: said.append(text))
    assert window.open_source(str(sample_clip), wait=False)
    assert window.status.text("message").startswith("Loading opening ")
    qtbot.waitUntil(lambda: not window.opening, timeout=20000)
    assert any(t.startswith("the tracker") for t in said)
    assert any(t.startswith("the A2V model (a2v_v1") for t in said), said


# ----------------------------------------------------------------------------------------------- 3. wheel

def _wheel(widget, down=True):
    center = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(center, QPointF(widget.mapToGlobal(center.toPoint())), QPoint(0, 0),
                        QPoint(0, -120 if down else 120), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_settings_instead_of_changing_an_unfocused_field(qtbot, make_window):
    window = make_window()
    window.settings.raise_()
    window.settings.show()
    qtbot.waitUntil(lambda: window.settings.scroll_area.isVisible(), timeout=2000)
    scroll = window.settings.scroll_area
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0                                        # a real, scrollable QScrollArea
    editor = window.settings.editors["render.keypoint_threshold"]
    scroll.ensureWidgetVisible(editor)                             # scrolled down to it
    start_value, start_scroll = editor.value(), bar.value()
    assert start_scroll > 0 and not editor.hasFocus()
    for _ in range(3):
        _wheel(editor, down=False)                                  # as in the report: three wheel clicks
    assert editor.value() == start_value == pytest.approx(0.3)     # the setting did not change
    assert bar.value() < start_scroll                               # the dock scrolled instead
    combo = window.settings.editors["pose.backend"]
    before = combo.currentText()
    _wheel(combo)
    assert combo.currentText() == before
    assert editor.focusPolicy() == Qt.StrongFocus and combo.focusPolicy() == Qt.StrongFocus
    # A deliberate edit: click into the field (it takes focus), then the wheel changes it.
    window.activateWindow()
    editor.setFocus(Qt.MouseFocusReason)
    qtbot.waitUntil(editor.hasFocus, timeout=2000)
    _wheel(editor, down=False)
    assert editor.value() == pytest.approx(0.35)
    assert window.config.render.keypoint_threshold == pytest.approx(0.35)


# ------------------------------------------------------------------------------------------ 4. status bar

def test_status_slots_never_overlap_and_long_texts_are_elided_with_a_tooltip(qtbot, make_window, sample_clip):
    window = make_window()
    window.resize(1280, 800)
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 3)
    long = "PaSta off: no A2V weights: run `python main.py weights fetch a2v_v1` (or `weights import`) " * 2
    window.status.show_message("Recording saved: /a/very/long/folder/name/that/goes/on/bikes-20261201.mp4 "
                               "(120 frames, h264)")
    window.pause()
    settle(qtbot, window)
    window._timer.stop()                                  # the 10 Hz refresh would put "PaSta: …" back
    window._update_status()
    window.status.set("pasta", long)
    qtbot.wait(50)
    labels = [window.status.labels[name] for name in window.status.labels]
    rects = [label.geometry() for label in labels]
    for i, a in enumerate(rects):
        assert a.right() <= window.status.width()
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)
    for label in labels:
        shown = label.text()
        assert label.fontMetrics().horizontalAdvance(shown) <= label.width(), label.objectName()
        assert label.toolTip() == label.full_text
    pasta = window.status.labels["pasta"]
    assert pasta.text().endswith("…") and pasta.toolTip() == " ".join(long.split())
    assert window.status.text("fps").endswith("fps") and window.status.labels["fps"].text().endswith("fps")


def test_an_empty_heatmap_has_a_plain_axis(qtbot, make_window):
    window = make_window()
    heatmap = window.panel.timeline.pasta_heatmap
    heatmap.set_data(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 93), np.float32))
    x_range = heatmap.plot.getPlotItem().vb.viewRange()[0]
    assert x_range[1] - x_range[0] >= 10                            # never the collapsed "±1e-46"


# ------------------------------------------------------------------------------------------- 5. legend

def test_the_legend_shows_each_part_in_its_overlay_colour(qtbot, make_window):
    window = make_window()
    legend = window.legend
    assert list(legend.chips) == list(window.vocab.groups)
    for g, (name, chip) in enumerate(legend.chips.items()):
        assert chip.isVisible() and chip.text() == name
        image = chip.grab().toImage()
        pixel = image.pixelColor(3, image.height() // 2)
        b, gr, r = group_color(name, g)
        assert (pixel.red(), pixel.green(), pixel.blue()) == (r, gr, b), name
    assert window.config.render.hud is False                        # no HUD burned into recordings
    assert not window.settings.editors["render.hud"].isChecked()


# ----------------------------------------------------------------------------------------- 6. timelines

def test_timeline_rows_per_part_with_hover_and_the_full_heatmap_one_click_away(qtbot, make_window, sample_clip,
                                                                               tmp_path):
    window = make_window()
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 12)
    window.pause()
    settle(qtbot, window)
    window.panel.select_track(1)
    window.panel.refresh(force=True)
    timeline = window.panel.timeline
    vocab = window.vocab
    rows = timeline.parts.rows
    assert [r.name for r in rows] == list(vocab.groups)             # six rows, one per body part
    frames, times, pasta, actions = window.history.series(1)
    column = len(frames) // 2
    hand = vocab.groups.index("hand")
    band = vocab.group_slices[hand]
    best = int(np.argmax(pasta[column, band]))
    assert rows[hand].labels[column] == best                         # the top state of the hand there
    assert [r.name for r in timeline.action_rows.rows] == ["action 1", "action 2", "action 3"]
    # Hover: a real mouse move over the hand row at that frame.
    parts = timeline.parts
    x = parts.x_of(column + 0.5)
    y = hand * 18 + 9
    QApplication.sendEvent(parts, QMouseEvent(QEvent.MouseMove, QPointF(x, y), Qt.NoButton, Qt.NoButton,
                                              Qt.NoModifier))
    expected = (f"frame {frames[column]} · {times[column]:.2f} s · hand: "
                f"{vocab.pasta[band.start + best].replace('_', ' ')} {pasta[column, band.start + best]:.2f}")
    assert timeline.hover.text() == expected
    # The full 93-row heatmap is one click away, in its own window.
    assert not timeline.pasta_window.isVisible()
    qtbot.mouseClick(timeline.all_states_button, Qt.LeftButton)
    assert timeline.pasta_window.isVisible()
    assert timeline.pasta_heatmap.values.shape == (len(frames), 93)
    assert timeline.pasta_heatmap.value_at(int(frames[column]), band.start + best) == \
        pytest.approx(float(pasta[column, band.start + best]))
    qtbot.mouseClick(timeline.all_actions_button, Qt.LeftButton)
    assert timeline.action_window.isVisible() and timeline.action_heatmap.values.shape[1] == 157
    # Both export: CSV with the rows shown, PNG of the rows.
    csv_path = window.export_timeline_csv(tmp_path / "t.csv")
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header[-7:] == [f"top {g}" for g in vocab.groups] + ["top action"]
    png = window.export_timeline_png(tmp_path / "t.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timeline.pasta_window.close()
    timeline.action_window.close()

"""The window, offscreen (pytest-qt): play, persons in the panel, timeline and exports, seek/step, errors,
recording, settings, closing with no thread left."""
import csv
import importlib.util
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt5.QtCore import Qt  # noqa: E402

from app.source_dialog import SourceDialog  # noqa: E402
from engine.types import Person  # noqa: E402

REAL_PIPELINE = importlib.util.find_spec("engine.stages.tracker") is not None


class FakePeopleStage:
    """Two tracked persons drifting right, with PaSta, actions and vectors (seeded, so runs repeat)."""

    name = "fake_people"

    def __init__(self, config=None, fail_at: int | None = None) -> None:
        self.rng = np.random.default_rng(0)
        self.fail_at = fail_at
        self.closed = False

    def __call__(self, frame, result) -> None:
        if self.fail_at is not None and result.index == self.fail_at:
            raise RuntimeError("synthetic failure")
        w, h = result.image_size
        for track_id in (1, 2):
            x = float((result.index * 2 + track_id * 150) % (w - 60))
            keypoints = np.zeros((17, 3), np.float32)
            keypoints[:, 0], keypoints[:, 1], keypoints[:, 2] = x + 25, np.linspace(30, 200, 17), 0.9
            person = Person(box=np.array([x, 20, x + 50, 220], np.float32), score=0.9, keypoints=keypoints,
                            track_id=track_id)
            person.pasta = self.rng.random(93).astype(np.float32)
            person.actions = self.rng.random(157).astype(np.float32)
            person.visual = (self.rng.random(3072) + track_id).astype(np.float32)
            person.language = self.rng.random(768).astype(np.float32)
            result.persons.append(person)
        result.info["pose_backend"] = "fake"

    def close(self) -> None:
        self.closed = True

    def describe(self) -> str:
        return "fake people"


def fake_stages(config):
    return [FakePeopleStage(config)]


def real_stages_fast(config):
    """The real stages (pose, tracker, A2V without weights) with mediapipe, the fast CPU backend."""
    from engine.config import apply_override
    from engine.stages import build_stages

    apply_override(config, "pose.backend=mediapipe")
    apply_override(config, "device=cpu")
    return build_stages(config)


def wait_frames(qtbot, window, count, timeout=20000):
    qtbot.waitUntil(lambda: window.frames_received >= count, timeout=timeout)


def wait_index(qtbot, window, index, timeout=10000):
    qtbot.waitUntil(lambda: window.last_result is not None and window.last_result.index == index, timeout=timeout)


def settle(qtbot, window, quiet_ms=300, timeout=10000):
    """After a pause: wait until the frames already in the pipeline's queues have arrived."""
    deadline = time.monotonic() + timeout / 1000.0
    seen = -1
    while window.frames_received != seen and time.monotonic() < deadline:
        seen = window.frames_received
        qtbot.wait(quiet_ms)


def _play_select_export(qtbot, window, sample_clip, tmp_path, start_frame, frames):
    assert window.open_source(str(sample_clip), start_frame=start_frame), window.last_error
    window.set_speed(None)  # as fast as the stages go
    wait_frames(qtbot, window, frames, timeout=60000)
    qtbot.waitUntil(lambda: window.panel.person_list.count() > 0, timeout=5000)
    window.pause()
    settle(qtbot, window)
    panel = window.panel
    item = panel.person_list.item(0)
    panel.person_list.setCurrentItem(item)     # as a user's click does
    track_id = panel.selected_track
    assert track_id == item.data(0x0100)       # Qt.UserRole
    track = window.history.tracks[track_id]
    frames_seen = track.frames
    assert len(frames_seen) == track.frames_seen >= 3
    timeline_frames, pasta = window.history.timeline(track_id)
    assert set(frames_seen) <= set(timeline_frames.tolist())
    assert len(panel.timeline.frames) == len(timeline_frames)   # the widget shows that timeline
    assert f"ID {track_id}" in item.text()
    csv_path = window.export_timeline_csv(tmp_path / "timeline.csv")
    png_path = window.export_timeline_png(tmp_path / "timeline.png")
    rows = list(csv.reader(open(csv_path, newline="", encoding="utf-8")))
    assert [int(r[0]) for r in rows[1:]] == sorted(frames_seen)
    assert png_path.stat().st_size > 1000 and png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert window.last_error is None
    return track_id, rows


def test_play_sample_select_person_and_export_timeline(qtbot, make_window, sample_clip, tmp_path):
    window = make_window()
    track_id, rows = _play_select_export(qtbot, window, sample_clip, tmp_path, start_frame=0, frames=20)
    assert rows[1][3] != ""                                     # the fake stage gives PaSta every frame
    assert window.panel.timeline.value_at(int(rows[1][0]), 0) == pytest.approx(float(rows[1][3]), abs=1e-4)
    assert len(window.panel.actions.shown) == 5
    assert window.panel.vector_map.points.keys() == {1, 2}
    assert window.view.frames_shown > 0
    status = " ".join(window.status.text(slot) for slot in window.status.labels)
    assert "fps" in status and "pose: fake" in status and "PaSta: a2v_v1" in status


@pytest.mark.skipif(not REAL_PIPELINE, reason="engine.stages.tracker (TrackerStage) has not landed yet")
def test_real_pipeline_finds_the_cyclist(qtbot, make_window, sample_clip, tmp_path):
    """mediapipe + tracker + A2V (no weights: part boxes only) on the sample clip's cyclist."""
    window = make_window(real_stages_fast)
    track_id, rows = _play_select_export(qtbot, window, sample_clip, tmp_path, start_frame=100, frames=16)
    status = " ".join(window.status.text(slot) for slot in window.status.labels)
    assert "pose: mediapipe" in status and "PaSta off" in status
    assert rows[1][3] == ""                                     # no weights: no PaSta, said plainly
    window.play()
    window.settings.editors["tracker.max_age"].setValue(45)    # the real tracker takes it live
    assert window.config.tracker.max_age == 45 and not window.pending_restart


def test_seek_and_step(qtbot, make_window, sample_clip):
    window = make_window()
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 3)
    window.pause()
    assert window.pipeline.paused
    window.seek(200)
    wait_index(qtbot, window, 200)
    assert window.slider.value() == 200
    window.step()
    wait_index(qtbot, window, 201)
    window.step()
    wait_index(qtbot, window, 202)
    qtbot.wait(300)
    assert window.last_result.index == 202                      # paused: nothing more came
    window.seek(10)
    wait_index(qtbot, window, 10)
    window.play()
    qtbot.waitUntil(lambda: window.last_result.index >= 14, timeout=10000)  # plays on from 10


def test_play_again_after_the_end_and_seek_after_the_end(qtbot, make_window, sample_clip):
    window = make_window()
    assert window.open_source(str(sample_clip), start_frame=245)
    window.set_speed(None)
    qtbot.waitUntil(lambda: window.pipeline.at_end, timeout=10000)   # held at the end, models kept
    qtbot.waitUntil(lambda: window.play_button.text() == "Play", timeout=2000)
    assert window.last_result.index == 249 and window.last_error is None
    pipeline = window.pipeline
    window.pause()
    window.seek(30)                                              # paused: shows frame 30, no reload
    wait_index(qtbot, window, 30)
    assert window.pipeline is pipeline and pipeline.running and pipeline.paused
    window.seek(248)
    window.play()
    qtbot.waitUntil(lambda: window.pipeline.at_end, timeout=5000)
    window.play()                                                # play again after the end: from 0
    qtbot.waitUntil(lambda: window.last_result.index < 200, timeout=5000)
    assert window.pipeline is pipeline


def test_bad_file_shows_the_error_and_the_app_stays_usable(qtbot, make_window, sample_clip, tmp_path):
    window = make_window()
    missing = tmp_path / "nope.mp4"
    assert not window.open_source(str(missing))
    assert window.last_error and str(missing) in window.last_error and "check the path" in window.last_error
    assert window.banner.isVisible()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    assert not window.open_source(str(broken))
    assert str(broken) in window.last_error
    assert window.open_source(str(sample_clip))                 # still usable
    wait_frames(qtbot, window, 3)
    assert window.last_error is None and not window.banner.isVisible()


def test_a_failing_stage_shows_stage_and_frame(qtbot, make_window, sample_clip):
    window = make_window(lambda config: [FakePeopleStage(config, fail_at=5)])
    assert window.open_source(str(sample_clip))
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10000)
    assert "fake_people" in window.last_error and "frame 5" in window.last_error
    assert window.banner.isVisible()
    qtbot.waitUntil(lambda: not window.pipeline.running, timeout=5000)


def test_a_live_stream_that_ends_is_reported(qtbot, make_window, monkeypatch):
    from engine.io import sources

    def fake_open(spec, config=None):
        frames = [np.full((48, 64, 3), i, np.uint8) for i in range(5)]
        return sources.LiveSource(sources.IteratorProducer(iter(frames)), name=spec, kind="stream", fps=50.0,
                                  config=config)

    monkeypatch.setattr(sources, "open_source", fake_open)
    window = make_window()
    assert window.open_source("rtsp://camera.local/stream")
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10000)
    assert "rtsp://camera.local/stream" in window.last_error and "open it again" in window.last_error
    assert not window.speed_combo.isEnabled()


def test_record_while_watching_and_export_results(qtbot, make_window, sample_clip, tmp_path):
    import av

    window = make_window()
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 2)
    assert window.start_recording(tmp_path / "rec.mp4")
    assert window.record_button.isChecked()
    start = window.frames_received
    wait_frames(qtbot, window, start + 10)
    path, frames, codec = window.stop_recording()
    # Frames already rendered when recording started are not in it: a few fewer than received.
    assert 5 <= frames <= window.frames_received - start + 8 and codec in ("h264", "mp4v")
    assert not window.record_button.isChecked()
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == frames
    window.pause()
    settle(qtbot, window)
    written = window.export_results(tmp_path / "export")
    assert {p.name for p in written} == {"results.jsonl", "vectors.npz", "tracks.txt"}
    lines = (tmp_path / "export" / "results.jsonl").read_text().splitlines()
    assert len(lines) >= frames
    with np.load(tmp_path / "export" / "vectors.npz") as data:
        assert data["pasta"].shape == (2 * len(lines), 93)     # two persons a frame
    window.play()                                                # the run goes on after an export
    more = window.frames_received
    wait_frames(qtbot, window, more + 3)
    assert window.last_error is None


def test_recording_to_an_unwritable_place_is_an_error_not_a_crash(qtbot, make_window, sample_clip, tmp_path):
    window = make_window()
    assert window.open_source(str(sample_clip))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not window.start_recording(blocker / "rec.mp4")
    assert window.last_error and "rec.mp4" in window.last_error
    wait_frames(qtbot, window, 3)


def test_settings_render_toggles_at_once_others_on_restart(qtbot, make_window, sample_clip):
    window = make_window()
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 3)
    window.settings.editors["render.skeleton"].setChecked(False)
    assert window.config.render.skeleton is False               # the renderer reads it every frame
    window.settings.editors["a2v.stride"].setValue(3)
    assert window.config.a2v.stride == 1                         # waits for a restart
    assert window.pending_restart == {"a2v.stride": 3}
    assert window.settings.restart_button.isVisibleTo(window.settings)
    window.pause()
    settle(qtbot, window)
    here = window.last_result.index
    window.settings.restart_button.click()
    assert window.config.a2v.stride == 3 and not window.pending_restart
    wait_index(qtbot, window, here + 1)                          # continues where it was, still paused
    assert window.pipeline.paused


def test_closing_while_playing_exits_fast_with_no_thread_left(qtbot, make_window, sample_clip, tmp_path):
    before = set(threading.enumerate())
    window = make_window()
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 3)
    assert window.start_recording(tmp_path / "rec.mp4")
    wait_frames(qtbot, window, window.frames_received + 2)
    start = time.perf_counter()
    window.close()
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    # The pipeline's short memory-release helper (malloc_trim after a run) may still be finishing.
    qtbot.waitUntil(lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
                    timeout=2000)
    assert (tmp_path / "rec.mp4").stat().st_size > 0             # the recording was finalized


def test_click_in_the_view_selects_the_person_there(qtbot, make_window, sample_clip):
    window = make_window()
    assert window.open_source(str(sample_clip), paused=True)
    wait_index(qtbot, window, 0)
    person = next(p for p in window.last_result.persons if p.track_id == 2)
    point = window.view.widget_point(float(person.box[0] + 5), float(person.box[1] + 5))
    qtbot.mouseClick(window.view, Qt.LeftButton, pos=point.toPoint())   # a real click on the view
    assert window.panel.selected_track == 2


def test_source_dialog_lists_the_cameras_that_open(qtbot, sample_clip):
    dialog = SourceDialog(prober=lambda: [0, 2])
    qtbot.addWidget(dialog)
    dialog.wait_for_probe()
    qtbot.waitUntil(lambda: dialog.camera_combo.count() == 2, timeout=2000)
    dialog.tabs.setCurrentIndex(0)
    dialog.camera_combo.setCurrentIndex(1)
    assert dialog.chosen() == "2"
    dialog.tabs.setCurrentIndex(1)
    dialog.file_edit.setText(str(sample_clip))
    assert dialog.chosen() == str(sample_clip)
    dialog.tabs.setCurrentIndex(2)
    assert dialog.chosen() is None                               # empty URL: nothing to open


def test_source_dialog_says_when_no_camera_opens(qtbot):
    dialog = SourceDialog(prober=lambda: [])
    qtbot.addWidget(dialog)
    dialog.wait_for_probe()
    qtbot.waitUntil(lambda: "No camera" in dialog.camera_status.text(), timeout=2000)


class NoPastaStage(FakePeopleStage):
    """Like a run without A2V weights: persons and tracks, no PaSta, and the reason in the result."""

    def __call__(self, frame, result) -> None:
        super().__call__(frame, result)
        for person in result.persons:
            person.pasta = person.actions = person.visual = person.language = None
        result.info["pasta_off"] = "no A2V weights: run `python main.py weights fetch a2v_v1`"


def test_without_pasta_the_panel_says_why(qtbot, make_window, sample_clip, tmp_path):
    window = make_window(lambda config: [NoPastaStage(config)])
    assert window.open_source(str(sample_clip))
    wait_frames(qtbot, window, 5)
    window.panel.select_track(1)
    assert "weights fetch a2v_v1" in window.panel.details.full_text
    assert window.panel.timeline.message.isVisible()
    assert "PaSta off" in window.status.text("pasta")
    rows = list(csv.reader(open(window.export_timeline_csv(tmp_path / "t.csv"), newline="", encoding="utf-8")))
    assert len(rows) > 1 and all(cell == "" for cell in rows[1][3:])


def test_a_camera_that_does_not_open_shows_the_fix(qtbot, make_window, monkeypatch):
    from engine.io import sources

    class BusyCamera:
        """What OpenCV does when another program holds the camera: it does not open."""

        def __init__(self, index, width=0, height=0):
            self.index = index

        def open(self):
            raise OSError(f"camera {self.index} did not open")

    monkeypatch.setattr(sources, "WebcamProducer", BusyCamera)
    window = make_window()
    assert not window.open_source("0")
    assert "webcam 0" in window.last_error and "not used by another program" in window.last_error
    assert window.banner.isVisible() and window.pipeline is None


def test_opening_in_the_background_keeps_the_window_responsive(qtbot, make_window, sample_clip):
    built = []
    release = threading.Event()

    def slow_stages(config):
        release.wait(5.0)  # "loading models"
        stage = FakePeopleStage(config)
        built.append(stage)
        return [stage]

    window = make_window(slow_stages)
    assert window.open_source(str(sample_clip), wait=False)
    assert window.opening and not window.play_button.isEnabled()
    qtbot.wait(100)                                              # the event loop runs meanwhile
    assert window.opening
    # A second open supersedes the first: what the first built is released, not leaked.
    assert window.open_source(str(sample_clip), start_frame=50, wait=False)
    release.set()
    qtbot.waitUntil(lambda: window.last_result is not None and window.last_result.index >= 50, timeout=10000)
    assert not window.opening and len(built) == 2
    # Both opens build their stages once released, in either order: exactly the superseded one is closed.
    qtbot.waitUntil(lambda: any(stage.closed for stage in built), timeout=5000)
    running = window.session.pipeline.stages if window.session.pipeline else []
    assert [stage.closed for stage in built].count(True) == 1
    assert all(not stage.closed for stage in built if stage in running)


def test_a_background_open_that_fails_shows_the_error(qtbot, make_window, tmp_path):
    window = make_window()
    assert window.open_source(str(tmp_path / "missing.mp4"), wait=False)
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10000)
    assert "missing.mp4" in window.last_error and not window.opening

"""The main window: video view with transport controls, person side panel, settings dock, status bar.

The window only shows and controls. All work runs on the pipeline's threads; results reach the GUI through
:class:`app.bridge.FrameBridge` (a queued signal). The newest frame is painted as soon as it arrives; the
side panel and the status bar are redrawn by a 10 Hz timer, and only when something changed.

Errors (a file that does not open, a camera in use, a stream that drops, a stage that fails) are shown in
a banner above the video with the fix; ``last_error`` holds the text. The window keeps running.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from PyQt5.QtCore import Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QAction,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.banner import ErrorBanner, fix_for_pipeline_error
from app.bridge import FrameBridge
from app.history import PersonHistory
from app.legend import PartLegend
from app.person_panel import PersonPanel
from app.playback_rate import PlaybackRate
from app.session import RunSession
from app.settings_dock import SettingsDock
from app.status_bar import StatusSlots
from app.transport import TransportBar
from app.video_view import VideoView
from engine.config import Config, ConfigError, apply_override
from engine.cvcompat import cv2  # noqa: F401 - first, so OpenCV cannot break PyQt5's plugin path
from engine.paths import SAMPLE_CLIP
from engine.types import FrameResult

log = logging.getLogger(__name__)

REFRESH_MS = 100           # side panel and status bar: ~10 Hz
# Errors a user can fix (bad input, missing weights, bad setting): shown in the banner, never a crash.
USER_ERRORS = (ValueError, RuntimeError, OSError, LookupError, ImportError)


class MainWindow(QMainWindow):
    opened = pyqtSignal(object, object, int, object)  # (Prepared | None, error | None, token, options)
    loading = pyqtSignal(int, str)                    # (token, what is being loaded), from the open thread

    """See the module docstring.

    Args:
        config: the run's config (``config.render`` is read by the renderer every frame: overlay toggles
            apply at once).
        stages_factory: ``factory(config) -> stages``; default ``engine.stages.build_stages``.
        history_frames: frames of history kept per person (the timeline's length).
    """

    def __init__(self, config: Config, stages_factory: Optional[Callable] = None, history_frames: int = 900,
                 run_root: Optional[Path] = None) -> None:
        super().__init__()
        from engine.vocab import load_vocab

        self.setWindowTitle("a2v — Activity2Vec")
        self.config = config
        self.vocab = load_vocab()
        self.session = RunSession(config, stages_factory, self.vocab, run_root=run_root)
        self.history = PersonHistory(max_frames=history_frames)
        self.bridge = FrameBridge()
        self.bridge.frames_ready.connect(self.drain_frames, Qt.QueuedConnection)
        self.bridge.failed.connect(self._on_pipeline_error, Qt.QueuedConnection)
        self.last_error: Optional[str] = None
        self.last_result: Optional[FrameResult] = None
        self.last_frame = None
        self.frames_received = 0
        self.pending_restart: dict[str, object] = {}
        self.speed: Optional[float] = 1.0
        self._ended_reported = False
        self._shown_at_end = False
        self.opening = False
        self._closed = False
        self._open_token = 0
        self._open_thread: Optional[threading.Thread] = None
        self.opened.connect(self._on_opened, Qt.QueuedConnection)
        self.loading.connect(self._on_loading, Qt.QueuedConnection)
        self._loading_text = ""
        self._loading_since = 0.0
        self.rate = PlaybackRate()

        self.banner = ErrorBanner()
        self.view = VideoView()
        self.view.clicked.connect(self._on_view_clicked)
        self.legend = PartLegend(self.vocab)
        self.transport = self._transport_bar()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.banner)
        column.addWidget(self.view, 1)
        column.addWidget(self.legend)
        column.addWidget(self.transport)
        self.setCentralWidget(central)

        self.panel = PersonPanel(self.vocab, self.history)
        self.panel.csv_button.clicked.connect(self._ask_timeline_csv)
        self.panel.png_button.clicked.connect(self._ask_timeline_png)
        self.panel.seek_requested.connect(self._on_search_seek)
        self.panel.search.results_changed.connect(self._show_search_highlights)
        self.search_seeks: list[int] = []   # frames search results asked to seek to (latest last)
        self.panel_dock = QDockWidget("Persons", self)
        self.panel_dock.setObjectName("persons_dock")
        self.panel_dock.setWidget(self.panel)
        self.addDockWidget(Qt.RightDockWidgetArea, self.panel_dock)
        self.settings = SettingsDock(config, self)
        self.settings.changed.connect(self.apply_setting)
        self.settings.restart_requested.connect(self.restart_pipeline)
        self.addDockWidget(Qt.RightDockWidgetArea, self.settings)
        self.tabifyDockWidget(self.settings, self.panel_dock)  # one column: the video keeps the width
        self.panel_dock.raise_()

        self.status = StatusSlots()
        self.statusBar().addPermanentWidget(self.status, 1)  # the only item: QStatusBar's own message is unused
        self.statusBar().setSizeGripEnabled(False)
        self._build_menus()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(REFRESH_MS)
        self._update_transport()

    # ------------------------------------------------------------------------------------------ layout
    def _transport_bar(self) -> TransportBar:
        bar = TransportBar()
        # The window's own names for the bar's widgets (scripts and tests use them).
        self.play_button, self.step_button, self.slider = bar.play_button, bar.step_button, bar.slider
        self.position_label, self.speed_combo, self.record_button = (bar.position_label, bar.speed_combo,
                                                                     bar.record_button)
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button.clicked.connect(self.step)
        # Bound methods, not lambdas: PyQt keeps a lambda (and the window it closes over) alive until an
        # event loop deletes its slot proxy; a bound method's window is freed with its last reference.
        self.slider.sliderReleased.connect(self._on_slider_released)
        self.slider.actionTriggered.connect(self._on_slider_action)
        self.speed_combo.currentIndexChanged.connect(self._on_speed_index)
        self.record_button.clicked.connect(self._on_record_clicked)
        return bar

    def _on_slider_released(self) -> None:
        self.seek(self.slider.value())

    def _on_speed_index(self, index: int) -> None:
        self.set_speed(self.speed_combo.itemData(index))

    def open_sample_clip(self) -> None:
        """File → Open the sample clip (in the background, like the source dialog)."""
        self.open_source(str(SAMPLE_CLIP), wait=False)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        entries = (
            ("&Open source…", "Ctrl+O", self.ask_source),
            ("Open the &sample clip", None, self.open_sample_clip),
            (None, None, None),
            ("&Export results (JSONL, NPZ, MOT)…", "Ctrl+E", self._ask_export_results),
            ("Export timeline as &CSV…", None, self._ask_timeline_csv),
            ("Export timeline as &PNG…", None, self._ask_timeline_png),
            ("Save &screenshot…", "Ctrl+Shift+S", self._ask_screenshot),
            (None, None, None),
            ("&Quit", "Ctrl+Q", self.close),
        )
        for text, shortcut, slot in entries:
            if text is None:
                file_menu.addSeparator()
                continue
            action = QAction(text, self)
            if shortcut:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        play_menu = self.menuBar().addMenu("&Playback")
        for text, shortcut, slot in (("Play / pause", "Space", self.toggle_play),
                                     ("Step one frame", "Right", self.step),
                                     ("Record / stop recording", "Ctrl+R", self.record_button.click)):
            action = QAction(text, self)
            action.setShortcut(shortcut)
            action.setShortcutContext(Qt.ApplicationShortcut)
            action.triggered.connect(slot)
            play_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.panel_dock.toggleViewAction())
        view_menu.addAction(self.settings.toggleViewAction())

    # ------------------------------------------------------------------------------------------ errors
    def show_error(self, message: str) -> None:
        """Show ``message`` (what went wrong and the fix) in the banner; the window keeps running."""
        self.last_error = " ".join(str(message).split())
        log.error("%s", self.last_error)
        self.banner.show_message(self.last_error)

    def clear_error(self) -> None:
        self.last_error = None
        self.banner.hide()

    def _on_pipeline_error(self, exc) -> None:
        self.show_error(f"{exc} — {fix_for_pipeline_error(exc)}")
        self._update_transport()

    # ----------------------------------------------------------------------------------------- sources
    @property
    def pipeline(self):
        return self.session.pipeline

    @property
    def source(self):
        return self.session.source

    def ask_source(self) -> None:
        from app.source_dialog import SourceDialog

        dialog = SourceDialog(self, initial=self.session.spec or str(SAMPLE_CLIP))
        if dialog.exec_() and dialog.spec:
            self.open_source(dialog.spec, wait=False)

    def open_source(self, spec: str, start_frame: int = 0, paused: bool = False,
                    max_frames: Optional[int] = None, wait: bool = True) -> bool:
        """Open ``spec`` (webcam index, file, URL, folder) and start playing.

        With ``wait`` (scripts, tests) everything happens now; returns False (banner shown) on error.
        Without, the source is opened and the models are loaded on a worker thread, so the window stays
        responsive (``opening`` is True meanwhile; errors appear in the banner); returns True at once.
        A newer open supersedes one still loading (whose source and stages are then released).
        """
        self._open_token += 1
        token = self._open_token
        options = (start_frame, paused, max_frames)
        self._apply_pending()    # settings that waited for a (re)start
        self.session.stop()      # first: a camera cannot be opened twice
        if wait:
            self.opening = False
            try:
                prepared = self.session.prepare(spec)
            except USER_ERRORS as exc:
                self._open_failed(str(exc) or type(exc).__name__)
                return False
            return self._launch(prepared, *options)
        self.opening = True
        self._on_loading(token, f"opening {spec}")
        self._update_transport()

        def progress(text: str) -> None:
            if not self._closed:
                try:
                    self.loading.emit(token, text)
                except RuntimeError:  # the window was deleted meanwhile
                    pass

        def work() -> None:
            prepared, error = None, None
            try:
                prepared = self.session.prepare(spec, progress=progress)
            except USER_ERRORS as exc:
                error = str(exc) or type(exc).__name__
            except BaseException as exc:  # noqa: BLE001 - shown in the banner, not lost with the thread
                log.exception("opening %s failed", spec)
                error = f"{type(exc).__name__}: {exc}"
            if self._closed:
                if prepared is not None:
                    prepared.close()
                return
            try:
                self.opened.emit(prepared, error, token, options)
            except RuntimeError:  # the window was deleted meanwhile
                if prepared is not None:
                    prepared.close()

        self._open_thread = threading.Thread(target=work, name="a2v-open", daemon=True)
        self._open_thread.start()
        return True

    def _on_loading(self, token: int, text: str) -> None:
        """The open thread says what it loads now; the status bar shows it with the seconds it takes."""
        if token != self._open_token or not self.opening:
            return
        self._loading_text, self._loading_since = text, time.monotonic()
        self._show_loading()

    def _show_loading(self) -> None:
        seconds = time.monotonic() - self._loading_since
        self.status.show_message(f"Loading {self._loading_text}… {seconds:.0f} s")

    def _on_opened(self, prepared, error, token: int, options: tuple) -> None:
        if token != self._open_token or self._closed:  # superseded by a newer open, or closing
            if prepared is not None:
                prepared.close()
            return
        self.opening = False
        if error is not None:
            self._open_failed(error)
            return
        self._launch(prepared, *options)

    def _open_failed(self, message: str) -> None:
        self.status.clear_message()
        self.show_error(message)
        self._update_transport()

    def _launch(self, prepared, start_frame: int, paused: bool, max_frames: Optional[int]) -> bool:
        new_source = prepared.spec != self.session.spec
        on_frame, on_error = self.bridge.callbacks()
        try:
            self.session.launch(prepared, on_frame, on_error, start_frame=start_frame, paused=paused,
                                max_frames=max_frames)
        except USER_ERRORS as exc:
            prepared.close()
            self._open_failed(str(exc) or type(exc).__name__)
            return False
        self.clear_error()
        self._ended_reported = False
        if new_source:
            self.history.clear()
            self.panel.clear()
            self.panel.search.item_name = prepared.source.name
            self.frames_received = 0
        self._apply_speed()
        source = self.session.source
        self.setWindowTitle(f"a2v — {source.name} — A2V weights: {Path(str(self.config.a2v.checkpoint)).name}")
        self.status.show_message("; ".join(self.session.stage_descriptions), 10000)
        self.rate.clear()
        self._update_transport()
        return True

    def _apply_pending(self) -> None:
        for key, value in list(self.pending_restart.items()):
            try:
                apply_override(self.config, f"{key}={_yaml_value(value)}")
            except ConfigError as exc:  # validated when edited; kept for safety
                self.show_error(f"{exc}")
        self.pending_restart.clear()
        self.settings.set_pending([])

    def restart_pipeline(self) -> bool:
        """Apply settings that need new stages: reopen the source where it is (file sources) and go on."""
        if self.session.spec is None:
            self._apply_pending()
            return False
        was_paused = self.pipeline is not None and self.pipeline.paused
        start = (self.last_result.index + 1) if self.last_result is not None and self._can_seek() else 0
        count = getattr(self.session.source, "frame_count", None)
        if count and start >= count:
            start = count - 1  # restarted at the end: show the last frame again rather than nothing
        recording = self.session.recording.path
        if recording is not None:
            self.stop_recording()
            self.status.show_message(f"Recording stopped by the restart; saved to {recording}", 10000)
        return self.open_source(self.session.spec, start_frame=start, paused=was_paused, wait=False)

    def _can_seek(self) -> bool:
        return bool(getattr(self.session.source, "can_seek", False))

    # --------------------------------------------------------------------------------------- transport
    def toggle_play(self) -> None:
        pipe = self.pipeline
        if pipe is not None and pipe.running and not pipe.paused:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        pipe = self.pipeline
        if pipe is None:
            return
        if pipe.running and pipe.at_end:  # held at the end (any seek would have left it): from the start
            pipe.seek(0)
            pipe.resume()
            self._update_transport()
            return
        if not pipe.running and self.session.spec is not None and not self.session.source.is_live:
            start = self.slider.value() if self.slider.value() < self.slider.maximum() else 0
            self.open_source(self.session.spec, start_frame=start, wait=False)   # played to the end: again
            return
        pipe.resume()
        self._update_transport()

    def pause(self) -> None:
        if self.pipeline is not None:
            self.pipeline.pause()
        self._update_transport()

    def step(self) -> None:
        """One more frame (pauses first when playing)."""
        pipe = self.pipeline
        if pipe is None:
            return
        if not pipe.running:
            if self._can_seek() and self.last_result is not None:
                self.open_source(self.session.spec, start_frame=self.last_result.index + 1, paused=True,
                                 wait=False)
            return
        if pipe.at_end:
            return  # nothing after the last frame
        if not pipe.paused:
            pipe.pause()
        pipe.step()
        self._update_transport()

    def seek(self, frame: int) -> None:
        """Jump to ``frame`` (file and image sources); while paused, the frame there is shown."""
        if not self._can_seek():
            return
        pipe = self.pipeline
        if pipe is None or not pipe.running:
            self.open_source(self.session.spec, start_frame=int(frame), paused=True, wait=False)
            return
        pipe.seek(int(frame))
        if pipe.paused:
            pipe.step()

    def _on_slider_action(self, action: int) -> None:
        if action != QSlider.SliderMove:  # clicks on the groove and keys; drags seek on release
            QTimer.singleShot(0, lambda: self.seek(self.slider.value()))

    def set_speed(self, speed: Optional[float]) -> None:
        """Playback speed of file sources: a factor of the file's frame rate, or None = as fast as possible."""
        self.speed = speed
        self.rate.clear()
        self._apply_speed()

    def _apply_speed(self) -> None:
        pipe = self.pipeline
        if pipe is not None:
            pipe.realtime = self.speed is not None
            pipe.speed = self.speed or 1.0

    def _update_transport(self) -> None:
        pipe, source = self.pipeline, self.session.source
        running = pipe is not None and pipe.running
        seekable = bool(getattr(source, "can_seek", False)) and not self.opening
        self.transport.show_state(
            playing=running and not pipe.paused and not pipe.at_end,
            can_play=source is not None and not self.opening,
            can_step=(running or seekable) and not self.opening,
            frame_count=getattr(source, "frame_count", None) or 0, seekable=seekable,
            can_change_speed=source is not None and not source.is_live, can_record=running,
            recording=self.session.recording.active)

    # ----------------------------------------------------------------------------------------- frames
    def drain_frames(self) -> int:
        """Take every result the pipeline has delivered so far into the history, show the newest frame and
        mark the panel for its next refresh; returns how many results were taken. The bridge's signal
        calls this; scripts and tests call it to be sure nothing is still queued for the GUI."""
        results, latest = self.bridge.take()
        if not results:
            return 0
        frame = latest[0] if latest is not None else None
        now = time.monotonic()
        for result in results:
            self.history.update(result, frame if latest is not None and result is latest[2] else None)
            self.rate.note(now, result)
        self.frames_received += len(results)
        if latest is not None:
            frame, annotated, result = latest
            self.last_frame, self.last_result = frame, result
            self.view.show_frame(annotated if annotated is not None else frame)
            self.transport.show_position(result.index, getattr(self.session.source, "frame_count", None))
        self.panel.pasta_off = results[-1].info.get("pasta_off")
        self.panel.mark_dirty(self.history.last_frame, results)
        self._show_search_highlights()
        return len(results)

    def _show_search_highlights(self) -> None:
        """Outline the persons of the shown frame that a search result covers (cheap: a few segments)."""
        result = self.last_result
        if result is None:
            self.view.set_highlights({})
            return
        matching = self.panel.search.tracks_at(result.index)
        self.view.set_highlights({p.track_id: p.box for p in result.persons if p.track_id in matching})

    def _on_search_seek(self, frame: int) -> None:
        """A clicked search result: go to its segment's start (the person is already selected)."""
        self.search_seeks.append(int(frame))
        self.seek(int(frame))

    def rate_text(self) -> str:
        """The achieved playback rate, e.g. "0.4× real time, A2V every 5th frame" (:mod:`app.playback_rate`)."""
        return self.rate.text(self.pipeline, self.session.source, self.speed)

    def _tick(self) -> None:
        """10 Hz: redraw the panel and status bar if needed; notice the end of the run."""
        if self.opening and self._loading_text:
            self._show_loading()
        self.panel.refresh()
        self._update_status()
        pipe = self.pipeline
        if pipe is not None and not pipe.running and not self._ended_reported:
            self._ended_reported = True
            self._on_run_ended(pipe)
        at_end = pipe is not None and pipe.at_end
        if at_end != self._shown_at_end:  # reached the end of the file (held) or left it by a seek
            self._shown_at_end = at_end
            self.drain_frames()
            self._update_transport()
        if self.record_button.isChecked() != self.session.recording.active:
            self._update_transport()

    def _on_run_ended(self, pipe) -> None:
        self.drain_frames()  # every frame is in the bridge once the output thread has ended: show the last
        source = self.session.source
        if pipe.error is None and source is not None and source.is_live and pipe.stop_reason not in ("stopped",):
            self.show_error(f"{source.name}: the stream ended ({pipe.stop_reason}); check the camera or the "
                            f"connection, then open it again (File → Open)")
        self._update_transport()

    def _update_status(self) -> None:
        status = self.status
        status.set("rate", self.rate_text())
        path = self.session.recording.path
        status.set("rec", f"● REC {path.name}" if path is not None else "",
                   "color: #c00; font-weight: bold;" if path is not None else "")
        result = self.last_result
        if result is None:
            return
        info = result.info
        dropped = int(info.get("dropped", 0))
        status.set("fps", f"{float(info.get('fps', 0.0)):.1f} fps")
        stage_ms = " · ".join(f"{name} {self.rate.stage_ms.get(name, ms):.0f}" for name, ms in result.timings.items())
        status.set("timings", (f"{stage_ms} ms" if stage_ms else "") + (f", dropped {dropped}" if dropped else ""))
        persons = info.get("persons")
        in_view = f"{persons} in view, " if persons is not None else ""
        status.set("pose", f"pose: {in_view}{info.get('pose_backend', 'none')}")
        pasta_off = info.get("pasta_off")
        checkpoint = Path(str(self.config.a2v.checkpoint)).name  # which weights: a random-weight file says so
        language = info.get("a2v_language")  # which language matrix ran, and the vector's length
        status.set("pasta", f"PaSta off: {pasta_off} (steps: README, Weights)" if pasta_off else
                   f"PaSta: {checkpoint}" + (f"; language {language}" if language else ""),
                   "color: #b35c00;" if pasta_off else "")

    def _on_view_clicked(self, x: float, y: float) -> None:
        """Select the person under the click (the smallest box containing it)."""
        result = self.last_result
        if result is None:
            return
        hits = [p for p in result.persons if p.track_id >= 0
                and p.box[0] <= x <= p.box[2] and p.box[1] <= y <= p.box[3]]
        if hits:
            best = min(hits, key=lambda p: float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])))
            self.panel.select_track(best.track_id)

    # --------------------------------------------------------------------------------------- settings
    def apply_setting(self, key: str, value) -> None:
        """Overlay toggles at once; tracker knobs live when the tracker can take them; the rest on restart."""
        assignment = f"{key}={_yaml_value(value)}"
        pipe = self.pipeline
        try:
            if key.startswith("render."):
                apply_override(self.config, assignment)
                self._rerender_if_paused()
            elif key.startswith("tracker.") and pipe is not None and pipe.running and any(
                    getattr(s, "name", "") == "tracker" and hasattr(s, "reconfigure") for s in pipe.stages):
                pipe.apply(assignment)
            else:
                apply_override(_copy_config(self.config), assignment)  # validate now, apply at restart
                self.pending_restart[key] = value
        except ConfigError as exc:
            self.show_error(f"{exc}")
            return
        self.settings.set_pending(sorted(self.pending_restart))

    def _rerender_if_paused(self) -> None:
        pipe = self.pipeline
        if self.last_frame is None or self.last_result is None or (pipe is not None and pipe.running
                                                                   and not pipe.paused):
            return
        from engine.render.annotate import annotate

        self.view.show_frame(annotate(self.last_frame, self.last_result, self.config.render, self.vocab))

    # ---------------------------------------------------------------------------------------- outputs
    def start_recording(self, path: str | Path) -> bool:
        try:
            self.session.start_recording(path)
        except USER_ERRORS as exc:
            self.show_error(str(exc))
            return False
        self._update_transport()
        return True

    def stop_recording(self):
        finished = self.session.stop_recording()
        if finished is not None:
            path, frames, codec = finished
            self.status.show_message(f"Recording saved: {path} ({frames} frames, {codec})", 10000)
        self._update_transport()
        return finished

    def _on_record_clicked(self, checked: bool) -> None:
        if not checked:
            self.stop_recording()
            return
        stem = Path(str(self.session.spec or "a2v")).stem or "a2v"
        default = Path.cwd() / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
        path, _ = QFileDialog.getSaveFileName(self, "Record annotated video to", str(default), "MP4 video (*.mp4)")
        if not path or not self.start_recording(path if path.lower().endswith(".mp4") else path + ".mp4"):
            self.record_button.setChecked(False)

    def export_results(self, folder: str | Path) -> list[Path]:
        """Write the run so far (results.jsonl, vectors.npz, tracks.txt) into ``folder``; [] on error."""
        try:
            written = self.session.export_results(folder)
        except USER_ERRORS as exc:
            self.show_error(f"Export failed: {exc}")
            return []
        self.status.show_message(f"Exported {', '.join(p.name for p in written)} to {folder}", 10000)
        return written

    def export_timeline_csv(self, path: str | Path) -> Optional[Path]:
        try:
            return self.panel.export_timeline_csv(path)
        except (*USER_ERRORS, KeyError) as exc:
            self.show_error(f"Timeline export failed: {exc}")
            return None

    def export_timeline_png(self, path: str | Path) -> Optional[Path]:
        try:
            return self.panel.export_timeline_png(path)
        except USER_ERRORS as exc:
            self.show_error(f"Timeline export failed: {exc}")
            return None

    def save_screenshot(self, path: str | Path) -> bool:
        """The whole window as an image (format from the suffix, e.g. .png)."""
        self.panel.refresh(force=True)
        self._update_status()
        ok = self.grab().save(str(path))
        if not ok:
            self.show_error(f"{path}: cannot write the screenshot; choose a writable .png path")
        return ok

    def _ask_export_results(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export results into folder", str(Path.cwd()))
        if folder:
            self.export_results(folder)

    def _ask_timeline_csv(self) -> None:
        default = f"person{self.panel.selected_track}-timeline.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Timeline as CSV", default, "CSV (*.csv)")
        if path:
            self.export_timeline_csv(path)

    def _ask_timeline_png(self) -> None:
        default = f"person{self.panel.selected_track}-timeline.png"
        path, _ = QFileDialog.getSaveFileName(self, "Timeline as PNG", default, "PNG image (*.png)")
        if path:
            self.export_timeline_png(path)

    def _ask_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "a2v-screenshot.png", "PNG image (*.png)")
        if path:
            self.save_screenshot(path)

    # ------------------------------------------------------------------------------------------ close
    def shutdown(self, timeout: float = 2.0) -> bool:
        """Stop the pipeline and finalize outputs; True when every pipeline thread has ended.

        An open still loading models cannot be interrupted; its worker releases what it built when done.
        """
        self._closed = True
        self._timer.stop()
        return self.session.close(timeout)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if not self.shutdown():
            log.warning("pipeline threads were still running at exit; they are daemons and end with the app")
        event.accept()


def _yaml_value(value) -> str:
    """A value as ``--set`` text (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _copy_config(config: Config) -> Config:
    import copy

    return copy.deepcopy(config)

"""The side panel: tracked persons, and for the selected one PaSta timeline, actions now and A2V vector.

Fed by :meth:`PersonPanel.mark_dirty` after each batch of results and redrawn by :meth:`refresh`, which
the window calls at most ~10 times a second: plots are the expensive part of the GUI.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PyQt5.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.history import PersonHistory, TrackHistory
from app.projection import balanced_vector
from app.qtimage import bgr_to_pixmap, qcolor
from app.search_box import RESULTS_MIN_HEIGHT, SearchBox
from app.status_bar import ElidedLabel
from app.timeline import TimelinePanel
from app.vector_map import VectorMap, VectorPlot, place_labels
from engine.render.colors import track_color

ICON_SIZE = QSize(40, 56)
PERSON_LIST_MIN_HEIGHT = 110
TOP_ACTIONS = 5
MATCH_MARK = "★ "                          # list prefix of persons a search matches in the current frame
MATCH_BACKGROUND = QColor(255, 240, 160)


def person_icon(track: TrackHistory) -> QIcon:
    """The thumbnail framed in the track's colour (a plain colour swatch until a thumbnail exists)."""
    pixmap = QPixmap(ICON_SIZE)
    color = qcolor(track_color(track.track_id))
    pixmap.fill(color)
    if track.thumbnail is not None:
        thumb = bgr_to_pixmap(track.thumbnail).scaled(ICON_SIZE.width() - 6, ICON_SIZE.height() - 6,
                                                      Qt.KeepAspectRatio, Qt.SmoothTransformation)
        painter = QPainter(pixmap)
        painter.fillRect(3, 3, ICON_SIZE.width() - 6, ICON_SIZE.height() - 6, QColor(0, 0, 0))
        painter.drawPixmap((ICON_SIZE.width() - thumb.width()) // 2, (ICON_SIZE.height() - thumb.height()) // 2,
                           thumb)
        painter.end()
    return QIcon(pixmap)


class ActionBars(pg.PlotWidget):
    """Top-k action probabilities of the selected person now (horizontal bars, most likely on top)."""

    def __init__(self, vocab, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.vocab = vocab
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.setTitle("Actions now")
        self.hideAxis("left")
        self.invertY(True)
        self.setXRange(0, 1, padding=0.01)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush=pg.mkBrush(60, 110, 190))
        self.addItem(self.bars)
        self.labels: list[pg.TextItem] = []
        self.shown: list[tuple[str, float]] = []
        self.setMinimumHeight(125)  # 5 rows of labels that stay legible

    def set_actions(self, actions: Optional[np.ndarray], k: int = TOP_ACTIONS,
                    empty_title: str = "Actions now: no PaSta for this person") -> None:
        """``actions`` (157,) probabilities or None; shows the ``k`` most likely (no_interaction left out)."""
        self.shown = []
        if actions is not None:
            probs = np.asarray(actions, np.float32).copy()
            probs[self.vocab.action_no_interaction] = -1.0  # "no interaction" is not an action to list
            for index in np.argsort(-probs)[:k]:
                self.shown.append((self.vocab.actions[int(index)].replace("_", " "), float(probs[index])))
        ys = np.arange(len(self.shown), dtype=float)
        self.bars.setOpts(x0=np.zeros(len(ys)), y=ys, height=0.7, width=[p for _, p in self.shown])
        place_labels(self, self.labels, [(f"{name} {prob:.2f}", (255, 255, 255), 0.01, y)
                                          for y, (name, prob) in zip(ys, self.shown)], anchor=(0.0, 0.5))
        self.setYRange(-0.5, max(k, 1) - 0.5, padding=0)
        self.setTitle("Actions now" if actions is not None else empty_title)


class PersonPanel(QWidget):
    """See the module docstring. ``selection_changed(track_id)`` fires when the user picks a person;
    ``seek_requested(frame)`` when a search result is clicked (the person is selected first)."""

    selection_changed = pyqtSignal(int)
    seek_requested = pyqtSignal(int)

    def __init__(self, vocab, history: PersonHistory, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.vocab = vocab
        self.history = history
        self.selected_track: Optional[int] = None
        self.current_frame = -1
        self.refresh_count = 0
        self.pasta_off: Optional[str] = None  # the run's reason when PaSta is off (FrameResult.info)
        self._dirty = False

        self.search = SearchBox(history)
        self.search.result_clicked.connect(self._on_result_clicked)
        self.search.results_changed.connect(self._on_results_changed)
        self.person_list = QListWidget()
        self.person_list.setIconSize(ICON_SIZE)
        self.person_list.setMinimumHeight(PERSON_LIST_MIN_HEIGHT)
        self.person_list.currentItemChanged.connect(self._on_current_item)
        self.timeline = TimelinePanel(vocab)
        self.actions = ActionBars(vocab)
        self.vector_plot = VectorPlot()
        self.vector_map = VectorMap()
        self.vector_map.person_clicked.connect(self.select_track)
        self.details = ElidedLabel()  # one line; the whole text in its tooltip
        self.csv_button, self.png_button = self.timeline.csv_button, self.timeline.png_button
        for button in (self.csv_button, self.png_button):
            button.setEnabled(False)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.search.results, 1)
        top_layout.addWidget(QLabel("Tracked persons"))
        top_layout.addWidget(self.person_list, 2)
        timeline_box = QWidget()
        timeline_layout = QVBoxLayout(timeline_box)
        timeline_layout.setContentsMargins(0, 0, 0, 0)
        timeline_layout.addWidget(self.details)
        timeline_layout.addWidget(self.timeline, 1)
        splitter = QSplitter(Qt.Vertical)
        for widget, stretch in ((top, 2), (timeline_box, 4), (self.actions, 2), (self.vector_plot, 2),
                                (self.vector_map, 3)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.search)
        layout.addWidget(splitter, 1)

    # ----------------------------------------------------------------------------------------- feeding
    def mark_dirty(self, current_frame: int, new_results=()) -> None:
        """New results arrived (already in the history); the vector map's basis learns their vectors."""
        self.current_frame = current_frame
        for result in new_results:
            for person in result.persons:
                vector = balanced_vector(person.visual, person.language)
                if vector is not None and person.pasta_age == 0:
                    self.vector_map.add_vector(vector)
        self._dirty = True

    def refresh(self, force: bool = False) -> bool:
        """Redraw if anything changed since the last refresh; returns whether it redrew."""
        if not (self._dirty or force):
            return False
        self._dirty = False
        self.refresh_count += 1
        self._refresh_list()
        self._refresh_selected()
        vectors = {}
        for track_id in self.history.current_ids:
            latest = self.history.tracks[track_id].latest
            vector = balanced_vector(latest.visual, latest.language) if latest is not None else None
            if vector is not None:
                vectors[track_id] = vector
        self.vector_map.set_persons(vectors, self.selected_track)
        return True

    def _ordered_tracks(self) -> list[TrackHistory]:
        current = set(self.history.current_ids)
        tracks = list(self.history.tracks.values())
        here = sorted((t for t in tracks if t.track_id in current), key=lambda t: t.track_id)
        gone = sorted((t for t in tracks if t.track_id not in current), key=lambda t: -t.last_frame)
        return here + gone

    def _refresh_list(self) -> None:
        current = set(self.history.current_ids)
        matching = self.search.tracks_at(self.current_frame)
        wanted = self._ordered_tracks()
        self.person_list.blockSignals(True)
        try:
            existing = {self.person_list.item(i).data(Qt.UserRole): self.person_list.item(i)
                        for i in range(self.person_list.count())}
            if [t.track_id for t in wanted] != [self.person_list.item(i).data(Qt.UserRole)
                                                 for i in range(self.person_list.count())]:
                while self.person_list.count():
                    self.person_list.takeItem(0)
                existing = {}
                for track in wanted:
                    item = QListWidgetItem()
                    item.setData(Qt.UserRole, track.track_id)
                    self.person_list.addItem(item)
                    existing[track.track_id] = item
            for track in wanted:
                item = existing[track.track_id]
                state = "" if track.track_id in current else "  (not in view)"
                mark = MATCH_MARK if track.track_id in matching else ""
                item.setText(f"{mark}ID {track.track_id}   seen {track.seconds_seen:.1f} s, "
                             f"{track.frames_seen} frames{state}")
                if item.data(Qt.UserRole + 1) != track.thumbnail_time:  # re-make the icon only when it changed
                    item.setIcon(person_icon(track))
                    item.setData(Qt.UserRole + 1, track.thumbnail_time)
                item.setForeground(QBrush(QColor(0, 0, 0) if track.track_id in current else QColor(130, 130, 130)))
                item.setBackground(QBrush(MATCH_BACKGROUND) if mark else QBrush())
                if track.track_id == self.selected_track:
                    self.person_list.setCurrentItem(item)
        finally:
            self.person_list.blockSignals(False)

    def _refresh_selected(self) -> None:
        track = self.history.tracks.get(self.selected_track) if self.selected_track is not None else None
        for button in (self.csv_button, self.png_button):
            button.setEnabled(track is not None)
        if track is None:
            self.timeline.set_title("Timeline: select a person (list, map or click in the video)")
            self.timeline.set_data(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, len(self.vocab.pasta)), np.float32),
                                   np.zeros((0, len(self.vocab.actions)), np.float32))
            self.timeline.set_marks([])
            self.actions.set_actions(None, empty_title="Actions now")
            self.vector_plot.set_vector(None, None)
            self.details.set_full_text("")
            self.timeline.set_message("")
            return
        frames, times, pasta, actions = self.history.series(track.track_id)
        self.timeline.set_data(frames, times, pasta, actions)
        self.timeline.set_marks(self.search.marks_of(track.track_id))
        self.timeline.set_cursor(self.current_frame)
        if self.pasta_off and np.isnan(pasta).all():
            self.timeline.set_message("PaSta off: no part states to plot (why: see above)")
        else:
            self.timeline.set_message("")
        kept = track.frames
        self.timeline.set_title(f"Timeline of ID {track.track_id}, frames {min(kept)}–{max(kept)}: most likely "
                                f"state per part, top 3 actions (hover: frame, time, probability)")
        latest = track.latest
        self.actions.set_actions(latest.actions if latest is not None else None)
        self.vector_plot.set_vector(latest.visual if latest is not None else None,
                                    latest.language if latest is not None else None)
        self.details.set_full_text(self._details(track))

    def _details(self, track: TrackHistory) -> str:
        latest = track.latest
        if latest is None or latest.pasta is None:
            why = f"PaSta off: {self.pasta_off}" if self.pasta_off else "no PaSta computed for it yet"
            return f"ID {track.track_id}: {why}"
        states = []
        for g, band in enumerate(self.vocab.group_slices):
            probs = latest.pasta[band]
            best = int(np.argmax(probs))
            states.append(f"{self.vocab.groups[g]}: {self.vocab.pasta[band.start + best]} {probs[best]:.2f}")
        age = f" (from {latest.pasta_age} frames ago)" if latest.pasta_age else ""
        return f"ID {track.track_id} now{age}: " + " · ".join(states)

    # --------------------------------------------------------------------------------------- selection
    def _on_current_item(self, item: Optional[QListWidgetItem], _previous) -> None:
        if item is not None:
            self.select_track(int(item.data(Qt.UserRole)))

    def select_track(self, track_id: int) -> None:
        if track_id == self.selected_track:
            return
        self.selected_track = int(track_id)
        self.refresh(force=True)
        self.selection_changed.emit(self.selected_track)

    def clear(self) -> None:
        self.selected_track = None
        self.person_list.clear()
        self.search.clear()
        self.refresh(force=True)

    # ------------------------------------------------------------------------------------------ search
    def matching_tracks(self) -> set[int]:
        """Tracks a search result covers in the current frame (starred in the list, outlined in the view)."""
        return self.search.tracks_at(self.current_frame)

    def _on_results_changed(self) -> None:
        # The result list takes its rows from the person list's minimum: the panel (and a window at its
        # minimum size, e.g. the 1600x1000 screenshots) does not grow when results appear.
        shown = bool(self.search.segments)
        self.person_list.setMinimumHeight(PERSON_LIST_MIN_HEIGHT - (RESULTS_MIN_HEIGHT if shown else 0))
        self.refresh(force=True)

    def _on_result_clicked(self, track_id: int, start_frame: int) -> None:
        if track_id in self.history.tracks:
            self.select_track(track_id)
        self.seek_requested.emit(int(start_frame))

    # ----------------------------------------------------------------------------------------- exports
    def export_timeline_csv(self, path: str | Path) -> Path:
        if self.selected_track is None:
            raise ValueError("select a person first (list, map or click in the video)")
        return self.history.export_csv(self.selected_track, path, self.vocab)

    def export_timeline_png(self, path: str | Path) -> Path:
        """Save the timeline (title, part-state rows, action rows, hover line) as an image (format from the
        suffix)."""
        if self.selected_track is None:
            raise ValueError("select a person first (list, map or click in the video)")
        self.refresh(force=True)
        path = Path(path)
        if not self.timeline.grab().save(str(path)):
            raise OSError(f"{path}: cannot write the image; choose a writable .png path")
        return path

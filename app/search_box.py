"""The search box over the person panel: "who holds something with the hand?" asked of the live history.

A query runs :meth:`engine.search.Searcher.text` over a :class:`~engine.search.table.PersonFrames` snapshot
of the :class:`~app.history.PersonHistory` (one row per kept person-frame with PaSta; item = the source's
name). The snapshot's references are taken on the GUI thread (the history is only touched there); stacking
them into arrays, scoring, and loading the text encoder the first time (MiniLM: seconds) run on a worker
thread, and the result comes back
through a queued signal, so the GUI never waits. The encoder is loaded once and kept.

What the window does with a result: :meth:`SearchBox.tracks_at` (tracks with a segment covering a frame:
outlined in the video, starred in the person list), :meth:`SearchBox.marks_of` (a track's segments as
(start_frame, end_frame), drawn on its timeline), and ``result_clicked(track, start_frame)`` (select that
person, seek to the segment's start).
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from app.history import PersonHistory
from app.status_bar import ElidedLabel
from engine.search.segments import Segment
from engine.search.table import PersonFrames

TOP_SEGMENTS = 20
RESULTS_MIN_HEIGHT = 40   # two rows


def history_snapshot(history: PersonHistory) -> list[tuple[int, list]]:
    """``[(track_id, [FrameEntry, ...]), ...]``: references only (milliseconds for 64 × 900 frames), taken on
    the GUI thread, which alone changes the history; entries are replaced, never changed, so a worker can
    read them later."""
    return [(track.track_id, list(track.entries.values())) for track in history.tracks.values()]


def history_frames(history: PersonHistory, item: str) -> PersonFrames:
    """:func:`snapshot_frames` of the history now."""
    return snapshot_frames(history_snapshot(history), item)


def snapshot_frames(snapshot: list[tuple[int, list]], item: str) -> PersonFrames:
    """The snapshot's person-frames that have PaSta, as M rows (item = ``item`` for all).

    ``box`` is zeros (the history keeps one box per track, not per frame: the view draws the live box);
    ``actions`` is zeros where a frame had PaSta but no actions; visual/language have 0 columns (a text
    query needs only the probabilities).
    """
    frames, times, tracks, pasta, actions = [], [], [], [], []
    for track_id, entries in snapshot:
        for entry in entries:
            if entry.pasta is None:
                continue
            frames.append(entry.frame)
            times.append(entry.time)
            tracks.append(track_id)
            pasta.append(entry.pasta)
            actions.append(entry.actions if entry.actions is not None else np.zeros(157, np.float32))
    m = len(frames)
    if m == 0:
        return PersonFrames.empty()
    return PersonFrames(item=np.full(m, item, dtype=object), frame=np.asarray(frames, np.int64),
                        time=np.asarray(times, np.float64), track=np.asarray(tracks, np.int64),
                        box=np.zeros((m, 4), np.float32), pasta=np.nan_to_num(np.stack(pasta).astype(np.float32)),
                        actions=np.nan_to_num(np.stack(actions).astype(np.float32)),
                        visual=np.zeros((m, 0), np.float32), language=np.zeros((m, 0), np.float32))


def segment_text(segment: Segment) -> str:
    return f"ID {segment.track}  {segment.start_time:.1f}–{segment.end_time:.1f} s  {segment.peak_score:.2f}"


class SearchBox(QWidget):
    """Query line, Find button, one status line and :attr:`results`, the list of result segments (best first;
    the owner places it).

    ``result_clicked(track_id, start_frame)`` fires when a result is clicked; ``results_changed()`` when a
    search finished (or was cleared). ``segments`` holds the last result's segments.
    """

    result_clicked = pyqtSignal(int, int)
    results_changed = pyqtSignal()
    _finished = pyqtSignal(int, object, str)   # (token, SearchResult or None, error text), from the worker

    def __init__(self, history: PersonHistory, encoder: str = "minilm", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.history = history
        self.encoder_name = encoder
        self.item_name = "live"
        self.segments: list[Segment] = []
        self.searching = False
        self._token = 0
        self._encoder = None
        self._encoder_lock = threading.Lock()   # two quick queries must not load the encoder twice
        self._finished.connect(self._on_finished, Qt.QueuedConnection)

        self.query = QLineEdit()
        self.query.setPlaceholderText('find people by what they do, e.g. "hand holds something"')
        self.query.setClearButtonEnabled(True)
        self.query.returnPressed.connect(self.find)
        self.find_button = QPushButton("Find")
        self.find_button.clicked.connect(self.find)
        self.status = ElidedLabel()
        self.status.hide()
        # The result list is laid out by the panel (beside the person list, in its splitter section, so the
        # panel's minimum height hardly grows); hidden while there are no results.
        self.results = QListWidget()
        self.results.setMinimumHeight(RESULTS_MIN_HEIGHT)
        self.results.hide()
        self.results.itemClicked.connect(self._on_item_clicked)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.query, 1)
        row.addWidget(self.find_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.status)

    def _say(self, text: str) -> None:
        """The one status line; hidden while empty, so an unused box takes one row."""
        self.status.set_full_text(text)
        self.status.setVisible(bool(text))

    # ------------------------------------------------------------------------------------------ search
    def find(self) -> None:
        """Search the history as it is now for the query's text (on a worker thread)."""
        query = " ".join(self.query.text().split())
        if not query:
            self._say('type what people do, e.g. "hand holds something", then Find')
            return
        snapshot = history_snapshot(self.history)
        count = sum(1 for _, entries in snapshot for e in entries if e.pasta is not None)
        if not count:
            self._say("nothing to search yet: no person with PaSta in the history")
            return
        self._token += 1
        self.searching = True
        loading = "" if self._encoder is not None else f" (loading the {self.encoder_name} text encoder)"
        self._say(f"searching {count} person-frames for {query!r}{loading}…")
        threading.Thread(target=self._work, args=(self._token, snapshot, self.item_name, query),
                         name="a2v-search", daemon=True).start()

    def _work(self, token: int, snapshot: list, item: str, query: str) -> None:
        from engine.search.searcher import Searcher
        from engine.search.text import TextEncoder

        try:
            table = snapshot_frames(snapshot, item)   # stacking 50k rows takes ~0.2 s: not on the GUI thread
            with self._encoder_lock:
                if self._encoder is None:
                    self._encoder = TextEncoder(self.encoder_name)
            searcher = Searcher(table, encoder=self.encoder_name)
            searcher._encoder = self._encoder   # share the loaded encoder (and its concept vectors)
            result, error = searcher.text(query, top=TOP_SEGMENTS), ""
        except Exception as exc:  # noqa: BLE001 - any failure becomes the status line, never a dead thread
            result, error = None, f"search failed: {exc}"
        try:
            self._finished.emit(token, result, error)
        except RuntimeError:
            pass   # the window closed while the query ran: nobody to tell

    def _on_finished(self, token: int, result, error: str) -> None:
        if token != self._token:
            return   # a newer query was asked meanwhile
        self.searching = False
        if result is None:
            self._say(error)
            return
        self.segments = list(result.segments)
        meaning = ", ".join(f"{label} ({weight:.2f})" for label, weight in result.meaning)
        found = f"{len(self.segments)} segment{'s' * (len(self.segments) != 1)}" if self.segments else "no match"
        self._say(f"read as: {meaning} — {found}")
        self.results.clear()
        for segment in self.segments:
            item = QListWidgetItem(segment_text(segment))
            item.setData(Qt.UserRole, (segment.track, segment.start_frame))
            item.setToolTip(f"peak {segment.peak_score:.2f} at frame {segment.peak_frame}; click to go there")
            self.results.addItem(item)
        self.results.setVisible(bool(self.segments))
        self.results_changed.emit()

    def clear(self) -> None:
        """Forget the results (a new source: its frames are not the old ones)."""
        self._token += 1
        self.searching = False
        self.segments = []
        self.results.clear()
        self.results.hide()
        self._say("")
        self.results_changed.emit()

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        track, start = item.data(Qt.UserRole)
        self.result_clicked.emit(int(track), int(start))

    # ------------------------------------------------------------------------------------ what to show
    def tracks_at(self, frame: int) -> set[int]:
        """Tracks with a result segment covering ``frame``."""
        return {s.track for s in self.segments if s.start_frame <= frame <= s.end_frame}

    def marks_of(self, track_id: Optional[int]) -> list[tuple[int, int]]:
        """``track_id``'s result segments as (start_frame, end_frame), inclusive, in frame order."""
        return sorted((s.start_frame, s.end_frame) for s in self.segments if s.track == track_id)

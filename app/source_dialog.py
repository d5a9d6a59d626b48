"""Choosing a source: webcam (the indices that open), video file, stream URL or image folder."""
from __future__ import annotations

import threading
from typing import Callable, Optional

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.cvcompat import cv2  # before Qt: keeps PyQt5's plugin path intact

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.m4v *.webm);;All files (*)"
PROBE_INDICES = range(5)


def probe_cameras(indices=PROBE_INDICES) -> list[int]:
    """Webcam indices that open and deliver a frame (each tried once, OpenCV's own warnings silenced)."""
    found = []
    level = cv2.getLogLevel() if hasattr(cv2, "getLogLevel") else None
    if level is not None:
        cv2.setLogLevel(0)
    try:
        for index in indices:
            capture = cv2.VideoCapture(index)
            try:
                if capture.isOpened() and capture.read()[0]:
                    found.append(index)
            finally:
                capture.release()
    finally:
        if level is not None:
            cv2.setLogLevel(level)
    return found


class SourceDialog(QDialog):
    """Returns the chosen source spec in :attr:`spec` (a string ``open_source`` understands)."""

    cameras_found = pyqtSignal(list)

    def __init__(self, parent: Optional[QWidget] = None, initial: str = "",
                 prober: Callable[[], list[int]] = probe_cameras) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open source")
        self.spec: Optional[str] = None
        self.prober = prober
        self.tabs = QTabWidget()

        self.camera_combo = QComboBox()
        self.camera_status = QLabel("Looking for cameras…")
        self.probe_button = QPushButton("Look again")
        self.probe_button.clicked.connect(self.probe)
        camera_tab = QWidget()
        camera_form = QFormLayout(camera_tab)
        camera_form.addRow("Camera", self.camera_combo)
        camera_form.addRow(self.camera_status, self.probe_button)

        self.file_edit = QLineEdit(initial if initial and not initial.isdigit() else "")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("rtsp://host:554/stream or http://host/video.mjpg")
        self.folder_edit = QLineEdit()
        self.tabs.addTab(camera_tab, "Webcam")
        self.tabs.addTab(self._path_tab(self.file_edit, self._browse_file), "Video file")
        url_tab = QWidget()
        QFormLayout(url_tab).addRow("URL", self.url_edit)
        self.tabs.addTab(url_tab, "Stream URL")
        self.tabs.addTab(self._path_tab(self.folder_edit, self._browse_folder), "Image folder")
        self.tabs.setCurrentIndex(1)

        buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)
        self.cameras_found.connect(self._show_cameras)
        self._probe_thread: Optional[threading.Thread] = None
        self.probe()

    @staticmethod
    def _path_tab(edit: QLineEdit, browse) -> QWidget:
        tab = QWidget()
        row = QHBoxLayout(tab)
        row.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(button)
        return tab

    def probe(self) -> None:
        """Look for cameras on a worker thread so the dialog stays responsive (a missing camera can take
        a moment to time out)."""
        if self._probe_thread is not None and self._probe_thread.is_alive():
            return
        self.camera_status.setText("Looking for cameras…")
        self.probe_button.setEnabled(False)
        self._probe_thread = threading.Thread(target=self._probe_worker, name="a2v-camera-probe", daemon=True)
        self._probe_thread.start()

    def _probe_worker(self) -> None:
        found = list(self.prober())
        try:
            self.cameras_found.emit(found)
        except RuntimeError:  # the dialog was closed (and deleted) before probing finished
            pass

    def wait_for_probe(self, timeout: float = 10.0) -> None:
        if self._probe_thread is not None:
            self._probe_thread.join(timeout)

    def _show_cameras(self, indices: list) -> None:
        self.camera_combo.clear()
        for index in indices:
            self.camera_combo.addItem(f"Camera {index}", index)
        self.camera_status.setText(f"{len(indices)} camera(s) found" if indices else
                                   "No camera opened (indices 0–4); connect one or close the program using it")
        self.probe_button.setEnabled(True)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self.file_edit.text(), VIDEO_FILTER)
        if path:
            self.file_edit.setText(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)

    def chosen(self) -> Optional[str]:
        """The spec for the current tab, or None when it is empty."""
        tab = self.tabs.currentIndex()
        if tab == 0:
            index = self.camera_combo.currentData()
            return None if index is None else str(index)
        edit = (None, self.file_edit, self.url_edit, self.folder_edit)[tab]
        return edit.text().strip() or None

    def _accept(self) -> None:
        self.spec = self.chosen()
        if self.spec is not None:
            self.accept()

"""One GUI run: a source through a :class:`~engine.pipeline.Pipeline`, its results and recording (Qt-free).

Outputs while watching:

- **Results** are always written, from the first frame, into a temporary run folder by a
  :class:`ResultsRecorder` (JSONL, NPZ and MOT through ``engine.io.sinks``). "Export results…" closes the
  current segment (the next frame opens a new one, so the run goes on) and writes the whole run so far —
  every segment, concatenated — into the folder the user picks as ``results.jsonl``, ``vectors.npz`` and
  ``tracks.txt``. Frames are in processing order (after a seek back, frames repeat). The temporary folder
  is deleted when the window closes.
- **Recording** the annotated view goes through a :class:`RecordingSink` (H.264 mp4 via
  ``engine.io.sinks.VideoSink``) that is attached for the whole run and switched on and off.

Both wrappers stay attached to the pipeline from start to end and switch their inner sinks under a lock,
so a frame is never written to a closed sink and none is lost or duplicated when a segment or recording
starts or stops mid-run.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from app.stable_ids import IdMemory, StableIdTracker
from engine.config import Config
from engine.io.sinks import SinkBase
from engine.types import FrameResult

log = logging.getLogger(__name__)

RESULT_FILES = ("results.jsonl", "vectors.npz", "tracks.txt")


class ResultsRecorder(SinkBase):
    """A sink that writes every frame to JSONL/NPZ/MOT segment files in ``folder`` (see module docstring)."""

    name = "run results"

    def __init__(self, folder: Path, vocab) -> None:
        self.folder = Path(folder)
        self.vocab = vocab
        self.segments: list[dict[str, Path]] = []
        self._sinks: list = []
        self._lock = threading.Lock()

    def _open_segment(self) -> None:
        from engine.io.sinks import JsonlSink, MotSink, VectorSink

        number = len(self.segments)
        paths = {name: self.folder / f"segment{number:03d}.{name}" for name in RESULT_FILES}
        self.segments.append(paths)
        self._sinks = [JsonlSink(paths["results.jsonl"], self.vocab),
                       VectorSink(paths["vectors.npz"], self.vocab),
                       MotSink(paths["tracks.txt"])]

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        with self._lock:
            if not self._sinks:
                self._open_segment()
            for sink in self._sinks:
                sink.write(annotated, result)

    def close(self) -> None:
        """Finish the current segment (idempotent); the next ``write`` starts a new one."""
        with self._lock:
            sinks, self._sinks = self._sinks, []
        from engine.io.sinks import close_all

        errors = close_all(sinks)
        if errors:
            raise errors[0]

    def export(self, destination: Path) -> list[Path]:
        """Write the run so far to ``destination`` (a folder): results.jsonl, vectors.npz, tracks.txt."""
        self.close()
        destination = Path(destination)
        destination.mkdir(parents=True, exist_ok=True)
        segments = list(self.segments)
        written = []
        for name in ("results.jsonl", "tracks.txt"):
            target = destination / name
            with open(target, "wb") as out:
                for segment in segments:
                    if segment[name].exists():
                        with open(segment[name], "rb") as part:
                            shutil.copyfileobj(part, out)
            written.append(target)
        target = destination / "vectors.npz"
        _concatenate_npz([s["vectors.npz"] for s in segments if s["vectors.npz"].exists()], target)
        written.append(target)
        return written


def _concatenate_npz(parts: list[Path], target: Path) -> None:
    """Row-concatenate VectorSink NPZ files; name arrays (``*_names``) are taken from the first file.

    A 2-D array whose width differs between parts (e.g. the language matrix changed after a restart) is
    padded with NaN to the widest.
    """
    loaded = []
    for part in parts:
        with np.load(part, allow_pickle=False) as data:
            loaded.append({key: data[key] for key in data.files})
    if not loaded:
        np.savez(target, frame=np.zeros(0, np.int64), track_id=np.zeros(0, np.int64))
        return
    merged = {}
    for key in loaded[0]:
        arrays = [d[key] for d in loaded if key in d]
        if key.endswith("_names"):
            merged[key] = arrays[0]
            continue
        if arrays[0].ndim == 2:
            width = max(a.shape[1] for a in arrays)
            arrays = [a if a.shape[1] == width else
                      np.concatenate([a, np.full((len(a), width - a.shape[1]), np.nan, a.dtype)], axis=1)
                      for a in arrays]
        merged[key] = np.concatenate(arrays, axis=0)
    np.savez(target, **merged)


class RecordingSink(SinkBase):
    """A sink that records annotated frames to an mp4 while switched on (:meth:`start` / :meth:`stop`).

    The pipeline's ``close()`` at the end of a run stops (and finalizes) the recording.
    """

    name = "recording"

    def __init__(self) -> None:
        self._video = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._video is not None

    @property
    def path(self) -> Optional[Path]:
        video = self._video
        return None if video is None else video.path

    def start(self, path: str | Path, fps: float, live: bool) -> None:
        """Record from the next frame into ``path`` (.mp4); raises SinkError when it cannot be written."""
        from engine.io.sinks import SinkError, VideoSink, check_writable

        path = Path(path)
        if path.suffix.lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
            raise SinkError(f"{path}: a recording must be a video file name ending in .mp4")
        check_writable(path, "recording")
        with self._lock:
            if self._video is not None:
                raise RuntimeError("already recording; stop the current recording first")
            self._video = VideoSink(path, fps, use_timestamps=live)

    def stop(self) -> Optional[tuple[Path, int, Optional[str]]]:
        """Finalize the mp4; returns (path, frames written, codec) or None when not recording."""
        with self._lock:
            video, self._video = self._video, None
        if video is None:
            return None
        video.close()
        return video.path, video.frames_written, video.codec

    def write(self, annotated: Optional[np.ndarray], result: FrameResult) -> None:
        with self._lock:
            if self._video is not None and annotated is not None:
                self._video.write(annotated, result)

    def close(self) -> None:
        finished = self.stop()
        if finished is not None:
            log.info("recording saved: %s (%d frames, %s)", *finished)


class Prepared:
    """An opened source and its built stages, not started yet (see :meth:`RunSession.prepare`)."""

    def __init__(self, spec: str, source, stages: list) -> None:
        self.spec, self.source, self.stages = spec, source, stages

    def close(self) -> None:
        """Release them unused (an open that was superseded or cancelled)."""
        for stage in self.stages:
            try:
                stage.close()
            except Exception:  # noqa: BLE001
                log.exception("closing stage %s failed", getattr(stage, "name", stage))
        self.source.close()


class RunSession:
    """The source, stages and pipeline currently shown, plus the outputs above.

    ``stages_factory(config) -> list of stages`` defaults to ``engine.stages.build_stages``; tests give
    small fakes. ``on_frame(frame, annotated, result)`` and ``on_error(exc)`` are called on the pipeline's
    output thread.
    """

    def __init__(self, config: Config, stages_factory: Optional[Callable] = None, vocab=None,
                 run_root: Optional[Path] = None) -> None:
        from engine.vocab import load_vocab

        self.config = config
        self.stages_factory = stages_factory
        self.vocab = vocab or load_vocab()
        self.run_root = run_root
        self.spec: Optional[str] = None
        self.source = None
        self.pipeline = None
        self.results: Optional[ResultsRecorder] = None
        self.recording = RecordingSink()
        self.stage_descriptions: list[str] = []
        self._run_dir: Optional[Path] = None
        self.id_memory = IdMemory()  # IDs shown per frame of this source: kept across seeks and restarts

    # ---------------------------------------------------------------------------------------- lifecycle
    def prepare(self, spec: str, progress: Optional[Callable[[str], None]] = None) -> "Prepared":
        """Open ``spec`` and build the stages: the slow part (model loading), safe on a worker thread.

        ``progress(text)`` is told what is being opened or loaded ("the pose model (...)"), when the
        stages factory supports it (``engine.stages.build_stages`` does). Raises ``SourceError`` (or
        whatever building the stages raises, e.g. a missing weights file) with nothing left open. The
        result is started with :meth:`launch` (or released with ``close()``).
        """
        from engine.io.sources import open_source
        from engine.stages import build_stages

        if progress is not None:
            progress(f"opening {spec}")
        source = open_source(spec, self.config.source)
        factory = self.stages_factory or build_stages
        try:
            if progress is not None and factory is build_stages:
                stages = factory(self.config, progress=progress)
            else:
                stages = factory(self.config)
        except BaseException:
            source.close()
            raise
        if getattr(source, "independent", False):  # a folder of unrelated photos: as `run` treats them
            from engine.stages import set_still_images

            set_still_images(stages, True)
        return Prepared(spec, source, stages)

    def launch(self, prepared: "Prepared", on_frame, on_error=None, start_frame: int = 0, paused: bool = False,
               max_frames: Optional[int] = None) -> None:
        """Stop any current run and start a pipeline on ``prepared`` (fast; call on the GUI thread)."""
        from engine.pipeline import Pipeline

        self.stop()
        if prepared.spec != self.spec or self.results is None:
            self._new_run_folder()
        if prepared.spec != self.spec:
            self.id_memory = IdMemory()
        self.spec = prepared.spec
        source = prepared.source
        # The tracker's IDs are mapped back to the ones shown before on seeks and replays (app.stable_ids).
        stages = [StableIdTracker(s, self.id_memory)
                  if getattr(s, "name", "") == "tracker" and not isinstance(s, StableIdTracker) else s
                  for s in prepared.stages]
        prepared.stages = stages
        self.stage_descriptions = [f"{getattr(s, 'name', '?')}: {s.describe()}" for s in stages]
        for line in self.stage_descriptions:
            log.info("%s", line)
        if start_frame and getattr(source, "can_seek", False):
            source.seek(start_frame)
        self.source = source
        from engine.stages import default_renderer

        still = bool(getattr(source, "independent", False))
        self.pipeline = Pipeline(source, stages, sinks=[self.results, self.recording], config=self.config,
                                 render=default_renderer(self.config, still=True) if still else "default",
                                 realtime=True, on_frame=on_frame, on_error=on_error, max_frames=max_frames,
                                 hold_at_end=max_frames is None,  # seek back after the end without reloading
                                 player=True)  # real time at 1×: slow stages skip frames (not at "max")
        if paused:
            self.pipeline.pause()
            self.pipeline.step()  # show the first frame
        self.pipeline.start()

    def open(self, spec: str, on_frame, on_error=None, start_frame: int = 0, paused: bool = False,
             max_frames: Optional[int] = None) -> None:
        """:meth:`prepare` then :meth:`launch`, on the calling thread."""
        self.stop()
        self.launch(self.prepare(spec), on_frame, on_error, start_frame, paused, max_frames)

    def _new_run_folder(self) -> None:
        self._remove_run_folder()
        root = self.run_root
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self._run_dir = Path(tempfile.mkdtemp(prefix="a2v-gui-run-", dir=root))
        self.results = ResultsRecorder(self._run_dir, self.vocab)

    def _remove_run_folder(self) -> None:
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    @property
    def running(self) -> bool:
        return self.pipeline is not None and self.pipeline.running

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the pipeline (outputs are finalized by it); True when its threads have ended."""
        pipe = self.pipeline
        if pipe is None:
            return True
        pipe.stop()
        ended = pipe.join(timeout)
        if not ended:
            log.warning("the pipeline did not stop within %.1f s", timeout)
        return ended

    def close(self, timeout: float = 2.0) -> bool:
        """Stop, finish the recording, delete the temporary run folder."""
        ended = self.stop(timeout)
        self.recording.close()
        if self.results is not None:
            try:
                self.results.close()
            except Exception as exc:  # noqa: BLE001 - closing must go on
                log.error("closing the run's results failed: %s", exc)
        self._remove_run_folder()
        return ended

    # ------------------------------------------------------------------------------------------ outputs
    def export_results(self, destination: str | Path) -> list[Path]:
        if self.results is None:
            raise RuntimeError("nothing to export yet; open a source first")
        return self.results.export(Path(destination))

    def start_recording(self, path: str | Path) -> None:
        source = self.source
        fps = getattr(source, "fps", 25.0) or 25.0
        self.recording.start(path, fps, live=bool(getattr(source, "is_live", False)))

    def stop_recording(self):
        return self.recording.stop()

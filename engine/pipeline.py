"""Threads and bounded queues joining source → stages → render → sinks (docs/architecture.md).

::

    source ──q0──▶ pose ──q1──▶ tracker ──q2──▶ a2v ──q3──▶ output ──▶ sinks, on_frame
    (read, pace,   (one thread per stage, each timed           (render, write every sink,
     pause/seek)    into the frame's result)                    call the GUI callback)

- One thread per stage, not one for all of them: stages overlap, so the pipeline runs at the rate of its
  slowest stage rather than the sum of all (on two cores, mediapipe and the A2V network run at the same
  time). Queues are FIFO, so every stage still sees frames in order (the tracker needs that).

- Queues are bounded (``config.pipeline.queue_size``), so a slow stage slows the reader instead of
  filling memory. File sources never drop. Live sources drop: the source keeps the newest frame, and every
  queue holds one frame that a newer one replaces (latest wins), so latency stays near one period per stage.
- Stop is a token (``_END``) sent down the queues: on ``stop()``, Ctrl-C, source end or an error every
  thread ends and the output thread closes every sink, so outputs are finalized on every stop path.
- An exception in a stage or sink stops the run; ``error`` holds a :class:`PipelineError` naming the stage
  and the frame index, and ``run()`` raises it in the caller's thread.
"""
from __future__ import annotations

import logging
import math
import queue
import signal
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterable, Optional

import numpy as np

from engine.config import Config, apply_override
from engine.stages import default_renderer
from engine.stages.base import BatchStage, Reconfigurable, Stage
from engine.types import FrameResult

if TYPE_CHECKING:  # the protocols only; importing the source and sink modules pulls in OpenCV and PyAV
    from engine.io.sinks import Sink
    from engine.io.sources.base import SourceLike

log = logging.getLogger(__name__)

_END = object()
_POLL_S = 0.05
_DUE = "player_due"  # FrameResult.info key: wall-clock time (perf_counter) a player frame is due

FrameCallback = Callable[[np.ndarray, Optional[np.ndarray], FrameResult], None]


def _release_memory() -> None:
    """After a run: hand the heap pages freed by the closed models back to the OS.

    glibc keeps freed memory in per-thread arenas; a player that builds a new pipeline (new threads, new
    arenas) per opened file otherwise grows by a model's worth of heap per open/close (issue 19, item 11).
    """
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        if name:
            libc = ctypes.CDLL(name)
            if hasattr(libc, "malloc_trim"):
                libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
    import sys

    torch = sys.modules.get("torch")  # only when a stage already imported it
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


class PipelineError(RuntimeError):
    """A stage or sink failed: ``stage`` and ``frame`` say where; ``__cause__`` holds the original error."""

    def __init__(self, stage: str, frame: int, cause: BaseException) -> None:
        self.stage, self.frame = stage, frame
        super().__init__(f"stage '{stage}' failed at frame {frame}: {type(cause).__name__}: {cause}")


class _RateMeter:
    """Frames per second over a sliding window of recent frames."""

    def __init__(self, window: int = 30) -> None:
        self.times: list[float] = []
        self.window = window

    def tick(self) -> float:
        now = time.perf_counter()
        self.times.append(now)
        if len(self.times) > self.window:
            self.times.pop(0)
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-9)


class Pipeline:
    """Run ``stages`` over ``source`` on three threads and feed ``sinks`` and ``on_frame``.

    Args:
        source: a :class:`~engine.io.sources.base.SourceLike` (``read() -> Frame | None`` with ``index``,
            ``timestamp``, ``image`` (H, W, 3) BGR uint8; ``is_live``; ``dropped``; ``can_seek``/``seek``;
            ``end_reason``; ``name``).
        stages: :class:`~engine.stages.base.Stage` callables ``stage(frame, result)`` run in order on their
            threads; a :class:`~engine.stages.base.BatchStage` gets up to its own ``batch_size`` frames.
        sinks: :class:`~engine.io.sinks.Sink` objects: ``name``, ``write(annotated, result)``, ``close()``.
        render: ``render(frame, result) -> annotated``; ``"default"`` uses ``engine.render.annotate.annotate`` with
            ``config.render``; ``None`` draws nothing (``annotated`` is then None).
        realtime: pace file sources at their frame rate × ``speed`` (GUI playback); False = as fast as
            possible (headless runs).
        on_frame: ``on_frame(frame, annotated, result)``, called on the output thread for every frame.
        on_error: ``on_error(PipelineError)``, called once on the output thread when the run fails.
        max_frames: stop after this many frames (None = until the source ends).
        hold_at_end: at the end of a seekable source, wait (``at_end`` is True) for a ``seek`` or ``stop``
            instead of ending, so a player can seek back without rebuilding its models.
        player: with ``realtime``, keep real time on file sources as a player must (see
            :class:`_PlayerSkips`): stages with a ``carry(frame, result)`` method skip frames they cannot
            process in time (the frame gets the last results carried instead, and its
            ``info["carried"]`` lists those stages), and frames leave at a steady pace. Never set by
            ``run``: a headless run processes every frame.
    """

    def __init__(self, source: SourceLike, stages: Iterable[Stage], sinks: Iterable[Sink] = (),
                 config: Optional[Config] = None,
                 render="default", realtime: bool = False, on_frame: Optional[FrameCallback] = None,
                 on_error: Optional[Callable[[PipelineError], None]] = None,
                 max_frames: Optional[int] = None, hold_at_end: bool = False, player: bool = False) -> None:
        self.source = source
        self.stages = list(stages)
        self.config = config or Config()
        self._sinks = list(sinks)
        self._sinks_lock = threading.Lock()
        self._render = default_renderer(self.config) if render == "default" else render
        self.realtime = realtime
        self.speed = 1.0
        self.on_frame = on_frame
        self.on_error = on_error
        self.max_frames = max_frames
        self.hold_at_end = hold_at_end
        self.player = player
        self._skips = _PlayerSkips()
        self._at_end = threading.Event()

        size = max(1, self.config.pipeline.queue_size)
        self._live = bool(source.is_live)
        if self._live:
            # Live: every queue holds one frame and the newest replaces a waiting one (latest wins), so a
            # slow stage never works on a frame older than one period of the stage in front of it.
            size = 1
        # _queues[i] feeds stage i; the last one feeds the output thread.
        self._queues: list[queue.Queue] = [queue.Queue(maxsize=size) for _ in range(len(self.stages) + 1)]
        self._frames = self._queues[0]
        self._stop = threading.Event()
        self._abort = threading.Event()  # downstream is gone: upstream must not wait on full queues
        self._playing = threading.Event()
        self._playing.set()
        self._steps = 0
        self._seek_to: Optional[int] = None
        self._control = threading.Lock()
        self._threads: list[threading.Thread] = []
        # Set by each thread as its very last step. Thread.is_alive() cannot be trusted here: on Python 3.11
        # a join() interrupted by Ctrl-C can mark a thread finished while it still runs (closing files).
        self._done: list[threading.Event] = []
        self.outputs_finished = threading.Event()  # the output thread has closed (finalized) every sink
        self.interrupted_by: Optional[int] = None  # the signal (SIGINT, SIGTERM) that stopped run()
        self.error: Optional[PipelineError] = None
        self.stop_reason: str = ""
        self.frames_read = 0
        self.frames_done = 0
        self.live_dropped = 0  # frames replaced in the inference queue (live sources)
        self._fps = 0.0
        self._meter = _RateMeter()
        self._started = False

    # ------------------------------------------------------------------------------------------ control
    def start(self) -> "Pipeline":
        if self._started:
            raise RuntimeError("a Pipeline can be started once")
        self._started = True
        workers = [("a2v-source", self._source_loop, ())]
        workers += [(f"a2v-{stage.name}", self._stage_loop, (i,)) for i, stage in enumerate(self.stages)]
        workers.append(("a2v-output", self._output_loop, ()))
        for name, target, extra in workers:
            done = threading.Event()
            thread = threading.Thread(target=self._guarded, args=(target, done, *extra), name=name, daemon=True)
            self._threads.append(thread)
            self._done.append(done)
            thread.start()
        return self

    def _guarded(self, target, done: threading.Event, *args) -> None:
        try:
            target(*args)
        finally:
            with self._control:
                last = all(d.is_set() or d is done for d in self._done)
            if last:  # every stage is closed: give its model memory back now, not at exit (off the clock)
                threading.Thread(target=_release_memory, name="memory-release", daemon=True).start()
            done.set()

    def stop(self, reason: str = "stopped") -> None:
        """Ask every thread to finish; returns at once. Outputs are finalized by the output thread."""
        if not self.stop_reason:
            self.stop_reason = reason
        self._stop.set()
        self._playing.set()
        if self.source.is_live:
            # A stalled stream can block read() for seconds; a live source's close() wakes it.
            try:
                self.source.close()
            except Exception:  # noqa: BLE001
                log.exception("closing the live source failed")

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for all threads; True when they have all ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for done in self._done:
            while not done.is_set():
                remaining = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
                if remaining <= 0:
                    return not self.running
                done.wait(remaining)  # short waits: Ctrl-C and SIGTERM handlers get to run
        for thread in self._threads:
            thread.join(1.0)  # each has set its event as its last step: this only waits for the thread's exit
        return not self.running

    @property
    def running(self) -> bool:
        return any(not done.is_set() for done in self._done)

    def pause(self) -> None:
        self._playing.clear()

    def resume(self) -> None:
        self._playing.set()

    @property
    def at_end(self) -> bool:
        """True while a ``hold_at_end`` pipeline waits at the end of its source for a seek, once every
        frame read has also come out of the output thread (so the last frame has been shown)."""
        return self._at_end.is_set() and self.frames_done >= self.frames_read

    @property
    def paused(self) -> bool:
        return not self._playing.is_set()

    def step(self) -> None:
        """While paused, let exactly one more frame through."""
        with self._control:
            self._steps += 1

    def seek(self, index: int) -> None:
        """Jump to frame ``index`` (file and image sources); the next frame read is that one."""
        if not self.source.can_seek:
            raise ValueError(f"{self.source.name}: this source cannot seek")
        with self._control:
            self._seek_to = max(0, int(index))

    def add_sink(self, sink: Sink) -> None:
        with self._sinks_lock:
            self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        """Detach ``sink`` and close it (finalizes a recording started mid-run).

        Waits for a write in progress to finish, so the sink is never closed under the output thread.
        """
        with self._sinks_lock:
            if sink in self._sinks:
                self._sinks.remove(sink)
        sink.close()

    def apply(self, assignment: str) -> None:
        """Change a config value live (``"tracker.max_age=40"``); stages with ``reconfigure`` are told."""
        apply_override(self.config, assignment)
        for stage in self.stages:
            if isinstance(stage, Reconfigurable):
                stage.reconfigure(self.config)

    @property
    def dropped(self) -> int:
        """Frames a live source dropped: overwritten in the reader, or replaced before inference."""
        return int(self.source.dropped or 0) + self.live_dropped

    @property
    def stats(self) -> dict:
        return {"frames": self.frames_done, "read": self.frames_read, "fps": self._fps,
                "dropped": self.dropped}

    def run(self, progress: Optional[Callable[[int], None]] = None) -> dict:
        """Start, wait until the end, raise the run's error if any; returns stats.

        Ctrl-C and SIGTERM (on the main thread) stop the run like ``stop()`` and ``run()`` waits until every
        output is finalized, then raises KeyboardInterrupt (``interrupted_by`` holds the signal). While
        finalizing, the next press only warns ("finishing outputs, Ctrl-C again to abort without them"); the
        one after that gives up on the outputs (``outputs_finished`` stays clear) and raises at once.
        The handlers only count presses, so no KeyboardInterrupt lands in the middle of a close or a print.
        """
        presses: list[int] = []
        restore = self._trap_signals(presses)
        try:
            self.start()
            last, stopping, warned = 0, False, False
            while self.running:
                try:
                    self._done[-1].wait(_POLL_S)
                except KeyboardInterrupt:  # no handler of ours (not the main thread)
                    presses.append(signal.SIGINT)
                if presses and not stopping:
                    stopping = True
                    self.interrupted_by = presses[0]
                    self.stop("interrupted")  # closing a live source can take a moment
                if len(presses) >= 3:
                    log.warning("aborted: outputs were not finalized")
                    break
                if len(presses) == 2 and not warned:
                    warned = True
                    log.warning("finishing outputs, Ctrl-C again to abort without them")
                if progress is not None and self.frames_done != last:
                    last = self.frames_done
                    progress(last)
        finally:
            restore()
        if presses:
            raise KeyboardInterrupt
        if progress is not None:
            progress(self.frames_done)
        if self.error is not None:
            raise self.error
        return self.stats

    @staticmethod
    def _trap_signals(presses: list) -> Callable[[], None]:
        """On the main thread, count SIGINT/SIGTERM into ``presses`` until the returned ``restore()``."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                try:
                    previous[number] = signal.signal(number, lambda signum, frame: presses.append(signum))
                except (ValueError, OSError):
                    pass

        def restore() -> None:
            for number, handler in previous.items():
                signal.signal(number, handler)

        return restore

    # ----------------------------------------------------------------------------------------- threads
    def _put(self, q: queue.Queue, item) -> bool:
        """Put unless downstream has gone away; never blocks forever."""
        while not self._abort.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _fail(self, stage: str, frame: int, exc: BaseException) -> None:
        if self.error is None:
            self.error = PipelineError(stage, frame, exc)
            self.error.__cause__ = exc
            # One line for the user (the caller raises or reports it); the traceback only with -v (debug).
            log.debug("%s", self.error, exc_info=exc)
        self.stop("error")

    def _wait_turn(self) -> bool:
        """Block while paused (unless a step is pending); False when the run is stopping."""
        while not self._stop.is_set():
            with self._control:
                if self._steps > 0:
                    self._steps -= 1
                    return True
            if self._playing.wait(_POLL_S):
                return not self._stop.is_set()
        return False

    def _source_loop(self) -> None:
        index = -1
        pace_origin: Optional[tuple[float, float]] = None  # (wall clock, media time) of the pacing start
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and self.frames_read >= self.max_frames:
                    self.stop_reason = self.stop_reason or "max-frames"
                    break
                was_paused = self.paused
                if not self._wait_turn():
                    break
                with self._control:
                    seek_to, self._seek_to = self._seek_to, None
                if seek_to is not None:
                    self.source.seek(seek_to)
                    pace_origin = None
                if was_paused:
                    pace_origin = None
                frame = self.source.read()
                if frame is None:
                    if self.hold_at_end and self.source.can_seek and self._hold():
                        pace_origin = None
                        continue
                    self.stop_reason = self.stop_reason or self.source.end_reason or "end of source"
                    break
                index = frame.index
                due = None
                if self.realtime and not self._live:
                    now = time.perf_counter()
                    if pace_origin is None:
                        pace_origin = (now, frame.timestamp)
                    due = pace_origin[0] + (frame.timestamp - pace_origin[1]) / max(self.speed, 1e-3)
                    if due > now:
                        self._stop.wait(min(due - now, 1.0))
                self.frames_read += 1
                height, width = frame.image.shape[:2]
                result = FrameResult(index=frame.index, timestamp=float(frame.timestamp),
                                     image_size=(int(width), int(height)))
                if self.player and due is not None:
                    result.info[_DUE] = due
                result.info["dropped"] = self.dropped
                if getattr(frame, "file", None) is not None:  # only image sources name their frames
                    result.info["file"] = frame.file  # image sources: the name the sinks write under
                if self._live:
                    self._put_latest(self._frames, (frame.image, result))
                elif not self._put(self._frames, (frame.image, result)):
                    break
        except BaseException as exc:  # noqa: BLE001 - reported to the caller with the stage name
            self._fail("source", index + 1, exc)
        finally:
            self._put_end(self._frames)
            try:
                self.source.close()  # here, not elsewhere: only this thread ever reads the source
            except Exception:  # noqa: BLE001
                log.exception("closing the source failed")

    def _hold(self) -> bool:
        """At the end of the source: wait for a seek (True: go on reading) or a stop (False)."""
        self._at_end.set()
        try:
            while not self._stop.is_set():
                with self._control:
                    if self._seek_to is not None:
                        return True
                self._stop.wait(_POLL_S)
            return False
        finally:
            self._at_end.clear()

    def _put_latest(self, q: queue.Queue, frame) -> None:
        """Live sources: a frame still waiting in ``q`` for its stage is replaced by the newer one (counted
        as dropped), so the view lags by at most one period of each stage."""
        while True:
            try:
                q.put_nowait(frame)
                return
            except queue.Full:
                try:
                    stale = q.get_nowait()
                except queue.Empty:
                    continue
                if stale is _END:  # never drop the end token
                    q.put_nowait(stale)
                    return
                self.live_dropped += 1

    def _put_end(self, q: queue.Queue) -> None:
        while True:
            try:
                q.put(_END, timeout=_POLL_S)
                return
            except queue.Full:
                if self._abort.is_set():
                    return

    def _next_batch(self, inbox: queue.Queue, first, limit: int) -> tuple[list, bool]:
        """``first`` plus items already waiting in ``inbox``, up to ``limit`` (the stage's ``batch_size``).

        Only file sources batch (a live view wants each frame as soon as it exists), and only items that
        are already queued are taken, so batching never waits for the reader. Returns (batch, ended).
        """
        batch = [first]
        if limit <= 1 or self.source.is_live:
            return batch, False
        while len(batch) < limit:
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                break
            if item is _END:
                return batch, True
            batch.append(item)
        return batch, False

    def _stage_loop(self, position: int) -> None:
        """Run stage ``position`` over every frame of its inbox, in order, and pass them on.

        A :class:`BatchStage` gets up to its ``batch_size`` queued frames at once (its time is shared
        equally among them); the others see frame after frame.
        """
        stage = self.stages[position]
        inbox, outbox = self._queues[position], self._queues[position + 1]
        batching = isinstance(stage, BatchStage)
        index, ended = -1, False
        try:
            while not ended:
                item = inbox.get()
                if item is _END:
                    break
                if self._stop.is_set():
                    continue  # stopping: frames still queued are skipped so the exit is prompt
                batch, ended = self._next_batch(inbox, item, stage.batch_size) if batching else ([item], False)
                index = batch[0][1].index
                start = time.perf_counter()
                if len(batch) > 1:
                    stage.process_batch([image for image, _ in batch], [result for _, result in batch])
                    share = (time.perf_counter() - start) * 1000.0 / len(batch)
                    for _, result in batch:
                        result.timings[stage.name] = share
                else:
                    image, result = batch[0]
                    if self._skips.skip(position, stage, result, self):
                        stage.carry(image, result)
                        result.info.setdefault("carried", []).append(stage.name)
                    else:
                        stage(image, result)
                        self._skips.cost(position, time.perf_counter() - start)
                    result.timings[stage.name] = (time.perf_counter() - start) * 1000.0
                for item in batch:
                    if self._live:
                        self._put_latest(outbox, item)
                    elif not self._put(outbox, item):
                        return
        except BaseException as exc:  # noqa: BLE001
            self._fail(stage.name, index, exc)
            if not ended:
                self._drain(inbox)
        finally:
            self._put_end(outbox)
            try:
                stage.close()  # on the thread that used it (CUDA streams, mediapipe graphs)
            except Exception:  # noqa: BLE001
                log.exception("closing stage %s failed", stage.name)

    def _drain(self, q: queue.Queue) -> None:
        """Empty ``q`` up to its end token so the thread feeding it can finish."""
        while True:
            try:
                item = q.get(timeout=1.0)
            except queue.Empty:
                if self._abort.is_set():
                    return
                continue
            if item is _END:
                return

    def _output_loop(self) -> None:
        current = "render"
        index = -1
        try:
            while True:
                item = self._queues[-1].get()
                if item is _END:
                    break
                frame, result = item
                index = result.index
                self._skips.hold(result, self)
                self._fps = self._meter.tick()
                result.info["fps"] = self._fps
                current = "render"
                annotated = None
                if self._render is not None:
                    start = time.perf_counter()
                    annotated = self._render(frame, result)
                    result.timings["render"] = (time.perf_counter() - start) * 1000.0
                current = "sinks"
                start = time.perf_counter()
                # Held while writing, so remove_sink() cannot close a sink in the middle of a write.
                with self._sinks_lock:
                    for sink in self._sinks:
                        current = f"sink {sink.name}"
                        sink.write(annotated, result)
                result.timings["sinks"] = (time.perf_counter() - start) * 1000.0
                if self.on_frame is not None:
                    current = "on_frame"
                    self.on_frame(frame, annotated, result)
                self.frames_done += 1
        except BaseException as exc:  # noqa: BLE001
            self._fail(current, index, exc)
            self._abort.set()
        finally:
            self._abort.set()
            self._close_all()
            self.outputs_finished.set()
            if self.error is not None and self.on_error is not None:
                try:
                    self.on_error(self.error)
                except Exception:  # noqa: BLE001 - the callback must not hide the run's error
                    log.exception("on_error callback failed")

    def _close_all(self) -> None:
        with self._sinks_lock:
            sinks = list(self._sinks)
        # A run that failed or was interrupted before its first frame produced nothing: sinks that can
        # (atomic ones) drop their empty files, so the previous run's outputs stay as they were.
        keep = self.frames_done > 0 or (self.error is None and self.stop_reason != "interrupted")
        for sink in sinks:
            try:
                discard = None if keep else getattr(sink, "discard", None)
                discard() if discard is not None else sink.close()
            except Exception as exc:  # noqa: BLE001 - keep closing the others
                if self.error is None:
                    self.error = PipelineError(f"sink {sink.name}", self.frames_done, exc)
                log.error("closing %s failed: %s", sink.name, exc)


class _PlayerSkips:
    """Player mode (``Pipeline(player=True)`` with ``realtime``): real time on a file at any stage speed.

    A stage that has ``carry(frame, result)`` (cheap: fill the result from the last computed one) runs
    every ``stride``-th frame, where ``stride = ceil(its recent cost × 1.2 / frame interval)``, and
    carries the frames between; a frame later than ``max(1 s, 2 × the slowest stage)`` is carried too
    (catching up after a stall), unless the stage has not run for 4 strides. Never skipped: the first
    frame, the first after a seek (its index does not follow), frames while paused (steps). The output
    thread then releases each frame at its due time plus the recent worst delay, so a slow stage's
    bursts reach the view at a steady pace rather than as freeze-then-fast-forward.
    """

    HEADROOM = 1.2
    LAG_DECAY = 0.995  # per frame: the output delay follows a faster machine within seconds

    def __init__(self) -> None:
        self.costs: dict[int, float] = {}       # stage position → recent seconds per processed frame
        self._since: dict[int, int] = {}        # stage position → frames since it last ran
        self._last_index: dict[int, int] = {}
        self._lag = 0.0

    def cost(self, position: int, seconds: float) -> None:
        old = self.costs.get(position)
        self.costs[position] = seconds if old is None else 0.7 * old + 0.3 * seconds

    def skip(self, position: int, stage, result, pipe: "Pipeline") -> bool:
        due = result.info.get(_DUE)
        last = self._last_index.get(position)
        self._last_index[position] = result.index
        if due is None or not hasattr(stage, "carry") or not pipe.realtime or pipe.paused:
            return False
        cost = self.costs.get(position)
        if cost is None or last is None or result.index != last + 1:
            self._since[position] = 0
            return False
        interval = 1.0 / max(1e-3, float(getattr(pipe.source, "fps", 0.0) or 25.0) * max(pipe.speed, 1e-3))
        stride = max(1, math.ceil(cost * self.HEADROOM / interval))
        since = self._since.get(position, 0) + 1
        late = time.perf_counter() - due > max(1.0, 2.0 * max(self.costs.values()))
        if (since >= stride and not late) or since >= 4 * stride:
            self._since[position] = 0
            return False
        self._since[position] = since
        return True

    def hold(self, result, pipe: "Pipeline") -> None:
        """On the output thread: wait until the frame's due time plus the recent worst delay."""
        due = result.info.pop(_DUE, None)
        if due is None or not pipe.realtime or pipe.paused:
            return
        now = time.perf_counter()
        self._lag = max(now - due, self._lag * self.LAG_DECAY)
        wait = due + min(self._lag, 2.0) - now
        if wait > 0:
            pipe._stop.wait(min(wait, 1.0))

"""``python main.py run``: a source through the pipeline to an annotated mp4 and machine-readable results.

Beside the outputs it writes ``run.json``, the run's provenance (:func:`engine.provenance.provenance`:
a2v version, A2V checkpoint file and sha256, language matrix, mode, pose backend, tracker settings, the
full config, time, platform), written when the stages are built and again, with the frame count and
stop reason, when the run ends (each time via a temp file + rename).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

from engine.cli.common import (
    EXIT_DAMAGED_INPUT,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    add_config_arguments,
    config_from_args,
    print_error,
)
from engine.io.sinks import SinkBase
from engine.paths import SAMPLE_CLIP

log = logging.getLogger("a2v")


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="process a video, stream, webcam or image folder headless",
        description="Run detection, pose, tracking and A2V over a source and save the outputs. With no "
                    "output option, everything is written to runs/<source name>/ (or --out-dir). A folder, "
                    "glob or list of unrelated images is taken image by image (no tracking; persons numbered "
                    "1..N per image from left to right; outputs images/, results.jsonl, vectors.npz); "
                    "consecutively numbered frames of one size (000001.jpg, ...) are tracked as a video. "
                    "--set source.images=independent|sequence overrides that choice.")
    parser.add_argument("--source", default=str(SAMPLE_CLIP),
                        help="webcam index, video file, rtsp/http URL, image folder, glob or .txt list "
                             "(default: the bundled sample clip)")
    parser.add_argument("--out", metavar="VIDEO.mp4", help="annotated H.264 mp4")
    parser.add_argument("--results", metavar="R.jsonl", help="one JSON line per frame")
    parser.add_argument("--vectors", metavar="V.npz", help="per person-frame PaSta, actions and A2V vectors")
    parser.add_argument("--tracks", metavar="T.txt", help="MOTChallenge tracks")
    parser.add_argument("--images", metavar="DIR", help="annotated images under their own names and formats "
                                                        "(image sources)")
    parser.add_argument("--out-dir", metavar="DIR", help="folder for the default outputs (default: "
                                                         "runs/<source name>)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(parser)
    parser.set_defaults(func=run_command)


def _default_outputs(args: argparse.Namespace, independent: bool = False) -> None:
    """With no output option: everything into ``--out-dir`` (default ``runs/<source name>``). Independent
    images get ``images/``, ``results.jsonl`` and ``vectors.npz``: no mp4 (photos of many sizes are no
    video) and no ``tracks.txt`` (nothing is tracked)."""
    if any((args.out, args.results, args.vectors, args.tracks, args.images)):
        return
    if args.out_dir:
        folder = Path(args.out_dir).expanduser()
    else:
        text = str(args.source)
        wild = [text.index(c) for c in "*?[" if c in text]
        text = text[:min(wild)] if wild else text  # a glob is named after its folder
        stem = Path(text.rstrip("/\\")).stem or "source"
        if str(args.source).isdigit():
            stem = f"webcam{args.source}"
        folder = Path("runs") / stem  # relative to where the user runs the command
    args.results = str(folder / "results.jsonl")
    args.vectors = str(folder / "vectors.npz")
    if independent:
        args.images = str(folder / "images")
        return
    args.out = str(folder / "annotated.mp4")
    args.tracks = str(folder / "tracks.txt")


class _Progress:
    """A tqdm bar (frames, fps, ETA) for sources with a known length; a counter otherwise."""

    def __init__(self, total, enabled: bool, unit: str = "frame") -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1)
        self.last = 0

    def __call__(self, done: int) -> None:
        if self.bar is not None and done > self.last:
            self.bar.update(done - self.last)
            self.last = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _PersonCount(SinkBase):
    """A sink that only counts: persons the pose stage found per frame, and which backend found them."""

    name = "person count"

    def __init__(self) -> None:
        self.frames = 0
        self.total = 0
        self.most = 0
        self.backend = ""

    def write(self, annotated, result) -> None:
        count = int(result.info.get("persons", len(result.persons)))
        self.frames += 1
        self.total += count
        self.most = max(self.most, count)
        self.backend = result.info.get("pose_backend", self.backend)

    def summary(self) -> str:
        if not self.frames:
            return "persons in view: no frames"
        mean = self.total / self.frames
        return f"persons in view: {mean:.2f} per frame (most {self.most}), found by {self.backend}"

    def close(self) -> None:
        pass
def provenance_path(args: argparse.Namespace) -> Path | None:
    """``run.json`` in the folder of the first output (results, video, vectors, tracks), or None."""
    for path in (args.results, args.out, args.vectors, args.tracks):
        if path:
            return Path(path).parent / "run.json"
    if getattr(args, "images", None):
        return Path(args.images).parent / "run.json"
    return None


def _language_summary(stages) -> str:
    for stage in stages:
        if stage.name == "a2v":
            choice = getattr(stage, "language_choice", None)
            if getattr(stage, "model", None) is not None and choice is not None:
                return f"; A2V language: {choice.summary()}"
            return f"; PaSta off: {stage.pasta_off}" if getattr(stage, "pasta_off", None) else ""
    return ""


def _write_record(path: Path, record: dict) -> bool:
    from engine.provenance import write_json_atomic

    try:
        write_json_atomic(path, record)
        return True
    except OSError as exc:  # the outputs themselves are written; say so instead of failing the run
        log.warning("could not write %s: %s", path, exc.strerror or exc)
        return False
def _summary(sinks, also_written=()) -> str:
    """Which outputs are on disk: a sink counts once it has been finalized (renamed into place);
    ``also_written``: other files the run finished (run.json)."""
    kept = [str(s.path) for s in sinks if getattr(s, "committed", False)] + [str(p) for p in also_written]
    lost = [str(s.path) for s in sinks if not getattr(s, "committed", False)]
    text = f"wrote {', '.join(kept)}" if kept else "wrote nothing"
    if lost and kept:
        text += f"; not written: {', '.join(lost)}"
    return text


def _ignore_further_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(number, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass


def run_command(args: argparse.Namespace) -> int:
    from engine.cli.common import Terminated
    from engine.io.sinks import discard_all, lock_outputs, open_sinks
    from engine.io.sources import open_source
    from engine.pipeline import Pipeline, PipelineError
    from engine.stages import build_stages
    from engine.vocab import load_vocab

    config = config_from_args(args)
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames {args.max_frames}: must be at least 1")
    source = open_source(args.source, config.source)
    independent = bool(getattr(source, "independent", False))
    lock = None
    sinks: list = []
    try:
        _default_outputs(args, independent)
        if independent and args.tracks:
            raise ValueError(f"--tracks {args.tracks}: {source.name} is independent images, which have no "
                             f"tracks (persons are numbered per image); drop --tracks, or track them as "
                             f"frames with --set source.images=sequence")
        if source.kind == "images":
            log.info("images: %s", source.describe_mode())
        # The folders that hold the outputs (for --images DIR: the folder DIR is in) get the lock.
        paths = [p for p in (args.out, args.results, args.vectors, args.tracks, args.images) if p]
        # Models first, outputs last: a run that cannot start (a wrong checkpoint path) leaves the previous
        # outputs as they were; the lock keeps a second run off the same folder.
        stages = build_stages(config, still_images=independent)
        lock = lock_outputs(paths)
        sinks = open_sinks(out=args.out, results=args.results, vectors=args.vectors, tracks=args.tracks,
                           fps=source.fps, vocab=load_vocab(), live=source.is_live, images=args.images)
    except BaseException:
        discard_all(sinks)
        if lock is not None:
            lock.release()
        source.close()
        raise
    try:
        return _run(args, config, source, stages, sinks, independent, Pipeline, PipelineError, Terminated)
    finally:
        lock.release()


def _run(args, config, source, stages, sinks, independent, Pipeline, PipelineError, Terminated) -> int:
    from engine.provenance import provenance
    from engine.stages import default_renderer

    for stage in stages:
        log.info("%s stage: %s", stage.name, stage.describe())
    language = _language_summary(stages)   # before the run: closing a stage drops its model
    record_path = provenance_path(args)
    record = provenance(config, stages)
    record["run"] = {"source": str(args.source), "max_frames": args.max_frames, "status": "running",
                     "outputs": {k: getattr(args, k) for k in ("out", "images", "results", "vectors", "tracks")}}
    if record_path is not None:
        _write_record(record_path, record)
    total = source.frame_count
    if args.max_frames is not None:
        total = min(total, args.max_frames) if total else args.max_frames
    render = default_renderer(config, still=independent) if (args.out or args.images) else None
    counter = _PersonCount()
    pipe = Pipeline(source, stages, sinks=[*sinks, counter], config=config, render=render,
                    max_frames=args.max_frames)
    unit = "image" if independent else "frame"
    progress = _Progress(total, enabled=not args.quiet and not source.is_live, unit=unit)
    start = time.perf_counter()
    interrupted = None
    try:
        pipe.run(progress)
    except KeyboardInterrupt as exc:
        interrupted = exc
    except PipelineError as exc:
        progress.close()
        raise RuntimeError(f"{exc}; {_summary(sinks)}") from exc
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    if interrupted is not None:
        _ignore_further_signals()  # stopping already: one more press must not cut the summary or the exit
    stats = pipe.stats
    terminated = isinstance(interrupted, Terminated) or pipe.interrupted_by == signal.SIGTERM
    code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    if interrupted is not None and not pipe.outputs_finished.is_set():
        pending = [str(s.path) for s in sinks if not getattr(s, "committed", False)]
        done = [str(s.path) for s in sinks if getattr(s, "committed", False)]
        print(f"a2v: aborted while finishing outputs: {stats['frames']} frames; not finalized: "
              f"{', '.join(pending) or 'none'} (files already there are unchanged)"
              + (f"; finalized: {', '.join(done)}" if done else ""), file=sys.stderr)
        sys.stdout.flush()
        from engine.cli import native_log_filter

        native_log_filter.uninstall()  # forwards what is still in its pipe (flushes stderr first)
        # Threads are still inside native code (FFmpeg, mediapipe); a normal interpreter exit would tear them
        # down mid-call and abort. The user asked to stop now: leave at once.
        os._exit(code)
    if interrupted is not None and pipe.error is not None:
        raise RuntimeError(f"{pipe.error}; {_summary(sinks)}")
    how = ("stopped by SIGTERM" if terminated else "stopped by Ctrl-C") if interrupted is not None \
        else (pipe.stop_reason or "done")
    dropped = f", {stats['dropped']} dropped" if stats["dropped"] else ""
    skipped_files = getattr(source, "skipped_files", [])
    if skipped_files:
        shown = ", ".join(skipped_files[:3]) + (", ..." if len(skipped_files) > 3 else "")
        count = f"{len(skipped_files)} unreadable skipped"
        how = how.replace(count, f"{count}: {shown}") if count in how else f"{how} ({count}: {shown})"
    rate = "images/s" if independent else "fps"
    also_written = []
    if record_path is not None:
        record["run"].update(status=how, frames=int(stats["frames"]), dropped=int(stats["dropped"]),
                             seconds=round(elapsed, 3))
        if _write_record(record_path, record):
            also_written.append(record_path)
    written = _summary(sinks, also_written)
    if counter.backend:  # no line without a pose stage (pose.backend: none)
        print(f"a2v: {counter.summary()}", file=sys.stderr)
    print(f"a2v: {how}: {stats['frames']} {unit}s in {elapsed:.1f} s "
          f"({stats['frames'] / max(elapsed, 1e-9):.1f} {rate}{dropped}); {written}{language}", file=sys.stderr)
    if interrupted is not None:
        return code
    if getattr(source, "lost", False):
        # The stream went away and did not come back within source.reconnect_seconds: not a normal end.
        print_error(pipe.stop_reason)
        return EXIT_DAMAGED_INPUT
    if "damaged" in pipe.stop_reason or "truncated" in pipe.stop_reason:
        # The frames before the damage are in the outputs; still tell the user (and scripts) the input was bad.
        print_error(pipe.stop_reason)
        return EXIT_DAMAGED_INPUT
    return 0

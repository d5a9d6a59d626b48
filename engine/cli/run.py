"""``python main.py run``: a source through the pipeline to an annotated mp4 and machine-readable results."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

from engine.cli.common import add_config_arguments, config_from_args
from engine.paths import SAMPLE_CLIP

log = logging.getLogger("a2v")


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="process a video, stream, webcam or image folder headless",
        description="Run detection, pose, tracking and A2V over a source and save the outputs. With no "
                    "output option, everything is written to runs/<source name>/.")
    parser.add_argument("--source", default=str(SAMPLE_CLIP),
                        help="webcam index, video file, rtsp/http URL, image folder, glob or .txt list "
                             "(default: the bundled sample clip)")
    parser.add_argument("--out", metavar="VIDEO.mp4", help="annotated H.264 mp4")
    parser.add_argument("--results", metavar="R.jsonl", help="one JSON line per frame")
    parser.add_argument("--vectors", metavar="V.npz", help="per person-frame PaSta, actions and A2V vectors")
    parser.add_argument("--tracks", metavar="T.txt", help="MOTChallenge tracks")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(parser)
    parser.set_defaults(func=run_command)


def _default_outputs(args: argparse.Namespace) -> None:
    if any((args.out, args.results, args.vectors, args.tracks)):
        return
    stem = Path(str(args.source)).stem or "source"
    if str(args.source).isdigit():
        stem = f"webcam{args.source}"
    folder = Path("runs") / stem  # relative to where the user runs the command
    args.out = str(folder / "annotated.mp4")
    args.results = str(folder / "results.jsonl")
    args.vectors = str(folder / "vectors.npz")
    args.tracks = str(folder / "tracks.txt")


class _Progress:
    """A tqdm bar (frames, fps, ETA) for sources with a known length; a counter otherwise."""

    def __init__(self, total, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1)
        self.last = 0

    def __call__(self, done: int) -> None:
        if self.bar is not None and done > self.last:
            self.bar.update(done - self.last)
            self.last = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _summary(sinks) -> str:
    """Which outputs are on disk: a sink counts once it has been finalized (renamed into place)."""
    kept = [str(s.path) for s in sinks if getattr(s, "committed", False)]
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
    _default_outputs(args)
    paths = [p for p in (args.out, args.results, args.vectors, args.tracks) if p]
    source = open_source(args.source, config.source)
    lock = None
    sinks: list = []
    try:
        # Models first, outputs last: a run that cannot start (a wrong checkpoint path) leaves the previous
        # outputs as they were; the lock keeps a second run off the same folder.
        stages = build_stages(config)
        lock = lock_outputs(paths)
        sinks = open_sinks(out=args.out, results=args.results, vectors=args.vectors, tracks=args.tracks,
                           fps=source.fps, vocab=load_vocab(), live=source.is_live)
    except BaseException:
        discard_all(sinks)
        if lock is not None:
            lock.release()
        source.close()
        raise
    try:
        return _run(args, config, source, stages, sinks, Pipeline, PipelineError, Terminated)
    finally:
        lock.release()


def _run(args, config, source, stages, sinks, Pipeline, PipelineError, Terminated) -> int:
    for stage in stages:
        log.info("%s stage: %s", stage.name, stage.describe())
    total = source.frame_count
    if args.max_frames is not None:
        total = min(total, args.max_frames) if total else args.max_frames
    pipe = Pipeline(source, stages, sinks=sinks, config=config,
                    render="default" if args.out else None, max_frames=args.max_frames)
    progress = _Progress(total, enabled=not args.quiet and not source.is_live)
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
    code = 143 if terminated else 130
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
    print(f"a2v: {how}: {stats['frames']} frames in {elapsed:.1f} s "
          f"({stats['frames'] / max(elapsed, 1e-9):.1f} fps{dropped}); {_summary(sinks)}",
          file=sys.stderr)
    if interrupted is not None:
        return code
    if getattr(source, "lost", False):
        # The stream went away and did not come back within source.reconnect_seconds: not a normal end.
        print(f"a2v: error: {pipe.stop_reason}", file=sys.stderr)
        return 3
    if "damaged" in pipe.stop_reason or "truncated" in pipe.stop_reason:
        # The frames before the damage are in the outputs; still tell the user (and scripts) the input was bad.
        print(f"a2v: error: {pipe.stop_reason}", file=sys.stderr)
        return 3
    return 0

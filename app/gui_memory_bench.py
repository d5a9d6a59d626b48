"""Resident memory of the window over open/close cycles (``python main.py bench gui-memory``).

What a user does for hours: open a file, watch it, open the next. Each cycle here drives the real
:class:`app.main_window.MainWindow` with the real stages of the config (pose, tracker, A2V when its weights
are available) on a real clip, offscreen when there is no display:

- ``--mode file`` (default): one window; per cycle ``open_source(clip)`` → the pipeline plays ``--frames``
  frames → the run ends and the file is closed (the pipeline and its models released);
- ``--mode window``: per cycle a new window opens the clip, plays, and is closed (``closeEvent``) and
  deleted.

After each cycle it collects garbage and reads the process RSS (MiB, /proc). The report gives every
cycle's RSS, the growth from cycle 1 to the last, and the growth over the second half (a steady leak
keeps growing there; allocator warm-up does not). ``--default-arenas`` measures with glibc's default
malloc arenas instead of the two the window sets at start (``app.cli._limit_malloc_arenas``), to see what
that setting does. Models are counted alive with weak references: ``stages alive`` after the last cycle
and ``windows alive`` must be 0 (an object held after close is a leak however the allocator behaves).
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
import weakref

from engine.bench.common import add_json_argument, json_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.cli.common import add_config_arguments

    parser.add_argument("--cycles", type=int, default=20, help="open/close cycles (default 20)")
    parser.add_argument("--frames", type=int, default=15, help="frames played per cycle (default 15)")
    parser.add_argument("--source", default="", help="clip to open (default: the bundled sample clip)")
    parser.add_argument("--mode", choices=("file", "window"), default="file",
                        help="file: one window opens the clip N times; window: N windows (default file)")
    parser.add_argument("--default-arenas", action="store_true",
                        help="keep glibc's default malloc arenas (the window limits them to 2)")
    add_config_arguments(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    """The benchmark; ``--json FILE`` as in every benchmark (:mod:`engine.bench.common`)."""
    if args.cycles < 1 or args.frames < 1:
        raise ValueError(f"--cycles {args.cycles} / --frames {args.frames}: both must be at least 1")
    with json_output(args.json) as emit:
        return _measure(args, emit)


def _play(app, window, spec: str, frames: int, timeout: float = 120.0) -> int:
    """Open ``spec`` in ``window`` and pump Qt events until its run has ended; frames shown."""
    if not window.open_source(spec, max_frames=frames, wait=True):
        raise RuntimeError(f"{spec}: the window could not open it: {window.last_error}")
    deadline = time.monotonic() + timeout
    while window.pipeline is not None and window.pipeline.running and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()
    window.drain_frames()
    return window.frames_received


def _run_threads() -> list[threading.Thread]:
    """The threads of a run: the pipeline's (source, stages, output) and its memory-release helper."""
    names = {"a2v-source", "a2v-output", "memory-release", "a2v-pose", "a2v-tracker", "a2v-a2v"}
    return [t for t in threading.enumerate() if t.name in names]


def _settle(app, timeout: float = 10.0) -> None:
    """Wait until the run's threads (pipeline stages, the memory-release helper) have ended, then
    collect garbage: RSS read while a closing thread still holds its buffers is not what stays."""
    deadline = time.monotonic() + timeout
    while _run_threads() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    gc.collect()


def _close_and_delete(window) -> None:
    """Close ``window`` as a user does (``closeEvent``: the pipeline stops, outputs are finalized), then
    delete its Qt objects now. ``deleteLater`` waits for an event loop this benchmark does not run, and
    until then the widgets' signal connections (closures over the window) keep it and its last
    pipeline alive."""
    from PyQt5 import sip

    window.close()
    sip.delete(window)


def _measure(args: argparse.Namespace, emit) -> int:
    from app.cli import _limit_malloc_arenas

    if not args.default_arenas:
        _limit_malloc_arenas()
    if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PyQt5.QtWidgets import QApplication

    from app.main_window import MainWindow
    from engine.bench.common import rss_mb
    from engine.cli.common import config_from_args
    from engine.paths import SAMPLE_CLIP
    from engine.stages import build_stages

    spec = args.source or str(SAMPLE_CLIP)
    config = config_from_args(args)
    app = QApplication.instance() or QApplication(["a2v-bench-gui-memory"])
    alive: list[weakref.ref] = []
    descriptions: list[str] = []

    def stages_factory(cfg, **kwargs):
        stages = build_stages(cfg, **kwargs)
        alive.extend(weakref.ref(s) for s in stages)
        if not descriptions:
            descriptions.extend(s.describe() for s in stages)
        return stages

    rss, shown = [], []
    start_rss = rss_mb()
    window = None
    for _ in range(args.cycles):
        if window is None:
            window = MainWindow(config, stages_factory=stages_factory)
            window.resize(1280, 800)
            window.show()
        before = window.frames_received
        shown.append(_play(app, window, spec, args.frames) - before)
        if args.mode == "window":
            _close_and_delete(window)
            window = None
        else:
            window.session.stop()
        _settle(app)
        rss.append(round(rss_mb(), 1))
        print(f"cycle {len(rss):>3}: RSS {rss[-1]:8.1f} MiB, {shown[-1]} frames shown", flush=True)
    if window is not None:
        _close_and_delete(window)
        window = None  # the window's Python object holds its session, and so the last pipeline
        app.processEvents()
    gc.collect()
    stages_alive = sum(1 for ref in alive if ref() is not None)
    windows_alive = sum(1 for obj in gc.get_objects() if isinstance(obj, MainWindow))
    half = len(rss) // 2
    second_half = rss[-1] - rss[half] if len(rss) > 1 else 0.0
    arenas = "glibc default arenas" if args.default_arenas else (
        f"MALLOC_ARENA_MAX={os.environ['MALLOC_ARENA_MAX']}" if os.environ.get("MALLOC_ARENA_MAX") else "2 arenas")
    print(f"{args.cycles} {args.mode} open/close cycles of {spec}, {args.frames} frames each, {arenas}; stages: "
          + "; ".join(descriptions))
    print(f"RSS before the first window {start_rss:.0f} MiB; after cycle 1 {rss[0]:.0f} MiB, after the last "
          f"{rss[-1]:.0f} MiB (growth {rss[-1] - rss[0]:+.0f} MiB; over the second half {second_half:+.0f} MiB); "
          f"stages alive after close: {stages_alive} of {len(alive)}; windows alive: {windows_alive}")
    emit({"cycles": args.cycles, "frames": args.frames, "mode": args.mode, "source": spec, "arenas": arenas,
          "stages": descriptions, "rss_before_mib": start_rss, "rss_per_cycle_mib": rss, "frames_shown": shown,
          "growth_mib": rss[-1] - rss[0], "second_half_growth_mib": second_half, "stages_alive": stages_alive,
          "stages_built": len(alive), "windows_alive": windows_alive})
    return 0 if stages_alive == 0 and windows_alive == 0 else 1

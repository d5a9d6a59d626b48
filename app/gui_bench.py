"""GUI-thread cost per frame and per panel refresh (``python main.py bench gui``; offscreen if no display).

Feeds synthetic results (``--persons`` persons with PaSta, actions and vectors, frames of ``--size``)
straight into the window's bridge, as the pipeline's output thread would, and times what the GUI thread
does with them: taking a frame (history update + painting the image) and the 10 Hz panel refresh (list,
timeline heatmap of the selected person with a full history, action bars, vector plot, PCA map).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from engine.bench.common import add_json_argument, json_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=300, help="frames to feed (default 300)")
    parser.add_argument("--persons", type=int, default=5, help="persons per frame (default 5)")
    parser.add_argument("--size", default="1280x720", help="frame size WxH (default 1280x720)")
    parser.add_argument("--history", type=int, default=900, help="frames of history per person (default 900)")
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    """The benchmark; ``--json FILE`` as in every benchmark (:mod:`engine.bench.common`)."""
    with json_output(args.json) as emit:
        return _measure(args, emit)


def _measure(args: argparse.Namespace, emit) -> int:
    width, height = (int(v) for v in args.size.lower().split("x"))
    if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import numpy as np
    from PyQt5.QtWidgets import QApplication

    from app.main_window import MainWindow
    from engine.config import load_config
    from engine.render.annotate import annotate
    from engine.types import FrameResult, Person

    app = QApplication.instance() or QApplication(["a2v-bench-gui"])
    config = load_config()
    window = MainWindow(config, stages_factory=lambda c: [], history_frames=args.history)
    window.resize(1600, 1000)
    window.show()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    on_frame, _ = window.bridge.callbacks()

    def result_for(index: int) -> FrameResult:
        persons = []
        for k in range(args.persons):
            x = (k * width / max(args.persons, 1) + index) % (width - 100)
            keypoints = np.zeros((17, 3), np.float32)
            keypoints[:, 0], keypoints[:, 1], keypoints[:, 2] = x + 40, np.linspace(60, height - 60, 17), 0.9
            person = Person(box=np.array([x, 40, x + 90, height - 40]), score=0.9, keypoints=keypoints,
                            track_id=k + 1)
            person.pasta = rng.random(93, dtype=np.float32)
            person.actions = rng.random(157, dtype=np.float32)
            person.visual = rng.random(3072, dtype=np.float32)
            person.language = rng.random(1536, dtype=np.float32)
            persons.append(person)
        return FrameResult(index=index, timestamp=index / 25.0, image_size=(width, height), persons=persons)

    results = [result_for(i) for i in range(min(args.frames, 50))]
    annotated = annotate(frame, results[0], config.render, window.vocab)
    for i in range(args.history):  # fill the history first: the timeline is at its largest
        window.history.update(results[i % len(results)].__class__(
            index=i, timestamp=i / 25.0, image_size=(width, height), persons=results[i % len(results)].persons))
    window.panel.select_track(1)
    take_ms, refresh_ms = [], []
    for i in range(args.frames):
        base = results[i % len(results)]
        result = FrameResult(index=args.history + i, timestamp=(args.history + i) / 25.0,
                             image_size=(width, height), persons=base.persons)
        on_frame(frame, annotated, result)
        start = time.perf_counter()
        window.drain_frames()
        take_ms.append((time.perf_counter() - start) * 1000.0)
        if i % 3 == 0:  # the window refreshes at 10 Hz, i.e. every ~3 frames at 30 fps
            start = time.perf_counter()
            window.panel.refresh()
            refresh_ms.append((time.perf_counter() - start) * 1000.0)
        app.processEvents()
    window.shutdown()
    window.close()

    def summary(values):
        return f"median {statistics.median(values):.2f} ms, p90 {sorted(values)[int(0.9 * len(values))]:.2f} ms"

    print(f"GUI thread, {width}x{height}, {args.persons} persons, history {args.history} frames/person:")
    print(f"  per frame (history update + paint): {summary(take_ms)}")
    print(f"  per panel refresh (10 Hz):          {summary(refresh_ms)}")
    budget = statistics.median(take_ms) * 30 + statistics.median(refresh_ms) * 10
    print(f"  GUI-thread load at 30 fps: {budget / 10:.1f}% of one core")
    emit({"size": f"{width}x{height}", "persons": args.persons, "history": args.history, "frames": args.frames,
          "frame_median_ms": statistics.median(take_ms), "refresh_median_ms": statistics.median(refresh_ms),
          "core_percent_at_30fps": budget / 10})
    return 0


def main(argv: list[str]) -> int:
    """Stand-alone entry (``python -m``); ``python main.py bench`` uses :func:`add_arguments` and :func:`run`."""
    parser = argparse.ArgumentParser(prog="a2v bench gui", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

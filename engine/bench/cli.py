"""``python main.py bench [WHAT]``: one sub-parser per benchmark; ``bench`` alone times the whole pipeline.

Each benchmark module has ``add_arguments(parser)`` and ``run(args) -> exit code``, and keeps its heavy
imports inside ``run`` so that registering every command stays cheap. ``--json FILE`` writes the numbers
to FILE in every benchmark. The GUI benchmark lives in ``app/`` (engine never imports the GUI) and is
added by ``main.py`` through :func:`add_benchmark`.
"""
from __future__ import annotations

import argparse
import importlib

# name → module; the order is the order of ``bench --help``.
BENCHMARKS = {
    "pipeline": ("engine.bench.pipeline", "the whole pipeline: per-stage ms, end-to-end fps, peak RSS"),
    "pose": ("engine.bench.pose", "pose backends: ms per frame, persons found"),
    "a2v": ("engine.bench.a2v", "the A2V network: persons/s, ours vs the official-style forward"),
    "render": ("engine.bench.render", "overlay drawing: ms per frame"),
    "tracker": ("trackers.bench", "SORT on MOT15 detections: frames/s"),
    "search": ("engine.bench.search", "text and more-like-this query time over N person-frames"),
}


def add_benchmark(bench_subparsers, name: str, module_name: str, help_text: str) -> None:
    """Register ``bench NAME`` from a module with ``add_arguments`` and ``run``."""
    module = importlib.import_module(module_name)
    parser = bench_subparsers.add_parser(name, help=help_text, description=module.__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)


def register_cli(subparsers):
    """Add ``bench`` and its sub-commands; returns the sub-parsers so the GUI benchmark can join them."""
    pipeline = importlib.import_module(BENCHMARKS["pipeline"][0])
    parser = subparsers.add_parser("bench", help="measure speed and memory (pipeline, pose, a2v, render, tracker, gui)",
                                   description=pipeline.__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    pipeline.add_arguments(parser)  # `bench` alone = `bench pipeline`
    parser.set_defaults(func=pipeline.run)
    sub = parser.add_subparsers(dest="benchmark", metavar="WHAT")
    for name, (module_name, help_text) in BENCHMARKS.items():
        add_benchmark(sub, name, module_name, help_text)
    return sub

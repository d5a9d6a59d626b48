#!/usr/bin/env python
"""a2v command line: ``gui`` (default), ``run``, ``bench``, ``weights``, ``track``, ``track-eval``,
``train``, ``train-combine``, ``eval``, ``search``.
Run ``python main.py <command> --help`` for each command's options."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import signal
import sys

# Each entry: a module with ``register_cli(subparsers)``. Registration must stay cheap (no model imports).
COMMAND_MODULES = (
    "app.cli",            # gui
    "engine.cli.run",      # run
    "engine.bench.cli",    # bench
    "engine.cli.weights",  # weights
    "trackers.cli",       # track, track-eval
    "engine.cli.train",    # train, train-combine
    "engine.cli.eval",     # eval
    "engine.cli.search",   # search
    "engine.cli.extract",  # extract
    "engine.cli.export",   # export onnx
)


def build_parser() -> argparse.ArgumentParser:
    from engine.bench.cli import add_benchmark
    from engine.cli.common import ArgumentParser

    parser = ArgumentParser(
        prog="a2v", description="Activity2Vec: body-part states, actions and activity vectors for every "
                                "tracked person in a video, webcam or image folder.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    parser.add_argument("--offline", action="store_true",
                        help="never download anything (same as A2V_OFFLINE=1); stages fall back and say so")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench_subparsers = None
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside the module is a real error
                raise
            continue  # the command's module is not part of this installation
        registered = module.register_cli(subparsers)
        if name == "engine.bench.cli":
            bench_subparsers = registered
    if bench_subparsers is not None and importlib.util.find_spec("app") is not None:
        # The GUI benchmark lives with the GUI; engine never imports app, main.py joins them.
        add_benchmark(bench_subparsers, "gui", "app.gui_bench", "GUI-thread ms per frame and per panel refresh")
        add_benchmark(bench_subparsers, "gui-memory", "app.gui_memory_bench",
                      "the window's RSS over open/close cycles of a clip (real stages)")
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="a2v: %(message)s", stream=sys.stderr)
    for noisy in ("matplotlib", "PIL", "urllib3", "filelock", "absl", "faiss", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _terminate(signum, frame) -> None:
    from engine.cli.common import Terminated

    raise Terminated()


def _handle_sigterm() -> None:
    """SIGTERM stops a command like Ctrl-C (outputs finalized) instead of killing it mid-write."""
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (main() called from a test thread): leave the default
        pass


def main(argv: list[str] | None = None) -> int:
    # mediapipe's native (TFLite/absl/glog) logging would otherwise print warnings users cannot act on.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GLOG_minloglevel", "2")
    if os.environ.get("A2V_NATIVE_LOGS") != "1":
        from engine.cli import native_log_filter

        native_log_filter.install()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose or os.environ.get("A2V_DEBUG") == "1"
    if args.offline:
        os.environ["A2V_OFFLINE"] = "1"  # read by engine.weights.download before any socket is opened
    _setup_logging(verbose)
    if args.command is None:  # no sub-command: the GUI, with the same options and error handling
        args = parser.parse_args(["gui"] + [a for a in argv if a not in ("-v", "--verbose", "--offline")])
    from engine.cli.common import run_command

    _handle_sigterm()
    # One policy for every command: a user error is one line `a2v: error: ...` and exit 2 (engine/cli/common.py).
    return run_command(args.func, args, verbose=verbose)


if __name__ == "__main__":
    sys.exit(main())

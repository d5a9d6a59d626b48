#!/usr/bin/env python
"""a2v command line: ``gui`` (default), ``run``, ``bench``, ``weights``, ``track``, ``track-eval``,
``train``, ``eval``. Run ``python main.py <command> --help`` for each command's options."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Each entry: a module with ``register_cli(subparsers)``. Registration must stay cheap (no model imports).
COMMAND_MODULES = (
    "app.cli",            # gui
    "engine.cli_run",     # run
    "engine.bench",       # bench
    "engine.weights",     # weights
    "trackers.cli",       # track, track-eval
    "engine.train",       # train
    "engine.evaluate",    # eval
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="a2v", description="Activity2Vec: body-part states, actions and activity vectors for every "
                                "tracked person in a video, webcam or image folder.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside the module is a real error
                raise
            continue  # the command's module is not part of this installation
        module.register_cli(subparsers)
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="a2v: %(message)s", stream=sys.stderr)
    for noisy in ("matplotlib", "PIL", "urllib3", "filelock", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    # mediapipe's native (TFLite/absl/glog) logging would otherwise print warnings users cannot act on.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GLOG_minloglevel", "2")
    if os.environ.get("A2V_NATIVE_LOGS") != "1":
        from engine import native_log_filter

        native_log_filter.install()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `bench` hands everything after it to the chosen benchmark's own parser (argparse cannot forward
    # options such as --frames through a sub-command untouched).
    leading = 0
    while leading < len(argv) and argv[leading] in ("-v", "--verbose"):
        leading += 1
    if leading < len(argv) and argv[leading] == "bench":
        args = parser.parse_args(argv[: leading + 1])
        args.rest = argv[leading + 1:]
    else:
        args = parser.parse_args(argv)
    verbose = args.verbose or os.environ.get("A2V_DEBUG") == "1"
    _setup_logging(verbose)
    if args.command is None:  # no sub-command: the GUI, with the same options and error handling
        args = parser.parse_args(["gui"] + argv[leading:])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("a2v: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, LookupError) as exc:
        if verbose:
            raise
        # Our errors are phrased for users (input + fix) and are one line; keep it that way.
        message = " ".join(str(exc).split()) if str(exc) else type(exc).__name__
        print(f"a2v: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""What every command shares: ``--config`` / ``--set`` / ``--device``, turning them into a Config, and
the one error policy.

Error policy (every command, through :func:`run_command`, which ``main.py`` calls):

- a user error — bad input, a missing file, a bad option value, no weights — is an exception of a
  :data:`USER_ERRORS` type whose message names the input and the fix; it is printed as one line
  ``a2v: error: <message>`` on stderr and the exit code is :data:`EXIT_USER_ERROR` (2, argparse's own
  code for a bad command line). With ``-v`` the traceback is shown instead.
- Ctrl-C prints ``a2v: interrupted`` and exits :data:`EXIT_INTERRUPTED` (130, the shell's 128 + SIGINT).
- ``run`` exits :data:`EXIT_DAMAGED_INPUT` (3) when a video turned out truncated or damaged part-way: the
  outputs hold the frames before the damage, and scripts can tell that apart from a refused input.

Command handlers raise; they do not print errors or pick exit codes themselves.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from engine.config import Config, load_config

EXIT_USER_ERROR = 2
EXIT_DAMAGED_INPUT = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # the shell's 128 + SIGTERM
# Our exceptions derive from these (ConfigError, SourceError, WeightsError, DataError, DeviceError, ...).
USER_ERRORS = (ValueError, RuntimeError, OSError, LookupError)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (our messages already are; third-party ones may not be)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def print_error(message: str) -> int:
    """Print ``a2v: error: <message>`` on stderr; returns :data:`EXIT_USER_ERROR`."""
    print(f"a2v: error: {' '.join(str(message).split())}", file=sys.stderr)
    return EXIT_USER_ERROR


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors in the policy's words: the usage, then ``a2v: error: <command>: <why>``,
    exit 2. Sub-parsers inherit the class, so ``a2v weights fetch`` without a name reads the same."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        command = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        raise SystemExit(print_error(f"{command}: {message}" if command else message))


def run_command(handler: Callable[[argparse.Namespace], object], args: argparse.Namespace,
                verbose: bool = False) -> int:
    """Run a command handler under the error policy (see the module docstring); the exit code."""
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt as exc:
        print("a2v: interrupted", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except USER_ERRORS as exc:
        if verbose:
            raise
        return print_error(one_line(exc))


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, systemd, Docker, job schedulers), raised in the main thread so that it stops a run
    exactly like Ctrl-C: outputs are finalized, then the command exits with 143."""


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--set`` and ``--device``, shared by every command that runs models."""
    parser.add_argument("--config", metavar="FILE", help="YAML config applied over configs/default.yaml")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override one config value, e.g. --set tracker.max_age=40 (repeatable)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides config 'device')")


def config_from_args(args: argparse.Namespace) -> Config:
    overrides = list(getattr(args, "overrides", []) or [])
    if getattr(args, "device", None):
        overrides.append(f"device={args.device}")
    return load_config(getattr(args, "config", None), overrides)
